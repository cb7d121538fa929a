"""The visitor's session as a state machine, free of ROS so every transition can be tested.

idle -> listening -> transcribing -> generating -> plotting -> done, with failed and cancelled.
The machine only decides; it returns *effects* (send a goal, cancel one, publish a status,
ask for a repeat) that the node carries out, and it is told what happened through events.

Policy while the robot draws: the drawing node and the plotter each serve one session at a
time. A visitor who speaks while the machine is busy gets their session listened to and
transcribed at once; its drawing is generated when the drawing node is free (at most
``max_queued_generations`` wait for it), and the finished drawing waits (at most
``max_queued_plots``) and is plotted when the plotter is free. A session that would exceed a
queue fails with a clear message instead of piling up work. A goal stopped with its session
(cancel, timeout) keeps its server busy until the server answers it (at most
``release_wait`` seconds): the next goal is sent only then, not to a server still lifting its
pen. A server that answers "busy" (another client uses it) is asked again ``BUSY_RETRY``
seconds later.

A visitor who pauses longer than the voice detector's silence while their first words are
transcribed goes on in the same session: every utterance heard while it transcribes is
transcribed too, and the prompt is their texts in order.
"""
import collections
import dataclasses
import itertools
import time
import uuid

IDLE, LISTENING, TRANSCRIBING, GENERATING, PLOTTING, DONE, FAILED, CANCELLED = range(8)
STATE_NAMES = ['idle', 'listening', 'transcribing', 'generating', 'plotting', 'done', 'failed',
               'cancelled']
TERMINAL = (DONE, FAILED, CANCELLED)
# SessionStatus.ERROR_* values
ERROR_NONE, ERROR_AUDIO, ERROR_SPEECH_REJECTED, ERROR_STT, ERROR_GENERATION, ERROR_PLOT, \
    ERROR_TIMEOUT, ERROR_INTERNAL = range(8)

DEFAULT_TIMEOUTS = {LISTENING: 90.0, TRANSCRIBING: 60.0, GENERATING: 900.0, PLOTTING: 3600.0}
BUSY_RETRY = 2.0     # seconds before a goal a server refused as busy is sent again


@dataclasses.dataclass
class Session:
    session_id: str
    started: float
    state: int = IDLE
    previous_state: int = IDLE
    state_since: float = 0.0
    error_code: int = ERROR_NONE
    message: str = ''
    repeats_asked: int = 0
    rejected_because: str = ''       # why the last utterance was rejected (a repeat was asked)
    prompt: str = ''
    drawing: object = None           # whatever the generation result carried
    waiting_for_plotter: bool = False
    waiting_for_generator: bool = False
    pending_utterances: int = 0      # heard and not yet transcribed (while transcribing)
    heard: list = dataclasses.field(default_factory=list)   # transcripts so far

    @property
    def finished(self):
        return self.state in TERMINAL


FINISHED_KEPT = 100   # finished sessions kept in memory (each may hold its drawing)


# Effects: what the node must do.
@dataclasses.dataclass
class PublishStatus:
    session: Session     # a snapshot: later transitions do not change it

    @classmethod
    def of(cls, session):
        return cls(dataclasses.replace(session))


@dataclasses.dataclass
class StartGeneration:
    session_id: str
    prompt: str


@dataclasses.dataclass
class StartPlot:
    session_id: str
    drawing: object


@dataclasses.dataclass
class CancelGeneration:
    session_id: str


@dataclasses.dataclass
class CancelPlot:
    session_id: str


@dataclasses.dataclass
class AskRepeat:
    session_id: str
    message: str


class SessionMachine:
    """Holds every live session; at most one collects speech and one is plotted at a time."""

    def __init__(self, *, max_repeats=1, max_queued_plots=1, max_queued_generations=2,
                 release_wait=30.0, timeouts=None, clock=time.time, new_id=None):
        self.max_repeats = max_repeats
        self.max_queued_plots = max_queued_plots
        self.max_queued_generations = max_queued_generations
        self.release_wait = release_wait
        self.timeouts = {**DEFAULT_TIMEOUTS, **(timeouts or {})}
        self.clock = clock
        self._counter = itertools.count(1)
        self._new_id = new_id or self._default_id
        self.sessions = {}           # live (unfinished) sessions by id
        # The most recent finished sessions, oldest first: an installation runs for weeks.
        self.finished = collections.deque(maxlen=FINISHED_KEPT)
        # The session whose goal each server works on (its result not in yet): it may have
        # ended already (cancelled, timed out), its goal still being stopped.
        self.generator = None
        self.plotting = None
        self.generation_queue = []   # session ids generating, waiting for the drawing node
        self.plot_queue = []         # session ids with a drawing waiting for the plotter
        self._stopped_at = {}        # 'generate'/'plot' -> when its goal's session ended
        self._retry_at = {'generate': 0.0, 'plot': 0.0}     # after a "busy" answer

    def _default_id(self):
        return f'{time.strftime("%Y%m%d-%H%M%S")}-{next(self._counter)}-{uuid.uuid4().hex[:6]}'

    # --- queries -------------------------------------------------------------------------------
    @property
    def collecting(self):
        """The session that owns the microphone (listening or transcribing), if any."""
        for session in self.sessions.values():
            if session.state in (LISTENING, TRANSCRIBING):
                return session
        return None

    def _resolve(self, session_id):
        """A message's session: by id when it names a live one, else the one collecting speech
        (audio nodes may still name a session that has moved on)."""
        return self.sessions.get(session_id) or self.collecting

    # --- transitions ---------------------------------------------------------------------------
    def _enter(self, session, state, message='', error_code=None):
        session.previous_state, session.state = session.state, state
        session.state_since = self.clock()
        session.message = message
        if error_code is not None:
            session.error_code = error_code
        effects = [PublishStatus.of(session)]
        if state in TERMINAL:
            sid = session.session_id
            self.sessions.pop(sid, None)
            self.finished.append(session)
            for queue in (self.plot_queue, self.generation_queue):
                if sid in queue:
                    queue.remove(sid)
            # its goal is being stopped: the server is free once it answers
            for kind, owner in (('generate', self.generator), ('plot', self.plotting)):
                if owner == sid:
                    self._stopped_at[kind] = self.clock()
        return effects

    def _update(self, session, message):
        """A new message for a session in the same state (its status published again)."""
        session.message = message
        return [PublishStatus.of(session)]

    def start_session(self, session_id=None):
        """Speech began (or a START request): open a listening session if none collects."""
        current = self.collecting
        if current is not None:
            return current, []
        session = Session(session_id or self._new_id(), started=self.clock())
        self.sessions[session.session_id] = session
        return session, self._enter(session, LISTENING, 'listening')

    def on_speech_started(self):
        return self.start_session()[1]

    def on_utterance(self, session_id=''):
        session = self._resolve(session_id)
        effects = []
        if session is None:                         # an utterance with no speech-start event
            session, effects = self.start_session()
        if session.state == TRANSCRIBING:           # the visitor went on after a pause
            session.pending_utterances += 1
            return effects
        if session.state != LISTENING:
            return effects
        session.pending_utterances, session.heard = 1, []
        return effects + self._enter(session, TRANSCRIBING, 'transcribing')

    def on_audio_error(self, message, session_id=''):
        session = self._resolve(session_id)
        if session is None:
            return []
        return self._enter(session, FAILED, f'audio: {message}', ERROR_AUDIO)

    def on_speech_ended(self, why):
        """The audio source has ended (a file played out): a session still listening will hear
        nothing more, so it fails now rather than at its listening timeout."""
        session = self.collecting
        if session is None or session.state != LISTENING:
            return []
        if session.repeats_asked:
            return self._enter(session, FAILED, f'speech rejected: {session.rejected_because}; '
                               f'{why} before a repeat was heard', ERROR_SPEECH_REJECTED)
        return self._enter(session, FAILED, f'audio: {why} before an utterance was heard',
                           ERROR_AUDIO)

    def on_transcript(self, *, ok, text, message='', session_id='', is_final=True,
                      stt_error=False, refused=False):
        """A final transcript: go on to generation, ask for one repeat, or fail.
        refused: the text was understood and the installation's policy declines it."""
        if not is_final:
            return []
        session = self._resolve(session_id)
        if session is None or session.state != TRANSCRIBING:
            return []
        good = ok and not stt_error and bool(text.strip())
        session.heard.append((good, text.strip(), message, refused, stt_error))
        session.pending_utterances = max(0, session.pending_utterances - 1)
        if session.pending_utterances:
            return []                               # more of the dream is being transcribed
        understood = [heard[1] for heard in session.heard if heard[0]]
        if understood:
            session.prompt = ' '.join(understood)
            return self._request_generation(session)
        _, _, message, refused, stt_error = session.heard[-1]
        reason = message or 'nothing was understood'
        if stt_error:
            return self._enter(session, FAILED, f'speech recognition failed: {reason}',
                               ERROR_STT)
        if session.repeats_asked < self.max_repeats:
            session.repeats_asked += 1
            session.rejected_because = reason
            ask = (f'Sorry, {reason}. Please tell me another dream.' if refused else
                   f'Sorry, I did not catch that ({reason}). Please tell me your dream again.')
            return self._enter(session, LISTENING, ask) + [AskRepeat(session.session_id, ask)]
        again = ' again' if session.repeats_asked else ''
        return self._enter(session, FAILED, f'speech rejected{again}: {reason}',
                           ERROR_SPEECH_REJECTED)

    # --- the drawing node ----------------------------------------------------------------------
    def _request_generation(self, session):
        """Generate now if the drawing node is free, else queue (or fail: queue full)."""
        free = (self.generator is None and not self.generation_queue
                and self.clock() >= self._retry_at['generate'])
        if free:
            return self._enter(session, GENERATING, 'generating') + self._start_generation(
                session)
        if len(self.generation_queue) >= self.max_queued_generations:
            return self._enter(session, FAILED, 'the drawing node is busy and its queue is '
                               'full', ERROR_GENERATION)
        self.generation_queue.append(session.session_id)
        session.waiting_for_generator = True
        return self._enter(session, GENERATING, 'waiting for the drawing node (another '
                           'drawing is being made)')

    def _start_generation(self, session):
        self.generator = session.session_id
        effects = []
        if session.waiting_for_generator:          # its stage time counts from now
            session.waiting_for_generator = False
            session.state_since = self.clock()
            effects = self._update(session, 'generating')
        return effects + [StartGeneration(session.session_id, session.prompt)]

    def _next_generation(self):
        if self.generator is not None or self.clock() < self._retry_at['generate']:
            return []
        while self.generation_queue:
            session = self.sessions.get(self.generation_queue.pop(0))
            if session is not None and session.state == GENERATING:
                return self._start_generation(session)
        return []

    def on_generation_result(self, session_id, *, ok, drawing=None, message='', busy=False):
        """The answer to a generation goal (for any goal sent, its session live or not: a
        stopped goal's answer frees the drawing node). busy: the node served another client."""
        released = self.generator == session_id
        if released:
            self.generator = None
            self._stopped_at.pop('generate', None)
        effects = []
        session = self.sessions.get(session_id)
        if (session is not None and session.state == GENERATING
                and not session.waiting_for_generator):
            if busy:
                self.generation_queue.insert(0, session_id)
                session.waiting_for_generator = True
                self._retry_at['generate'] = self.clock() + BUSY_RETRY
                effects += self._update(session, f'the drawing node is busy ({message}): '
                                                 'waiting for it')
            elif not ok:
                effects += self._enter(session, FAILED, f'drawing failed: {message}',
                                       ERROR_GENERATION)
            else:
                session.drawing = drawing
                effects += self._request_plot(session)
        if released:
            effects += self._next_generation()
        return effects

    # --- the plotter -----------------------------------------------------------------------------
    def _request_plot(self, session):
        free = (self.plotting is None and not self.plot_queue
                and self.clock() >= self._retry_at['plot'])
        if free:
            return self._start_plot(session)
        if len(self.plot_queue) >= self.max_queued_plots:
            return self._enter(session, FAILED,
                               'the plotter is busy and its queue is full', ERROR_PLOT)
        self.plot_queue.append(session.session_id)
        session.waiting_for_plotter = True
        return self._update(session, 'drawing ready, waiting for the plotter')

    def _start_plot(self, session):
        self.plotting = session.session_id
        session.waiting_for_plotter = False
        return self._enter(session, PLOTTING, 'plotting') + [StartPlot(session.session_id,
                                                                       session.drawing)]

    def _next_plot(self):
        if self.plotting is not None or self.clock() < self._retry_at['plot']:
            return []
        while self.plot_queue:
            session = self.sessions.get(self.plot_queue.pop(0))
            if session is not None:
                return self._start_plot(session)
        return []

    def on_plot_result(self, session_id, *, ok, cancelled=False, message='', busy=False):
        """The answer to a plot goal (for any goal sent, as on_generation_result)."""
        released = self.plotting == session_id
        if released:
            self.plotting = None
            self._stopped_at.pop('plot', None)
        effects = []
        session = self.sessions.get(session_id)
        if session is not None and session.state == PLOTTING and not session.waiting_for_plotter:
            if busy:
                self.plot_queue.insert(0, session_id)
                session.waiting_for_plotter = True
                self._retry_at['plot'] = self.clock() + BUSY_RETRY
                effects += self._update(session, f'the plotter is busy ({message}): waiting '
                                                 'for it')
            elif ok:
                effects += self._enter(session, DONE, message or 'done')
            elif cancelled:
                effects += self._enter(session, CANCELLED, message or 'plot cancelled')
            else:
                effects += self._enter(session, FAILED, f'plotting failed: {message}',
                                       ERROR_PLOT)
        if released:
            effects += self._next_plot()
        return effects

    def on_goal_withdrawn(self, kind, session_id):
        """A goal ('generate' or 'plot') of an ended session that will never be answered
        (never sent, or given up on): its server is free now."""
        if (self.generator if kind == 'generate' else self.plotting) != session_id:
            return []
        return self._release(kind)

    def _release(self, kind):
        self._stopped_at.pop(kind, None)
        if kind == 'generate':
            self.generator = None
            return self._next_generation()
        self.plotting = None
        return self._next_plot()

    def cancel(self, session_id='', message='cancelled'):
        session = self.sessions.get(session_id) if session_id else self._latest()
        if session is None:
            return []
        return self._stop_effects(session) + self._enter(session, CANCELLED, message)

    def _latest(self):
        return max(self.sessions.values(), key=lambda s: s.started, default=None)

    def _stop_effects(self, session):
        if session.state == GENERATING and self.generator == session.session_id:
            return [CancelGeneration(session.session_id)]
        if session.state == PLOTTING and self.plotting == session.session_id:
            return [CancelPlot(session.session_id)]
        return []

    def fail(self, session_id, message, error_code=ERROR_INTERNAL):
        session = self.sessions.get(session_id)
        if session is None:
            return []
        return self._stop_effects(session) + self._enter(session, FAILED, message, error_code)

    def on_tick(self):
        """Fail every session that has spent longer than its stage allows."""
        effects = []
        now = self.clock()
        for kind, since in list(self._stopped_at.items()):
            if now - since >= self.release_wait:      # its server never answered the stop
                effects += self._release(kind)
        effects += self._next_generation() + self._next_plot()     # after a "busy" answer
        for session in list(self.sessions.values()):
            limit = self.timeouts.get(session.state)
            waiting = session.waiting_for_plotter or session.waiting_for_generator
            if waiting or limit is None or limit <= 0:
                continue
            if now - session.state_since > limit:
                stage = STATE_NAMES[session.state]
                effects += self._stop_effects(session)
                effects += self._enter(session, FAILED, f'{stage} timed out after {limit:g} s',
                                       ERROR_TIMEOUT)
        return effects

    def shutdown(self):
        """Cancel everything still live (the node is stopping)."""
        effects = []
        for session in list(self.sessions.values()):
            effects += self.cancel(session.session_id, 'the machine is shutting down')
        return effects
