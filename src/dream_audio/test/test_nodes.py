"""audio_capture_node and vad_node in one process: a spoken file in, utterances out."""
import os
import threading
import time
import uuid

import numpy as np
import pytest
import soundfile

rclpy = pytest.importorskip('rclpy')
from dream_interfaces.msg import AudioChunk, SessionStatus, Utterance  # noqa: E402
from dream_interfaces.srv import ControlSession  # noqa: E402
from rclpy.exceptions import InvalidParameterValueException  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402

from dream_audio.audio_capture_node import CHUNK_QOS, AudioCaptureNode  # noqa: E402
from dream_audio.pcm import decode, encode  # noqa: E402
from dream_audio.ros_messages import to_seconds  # noqa: E402
from dream_audio.segmenter import EndReason  # noqa: E402
from dream_audio.speech_synthesis import synthesize  # noqa: E402
from dream_audio.vad_node import SPEAKING_QOS, UTTERANCE_QOS, VadNode  # noqa: E402

NAMESPACE = f'/audio_test_{os.getpid()}'  # other tests on this host cannot cross-talk


class Spinners:
    """An executor and a thread per node, as the runner does (rclpy's multi-threaded executor
    delivers streamed chunks too slowly for a file played as fast as possible)."""

    def __init__(self, context):
        self.context = context
        self.executors = {}

    def add_node(self, node):
        executor = SingleThreadedExecutor(context=self.context)
        executor.add_node(node)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        self.executors[node] = executor, thread

    def remove_node(self, node):
        # Wait for the callback in progress (a VAD feed on a loaded machine can outlast the
        # shutdown's wait): a node destroyed under it fails the callback's publish.
        executor, thread = self.executors.pop(node)
        executor.shutdown(timeout_sec=5)
        thread.join(timeout=30)

    def shutdown(self):
        for node in list(self.executors):
            self.remove_node(node)


@pytest.fixture(scope='module')
def graph(silero):
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = Spinners(context)
    # Chunks delayed by a loaded machine must not end utterances here: the stream timeout
    # has a test of its own.
    vad = VadNode(detector=silero, namespace=NAMESPACE, context=context,
                  parameter_overrides=[Parameter('stream_timeout', value=30.0)])
    probe = rclpy.create_node('audio_test_probe', namespace=NAMESPACE, context=context)
    probe.utterances, probe.speaking, probe.previews = [], [], []
    probe.create_subscription(Utterance, 'audio/utterance', probe.utterances.append,
                              UTTERANCE_QOS)
    probe.create_subscription(Utterance, 'audio/utterance_preview', probe.previews.append,
                              UTTERANCE_QOS)
    probe.create_subscription(Bool, 'audio/speaking', lambda m: probe.speaking.append(m.data),
                              SPEAKING_QOS)
    probe.chunks = probe.create_publisher(AudioChunk, 'audio/chunks', CHUNK_QOS)
    probe.push_to_talk = probe.create_publisher(Bool, 'audio/push_to_talk', UTTERANCE_QOS)
    probe.control = probe.create_client(ControlSession, 'audio/control')
    for node in (vad, probe):
        executor.add_node(node)
    assert probe.control.wait_for_service(timeout_sec=10)
    yield executor, vad, probe, context
    executor.shutdown()
    for node in (vad, probe):
        node.destroy_node()
    rclpy.shutdown(context=context)


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def call(probe, command, session_id=''):
    future = probe.control.call_async(ControlSession.Request(command=command,
                                                             session_id=session_id))
    assert wait_for(future.done, 10)
    return future.result()


def publish_silence(probe, start_index, seconds, session_id=''):
    for k in range(int(seconds * 10)):
        msg = AudioChunk(session_id=session_id, sample_rate=16000, channels=1,
                         encoding='pcm_s16le', sample_index=start_index + k * 1600)
        msg.header.stamp.sec = 1000 + (start_index + k * 1600) // 16000
        msg.data = encode(np.zeros(1600, dtype=np.float32), 'pcm_s16le')
        probe.chunks.publish(msg)
    return start_index + int(seconds * 10) * 1600


def test_file_played_through_capture_and_vad(graph, tmp_path):
    executor, vad, probe, context = graph
    path = tmp_path / 'two-dreams.wav'
    first = synthesize('I was flying over a sea of milk.', tmp_path / 'a.wav', pad_after=2.5)
    second = synthesize('A tiger made of clouds sang to me.', tmp_path / 'b.wav')
    import soundfile
    a, rate = soundfile.read(str(first), dtype='float32')
    b, _ = soundfile.read(str(second), dtype='float32')
    soundfile.write(str(path), np.stack([np.concatenate([a, b])] * 2, axis=1), rate)  # stereo
    probe.utterances.clear()
    probe.previews.clear()
    capture = AudioCaptureNode(namespace=NAMESPACE, context=context, parameter_overrides=[
        Parameter('source', value='file'), Parameter('file_path', value=str(path)),
        Parameter('realtime', value=False), Parameter('session_id', value='s-file')])
    executor.add_node(capture)
    try:
        assert wait_for(lambda: len(probe.utterances) >= 2)
        assert capture.wait_for_source(timeout=10)
        time.sleep(0.3)
        assert len(probe.utterances) == 2
        one, two = probe.utterances
        assert [u.end_reason for u in (one, two)] == [Utterance.END_SILENCE] * 2
        assert [u.utterance_index for u in (one, two)] == [0, 1]
        assert {u.session_id for u in (one, two)} == {'s-file'}
        for u in (one, two):
            samples = decode(u.data, u.encoding, u.channels)
            assert u.sample_rate == 16000 and samples.size > 16000
            assert to_seconds(u.end) - to_seconds(u.start) == pytest.approx(
                samples.size / 16000, abs=1e-6)
            assert u.header.stamp == u.start
            assert u.speech_ratio > 0.5
        # Both are stamped from the same playback start, whatever their publish times.
        origin = [to_seconds(u.start) - u.start_sample_index / 16000 for u in (one, two)]
        assert origin[0] == pytest.approx(origin[1], abs=1e-6)
        # The first dream starts after 1 s of silence, less the 0.5 s pre-roll.
        assert one.start_sample_index == pytest.approx(0.5 * 16000, abs=0.2 * 16000)
        assert wait_for(lambda: probe.speaking[-1:] == [False])
        assert probe.speaking.count(True) == 2
        # Each final utterance was previewed, same audio, before its silence wait ended.
        previewed = {(p.start_sample_index, p.data.tobytes()) for p in probe.previews}
        assert all((u.start_sample_index, u.data.tobytes()) in previewed for u in (one, two))
    finally:
        executor.remove_node(capture)
        capture.destroy_node()


def test_control_service_start_stop_cancel(graph):
    executor, vad, probe, context = graph
    probe.utterances.clear()
    session = f's-{uuid.uuid4().hex[:8]}'     # a new session numbers its utterances from 0
    index = publish_silence(probe, 0, 0.5)
    assert wait_for(lambda: vad._segmenter.position == index, 10)
    response = call(probe, ControlSession.Request.COMMAND_START, session)
    assert response.accepted and response.session_id == session
    index = publish_silence(probe, index, 1.0)
    assert wait_for(lambda: vad._segmenter.position == index, 10)
    response = call(probe, ControlSession.Request.COMMAND_STOP)
    assert response.accepted
    assert wait_for(lambda: len(probe.utterances) == 1)
    [u] = probe.utterances
    assert u.end_reason == Utterance.END_MANUAL and u.session_id == session
    assert u.utterance_index == 0 and u.speech_ratio == 0.0
    assert decode(u.data, u.encoding).size == pytest.approx(1.5 * 16000, abs=1)  # + pre-roll
    assert not call(probe, ControlSession.Request.COMMAND_STOP).accepted
    assert call(probe, ControlSession.Request.COMMAND_START).accepted
    index = publish_silence(probe, index, 0.5)
    assert call(probe, ControlSession.Request.COMMAND_CANCEL).accepted
    response = call(probe, 99)
    assert not response.accepted and 'unknown command' in response.message
    time.sleep(0.3)
    assert len(probe.utterances) == 1


def test_push_to_talk_topic_and_bad_chunks(graph):
    executor, vad, probe, context = graph
    probe.utterances.clear()
    index = publish_silence(probe, 0, 0.5, session_id='s-ptt')
    assert wait_for(lambda: vad._segmenter.position == index, 10)
    bad = AudioChunk(sample_rate=16000, channels=1, encoding='pcm_s16le', sample_index=index)
    bad.data = b'\x01\x02\x03'  # not a whole sample
    probe.chunks.publish(bad)
    bad = AudioChunk(sample_rate=16000, channels=1, encoding='mp3', sample_index=index,
                     data=b'\x00' * 10)
    probe.chunks.publish(bad)
    probe.push_to_talk.publish(Bool(data=True))
    assert wait_for(lambda: vad._segmenter.in_utterance, 10)
    index = publish_silence(probe, index, 0.5, session_id='s-ptt')
    assert wait_for(lambda: vad._segmenter.position == index, 10)
    probe.push_to_talk.publish(Bool(data=False))
    assert wait_for(lambda: len(probe.utterances) == 1)
    assert probe.utterances[0].end_reason == Utterance.END_MANUAL
    assert EndReason.MANUAL == Utterance.END_MANUAL


def test_stream_timeout_ends_an_open_utterance_but_not_a_fresh_start(silero):
    context = rclpy.Context()
    rclpy.init(context=context)
    namespace = f'{NAMESPACE}_timeout'
    executor = Spinners(context)
    vad = VadNode(detector=silero, namespace=namespace, context=context,
                  parameter_overrides=[Parameter('stream_timeout', value=1.0)])
    probe = rclpy.create_node('timeout_probe', namespace=namespace, context=context)
    utterances = []
    probe.create_subscription(Utterance, 'audio/utterance', utterances.append, UTTERANCE_QOS)
    probe.chunks = probe.create_publisher(AudioChunk, 'audio/chunks', CHUNK_QOS)
    probe.control = probe.create_client(ControlSession, 'audio/control')
    for node in (vad, probe):
        executor.add_node(node)
    try:
        assert probe.control.wait_for_service(timeout_sec=10)
        index = publish_silence(probe, 0, 0.5)
        assert wait_for(lambda: vad._segmenter.position == index, 10)
        time.sleep(1.5)                      # the stream has been quiet for longer than 1 s
        started = time.monotonic()
        assert call(probe, ControlSession.Request.COMMAND_START, 's-quiet').accepted
        assert wait_for(lambda: len(utterances) == 1, 10)   # no chunk for 1 s: ended
        # ...counted from the manual start, not from the last chunk (2 s before).
        assert time.monotonic() - started >= 0.95
        assert utterances[0].end_reason == Utterance.END_STREAM
        assert not vad._segmenter.in_utterance
    finally:
        executor.shutdown()
        for node in (vad, probe):
            node.destroy_node()
        rclpy.shutdown(context=context)


def test_end_reasons_match_the_message_constants():
    assert [int(r) for r in (EndReason.SILENCE, EndReason.LENGTH_CAP, EndReason.MANUAL,
                             EndReason.STREAM)] == [
        Utterance.END_SILENCE, Utterance.END_LENGTH_CAP, Utterance.END_MANUAL,
        Utterance.END_STREAM]


def test_capture_without_a_microphone_stays_up_and_switches_to_a_file(graph, dream_wav):
    executor, vad, probe, context = graph
    chunks = []
    listener = rclpy.create_node('audio_test_listener', namespace=NAMESPACE, context=context)
    listener.create_subscription(AudioChunk, 'audio/chunks', chunks.append, CHUNK_QOS)
    executor.add_node(listener)
    capture = AudioCaptureNode(namespace=NAMESPACE, context=context, parameter_overrides=[
        Parameter('source', value='microphone'), Parameter('device', value='no such mic'),
        Parameter('retry_period', value=0.5)])
    executor.add_node(capture)
    try:
        time.sleep(1.0)  # a couple of failed attempts to open the device, logged, no crash
        assert chunks == []
        result = capture.set_parameters([Parameter('source', value='sideways')])
        assert not result[0].successful and 'microphone' in result[0].reason
        capture.set_parameters([Parameter('file_path', value=str(dream_wav)),
                                Parameter('realtime', value=False),
                                Parameter('source', value='file')])
        assert wait_for(lambda: chunks and not chunks[-1].data)  # played out, then the end
        assert capture.wait_for_source(timeout=10)
        assert chunks[0].source_sample_rate == 22050 and chunks[0].sample_index == 0
        total = sum(len(c.data) // 2 for c in chunks)
        assert chunks[-1].sample_index == total
    finally:
        for node in (capture, listener):
            executor.remove_node(node)
            node.destroy_node()


def _play(graph, path):
    """Play ``path`` as fast as it decodes through a capture node (in a namespace of its
    own: the graph's VAD does not hear it); the node, once done."""
    executor, vad, probe, context = graph
    parameters = [
        Parameter('source', value='file'), Parameter('file_path', value=str(path)),
        Parameter('realtime', value=False), Parameter('wait_for_subscriber', value=0.0)]
    capture = AudioCaptureNode(namespace=NAMESPACE + '_solo', context=context,
                               parameter_overrides=parameters)
    try:
        assert capture.wait_for_source(timeout=30)
    finally:
        capture.destroy_node()
    return capture


def test_the_capture_says_what_went_wrong_while_a_file_played(graph, dream_wav, tmp_path):
    """A WAV cut short plays with a warning; a FLAC that stops decoding is named (a run that
    heard no speech says so rather than 'no speech was heard'); the peak level is kept."""
    whole = _play(graph, dream_wav)
    assert whole.source_problem is None and whole.source_error is None
    assert -20 < whole.source_peak_dbfs <= 0
    data = dream_wav.read_bytes()
    cut = tmp_path / 'cut.wav'
    cut.write_bytes(data[:len(data) // 3])
    assert 'is shorter than its header says' in _play(graph, cut).source_problem
    flac = tmp_path / 'dream.flac'
    samples, rate = soundfile.read(str(dream_wav), dtype='float32')
    soundfile.write(str(flac), samples, rate)
    broken = tmp_path / 'broken.flac'
    broken.write_bytes(flac.read_bytes()[:1000])
    played = _play(graph, broken)
    assert played.source_error is None      # it started playing: not "cannot play"
    assert 'decoding failed after' in played.source_problem


@pytest.mark.parametrize('node, name, value', [
    ('capture', 'source', 'net'), ('capture', 'encoding', 'mp3'), ('vad', 'encoding', 'mp3')])
def test_a_word_outside_its_set_fails_the_start(energy_detector, node, name, value):
    """Once only logged ('unknown source', 'using pcm_s16le') and the node carried on."""
    from dream_audio.pcm import ENCODINGS
    context = rclpy.Context()
    rclpy.init(context=context)
    words = ', '.join(('microphone', 'file') if name == 'source' else ENCODINGS)
    try:
        with pytest.raises(InvalidParameterValueException,
                           match=f"{name} must be one of {words}, got '{value}'"):
            overrides = [Parameter(name, value=value)]
            if node == 'vad':
                VadNode(detector=energy_detector, namespace=NAMESPACE, context=context,
                        parameter_overrides=overrides)
            else:
                AudioCaptureNode(namespace=NAMESPACE, context=context,
                                 parameter_overrides=overrides)
    finally:
        rclpy.shutdown(context=context)


def test_a_word_outside_its_set_is_refused_when_set():
    context = rclpy.Context()
    rclpy.init(context=context)
    capture = AudioCaptureNode(namespace=NAMESPACE, context=context, parameter_overrides=[
        Parameter('device', value='no such mic')])      # nothing is published
    try:
        [result] = capture.set_parameters([Parameter('encoding', value='mp3')])
        assert not result.successful and 'pcm_s16le' in result.reason, result.reason
        assert capture.get_parameter('encoding').value == 'pcm_s16le'
    finally:
        capture.stop_source()
        capture.destroy_node()
        rclpy.shutdown(context=context)


def _listening_session(vad, probe):
    """A new session the VAD listens for: (status publisher, its id)."""
    from dream_audio.vad_node import STATUS_QOS
    probe.utterances.clear()
    status = probe.create_publisher(SessionStatus, 'session/status', STATUS_QOS)
    session = f's-{uuid.uuid4().hex[:8]}'
    status.publish(SessionStatus(session_id=session, state=SessionStatus.STATE_LISTENING))
    assert wait_for(lambda: vad._session_id == session, 10)
    return status, session


def test_a_session_cancelled_while_its_visitor_speaks_drops_the_open_utterance(graph):
    """Once its utterance went on, unnamed, and opened a new session that drew it: the
    cancel was undone."""
    executor, vad, probe, context = graph
    status, session = _listening_session(vad, probe)
    index = publish_silence(probe, 0, 0.5)
    assert wait_for(lambda: vad._segmenter.position == index, 10)
    probe.push_to_talk.publish(Bool(data=True))
    assert wait_for(lambda: vad._segmenter.in_utterance, 10)
    index = publish_silence(probe, index, 0.5)
    assert wait_for(lambda: vad._segmenter.position == index, 10)
    status.publish(SessionStatus(session_id=session, state=SessionStatus.STATE_CANCELLED))
    assert wait_for(lambda: not vad._segmenter.in_utterance, 10)
    assert vad._session_id == ''
    probe.push_to_talk.publish(Bool(data=False))
    time.sleep(0.5)
    assert probe.utterances == []


def _speech_16k(text, tmp_path, name):
    import soundfile
    from scipy.signal import resample_poly
    path = synthesize(text, tmp_path / name, pad_before=0.2, pad_after=0.0)
    samples, rate = soundfile.read(str(path), dtype='float32')
    return resample_poly(samples, 16000, rate).astype(np.float32)


def publish_samples(probe, start_index, samples):
    for k in range(0, samples.size - 1599, 1600):
        msg = AudioChunk(sample_rate=16000, channels=1, encoding='pcm_s16le',
                         sample_index=start_index + k)
        msg.header.stamp.sec = 1000 + (start_index + k) // 16000
        msg.data = encode(samples[k:k + 1600], 'pcm_s16le')
        probe.chunks.publish(msg)
    return start_index + (samples.size // 1600) * 1600


def test_the_speech_that_goes_on_after_a_cancel_is_dropped_too(graph, tmp_path):
    """Once the rest of the sentence opened a new session that drew it."""
    executor, vad, probe, context = graph
    status, session = _listening_session(vad, probe)
    speech = _speech_16k('I was walking through a garden of glass and every flower was '
                         'singing a different song to the moon', tmp_path, 'long.wav')
    half = (speech.size // 2 // 1600) * 1600
    index = publish_silence(probe, 0, 0.5)
    index = publish_samples(probe, index, speech[:half])
    assert wait_for(lambda: vad._segmenter.speaking, 10)
    status.publish(SessionStatus(session_id=session, state=SessionStatus.STATE_CANCELLED))
    assert wait_for(lambda: vad._muted_since is not None, 10)
    probe.speaking.clear()
    index = publish_samples(probe, index, speech[half:])
    index = publish_silence(probe, index, 3.0)
    assert wait_for(lambda: vad._segmenter.position == index, 20)
    time.sleep(0.3)
    assert probe.utterances == [] and True not in probe.speaking
    assert vad._muted_since is None                  # listening again: a new dream is heard
    index = publish_samples(probe, index, _speech_16k('a blue horse', tmp_path, 'b.wav'))
    publish_silence(probe, index, 3.0)
    assert wait_for(lambda: len(probe.utterances) == 1, 20)
