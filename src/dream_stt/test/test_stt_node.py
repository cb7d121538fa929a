"""stt_node in-process: utterances in, transcripts out; bad input gives a status, not a crash."""
import os
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from dream_interfaces.msg import AudioChunk, Transcript, Utterance  # noqa: E402
from rclpy.exceptions import InvalidParameterValueException  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402

from dream_audio.audio_capture_node import CHUNK_QOS  # noqa: E402
from dream_audio.pcm import encode  # noqa: E402
from dream_audio.vad_node import SPEAKING_QOS, UTTERANCE_QOS  # noqa: E402
from dream_stt.stt_node import TRANSCRIPT_QOS, SttNode  # noqa: E402

NAMESPACE = f'/stt_test_{os.getpid()}'


@pytest.fixture(scope='module')
def ros():
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)  # decoding runs in a worker thread
    probe = rclpy.create_node('stt_test_probe', namespace=NAMESPACE, context=context)
    probe.transcripts, probe.previews = [], []
    probe.create_subscription(Transcript, 'speech/transcript', probe.transcripts.append,
                              TRANSCRIPT_QOS)
    probe.create_subscription(Utterance, 'audio/utterance_preview', probe.previews.append,
                              UTTERANCE_QOS)
    probe.utterances = probe.create_publisher(Utterance, 'audio/utterance', UTTERANCE_QOS)
    probe.chunks = probe.create_publisher(AudioChunk, 'audio/chunks', CHUNK_QOS)
    probe.speaking = probe.create_publisher(Bool, 'audio/speaking', SPEAKING_QOS)
    executor.add_node(probe)
    threading.Thread(target=executor.spin, daemon=True).start()
    yield executor, probe, context
    executor.shutdown()
    probe.destroy_node()
    rclpy.shutdown(context=context)


def start(ros, loaded_model=None, **parameters):
    executor, probe, context = ros
    node = SttNode(loaded_model=loaded_model, namespace=NAMESPACE, context=context,
                   parameter_overrides=[Parameter(k, value=v) for k, v in parameters.items()])
    executor.add_node(node)
    assert wait_for(lambda: probe.utterances.get_subscription_count() > 0, 10)
    probe.transcripts.clear()
    return node


def stop(ros, node):
    ros[0].remove_node(node)
    node.destroy_node()


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def utterance(samples, index, session='s-7', speech_ratio=0.8, stamp=4242):
    msg = Utterance(session_id=session, utterance_index=index, sample_rate=16000, channels=1,
                    encoding='pcm_s16le', speech_ratio=speech_ratio)
    msg.header.stamp.sec = stamp
    msg.start = msg.header.stamp
    msg.data = encode(samples, 'pcm_s16le')
    return msg


def test_transcripts_and_bad_input(ros, tiny, dream_audio, key_words):
    executor, probe, context = ros
    node = start(ros, tiny)
    try:
        bad = utterance(dream_audio, 1)
        bad.data = bad.data[:-1]  # half a sample
        noisy = np.random.default_rng(1).normal(0, 0.2, 32000).astype(np.float32)
        sent = [utterance(dream_audio, 0), bad, utterance(np.zeros(32000, np.float32), 2),
                utterance(noisy, 3, speech_ratio=0.0), utterance(np.zeros(0, np.float32), 4),
                utterance(dream_audio, 5)]
        for msg in sent:
            probe.utterances.publish(msg)
        assert wait_for(lambda: len(probe.transcripts) == len(sent))
        by_index = {t.utterance_index: t for t in probe.transcripts}
        good = by_index[0]
        assert good.status == Transcript.STATUS_OK, good.status_message
        assert key_words(good.text) >= 3 and good.is_final
        assert good.session_id == 's-7' and good.header.stamp.sec == 4242
        assert good.model == 'tiny.en' and good.language == ''   # English-only: none detected
        assert good.processing_time > 0 and good.audio_duration > 2
        assert good.segments and good.segments[0].text
        assert by_index[1].status == Transcript.STATUS_ERROR
        assert 'malformed' in by_index[1].status_message
        assert by_index[2].status == Transcript.STATUS_REJECTED_NO_SPEECH
        assert by_index[3].status == Transcript.STATUS_REJECTED_NO_SPEECH
        assert by_index[4].status == Transcript.STATUS_REJECTED_EMPTY
        assert by_index[5].status == Transcript.STATUS_OK  # still serving after all that
    finally:
        stop(ros, node)


def test_a_missing_model_gives_error_transcripts(ros, dream_audio):
    executor, probe, context = ros
    node = start(ros, model='/nonexistent/whisper-model')
    try:
        probe.utterances.publish(utterance(dream_audio[:16000], 0))
        assert wait_for(lambda: probe.transcripts)
        [t] = probe.transcripts
        assert t.status == Transcript.STATUS_ERROR and 'unavailable' in t.status_message
    finally:
        stop(ros, node)


@pytest.mark.parametrize('name, value, reason', [
    ('task', 'trasnlate', 'use transcribe or translate'),
    ('language', 'klingon', 'unknown language'),
    ('language', 'es', 'English-only'),           # the model's own check: tiny.en
])
def test_a_task_or_language_it_cannot_do_fails_the_start(ros, tiny, name, value, reason):
    with pytest.raises(InvalidParameterValueException, match=reason):
        SttNode(loaded_model=tiny, namespace=NAMESPACE, context=ros[2],
                parameter_overrides=[Parameter(name, value=value)])


@pytest.mark.parametrize('name, value, words', [
    ('device', 'gpu', 'auto, cpu, cuda'),
    ('compute_type', 'bogus', 'auto, default, int8, int8_float32, int8_float16'),
])
def test_a_device_or_compute_type_outside_its_words_fails_the_start(ros, name, value, words):
    """Once the node stayed up with 'no speech recognition' (the model could not load)."""
    with pytest.raises(InvalidParameterValueException,
                       match=f"{name} must be one of {words}.*, got '{value}'"):
        SttNode(namespace=NAMESPACE, context=ros[2],
                parameter_overrides=[Parameter(name, value=value)])


def test_a_task_or_language_it_cannot_do_is_refused_when_set(ros, tiny):
    node = SttNode(loaded_model=tiny, namespace=NAMESPACE, context=ros[2])
    try:
        for name, value, reason in [('task', 'trasnlate', 'use transcribe or translate'),
                                    ('language', 'es', 'English-only')]:
            [result] = node.set_parameters([Parameter(name, value=value)])
            assert not result.successful and reason in result.reason, result.reason
        for name, value in [('task', 'translate'), ('language', 'en'), ('language', '')]:
            assert node.set_parameters([Parameter(name, value=value)])[0].successful
        assert node.get_parameter('task').value == 'translate'
    finally:
        node.destroy_node()


def test_partial_results_while_speaking(ros, tiny, dream_audio, key_words):
    executor, probe, context = ros
    node = start(ros, tiny, partial_interval=0.5)
    try:
        probe.speaking.publish(Bool(data=True))
        time.sleep(0.2)
        for k, i in enumerate(range(0, dream_audio.size, 1600)):
            msg = AudioChunk(session_id='s-p', sample_rate=16000, channels=1,
                             encoding='pcm_s16le', sample_index=i)
            msg.header.stamp.sec = 100 + i // 16000
            msg.data = encode(dream_audio[i:i + 1600], 'pcm_s16le')
            probe.chunks.publish(msg)
        assert wait_for(lambda: any(not t.is_final for t in probe.transcripts), 60)
        partial = next(t for t in probe.transcripts if not t.is_final)
        assert partial.session_id == 's-p' and partial.header.stamp.sec == 100
        assert key_words(partial.text) >= 2, partial.text
        probe.speaking.publish(Bool(data=False))
    finally:
        stop(ros, node)


def test_the_whole_chain_from_a_file(ros, tiny, silero, dream_wav, key_words):
    """audio_capture (file) -> vad -> stt, as the machine runs them."""
    from dream_audio.audio_capture_node import AudioCaptureNode
    from dream_audio.vad_node import VadNode
    executor, probe, context = ros
    stt = start(ros, tiny)
    decodes = []
    recognize = stt._recognizer.recognize
    stt._recognizer.recognize = lambda *a, **k: decodes.append(1) or recognize(*a, **k)
    probe.previews.clear()
    vad = VadNode(detector=silero, namespace=NAMESPACE, context=context)
    executor.add_node(vad)
    capture = AudioCaptureNode(namespace=NAMESPACE, context=context, parameter_overrides=[
        Parameter('source', value='file'), Parameter('file_path', value=str(dream_wav)),
        Parameter('realtime', value=False), Parameter('session_id', value='s-chain')])
    executor.add_node(capture)
    try:
        assert wait_for(lambda: probe.transcripts)
        [t] = probe.transcripts
        assert t.status == Transcript.STATUS_OK, t.status_message
        assert key_words(t.text) >= 3, t.text
        assert t.session_id == 's-chain' and t.utterance_index == 0 and t.is_final
        assert t.header.stamp.sec > 0  # the capture time of the utterance's first sample
        # Recognised early: each preview was decoded once, the final utterance not again.
        assert probe.previews and len(decodes) == len(probe.previews)
    finally:
        for node in (capture, vad):
            executor.remove_node(node)
            node.destroy_node()
        stop(ros, stt)


def test_under_sim_time_transcripts_need_no_clock_and_keep_the_capture_stamp(
        ros, tiny, dream_audio):
    """use_sim_time with /clock paused (never published): the node still answers, stamped
    with the utterance's capture time; processing_time is a wall-clock duration."""
    executor, probe, context = ros
    node = start(ros, tiny, use_sim_time=True)
    try:
        assert node.get_clock().now().nanoseconds == 0     # sim time, and no /clock yet
        probe.utterances.publish(utterance(dream_audio, 0, stamp=1_000_000))
        assert wait_for(lambda: probe.transcripts)
        [t] = probe.transcripts
        assert t.status == Transcript.STATUS_OK and t.header.stamp.sec == 1_000_000
        assert 0 < t.processing_time < 60
    finally:
        stop(ros, node)
