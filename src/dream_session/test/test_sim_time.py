"""Under use_sim_time the session manager and recorder follow /clock, not the wall clock."""
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosbags.highlevel import AnyReader
from rosgraph_msgs.msg import Clock

from dream_interfaces.msg import SessionStatus
from dream_session.recorder_node import RecorderNode
from dream_session.runner import SingleProcessRunner


def _sibling(name):
    """A sibling test module (pytest's importlib mode does not put this folder on sys.path)."""
    import importlib.util
    import pathlib
    spec = importlib.util.spec_from_file_location(
        name, pathlib.Path(__file__).with_name(f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_graph = _sibling('test_session_graph')
Visitor, specs = _graph.Visitor, _graph.specs

SIM_START = 1_000_000  # seconds: far from the wall clock, so a mix-up shows


def test_timeouts_and_stamps_follow_the_simulated_clock(tmp_path):
    runner = SingleProcessRunner(specs(tmp_path, generating_timeout=30.0),
                                 use_sim_time=True).start()
    try:
        node = rclpy.create_node('sim_clock', context=runner.context)
        runner.add_node(node)
        clock = node.create_publisher(Clock, '/clock', QoSProfile(
            depth=10, reliability=ReliabilityPolicy.RELIABLE))
        now = [SIM_START * 10**9]

        def tick(step_s=0.0):
            now[0] += int(step_s * 1e9)
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = divmod(now[0], 10**9)
            clock.publish(msg)
        for _ in range(20):
            tick()
            time.sleep(0.05)
        visitor = Visitor(runner)
        visitor.tell('a slow dream')                  # the stand-in takes 5 wall seconds...
        manager = runner.nodes['session_manager']
        started = time.monotonic()
        while not manager.finished and time.monotonic() - started < 20:
            tick(1.0)                                 # ...but 30 sim-seconds pass sooner
            time.sleep(0.05)
        assert manager.finished, 'the simulated timeout never fired'
        session = manager.finished[0]
        assert session.error_code == SessionStatus.ERROR_TIMEOUT
        assert time.monotonic() - started < 5.0       # well before any wall-clock timeout
        stamps = [s.header.stamp.sec for s in visitor.statuses if s.session_id]
        assert stamps and all(SIM_START <= t < SIM_START + 3600 for t in stamps)
        recorder = runner.nodes['recorder']
        deadline = time.monotonic() + 10             # the close grace (wall time) passes
        while not recorder.closed_bags and time.monotonic() < deadline:
            tick(0.5)
            time.sleep(0.05)
        assert recorder.closed_bags
    finally:
        runner.stop(grace=2.0)
    with AnyReader([recorder.closed_bags[0]]) as reader:
        times = [t for _, t, _ in reader.messages()]
    assert times and all(SIM_START * 10**9 <= t < (SIM_START + 3600) * 10**9 for t in times)


def test_a_finished_session_closes_its_bag_on_wall_time_without_a_clock(tmp_path):
    """/clock stops when a simulation does: the close grace must still run out."""
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    grace = 0.5
    recorder = RecorderNode(context=context, parameter_overrides=[
        Parameter('use_sim_time', value=True), Parameter('output_dir', value=str(tmp_path)),
        Parameter('close_grace', value=grace)])
    node = rclpy.create_node('sim_status', context=context)
    executor.add_node(recorder)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        status = node.create_publisher(SessionStatus, 'session/status', QoSProfile(
            depth=10, reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL))
        status.publish(SessionStatus(session_id='s', state=SessionStatus.STATE_LISTENING))
        deadline = time.monotonic() + 10
        while not recorder._bags and time.monotonic() < deadline:
            time.sleep(0.02)
        assert recorder._bags, 'the recorder never opened the session'
        status.publish(SessionStatus(session_id='s', state=SessionStatus.STATE_DONE))
        done = time.monotonic()
        while not recorder.closed_bags and time.monotonic() - done < grace + 5:
            time.sleep(0.02)
        assert recorder.closed_bags, 'the bag stayed open with no /clock'
        assert time.monotonic() - done < grace + 1.0
    finally:
        executor.shutdown()
        recorder.destroy_node()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
