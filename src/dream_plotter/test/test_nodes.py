"""ROS nodes: the conformance kit against the sim node (another process) and a broken
driver, and the lifecycle of the GRBL and AxiDraw nodes against their simulators."""
import math
import os
import random
import subprocess
import sys
import threading
import time
import uuid

import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.action import ActionClient, ActionServer, CancelResponse  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from dream_interfaces.action import DrawStrokes  # noqa: E402
from dream_interfaces.msg import PlotResult  # noqa: E402
from dream_plotter.conformance import ConformanceKit, grid_drawing  # noqa: E402
from dream_plotter.drawing_messages import drawing_to_msg  # noqa: E402
from dream_plotter.ebb_simulator import EbbSimulator  # noqa: E402
from dream_plotter.grbl_simulator import GrblSimulator  # noqa: E402
from dream_plotter.offloaded_execution import offloaded  # noqa: E402

DOMAIN = random.Random(os.getpid()).randint(20, 99)


@pytest.fixture(scope='module')
def ros():
    """An rclpy context of our own (other packages' tests may run in this process)."""
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN)
    executor = SingleThreadedExecutor(context=context)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield context, executor
    executor.shutdown(timeout_sec=5)
    rclpy.shutdown(context=context)


def namespace():
    return f'/t{uuid.uuid4().hex[:8]}'


def send(client, goal, timeout=60.0):
    """Send a goal and wait; returns (status, outcome, feedback list)."""
    feedback, done, box = [], threading.Event(), {}

    def on_goal(future):
        handle = future.result()
        box['handle'] = handle
        if not handle.accepted:
            done.set()
            return
        handle.get_result_async().add_done_callback(
            lambda f: (box.update(status=f.result().status, outcome=f.result().result.outcome),
                       done.set()))

    client.send_goal_async(goal, feedback_callback=lambda m: feedback.append(
        m.feedback.progress)).add_done_callback(on_goal)
    assert done.wait(timeout), 'no result'
    return box.get('status'), box.get('outcome'), feedback


def goal_for(n, session='s', start=0, seed=0):
    goal = DrawStrokes.Goal(session_id=session, start_stroke=start)
    goal.drawing = drawing_to_msg(grid_drawing(n, seed=seed))
    return goal


# --- the sim node and the conformance kit --------------------------------------------------

def sim_process(ns, output_dir, time_scale):
    """The sim node as ros2 launch starts it: a process of its own, on our domain."""
    return subprocess.Popen(
        [sys.executable, '-m', 'dream_plotter.sim_driver_node', '--ros-args', '-r',
         f'__ns:={ns}', '-p', f'time_scale:={time_scale}', '-p', f'output_dir:={output_dir}'],
        env=dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN)), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)


def test_sim_node_in_another_process_passes_the_conformance_kit(ros, tmp_path):
    context, _ = ros
    ns = namespace()
    proc = sim_process(ns, tmp_path, 25.0)
    checks = []
    try:
        node = rclpy.create_node(f'kit_{uuid.uuid4().hex[:6]}', context=context)
        checks = ConformanceKit(f'{ns}/draw_strokes', node=node, timeout=60.0,
                                long_strokes=300).run()
        node.destroy_node()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    report = '\n'.join(c.line() for c in checks) + '\nnode stderr:\n' + err[-3000:]
    assert checks and all(c.passed is True for c in checks), report
    assert proc.returncode in (0, -15), report
    assert {p.suffix for p in tmp_path.iterdir()} == {'.png', '.svg'}


def test_sim_node_stopped_by_a_signal_mid_plot_answers_its_goal_with_the_pen_up(ros, tmp_path):
    """Once, SIGINT shut the context down under the running goal: an RCLError traceback, no
    answer, and the session waited for ever for its plot."""
    import signal
    context, executor = ros
    ns = namespace()
    proc = sim_process(ns, tmp_path, 1.0)
    node = rclpy.create_node(f'stopper_{uuid.uuid4().hex[:6]}', context=context)
    executor.add_node(node)
    try:
        client = ActionClient(node, DrawStrokes, f'{ns}/draw_strokes')
        assert client.wait_for_server(timeout_sec=20)
        box = {}
        worker = threading.Thread(target=lambda: box.update(r=send(client, goal_for(40))))
        worker.start()
        time.sleep(2.0)                   # plotting (about 25 s of simulated plot)
        proc.send_signal(signal.SIGINT)
        worker.join(30)
        status, outcome, _ = box['r']
    finally:
        executor.remove_node(node)
        node.destroy_node()
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=30)
    assert outcome.error_code == PlotResult.ERROR_CANCELLED, outcome.message
    assert outcome.message == 'stopped: the sim_plotter node is shutting down', outcome.message
    assert outcome.next_stroke < 40
    assert proc.returncode == 0 and 'Traceback' not in err and 'is invalid' not in err, err


class BrokenDriver:
    """Accepts everything, ignores cancels and NaN, reports the pen down, mirrors nothing."""

    def __init__(self, node, name):
        self.server = ActionServer(node, DrawStrokes, name, offloaded(node, self.execute),
                                   cancel_callback=lambda h: CancelResponse.REJECT)

    def execute(self, handle):
        n = len(handle.request.drawing.strokes)
        for i in range(n):
            fb = DrawStrokes.Feedback()
            fb.progress.session_id = handle.request.session_id
            fb.progress.strokes_done, fb.progress.strokes_total = i, n
            fb.progress.pen_down = True
            handle.publish_feedback(fb)
            time.sleep(0.01)
        handle.succeed()
        result = DrawStrokes.Result()
        result.outcome.session_id = handle.request.session_id
        result.outcome.strokes_done = result.outcome.next_stroke = n
        return result


def test_the_conformance_kit_fails_a_broken_driver(ros):
    context, executor = ros
    ns = namespace()
    server_node = rclpy.create_node('broken', namespace=ns, context=context)
    BrokenDriver(server_node, 'draw_strokes')
    executor.add_node(server_node)
    kit_node = rclpy.create_node(f'kit_{uuid.uuid4().hex[:6]}', context=context)
    try:
        checks = ConformanceKit(f'{ns}/draw_strokes', node=kit_node, timeout=30.0,
                                long_strokes=150).run()
    finally:
        executor.remove_node(server_node)
        server_node.destroy_node()
        kit_node.destroy_node()
    failed = {c.name for c in checks if c.passed is False}
    assert {'completes_valid_goal', 'mirrors_feedback_and_result', 'rejects_empty_drawing',
            'rejects_nan_drawing', 'rejects_start_past_the_end', 'rejects_out_of_bounds',
            'dry_run_moves_nothing', 'cancel_ends_pen_up', 'resume_from_start_stroke'} <= failed


class SilentServer:
    """Accepts goals and never answers them (until cancelled, or a minute has passed)."""

    def __init__(self, node, name):
        self.cancel_requests = 0
        self.server = ActionServer(node, DrawStrokes, name, offloaded(node, self.execute),
                                   cancel_callback=self.on_cancel)

    def on_cancel(self, handle):
        self.cancel_requests += 1
        return CancelResponse.ACCEPT

    def execute(self, handle):
        deadline = time.monotonic() + 60
        while not handle.is_cancel_requested and time.monotonic() < deadline:
            time.sleep(0.05)
        if handle.is_cancel_requested:
            handle.canceled()
        else:
            handle.abort()
        return DrawStrokes.Result()


class SparseFeedbackServer(SilentServer):
    """Publishes feedback only when a (slow) stroke ends: 3.5 s apart."""

    def execute(self, handle):
        for i in range(10):
            fb = DrawStrokes.Feedback()
            fb.progress.session_id = handle.request.session_id
            fb.progress.strokes_done = i
            handle.publish_feedback(fb)
            deadline = time.monotonic() + 3.5
            while not handle.is_cancel_requested and time.monotonic() < deadline:
                time.sleep(0.05)
            if handle.is_cancel_requested:
                handle.canceled()
                return DrawStrokes.Result()
        handle.succeed()
        return DrawStrokes.Result()


def test_the_conformance_kit_fails_feedback_that_stops_for_seconds(ros):
    context, executor = ros
    ns = namespace()
    server_node = rclpy.create_node('sparse', namespace=ns, context=context)
    SparseFeedbackServer(server_node, 'draw_strokes')
    executor.add_node(server_node)
    kit_node = rclpy.create_node(f'kit_{uuid.uuid4().hex[:6]}', context=context)
    try:
        checks = ConformanceKit(f'{ns}/draw_strokes', node=kit_node, timeout=30.0).run(
            only={'steady_feedback'})
    finally:
        executor.remove_node(server_node)
        server_node.destroy_node()
        kit_node.destroy_node()
    steady = {c.name: c for c in checks}['steady_feedback']
    assert steady.passed is False and 'longest silence 3.' in steady.detail, steady.line()


def test_the_conformance_kit_refuses_a_name_two_servers_answer(ros):
    context, executor = ros
    ns = namespace()
    nodes = [rclpy.create_node(name, namespace=ns, context=context) for name in ('one', 'two')]
    for node in nodes:
        SilentServer(node, 'draw_strokes')
        executor.add_node(node)
    kit_node = rclpy.create_node(f'kit_{uuid.uuid4().hex[:6]}', context=context)
    try:
        checks = ConformanceKit(f'{ns}/draw_strokes', node=kit_node, timeout=30.0).run()
    finally:
        for node in nodes:
            executor.remove_node(node)
            node.destroy_node()
        kit_node.destroy_node()
    assert [c.name for c in checks] == ['server_available'] and checks[0].passed is False
    assert f'{ns}/one' in checks[0].detail and f'{ns}/two' in checks[0].detail


@pytest.mark.parametrize('signame,code', [('SIGTERM', 143), ('SIGINT', 130)])
def test_an_interrupt_ends_the_conformance_kit_promptly(ros, signame, code):
    import signal
    context, executor = ros
    ns = namespace()
    server_node = rclpy.create_node('silent', namespace=ns, context=context)
    server = SilentServer(server_node, 'draw_strokes')
    executor.add_node(server_node)
    script = ('import argparse, sys; from dream_plotter.plot_verb import PlotVerb; '
              'p = argparse.ArgumentParser(); v = PlotVerb(); v.add_arguments(p); '
              'sys.exit(v.main(p.parse_args(sys.argv[1:])))')
    env = dict(os.environ, ROS_DOMAIN_ID=str(DOMAIN))
    proc = subprocess.Popen([sys.executable, '-c', script, '--conformance',
                             f'{ns}/draw_strokes'], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not server.server._goal_handles and time.monotonic() < deadline:
            time.sleep(0.05)                  # the kit waits on its first goal's result
        assert server.server._goal_handles, 'the kit sent no goal'
        proc.send_signal(getattr(signal, signame))
        sent = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        proc.kill()
        executor.remove_node(server_node)
        server_node.destroy_node()
    assert proc.returncode == code, err[-3000:]
    assert took < 10, f'{took:.1f} s after the signal'
    assert 'conformance check interrupted' in err and 'Traceback' not in err, err[-3000:]
    assert server.cancel_requests == 1                  # the goal it left running was cancelled


# --- lifecycle hardware nodes ----------------------------------------------------------------

@pytest.fixture
def lifecycle_rig(ros):
    """make(node class, simulator) -> (node, client); torn down afterwards.

    Each rig spins on an executor of its own, shut down before anything is destroyed: an
    action client destroyed while a shared executor still iterates it kills that executor.
    """
    context, _ = ros
    made = []

    def make(node_cls, sim, **overrides):
        ns = namespace()
        params = [Parameter('port', value=sim.url),
                  Parameter('allowed_ports', value=[os.path.dirname(sim.url) + '/*']),
                  Parameter('feedback_rate_hz', value=20.0)]
        params += [Parameter(k, value=v) for k, v in overrides.items()]
        node = node_cls(namespace=ns, context=context, parameter_overrides=params)
        client_node = rclpy.create_node(f'client_{uuid.uuid4().hex[:6]}', context=context)
        executor = SingleThreadedExecutor(context=context)
        for n in (node, client_node):
            executor.add_node(n)
        # Before spinning: rclpy's ActionClient joins its node's waitables before it is
        # whole, and an executor that iterates it then dies (AttributeError: '_lock').
        client = ActionClient(client_node, DrawStrokes, f'{ns}/draw_strokes')
        threading.Thread(target=executor.spin, daemon=True).start()
        assert client.wait_for_server(timeout_sec=10)
        made.append((node, client_node, client, sim, executor))
        return node, client

    yield make
    for node, client_node, client, sim, executor in made:
        node.shutdown_driver()
        executor.shutdown(timeout_sec=5)
        client.destroy()
        for n in (node, client_node):
            n.destroy_node()
        sim.stop()


def test_grbl_node_lifecycle_errors_and_recovery(lifecycle_rig):
    from rclpy.lifecycle import TransitionCallbackReturn

    from dream_plotter.grbl_driver_node import GrblDriverNode
    sim = GrblSimulator().start()
    node, client = lifecycle_rig(GrblDriverNode, sim, banner_timeout=0.5)
    status, outcome, _ = send(client, goal_for(4))
    assert outcome.error_code == PlotResult.ERROR_NOT_ACTIVE
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    assert send(client, goal_for(4))[1].error_code == PlotResult.ERROR_NOT_ACTIVE
    assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
    status, outcome, feedback = send(client, goal_for(6, 'ok-1'))
    assert outcome.error_code == PlotResult.ERROR_NONE and outcome.strokes_done == 6
    assert outcome.session_id == 'ok-1' and feedback and not feedback[-1].pen_down
    assert len(sim.episodes) == 6
    with sim.lock:
        sim.error_on_line[sim.line_count + 30] = 20
    status, outcome, _ = send(client, goal_for(6, 'bad'))
    assert outcome.error_code == PlotResult.ERROR_DEVICE and outcome.device_error == 20
    assert not sim.pen_down
    status, outcome, _ = send(client, goal_for(6, 'ok-2', start=outcome.next_stroke))
    assert outcome.error_code == PlotResult.ERROR_NONE          # the node takes the next goal
    nan_goal = goal_for(3, 'nan')
    nan_goal.drawing.strokes[0].control_points[0] = float('nan')
    assert send(client, nan_goal)[1].error_code == PlotResult.ERROR_INVALID_DRAWING
    assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
    assert send(client, goal_for(2))[1].error_code == PlotResult.ERROR_NOT_ACTIVE
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert node.core is None and not sim.pen_down


@pytest.mark.parametrize('fault', [{'alarm_after_line': 40},
                                   {'vanish_after_line': 40, 'reappear_after': 0.3}])
def test_grbl_node_takes_the_next_goal_after_the_position_is_lost(lifecycle_rig, fault):
    from dream_plotter.grbl_driver_node import GrblDriverNode
    sim = GrblSimulator(**fault).start()
    node, client = lifecycle_rig(GrblDriverNode, sim, banner_timeout=0.5)
    node.trigger_configure()
    node.trigger_activate()
    status, outcome, feedback = send(client, goal_for(12, 'lost'))
    assert outcome.error_code in (PlotResult.ERROR_DEVICE_ALARM,
                                  PlotResult.ERROR_CONNECTION_LOST), outcome.message
    assert node.core.position is None and not sim.pen_down
    status, outcome, feedback = send(client, goal_for(12, 'next', start=outcome.next_stroke))
    assert outcome.error_code == PlotResult.ERROR_NONE, outcome.message
    assert outcome.strokes_done == 12 and not sim.pen_down
    first = feedback[0].pen_position          # not known until the device reports it
    assert math.isnan(first.x) and math.isnan(first.y)
    assert math.isfinite(feedback[-1].pen_position.x)     # known again once GRBL reports


def test_grbl_node_deactivate_cancels_a_running_goal_with_the_pen_up(lifecycle_rig):
    from dream_plotter.grbl_driver_node import GrblDriverNode
    sim = GrblSimulator(time_factor=0.05).start()
    node, client = lifecycle_rig(GrblDriverNode, sim, banner_timeout=0.5)
    node.trigger_configure()
    node.trigger_activate()
    box = {}
    worker = threading.Thread(target=lambda: box.update(r=send(client, goal_for(40, 'long'))))
    worker.start()
    deadline = time.monotonic() + 20
    while not sim.episodes and time.monotonic() < deadline:
        time.sleep(0.02)
    node.trigger_deactivate()
    worker.join(30)
    status, outcome, feedback = box['r']
    assert outcome.error_code == PlotResult.ERROR_CANCELLED
    assert outcome.next_stroke < 40 and not sim.pen_down and not feedback[-1].pen_down


def test_grbl_node_refuses_to_configure_a_port_outside_the_allow_list(lifecycle_rig):
    from rclpy.lifecycle import TransitionCallbackReturn

    from dream_plotter.grbl_driver_node import GrblDriverNode
    sim = GrblSimulator().start()
    node, client = lifecycle_rig(GrblDriverNode, sim, allowed_ports=['/dev/ttyUSB*'])
    assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
    assert node.core is None
    assert send(client, goal_for(2))[1].error_code == PlotResult.ERROR_NOT_ACTIVE


def test_axidraw_node_draws_and_closes_with_the_pen_up(lifecycle_rig):
    from rclpy.lifecycle import TransitionCallbackReturn

    from dream_plotter.axidraw_driver_node import AxiDrawDriverNode
    sim = EbbSimulator().start()
    node, client = lifecycle_rig(AxiDrawDriverNode, sim)
    assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
    node.trigger_activate()
    dry = goal_for(5, 'dry')
    dry.dry_run = True
    status, outcome, _ = send(client, dry)
    assert outcome.error_code == PlotResult.ERROR_NONE and outcome.duration > 0
    assert sim.episodes == []
    status, outcome, _ = send(client, goal_for(5, 'axi'))
    assert outcome.error_code == PlotResult.ERROR_NONE and len(sim.episodes) == 5
    node.trigger_deactivate()
    assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
    assert sim.pen_is_up and sim.motors == (0, 0)


def test_axidraw_node_travel_is_its_models_unless_set(lifecycle_rig):
    from rclpy.exceptions import InvalidParameterValueException

    from dream_plotter.axidraw_driver_node import AxiDrawDriverNode
    sim = EbbSimulator().start()
    node, _ = lifecycle_rig(AxiDrawDriverNode, sim)
    defaults = node.paper_defaults()      # what each goal is planned with
    assert (defaults.machine_width_mm, defaults.machine_height_mm) == (300.0, 218.0)
    node, _ = lifecycle_rig(AxiDrawDriverNode, sim, model='a3', machine_width_mm=500.0)
    defaults = node.paper_defaults()
    assert (defaults.machine_width_mm, defaults.machine_height_mm) == (500.0, 297.0)
    node, _ = lifecycle_rig(AxiDrawDriverNode, sim, model='none')
    defaults = node.paper_defaults()
    assert (defaults.machine_width_mm, defaults.machine_height_mm) == (0.0, 0.0)
    with pytest.raises(InvalidParameterValueException, match="unknown AxiDraw model 'A4'"):
        lifecycle_rig(AxiDrawDriverNode, sim, model='A4')
