"""Nodes in processes of their own, as ros2 launch starts them: SIGINT to all at once (what
launch sends on Ctrl-C) ends the live session as cancelled, and its bag holds that end."""
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from std_msgs.msg import Bool  # noqa: E402

from dream_interfaces.msg import SessionStatus  # noqa: E402


def start(module, ns, *params):
    args = [sys.executable, '-m', module, '--ros-args', '-r', f'__ns:={ns}']
    for param in params:
        args += ['-p', param]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ))


def test_sigint_to_every_node_records_the_live_session_as_cancelled(tmp_path):
    """Once, the manager's process died in the signal: its last status could not be sent
    ('publisher's context is invalid'), the bag ended 'listening' and stayed open."""
    from rosbags.rosbag2 import Reader

    from dream_session.interface_types import dream_typestore
    ns = f'/p{uuid.uuid4().hex[:8]}'
    recorder = start('dream_session.recorder_node', ns, f'output_dir:={tmp_path}')
    manager = start('dream_session.session_manager_node', ns)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(f'visitor_{uuid.uuid4().hex[:6]}', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    states = []
    latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_subscription(SessionStatus, f'{ns}/session/status',
                             lambda m: states.append(m.state), latched)
    speaking = node.create_publisher(Bool, f'{ns}/audio/speaking', 10)
    try:
        deadline = time.monotonic() + 30
        while SessionStatus.STATE_LISTENING not in states and time.monotonic() < deadline:
            speaking.publish(Bool(data=True))
            executor.spin_once(timeout_sec=0.2)
        assert SessionStatus.STATE_LISTENING in states, 'no session opened'
        while not any(tmp_path.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)           # the recorder has opened the session's bag
        time.sleep(0.5)
        for proc in (manager, recorder):
            proc.send_signal(signal.SIGINT)
        errors = [proc.communicate(timeout=20)[1] for proc in (manager, recorder)]
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        for proc in (manager, recorder):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, err in zip((manager, recorder), errors):
        assert proc.returncode == 0, err
        assert 'Traceback' not in err and 'is invalid' not in err, err
    (bag,) = list(tmp_path.iterdir())
    assert (bag / 'metadata.yaml').exists() and not (bag / 'RECORDING').exists()
    store = dream_typestore()
    with Reader(bag) as reader:
        statuses = [store.deserialize_cdr(data, conn.msgtype)
                    for conn, _, data in reader.messages()
                    if conn.topic == 'session/status']
    assert statuses[-1].state == SessionStatus.STATE_CANCELLED
    assert 'shutting down' in statuses[-1].message
