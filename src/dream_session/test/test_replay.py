"""Plain replay: a recorded bag back onto its topics, with /clock from the bag's time."""
import subprocess
import sys
import time

import pytest
import rclpy
from mcap.reader import make_reader
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from dream_interfaces.msg import Transcript
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
    (['--driver', 'grbl', '--use-sim-time'], '--driver, --use-sim-time'),
])
def test_system_options_without_from_stage_are_a_usage_error(bag, options, named):
    """Plain replay starts no nodes: once, these were accepted and ignored."""
    proc = _replay(str(bag), *options)
    assert proc.returncode == 2, proc.stderr
    assert f'error: {named}: only with --from-stage' in proc.stderr
    assert 'published' not in proc.stderr


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
