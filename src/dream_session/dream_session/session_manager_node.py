"""Runs visitors' sessions: speech in, a drawing generated, the drawing plotted.

The decisions live in :class:`dream_session.session_machine.SessionMachine`; this node turns
ROS events into its events and its effects into goals, cancels and status messages. A stage
that fails fails its session, never the node. No callback blocks (a single-threaded executor
spins the node): a goal whose server is not up yet waits in a list, retried every 0.1 s
until ``server_wait`` (wall-clock) seconds have passed. An accepted goal whose server leaves
the graph (its process stopped or crashed; a restarted one knows nothing of the goal) fails
its session ``SERVER_LOST_WAIT`` s later instead of holding it, and the visitors queued behind
it, for the stage timeout.
"""
import collections
import sys
import threading
import time

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.action import ActionClient
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from std_msgs.msg import Bool, String

from dream_interfaces.action import DrawStrokes, GenerateDrawing
from dream_interfaces.msg import (GenerationResult, PaperSetup, PlotResult, SessionStatus,
                                  Transcript, Utterance)
from dream_interfaces.srv import ControlSession
from dream_clipdraw.presets import preset_names
from dream_plotter.node_parameters import paper_error
from dream_session import session_machine as sm
from dream_session.prompt_policy import PromptPolicy
from dream_runtime.graph_departures import Departures, publisher_gids
from dream_runtime.node_process import run_node

SERVER_LOST_WAIT = 2.0      # s a server may be missing from the graph (discovery flaps)
SERVER_CHECK_EVERY = 0.5    # s between looks at the graph while goals run


def _seconds(description, low=0.0, high=86400.0):
    return ParameterDescriptor(description=description, floating_point_range=[
        FloatingPointRange(from_value=low, to_value=high)])


def _count(description, low=0, high=100):
    return ParameterDescriptor(description=description, integer_range=[
        IntegerRange(from_value=low, to_value=high, step=1)])


def _preset_error(name):
    return '' if name in preset_names() else (
        f'generation_preset must be one of {", ".join(preset_names())} or empty, got {name!r}')


# Text parameters with a fixed set of values ('' = the server's default): why a value is
# refused, or ''.
CHECKS = {'paper': paper_error, 'generation_preset': _preset_error}


def _validate(parameters):
    for p in parameters:
        reason = CHECKS[p.name](p.value) if p.name in CHECKS and p.value else ''
        if reason:
            return SetParametersResult(successful=False, reason=reason)
    return SetParametersResult(successful=True)


class SessionManagerNode(Node):
    def __init__(self, **kwargs):
        super().__init__('session_manager', **kwargs)
        # Before the declarations: a bad value fails the node's start at once.
        self.add_on_set_parameters_callback(_validate)
        p = self.declare_parameter
        p('listening_timeout', 90.0, _seconds('seconds from speech start to a finished utterance'))
        p('transcribing_timeout', 60.0, _seconds('seconds allowed for speech recognition'))
        p('generating_timeout', 900.0, _seconds('seconds allowed for drawing generation'))
        p('plotting_timeout', 3600.0, _seconds('seconds allowed for plotting one drawing'))
        p('max_repeats', 1, _count('times to ask the visitor to repeat a rejected dream', 0, 5))
        p('max_queued_plots', 1, _count('finished drawings that may wait for the plotter', 0, 10))
        p('max_queued_generations', 2, _count(
            'transcribed dreams that may wait for the drawing node while it makes another '
            '(it makes one at a time)', 0, 10))
        p('release_wait', 30.0, _seconds(
            'seconds a stopped goal (its session cancelled or timed out) may take to answer '
            'before its server is taken as free: the next goal waits for the answer, so that '
            'it is not sent to a server still stopping', 0.0, 600.0))
        p('server_wait', 30.0, _seconds('seconds to wait for an action server to appear (the '
                                        'clipdraw node serves once CLIP is loaded)', 0, 600))
        p('goal_reply_timeout', 10.0, _seconds(
            'seconds for a server to accept or reject a goal (a hung or vanished server '
            'fails the session instead of holding it for the stage timeout)', 0.1, 600))
        p('generation_preset', '', ParameterDescriptor(
            description='CLIPDraw preset for goals ("" = the clipdraw node\'s default)'))
        p('generation_strokes', 0, _count('strokes per drawing (0 = preset default)', 0, 4096))
        p('generation_iterations', 0, _count('iterations (0 = preset default)', 0, 100000))
        p('negative_prompts', [''], ParameterDescriptor(
            description='negative prompts sent with every drawing'))
        p('paper', 'A4', ParameterDescriptor(description='paper name (e.g. A4, A3, letter) or '
                                             'WxH in mm; "" = the plotter\'s default'))
        p('margin_mm', 15.0, _seconds('paper margin in millimetres', 0.0, 200.0))
        p('clip_to_paper', True, ParameterDescriptor(
            description='clip strokes that leave the work area (CLIPDraw strokes often run '
                        'past the canvas edge, which CLIP never saw) instead of refusing'))
        p('prompt_blocklist', [''], ParameterDescriptor(
            description='words or phrases that a public installation refuses to draw'))
        p('once', False, ParameterDescriptor(
            description='stop serving after the first session ends (single-session runs)'))

        def value(name):
            return self.get_parameter(name).value

        self._machine = sm.SessionMachine(
            max_repeats=value('max_repeats'),
            max_queued_plots=value('max_queued_plots'),
            max_queued_generations=value('max_queued_generations'),
            release_wait=value('release_wait'),
            timeouts={sm.LISTENING: value('listening_timeout'),
                      sm.TRANSCRIBING: value('transcribing_timeout'),
                      sm.GENERATING: value('generating_timeout'),
                      sm.PLOTTING: value('plotting_timeout')},
            clock=lambda: self.get_clock().now().nanoseconds / 1e9)
        self._policy = PromptPolicy([w for w in value('prompt_blocklist') if w])
        self._lock = threading.RLock()
        self._goals = {}                 # (kind, session id) -> goal handle
        self._in_flight = set()          # (kind, session id) of goals with no result yet
        self._unsent = []                # goals waiting for their server: see _send
        self._unanswered = {}            # (kind, session id) -> deadline of the goal's reply
        self._servers = Departures(SERVER_LOST_WAIT)     # (kind, session id): goal's server
        self._next_server_check = 0.0
        self._speech_nodes = Departures(SERVER_LOST_WAIT)    # session id: its speech nodes
        # The latest finished sessions (bounded), for runners and tests; and how many in all.
        self.finished = collections.deque(maxlen=sm.FINISHED_KEPT)
        self.finished_count = 0
        self.first_finished = threading.Event()

        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._status_pub = self.create_publisher(SessionStatus, 'session/status', latched)
        self._say_pub = self.create_publisher(String, 'session/announcement', reliable)
        self.create_subscription(Bool, 'audio/speaking', self._on_speaking, reliable)
        self.create_subscription(Utterance, 'audio/utterance', self._on_utterance, reliable)
        self.create_subscription(Transcript, 'speech/transcript', self._on_transcript,
                                 reliable)
        self.create_service(ControlSession, 'session/control', self._on_control)
        self._generate = ActionClient(self, GenerateDrawing, 'generate_drawing')
        self._plot = ActionClient(self, DrawStrokes, 'draw_strokes')
        self.create_timer(0.5, self._on_tick)
        # speech_ended() is called from a runner's thread; the machine changes on this node's
        self._speech_end_reason = ''
        self._speech_ended = self.create_guard_condition(
            lambda: self._apply(self._machine.on_speech_ended(self._speech_end_reason)))
        # discovery happens in wall-clock time, whatever clock the node follows
        self._goal_timer = self.create_timer(0.1, self._watch_goals, autostart=False,
                                             clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._speaking = False
        self._publish_idle()

    # --- events in -----------------------------------------------------------------------------
    def _on_speaking(self, msg):
        rising = msg.data and not self._speaking
        self._speaking = msg.data
        if rising:
            self._apply(self._machine.on_speech_started())

    def _on_utterance(self, msg):
        self._apply(self._machine.on_utterance(msg.session_id))

    def _on_transcript(self, msg):
        ok = msg.status == Transcript.STATUS_OK
        message = msg.status_message
        refusal = self._policy.refusal(msg.text) if ok else ''
        if refusal:
            ok, message = False, refusal
        self._apply(self._machine.on_transcript(
            ok=ok, text=msg.text, message=message, session_id=msg.session_id,
            is_final=msg.is_final, stt_error=msg.status == Transcript.STATUS_ERROR,
            refused=bool(refusal)))

    def _on_control(self, request, response):
        if request.command == ControlSession.Request.COMMAND_START:
            session, effects = self._machine.start_session(request.session_id or None)
            self._apply(effects)
            response.accepted, response.session_id = True, session.session_id
            response.message = 'listening'
            if not effects:    # one session collects speech at a time
                unused = request.session_id not in ('', session.session_id)
                response.message = (f'session {session.session_id} is already '
                                    f'{sm.STATE_NAMES[session.state]}' + (
                                        f' (the id {request.session_id!r} is not used)'
                                        if unused else ''))
        elif request.command == ControlSession.Request.COMMAND_CANCEL:
            effects = self._machine.cancel(request.session_id, 'cancelled by request')
            self._apply(effects)
            cancelled = [e.session for e in effects if isinstance(e, sm.PublishStatus)]
            response.accepted = bool(cancelled)
            if cancelled:      # '' names the newest live session: say which one that was
                response.session_id = cancelled[-1].session_id
                response.message = (f'cancelled session {response.session_id} (it was '
                                    f'{sm.STATE_NAMES[cancelled[-1].previous_state]})')
            else:
                response.message = (f'no live session {request.session_id!r}'
                                    if request.session_id else 'no live session to cancel')
        else:
            response.accepted = False
            response.message = 'STOP ends an utterance: send it to audio/control'
        return response

    # --- effects out ---------------------------------------------------------------------------
    def _apply(self, effects):
        with self._lock:
            for effect in effects:
                handler = getattr(self, '_do_' + type(effect).__name__)
                try:
                    handler(effect)
                except Exception as exc:   # a failed effect fails its session, not the node
                    self.get_logger().error(f'{type(effect).__name__}: {exc}')
                    sid = getattr(effect, 'session_id', None)
                    if sid:
                        self._apply(self._machine.fail(sid, f'internal error: {exc}'))
                        kind = {sm.StartGeneration: 'generate', sm.StartPlot: 'plot'}.get(
                            type(effect))
                        if kind:       # never sent: its server is free
                            self._apply(self._machine.on_goal_withdrawn(kind, sid))

    def _do_PublishStatus(self, effect):
        session = effect.session
        msg = SessionStatus(session_id=session.session_id, state=session.state,
                            previous_state=session.previous_state,
                            error_code=session.error_code, message=session.message)
        now = self.get_clock().now()
        msg.header.stamp = now.to_msg()
        msg.session_start = Time(seconds=session.started).to_msg()
        msg.state_since = Time(seconds=session.state_since).to_msg()
        self._status_pub.publish(msg)
        text = (f'session {session.session_id}: {sm.STATE_NAMES[session.state]}'
                + (f' ({session.message})' if session.message else ''))
        # rclpy forbids one logging call site from changing severity: two call sites.
        if session.state == sm.FAILED:
            self.get_logger().warning(text)
        else:
            self.get_logger().info(text)
        if session.state in sm.TERMINAL:
            self.finished.append(session)
            self.finished_count += 1
            self.first_finished.set()
            if self.get_parameter('once').value:
                return
            if not self._machine.sessions:
                self._publish_idle()

    def _publish_idle(self):
        msg = SessionStatus(state=SessionStatus.STATE_IDLE, message='waiting for a visitor')
        msg.header.stamp = self.get_clock().now().to_msg()
        self._status_pub.publish(msg)

    def _do_AskRepeat(self, effect):
        self._say_pub.publish(String(data=effect.message))

    def _do_StartGeneration(self, effect):
        goal = GenerateDrawing.Goal(session_id=effect.session_id, prompt=effect.prompt)
        goal.negative_prompts = [n for n in self.get_parameter('negative_prompts').value if n]
        goal.options.preset = self.get_parameter('generation_preset').value
        goal.options.num_strokes = self.get_parameter('generation_strokes').value
        goal.options.iterations = self.get_parameter('generation_iterations').value
        goal.options.seed = -1
        self._send('generate', self._generate, goal, effect.session_id,
                   self._generation_done)

    def _do_StartPlot(self, effect):
        goal = DrawStrokes.Goal(session_id=effect.session_id, drawing=effect.drawing)
        goal.paper = PaperSetup(
            paper=self.get_parameter('paper').value,
            margin_mm=self.get_parameter('margin_mm').value,
            out_of_bounds=(PaperSetup.OUT_OF_BOUNDS_CLIP if self.get_parameter('clip_to_paper')
                           .value else PaperSetup.OUT_OF_BOUNDS_REJECT))
        self._send('plot', self._plot, goal, effect.session_id, self._plot_done)

    def _do_CancelGeneration(self, effect):
        self._cancel('generate', effect.session_id)

    def _do_CancelPlot(self, effect):
        self._cancel('plot', effect.session_id)

    # --- action plumbing -----------------------------------------------------------------------
    def _send(self, kind, client, goal, sid, on_done):
        """Send the goal now if its server is up, else from _watch_goals once it is."""
        if client.server_is_ready():
            self._send_now(kind, client, goal, sid, on_done)
            return
        wait = self.get_parameter('server_wait').value
        if wait <= 0:
            self._no_server(kind, sid)
            return
        self._unsent.append((time.monotonic() + wait, kind, client, goal, sid, on_done))
        self._watch()

    def _watch(self):
        if self._goal_timer.is_canceled():
            self._goal_timer.reset()

    def _watch_goals(self):
        """Send the goals whose server has come up; fail those nobody serves or answers."""
        with self._lock:
            now = time.monotonic()
            waiting, self._unsent = self._unsent, []
            for entry in waiting:
                deadline, kind, client, goal, sid, on_done = entry
                if sid not in self._machine.sessions:   # cancelled or timed out meanwhile
                    self._apply(self._machine.on_goal_withdrawn(kind, sid))
                    continue
                try:
                    if client.server_is_ready():
                        self._send_now(kind, client, goal, sid, on_done)
                    elif now >= deadline:
                        self._no_server(kind, sid)
                    else:
                        self._unsent.append(entry)
                except Exception as exc:   # fails its session, not the node
                    self.get_logger().error(f'sending the {kind} goal: {exc}')
                    self._apply(self._machine.fail(sid, f'internal error: {exc}'))
            for (kind, sid), deadline in list(self._unanswered.items()):
                if sid not in self._machine.sessions:
                    del self._unanswered[(kind, sid)]
                elif now >= deadline:
                    del self._unanswered[(kind, sid)]
                    self._in_flight.discard((kind, sid))
                    name = 'generate_drawing' if kind == 'generate' else 'draw_strokes'
                    self._stage_failed(kind, sid, f'the {name} server did not answer the goal '
                                                  'in time (hung, or gone from the graph)')
            if now >= self._next_server_check:
                self._next_server_check = now + SERVER_CHECK_EVERY
                self._check_servers(now)
            if not self._unsent and not self._unanswered and not self._goals:
                self._goal_timer.cancel()

    def _on_tick(self):
        with self._lock:
            self._apply(self._machine.on_tick())
            self._check_speech_nodes(time.monotonic())

    def _check_speech_nodes(self, now):
        """A session transcribing whose speech node has left the graph (stopped or crashed:
        a restarted one does not decode the lost utterance) fails SERVER_LOST_WAIT s later,
        not at the transcribing timeout."""
        waiting = [s.session_id for s in self._machine.sessions.values()
                   if s.state == sm.TRANSCRIBING]
        for sid in self._speech_nodes.keys():
            if sid not in waiting:
                self._speech_nodes.forget(sid)
        if not waiting:
            return
        present = publisher_gids(self, 'speech/transcript')
        for sid in waiting:
            self._speech_nodes.note(sid, present)
            if self._speech_nodes.gone(sid, present, now):
                self._apply(self._machine.fail(
                    sid, 'speech recognition failed: the speech node left the graph while '
                    'transcribing (its process stopped or crashed)', sm.ERROR_STT))

    def _status_publishers(self, kind):
        """The gids of the status publishers of the action's servers: one per server."""
        name = 'generate_drawing' if kind == 'generate' else 'draw_strokes'
        return publisher_gids(self, f'{name}/_action/status')

    def _check_servers(self, now):
        """Fail the goals whose server has left the graph (see the module docstring)."""
        for key in list(self._goals):
            kind, sid = key
            if not self._servers.gone(key, self._status_publishers(kind), now):
                continue
            self._forget_goal(key)
            self._in_flight.discard(key)
            node = 'drawing node' if kind == 'generate' else 'plotter'
            stage = 'drawing' if kind == 'generate' else 'plot'
            self._stage_failed(kind, sid, f'the {node} left the graph during the {stage} '
                                          '(its process stopped or crashed)')

    def _forget_goal(self, key):
        self._servers.forget(key)
        return self._goals.pop(key, None)

    def _no_server(self, kind, sid):
        name = 'generate_drawing' if kind == 'generate' else 'draw_strokes'
        self._stage_failed(kind, sid, f'no {name} action server is running')

    def _send_now(self, kind, client, goal, sid, on_done):
        def accepted(future):
            with self._lock:
                if self._unanswered.pop((kind, sid), None) is None:
                    # answered after _watch_goals gave up on it (its deadline, or its session
                    # ended): withdraw it; its server is free once it has stopped it
                    self._in_flight.discard((kind, sid))
                    late = future.result()
                    if not late.accepted:
                        self._apply(self._machine.on_goal_withdrawn(kind, sid))
                        return
                    late.cancel_goal_async()
                    late.get_result_async().add_done_callback(
                        lambda _: self._apply(self._machine.on_goal_withdrawn(kind, sid)))
                    return
            handle = future.result()
            if not handle.accepted:
                self._in_flight.discard((kind, sid))
                self._stage_failed(kind, sid, 'the goal was rejected (server busy?)')
                return
            with self._lock:
                self._goals[(kind, sid)] = handle
                # the server that took it: one that replaces it later knows nothing of it
                self._servers.note((kind, sid), self._status_publishers(kind))
                self._watch()
                if sid not in self._machine.sessions:
                    # cancelled (or timed out) while the goal was on its way
                    self._cancel(kind, sid)

            def done(future):
                self._in_flight.discard((kind, sid))
                on_done(sid, future.result())
            handle.get_result_async().add_done_callback(done)

        self._in_flight.add((kind, sid))
        with self._lock:
            self._unanswered[(kind, sid)] = (time.monotonic()
                                             + self.get_parameter('goal_reply_timeout').value)
            self._watch()
        client.send_goal_async(goal).add_done_callback(accepted)

    def _cancel(self, kind, sid):
        handle = self._forget_goal((kind, sid))
        if handle is not None:
            handle.cancel_goal_async()

    def _stage_failed(self, kind, sid, message):
        if kind == 'generate':
            self._apply(self._machine.on_generation_result(sid, ok=False, message=message))
        else:
            self._apply(self._machine.on_plot_result(sid, ok=False, message=message))

    def _generation_done(self, sid, response):
        self._forget_goal(('generate', sid))
        outcome = response.result.outcome
        ok = outcome.error_code == GenerationResult.ERROR_NONE and len(outcome.drawing.strokes)
        message = outcome.message or ('no strokes were drawn' if not ok else '')
        self._apply(self._machine.on_generation_result(
            sid, ok=bool(ok), drawing=outcome.drawing, message=message,
            busy=outcome.error_code == GenerationResult.ERROR_BUSY))

    def _plot_done(self, sid, response):
        self._forget_goal(('plot', sid))
        outcome = response.result.outcome
        self._apply(self._machine.on_plot_result(
            sid, ok=outcome.error_code == PlotResult.ERROR_NONE,
            cancelled=outcome.error_code == PlotResult.ERROR_CANCELLED,
            busy=outcome.error_code == PlotResult.ERROR_BUSY, message=outcome.message))

    def shutdown_sessions(self):
        self._apply(self._machine.shutdown())

    def wind_down(self):
        """Its process got SIGINT/SIGTERM: live sessions end as cancelled, their goals
        cancelled, while their statuses can still be published; done once the goals have
        answered (the plotter lifts its pen first)."""
        self.shutdown_sessions()
        return lambda: not self.goals_in_flight()

    def live_sessions(self):
        """Sessions started and not finished (a runner playing a file waits for them)."""
        return len(self._machine.sessions)

    def waiting_for_speech(self):
        """Whether a session is listening (for its first utterance or for a repeat)."""
        session = self._machine.collecting
        return session is not None and session.state == sm.LISTENING

    def speech_ended(self, why):
        """The audio source ended for good (a runner playing a file): fail a session still
        listening, from any thread."""
        self._speech_end_reason = why
        self._speech_ended.trigger()

    def goals_in_flight(self):
        """Goals sent and not yet answered (a runner waits for them before stopping)."""
        return len(self._in_flight)


def main(args=None):
    return run_node(SessionManagerNode, args)


if __name__ == '__main__':
    sys.exit(main())
