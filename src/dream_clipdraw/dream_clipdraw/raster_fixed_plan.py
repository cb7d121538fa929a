"""Render plans computed in sizes fixed beforehand, without waiting for the device.

:func:`~dream_clipdraw.rasterizer.plan_render` sizes its lists (pieces, (piece, tile) pairs,
edge samples, layers) by the data: each size is a host synchronisation, and a CUDA graph can
hold none of them. Here every list has a capacity chosen beforehand (:class:`Capacity`):
entries are found by binary search in cumulative counts instead of ``repeat_interleave``,
pairs that do not meet their tile are kept but masked instead of dropped, layers come from a
sort instead of ``unique``, and the edge samples are gathered with ``nonzero_static``. The
true sizes come back as a tensor (``needs``): a plan that did not fit is worthless, and the
caller redoes it with larger capacities (:meth:`Capacity.grown`).

The plan is the same as ``plan_render``'s, padded: the same layers in the same order, the
same edge samples with the same nearest pieces. The classification is dense over the pairs'
capacity (one pass, no chunks), which a GPU can afford.
"""
import math
from typing import NamedTuple

import torch

from dream_clipdraw.raster_flatten import (
    FLATNESS_TOLERANCE, MAX_PIECES, packed_segment_controls, piece_ends, pieces_per_segment)
from dream_clipdraw.raster_tiles import clip_segments, PairSegments
from dream_clipdraw.rasterizer import MARGIN, NO_HIT, RenderPlan

GROWTH = 1.25


class Capacity(NamedTuple):
    """Room for each list of a fixed plan; the order of ``needs``."""

    pieces: int
    pairs: int
    ramp: int       # samples on some piece's ramp, before keeping the nearest
    layers: int     # one more than the layers drawn: the last is padding
    hits: int

    @classmethod
    def least(cls):
        return cls(pieces=1024, pairs=4096, ramp=16384, layers=256, hits=4096)

    def fits(self, needs):
        """Whether ``needs`` (a sequence of the true sizes) fits."""
        return all(int(need) <= room for need, room in zip(needs, self))

    def grown(self, needs):
        """Room for ``needs`` with a quarter to spare in every list, in powers of two; never
        smaller. Lists near their end grow with the one that overflowed: each growth costs
        a recording, and strokes that widen fill all lists at once."""
        return Capacity(*(room if int(need) * GROWTH <= room else
                          1 << math.ceil(math.log2(int(need) * GROWTH))
                          for need, room in zip(needs, self)))


def fit_plan(stacked, counts, widths, grid, capacity, rounds):
    """(plan, needs as a list, capacity): the fixed plan redone with more room until it fits,
    for at most ``rounds`` rounds (the last plan may then not fit; ``capacity.fits`` says).
    Each round reads the device once."""
    for round_ in range(rounds):
        plan, needs = plan_render_fixed(stacked, counts, widths, grid, capacity)
        needs = needs.tolist()
        if capacity.fits(needs) or round_ == rounds - 1:
            return plan, needs, capacity
        capacity = capacity.grown(needs)


def plan_render_fixed(stacked, counts, widths, grid, capacity):
    """(RenderPlan padded to ``capacity``, ``needs``: a (5,) tensor of the sizes it needed).

    Inputs as :func:`~dream_clipdraw.rasterizer.plan_render` takes them (checked by the
    caller), no gradient. Nothing here waits for the device.
    """
    rows, segment_stroke = packed_segment_controls(stacked, counts)
    n, per_tile, samples = len(counts), grid.per_tile, grid.samples
    device = stacked.device
    with torch.no_grad():
        stacked, widths = stacked.detach(), widths.detach()
        pieces = _pieces(stacked, rows, capacity.pieces)
        piece_stroke = segment_stroke[pieces.segment]
        reach = widths / 2 + 0.5 / samples
        pairs = _pairs(grid, pieces, reach[piece_stroke] + MARGIN, capacity.pairs)
        pair_stroke = piece_stroke[pairs.piece]
        layers = _layers(grid, pairs, pair_stroke, n, capacity.layers)

        # Classification (as rasterizer._classify, over every pair at once).
        half = widths.float()[pair_stroke] / 2
        inner = half - 0.5 / samples - MARGIN
        inner = torch.where((inner > 0) & pairs.keep, inner * inner, -1.0)[:, None]
        outer = half + 0.5 / samples + MARGIN
        outer = torch.where(pairs.keep, outer * outer, -1.0)[:, None]
        offsets = grid.sample_offsets(torch.float32, device).T.contiguous()
        dist_sq = PairSegments(pairs.start.float(), pairs.end.float()).distance_sq(
            slice(None), offsets)
        base = torch.zeros(capacity.layers, per_tile, dtype=widths.dtype, device=device)
        base.index_add_(0, layers.pair_layer, (dist_sq <= inner).to(base.dtype))
        base.clamp_(max=1)
        on_ramp = ((dist_sq < outer) & (dist_sq > inner)).view(-1)
        found = torch.nonzero_static(on_ramp, size=capacity.ramp, fill_value=-1).squeeze(1)
        found_valid = found >= 0
        found.clamp_(min=0)
        hit_pair = torch.div(found, per_tile, rounding_mode='floor')
        hit_sample = found - hit_pair * per_tile
        target = layers.pair_layer[hit_pair] * per_tile + hit_sample
        # One hit per (layer, sample), the nearest, where the stroke does not cover it.
        kept = found_valid & (base.view(-1)[target] < 1)
        order = torch.arange(capacity.ramp, device=device)
        packed = (dist_sq.view(-1)[found].view(torch.int32).long() << 32) | order
        packed = torch.where(kept, packed, NO_HIT)
        nearest = torch.full((base.numel(),), NO_HIT, dtype=torch.int64, device=device)
        nearest.scatter_reduce_(0, target, packed, 'amin')
        winner = kept & ((nearest[target] & 0xFFFFFFFF) == order)
        hit = torch.nonzero_static(winner, size=capacity.hits, fill_value=-1).squeeze(1)
        hit_valid = hit >= 0
        hit.clamp_(min=0)
        hit_pair, hit_sample = hit_pair[hit], hit_sample[hit]
        # Padding hits write on the last layer, a padding one (when the plan fits).
        target = torch.where(hit_valid, target[hit], (capacity.layers - 1) * per_tile)
        where = (grid.sample_offsets(widths.dtype, device)[hit_sample]
                 + grid.corners(pairs.tile[hit_pair], widths.dtype))
        needs = torch.stack([pieces.count, pairs.count, on_ramp.sum(), layers.count + 1,
                             winner.sum()])
    plan = RenderPlan(grid, samples, base=base, layer_tile=layers.tile,
                      layer_stroke=layers.stroke, piece_rows=rows[pieces.segment],
                      piece_knots=pieces.knots, hit_target=target, hit_where=where,
                      hit_piece=pairs.piece[hit_pair], hit_stroke=pair_stroke[hit_pair])
    return plan, needs


class _Pieces(NamedTuple):
    segment: torch.Tensor   # (P,) each piece's segment (padding: the last segment)
    knots: torch.Tensor     # (P, 2) rows of the Bernstein table
    ends: torch.Tensor      # (P, 2, 2)
    valid: torch.Tensor     # (P,) a piece, not padding
    count: torch.Tensor     # () pieces needed


def _pieces(stacked, rows, room):
    """As ``raster_flatten.piece_layout``, with piece p found by binary search."""
    count = pieces_per_segment(stacked[rows], FLATNESS_TOLERANCE)
    # A segment with a NaN point has no piece count (its bound is NaN): one piece, which
    # touches no tile, rather than an index past the table (on a GPU, a fatal error).
    count = torch.where((count >= 1) & (count <= MAX_PIECES), count, 1)
    segment, local, valid, total = _expand(count, room)
    knot = torch.where(valid, count[segment] * (MAX_PIECES + 1) + local, 0)
    knots = torch.stack([knot, knot + 1], dim=1)
    ends = piece_ends(stacked, rows[segment], knots)
    return _Pieces(segment, knots, ends, valid, total)


class _Pairs(NamedTuple):
    piece: torch.Tensor     # (Q,) piece of each pair
    tile: torch.Tensor      # (Q,)
    start: torch.Tensor     # (Q, 2) the piece clipped to the tile's neighbourhood
    end: torch.Tensor
    keep: torch.Tensor      # (Q,) a pair that meets its tile, not padding
    count: torch.Tensor     # () pairs needed (before clipping)


def _pairs(grid, pieces, radius, room):
    """As ``TileGrid.pairs``, with pair q found by binary search and misses masked."""
    ends = pieces.ends
    extent = grid.extent(ends.device, ends.dtype)
    pad = radius[:, None]
    box = torch.stack([ends.amin(1) - pad, ends.amax(1) + pad])
    valid = ((box[1] >= 0) & (box[0] <= extent)).all(dim=1) & pieces.valid
    first, last = box.clamp_(min=0).clamp_(max=extent - 1).div_(grid.tile).floor_().long()
    span = (last - first + 1).clamp_(min=1)     # >= 1 even for NaN ends: a divisor below
    piece, local, exists, total = _expand(torch.where(valid, span.prod(1), 0), room)
    span_x = span[piece, 0]
    place = first[piece]
    place[:, 0] += torch.remainder(local, span_x)
    place[:, 1] += torch.div(local, span_x, rounding_mode='floor')
    tile = (place[:, 1] * grid.cols + place[:, 0]).clamp_(0, grid.count - 1)
    local_ends = ends[piece] - (place * grid.tile).to(ends.dtype)[:, None]
    reach = radius[piece, None]
    start, end, meets = clip_segments(local_ends, -reach, grid.tile + reach)
    keep = exists & meets
    # Far from every sample (a missed pair's clipped ends may be anything, even NaN).
    keep_column = keep[:, None]
    start = torch.where(keep_column, start, -1e6)
    end = torch.where(keep_column, end, -1e6)
    return _Pairs(piece, tile, start, end, keep, total)


def _expand(count, room):
    """``repeat_interleave`` of fixed size: entry i of ``room`` belongs to the j with
    sum(count[:j]) <= i < sum(count[:j + 1]), found by binary search. Returns (j, clamped to
    a valid index; i - sum(count[:j]); whether entry i exists; sum(count), what it needed).
    """
    last = torch.cumsum(count, 0)
    index = torch.arange(room, device=count.device)
    owner = torch.searchsorted(last, index, right=True)
    exists = owner < count.shape[0]
    owner.clamp_(max=count.shape[0] - 1)
    return owner, index - (last - count)[owner], exists, last[-1]


class _LayerList(NamedTuple):
    pair_layer: torch.Tensor   # (Q,) each pair's layer (missed pairs: the padding layer)
    tile: torch.Tensor         # (L,) layer tiles, sorted (padding: grid.count)
    stroke: torch.Tensor       # (L,)
    count: torch.Tensor        # () layers drawn


def _layers(grid, pairs, pair_stroke, n, room):
    """(tile, stroke) layers sorted by tile then stroke, as ``torch.unique`` would list
    them, from a sort of the pairs' keys."""
    device = pair_stroke.device
    none = grid.count * n                       # a key past every real one
    key = torch.where(pairs.keep, pairs.tile * n + pair_stroke, none)
    sorted_key, order = torch.sort(key)
    new = torch.ones_like(sorted_key, dtype=torch.bool)
    new[1:] = sorted_key[1:] != sorted_key[:-1]
    new &= sorted_key < none
    layer = torch.cumsum(new, 0) - 1
    # Layers past the room (a plan that does not fit, redone) are clamped or thrown away.
    pair_layer = torch.empty_like(layer).scatter_(0, order, layer.clamp(0, room - 2))
    pair_layer = torch.where(pairs.keep, pair_layer, room - 1)
    slot = torch.where(new & (layer < room - 1), layer, room)
    layer_key = torch.full((room + 1,), none, dtype=key.dtype, device=device)
    layer_key.scatter_(0, slot, sorted_key)
    layer_key = layer_key[:room]
    drawn = layer_key < none
    tile = torch.where(drawn, torch.div(layer_key, n, rounding_mode='floor'), grid.count)
    stroke = torch.where(drawn, layer_key - tile * n, 0)
    return _LayerList(pair_layer, tile, stroke, new.sum())
