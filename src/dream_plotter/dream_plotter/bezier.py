"""Flatten chains of cubic Bezier segments to polylines within a distance tolerance.

vpype flattens the curves it reads from SVG files but offers no entry point for raw control
points, so this is done here, vectorised per stroke. The number of chords per segment comes
from the classic bound for uniform subdivision of a cubic: the distance between the curve
and its n-chord polyline is at most 3/4 * max|P0 - 2 P1 + P2|, |P1 - 2 P2 + P3| / n^2.
"""
import numpy as np

MAX_CHORDS_PER_SEGMENT = 512


def chord_counts(ctrl, tolerance):
    """Chords needed per segment; ``ctrl`` is (k, 4, 2)."""
    d1 = ctrl[:, 0] - 2 * ctrl[:, 1] + ctrl[:, 2]
    d2 = ctrl[:, 1] - 2 * ctrl[:, 2] + ctrl[:, 3]
    curvature = np.maximum(np.hypot(d1[:, 0], d1[:, 1]), np.hypot(d2[:, 0], d2[:, 1]))
    n = np.ceil(np.sqrt(0.75 * curvature / tolerance))
    return np.clip(n, 1, MAX_CHORDS_PER_SEGMENT).astype(np.int64)


def flatten_chain(points, tolerance):
    """Polyline (m, 2) through a 3k+1 control-point chain, within ``tolerance`` of the curve."""
    points = np.asarray(points, dtype=np.float64)
    k = (len(points) - 1) // 3
    if k < 1:
        return points.copy()
    ctrl = np.stack([points[0:3 * k:3], points[1:3 * k + 1:3], points[2:3 * k + 2:3],
                     points[3:3 * k + 3:3]], axis=1)
    n = chord_counts(ctrl, tolerance)
    seg = np.repeat(np.arange(k), n)
    starts = np.cumsum(n) - n
    t = (np.arange(n.sum()) - np.repeat(starts, n)) / np.repeat(n, n)
    t = t[:, None]
    c = ctrl[seg]
    mt = 1.0 - t
    pts = (mt ** 3 * c[:, 0] + 3 * mt ** 2 * t * c[:, 1] + 3 * mt * t ** 2 * c[:, 2]
           + t ** 3 * c[:, 3])
    return np.vstack([pts, points[3 * k][None, :]])


def dedupe(polyline, eps=1e-9):
    """Drop consecutive repeated vertices (zero-length chords)."""
    if len(polyline) < 2:
        return polyline
    step = np.hypot(*np.diff(polyline, axis=0).T)
    keep = np.concatenate([[True], step > eps])
    return polyline[keep]


def polyline_length(polyline):
    if len(polyline) < 2:
        return 0.0
    return float(np.hypot(*np.diff(polyline, axis=0).T).sum())


def flatten_many(chains, tolerance):
    """Flatten many control-point chains at once; returns one polyline per chain.

    Doing every stroke in one vectorised pass keeps planning 1024 strokes well under the
    planning-time target (the per-stroke numpy call overhead dominates otherwise).
    """
    if not chains:
        return []
    ks = np.array([(len(c) - 1) // 3 for c in chains])
    if np.any(ks < 1):
        return [flatten_chain(c, tolerance) for c in chains]
    allpts = np.vstack(chains)
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in chains])[:-1]])
    seg_stroke = np.repeat(np.arange(len(chains)), ks)
    seg_first = np.arange(ks.sum()) - np.repeat(np.cumsum(ks) - ks, ks)
    base = offsets[seg_stroke] + 3 * seg_first
    ctrl = allpts[base[:, None] + np.arange(4)[None, :]]
    n = chord_counts(ctrl, tolerance)
    seg = np.repeat(np.arange(len(n)), n)
    starts = np.cumsum(n) - n
    t = ((np.arange(n.sum()) - np.repeat(starts, n)) / np.repeat(n, n))[:, None]
    c = ctrl[seg]
    mt = 1.0 - t
    pts = (mt ** 3 * c[:, 0] + 3 * mt ** 2 * t * c[:, 1] + 3 * mt * t ** 2 * c[:, 2]
           + t ** 3 * c[:, 3])
    per_stroke = np.bincount(seg_stroke, weights=n, minlength=len(chains)).astype(np.int64)
    ends = allpts[offsets + 3 * ks]
    pts = np.insert(pts, np.cumsum(per_stroke), ends, axis=0)
    return np.split(pts, np.cumsum(per_stroke + 1)[:-1])


def dedupe_many(polylines, eps=1e-9):
    """dedupe() for many polylines in one pass."""
    if not polylines:
        return []
    counts = np.array([len(p) for p in polylines])
    allpts = np.vstack(polylines)
    step = np.hypot(*np.diff(allpts, axis=0).T)
    keep = np.concatenate([[True], step > eps])
    keep[np.cumsum(counts)[:-1]] = True
    kept = np.add.reduceat(keep.astype(np.int64), np.cumsum(counts) - counts)
    return np.split(allpts[keep], np.cumsum(kept)[:-1])
