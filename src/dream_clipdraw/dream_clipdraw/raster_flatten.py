"""Cubic Bezier strokes to line pieces, differentiably.

The rasterizer measures distances to straight pieces because the exact distance to a cubic
needs a root solve per sample. Each segment is cut into as many equal-parameter pieces as
its flatness bound asks for, so the polyline stays within ``FLATNESS_TOLERANCE`` pixels of
the curve whatever the stroke's size; the piece count is chosen without gradient, the
piece end points carry the gradient back to the control points.
"""
import collections.abc
import functools

import torch

# Largest distance, in pixels, between a cubic and the polyline that replaces it.
FLATNESS_TOLERANCE = 0.2
# A bound on pieces per cubic segment (a segment hundreds of pixels across stays cheap).
MAX_PIECES = 32


class PackedPoints(collections.abc.Sequence):
    """Strokes' points in one tensor, seen as the sequence of per-stroke (3k+1, 2) views.

    data: (sum(counts), 2), the strokes' points concatenated; counts: points per stroke.
    The torch renderer uses ``data`` as it is, so neither its forward nor its backward does
    any per-stroke work (the gradient arrives in one tensor); other code sees a list.
    """

    def __init__(self, data, counts):
        self.data = data
        self.counts = tuple(int(c) for c in counts)
        self._strokes = None

    def __len__(self):
        return len(self.counts)

    def __getitem__(self, index):
        if self._strokes is None:
            self._strokes = torch.split(self.data, self.counts)
        return self._strokes[index]


class Pieces:
    """Line pieces of all strokes: end points ``a``, ``b`` (P, 2) and owning ``stroke`` (P,)."""

    def __init__(self, a, b, stroke):
        self.a = a
        self.b = b
        self.stroke = stroke


def packed_segment_controls(stacked, lengths):
    """Every stroke's cubic segments: (controls (S, 4, 2), stroke of each (S,)).

    stacked: the strokes' points concatenated, (sum(lengths), 2); lengths: points per stroke.
    """
    index, stroke = _segment_layout(tuple(int(n) for n in lengths), stacked.device)
    return stacked[index], stroke


@functools.lru_cache(maxsize=8)
def _segment_layout(lengths, device):
    """Which rows of the stacked points are each segment's controls, and its stroke.

    It depends only on the strokes' point counts, which an optimisation never changes from
    one iteration to the next: cached, it costs no host-to-device copy (on a GPU, a wait for
    the queue) and no kernels per render.
    """
    lengths = torch.tensor(lengths)
    per_stroke = (lengths - 1) // 3
    first_point = torch.cumsum(lengths, 0) - lengths
    stroke = torch.repeat_interleave(torch.arange(lengths.shape[0]), per_stroke)
    first_segment = torch.cumsum(per_stroke, 0) - per_stroke
    local = torch.arange(stroke.shape[0]) - first_segment[stroke]
    start = first_point[stroke] + 3 * local
    index = start[:, None] + torch.arange(4)
    return index.to(device), stroke.to(device)


def pieces_per_segment(controls, tolerance, max_pieces=MAX_PIECES):
    """Pieces needed so that a uniform split is within ``tolerance`` of the curve.

    A chord of parameter length h deviates from the cubic by at most h^2 max|B''| / 8, and
    |B''| <= 6 max(|P0 - 2P1 + P2|, |P1 - 2P2 + P3|).
    """
    with torch.no_grad():
        p0, p1, p2, p3 = controls.unbind(1)
        second = torch.maximum((p0 - 2 * p1 + p2).norm(dim=1), (p1 - 2 * p2 + p3).norm(dim=1))
        count = torch.ceil(torch.sqrt(0.75 * second / tolerance))
        return count.clamp(1, max_pieces).long()


def flatten(points, tolerance=None):
    """Flatten a list of strokes (each (3k+1, 2)) into :class:`Pieces`."""
    return flatten_packed(torch.cat(points), [p.shape[0] for p in points], tolerance)


def flatten_packed(stacked, lengths, tolerance=None):
    """:func:`flatten` of strokes given concatenated (see :func:`packed_segment_controls`)."""
    controls, seg_stroke = packed_segment_controls(stacked, lengths)
    count = pieces_per_segment(controls, tolerance or FLATNESS_TOLERANCE)
    device = controls.device
    # One host sync for both expansions below: their sizes are P and P + segments.
    total = int(count.sum())
    # Vertices j = 0..n of each segment at t = j / n, evaluated in one batch.
    vertex_segment = torch.repeat_interleave(torch.arange(count.shape[0], device=device),
                                             count + 1, output_size=total + count.shape[0])
    first_vertex = torch.cumsum(count + 1, 0) - (count + 1)
    j = torch.arange(vertex_segment.shape[0], device=device) - first_vertex[vertex_segment]
    t = (j.to(controls.dtype) / count[vertex_segment].to(controls.dtype))[:, None]
    s = 1 - t
    bernstein = torch.cat([s * s * s, 3 * s * s * t, 3 * s * t * t, t * t * t], dim=1)
    vertices = torch.einsum('vk,vkd->vd', bernstein, controls[vertex_segment])
    # Piece i of segment g joins vertices first_vertex[g] + i and + i + 1.
    piece_segment = torch.repeat_interleave(torch.arange(count.shape[0], device=device), count,
                                            output_size=total)
    first_piece = torch.cumsum(count, 0) - count
    i = torch.arange(piece_segment.shape[0], device=device) - first_piece[piece_segment]
    start = first_vertex[piece_segment] + i
    return Pieces(vertices[start], vertices[start + 1], seg_stroke[piece_segment])
