"""Reading drawings: tolerant JSON, SVG through svgelements, ROS messages."""
import json

import numpy as np
import pytest

from dream_plotter.drawing_files import drawing_from_dict, drawing_to_dict, load_drawing
from dream_plotter.outcome import ErrorCode, PlotError
from dream_plotter.planner import plan_drawing
from dream_plotter.random_drawings import random_drawing


def test_the_documented_json_shape_and_its_tolerated_variants(tmp_path):
    doc = {'canvas_width': 224, 'canvas_height': 224, 'prompt': 'a whale',
           'palette': [[0, 0, 0, 1], [255, 0, 0]],
           'strokes': [
               {'control_points': [[0, 0], [10, 5], [20, 5], [30, 0]], 'width': 2.0,
                'color': [0.1, 0.2, 0.3, 1.0], 'pen': 1},
               {'control_points': [0, 0, 10, 10], 'color': {'r': 1, 'g': 0, 'b': 0}},
               {'points': [[1, 1], [2, 2], [3, 1]]}]}
    path = tmp_path / 'd.json'
    path.write_text(json.dumps(doc))
    d = load_drawing(path)
    assert (d.canvas_width, d.canvas_height, d.prompt) == (224, 224, 'a whale')
    assert d.palette[1] == (1.0, 0.0, 0.0, 1.0)
    assert d.strokes[0].pen == 1 and not d.strokes[0].polyline
    assert d.strokes[1].polyline and d.strokes[1].points.shape == (2, 2)
    assert d.strokes[2].polyline and any('3k+1' in w for w in d.warnings)
    bare = drawing_from_dict([[[0, 0], [1, 1], [2, 1], [3, 0]]])
    assert len(bare.strokes) == 1


@pytest.mark.parametrize('text', ['{not json', '{"strokes": 3}', '{"canvas_width": 5}',
                                  '{"strokes": [{"control_points": [1, 2, 3]}]}'])
def test_unreadable_json_is_an_invalid_drawing(tmp_path, text):
    path = tmp_path / 'bad.json'
    path.write_text(text)
    with pytest.raises(PlotError) as err:
        load_drawing(path)
    assert err.value.code == ErrorCode.INVALID_DRAWING


def test_json_round_trip_keeps_the_plan():
    d = random_drawing(12, seed=2)
    again = drawing_from_dict(json.loads(json.dumps(drawing_to_dict(d))))
    assert plan_drawing(again).order == plan_drawing(d).order


def test_svg_paths_lines_and_shapes_become_bezier_strokes(tmp_path):
    svg = tmp_path / 'd.svg'
    svg.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100" '
        'viewBox="0 0 200 100">'
        '<path d="M 10 10 C 20 0 30 20 40 10 Q 50 0 60 10 L 70 30 M 100 50 L 120 50" '
        'stroke="#ff0000" stroke-width="3" fill="none"/>'
        '<line x1="0" y1="90" x2="50" y2="90" stroke="black"/>'
        '<circle cx="150" cy="50" r="20" stroke="blue" fill="none"/></svg>')
    d = load_drawing(svg)
    assert (d.canvas_width, d.canvas_height) == (200, 100)
    assert len(d.strokes) == 4
    first = d.strokes[0]
    assert len(first.points) == 10 and not first.polyline
    assert np.allclose(first.points[0], [10, 10]) and np.allclose(first.points[-1], [70, 30])
    assert first.color[:3] == (1.0, 0.0, 0.0) and first.width == pytest.approx(3)
    circle = d.strokes[3]
    assert np.allclose(circle.points[0], circle.points[-1])
    plan = plan_drawing(d)
    assert len(plan.order) == 4


def test_drawing_messages_round_trip():
    pytest.importorskip('rclpy')
    from dream_plotter.drawing_messages import drawing_from_msg, drawing_to_msg
    d = random_drawing(5, seed=1, palette=[(0, 0, 0, 1), (0, 0, 1, 1)])
    back = drawing_from_msg(drawing_to_msg(d))
    assert len(back.strokes) == 5 and back.palette[1] == (0, 0, 1, 1)
    for a, b in zip(d.strokes, back.strokes):
        assert np.allclose(a.points, b.points, atol=1e-3)
        assert a.pen == b.pen


def test_error_codes_and_outcomes_match_the_plot_result_message():
    pytest.importorskip('rclpy')
    from dream_interfaces.msg import PlotResult
    from dream_plotter.drawing_messages import outcome_to_msg, progress_to_msg
    from dream_plotter.outcome import ErrorCode, PlotOutcome, Progress
    for code in ErrorCode:
        assert getattr(PlotResult, f'ERROR_{code.name}') == code.value
    msg = outcome_to_msg(PlotOutcome(ErrorCode.DEVICE_ALARM, 'limit', 1, 4, 4, 2.5, 10.0, 3.0,
                                     1), 'sess')
    assert (msg.error_code, msg.device_error, msg.next_stroke, msg.session_id) == (
        7, 1, 4, 'sess')
    fb = progress_to_msg(Progress(3, 9, 3, 12.5, 40.0, True, 1.7, -2.0), 'sess')
    assert fb.progress == 1.0 and fb.time_left == 0.0 and fb.pen_position.x == 12.5
