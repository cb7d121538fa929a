"""Cubic Bezier strokes to line pieces, differentiably.

The rasterizer measures distances to straight pieces because the exact distance to a cubic
needs a root solve per sample. Each segment is cut into as many equal-parameter pieces as
its flatness bound asks for, so the polyline stays within ``FLATNESS_TOLERANCE`` pixels of
the curve whatever the stroke's size; the piece count is chosen without gradient, the
piece end points carry the gradient back to the control points. Every piece is one batched
product of its segment's control points with a row of a table of Bernstein weights: two
operators with a gradient, which is what a GPU pays for, per operator, in the backward pass.
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


def packed_segment_controls(stacked, lengths):
    """Every stroke's cubic segments: (rows (S, 4) into ``stacked``, stroke of each (S,)).

    stacked: the strokes' points concatenated, (sum(lengths), 2); lengths: points per stroke.
    ``stacked[rows]`` are the segments' (S, 4, 2) control points.
    """
    return _segment_layout(tuple(int(n) for n in lengths), stacked.device)


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


@functools.lru_cache(maxsize=8)
def _bernstein_table(dtype, device):
    """(n, i) -> the cubic Bernstein polynomials at t = i / n, in row n * (MAX_PIECES + 1) + i.

    Pieces split segments at t = i / n, n <= MAX_PIECES: a gather from this table is the
    cheapest way to the basis (pow is slow on a CPU, four multiplications are four kernels
    on a GPU), and it gives a joint's two pieces the very same basis.
    """
    n = torch.arange(MAX_PIECES + 1, dtype=torch.float64)[:, None]
    i = torch.arange(MAX_PIECES + 1, dtype=torch.float64)[None, :]
    t = (i / n.clamp_min(1)).clamp(max=1).reshape(-1, 1)
    s = 1 - t
    basis = torch.cat([s * s * s, 3 * s * s * t, 3 * s * t * t, t * t * t], dim=1)
    return basis.to(dtype=dtype, device=device)


def pieces_per_segment(controls, tolerance, max_pieces=MAX_PIECES):
    """Pieces needed so that a uniform split is within ``tolerance`` of the curve.

    A chord of parameter length h deviates from the cubic by at most h^2 max|B''| / 8, and
    |B''| <= 6 max(|P0 - 2P1 + P2|, |P1 - 2P2 + P3|).
    """
    with torch.no_grad():
        second = torch.matmul(_second_differences(controls.dtype, controls.device), controls)
        bound = second.norm(dim=2).amax(1).mul_(0.75 / tolerance).sqrt_().ceil_()
        return bound.clamp_(1, max_pieces).long()


@functools.lru_cache(maxsize=8)
def _second_differences(dtype, device):
    """P0 - 2 P1 + P2 and P1 - 2 P2 + P3 as one matrix product, made once per device."""
    return torch.tensor([[1, -2, 1, 0], [0, 1, -2, 1]], dtype=dtype, device=device)


class PieceLayout:
    """Where each line piece comes from, without gradient: its segment's control points
    (``rows`` (P, 4) into the stacked points), its parameter interval (``knots`` (P, 2), rows
    of the Bernstein table) and its ``stroke`` (P,); ``ends`` (P, 2, 2) its end points now.

    Choosing the pieces (how many per segment) is not differentiable; :func:`piece_ends`
    rebuilds any subset of them with the points' gradient.
    """

    def __init__(self, rows, knots, stroke, ends):
        self.rows = rows
        self.knots = knots
        self.stroke = stroke
        self.ends = ends


def piece_layout(stacked, lengths, tolerance=None):
    """The pieces of strokes given concatenated (see :func:`packed_segment_controls`)."""
    rows, seg_stroke = packed_segment_controls(stacked, lengths)
    with torch.no_grad():
        stacked = stacked.detach()
        count = pieces_per_segment(stacked[rows], tolerance or FLATNESS_TOLERANCE)
        device = stacked.device
        # Piece i of a segment cut in n runs from t = i / n to (i + 1) / n; the joints are
        # computed twice, identically, which is cheaper than listing vertices.
        segment = torch.repeat_interleave(torch.arange(count.shape[0], device=device), count)
        first_piece = torch.cumsum(count, 0) - count
        knot = (count * (MAX_PIECES + 1) - first_piece)[segment]
        knot += torch.arange(segment.shape[0], device=device)   # n * (MAX + 1) + i
        knots = torch.stack([knot, knot + 1], dim=1)
        piece_rows = rows[segment]
        ends = piece_ends(stacked, piece_rows, knots)
    return PieceLayout(piece_rows, knots, seg_stroke[segment], ends)


def piece_ends(stacked, rows, knots):
    """(Q, 2, 2) end points of pieces (their ``rows`` (Q, 4) and ``knots`` (Q, 2), see
    :class:`PieceLayout`), with the gradient of the stacked points: a gather and a batched
    product."""
    basis = _bernstein_table(stacked.dtype, stacked.device)[knots]
    return torch.bmm(basis, stacked[rows])
