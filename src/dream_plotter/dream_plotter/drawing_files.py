"""Read drawings from their JSON form or from an SVG file.

The JSON reader is deliberately tolerant (the generator side evolves separately): points as
[[x, y], ...] or flat [x0, y0, ...], colours in 0..1 or 0..255, lists or {r, g, b, a}, a bare
list of strokes. SVG paths are read with svgelements (vpype's own SVG parser) and every
segment is turned into cubic control points, so the planner sees one representation.
"""
import json
import pathlib
import re
from dataclasses import replace

import numpy as np

from dream_plotter.drawing_model import BLACK, DrawingData, make_stroke
from dream_plotter.outcome import ErrorCode, PlotError


def _color(value, where, warnings):
    if value is None:
        return BLACK
    if isinstance(value, dict):
        value = [value.get('r', 0.0), value.get('g', 0.0), value.get('b', 0.0),
                 value.get('a', 1.0)]
    if isinstance(value, str):
        from svgelements import Color
        c = Color(value)
        return (c.red / 255, c.green / 255, c.blue / 255, c.alpha / 255)
    vals = [float(v) for v in value]
    if len(vals) not in (3, 4):
        raise ValueError(f'{where}: a colour needs 3 or 4 components, got {len(vals)}')
    if any(v > 1.0 for v in vals):
        vals = [v / 255.0 for v in vals]
    if len(vals) == 3:
        vals.append(1.0)
    clipped = [min(max(v, 0.0), 1.0) for v in vals]
    if clipped != vals:
        warnings.append(f'{where}: colour components clipped to [0, 1]')
    return tuple(clipped)


def drawing_from_dict(data):
    """Build a DrawingData from the JSON shape documented in the package README."""
    warnings = []
    if isinstance(data, list):
        data = {'strokes': data}
    if not isinstance(data, dict):
        raise PlotError(ErrorCode.INVALID_DRAWING, 'a drawing JSON must be an object or a list')
    strokes_in = data.get('strokes', data.get('paths'))
    if strokes_in is None:
        raise PlotError(ErrorCode.INVALID_DRAWING, 'the drawing JSON has no "strokes" list')
    canvas = data.get('canvas')
    width = data.get('canvas_width', data.get('width', canvas[0] if canvas else 0))
    height = data.get('canvas_height', data.get('height', canvas[1] if canvas else 0))
    try:
        palette = [_color(c, f'palette[{i}]', warnings)
                   for i, c in enumerate(data.get('palette') or [])]
        strokes = []
        for i, s in enumerate(strokes_in):
            if isinstance(s, dict):
                points = s.get('control_points', s.get('points'))
                if points is None:
                    raise ValueError(f'stroke {i}: no "control_points"')
                strokes.append(make_stroke(
                    points, s.get('width', s.get('stroke_width', 1.0)),
                    _color(s.get('color'), f'stroke {i}', warnings), s.get('pen', 0), i,
                    warnings))
            else:
                strokes.append(make_stroke(s, index=i, warnings=warnings))
        return DrawingData(strokes=strokes, canvas_width=float(width or 0),
                           canvas_height=float(height or 0), palette=palette,
                           prompt=str(data.get('prompt', '')),
                           session_id=str(data.get('session_id', '')), warnings=warnings)
    except (TypeError, ValueError) as exc:
        raise PlotError(ErrorCode.INVALID_DRAWING, f'unreadable drawing JSON: {exc}') from exc


def _segments_to_chains(path):
    """Cubic control-point chains, one per subpath, from an svgelements Path."""
    from svgelements import Arc, Close, CubicBezier, Line, Move, QuadraticBezier
    chains, chain = [], []

    def start(p):
        nonlocal chain
        if len(chain) > 1:
            chains.append(chain)
        chain = [complex(p.x, p.y)]

    for seg in path:
        if isinstance(seg, Move):
            start(seg.end)
            continue
        if not chain:
            start(seg.start)
        p0 = chain[-1]
        if isinstance(seg, (Line, Close)):
            if seg.end is None:
                continue
            p3 = complex(seg.end.x, seg.end.y)
            if isinstance(seg, Close) and abs(p3 - p0) < 1e-12:
                continue
            chain += [p0 + (p3 - p0) / 3, p0 + 2 * (p3 - p0) / 3, p3]
        elif isinstance(seg, CubicBezier):
            chain += [complex(q.x, q.y) for q in (seg.control1, seg.control2, seg.end)]
        elif isinstance(seg, QuadraticBezier):
            c = complex(seg.control.x, seg.control.y)
            p3 = complex(seg.end.x, seg.end.y)
            chain += [p0 + 2 * (c - p0) / 3, p3 + 2 * (c - p3) / 3, p3]
        elif isinstance(seg, Arc):
            for cub in seg.as_cubic_curves():
                chain += [complex(q.x, q.y) for q in (cub.control1, cub.control2, cub.end)]
    if len(chain) > 1:
        chains.append(chain)
    return chains


_INKSCAPE_LABEL = '{http://www.inkscape.org/namespaces/inkscape}label'
_DIGITS = re.compile(r'\d+')


def _layer_id(group, order):
    """vpype's layer number of a top-level group, so pens match what vpype would plot.

    The first digit run of inkscape:label, else of id, else the group's order; 0 counts as 1.
    ``dream draw`` labels its layers ``layer N (pen N-1)``, so this reads its pens back.
    """
    for text in (group.values.get(_INKSCAPE_LABEL), group.values.get('id')):
        match = _DIGITS.search(text or '')
        if match:
            return max(int(match.group()), 1)
    return order + 1


_OUR_PEN = re.compile(r'\(pen (\d+)\)')     # dream_clipdraw's layer labels: "layer 3 (pen 2)"


def _svg_layers(svg):
    """(pen, [(element, opacity)]) per top-level element in document order.

    As in vpype, each top-level group is a layer and other top-level content is layer 1.
    Layers labelled by ``dream draw`` keep their pen (an unused pen leaves a gap, as in the
    palette it drew with); other layers become pens in the order of their vpype numbers, so
    an editor's ids (``g123``) never ask for a hundred pens.
    """
    from svgelements import Group
    layers, groups = [], 0
    for top in svg:
        if isinstance(top, Group):
            label = _OUR_PEN.search(top.values.get(_INKSCAPE_LABEL) or '')
            layers.append((_layer_id(top, groups), label and int(label.group(1)),
                           list(_with_opacity(top))))
            groups += 1
        else:
            layers.append((1, None, list(_with_opacity(top))))
    ours = all(pen is not None for _, pen, _ in layers)
    rank = {layer: i for i, layer in enumerate(sorted({layer for layer, _, _ in layers}))}
    for layer, pen, elements in layers:
        yield (pen if ours else rank[layer]), elements


_OPACITY_STYLE = re.compile(r'(?:^|[;\s])opacity\s*:\s*([^;]+)')


def _own_opacity(element):
    """The element's own ``opacity`` (attribute, or its style, which wins), 1 if none.

    svgelements copies a parent's opacity into a child that has none instead of multiplying
    them, so the product along the tree is taken from the raw attributes (_with_opacity).
    """
    attributes = element.values.get('attributes') or {}
    text = attributes.get('opacity')
    match = _OPACITY_STYLE.search(attributes.get('style') or '')
    if match:
        text = match.group(1)
    if text is None:
        return 1.0
    text = text.strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith('%') else float(text)
    except ValueError:
        return 1.0          # unreadable: as a browser ignores it
    return min(max(value, 0.0), 1.0) if value == value else 1.0


def _with_opacity(element, opacity=1.0):
    """(element, opacity) for ``element`` and everything under it, depth first; opacity is
    the product of ``opacity`` along the way, as a renderer composites groups."""
    from svgelements import Group, Use
    opacity *= _own_opacity(element)
    yield element, opacity
    if isinstance(element, (Group, Use)):
        for child in element:
            yield from _with_opacity(child, opacity)


def _is_hidden(element):
    # svgelements already drops display:none; visibility is inherited into values.
    return element.values.get('visibility') in ('hidden', 'collapse')


def drawing_from_svg(path):
    """Read every visible stroked shape of an SVG as Bezier strokes (fills are ignored).

    Shapes without a stroke draw nothing on screen, so they are not plotted either. Top-level
    groups are layers, each a pen (see _svg_layers); with two or more pens the palette holds
    each pen's stroke colour, so a multi-pen ``dream draw`` SVG plots with the pen changes of
    its JSON. A single layer stays one free-colour pen.
    """
    from svgelements import SVG, Path, Shape, Text
    warnings = []
    try:
        svg = SVG.parse(str(path), reify=True)
    except Exception as exc:  # svgelements raises many types on bad XML
        raise PlotError(ErrorCode.INVALID_DRAWING, f'unreadable SVG {path}: {exc}') from exc
    strokes, pen_colors, has_text = [], {}, False
    for pen, elements in _svg_layers(svg):
        for element, opacity in elements:
            if _is_hidden(element):
                continue
            if isinstance(element, Text):
                has_text = True
                continue
            stroke = getattr(element, 'stroke', None)
            if not isinstance(element, Shape) or stroke is None or stroke.value is None:
                continue
            shape = element if isinstance(element, Path) else Path(element)
            # stroke-opacity is already in the colour's alpha; the planner drops faint ones
            color = (stroke.red / 255, stroke.green / 255, stroke.blue / 255,
                     stroke.alpha / 255 * opacity)
            width = float(element.stroke_width or 1.0)
            for chain in _segments_to_chains(shape):
                pts = np.array([[c.real, c.imag] for c in chain])
                strokes.append(make_stroke(pts, width, color, pen, len(strokes), warnings))
                pen_colors.setdefault(pen, color)
    palette = []
    if len(pen_colors) > 1:
        palette = [pen_colors.get(pen, BLACK) for pen in range(max(pen_colors) + 1)]
    else:
        strokes = [replace(s, pen=0) for s in strokes]
    if has_text:
        warnings.append('SVG text is not plotted: convert it to paths first '
                        '(Inkscape: Path > Object to Path)')
    width = float(svg.width or 0) if svg.width else 0.0
    height = float(svg.height or 0) if svg.height else 0.0
    return DrawingData(strokes=strokes, canvas_width=width, canvas_height=height,
                       palette=palette, warnings=warnings)


def load_drawing(path):
    """Read a drawing from a .json or .svg file."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise PlotError(ErrorCode.INVALID_DRAWING,
                        f'{path} is a folder: give a drawing file (.json or .svg)')
    if not path.is_file():
        raise PlotError(ErrorCode.INVALID_DRAWING, f'no such drawing file: {path}')
    if path.suffix.lower() == '.svg':
        return drawing_from_svg(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlotError(ErrorCode.INVALID_DRAWING, f'{path} is not valid JSON: {exc}') from exc
    return drawing_from_dict(data)


def drawing_to_dict(drawing):
    """The JSON form of a DrawingData (the shape drawing_from_dict reads)."""
    return {
        'canvas_width': drawing.canvas_width, 'canvas_height': drawing.canvas_height,
        'prompt': drawing.prompt, 'session_id': drawing.session_id,
        'palette': [list(c) for c in drawing.palette],
        'strokes': [{'control_points': s.points.tolist(), 'width': s.width,
                     'color': list(s.color), 'pen': s.pen} for s in drawing.strokes],
    }
