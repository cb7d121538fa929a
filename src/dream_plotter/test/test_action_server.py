"""The DrawStrokes server's goal log line, without a ROS graph."""
from types import SimpleNamespace

import pytest

pytest.importorskip('rclpy')
from builtin_interfaces.msg import Time  # noqa: E402

from dream_plotter.action_server import DrawStrokesServer  # noqa: E402
from dream_plotter.outcome import ErrorCode, PlotOutcome  # noqa: E402


def finish_log(outcome):
    """The line _finish logs for an outcome, with stand-ins for the node and the goal."""
    lines = []
    logger = SimpleNamespace(info=lines.append, warning=lines.append)
    server = SimpleNamespace(node=SimpleNamespace(get_logger=lambda: logger),
                             _stamp=Time, result_pub=SimpleNamespace(publish=lambda m: None),
                             _stopping=False)
    handle = SimpleNamespace(request=SimpleNamespace(session_id='s1'),
                             is_cancel_requested=False, succeed=lambda: None,
                             abort=lambda: None, canceled=lambda: None)
    DrawStrokesServer._finish(server, handle, outcome)
    return lines


def test_a_finished_goal_logs_done_not_none():
    lines = finish_log(PlotOutcome(ErrorCode.NONE, 'drew strokes 0..7', strokes_done=8))
    assert lines == ['goal s1: done: drew strokes 0..7 (strokes done 8)']
    lines = finish_log(PlotOutcome(ErrorCode.DEVICE, 'error:20', strokes_done=3))
    assert lines == ['goal s1: DEVICE: error:20 (strokes done 3)']


def test_a_start_past_the_drawing_fails_with_a_resume_point_inside_it():
    from dream_interfaces.action import DrawStrokes
    from dream_plotter.conformance import grid_drawing
    from dream_plotter.drawing_messages import drawing_to_msg
    from dream_plotter.paper import PaperDefaults
    from dream_plotter.planner import PlanSettings
    goal = DrawStrokes.Goal(session_id='s1', start_stroke=10)
    goal.drawing = drawing_to_msg(grid_drawing(3))
    server = SimpleNamespace(driver=lambda: object(),
                             settings=lambda: (PaperDefaults(), PlanSettings()))
    outcome = DrawStrokesServer._run(server, SimpleNamespace(request=goal))
    assert outcome.error_code == ErrorCode.INVALID_DRAWING, outcome.message
    assert (outcome.strokes_done, outcome.next_stroke) == (3, 3)


def test_a_goal_leaves_out_transparent_strokes_and_logs_how_many():
    # CLIPDraw's RGBA strokes: alpha 0 (or nearly) is invisible in the PNG, so not plotted.
    from dream_interfaces.action import DrawStrokes
    from dream_plotter.conformance import grid_drawing
    from dream_plotter.drawing_messages import drawing_to_msg
    from dream_plotter.paper import PaperDefaults
    from dream_plotter.planner import PlanSettings
    from dream_plotter.sim_driver import SimDriver
    goal = DrawStrokes.Goal(session_id='s1', dry_run=True)
    goal.drawing = drawing_to_msg(grid_drawing(4))
    for stroke, alpha in zip(goal.drawing.strokes, (1.0, 0.0, 0.02, 0.5)):
        stroke.color.a = alpha
    lines = []
    logger = SimpleNamespace(info=lines.append, warning=lines.append)
    server = SimpleNamespace(driver=SimDriver, node=SimpleNamespace(get_logger=lambda: logger),
                             settings=lambda: (PaperDefaults(), PlanSettings()))
    outcome = DrawStrokesServer._run(server, SimpleNamespace(request=goal))
    assert outcome.error_code == ErrorCode.NONE, outcome.message
    assert outcome.message.startswith('dry run: 2 paths')
    assert any(line.startswith('goal s1: 2 stroke(s) fainter than min_opacity 0.1')
               for line in lines), lines
    for stroke in goal.drawing.strokes:
        stroke.color.a = 0.0
    outcome = DrawStrokesServer._run(server, SimpleNamespace(request=goal))
    assert outcome.error_code == ErrorCode.INVALID_DRAWING
    assert 'all 4 strokes are fainter than min_opacity 0.1' in outcome.message


def test_a_goal_that_comes_while_the_node_winds_down_is_answered_busy():
    """Busy, not failed: the session manager asks again, and a restarted node takes it."""
    server = SimpleNamespace(_stopping=True, node=SimpleNamespace(get_name=lambda: 'sim'),
                             _finish=lambda handle, outcome, publish=True: (outcome, publish))
    goal = SimpleNamespace(request=SimpleNamespace(session_id='s1', start_stroke=2,
                                                   drawing=SimpleNamespace(strokes=[1, 2, 3])))
    outcome, published = DrawStrokesServer._execute(server, goal)
    assert outcome.error_code == ErrorCode.BUSY and not published
    assert outcome.message == 'the sim node is shutting down' and outcome.next_stroke == 2
