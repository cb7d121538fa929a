"""Turn a drawing into a plotting plan: paper mapping, flattening, vpype merge/simplify/sort.

Stroke numbering. Strokes are counted in *plan order*: the order in which the plan finishes
them. Strokes that draw nothing (zero length, or clipped away entirely) come first, then the
strokes in the order the pen completes them. ``Plan.order[k]`` is the drawing index of the
k-th stroke. The plan is a deterministic function of (drawing, paper, settings), so
``start_stroke = k`` in a later goal with the same inputs skips exactly the first k strokes.

Merging. vpype's ``linemerge`` may fuse strokes whose ends touch into one pen-down path. Each
path item keeps, for every stroke it contains, the vertex at which that stroke is finished
(``marks``), so resume can start a fused path at the first vertex of any of its strokes. A
stroke that clipping cuts into several pieces is never merged, and its pieces are kept
together; it counts as finished after its last piece.
"""
import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from dream_plotter.bezier import dedupe_many, flatten_many, polyline_length
from dream_plotter.motion_profile import MotionLimits
from dream_plotter.outcome import ErrorCode, PlotError
from dream_plotter.paper import (OUT_OF_BOUNDS_CLIP, PaperDefaults, PaperRequest,
                                 resolve_layout)

MAX_COORDINATE_PX = 1e6
BOUNDS_EPS_MM = 1e-6
# How a goal asks for clipping (a command line says it its own way: see plot_verb).
CLIP_HINT = 'Ask for out_of_bounds=CLIP to clip them.'
# A pen has no transparency: strokes fainter than this (alpha, SVG opacity) are left out.
MIN_OPACITY = 0.1


@dataclass
class PlanSettings:
    tolerance_mm: float = 0.05      # Bezier flattening
    simplify_mm: float = 0.02       # vpype linesimplify (0 = off)
    merge_mm: float = 0.1           # vpype linemerge (0 = off)
    sort: bool = True               # vpype linesort (greedy)
    two_opt: bool = True            # vpype linesort --two-opt (about +0.3 s for 1024)
    two_opt_passes: int = 10
    flip: bool = True               # strokes may be drawn backwards
    min_opacity: float = MIN_OPACITY  # fainter strokes are not drawn (alpha 0 never is)
    limits: MotionLimits = field(default_factory=MotionLimits)

    def check(self):
        if not (math.isfinite(self.tolerance_mm) and self.tolerance_mm > 0):
            raise ValueError(f'tolerance_mm must be > 0, got {self.tolerance_mm}')
        for name in ('simplify_mm', 'merge_mm'):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f'{name} must be >= 0')
        if not 0.0 <= self.min_opacity <= 1.0:   # also refuses NaN
            raise ValueError(f'min_opacity must be in [0, 1], got {self.min_opacity}')
        self.limits.check()
        return self


@dataclass(frozen=True)
class PenChange:
    pen: int
    color: Tuple[float, float, float, float]


@dataclass
class PathItem:
    """One pen-down path."""

    points: np.ndarray                   # (n, 2) mm, paper frame
    pen: int
    strokes: Tuple[int, ...]             # drawing indices along the path
    done_before: int                     # strokes finished before this path starts
    marks: Tuple[Tuple[int, int], ...]   # (vertex, strokes finished once it is reached)

    @property
    def done_after(self):
        return self.marks[-1][1] if self.marks else self.done_before

    @property
    def length(self):
        return polyline_length(self.points)

    def starting_at(self, start_stroke):
        """This path from the first vertex of the stroke numbered ``start_stroke``."""
        if start_stroke <= self.done_before:
            return self
        for vertex, count in self.marks:
            if count == start_stroke:
                first = vertex + 1
                marks = tuple((v - first, c) for v, c in self.marks if c > start_stroke)
                return PathItem(self.points[first:], self.pen, self.strokes, start_stroke,
                                marks)
        raise ValueError(f'stroke {start_stroke} does not start in this path')


@dataclass
class Plan:
    items: list                          # PathItem and PenChange, in execution order
    order: List[int]                     # plan order -> drawing stroke index
    strokes_total: int
    skipped: List[Tuple[int, str]]       # (drawing index, reason): counted as done first
    layout: object
    settings: PlanSettings
    palette: list
    warnings: List[str] = field(default_factory=list)
    clipped: List[int] = field(default_factory=list)

    @property
    def paths(self):
        return [i for i in self.items if isinstance(i, PathItem)]

    def steps_from(self, start_stroke=0):
        """The items to execute to draw strokes ``start_stroke``.. (a pen change is added
        when resuming into a pen group other than the first)."""
        start = int(start_stroke)
        if start < 0 or start > self.strokes_total:
            raise PlotError(ErrorCode.INVALID_DRAWING,
                            f'start_stroke {start} is outside 0..{self.strokes_total}')
        steps = []
        pending_change: Optional[PenChange] = None
        for item in self.items:
            if isinstance(item, PenChange):
                pending_change = item
                continue
            if item.done_after <= start and item.marks:
                continue
            if not item.marks and item.done_before < start:
                continue
            if pending_change is not None:
                steps.append(pending_change)
                pending_change = None
            steps.append(item.starting_at(start) if item.done_before < start else item)
        return steps

    @property
    def first_pen(self):
        paths = self.paths
        return paths[0].pen if paths else 0

    def pen_color(self, pen):
        if 0 <= pen < len(self.palette):
            return tuple(self.palette[pen])
        return (0.0, 0.0, 0.0, 1.0)


# --- planning -----------------------------------------------------------------------------

def _validate(drawing):
    if not drawing.strokes:
        raise PlotError(ErrorCode.INVALID_DRAWING, 'the drawing has no strokes')
    bad, huge = [], []
    for i, s in enumerate(drawing.strokes):
        if len(s.points) == 0 or not np.all(np.isfinite(s.points)):
            bad.append(i)
        elif np.abs(s.points).max() > MAX_COORDINATE_PX:
            huge.append(i)
    if bad:
        raise PlotError(ErrorCode.INVALID_DRAWING,
                        f'{len(bad)} stroke(s) have no points or NaN/infinite coordinates '
                        f'(first: {_first(bad)})')
    if huge:
        raise PlotError(ErrorCode.INVALID_DRAWING,
                        f'{len(huge)} stroke(s) have coordinates beyond +-{MAX_COORDINATE_PX:g}'
                        f' px (first: {_first(huge)})')
    if drawing.palette:
        wrong = [i for i, s in enumerate(drawing.strokes)
                 if not 0 <= s.pen < len(drawing.palette)]
        if wrong:
            raise PlotError(ErrorCode.INVALID_DRAWING,
                            f'{len(wrong)} stroke(s) use a pen outside the palette of '
                            f'{len(drawing.palette)} (first: {_first(wrong)})')
    for name in ('canvas_width', 'canvas_height'):
        value = getattr(drawing, name)
        if not math.isfinite(value) or value < 0 or value > MAX_COORDINATE_PX:
            raise PlotError(ErrorCode.INVALID_DRAWING, f'{name} {value} is unusable')


def _first(indices, n=8):
    head = ', '.join(str(i) for i in indices[:n])
    return head + (', ...' if len(indices) > n else '')


def _canvas(drawing):
    if drawing.canvas_width > 0 and drawing.canvas_height > 0:
        return (0.0, 0.0, float(drawing.canvas_width), float(drawing.canvas_height))
    pts = np.vstack([s.points for s in drawing.strokes])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))


def _flatten_all(drawing, layout, tolerance):
    """Flattened, de-duplicated polylines (mm) for every stroke, in drawing order."""
    mm = [layout.to_paper(s.points) for s in drawing.strokes]
    curves = [i for i, s in enumerate(drawing.strokes) if not s.polyline]
    polys = list(mm)
    for i, poly in zip(curves, flatten_many([mm[i] for i in curves], tolerance)):
        polys[i] = poly
    return dedupe_many(polys)


def _outside_many(polys, work):
    x0, y0, x1, y1 = work
    e = BOUNDS_EPS_MM
    counts = np.array([len(p) for p in polys])
    pts = np.vstack(polys)
    out = ((pts[:, 0] < x0 - e) | (pts[:, 0] > x1 + e)
           | (pts[:, 1] < y0 - e) | (pts[:, 1] > y1 + e))
    return np.logical_or.reduceat(out, np.cumsum(counts) - counts)


def _as_complex(poly):
    return np.ascontiguousarray(poly[:, 0] + 1j * poly[:, 1])


def _as_points(line):
    return np.column_stack([line.real, line.imag])


class _Lines:
    """Recovers which input lines make up vpype's output lines, by exact vertex values.

    vpype's merge concatenates (possibly reversed) input lines and its sort reorders (and
    possibly reverses) them without changing a coordinate, so every output line splits
    uniquely enough into input lines; duplicates are interchangeable.
    """

    def __init__(self, lines):
        self.lines = lines
        self.by_start = {}
        for i, line in enumerate(lines):
            self.by_start.setdefault(line[0], []).append((i, False))
            self.by_start.setdefault(line[-1], []).append((i, True))
        self.used = set()

    def decompose(self, out):
        parts = []
        if not self._walk(out, 0, parts):
            raise PlotError(ErrorCode.INTERNAL, 'could not map a vpype output line back to '
                                                'the input strokes')
        return parts

    def _walk(self, out, pos, parts):
        if pos == len(out):
            return True
        candidates = sorted(self.by_start.get(out[pos], ()),
                            key=lambda c: -len(self.lines[c[0]]))
        for i, flipped in candidates:
            if i in self.used:
                continue
            line = self.lines[i][::-1] if flipped else self.lines[i]
            n = len(line)
            if pos + n <= len(out) and np.array_equal(out[pos:pos + n], line):
                self.used.add(i)
                parts.append((i, flipped, pos, pos + n - 1))
                if self._walk(out, pos + n, parts):
                    return True
                self.used.discard(i)
                parts.pop()
        return False


def _vpype_lines(lines, pipeline):
    import vpype as vp
    import vpype_cli
    doc = vp.Document()
    doc.add(vp.LineCollection(lines), 1)
    out = vpype_cli.execute(pipeline, doc)
    return [np.asarray(line) for line in out.layers.get(1, [])] if out.layers else []


def _simplify(lines, tolerance):
    if tolerance <= 0 or not lines:
        return lines
    out = _vpype_lines(lines, f'linesimplify -t {tolerance!r}')
    if len(out) != len(lines):
        return lines
    result = []
    for original, simple in zip(lines, out):
        keep = len(simple) >= 2 and np.abs(np.diff(simple)).sum() > 0
        result.append(simple if keep else original)
    return result


def _merge_candidates(lines, tolerance):
    """Indices of lines with an end within ``tolerance`` of another line's end.

    Only these can be fused by vpype's linemerge, so only these are handed to it: the
    result is the same and random drawings (few touching strokes) plan much faster.
    """
    if tolerance <= 0 or len(lines) < 2:
        return []
    from scipy.spatial import cKDTree
    ends = np.array([[line[0].real, line[0].imag] for line in lines]
                    + [[line[-1].real, line[-1].imag] for line in lines])
    pairs = cKDTree(ends).query_pairs(tolerance * (1 + 1e-9), output_type='ndarray')
    owner = np.concatenate([np.arange(len(lines))] * 2)
    a, b = owner[pairs[:, 0]], owner[pairs[:, 1]]
    touching = a != b
    return sorted(set(a[touching].tolist()) | set(b[touching].tolist()))


def _plan_group(units, settings, anchor):
    """Order one pen's strokes. ``units`` are (stroke index, [complex pieces]).

    Returns a list of paths, each a list of (unit number, piece number, flipped, first
    vertex, last vertex) plus its complex vertex array.
    """
    pieces, owner = [], []
    for u, (_, plist) in enumerate(units):
        for p, piece in enumerate(plist):
            pieces.append(piece)
            owner.append((u, p))
    pieces = _simplify(pieces, settings.simplify_mm)
    single = [k for k, (u, _) in enumerate(owner) if len(units[u][1]) == 1]
    multi = [k for k, (u, _) in enumerate(owner) if len(units[u][1]) > 1]
    flip = '' if settings.flip else ' --no-flip'

    # merge the single-piece strokes
    paths = []  # (complex vertices, [(piece k, flipped, v0, v1)])
    mergeable = _merge_candidates([pieces[k] for k in single], settings.merge_mm)
    candidates = [single[j] for j in mergeable]
    alone = sorted(set(single) - set(candidates))
    if len(candidates) > 1:
        lines = [pieces[k] for k in candidates]
        merged = _vpype_lines(lines, f'linemerge -t {settings.merge_mm!r}{flip}')
        finder = _Lines(lines)
        for line in merged:
            parts = finder.decompose(line)
            paths.append((line, [(candidates[i], f, a, b) for i, f, a, b in parts]))
    else:
        alone = single
    for k in alone:
        paths.append((pieces[k], [(k, False, 0, len(pieces[k]) - 1)]))
    for k in multi:
        paths.append((pieces[k], [(k, False, 0, len(pieces[k]) - 1)]))

    # sort, starting from where the pen is; vpype's 2-opt may move the anchor off the front
    # and ignores the way home, so it can lengthen the travel: keep the shorter order
    if settings.sort and len(paths) > 1:
        ordered = _together(_sort(paths, anchor, 'linesort' + flip), multi, owner)
        if settings.two_opt:
            cmd = f'linesort{flip} --two-opt --passes {int(settings.two_opt_passes)}'
            better = _together(_sort(paths, anchor, cmd), multi, owner)
            if _travel(better, anchor) <= _travel(ordered, anchor):
                ordered = better
        paths = ordered
    else:
        paths = _together(paths, multi, owner)
    return [(vertices, [(owner[k][0], owner[k][1], f, a, b) for k, f, a, b in parts])
            for vertices, parts in paths]


def _sort(paths, anchor, cmd):
    """``paths`` ordered by the vpype command ``cmd``, from a dummy line at ``anchor``."""
    dummy = np.array([anchor, anchor], dtype=complex)
    lines = [dummy] + [p[0] for p in paths]
    out = _vpype_lines(lines, cmd)
    finder = _Lines(lines)
    finder.used.add(0)
    ordered = []
    for line in out:
        if len(line) == 2 and line[0] == line[1]:
            continue  # the anchor: real paths never have zero length
        (i, flipped, _, _), = finder.decompose(line)
        vertices, parts = paths[i - 1]
        if flipped:
            n = len(vertices) - 1
            parts = [(k, not f, n - b, n - a) for k, f, a, b in reversed(parts)]
            vertices = vertices[::-1]
        ordered.append((vertices, parts))
    return ordered


def _together(paths, multi, owner):
    """Keep the pieces of a clipped stroke together, at the place of its first piece."""
    if not multi:
        return paths
    grouped, seen = [], set()
    unit_of = {k: owner[k][0] for k in multi}
    by_unit = {}
    for path in paths:
        k = path[1][0][0]
        if k in unit_of:
            by_unit.setdefault(unit_of[k], []).append(path)
    for path in paths:
        k = path[1][0][0]
        if k in unit_of:
            u = unit_of[k]
            if u not in seen:
                seen.add(u)
                grouped.extend(by_unit[u])
        else:
            grouped.append(path)
    return grouped


def _travel(paths, anchor, home=0j):
    """Pen-up travel from ``anchor`` through ``paths`` and back home (a pen change or the
    end of the plot returns there), as the timeline and ``dream bench plot`` count it."""
    ups = np.array([anchor] + [p[0][-1] for p in paths])
    downs = np.array([p[0][0] for p in paths] + [home])
    return float(np.abs(downs - ups).sum())


def too_faint(stroke, min_opacity):
    """Whether a stroke is too transparent to plot: invisible (alpha 0) or fainter than
    ``min_opacity``, since a pen lays down full ink whatever the drawing's alpha."""
    alpha = float(stroke.color[3])
    return not alpha > 0.0 or alpha < min_opacity


def plan_drawing(drawing, request=None, defaults=None, settings=None):
    """Plan a DrawingData for paper; raises PlotError with the PlotResult code on bad input."""
    request = request or PaperRequest()
    defaults = defaults or PaperDefaults()
    settings = (settings or PlanSettings()).check()
    _validate(drawing)
    layout = resolve_layout(request, defaults, _canvas(drawing))
    warnings = list(drawing.warnings)
    if layout.cut_to_machine:
        x0, y0, x1, y1 = layout.work
        warnings.append(f'the work area of {layout.paper} with {layout.margin:g} mm margins is '
                        f'larger than the machine travel ({defaults.machine_width_mm:g}x'
                        f'{defaults.machine_height_mm:g} mm, 0 = not limited): drawing within '
                        f'x {x0:g}..{x1:g} y {y0:g}..{y1:g} mm')
    skipped, clipped, outside, faint = [], [], [], []
    groups = {}
    faint_reason = f'fainter than min_opacity {settings.min_opacity:g}'
    polys = _flatten_all(drawing, layout, settings.tolerance_mm)
    outside_mask = _outside_many(polys, layout.work)
    x0, y0, x1, y1 = layout.work
    for i, stroke in enumerate(drawing.strokes):
        if too_faint(stroke, settings.min_opacity):
            faint.append(i)
            skipped.append((i, faint_reason))
            continue
        poly = polys[i]
        if len(poly) < 2:
            skipped.append((i, 'zero length'))
            continue
        pieces = [_as_complex(poly)]
        if outside_mask[i]:
            outside.append(i)
            if layout.out_of_bounds == OUT_OF_BOUNDS_CLIP:
                import vpype as vp
                pieces = [p for p in vp.crop(pieces[0], x0, y0, x1, y1)
                          if len(p) >= 2 and np.abs(np.diff(p)).sum() > 1e-9]
                clipped.append(i)
                if not pieces:
                    skipped.append((i, 'outside the work area'))
                    continue
        pen = stroke.pen if drawing.palette else 0
        groups.setdefault(pen, []).append((i, pieces))
    if outside and layout.out_of_bounds != OUT_OF_BOUNDS_CLIP:
        raise PlotError(ErrorCode.OUT_OF_BOUNDS,
                        f'{len(outside)} stroke(s) leave the work area ({layout.describe()}); '
                        f'first: {_first(outside)}. {CLIP_HINT}')
    if not groups:
        reasons = sorted({r for _, r in skipped})
        why = ' (a pen has no transparency)' if faint else ''
        raise PlotError(ErrorCode.INVALID_DRAWING,
                        f'nothing to draw: all {len(drawing.strokes)} strokes are '
                        + ' or '.join(reasons) + why)
    if clipped:
        warnings.append(f'{len(clipped)} stroke(s) clipped to the work area '
                        f'(first: {_first(clipped)})')
    if faint:
        warnings.append(f'{len(faint)} stroke(s) {faint_reason} are not drawn and count as '
                        f'done first (first: {_first(faint)})')
    empty = [i for i, r in skipped if r != faint_reason]
    if empty:
        warnings.append(f'{len(empty)} stroke(s) draw nothing and count as done first '
                        f'(first: {_first(empty)})')
    order = [i for i, _ in skipped]
    items = []
    done = len(order)
    anchor = 0j
    for g, pen in enumerate(sorted(groups)):
        units = groups[pen]
        if g > 0:
            items.append(PenChange(pen, _color(drawing.palette, pen)))
            anchor = 0j
        for vertices, parts in _plan_group(units, settings, anchor):
            marks, strokes, done_before = [], [], done
            for u, p, _, _, last in parts:
                index, plist = units[u]
                strokes.append(index)
                if p == len(plist) - 1:
                    done += 1
                    order.append(index)
                    marks.append((last, done))
            items.append(PathItem(_as_points(vertices), pen, tuple(strokes), done_before,
                                  tuple(marks)))
            anchor = vertices[-1]
    return Plan(items=items, order=order, strokes_total=len(drawing.strokes),
                skipped=skipped, layout=layout, settings=settings,
                palette=[tuple(c) for c in drawing.palette], warnings=warnings,
                clipped=clipped)


def _color(palette, pen):
    return tuple(palette[pen]) if 0 <= pen < len(palette) else (0.0, 0.0, 0.0, 1.0)
