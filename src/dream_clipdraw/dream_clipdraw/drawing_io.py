"""A Drawing to and from files (JSON, SVG, PNG) and the dream_interfaces/Drawing message.

The SVG keeps the exact cubic curves (``M``/``C`` path commands, one path per stroke, no
polyline approximation) so a plotter tool such as vpype gets what the optimiser made.
Strokes of a palette drawing are grouped per pen: one top-level group per pen, labelled
``layer N (pen N-1)``, which vpype reads as layer N; free-colour drawings keep their
compositing order in one group (layer 1).
The ROS conversion imports dream_interfaces only when called, so files work without ROS.
"""
import json
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from dream_clipdraw.drawing import Drawing, Stroke
from dream_clipdraw.errors import InvalidDrawing, InvalidOptions


def save_json(drawing, path):
    Path(path).write_text(json.dumps(drawing.to_dict(), indent=1), encoding='utf-8')
    return str(path)


def load_json(path):
    """Read a drawing JSON file; InvalidDrawing (with the reason) if it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding='utf-8'))
    except OSError as exc:
        raise InvalidDrawing(f'cannot read drawing file {path}: {exc.strerror or exc}') from exc
    except ValueError as exc:
        raise InvalidDrawing(f'{path} is not JSON: {exc}') from exc
    return Drawing.from_dict(data)


def _num(value):
    text = f'{float(value):.3f}'.rstrip('0').rstrip('.')
    return '0' if text in ('-0', '') else text


def path_data(stroke):
    """SVG path data of one stroke: M x0 y0 C x1 y1 x2 y2 x3 y3 [C ...]."""
    pts = [f'{_num(x)} {_num(y)}' for x, y in stroke.points]
    curves = ' '.join('C ' + ' '.join(pts[i:i + 3]) for i in range(1, len(pts), 3))
    return f'M {pts[0]} {curves}'


def _hex(color):
    return '#' + ''.join(f'{round(min(max(c, 0.0), 1.0) * 255):02x}' for c in color[:3])


def to_svg(drawing):
    """The drawing as an SVG document (a string)."""
    w, h = int(drawing.canvas_width), int(drawing.canvas_height)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" '
           f'xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" '
           f'width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
           f'<title>{escape(drawing.prompt)}</title>']
    if drawing.palette:
        groups = [(f'layer {i + 1} (pen {i})', [s for s in drawing.strokes if s.pen == i])
                  for i in range(len(drawing.palette))]
    else:
        groups = [('layer 1 (strokes)', list(drawing.strokes))]
    for index, (label, strokes) in enumerate(groups):
        if not strokes:
            continue
        out.append(f'<g id="layer{index + 1}" inkscape:groupmode="layer" '
                   f'inkscape:label={quoteattr(label)} fill="none">')
        for s in strokes:
            out.append(f'<path d="{path_data(s)}" stroke="{_hex(s.color)}" '
                       f'stroke-opacity="{_num(s.color[3])}" stroke-width="{_num(s.width)}" '
                       'stroke-linecap="round" stroke-linejoin="round"/>')
        out.append('</g>')
    out.append('</svg>')
    return '\n'.join(out) + '\n'


def save_svg(drawing, path):
    Path(path).write_text(to_svg(drawing), encoding='utf-8')
    return str(path)


def render_image(drawing, *, renderer='torch', samples=2, scale=1.0):
    """(H, W, 3) uint8 numpy image of the drawing, composited on white."""
    import torch

    from dream_clipdraw.rasterizer import get_renderer
    render = get_renderer(renderer) if isinstance(renderer, str) else renderer
    height = max(1, round(drawing.canvas_height * scale))
    width = max(1, round(drawing.canvas_width * scale))
    with torch.no_grad():
        points = [torch.tensor(s.points, dtype=torch.float32) * scale for s in drawing.strokes]
        widths = torch.tensor([s.width * scale for s in drawing.strokes], dtype=torch.float32)
        colors = torch.tensor([list(s.color) for s in drawing.strokes],
                              dtype=torch.float32).reshape(-1, 4)
        image = render(points, widths, colors, (height, width), samples=samples)
    return (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def save_png(drawing, path, **kwargs):
    from PIL import Image
    Image.fromarray(render_image(drawing, **kwargs)).save(path)
    return str(path)


WRITERS = {'.svg': save_svg, '.png': save_png, '.json': save_json}


def check_writable(path, suffixes=tuple(WRITERS)):
    """Fail before a long optimisation, not after it, on an output path that cannot work."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise InvalidOptions(f"cannot write '{path}': use a file name ending in "
                             f"{' or '.join(suffixes)}")
    parent = path.parent if str(path.parent) else Path('.')
    if not parent.is_dir():
        raise InvalidOptions(f"cannot write '{path}': folder {parent} does not exist")
    if path.is_dir():
        raise InvalidOptions(f"cannot write '{path}': it is a folder")
    # Permissions, a read-only or pseudo file system, an immutable folder: only trying tells.
    try:
        if path.exists():
            with open(path, 'ab'):
                pass
        else:
            with tempfile.NamedTemporaryFile(dir=parent, prefix='.dream-write-test-'):
                pass
    except OSError as exc:
        raise InvalidOptions(f"cannot write '{path}': {exc.strerror or exc}") from None


def save(drawing, path):
    """Write by extension: .svg, .png or .json."""
    check_writable(path)
    return WRITERS[Path(path).suffix.lower()](drawing, path)


def to_msg(drawing, *, session_id=None, stamp=None, frame_id=''):
    """A dream_interfaces/Drawing message (imported here, so files work without ROS)."""
    from dream_interfaces.msg import Drawing as DrawingMsg, Stroke as StrokeMsg
    from std_msgs.msg import ColorRGBA

    msg = DrawingMsg()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.session_id = drawing.session_id if session_id is None else session_id
    msg.prompt = drawing.prompt
    msg.negative_prompts = list(drawing.negative_prompts)
    msg.canvas_width = int(drawing.canvas_width)
    msg.canvas_height = int(drawing.canvas_height)
    for s in drawing.strokes:
        r, g, b, a = (float(c) for c in s.color)
        msg.strokes.append(StrokeMsg(control_points=s.flat_points(), width=float(s.width),
                                     color=ColorRGBA(r=r, g=g, b=b, a=a), pen=int(s.pen)))
    msg.palette = [ColorRGBA(r=float(c[0]), g=float(c[1]), b=float(c[2]),
                             a=float(c[3]) if len(c) > 3 else 1.0) for c in drawing.palette]
    msg.seed = int(drawing.seed) & 0xFFFFFFFF
    msg.preset = drawing.preset
    msg.clip_model = drawing.clip_model
    msg.clip_pretrained = drawing.clip_pretrained
    msg.renderer = drawing.renderer
    msg.iterations = int(drawing.iterations)
    msg.score = float(drawing.score)
    msg.prompt_truncated = bool(drawing.prompt_truncated)
    msg.prompt_handling = drawing.prompt_handling
    msg.generation_time = float(drawing.generation_time)
    return msg


def from_msg(msg):
    """A Drawing from a dream_interfaces/Drawing message; InvalidDrawing if malformed."""
    strokes = []
    for i, s in enumerate(msg.strokes):
        flat = [float(v) for v in s.control_points]
        if len(flat) % 2:
            raise InvalidDrawing(f'stroke {i} has an odd number of coordinates ({len(flat)})')
        strokes.append(Stroke(points=[flat[j:j + 2] for j in range(0, len(flat), 2)],
                              width=float(s.width),
                              color=(s.color.r, s.color.g, s.color.b, s.color.a),
                              pen=int(s.pen)))
    drawing = Drawing(
        strokes=strokes, canvas_width=int(msg.canvas_width),
        canvas_height=int(msg.canvas_height), prompt=msg.prompt,
        negative_prompts=list(msg.negative_prompts),
        palette=[(c.r, c.g, c.b, c.a) for c in msg.palette], seed=int(msg.seed),
        preset=msg.preset, clip_model=msg.clip_model, clip_pretrained=msg.clip_pretrained,
        renderer=msg.renderer, iterations=int(msg.iterations), score=float(msg.score),
        prompt_truncated=bool(msg.prompt_truncated), prompt_handling=msg.prompt_handling,
        generation_time=float(msg.generation_time), session_id=msg.session_id)
    drawing.validate()
    return drawing
