"""Where a drawing goes on paper: paper sizes, margins, orientation and the canvas mapping.

Semantics follow dream_interfaces/PaperSetup: zero or empty fields mean the driver's default.
The paper frame has its origin at the paper's top-left corner, x right, y down, in mm. The
canvas keeps its aspect ratio and is scaled to fit the work area (paper minus margins,
clipped to the machine's travel when the driver knows it), centred.
"""
import math
import re
from dataclasses import dataclass

import numpy as np

from dream_plotter.outcome import ErrorCode, PlotError

MAX_PEN_WIDTH_MM = 10.0    # the widest marker tip; the node parameter's range too
# A smaller work area is a typo in the paper or margins (100x100 with 49.9), not a drawing.
MIN_WORK_MM = 10.0
PAPER_SIZES_MM = {
    'A3': (297.0, 420.0), 'A4': (210.0, 297.0), 'A5': (148.0, 210.0), 'A6': (105.0, 148.0),
    'LETTER': (215.9, 279.4), 'LEGAL': (215.9, 355.6), 'TABLOID': (279.4, 431.8),
}
ORIENTATION_AUTO, ORIENTATION_PORTRAIT, ORIENTATION_LANDSCAPE = 0, 1, 2
ORIENTATION_NAMES = {'auto': ORIENTATION_AUTO, 'portrait': ORIENTATION_PORTRAIT,
                     'landscape': ORIENTATION_LANDSCAPE}
OUT_OF_BOUNDS_REJECT, OUT_OF_BOUNDS_CLIP = 0, 1


@dataclass
class PaperRequest:
    """What a goal asks for (the fields of PaperSetup)."""

    paper: str = ''
    width_mm: float = 0.0
    height_mm: float = 0.0
    margin_mm: float = 0.0
    orientation: int = ORIENTATION_AUTO
    out_of_bounds: int = OUT_OF_BOUNDS_REJECT
    pen_width_mm: float = 0.0


@dataclass
class PaperDefaults:
    """A driver's defaults, and the machine travel (0 = not limited)."""

    paper: str = 'A4'
    margin_mm: float = 10.0
    pen_width_mm: float = 0.5
    machine_width_mm: float = 0.0
    machine_height_mm: float = 0.0


@dataclass
class PaperLayout:
    paper: str
    width: float                 # mm, as oriented
    height: float
    orientation: str             # 'portrait' or 'landscape'
    margin: float
    work: tuple                  # (xmin, ymin, xmax, ymax) mm: where the pen may go
    scale: float                 # mm per canvas pixel
    offset: tuple                # paper position (mm) of canvas point (x0, y0)
    canvas_origin: tuple         # (x0, y0) px
    pen_width: float
    out_of_bounds: int
    cut_to_machine: bool = False  # the paper's work area is larger than the machine travel

    def to_paper(self, points):
        """Map (n, 2) canvas pixels to paper millimetres."""
        pts = np.asarray(points, dtype=np.float64)
        return (pts - np.asarray(self.canvas_origin)) * self.scale + np.asarray(self.offset)

    def describe(self):
        x0, y0, x1, y1 = self.work
        return (f'{self.paper} {self.orientation} {self.width:g}x{self.height:g} mm, '
                f'work area x {x0:g}..{x1:g} y {y0:g}..{y1:g} mm, '
                f'{self.scale:.4g} mm/px')


def paper_size(name):
    """(short, long) side in mm for a name like 'A4', 'letter' or '210x297'."""
    key = name.strip().upper()
    if key in PAPER_SIZES_MM:
        return PAPER_SIZES_MM[key]
    match = re.fullmatch(r'\s*([0-9.]+)\s*[xX*]\s*([0-9.]+)\s*(MM)?\s*', key)
    if not match:
        known = ', '.join(sorted(PAPER_SIZES_MM))
        raise PlotError(ErrorCode.OUT_OF_BOUNDS,
                        f'unknown paper {name!r}: use one of {known} or WIDTHxHEIGHT in mm')
    w, h = float(match.group(1)), float(match.group(2))
    return w, h


def _finite_positive(value, what):
    if not math.isfinite(value) or value < 0:
        raise PlotError(ErrorCode.OUT_OF_BOUNDS, f'{what} must be a finite number >= 0, '
                                                 f'got {value}')
    return value


def resolve_layout(request, defaults, canvas):
    """Resolve a PaperRequest against driver defaults for a canvas (x0, y0, w, h) in px."""
    for what in ('width_mm', 'height_mm', 'margin_mm', 'pen_width_mm'):
        _finite_positive(getattr(request, what), what)
    if request.width_mm > 0 and request.height_mm > 0:
        name = request.paper or f'{request.width_mm:g}x{request.height_mm:g}'
        w, h = request.width_mm, request.height_mm
    else:
        name = request.paper or defaults.paper
        w, h = paper_size(name)
    margin = request.margin_mm if request.margin_mm > 0 else defaults.margin_mm
    pen_width = request.pen_width_mm if request.pen_width_mm > 0 else defaults.pen_width_mm
    if pen_width > MAX_PEN_WIDTH_MM:   # refused before the pen moves, not when drawn out
        raise PlotError(ErrorCode.OUT_OF_BOUNDS, f'pen_width_mm must be at most '
                                                 f'{MAX_PEN_WIDTH_MM:g} mm, got {pen_width:g}')
    if request.orientation not in (ORIENTATION_AUTO, ORIENTATION_PORTRAIT,
                                   ORIENTATION_LANDSCAPE):
        raise PlotError(ErrorCode.OUT_OF_BOUNDS, f'unknown orientation {request.orientation}')
    if request.out_of_bounds not in (OUT_OF_BOUNDS_REJECT, OUT_OF_BOUNDS_CLIP):
        raise PlotError(ErrorCode.OUT_OF_BOUNDS,
                        f'unknown out_of_bounds policy {request.out_of_bounds}')
    cx, cy, cw, ch = canvas
    short, long_ = min(w, h), max(w, h)
    options = {'portrait': (short, long_), 'landscape': (long_, short)}
    if request.orientation == ORIENTATION_PORTRAIT:
        options.pop('landscape')
    elif request.orientation == ORIENTATION_LANDSCAPE:
        options.pop('portrait')
    best, sizes = None, []
    for orientation, (pw, ph) in options.items():
        x0, y0, x1, y1 = margin, margin, pw - margin, ph - margin
        cut = _cut_to_machine(defaults, x1, y1)
        x1, y1 = cut or (x1, y1)
        sizes.append(f'{max(x1 - x0, 0):g}x{max(y1 - y0, 0):g} mm')
        if x1 - x0 < MIN_WORK_MM or y1 - y0 < MIN_WORK_MM:
            continue
        sx = (x1 - x0) / cw if cw > 0 else math.inf
        sy = (y1 - y0) / ch if ch > 0 else math.inf
        scale = min(sx, sy)
        if not math.isfinite(scale):
            scale = 1.0
        # on a tie, an orientation that the machine travel holds whole wins
        if (best is None or scale > best[0] + 1e-12
                or (scale > best[0] - 1e-12 and best[5] and cut is None)):
            best = (scale, orientation, pw, ph, (x0, y0, x1, y1), cut is not None)
    if best is None:
        machine = (f' on a machine with {defaults.machine_width_mm:g}x'
                   f'{defaults.machine_height_mm:g} mm travel (0 = not limited)'
                   if defaults.machine_width_mm > 0 or defaults.machine_height_mm > 0 else '')
        raise PlotError(ErrorCode.OUT_OF_BOUNDS,
                        f'paper {name} ({w:g}x{h:g} mm) with {margin:g} mm margins leaves a '
                        f'work area of {" or ".join(dict.fromkeys(sizes))}{machine}: it must '
                        f'be at least {MIN_WORK_MM:g} mm on a side (use larger paper or smaller '
                        'margins)')
    scale, orientation, pw, ph, work, cut = best
    x0, y0, x1, y1 = work
    offset = (x0 + ((x1 - x0) - cw * scale) / 2, y0 + ((y1 - y0) - ch * scale) / 2)
    return PaperLayout(paper=name, width=pw, height=ph, orientation=orientation,
                       margin=margin, work=work, scale=scale, offset=offset,
                       canvas_origin=(cx, cy), pen_width=pen_width,
                       out_of_bounds=request.out_of_bounds, cut_to_machine=cut)


def _cut_to_machine(defaults, x1, y1):
    """(x1, y1) limited to the machine travel, or None when the travel holds them."""
    mx = defaults.machine_width_mm if defaults.machine_width_mm > 0 else math.inf
    my = defaults.machine_height_mm if defaults.machine_height_mm > 0 else math.inf
    if x1 <= mx and y1 <= my:
        return None
    return min(x1, mx), min(y1, my)
