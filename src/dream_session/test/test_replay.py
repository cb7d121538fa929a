"""Plain replay: a recorded bag back onto its topics, with /clock from the bag's time."""
import signal
import subprocess
import sys
import time

import pytest
import rclpy
from mcap.reader import make_reader
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from dream_interfaces.msg import SessionStatus, Transcript
from dream_session.bag_writer import SessionBagWriter
from dream_session.interface_types import dream_typestore

T0 = 1_700_000_000_000_000_000


@pytest.fixture
def bag(tmp_path):
    store = dream_typestore()
    cls = store.types['dream_interfaces/msg/Transcript']
    with SessionBagWriter(tmp_path, 'replayed') as writer:
        for i in range(5):
            header = store.types['std_msgs/msg/Header'](
                stamp=store.types['builtin_interfaces/msg/Time'](sec=i, nanosec=0), frame_id='')
            msg = cls(header=header, session_id='replayed', utterance_index=i, is_final=True,
                      status=0, status_message='', text=f'dream {i}', original_text='',
                      language='en', language_probability=1.0, task=0, avg_logprob=0.0,
                      no_speech_prob=0.0, compression_ratio=1.0, segments=[], model='m',
                      audio_duration=1.0, processing_time=0.1)
            writer.write_message('speech/transcript', 'dream_interfaces/msg/Transcript',
                                 T0 + i * 200_000_000, msg)
        return writer.path


def test_bag_is_a_valid_mcap_with_summary_and_ros2_profile(bag):
    with open(next(bag.glob('*.mcap')), 'rb') as stream:
        reader = make_reader(stream, validate_crcs=True)
        header = reader.get_header()
        summary = reader.get_summary()
        count = sum(1 for _ in reader.iter_messages())
    assert header.profile == 'ros2'
    assert summary.statistics.message_count == count == 5
    schema = next(iter(summary.schemas.values()))
    assert schema.name == 'dream_interfaces/msg/Transcript' and schema.encoding == 'ros2msg'
    meta = (bag / 'metadata.yaml').read_text()
    for key in ('rosbag2_bagfile_information', 'version: 9', 'storage_identifier: mcap',
                'serialization_format: cdr', 'RIHS01_',
                'offered_qos_profiles'):
        assert key in meta, key


def test_replay_publishes_messages_in_order_with_clock(bag):
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('replay_listener', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    got, clocks = [], []
    node.create_subscription(Transcript, 'speech/transcript', got.append,
                             QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    node.create_subscription(Clock, '/clock', clocks.append, 100)
    try:
        proc = subprocess.Popen([sys.executable, '-m', 'dream_session.command', 'replay',
                                 str(bag), '--clock', '--rate', '4'],
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while proc.poll() is None or len(got) < 5:
            executor.spin_once(timeout_sec=0.05)
            if time.monotonic() > deadline:
                break
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    assert [m.utterance_index for m in got] == [0, 1, 2, 3, 4]
    assert got[2].text == 'dream 2' and got[2].header.stamp.sec == 2
    stamps = [c.clock.sec * 10**9 + c.clock.nanosec for c in clocks]
    assert stamps and stamps == sorted(stamps)
    assert T0 <= stamps[0] and stamps[-1] <= T0 + 4 * 200_000_000


def test_topics_match_with_or_without_slash_and_unknown_ones_are_named(bag):
    from dream_session.bag_replay import read_first, read_messages
    assert len(read_messages(bag, ['/speech/transcript'])) == 5
    assert len(read_messages(bag, ['speech/transcript'])) == 5
    with pytest.raises(ValueError, match='no topic nosuch; its topics: speech/transcript'):
        read_messages(bag, ['nosuch'])     # once, this played the whole bag
    assert read_first(bag, 'drawing') is None
    assert read_first(bag, '/speech/transcript').text == 'dream 0'


def _replay(*args):
    return subprocess.run([sys.executable, '-m', 'dream_session.command', 'replay', *args],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize('options, named', [
    (['--set', 'vad.min_silence=2'], '--set'),
    (['--timeout', '5', '--no-record'], '--no-record, --timeout'),
    (['--driver', 'grbl', '--sessions-dir', 'x'], '--driver, --sessions-dir'),
])
def test_system_options_without_from_stage_are_a_usage_error(bag, options, named):
    """Plain replay starts no nodes: once, these were accepted and ignored."""
    proc = _replay(str(bag), *options)
    assert proc.returncode == 2, proc.stderr
    assert f'error: {named}: only with --from-stage' in proc.stderr
    assert 'published' not in proc.stderr


@pytest.mark.parametrize('stage, why', [
    (['--from-stage', 'clipdraw'], 'a re-run (--from-stage) runs live, in wall time'),
    ([], 'plain replay starts no nodes; --clock publishes'),
])
def test_sim_time_is_refused_and_why(bag, stage, why):
    """Nothing publishes /clock in a re-run: under sim time its stamps were all 0 and its
    stage timeouts never fired."""
    proc = _replay(str(bag), *stage, '--use-sim-time')
    assert proc.returncode == 2, proc.stderr
    assert f'error: --use-sim-time: {why}' in proc.stderr
    assert '--use-sim-time' not in _replay('--help').stdout


def test_overrides_for_nodes_the_rerun_does_not_start_are_named(bag):
    proc = _replay(str(bag), '--from-stage', 'plot', '--set', 'sim.time_scale=0',
                   '--set', 'clipdraw.step_graph=on', '--set', 'vad.min_silence=2')
    assert proc.returncode == 2, proc.stderr
    assert ('--set clipdraw.step_graph=on, vad.min_silence=2: the re-run from stage plot '
            'does not start clipdraw, vad') in proc.stderr


def test_help_tells_which_options_go_with_from_stage():
    proc = _replay('--help')
    assert proc.returncode == 0
    assert '--once' not in proc.stdout                  # replay has no --once
    assert 're-run (only with --from-stage)' in proc.stdout
    assert 'plain replay (without --from-stage)' in proc.stdout


# --- re-runs -----------------------------------------------------------------------------------
def _node(cls, **parameters):
    return {'class': cls, 'executable': cls.split(':')[0].split('.')[-1],
            'parameters': parameters}


# The re-run's stages stood in for, the recorder for real.
RERUN_SYSTEM = {
    'recorder': _node('dream_session.recorder_node:RecorderNode'),
    'nodes': {
        'stt': _node('dream_stt.stt_node:SttNode', model='tiny.en', device='cpu'),
        'session_manager': _node('dream_session.session_manager_node:SessionManagerNode',
                                 server_wait=5.0),
        'clipdraw': _node('dream_session.stand_in_drawing_server:StandInDrawingServer',
                          slow_seconds=60.0),
    },
    'drivers': {'sim': _node('dream_session.stand_in_plotter:StandInPlotter')},
}


def _session_bag(root, texts):
    """A recorded session asked to repeat: one utterance and one final transcript per
    attempt, ``texts`` [(text, status)], then its last status (failed unless one was OK)."""
    from rclpy.serialization import serialize_message

    from dream_interfaces.msg import Utterance
    types = {'audio/utterance': 'dream_interfaces/msg/Utterance',
             'speech/transcript': 'dream_interfaces/msg/Transcript',
             'session/status': 'dream_interfaces/msg/SessionStatus'}
    with SessionBagWriter(root, 'asked') as writer:
        for topic, msgtype in types.items():
            writer.add_topic(topic, msgtype)
        t = T0
        for index, (text, status) in enumerate(texts):
            utterance = Utterance(session_id='asked', utterance_index=index, sample_rate=16000,
                                  channels=1, encoding='pcm_s16le', speech_ratio=0.9,
                                  data=bytes(2 * 16000))      # one second of silence
            transcript = Transcript(session_id='asked', utterance_index=index, is_final=True,
                                    status=status, text=text, original_text=text)
            for topic, msg in (('audio/utterance', utterance), ('speech/transcript',
                                                                transcript)):
                t += 100_000_000
                writer.write(topic, t, serialize_message(msg))
        accepted = any(status == Transcript.STATUS_OK for _, status in texts)
        last = SessionStatus(session_id='asked', state=SessionStatus.STATE_DONE if accepted
                             else SessionStatus.STATE_FAILED,
                             previous_state=SessionStatus.STATE_TRANSCRIBING,
                             message='done' if accepted else 'speech rejected again: noise')
        writer.write('session/status', t + 100_000_000, serialize_message(last))
        return writer.path


def _rerun(tmp_path, bag, stage, *extra, timeout='60'):
    import yaml
    config = tmp_path / 'system.yaml'
    config.write_text(yaml.safe_dump(RERUN_SYSTEM))
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, '-m', 'dream_session.command', 'replay', str(bag), '--from-stage',
         stage, '--config', str(config), '--sessions-dir', str(tmp_path / 'reruns'),
         '--timeout', timeout, *extra], capture_output=True, text=True, timeout=200)
    new_bags = sorted((tmp_path / 'reruns').glob('*'))
    return proc, time.monotonic() - started, new_bags


def _bag_messages(path):
    from rclpy.serialization import deserialize_message

    from dream_session.bag_replay import message_class, read_messages
    found = {}
    for _, topic, msgtype, raw in read_messages(path):
        found.setdefault(topic, []).append(deserialize_message(raw, message_class(msgtype)))
    return found


REJECTED = Transcript.STATUS_REJECTED_NO_SPEECH


def test_a_rerun_starts_from_the_accepted_attempt_as_a_session_of_its_own(tmp_path):
    """Once, the first (rejected) attempt was re-run: rejected again, the re-run then
    waited for its listening timeout. The injected messages once carried no session id."""
    bag = _session_bag(tmp_path / 'old', [('you', REJECTED),
                                          ('a whale over the city', Transcript.STATUS_OK)])
    proc, _, new_bags = _rerun(tmp_path, bag, 'clipdraw')
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(new_bags) == 1
    found = _bag_messages(new_bags[0])
    sid = found['session/status'][0].session_id
    assert sid and sid != 'asked'
    assert [(t.text, t.session_id, t.utterance_index) for t in found['speech/transcript']] \
        == [('a whale over the city', sid, 0)]
    assert [(u.session_id, u.utterance_index) for u in found['audio/utterance']] == [(sid, 0)]
    assert f're-run of {bag} from stage clipdraw' in [s.message for s in
                                                      found['session/status']]
    assert found['session/status'][-1].state == SessionStatus.STATE_DONE
    assert found['drawing'][0].prompt == 'a whale over the city'


def test_without_an_accepted_transcript_clipdraw_has_nothing_to_draw(tmp_path):
    bag = _session_bag(tmp_path / 'old', [('you', REJECTED), ('bye', REJECTED)])
    proc = _replay(str(bag), '--from-stage', 'clipdraw')
    assert proc.returncode == 1, proc.stderr
    assert (f'no accepted transcript in {bag}: the session ended failed in transcribing '
            '(speech rejected again: noise)') in proc.stderr


def test_a_rerun_rejected_again_fails_once_its_input_is_used(tmp_path):
    """From stt without an accepted transcript, the last utterance is re-transcribed; silent,
    it is rejected again, and the session fails then (once: 90 s of listening)."""
    bag = _session_bag(tmp_path / 'old', [('you', REJECTED), ('bye', REJECTED)])
    proc, seconds, new_bags = _rerun(tmp_path, bag, 'stt', '--set', 'session_manager.'
                                     'listening_timeout=80', timeout='70')
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "the re-run's recorded input was used before a repeat was heard" in proc.stderr
    assert seconds < 50
    found = _bag_messages(new_bags[0])
    assert [u.utterance_index for u in found['audio/utterance']] == [0]
    assert found['speech/transcript'][0].status == REJECTED


def test_a_rerun_cut_short_by_its_timeout_is_a_cancelled_session(tmp_path):
    """Exit 1 as dream run --once (once: 2, 'the re-run did not finish')."""
    bag = _session_bag(tmp_path / 'old', [('a slow whale', Transcript.STATUS_OK)])
    proc, _, _ = _rerun(tmp_path, bag, 'clipdraw', timeout='4')
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert ': cancelled' in proc.stderr and 'did not finish' not in proc.stderr


@pytest.mark.parametrize('signum, status', [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_plain_replay_at_once(bag, signum, status):
    """Once, rclpy's handlers left playback asleep until its next message (20 s here), then
    'Failed to publish: publisher's context is invalid', exit 1."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('replay_listener', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    got = []
    node.create_subscription(Transcript, 'speech/transcript', got.append,
                             QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
    try:
        proc = subprocess.Popen([sys.executable, '-m', 'dream_session.command', 'replay',
                                 str(bag), '--rate', '0.01'], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:     # playing, the next one 20 s away
            executor.spin_once(timeout_sec=0.05)
        assert got, 'nothing was replayed'
        time.sleep(1)
        sent = time.monotonic()
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == status, proc.stderr.read()
        assert time.monotonic() - sent < 3
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    err = proc.stderr.read()
    assert 'dream replay: interrupted' in err and 'error' not in err


def _injecting_runner(listeners):
    """A runner with a node that subscribes to the injected topics (or not) and opens no
    session: a re-run's injection left waiting."""
    from std_msgs.msg import Bool

    from dream_interfaces.msg import Utterance
    from dream_session.runner import SingleProcessRunner
    runner = SingleProcessRunner([]).start()
    if listeners:
        node = rclpy.create_node('listener', context=runner.context)
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        node.create_subscription(Bool, 'audio/speaking', lambda m: None, qos)
        node.create_subscription(Utterance, 'audio/utterance', lambda m: None, qos)
        runner.add_node(node)
    return runner, {'audio/utterance': Utterance()}


def test_a_signal_while_a_rerun_injects_its_input_stops_it_at_once():
    """Once, rclpy's handlers took a Ctrl-C between the runner's start and its wait: the
    re-run went on to the end as if nothing had been pressed (exit 0)."""
    import os
    import threading

    from dream_session.replay_verb import ReplayVerb
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    runner, recorded = _injecting_runner(listeners=False)
    try:
        runner.catch_signals()
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        started = time.monotonic()
        why = ReplayVerb._inject(runner, recorded, 'stt', origin='x')
        assert why == 'interrupted' and runner.interrupted
        assert time.monotonic() - started < 3
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
        runner.stop()


def test_a_rerun_whose_session_never_opens_says_so(monkeypatch):
    """Once, its input was injected with an empty session id after 10 s."""
    from dream_session import replay_verb
    monkeypatch.setattr(replay_verb, 'SESSION_OPEN_WAIT', 0.5)
    runner, recorded = _injecting_runner(listeners=True)
    try:
        why = replay_verb.ReplayVerb._inject(runner, recorded, 'stt', origin='x')
    finally:
        runner.stop()
    assert why == 'the session manager opened no session within 0.5 s of speech starting'
