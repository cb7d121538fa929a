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

A dream ends with the voice detector's silence wait: speech that begins while a dream is
transcribed opens a new session. An utterance that still names the session being transcribed
(it ended before the new speech was heard to begin) joins it: the prompt is the texts in order.
A drawing is started only when, finished, it would find a place at the plotter (plotting or
in its queue): it is not made to be dropped at a full plot queue.
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
    waiting_for: str = ''            # 'generate' or 'plot': queued for that server
    pending_utterances: int = 0      # heard and not yet transcribed (while transcribing)
    understood: list = dataclasses.field(default_factory=list)   # texts of this attempt
    rejection: tuple = ('', False, False)   # the last rejected part: message, refused, stt error
    # Transcripts naming it that came before their utterance (two topics keep no order
    # between them; early recognition answers within milliseconds of the utterance).
    early_transcripts: list = dataclasses.field(default_factory=list)

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


@dataclasses.dataclass
class ServerSlot:
    """An action server that takes one goal at a time, as the machine books it: the session
    whose goal it works on (``owner``, until that goal is answered, even once its session
    has ended: it may still be stopping it), the sessions waiting for it, and when it may be
    asked again after a "busy" answer."""
    max_queued: int
    owner: str = None
    queue: list = dataclasses.field(default_factory=list)
    retry_at: float = 0.0
    stopped_at: float = None     # when the owner's session ended, its goal unanswered

    def free(self, now):
        return self.owner is None and now >= self.retry_at

    def release(self, session_id):
        """Whether ``session_id``'s goal held the server (now free)."""
        if self.owner is None or self.owner != session_id:
            return False
        self.owner, self.stopped_at = None, None
        return True


class SessionMachine:
    """Holds every live session; at most one collects speech, one is drawn and one is
    plotted at a time."""

    def __init__(self, *, max_repeats=1, max_queued_plots=1, max_queued_generations=2,
                 release_wait=30.0, timeouts=None, clock=time.time, new_id=None):
        self.max_repeats = max_repeats
        self.release_wait = release_wait
        self.timeouts = {**DEFAULT_TIMEOUTS, **(timeouts or {})}
        self.clock = clock
        self._counter = itertools.count(1)
        self._new_id = new_id or self._default_id
        self.sessions = {}           # live (unfinished) sessions by id
        # The most recent finished sessions, oldest first: an installation runs for weeks.
        self.finished = collections.deque(maxlen=FINISHED_KEPT)
        self.slots = {'generate': ServerSlot(max_queued_generations),
                      'plot': ServerSlot(max_queued_plots)}

    def _default_id(self):
        return f'{time.strftime("%Y%m%d-%H%M%S")}-{next(self._counter)}-{uuid.uuid4().hex[:6]}'

    # --- queries -------------------------------------------------------------------------------
    @property
    def collecting(self):
        """The session that owns the microphone: the one listening, else the one whose speech
        is being transcribed, if any."""
        for state in (LISTENING, TRANSCRIBING):
            for session in self.sessions.values():
                if session.state == state:
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
            for slot in self.slots.values():
                if sid in slot.queue:
                    slot.queue.remove(sid)
                if slot.owner == sid:   # its goal is being stopped: free once answered
                    slot.stopped_at = self.clock()
        return effects

    def _update(self, session, message):
        """A new message for a session in the same state (its status published again)."""
        session.message = message
        return [PublishStatus.of(session)]

    def start_session(self, session_id=None):
        """Speech began (or a START request): open a listening session if none listens. Speech
        that begins while a session is transcribed is a new dream (its visitor was silent
        longer than the VAD's silence wait, which ends a dream)."""
        current = self.collecting
        if current is not None and current.state == LISTENING:
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
        session.pending_utterances, session.understood = 1, []
        effects += self._enter(session, TRANSCRIBING, 'transcribing')
        early, session.early_transcripts = session.early_transcripts, []
        for transcript in early:
            effects += self.on_transcript(**transcript)
        return effects

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
        if session is not None and session.state == LISTENING and (
                session.session_id == session_id):
            session.early_transcripts.append(dict(   # its utterance is still on its way
                ok=ok, text=text, message=message, session_id=session_id,
                stt_error=stt_error, refused=refused))
            return []
        if session is None or session.state != TRANSCRIBING:
            return []
        if ok and not stt_error and text.strip():
            session.understood.append(text.strip())
        else:
            session.rejection = (message, refused, stt_error)
        session.pending_utterances = max(0, session.pending_utterances - 1)
        if session.pending_utterances:
            return []                               # more of the dream is being transcribed
        if session.understood:
            session.prompt = ' '.join(session.understood)
            return self._request_generation(session)
        message, refused, stt_error = session.rejection
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

    # --- the drawing node and the plotter ------------------------------------------------------
    def _room_to_plot(self):
        """Whether a drawing finished now would find room: a drawing is started only then,
        not made to be thrown away at a full plot queue."""
        plot = self.slots['plot']
        return plot.owner is None or len(plot.queue) < plot.max_queued

    def _request_generation(self, session):
        """Generate now if the drawing node is free, else queue (or fail: queue full)."""
        slot = self.slots['generate']
        if slot.free(self.clock()) and not slot.queue and self._room_to_plot():
            return self._enter(session, GENERATING, 'generating') + self._start_generation(
                session)
        if len(slot.queue) >= slot.max_queued:
            return self._enter(session, FAILED, 'the drawing node is busy and its queue is '
                               'full', ERROR_GENERATION)
        self._wait_for('generate', session)
        why = ('another drawing is being made' if slot.owner is not None else
               'the drawings made wait for the plotter')
        return self._enter(session, GENERATING, f'waiting for the drawing node ({why})')

    def _start_generation(self, session):
        self.slots['generate'].owner = session.session_id
        effects = []
        if session.waiting_for:                    # its stage time counts from now
            session.waiting_for = ''
            session.state_since = self.clock()
            effects = self._update(session, 'generating')
        return effects + [StartGeneration(session.session_id, session.prompt)]

    def _request_plot(self, session):
        slot = self.slots['plot']
        if slot.free(self.clock()) and not slot.queue:
            return self._start_plot(session)
        if len(slot.queue) >= slot.max_queued:
            return self._enter(session, FAILED,
                               'the plotter is busy and its queue is full', ERROR_PLOT)
        self._wait_for('plot', session)
        return self._update(session, 'drawing ready, waiting for the plotter')

    def _start_plot(self, session):
        self.slots['plot'].owner = session.session_id
        session.waiting_for = ''
        return self._enter(session, PLOTTING, 'plotting') + [StartPlot(session.session_id,
                                                                       session.drawing)]

    def _wait_for(self, kind, session, first=False):
        queue = self.slots[kind].queue
        queue.insert(0 if first else len(queue), session.session_id)
        session.waiting_for = kind

    def _next(self, kind):
        """Start the goal of the first session waiting for the server of ``kind``, if free."""
        slot = self.slots[kind]
        if not slot.free(self.clock()) or (kind == 'generate' and not self._room_to_plot()):
            return []
        start = self._start_generation if kind == 'generate' else self._start_plot
        while slot.queue:
            session = self.sessions.get(slot.queue.pop(0))
            if session is not None and session.waiting_for == kind:
                effects = start(session)
                if kind == 'plot':          # a place in the plot queue is free again
                    effects += self._next('generate')
                return effects
        return []

    def _answered(self, kind, session_id, state, busy, message, handle):
        """The answer to a goal of ``kind`` (for any goal sent, its session live or not: a
        stopped goal's answer frees its server): ``handle(session)`` for a session still in
        ``state`` and not refused as busy (the server served another client: asked again
        BUSY_RETRY seconds later)."""
        released = self.slots[kind].release(session_id)
        effects = []
        session = self.sessions.get(session_id)
        if session is not None and session.state == state and not session.waiting_for:
            if busy:
                self._wait_for(kind, session, first=True)
                self.slots[kind].retry_at = self.clock() + BUSY_RETRY
                server = 'the drawing node' if kind == 'generate' else 'the plotter'
                effects += self._update(session, f'{server} is busy ({message}): waiting '
                                                 'for it')
            else:
                effects += handle(session)
        if released:
            effects += self._next(kind)
        return effects

    def on_generation_result(self, session_id, *, ok, drawing=None, message='', busy=False):
        """The answer to a generation goal (see _answered). busy: the node was busy."""
        def handle(session):
            if not ok:
                return self._enter(session, FAILED, f'drawing failed: {message}',
                                   ERROR_GENERATION)
            session.drawing = drawing
            return self._request_plot(session)
        return self._answered('generate', session_id, GENERATING, busy, message, handle)

    def on_plot_result(self, session_id, *, ok, cancelled=False, message='', busy=False):
        """The answer to a plot goal (see _answered). busy: the plotter was busy."""
        def handle(session):
            if ok:
                return self._enter(session, DONE, message or 'done')
            if cancelled:
                return self._enter(session, CANCELLED, message or 'plot cancelled')
            return self._enter(session, FAILED, f'plotting failed: {message}', ERROR_PLOT)
        return self._answered('plot', session_id, PLOTTING, busy, message, handle)

    def on_goal_withdrawn(self, kind, session_id):
        """A goal ('generate' or 'plot') of an ended session that will never be answered
        (never sent, or given up on): its server is free now."""
        return self._next(kind) if self.slots[kind].release(session_id) else []

    def cancel(self, session_id='', message='cancelled'):
        session = self.sessions.get(session_id) if session_id else self._latest()
        if session is None:
            return []
        return self._stop_effects(session) + self._enter(session, CANCELLED, message)

    def _latest(self):
        return max(self.sessions.values(), key=lambda s: s.started, default=None)

    def _stop_effects(self, session):
        if session.state == GENERATING and self.slots['generate'].owner == session.session_id:
            return [CancelGeneration(session.session_id)]
        if session.state == PLOTTING and self.slots['plot'].owner == session.session_id:
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
        for kind, slot in self.slots.items():
            stopped = slot.stopped_at is not None and now - slot.stopped_at >= self.release_wait
            if stopped:                              # its server never answered the stop
                slot.release(slot.owner)
            effects += self._next(kind)              # that one, or after a "busy" answer
        for session in list(self.sessions.values()):
            limit = self.timeouts.get(session.state)
            if session.waiting_for or limit is None or limit <= 0:
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
