"""A drawing as the planner sees it: strokes of cubic Bezier control points in canvas pixels.

Plain dataclasses filled from a dream_interfaces/Drawing message, its JSON form or an SVG,
so the planner never depends on where a drawing came from.
"""
from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np

Color = Tuple[float, float, float, float]
BLACK: Color = (0.0, 0.0, 0.0, 1.0)


@dataclass
class StrokeData:
    """One open stroke.

    ``points`` holds 3k+1 control points for k cubic segments. ``polyline`` marks a stroke
    whose point count is not of that form (tolerated input): its points are joined by
    straight lines instead.
    """

    points: np.ndarray                 # (n, 2) float64, canvas pixels
    width: float = 1.0                 # pixels
    color: Color = BLACK               # RGBA in [0, 1]
    pen: int = 0
    polyline: bool = False


@dataclass
class DrawingData:
    strokes: List[StrokeData] = field(default_factory=list)
    canvas_width: float = 0.0          # 0: use the strokes' bounds
    canvas_height: float = 0.0
    palette: List[Color] = field(default_factory=list)
    prompt: str = ''
    session_id: str = ''
    warnings: List[str] = field(default_factory=list)


def chain_kind(count):
    """Return (is_polyline, warning) for a stroke of ``count`` control points."""
    if count >= 4 and (count - 1) % 3 == 0:
        return False, ''
    if count == 2:
        return True, ''
    if count <= 1:
        return True, ''
    return True, (f'{count} control points is not 3k+1: drawn as a polyline through them')


def make_stroke(points, width=1.0, color=BLACK, pen=0, index=None, warnings=None):
    """Build a StrokeData from an (n, 2) or flat (2n,) point sequence, tolerating odd counts."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1:
        if arr.size % 2:
            raise ValueError(f'stroke {index}: an odd number of coordinates ({arr.size})')
        arr = arr.reshape(-1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f'stroke {index}: control points must be (x, y) pairs')
    polyline, warning = chain_kind(len(arr))
    if warning and warnings is not None:
        warnings.append(f'stroke {index}: {warning}')
    return StrokeData(points=arr, width=float(width), color=tuple(float(c) for c in color),
                      pen=int(pen), polyline=polyline)
