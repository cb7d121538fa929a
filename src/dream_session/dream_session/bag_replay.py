"""Play a recorded session back onto its topics, with its timing and optionally ``/clock``.

Messages are published exactly as recorded (serialized bytes), so subscribers cannot tell a
replay from the live session; with ``--clock``, nodes running with ``use_sim_time`` see the
bag's time. Reading uses the definitions stored in the bag (rosbags), publishing uses our
installed types.
"""
import pathlib
import time

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosbags.highlevel import AnyReader
from rosgraph_msgs.msg import Clock

from dream_session.message_classes import message_class

STATUS_TOPIC = 'session/status'


class UnknownTopics(ValueError):
    """Topics asked for that the bag does not hold."""


def read_messages(bag_path, topics=None):
    """[(log time ns, topic, msgtype, raw bytes)] in time order, of ``topics`` (all if None).

    Topics match with or without a leading slash; one the bag lacks is UnknownTopics. A bag
    that cannot be read is a ValueError naming it and its repair.
    """
    from dream_session.bag_recovery import unreadable
    try:
        return _read(pathlib.Path(bag_path), topics)
    except UnknownTopics:
        raise
    except Exception as exc:  # rosbags raises its own, MCAP, YAML and OS errors
        raise ValueError(unreadable(bag_path, exc)) from exc


def _read(bag_path, topics):
    with AnyReader([bag_path]) as reader:
        connections = reader.connections
        if topics is not None:
            wanted = {t.lstrip('/') for t in topics}
            connections = [c for c in connections if c.topic.lstrip('/') in wanted]
            missing = wanted - {c.topic.lstrip('/') for c in connections}
            if missing:
                raise UnknownTopics(
                    f'{bag_path} has no topic {", ".join(sorted(missing))}; its topics: '
                    f'{", ".join(sorted({c.topic for c in reader.connections}))}')
        # An empty list would mean every topic to rosbags.
        messages = reader.messages(connections=connections) if connections else ()
        return [(timestamp, conn.topic, conn.msgtype, bytes(raw))
                for conn, timestamp, raw in messages]


def read_first(bag_path, topic):
    """The first message recorded on ``topic`` as an rclpy message, or None."""
    try:
        found = read_messages(bag_path, [topic])
    except UnknownTopics:
        return None
    for _, _, msgtype, raw in found:
        return deserialize_message(raw, message_class(msgtype))
    return None


class BagPlayer:
    """Publishes a bag's messages from a node, paced by their recorded times."""

    def __init__(self, node, bag_path, *, rate=1.0, publish_clock=False, topics=None):
        if not rate > 0:  # NaN too, which would fail only when playing starts; inf is fine
            raise ValueError(f'--rate must be a positive number (inf: as fast as possible), '
                             f'got {rate}')
        self.node = node
        self.rate = rate
        self.messages = read_messages(bag_path, topics)
        if not self.messages:
            raise ValueError(f'{bag_path}: no messages to play'
                             + (f' on {", ".join(topics)}' if topics else ''))
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.publishers = {}
        for _, topic, msgtype, _ in self.messages:
            if topic not in self.publishers:
                qos = latched if topic == STATUS_TOPIC else reliable
                self.publishers[topic] = node.create_publisher(message_class(msgtype), topic, qos)
        self.clock_pub = node.create_publisher(Clock, '/clock', 10) if publish_clock else None
        self.published = 0

    def wait_for_subscribers(self, timeout=10.0):
        """Give discovery time (seconds on a loaded machine) so that nothing is lost; says on
        the node's log which topics nobody listens to when it plays anyway (else the wait
        looks like a hang, and the loss goes unnoticed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() for p in self.publishers.values()):
                return True
            time.sleep(0.05)
        alone = [t for t, p in self.publishers.items() if not p.get_subscription_count()]
        where = 'any topic' if len(alone) == len(self.publishers) else ', '.join(alone)
        self.node.get_logger().warning(
            f'no subscriber on {where} after {timeout:g} s; playing anyway')
        return False

    def _clock(self, stamp_ns):
        if self.clock_pub is not None:
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = divmod(int(stamp_ns), 1_000_000_000)
            self.clock_pub.publish(msg)

    def play(self, stop=None, progress=None):
        """Publish everything in order; ``stop`` is an Event that ends playback early."""
        start_bag = self.messages[0][0]
        start_wall = time.monotonic()
        for stamp, topic, _, raw in self.messages:
            due = start_wall + (stamp - start_bag) / 1e9 / self.rate
            while True:
                if stop is not None and stop.is_set():
                    return self.published
                left = due - time.monotonic()
                if left <= 0:
                    break
                # keep /clock moving between messages, at about 50 Hz
                self._clock(stamp - left * 1e9 * self.rate)
                time.sleep(min(left, 0.02))
            self._clock(stamp)
            self.publishers[topic].publish(raw)
            self.published += 1
            if progress is not None:
                progress(self.published, len(self.messages))
        return self.published
