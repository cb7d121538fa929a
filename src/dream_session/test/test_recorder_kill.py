"""A recorder killed mid-session leaves a bag that recovers, missing at most the last second."""
import os
import signal
import subprocess
import sys
import time

import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosbags.highlevel import AnyReader

from dream_interfaces.msg import SessionStatus, Transcript
from dream_session.bag_recovery import needs_recovery, recover_bag

FLUSH = 0.5                # the default
ALLOWED_LOSS = 1.0         # "at most the last second": flush interval + 0.1 s timer + delivery


@pytest.fixture
def node():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('kill_test', context=context)
    yield node
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def test_sigkill_mid_session(node, tmp_path):
    recorder = subprocess.Popen(
        [sys.executable, '-m', 'dream_session.recorder_node', '--ros-args',
         '-p', f'output_dir:={tmp_path}', '-p', f'flush_interval:={FLUSH}'],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        status = node.create_publisher(SessionStatus, 'session/status', latched)
        speech = node.create_publisher(
            Transcript, 'speech/transcript',
            QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE))
        deadline = time.monotonic() + 20
        while speech.get_subscription_count() == 0 or status.get_subscription_count() == 0:
            assert time.monotonic() < deadline, 'recorder never subscribed'
            time.sleep(0.05)
        status.publish(SessionStatus(session_id='kill-me', state=SessionStatus.STATE_LISTENING))
        time.sleep(0.5)
        sent = []
        start = time.monotonic()
        while time.monotonic() - start < 4.0:
            speech.publish(Transcript(session_id='kill-me', utterance_index=len(sent),
                                      text=f'part {len(sent)}'))
            sent.append(time.monotonic())
            time.sleep(0.05)
        killed_at = time.monotonic()
        recorder.send_signal(signal.SIGKILL)
        recorder.wait(timeout=10)
    finally:
        if recorder.poll() is None:
            recorder.kill()
    bags = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(bags) == 1
    assert needs_recovery(bags[0])
    recover_bag(bags[0])
    with AnyReader([bags[0]]) as reader:
        got = [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages()
               if c.topic == 'speech/transcript']
    indices = [m.utterance_index for m in got]
    assert indices == list(range(len(indices))), 'messages out of order or duplicated'
    must_have = sum(1 for t in sent if killed_at - t > ALLOWED_LOSS)
    assert must_have > 20
    assert len(indices) >= must_have, (len(indices), must_have, len(sent))
    assert os.path.exists(next(bags[0].glob('*.mcap.partial')))
