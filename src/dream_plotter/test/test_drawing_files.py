"""Reading drawings: tolerant JSON, SVG through svgelements, ROS messages."""
import json

import numpy as np
import pytest

from dream_plotter.drawing_files import drawing_from_dict, drawing_to_dict, load_drawing
from dream_plotter.outcome import ErrorCode, PlotError
from dream_plotter.planner import PenChange, plan_drawing
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


_INKSCAPE = 'xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"'


def _svg(tmp_path, body, name='d.svg'):
    path = tmp_path / name
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" {_INKSCAPE} width="100" '
                    f'height="100" viewBox="0 0 100 100">{body}</svg>')
    return path


def _layer(label, *colors, index=1):
    paths = ''.join(f'<path d="M {10 * i} 10 C 20 20 30 20 {10 * i + 5} 40" stroke="{c}" '
                    'stroke-width="2"/>' for i, c in enumerate(colors))
    return (f'<g id="layer{index}" inkscape:groupmode="layer" inkscape:label="{label}" '
            f'fill="none">{paths}</g>')


def test_multi_pen_svg_from_dream_draw_keeps_its_pens_and_colours(tmp_path):
    # What dream_clipdraw's to_svg writes for a 3-pen palette whose pen 1 is unused.
    path = _svg(tmp_path, _layer('layer 1 (pen 0)', '#000000', '#000000')
                + _layer('layer 3 (pen 2)', '#1a40cc', index=3)
                + _layer('layer 1 (pen 0)', '#000000'))
    d = load_drawing(path)
    assert [s.pen for s in d.strokes] == [0, 0, 2, 0]
    assert len(d.palette) == 3 and d.palette[0] == (0, 0, 0, 1)
    assert np.allclose(d.palette[2], (0.1, 0.25, 0.8, 1), atol=1 / 255)
    assert d.strokes[2].color == d.palette[2]
    same = drawing_from_dict({'palette': [[0, 0, 0], [1, 0, 0], [0.1, 0.25, 0.8]], 'strokes': [
        {'control_points': s.points.tolist(), 'pen': s.pen} for s in d.strokes]})
    plan, expected = plan_drawing(d), plan_drawing(same)
    assert plan.order == expected.order
    changes = [i.pen for i in plan.items if isinstance(i, PenChange)]
    assert changes == [i.pen for i in expected.items if isinstance(i, PenChange)] == [2]


def test_svg_layers_are_numbered_as_vpype_numbers_them(tmp_path):
    vpype = pytest.importorskip('vpype')
    # Label digits first, then the id's, then the order; loose top-level shapes are layer 1.
    path = _svg(tmp_path, '<line x1="0" y1="0" x2="9" y2="9" stroke="black"/>'
                '<g inkscape:label="Layer 4"><line x1="0" y1="0" x2="5" y2="9" stroke="red"/></g>'
                '<g id="pen2"><line x1="0" y1="0" x2="9" y2="5" stroke="blue"/></g>'
                '<g inkscape:label="fine"><line x1="1" y1="0" x2="9" y2="1" stroke="green"/></g>')
    d = load_drawing(path)
    pens = sorted({s.pen for s in d.strokes})
    assert [s.pen for s in d.strokes] == [0, 3, 1, 2]
    assert sorted(vpype.read_multilayer_svg(str(path), 0.1).layers) == [p + 1 for p in pens]
    assert len(d.palette) == 4 and d.palette[3] == (1.0, 0.0, 0.0, 1.0)


def test_a_single_layer_svg_stays_one_free_colour_pen(tmp_path):
    path = _svg(tmp_path, _layer('layer 2 (pen 1)', '#ff0000', '#0000ff', index=2))
    d = load_drawing(path)
    assert [s.pen for s in d.strokes] == [0, 0] and d.palette == []
    assert d.strokes[1].color == (0.0, 0.0, 1.0, 1.0)
    assert not any(isinstance(i, PenChange) for i in plan_drawing(d).items)


def test_svg_shapes_without_a_visible_outline_are_not_plotted(tmp_path):
    path = _svg(tmp_path,
                '<rect x="5" y="5" width="90" height="90" fill="yellow" stroke="none"/>'
                '<rect x="20" y="20" width="10" height="10" fill="black"/>'
                '<line x1="50" y1="10" x2="90" y2="40" stroke="black"/>'
                '<line x1="50" y1="60" x2="90" y2="90" stroke="black" visibility="hidden"/>'
                '<line x1="10" y1="60" x2="40" y2="90" stroke="black" style="display:none"/>'
                '<g visibility="hidden"><line x1="1" y1="1" x2="3" y2="3" stroke="red"/>'
                '<line x1="5" y1="5" x2="7" y2="7" stroke="red" visibility="visible"/></g>'
                '<g display="none"><line x1="1" y1="1" x2="3" y2="3" stroke="red"/></g>'
                '<g stroke="blue"><line x1="0" y1="0" x2="3" y2="3"/>'
                '<text x="3" y="4">hi</text></g>')
    d = load_drawing(path)
    assert [tuple(s.points[0]) for s in d.strokes] == [(50, 10), (5, 5), (0, 0)]
    assert d.strokes[2].color == (0.0, 0.0, 1.0, 1.0)
    assert any('text' in w and 'paths' in w for w in d.warnings)


def test_an_editors_layer_ids_become_consecutive_pens(tmp_path):
    path = _svg(tmp_path, '<g id="g123"><line x1="0" y1="0" x2="9" y2="9" stroke="red"/></g>'
                '<g id="g456"><line x1="0" y1="0" x2="5" y2="9" stroke="blue"/></g>'
                '<g id="g77"><line x1="0" y1="0" x2="9" y2="5" stroke="green"/></g>')
    d = load_drawing(path)
    assert [s.pen for s in d.strokes] == [1, 2, 0]            # in vpype's layer order
    assert d.palette == [(0.0, 128 / 255, 0.0, 1.0), (1.0, 0.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0)]


def test_svg_opacity_multiplies_into_the_stroke_alpha(tmp_path):
    # opacity (attribute or style, on the shape and every group above it) and stroke-opacity
    # scale the alpha the planner compares with min_opacity, as a renderer composites them.
    path = _svg(tmp_path,
                '<line x1="0" y1="0" x2="9" y2="9" stroke="black"/>'
                '<line x1="0" y1="1" x2="9" y2="9" stroke="black" stroke-opacity="0"/>'
                '<line x1="0" y1="2" x2="9" y2="9" stroke="black" opacity="0"/>'
                '<g opacity="0.5"><g style="opacity:50%">'
                '<line x1="0" y1="3" x2="9" y2="9" stroke="black" opacity="0.2"/>'
                '<line x1="0" y1="4" x2="9" y2="9" stroke="rgba(0,0,0,0.5)"/></g></g>')
    alphas = [s.color[3] for s in load_drawing(path).strokes]
    assert alphas == pytest.approx([1.0, 0.0, 0.0, 0.05, 0.125], abs=1 / 255)
