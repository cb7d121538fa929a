"""A node's process winds down on SIGINT/SIGTERM while its graph still works, then exits."""
import signal
import subprocess
import sys
import time
import uuid

import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from dream_runtime.node_process import GRACE  # noqa: E402

NODE = '''
import sys
import time

from rclpy.node import Node
from std_msgs.msg import String

from dream_runtime.node_process import run_node


class Winding(Node):
    """Publishes while it winds down: a goal answered, a last status sent."""

    def __init__(self):
        super().__init__('winding_' + sys.argv[1])
        self.pub = self.create_publisher(String, sys.argv[1], 10)
        print('ready', flush=True)

    def wind_down(self):
        if sys.argv[2] == 'never':
            return lambda: False
        done_at = time.monotonic() + 0.5
        self.create_timer(0.1, lambda: self.pub.publish(String(data='still here')))
        return lambda: time.monotonic() >= done_at


sys.exit(run_node(Winding, finish=lambda node: print('finished', flush=True)))
'''


@pytest.fixture
def listener():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(f'listener_{uuid.uuid4().hex[:6]}', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    yield node, executor
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def start(mode):
    topic = f'winding_{uuid.uuid4().hex[:8]}'
    proc = subprocess.Popen([sys.executable, '-c', NODE, topic, mode], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().strip() == 'ready', proc.stderr.read()
    return proc, topic


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_a_signal_lets_the_node_wind_down_with_its_graph_working(listener, signum):
    """Once, rclpy's handlers shut the context down in the signal: a goal being executed
    could not answer (RCLError tracebacks) and its session waited for ever."""
    node, executor = listener
    proc, topic = start('half a second')
    got = []
    node.create_subscription(String, topic, got.append, 10)
    deadline = time.monotonic() + 10
    while node.count_publishers(topic) == 0 and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    proc.send_signal(signum)
    while proc.poll() is None and time.monotonic() < deadline + 10:
        executor.spin_once(timeout_sec=0.05)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert got, 'nothing published after the signal'
    assert 'finished' in out
    assert 'Traceback' not in err and 'context is invalid' not in err, err


def test_a_second_signal_ends_a_wind_down_that_does_not_finish():
    proc, _ = start('never')
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=GRACE + 10)
    assert time.monotonic() - started < GRACE, 'the second signal did not end it'
    assert proc.returncode == 0 and 'finished' in out, err
    assert 'Traceback' not in err, err
