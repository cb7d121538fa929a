"""Under use_sim_time the sim plotter's DrawStrokes feedback and results are stamped from
/clock, while its simulated motion stays paced by the wall clock (``time_scale``)."""
import os
import random
import threading
import time
import uuid

import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.action import ActionClient  # noqa: E402
from rclpy.action.client import GoalStatus  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402

from dream_interfaces.action import DrawStrokes  # noqa: E402
from dream_interfaces.msg import PlotFeedback, PlotResult  # noqa: E402
from dream_plotter.conformance import grid_drawing  # noqa: E402
from dream_plotter.drawing_messages import drawing_to_msg  # noqa: E402
from dream_plotter.sim_driver_node import SimDriverNode  # noqa: E402

SIM_START = 1_000_000          # seconds: far from the wall clock, so a mix-up shows
# /clock is a global topic: a domain of our own keeps other tests' clocks out.
DOMAIN = random.Random(f'{os.getpid()}-plotter-sim').randint(102, 232)
TIMEOUT = 60.0


def ns_of(stamp):
    return stamp.sec * 10**9 + stamp.nanosec


def wait_for(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def test_feedback_and_result_stamps_follow_clock_but_motion_runs_on_wall_time():
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN)
    namespace = f'/sim_plotter_{uuid.uuid4().hex[:8]}'
    # 10 strokes take about 19 s of device time: 1.3 s of wall time at time_scale 15.
    server = SimDriverNode(namespace=namespace, context=context, parameter_overrides=[
        Parameter('use_sim_time', value=True), Parameter('time_scale', value=15.0),
        Parameter('feedback_rate_hz', value=20.0)])
    client = rclpy.create_node('sim_plotter_client', namespace=namespace, context=context)
    mirrored = {'feedback': [], 'result': []}
    client.create_subscription(PlotFeedback, 'draw_strokes/feedback_mirror',
                               mirrored['feedback'].append,
                               QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE))
    client.create_subscription(PlotResult, 'draw_strokes/result_mirror',
                               mirrored['result'].append,
                               QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                                          durability=DurabilityPolicy.TRANSIENT_LOCAL))
    action = ActionClient(client, DrawStrokes, 'draw_strokes')
    clock_pub = client.create_publisher(Clock, '/clock', QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE))
    now = [SIM_START * 10**9]
    running = threading.Event()      # set: 0.1 sim-s per tick; clear: /clock stands still
    running.set()
    stop = threading.Event()

    lock = threading.Lock()

    def tick():                      # /clock at 50 Hz (wall)
        while not stop.wait(0.02):
            with lock:
                if running.is_set():
                    now[0] += 10**8
                msg = Clock()
                msg.clock.sec, msg.clock.nanosec = divmod(now[0], 10**9)
            clock_pub.publish(msg)

    def draw(session):
        feedback = []
        goal = DrawStrokes.Goal(session_id=session)
        goal.drawing = drawing_to_msg(grid_drawing(10, seed=3))
        sent = action.send_goal_async(
            goal, feedback_callback=lambda m: feedback.append(m.feedback.progress))
        assert wait_for(sent.done)
        assert sent.result().accepted
        result = sent.result().get_result_async()
        assert wait_for(result.done)
        assert result.result().status == GoalStatus.STATUS_SUCCEEDED
        outcome = result.result().result.outcome
        assert wait_for(lambda: any(r.session_id == session for r in mirrored['result']))
        assert wait_for(lambda: sum(f.session_id == session for f in mirrored['feedback'])
                        >= len(feedback))
        return outcome, feedback, [f for f in mirrored['feedback'] if f.session_id == session]

    executors = []
    for node in (server, client):    # an executor per node, as the runner spins them
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        executors.append(executor)
    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        assert wait_for(lambda: server.get_clock().now().nanoseconds >= SIM_START * 10**9)
        assert action.wait_for_server(timeout_sec=TIMEOUT)
        # /clock running: every stamp is sim time from the goal's span, in order.
        before = server.get_clock().now().nanoseconds
        outcome, feedback, mirror = draw('s-running')
        after = server.get_clock().now().nanoseconds
        assert len(feedback) >= 3 and mirror
        for stamps in ([f.header.stamp for f in feedback], [f.header.stamp for f in mirror],
                       [outcome.header.stamp]):
            assert all(before <= ns_of(s) <= after for s in stamps), (before, after, stamps)
        order = [ns_of(f.header.stamp) for f in feedback]
        assert order == sorted(order) and order[-1] > order[0]   # 1.3 s or more of ticks
        assert ns_of(outcome.header.stamp) >= order[-1]
        # /clock standing still (a paused simulation): the simulated device still moves on
        # wall time and finishes, and everything is stamped with the paused time.
        with lock:
            running.clear()
            paused = now[0]
        assert wait_for(lambda: server.get_clock().now().nanoseconds == paused, 10)
        outcome, feedback, mirror = draw('s-paused')
        assert outcome.duration > 10.0          # device seconds, none of them on /clock
        stamps = [f.header.stamp for f in feedback + mirror] + [outcome.header.stamp]
        assert {ns_of(s) for s in stamps} == {paused}
    finally:
        stop.set()
        ticker.join(timeout=5)
        for executor in executors:
            executor.shutdown(timeout_sec=5)
        server.shutdown_driver()
        server.destroy_node()
        client.destroy_node()
        rclpy.shutdown(context=context)
