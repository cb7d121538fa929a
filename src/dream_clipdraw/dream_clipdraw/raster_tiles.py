"""Square tiles of pixels, and which line pieces can touch which tile.

Binning pieces to tiles is what makes the rasterizer's cost follow the area the strokes
cover instead of strokes x pixels: a (piece, tile) pair is listed only when the piece's
padded bounding box overlaps the tile and the piece itself crosses the tile padded by the
piece's reach; the pair lists are built from per-piece counts (repeat_interleave), never
from a strokes x tiles table.
"""
import functools
import math

import torch


def segment_distance_sq(px, py, ax, ay, bx, by):
    """Squared distance from points (px, py) to segments a-b; broadcasts; safe when a == b."""
    abx = bx - ax
    aby = by - ay
    apx = px - ax
    apy = py - ay
    length_sq = (abx * abx + aby * aby).clamp_min(1e-12)
    t = ((apx * abx + apy * aby) / length_sq).clamp(0, 1)
    dx = apx - t * abx
    dy = apy - t * aby
    return dx * dx + dy * dy


def pair_distance_sq(a, b, offsets):
    """(Q, S) squared distances from S offsets (S, 2) to Q segments a-b (Q, 2), no gradient.

    The same computation as :func:`segment_distance_sq`, done in place on two (Q, S)
    buffers: this runs on every (piece, tile, sample) triple, the largest set of all.
    """
    ab = (b - a).T.contiguous()  # contiguous columns: strided operands are ~3x slower
    inverse = 1 / (ab * ab).sum(0).clamp_min(1e-12)
    abx, aby = ab[0][:, None], ab[1][:, None]
    a = a.T.contiguous()
    offsets = offsets.T.contiguous()
    dx = offsets[0] - a[0][:, None]
    dy = offsets[1] - a[1][:, None]
    t = (dx * (abx * inverse[:, None])).addcmul_(dy, aby * inverse[:, None]).clamp_(0, 1)
    dx.addcmul_(t, abx, value=-1)
    dy.addcmul_(t, aby, value=-1)
    return dx.mul_(dx).addcmul_(dy, dy)


class TileGrid:
    """The canvas cut into ``tile`` x ``tile`` pixel tiles, each with its samples.

    Tiles are numbered row-major over the canvas. A tile's samples are numbered pixel by
    pixel (row-major), and the ``samples`` x ``samples`` samples of a pixel are consecutive,
    so a pixel's average is a reduction over the last axis of a (..., pixels, samples^2) view.
    Sample (sx, sy) of pixel (x, y) sits at (x + (sx + 0.5) / samples, y + (sy + 0.5) / samples).
    """

    def __init__(self, height, width, samples, tile):
        self.height = height
        self.width = width
        self.samples = samples
        self.tile = tile
        self.rows = -(-height // tile)
        self.cols = -(-width // tile)
        self.count = self.rows * self.cols
        self.pixels = tile * tile
        self.per_tile = self.pixels * samples * samples

    def sample_offsets(self, dtype, device):
        """(per_tile, 2) pixel offsets of a tile's samples from the tile's corner."""
        pixel = torch.arange(self.tile, dtype=dtype, device=device)
        sub = (torch.arange(self.samples, dtype=dtype, device=device) + 0.5) / self.samples
        py, px, sy, sx = torch.meshgrid(pixel, pixel, sub, sub, indexing='ij')
        return torch.stack([(px + sx).reshape(-1), (py + sy).reshape(-1)], dim=1)

    def corners(self, tile_ids, dtype):
        """(T, 2) pixel coordinates of the top-left corner of the given tiles."""
        col = torch.remainder(tile_ids, self.cols)
        row = torch.div(tile_ids, self.cols, rounding_mode='floor')
        return torch.stack([col, row], dim=1).to(dtype) * self.tile

    def pairs(self, a, b, radius):
        """(piece, tile) pairs where piece a-b, padded by ``radius``, may cover samples.

        a, b: (P, 2) piece ends (no gradient), radius: (P,) reach in pixels.
        Returns (pair_piece, pair_tile, start, end): indices (Q,) grouped by piece, and the
        part of each piece inside its tile padded by the reach, relative to the tile's
        corner (Q, 2): exactly as near to every sample within reach as the whole piece,
        and with small coordinates however long the piece is.
        """
        device = a.device
        extent = _extent(self.width, self.height, device, a.dtype)
        lo = torch.minimum(a, b) - radius[:, None]
        hi = torch.maximum(a, b) + radius[:, None]
        valid = ((hi >= 0) & (lo <= extent)).all(dim=1)
        # Clamped before the conversion so that far-away points stay finite integers.
        first = torch.floor(lo.clamp(0, None).minimum(extent - 1) / self.tile).long()
        last = torch.floor(hi.clamp(0, None).minimum(extent - 1) / self.tile).long()
        span = last - first + 1
        count = torch.where(valid, span[:, 0] * span[:, 1], 0)
        pair_piece = torch.repeat_interleave(torch.arange(a.shape[0], device=device), count)
        local = (torch.arange(pair_piece.shape[0], device=device)
                 - (torch.cumsum(count, 0) - count)[pair_piece])
        span_x = span[pair_piece, 0]
        col = first[pair_piece, 0] + torch.remainder(local, span_x)
        row = first[pair_piece, 1] + torch.div(local, span_x, rounding_mode='floor')
        tile = row * self.cols + col
        corner = torch.stack([col, row], dim=1).to(a.dtype) * self.tile
        pad = radius[pair_piece, None]
        start, end, keep = clip_segments(a[pair_piece] - corner, b[pair_piece] - corner,
                                         -pad, self.tile + pad)
        kept = keep.nonzero().squeeze(1)   # one host sync for the four selections
        return pair_piece[kept], tile[kept], start[kept], end[kept]


@functools.lru_cache(maxsize=8)
def _extent(width, height, device, dtype):
    """The canvas's (width, height) on the device, made once (not copied there every render)."""
    return torch.tensor([width, height], device=device, dtype=dtype)


def clip_segments(a, b, lo, hi):
    """Clip segments a-b (Q, 2) to boxes [lo, hi] (Q, 1 or 2); Liang-Barsky, vectorised.

    Returns (start, end, keep): the clipped ends, and which segments meet their box.
    """
    direction = b - a
    flat = direction == 0
    safe = torch.where(flat, torch.ones_like(direction), direction)
    t_lo = (lo - a) / safe
    t_hi = (hi - a) / safe
    enter = torch.minimum(t_lo, t_hi)
    leave = torch.maximum(t_lo, t_hi)
    # An axis along which the segment does not move constrains nothing, or everything.
    inside = (a >= lo) & (a <= hi)
    enter = torch.where(flat, torch.where(inside, -math.inf, math.inf), enter)
    leave = torch.where(flat, torch.where(inside, math.inf, -math.inf), leave)
    t0 = enter.amax(dim=1).clamp_min(0)
    t1 = leave.amin(dim=1).clamp_max(1)
    keep = t0 <= t1
    return a + t0[:, None] * direction, a + t1[:, None] * direction, keep
