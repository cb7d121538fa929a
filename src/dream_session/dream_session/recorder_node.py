"""Records every session into its own MCAP rosbag2, from raw serialized messages.

Sessions open and close with ``session/status``. A message that names its session
(``session_id`` field) goes to that session's bag, and nowhere else: one naming a session
whose bag is closed (a result after the close grace) or was never opened is dropped with a
warning, since another session's bag would misfile it. One that names none (previews,
markers, the speaking flag, an empty ``session_id``) goes to the session whose action it
belongs to while that action runs (a drawing's previews: the session being drawn), else to
the live session that started last. Raw subscriptions keep the bytes exactly as published:
nothing is deserialized except to read a session id.

A finished session's bag closes ``close_grace`` seconds after its last status, or later while
one of its actions has sent feedback and no result yet (a cancelled plot lifts its pen and
parks before it answers), at most ``result_wait`` seconds more: its result belongs in it.

A recorder (re)started while the machine runs receives the status topic's history (it is
latched): statuses published before it started. A session that history shows finished was
recorded by the recorder that ran then, or by nobody: no bag is opened for it (once, a
restarted recorder wrote a second, near-empty bag of each of the last sessions, and the
analysis counted them twice). One still live gets a bag holding its history, opened at its
next status or message, or ``HISTORY_SETTLE`` s after its history came. A live session whose
session manager leaves the graph (killed; a restarted one knows nothing of it) never gets a
last status: its bag is closed ``ORPHAN_WAIT`` s later, as a finished one is (the analysis
reads it as a session with no outcome), instead of staying open until the recorder stops.
"""
import sys
import time

from rcl_interfaces.msg import ParameterDescriptor, FloatingPointRange
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from dream_interfaces.msg import SessionStatus
from dream_session.bag_writer import SessionBagWriter
from dream_session.interface_types import dream_typestore
from dream_session.message_classes import message_class
from dream_runtime.graph_departures import Departures, publisher_gids
from dream_runtime.node_process import run_node

STATUS_TOPIC = 'session/status'
STATUS_TYPE = 'dream_interfaces/msg/SessionStatus'
TERMINAL = (SessionStatus.STATE_DONE, SessionStatus.STATE_FAILED, SessionStatus.STATE_CANCELLED)
HISTORY_SETTLE = 1.0    # s: the rest of a latched history comes within this
ORPHAN_WAIT = 3.0       # s a live session's manager may be missing from the graph
QUIET_END = 1.0         # s with nothing heard that end a wind-down (see wind_down)

DEFAULT_TOPICS = [
    'audio/utterance:dream_interfaces/msg/Utterance',
    'speech/transcript:dream_interfaces/msg/Transcript',
    'drawing:dream_interfaces/msg/Drawing',
    'drawing/preview:sensor_msgs/msg/Image',
    'generate_drawing/feedback_mirror:dream_interfaces/msg/GenerationFeedback',
    'generate_drawing/result_mirror:dream_interfaces/msg/GenerationResult',
    'draw_strokes/feedback_mirror:dream_interfaces/msg/PlotFeedback',
    'draw_strokes/result_mirror:dream_interfaces/msg/PlotResult',
]


# Topics whose messages name no session (first name part) -> the action whose running goal
# they belong to: a drawing's previews go to the session being drawn, not to the newest one
# (often a visitor waiting for the drawing node).
UNNAMED_OWNERS = {'drawing': 'generate_drawing'}


def parse_topic_spec(spec):
    """``'name:pkg/msg/Type'`` -> (name, type)."""
    name, sep, msgtype = spec.rpartition(':')
    if not sep or not name or msgtype.count('/') != 2:
        raise ValueError(f'topic spec {spec!r} is not "topic:package/msg/Type"')
    return name, msgtype


class RecorderNode(Node):
    def __init__(self, **kwargs):
        self._bags = {}          # session id -> SessionBagWriter (destroy_node closes them)
        super().__init__('recorder', **kwargs)
        self.declare_parameter('output_dir', 'sessions', ParameterDescriptor(
            description='directory that receives one bag directory per session'))
        self.declare_parameter('topics', DEFAULT_TOPICS, ParameterDescriptor(
            description='topics to record, as "topic:package/msg/Type"'))
        self.declare_parameter('flush_interval', 0.5, ParameterDescriptor(
            description='seconds between flushes to disk (wall clock, also under sim time): '
            'a crash loses at most this plus 0.1 s',
            floating_point_range=[FloatingPointRange(from_value=0.05, to_value=10.0)]))
        self.declare_parameter('close_grace', 2.0, ParameterDescriptor(
            description='seconds a finished session stays open for late messages (wall clock, '
            'also under sim time)',
            floating_point_range=[FloatingPointRange(from_value=0.0, to_value=60.0)]))
        self.declare_parameter('result_wait', 30.0, ParameterDescriptor(
            description='seconds more a finished session stays open while an action of it '
            '(feedback mirrored, no result yet) is still stopping (wall clock)',
            floating_point_range=[FloatingPointRange(from_value=0.0, to_value=600.0)]))
        self._output = self.get_parameter('output_dir').value
        self._flush_interval = self.get_parameter('flush_interval').value
        self._grace = self.get_parameter('close_grace').value
        self._result_wait = self.get_parameter('result_wait').value
        self._running = {}       # session id -> actions with feedback and no result yet
        self._answered = {}      # session id -> actions whose result has come
        self._acting = {}        # action -> the session of its latest feedback
        self._store = dream_typestore()
        self._closing = {}       # session id -> close deadline (time.monotonic_ns)
        self._order = []         # session ids by start
        self._has_session_id = {}
        self._closed = set()     # ids of sessions whose bag is closed
        self._dropped = set()    # (session id, topic) already warned about
        self._started_ns = time.time_ns()    # wall clock, as DDS stamps what it sends
        self._history = {}       # session id -> (statuses published before we started, when)
        self._managers = Departures(ORPHAN_WAIT)     # session id: its manager
        self._next_manager_check = 0.0
        self._last_heard = 0.0   # time.monotonic() of the last message recorded
        self.closed_bags = []    # paths, for the runner and tests

        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.create_subscription(SessionStatus, STATUS_TOPIC, self._on_status, latched,
                                 raw=True)
        self._topics = {}
        for spec in self.get_parameter('topics').value:
            name, msgtype = parse_topic_spec(spec)
            self._topics[name] = msgtype
            cls = message_class(msgtype)
            self._has_session_id[name] = 'session_id' in cls.get_fields_and_field_types()
            self.create_subscription(cls, name, self._make_callback(name), reliable, raw=True)
        # Crash safety and the close grace are about real seconds: both run on the wall clock
        # even under sim time, where /clock stops (or never starts) once a session is over.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(0.25, self._on_timer, clock=steady)
        self.create_timer(0.1, self._flush_due, clock=steady)
        self.get_logger().info(f'recording {len(self._topics) + 1} topics (session/status '
                               f'included) into {self._output}')

    def _now(self):
        return self.get_clock().now().nanoseconds

    def _open(self, session_id):
        bag = SessionBagWriter(self._output, session_id, flush_interval=self._flush_interval,
                               typestore=self._store)
        bag.add_topic(STATUS_TOPIC, STATUS_TYPE)
        for name, msgtype in self._topics.items():
            bag.add_topic(name, msgtype)
        self._bags[session_id] = bag
        self._order.append(session_id)
        self.get_logger().info(f'session {session_id}: recording to {bag.path}')
        return bag

    def _on_status(self, data, info):
        """``info``: rclpy's MessageInfo (a callback of two parameters gets it)."""
        status = self._store.deserialize_cdr(data, STATUS_TYPE)
        sid = status.session_id
        self._last_heard = time.monotonic()
        if not sid:
            return
        if info.get('publisher_gid'):
            self._managers.note(sid, {bytes(info['publisher_gid']['data'])})
        bag = self._bags.get(sid)
        if bag is None:
            if sid in self._closed:
                return
            if info['source_timestamp'] < self._started_ns:
                self._remember(sid, status, data)
                return
            bag = self._open_with_history(sid)
        bag.write(STATUS_TOPIC, self._now(), data)
        if status.state in TERMINAL:
            self._closing.setdefault(sid, time.monotonic_ns() + int(self._grace * 1e9))

    def _remember(self, sid, status, data):
        """A status from before this recorder started (see the module docstring)."""
        if status.state in TERMINAL:
            self._history.pop(sid, None)
            self._closed.add(sid)               # its late messages are not ours either
            return
        statuses, _ = self._history.get(sid, ([], 0))
        self._history[sid] = (statuses + [data], time.monotonic())

    def _open_with_history(self, sid):
        bag = self._open(sid)
        statuses, _ = self._history.pop(sid, ([], 0))
        for data in statuses:
            bag.write(STATUS_TOPIC, self._now(), data)
        return bag

    def _make_callback(self, topic):
        def callback(data):
            bag = self._route(topic, data)
            if bag is not None:
                self._last_heard = time.monotonic()
                bag.write(topic, self._now(), data)
        return callback

    def _note_action(self, topic, sid):
        """Track the actions (``X/feedback_mirror`` ... ``X/result_mirror``) still running.
        Two topics keep no order between them: feedback handled after its result (both
        queued) must not count as an action still running."""
        action, _, kind = topic.rpartition('/')
        if kind == 'feedback_mirror' and action not in self._answered.get(sid, ()):
            self._running.setdefault(sid, set()).add(action)
            self._acting[action] = sid
        elif kind == 'result_mirror':
            self._answered.setdefault(sid, set()).add(action)
            self._running.get(sid, set()).discard(action)

    def _route(self, topic, data):
        if self._has_session_id[topic]:
            sid = self._store.deserialize_cdr(data, self._topics[topic]).session_id
            if sid in self._history:
                self._open_with_history(sid)
            if sid in self._bags:
                self._note_action(topic, sid)
                return self._bags[sid]
            if sid:
                self._drop(topic, sid)
                return None
        owner = self._acting.get(UNNAMED_OWNERS.get(topic.split('/')[0], ''))
        if owner in self._bags and self._running.get(owner):
            return self._bags[owner]             # e.g. a preview of the drawing being made
        live = [sid for sid in self._order if sid in self._bags and sid not in self._closing]
        return self._bags[live[-1]] if live else None

    def _drop(self, topic, sid):
        """Warn once per session and topic: late feedback can come many times a second."""
        if (sid, topic) in self._dropped:
            return
        self._dropped.add((sid, topic))
        why = ('its bag is closed (or it ended before this recorder started)'
               if sid in self._closed
               else 'no bag is open for it (no session/status seen)')
        self.get_logger().warning(f'not recorded: {topic} for session {sid}: {why}')

    def _check_managers(self, now):
        """Close the bags of live sessions whose manager has left the graph."""
        live = [sid for sid in self._bags if sid not in self._closing]
        if not live:
            return
        present = publisher_gids(self, STATUS_TOPIC)
        for sid in live:
            if self._managers.gone(sid, present, now):
                self.get_logger().warning(
                    f'session {sid}: its session manager left the graph while the session was '
                    'live (stopped or crashed): its bag is closed without an outcome')
                self._closing[sid] = time.monotonic_ns() + int(self._grace * 1e9)

    def _on_timer(self):
        if time.monotonic() >= self._next_manager_check:
            self._next_manager_check = time.monotonic() + 1.0
            self._check_managers(time.monotonic())
        settled = time.monotonic() - HISTORY_SETTLE
        for sid, (_, when) in list(self._history.items()):
            if when <= settled:                 # live: its manager still runs it
                self._open_with_history(sid)
        now = time.monotonic_ns()
        for sid in list(self._bags):
            if sid not in self._closing or now < self._closing[sid]:
                continue
            if self._running.get(sid) and now < self._closing[sid] + int(
                    self._result_wait * 1e9):
                continue                 # its action is still stopping: its result comes
            self._close(sid)

    def _flush_due(self):
        for bag in list(self._bags.values()):
            bag.flush_if_due()

    def _close(self, sid):
        bag = self._bags.pop(sid)
        self._closing.pop(sid, None)
        self._running.pop(sid, None)
        self._answered.pop(sid, None)
        self._managers.forget(sid)
        self._order.remove(sid)
        bag.close()
        self._closed.add(sid)
        self.closed_bags.append(bag.path)
        self.get_logger().info(f'session {sid}: bag closed ({bag.message_count} messages)')

    def wind_down(self):
        """Its process got SIGINT/SIGTERM, as every node's does under ros2 launch: done once
        each open session has its last status and its actions their results (the session
        manager cancels them as it stops), so those are in the bags; or once nothing has come
        for QUIET_END s (the recorder stopped alone: no last status is on its way)."""
        begun = time.monotonic()

        def done():
            quiet = time.monotonic() - max(begun, self._last_heard) >= QUIET_END
            return quiet or all(sid in self._closing and not self._running.get(sid)
                                for sid in self._bags)
        return done

    def close_all(self):
        for sid in list(self._bags):
            self._close(sid)

    def destroy_node(self):
        self.close_all()
        return super().destroy_node()


def main(args=None):
    return run_node(RecorderNode, args)


if __name__ == '__main__':
    sys.exit(main())
