"""Under use_sim_time the clipdraw node stamps feedback, results, drawings, previews and
markers with the time from /clock, not the wall clock."""
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
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402

from dream_interfaces.action import GenerateDrawing  # noqa: E402

from dream_clipdraw.clipdraw_node import ClipDrawNode  # noqa: E402
from dream_clipdraw.tiny_clip import shared_tiny_clip  # noqa: E402

SIM_START = 1_000_000          # seconds: far from the wall clock, so a mix-up shows
# /clock is a global topic: a domain of our own keeps other tests' clocks out.
DOMAIN = random.Random(f'{os.getpid()}-clipdraw-sim').randint(102, 232)
TIMEOUT = 60.0


def ns_of(stamp):
    return stamp.sec * 10**9 + stamp.nanosec


def wait_for(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def test_stamps_follow_the_simulated_clock(one_torch_thread, hear_outputs):
    tiny = shared_tiny_clip()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN)
    namespace = f'/sim_clipdraw_{uuid.uuid4().hex[:8]}'
    server = ClipDrawNode(namespace=namespace, context=context, parameter_overrides=[
        Parameter('use_sim_time', value=True),
        Parameter('clip_model_config', value=tiny.config),
        Parameter('clip_pretrained', value=tiny.weights),
        Parameter('canvas_size', value=32), Parameter('num_strokes', value=4),
        Parameter('iterations', value=6), Parameter('preview_every', value=2)])
    client = rclpy.create_node('sim_clipdraw_client', namespace=namespace, context=context)
    heard = hear_outputs(client)
    action = ActionClient(client, GenerateDrawing, 'generate_drawing')
    clock_pub = client.create_publisher(Clock, '/clock', QoSProfile(
        depth=10, reliability=ReliabilityPolicy.RELIABLE))
    now = [SIM_START * 10**9]
    stop = threading.Event()

    def tick():                     # /clock at 50 Hz (wall), 0.1 sim-s a tick
        while not stop.wait(0.02):
            now[0] += 10**8
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = divmod(now[0], 10**9)
            clock_pub.publish(msg)

    executors = []
    for node in (server, client):       # an executor per node, as the runner spins them
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        executors.append(executor)
    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        assert wait_for(lambda: server.get_clock().now().nanoseconds >= SIM_START * 10**9)
        assert action.wait_for_server(timeout_sec=TIMEOUT)
        before = server.get_clock().now().nanoseconds
        feedback = []
        goal = GenerateDrawing.Goal(session_id='s-sim', prompt='a clock in the clouds')
        sent = action.send_goal_async(
            goal, feedback_callback=lambda m: feedback.append(m.feedback.progress))
        assert wait_for(sent.done)
        handle = sent.result()
        assert handle.accepted
        result = handle.get_result_async()
        assert wait_for(result.done)
        after = server.get_clock().now().nanoseconds
        assert result.result().status == GoalStatus.STATUS_SUCCEEDED
        outcome = result.result().result.outcome
        assert wait_for(lambda: heard['result'] and heard['drawing'] and heard['markers']
                        and len(heard['preview']) >= 3 and len(heard['feedback']) >= 6)
    finally:
        stop.set()
        ticker.join(timeout=5)
        for executor in executors:
            executor.shutdown(timeout_sec=5)
        server.destroy_node()
        client.destroy_node()
        rclpy.shutdown(context=context)
    stamps = {
        'action feedback': [f.header.stamp for f in feedback],
        'feedback mirror': [f.header.stamp for f in heard['feedback']],
        'action result': [outcome.header.stamp],
        'result mirror': [r.header.stamp for r in heard['result']],
        'result drawing': [outcome.drawing.header.stamp],
        'drawing': [d.header.stamp for d in heard['drawing']],
        'preview': [p.header.stamp for p in heard['preview']],
        'markers': [m.header.stamp for m in heard['markers'][-1].markers],
    }
    for what, values in stamps.items():
        assert values, what
        assert all(before <= ns_of(s) <= after for s in values), (what, before, after, values)
    # Taken from the clock as the goal went: in order, the result last.
    order = [ns_of(s) for s in stamps['action feedback']]
    assert order == sorted(order)
    assert ns_of(outcome.header.stamp) >= ns_of(outcome.drawing.header.stamp) >= order[-1]
