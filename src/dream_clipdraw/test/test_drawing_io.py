"""Drawing outputs: JSON round trip, SVG with the exact curves, PNG, the ROS message."""
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from dream_clipdraw import drawing_io
from dream_clipdraw.drawing import Drawing, Stroke
from dream_clipdraw.errors import InvalidDrawing, InvalidOptions

SVG = '{http://www.w3.org/2000/svg}'


def sample(palette=False):
    strokes = [
        Stroke(points=[[10.0, 12.5], [20.25, 30.0], [40.0, 8.0], [50.0, 40.0]], width=3.5,
               color=(1.0, 0.0, 0.0, 0.5), pen=0),
        Stroke(points=[[5.0, 5.0], [6.0, 7.0], [8.0, 9.0], [10.0, 11.0], [30.0, 40.0],
                       [50.0, 20.0], [60.0, 60.0]], width=1.0,
               color=(0.0, 0.0, 1.0, 1.0), pen=1 if palette else 0),
    ]
    return Drawing(strokes=strokes, canvas_width=64, canvas_height=48, prompt='a <whale> & co',
                   negative_prompts=['a sketch'], seed=42, preset='plotter' if palette else 'cpu',
                   clip_model='ViT-B-32-quickgelu', clip_pretrained='openai', renderer='torch',
                   iterations=10, total_iterations=10, score=0.3125,
                   prompt_handling='sentences-mean:2', prompt_truncated=False,
                   generation_time=1.5, session_id='s-1',
                   palette=[(1.0, 0.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0)] if palette else [])


def test_json_round_trip_is_exact(tmp_path):
    drawing = sample(palette=True)
    path = drawing_io.save_json(drawing, tmp_path / 'd.json')
    assert drawing_io.load_json(path) == drawing
    assert json.loads(open(path).read())['format'] == 'dream-drawing'


@pytest.mark.parametrize('content, match', [
    ('{not json', 'not JSON'), ('{"format": "other"}', 'not a dream-drawing'),
    ('{"format": "dream-drawing", "version": 99}', 'version'),
])
def test_bad_json_files_are_clear_errors(tmp_path, content, match):
    path = tmp_path / 'bad.json'
    path.write_text(content)
    with pytest.raises(InvalidDrawing, match=match):
        drawing_io.load_json(path)


def test_malformed_strokes_are_rejected():
    data = sample().to_dict()
    data['strokes'][0]['points'] = data['strokes'][0]['points'][:3]
    with pytest.raises(InvalidDrawing, match='3k\\+1'):
        Drawing.from_dict(data)
    data = sample().to_dict()
    data['strokes'][1]['color'] = [0, 0, 2, 1]
    with pytest.raises(InvalidDrawing, match='RGBA'):
        Drawing.from_dict(data)


def test_svg_paths_are_the_exact_cubic_curves():
    drawing = sample()
    root = ET.fromstring(drawing_io.to_svg(drawing))
    assert root.get('viewBox') == '0 0 64 48'
    assert root.find(f'{SVG}title').text == 'a <whale> & co'
    paths = root.findall(f'.//{SVG}path')
    assert len(paths) == 2
    for element, stroke in zip(paths, drawing.strokes):
        d = element.get('d')
        assert re.fullmatch(r'M [-\d. ]+( C [-\d. ]+)+', d)
        assert d.count('C') == stroke.segments
        numbers = [float(v) for v in re.findall(r'-?[\d.]+', d)]
        assert numbers == pytest.approx(stroke.flat_points(), abs=1e-3)
        assert float(element.get('stroke-width')) == stroke.width
        assert float(element.get('stroke-opacity')) == stroke.color[3]
        assert element.get('stroke-linecap') == 'round'
    assert paths[0].get('stroke') == '#ff0000' and paths[1].get('stroke') == '#0000ff'


def test_svg_of_a_palette_drawing_has_one_layer_per_pen_for_vpype(tmp_path):
    vpype = pytest.importorskip('vpype')
    path = drawing_io.save_svg(sample(palette=True), tmp_path / 'd.svg')
    document = vpype.read_multilayer_svg(str(path), quantization=0.1)
    assert sorted(document.layers) == [1, 2]
    assert all(len(lines) == 1 for lines in document.layers.values())
    line = document.layers[1][0]
    assert (line[0].real, line[0].imag) == pytest.approx((10.0, 12.5), abs=0.01)
    assert (line[-1].real, line[-1].imag) == pytest.approx((50.0, 40.0), abs=0.01)


def test_png_is_rendered_at_the_canvas_size(tmp_path):
    from PIL import Image
    drawing = sample()
    path = drawing_io.save_png(drawing, tmp_path / 'd.png')
    image = np.asarray(Image.open(path))
    assert image.shape == (48, 64, 3)
    assert image[0, 63].tolist() == [255, 255, 255]          # untouched paper is white
    assert image[:, :, 0].min() < 30                  # the opaque blue stroke
    half_red = (image[:, :, 0] > 240) & (abs(image[:, :, 2].astype(int) - 128) < 20)
    assert half_red.any()                              # the half-transparent red one


def test_save_by_extension_and_refuse_unknown_ones(tmp_path):
    drawing = sample()
    for name in ('a.svg', 'a.png', 'a.json'):
        assert (tmp_path / name).exists() is False
        drawing_io.save(drawing, tmp_path / name)
        assert (tmp_path / name).stat().st_size > 0
    with pytest.raises(InvalidOptions, match='.svg'):
        drawing_io.save(drawing, tmp_path / 'a.pdf')
    with pytest.raises(InvalidOptions, match='does not exist'):
        drawing_io.save(drawing, tmp_path / 'missing' / 'a.svg')


def test_ros_message_round_trip():
    pytest.importorskip('dream_interfaces.msg')
    drawing = sample(palette=True)
    msg = drawing_io.to_msg(drawing)
    assert msg.session_id == 's-1' and len(msg.strokes) == 2 and len(msg.palette) == 2
    assert list(msg.strokes[1].control_points)[:4] == [5.0, 5.0, 6.0, 7.0]
    assert msg.strokes[1].pen == 1 and msg.prompt_handling == 'sentences-mean:2'
    back = drawing_io.from_msg(msg)
    for a, b in zip(back.strokes, drawing.strokes):
        assert a.points == b.points and a.pen == b.pen and a.width == b.width
        assert a.color == pytest.approx(b.color)
    assert back.palette == drawing.palette
    assert (back.seed, back.iterations, back.canvas_width) == (42, 10, 64)
    assert back.prompt == drawing.prompt
    assert back.score == pytest.approx(0.3125)


def test_a_malformed_message_is_rejected():
    pytest.importorskip('dream_interfaces.msg')
    msg = drawing_io.to_msg(sample())
    msg.strokes[0].control_points = [1.0, 2.0, 3.0]
    with pytest.raises(InvalidDrawing, match='odd'):
        drawing_io.from_msg(msg)
