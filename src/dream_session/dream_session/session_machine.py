"""The visitor's session as a state machine, free of ROS so every transition can be tested.

idle -> listening -> transcribing -> generating -> plotting -> done, with failed and cancelled.
The machine only decides; it returns *effects* (send a goal, cancel one, publish a status,
ask for a repeat) that the node carries out, and it is told what happened through events.

Policy while the robot draws: the plotter serves one session at a time. A visitor who speaks
while it draws gets their session listened to, transcribed and generated at once; the finished
drawing waits (at most ``max_queued_plots``) and is plotted when the plotter is free. A session
that would exceed that queue fails with a clear message instead of piling up paper work.
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

    def __init__(self, *, max_repeats=1, max_queued_plots=1, timeouts=None, clock=time.time,
                 new_id=None):
        self.max_repeats = max_repeats
        self.max_queued_plots = max_queued_plots
        self.timeouts = {**DEFAULT_TIMEOUTS, **(timeouts or {})}
        self.clock = clock
        self._counter = itertools.count(1)
        self._new_id = new_id or self._default_id
        self.sessions = {}           # live (unfinished) sessions by id
        # The most recent finished sessions, oldest first: an installation runs for weeks.
        self.finished = collections.deque(maxlen=FINISHED_KEPT)
        self.plotting = None         # session id being plotted
        self.plot_queue = []         # session ids with a drawing waiting for the plotter

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
            self.sessions.pop(session.session_id, None)
            self.finished.append(session)
            if session.session_id in self.plot_queue:
                self.plot_queue.remove(session.session_id)
            if self.plotting == session.session_id:
                self.plotting = None
                effects += self._next_plot()
        return effects

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
        if session.state != LISTENING:
            return effects
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
        if ok and text.strip():
            session.prompt = text.strip()
            return (self._enter(session, GENERATING, 'generating')
                    + [StartGeneration(session.session_id, session.prompt)])
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

    def on_generation_result(self, session_id, *, ok, drawing=None, message=''):
        session = self.sessions.get(session_id)
        if session is None or session.state != GENERATING:
            return []
        if not ok:
            return self._enter(session, FAILED, f'drawing failed: {message}', ERROR_GENERATION)
        session.drawing = drawing
        if self.plotting is None:
            return self._start_plot(session)
        if len(self.plot_queue) >= self.max_queued_plots:
            return self._enter(session, FAILED,
                               'the plotter is busy and its queue is full', ERROR_PLOT)
        self.plot_queue.append(session_id)
        session.waiting_for_plotter = True
        session.message = 'drawing ready, waiting for the plotter'
        return [PublishStatus.of(session)]

    def _start_plot(self, session):
        self.plotting = session.session_id
        session.waiting_for_plotter = False
        return self._enter(session, PLOTTING, 'plotting') + [StartPlot(session.session_id,
                                                                       session.drawing)]

    def _next_plot(self):
        while self.plot_queue:
            session = self.sessions.get(self.plot_queue.pop(0))
            if session is not None:
                return self._start_plot(session)
        return []

    def on_plot_result(self, session_id, *, ok, cancelled=False, message=''):
        session = self.sessions.get(session_id)
        if session is None or session.state != PLOTTING:
            return []
        if ok:
            return self._enter(session, DONE, message or 'done')
        if cancelled:
            return self._enter(session, CANCELLED, message or 'plot cancelled')
        return self._enter(session, FAILED, f'plotting failed: {message}', ERROR_PLOT)

    def cancel(self, session_id='', message='cancelled'):
        session = self.sessions.get(session_id) if session_id else self._latest()
        if session is None:
            return []
        return self._stop_effects(session) + self._enter(session, CANCELLED, message)

    def _latest(self):
        return max(self.sessions.values(), key=lambda s: s.started, default=None)

    def _stop_effects(self, session):
        if session.state == GENERATING:
            return [CancelGeneration(session.session_id)]
        if session.state == PLOTTING:
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
        for session in list(self.sessions.values()):
            limit = self.timeouts.get(session.state)
            if session.waiting_for_plotter or limit is None or limit <= 0:
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
