"""``dream run`` until SIGTERM or SIGINT: the live session is cancelled and its bag closed."""
import signal
import subprocess
import sys
import time

import pytest
import rclpy
import rclpy.executors
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosbags.highlevel import AnyReader
from std_msgs.msg import Bool

from dream_interfaces.msg import SessionStatus, Transcript, Utterance
from dream_session.bag_recovery import needs_recovery

CONFIG = '''
nodes:
  session_manager:
    class: dream_session.session_manager_node:SessionManagerNode
    executable: session_manager_node
    parameters: {server_wait: 5.0}
  clipdraw:
    class: dream_session.stand_in_drawing_server:StandInDrawingServer
    executable: none
    parameters: {slow_seconds: 60.0}
drivers:
  sim: {class: dream_session.stand_in_plotter:StandInPlotter, executable: none}
recorder:
  class: dream_session.recorder_node:RecorderNode
  executable: recorder_node
  parameters: {close_grace: 0.2}
'''


@pytest.fixture
def node():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('shutdown_test', context=context)
    node.executor_ = rclpy.executors.SingleThreadedExecutor(context=context)
    node.executor_.add_node(node)
    yield node
    node.destroy_node()
    rclpy.try_shutdown(context=context)


@pytest.mark.parametrize('once, sig, status', [
    (False, signal.SIGTERM, 0),     # serving visitors: a clean stop
    (True, signal.SIGINT, 1),       # one session, cut short: it ended cancelled
])
def test_a_signal_cancels_and_closes_recordings(node, tmp_path, once, sig, status):
    config = tmp_path / 'system.yaml'
    config.write_text(CONFIG)
    sessions = tmp_path / 'sessions'
    proc = subprocess.Popen([sys.executable, '-m', 'dream_session.command', 'run',
                             '--config', str(config), '--sessions-dir', str(sessions)]
                            + ['--once'] * once, stderr=subprocess.PIPE, text=True)
    try:
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        statuses = []
        node.create_subscription(SessionStatus, 'session/status', statuses.append, latched)
        speaking = node.create_publisher(Bool, 'audio/speaking', qos)
        utterance = node.create_publisher(Utterance, 'audio/utterance', qos)
        transcript = node.create_publisher(Transcript, 'speech/transcript', qos)
        deadline = time.monotonic() + 30
        # every publisher matched (a message sent before that is lost): the manager hears
        # all three, the recorder the utterance and the transcript
        while not (speaking.get_subscription_count() >= 1 and statuses
                   and utterance.get_subscription_count() >= 2
                   and transcript.get_subscription_count() >= 2):
            assert time.monotonic() < deadline and proc.poll() is None, 'runner did not start'
            node.executor_.spin_once(timeout_sec=0.05)
        speaking.publish(Bool(data=True))
        utterance.publish(Utterance())
        time.sleep(0.3)
        transcript.publish(Transcript(text='a slow dream', is_final=True))
        while not any(s.state == SessionStatus.STATE_GENERATING for s in statuses):
            assert time.monotonic() < deadline, 'never reached generating'
            node.executor_.spin_once(timeout_sec=0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert 'cancelled' in err
    bags = list(sessions.iterdir())
    assert len(bags) == 1 and not needs_recovery(bags[0])
    with AnyReader([bags[0]]) as reader:
        states = [reader.deserialize(raw, c.msgtype).state for c, _, raw in reader.messages()
                  if c.topic == 'session/status']
    assert states[-1] == SessionStatus.STATE_CANCELLED
