"""The GenerateDrawing action server in process, with a tiny CLIP and a real action client."""
import threading
import time

import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.action import ActionClient  # noqa: E402
from rclpy.action.client import GoalStatus  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.exceptions import InvalidParameterValueException  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from visualization_msgs.msg import Marker  # noqa: E402

from dream_interfaces.action import GenerateDrawing  # noqa: E402
from dream_interfaces.msg import GenerationResult  # noqa: E402

from dream_clipdraw.clipdraw_node import ClipDrawNode  # noqa: E402
from dream_clipdraw.tiny_clip import shared_tiny_clip  # noqa: E402

TIMEOUT = 60.0


pytestmark = pytest.mark.usefixtures('one_torch_thread')


class Graph:
    """The node under test, a client node, and what the client heard."""

    def __init__(self, server, client, heard):
        self.server = server
        self.client = client
        self.action = ActionClient(client, GenerateDrawing, 'generate_drawing')
        self.heard = heard

    def send(self, prompt, session='s', **options):
        assert self.action.wait_for_server(timeout_sec=TIMEOUT)
        goal = GenerateDrawing.Goal(session_id=session, prompt=prompt)
        for key, value in options.items():
            setattr(goal.options, key, value)
        feedback = []
        future = self.action.send_goal_async(
            goal, feedback_callback=lambda m: feedback.append(m.feedback.progress))
        wait_for(future.done)
        handle = future.result()
        assert handle.accepted
        return handle, feedback

    def result(self, handle):
        future = handle.get_result_async()
        wait_for(future.done)
        response = future.result()
        return response.status, response.result.outcome


def wait_for(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out waiting'
        time.sleep(0.02)


@pytest.fixture(scope='module')
def graph(hear_outputs):
    tiny = shared_tiny_clip()
    context = Context()
    rclpy.init(context=context)
    overrides = [Parameter('clip_model_config', value=tiny.config),
                 Parameter('clip_pretrained', value=tiny.weights),
                 Parameter('canvas_size', value=32), Parameter('num_strokes', value=6),
                 Parameter('iterations', value=4), Parameter('preview_every', value=2)]
    server = ClipDrawNode(context=context, parameter_overrides=overrides)
    client = rclpy.create_node('clipdraw_test_client', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(server)
    executor.add_node(client)
    # Built before spinning: rclpy's ActionClient joins its node's waitables before it is
    # whole, and an executor that iterates it then dies (AttributeError: '_lock').
    built = Graph(server, client, hear_outputs(client))
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    yield built
    executor.shutdown(timeout_sec=5)
    server.destroy_node()
    client.destroy_node()
    rclpy.shutdown(context=context)
    spinner.join(timeout=5)


def test_a_goal_succeeds_with_feedback_and_every_topic(graph):
    handle, feedback = graph.send('a red whale over the city', session='s-ok')
    status, outcome = graph.result(handle)
    assert status == GoalStatus.STATUS_SUCCEEDED, outcome.message
    assert outcome.error_code == GenerationResult.ERROR_NONE
    assert outcome.session_id == 's-ok' and outcome.drawing.session_id == 's-ok'
    drawing = outcome.drawing
    assert len(drawing.strokes) == 6 and drawing.iterations == 4
    assert drawing.canvas_width == 32 and drawing.clip_model == 'dream-tiny-clip'
    assert feedback and feedback[-1].iteration == 4 and feedback[-1].total_iterations == 4
    assert all(f.session_id == 's-ok' for f in feedback)
    wait_for(lambda: graph.heard['result'] and graph.heard['drawing']
             and graph.heard['markers'] and len(graph.heard['preview']) >= 2)
    assert any(r.session_id == 's-ok' and r.error_code == 0 for r in graph.heard['result'])
    assert any(f.session_id == 's-ok' for f in graph.heard['feedback'])
    assert graph.heard['drawing'][-1].session_id == 's-ok'
    preview = graph.heard['preview'][-1]
    assert preview.encoding == 'rgb8' and (preview.width, preview.height) == (32, 32)
    assert len(preview.data) == 32 * 32 * 3
    markers = graph.heard['markers'][-1].markers
    assert markers[0].action == Marker.DELETEALL
    assert len(markers) == 7 and all(m.type == Marker.LINE_STRIP for m in markers[1:])
    assert len(markers[1].points) >= 9


def test_loading_and_drawing_share_one_torch_thread(graph, monkeypatch):
    # CUDA graphs recorded by a compiled CLIP belong to their thread: a goal must not draw
    # on a fresh one.
    import dream_clipdraw.optimizer as optimizer
    threads = []
    real = optimizer.generate_drawing

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)
    monkeypatch.setattr(optimizer, 'generate_drawing', spy)
    for session in ('s-thread-1', 's-thread-2'):
        status, outcome = graph.result(graph.send('a lighthouse', session=session)[0])
        assert status == GoalStatus.STATUS_SUCCEEDED, outcome.message
    loader = graph.server._torch_thread.submit(threading.current_thread).result()
    assert len(threads) == 2 and threads[0] is threads[1] is loader
    assert loader.name.startswith('clipdraw-torch')


def test_cancel_mid_run_ends_canceled_with_the_drawing_so_far(graph):
    handle, feedback = graph.send('a lighthouse', session='s-cancel', iterations=5000)
    wait_for(lambda: len(feedback) >= 2)
    cancel = handle.cancel_goal_async()
    wait_for(cancel.done)
    status, outcome = graph.result(handle)
    assert status == GoalStatus.STATUS_CANCELED
    assert outcome.error_code == GenerationResult.ERROR_CANCELLED
    assert 2 <= outcome.drawing.iterations < 5000
    assert len(outcome.drawing.strokes) == 6


def test_winding_down_answers_the_running_goal_and_refuses_new_ones(graph):
    """SIGINT/SIGTERM of the node's process (dream_runtime.run_node): once, the context was
    shut down under the drawing and its session never heard of it."""
    handle, feedback = graph.send('a lighthouse', session='s-stop', iterations=5000)
    wait_for(lambda: len(feedback) >= 2)
    try:
        done = graph.server.wind_down()
        status, outcome = graph.result(handle)
        assert status == GoalStatus.STATUS_ABORTED
        assert outcome.error_code == GenerationResult.ERROR_CANCELLED
        assert outcome.message.startswith('stopped: the drawing node is shutting down after')
        wait_for(done)
        late, _ = graph.send('a whale', session='s-late')     # to be asked again elsewhere
        outcome = graph.result(late)[1]
        assert outcome.error_code == GenerationResult.ERROR_BUSY
        assert outcome.message == 'the drawing node is shutting down'
    finally:
        graph.server._closing.clear()


def test_a_second_goal_while_busy_gets_error_busy(graph):
    first, feedback = graph.send('a lighthouse', session='s-long', iterations=5000)
    wait_for(lambda: len(feedback) >= 1)
    second, _ = graph.send('a whale', session='s-second')
    status, outcome = graph.result(second)
    assert status == GoalStatus.STATUS_ABORTED
    assert outcome.error_code == GenerationResult.ERROR_BUSY
    assert outcome.session_id == 's-second'
    wait_for(first.cancel_goal_async().done)
    assert graph.result(first)[0] == GoalStatus.STATUS_CANCELED


def test_an_empty_prompt_is_rejected_and_the_node_still_serves(graph):
    handle, _ = graph.send('   ', session='s-empty')
    status, outcome = graph.result(handle)
    assert status == GoalStatus.STATUS_ABORTED
    assert outcome.error_code == GenerationResult.ERROR_INVALID_PROMPT
    assert 'empty' in outcome.message
    handle, _ = graph.send('a whale', session='s-after', iterations=2)
    status, outcome = graph.result(handle)
    assert status == GoalStatus.STATUS_SUCCEEDED and outcome.drawing.iterations == 2


def test_absurd_options_are_invalid_options(graph):
    handle, _ = graph.send('a whale', session='s-opts', preset='photoreal')
    status, outcome = graph.result(handle)
    assert status == GoalStatus.STATUS_ABORTED
    assert outcome.error_code == GenerationResult.ERROR_INVALID_OPTIONS


def test_missing_weights_fail_the_goal_and_the_node_recovers(graph):
    good = graph.server.get_parameter('clip_pretrained').value
    graph.server.set_parameters([Parameter('clip_pretrained', value='/no/such/weights.pt')])
    try:
        handle, _ = graph.send('a whale', session='s-model')
        status, outcome = graph.result(handle)
        assert status == GoalStatus.STATUS_ABORTED
        assert outcome.error_code == GenerationResult.ERROR_MODEL_UNAVAILABLE
        assert '--clip-pretrained' in outcome.message
    finally:
        graph.server.set_parameters([Parameter('clip_pretrained', value=good)])
    handle, _ = graph.send('a whale', session='s-recovered', iterations=1)
    status, outcome = graph.result(handle)
    assert status == GoalStatus.STATUS_SUCCEEDED


def test_plotter_goals_fill_the_palette_and_pens(graph):
    handle, _ = graph.send('a whale', session='s-pens', preset='plotter', iterations=2,
                           num_pens=3)
    status, outcome = graph.result(handle)
    assert status == GoalStatus.STATUS_SUCCEEDED, outcome.message
    drawing = outcome.drawing
    assert len(drawing.palette) == 3 and drawing.preset == 'plotter'
    assert all(s.pen < 3 and s.color.a == 1.0 for s in drawing.strokes)


def test_pens_belong_to_the_plotter_preset(graph):
    handle, _ = graph.send('a whale', session='s-cpu-pens', preset='cpu', num_pens=3)
    status, outcome = graph.result(handle)
    assert outcome.error_code == GenerationResult.ERROR_INVALID_OPTIONS
    assert 'plotter preset only' in outcome.message
    # The node's own pens are the plotter preset's: a free-colour goal is not made a pen one.
    graph.server.set_parameters([Parameter('num_pens', value=2)])
    try:
        handle, _ = graph.send('a whale', session='s-free', preset='cpu', iterations=1)
        status, outcome = graph.result(handle)
        assert status == GoalStatus.STATUS_SUCCEEDED, outcome.message
        assert list(outcome.drawing.palette) == []
        handle, _ = graph.send('a whale', session='s-two', preset='plotter', iterations=1)
        status, outcome = graph.result(handle)
        assert status == GoalStatus.STATUS_SUCCEEDED and len(outcome.drawing.palette) == 2
    finally:
        graph.server.set_parameters([Parameter('num_pens', value=0)])


def test_a_step_graph_draws_and_refuses_the_plotter_preset(graph):
    graph.server.set_parameters([Parameter('step_graph', value='on')])
    try:
        handle, _ = graph.send('a whale', session='s-graph', preset='faithful', iterations=2)
        status, outcome = graph.result(handle)
        assert status == GoalStatus.STATUS_SUCCEEDED, outcome.message
        assert outcome.drawing.iterations == 2
        handle, _ = graph.send('a whale', session='s-graph-pens', preset='plotter')
        status, outcome = graph.result(handle)
        assert status == GoalStatus.STATUS_ABORTED
        assert outcome.error_code == GenerationResult.ERROR_INVALID_OPTIONS
        assert 'step-graph on: the plotter preset' in outcome.message
    finally:
        graph.server.set_parameters([Parameter('step_graph', value='off')])
    handle, _ = graph.send('a whale', session='s-graph-after', preset='plotter', iterations=1)
    assert graph.result(handle)[0] == GoalStatus.STATUS_SUCCEEDED


@pytest.fixture
def own_context():
    context = Context()
    rclpy.init(context=context)
    yield context
    rclpy.shutdown(context=context)


@pytest.mark.parametrize('name, value, allowed', [
    ('preset', 'photoreal', 'cpu, faithful, plotter'),
    ('renderer', 'difvg', 'torch'),
    ('device', 'gpu', 'cpu, cuda, cuda:N'),
    ('device', 'cuda:', 'cpu, cuda, cuda:N'),
    ('clip_precision', 'fp16', 'float32, bfloat16'),
    ('clip_compile', 'on', 'auto, off, default, reduce-overhead, max-autotune'),
    ('step_graph', 'yes', 'off, on'),
])
def test_a_word_out_of_its_set_fails_the_start_and_is_refused_when_set(
        own_context, name, value, allowed):
    lazy = Parameter('preload_model', value=False)
    with pytest.raises(InvalidParameterValueException, match=allowed):
        ClipDrawNode(context=own_context,
                     parameter_overrides=[lazy, Parameter(name, value=value)])
    node = ClipDrawNode(context=own_context, parameter_overrides=[lazy])
    try:
        [result] = node.set_parameters([Parameter(name, value=value)])
        assert not result.successful and name in result.reason and allowed in result.reason
    finally:
        node.destroy_node()


def test_words_in_their_sets_are_taken(own_context):
    good = dict(preset='plotter', renderer='torch', device='cuda:1', clip_precision='bfloat16',
                clip_compile='max-autotune', step_graph='on')
    overrides = [Parameter(k, value=v) for k, v in dict(good, preload_model=False).items()]
    node = ClipDrawNode(context=own_context, parameter_overrides=overrides)
    try:
        assert {k: node.get_parameter(k).value for k in good} == good
        results = node.set_parameters([Parameter('device', value='cpu'),
                                       Parameter('preset', value='faithful')])
        assert all(r.successful for r in results)
    finally:
        node.destroy_node()
