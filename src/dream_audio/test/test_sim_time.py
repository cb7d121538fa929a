"""Under use_sim_time: audio_capture stamps files in sim time, vad stamps from the chunks and
counts its stream timeout on /clock (see the Time paragraphs of both nodes' docstrings)."""
import os
import random
import threading
import time
import uuid

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from dream_interfaces.msg import AudioChunk, Utterance  # noqa: E402
from dream_interfaces.srv import ControlSession  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402

from dream_audio.audio_capture_node import CHUNK_QOS, AudioCaptureNode  # noqa: E402
from dream_audio.pcm import decode, encode  # noqa: E402
from dream_audio.vad_node import UTTERANCE_QOS, VadNode  # noqa: E402

SIM_START = 1_000_000          # seconds: far from the wall clock, so a mix-up shows
# /clock is a global topic: a domain of our own keeps other tests' clocks out.
DOMAIN = random.Random(f'{os.getpid()}-audio-sim').randint(102, 232)
RATE = 16000


def ns_of(stamp):
    return stamp.sec * 10**9 + stamp.nanosec


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


class SimClock:
    """Publishes /clock every 20 ms (wall) once started; it stands still between advances."""

    def __init__(self, context, start_s):
        self.node = rclpy.create_node(f'sim_clock_{uuid.uuid4().hex[:6]}', context=context)
        self._pub = self.node.create_publisher(Clock, '/clock', QoSProfile(
            depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.now_ns = start_s * 10**9
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def advance(self, seconds):
        self.now_ns += int(seconds * 1e9)

    def _run(self):
        while not self._stop.is_set():
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = divmod(self.now_ns, 10**9)
            self._pub.publish(msg)
            self._stop.wait(0.02)

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.node.destroy_node()


@pytest.fixture
def ros():
    """A context on a domain of our own and an executor per node, as the runner spins them."""
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN)
    executors, nodes = [], []

    def spin(node):
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        executors.append(executor)
        nodes.append(node)
        return node

    yield context, spin
    for executor in executors:
        executor.shutdown(timeout_sec=5)
    for node in reversed(nodes):
        node.destroy_node()
    rclpy.shutdown(context=context)


def listen(context, spin, namespace):
    chunks = []
    listener = rclpy.create_node('listener', namespace=namespace, context=context)
    listener.create_subscription(AudioChunk, 'audio/chunks', chunks.append, CHUNK_QOS)
    spin(listener)
    return chunks


def capture_node(context, namespace, path, wait):
    return AudioCaptureNode(namespace=namespace, context=context, parameter_overrides=[
        Parameter('use_sim_time', value=True), Parameter('source', value='file'),
        Parameter('file_path', value=str(path)), Parameter('realtime', value=False),
        Parameter('wait_for_subscriber', value=wait)])


def test_capture_waits_for_clock_then_stamps_the_file_in_sim_time(ros, dream_wav):
    context, spin = ros
    namespace = f'/sim_capture_{uuid.uuid4().hex[:8]}'
    chunks = listen(context, spin, namespace)
    clock = SimClock(context, SIM_START)          # not publishing yet
    capture = spin(capture_node(context, namespace, dream_wav, wait=60.0))
    try:
        assert wait_for(lambda: capture._publisher.get_subscription_count() > 0, 10)
        time.sleep(0.5)
        assert chunks == [], 'played before any /clock: its stamps would start at 0'
        clock.start()
        assert wait_for(lambda: chunks and not chunks[-1].data)   # played out, then the end
        assert capture.wait_for_source(timeout=10)
    finally:
        capture.stop_source()
        clock.stop()
    # Playback started at the /clock time (standing still at SIM_START), and every chunk is
    # stamped start + sample_index / rate on that timeline, the end marker included.
    assert chunks[0].sample_index == 0
    assert ns_of(chunks[0].header.stamp) == SIM_START * 10**9
    for chunk in chunks:
        expected = SIM_START * 10**9 + chunk.sample_index * 10**9 // RATE
        assert abs(ns_of(chunk.header.stamp) - expected) <= 1000
    assert chunks[-1].sample_index == sum(len(c.data) // 2 for c in chunks) > 5 * RATE


def test_capture_without_clock_plays_after_the_wait_stamped_from_zero(ros, dream_wav):
    context, spin = ros
    namespace = f'/sim_noclock_{uuid.uuid4().hex[:8]}'
    chunks = listen(context, spin, namespace)
    capture = spin(capture_node(context, namespace, dream_wav, wait=0.3))
    try:
        assert wait_for(lambda: chunks and not chunks[-1].data)
        assert capture.wait_for_source(timeout=10)
    finally:
        capture.stop_source()
    assert ns_of(chunks[0].header.stamp) == 0            # what a sim clock reads before /clock
    assert ns_of(chunks[-1].header.stamp) < 3600 * 10**9


def publish_chunks(pub, origin_ns, start_index, seconds, amplitude=0.0):
    """0.1 s chunks stamped origin + index / rate (a tone where amplitude > 0)."""
    for k in range(int(round(seconds * 10))):
        index = start_index + k * 1600
        msg = AudioChunk(sample_rate=RATE, channels=1, encoding='pcm_s16le', sample_index=index)
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(
            origin_ns + index * 10**9 // RATE, 10**9)
        t = (index + np.arange(1600)) / RATE
        msg.data = encode((amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
                          'pcm_s16le')
        pub.publish(msg)
    return start_index + int(round(seconds * 10)) * 1600


def test_vad_stamps_from_chunks_and_its_stream_timeout_runs_on_sim_time(ros, energy_detector):
    context, spin = ros
    namespace = f'/sim_vad_{uuid.uuid4().hex[:8]}'
    clock = SimClock(context, SIM_START).start()
    vad = spin(VadNode(detector=energy_detector, namespace=namespace, context=context,
                       parameter_overrides=[Parameter('use_sim_time', value=True),
                                            Parameter('stream_timeout', value=1.0)]))
    probe = rclpy.create_node('probe', namespace=namespace, context=context)
    utterances = []
    probe.create_subscription(Utterance, 'audio/utterance', utterances.append, UTTERANCE_QOS)
    chunks = probe.create_publisher(AudioChunk, 'audio/chunks', CHUNK_QOS)
    control = probe.create_client(ControlSession, 'audio/control')
    spin(probe)
    # The chunks' own timeline, 500 s before the node's sim clock: utterance stamps must
    # come from it, not from the node's clock (sim or wall).
    origin = (SIM_START - 500) * 10**9

    def call(command):
        future = control.call_async(ControlSession.Request(command=command,
                                                           session_id='s-sim'))
        assert wait_for(future.done, 10)
        return future.result()

    def assert_stamped_from_chunks(u):
        assert u.header.stamp == u.start
        end_index = u.start_sample_index + decode(u.data, u.encoding).size
        for stamp, index in ((u.start, u.start_sample_index), (u.end, end_index)):
            assert abs(ns_of(stamp) - (origin + index * 10**9 // RATE)) <= 1000

    try:
        assert control.wait_for_service(timeout_sec=10)
        assert wait_for(lambda: vad.get_clock().now().nanoseconds == SIM_START * 10**9, 10)
        # Speech between silences, stopped by hand: END_MANUAL.
        index = publish_chunks(chunks, origin, 0, 0.5)
        assert call(ControlSession.Request.COMMAND_START).accepted
        index = publish_chunks(chunks, origin, index, 1.0, amplitude=0.3)
        index = publish_chunks(chunks, origin, index, 0.3)
        assert wait_for(lambda: vad._segmenter.position == index, 10)
        assert call(ControlSession.Request.COMMAND_STOP).accepted
        assert wait_for(lambda: len(utterances) == 1, 10)
        assert utterances[0].end_reason == Utterance.END_MANUAL
        assert_stamped_from_chunks(utterances[0])
        # An utterance left open when the chunks stop: /clock standing still (a paused
        # simulation) must not end it, however long that lasts on the wall clock...
        assert call(ControlSession.Request.COMMAND_START).accepted
        index = publish_chunks(chunks, origin, index, 0.5, amplitude=0.3)
        assert wait_for(lambda: vad._segmenter.position == index, 10)
        time.sleep(2.5)                               # 2.5 x stream_timeout of wall time
        assert len(utterances) == 1 and vad._segmenter.in_utterance
        # ...and when the stream goes on and then stops, 1.5 s of sim time without chunks
        # ends it (END_STREAM) at once, however little wall time that took.
        index = publish_chunks(chunks, origin, index, 0.3, amplitude=0.3)
        assert wait_for(lambda: vad._segmenter.position == index, 10)
        clock.advance(1.5)
        assert wait_for(lambda: len(utterances) == 2, 10)
        assert utterances[1].end_reason == Utterance.END_STREAM
        assert utterances[1].session_id == 's-sim'
        assert_stamped_from_chunks(utterances[1])
        assert not vad._segmenter.in_utterance
    finally:
        clock.stop()
