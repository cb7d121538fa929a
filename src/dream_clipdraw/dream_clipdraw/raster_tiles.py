"""Square tiles of pixels, and which line pieces can touch which tile.

Binning pieces to tiles is what makes the rasterizer's cost follow the area the strokes
cover instead of strokes x pixels: a (piece, tile) pair is listed only when the piece's
padded bounding box overlaps the tile and the piece itself crosses the tile padded by the
piece's reach; the pair lists are built from per-piece counts (repeat_interleave), never
from a strokes x tiles table.
"""
import functools

import torch


class PairSegments:
    """Segments a-b (Q, 2), laid out once for the distance from every tile sample to each.

    The (segment, sample) distances are the largest computation of all, made in chunks of
    segments: what does not depend on the samples is computed here once for all chunks.
    No gradient.
    """

    def __init__(self, a, b):
        ab = (b - a).T.contiguous()  # contiguous columns: strided operands are ~3x slower
        inverse = 1 / (ab * ab).sum(0).clamp_min(1e-12)
        # Six (Q, 1) columns, each sliced per chunk with a single view.
        self.ax, self.ay = a.T.contiguous()[:, :, None]
        self.abx, self.aby = ab[:, :, None]
        self.sx, self.sy = (ab * inverse)[:, :, None]
        self.count = a.shape[0]

    def distance_sq(self, chunk, offsets):
        """(len(chunk), S) squared distances from S offsets (2, S) to a slice of the segments.

        Computed in place on two buffers: a point's projection onto the segment, clamped to
        its ends, as in the exact segment distance.
        """
        ox, oy = offsets
        dx = ox - self.ax[chunk]
        dy = oy - self.ay[chunk]
        t = (dx * self.sx[chunk]).addcmul_(dy, self.sy[chunk]).clamp_(0, 1)
        dx.addcmul_(t, self.abx[chunk], value=-1)
        dy.addcmul_(t, self.aby[chunk], value=-1)
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
        return _sample_offsets(self.tile, self.samples, dtype, device)

    def corners(self, tile_ids, dtype):
        """(T, 2) pixel coordinates of the top-left corner of the given tiles."""
        col = torch.remainder(tile_ids, self.cols)
        row = torch.div(tile_ids, self.cols, rounding_mode='floor')
        return torch.stack([col, row], dim=1).to(dtype) * self.tile

    def extent(self, device, dtype):
        """The canvas's (width, height) as a tensor (made once per device)."""
        return _extent(self.width, self.height, device, dtype)

    def pairs(self, ends, radius):
        """(piece, tile) pairs where a piece, padded by ``radius``, may cover samples.

        ends: (P, 2, 2) piece end points (no gradient), radius: (P,) reach in pixels.
        Returns (pair_piece, pair_tile, start, end): indices (Q,) grouped by piece, and the
        part of each piece inside its tile padded by the reach, relative to the tile's
        corner (Q, 2): exactly as near to every sample within reach as the whole piece,
        and with small coordinates however long the piece is.
        """
        device = ends.device
        extent = self.extent(device, ends.dtype)
        pad = radius[:, None]
        box = torch.stack([ends.amin(1) - pad, ends.amax(1) + pad])   # (2, P, 2): lo, hi
        valid = ((box[1] >= 0) & (box[0] <= extent)).all(dim=1)
        # Clamped before the conversion so that far-away points stay finite integers.
        first, last = box.clamp_(min=0).clamp_(max=extent - 1).div_(self.tile).floor_().long()
        span = last - first + 1
        count = torch.where(valid, span.prod(1), 0)
        pair_piece = torch.repeat_interleave(torch.arange(ends.shape[0], device=device), count)
        local = (torch.arange(pair_piece.shape[0], device=device)
                 - (torch.cumsum(count, 0) - count)[pair_piece])
        span_x = span[pair_piece, 0]
        place = first[pair_piece]
        place[:, 0] += torch.remainder(local, span_x)
        place[:, 1] += torch.div(local, span_x, rounding_mode='floor')
        tile = place[:, 1] * self.cols + place[:, 0]
        local_ends = ends[pair_piece] - (place * self.tile).to(ends.dtype)[:, None]
        pad = radius[pair_piece, None]
        start, end, keep = clip_segments(local_ends, -pad, self.tile + pad)
        kept = keep.nonzero().squeeze(1)   # one host sync for the four selections
        return pair_piece[kept], tile[kept], start[kept], end[kept]


@functools.lru_cache(maxsize=16)
def _sample_offsets(tile, samples, dtype, device):
    """Made once per layout: an optimisation renders thousands of times with the same one."""
    pixel = torch.arange(tile, dtype=dtype, device=device)
    sub = (torch.arange(samples, dtype=dtype, device=device) + 0.5) / samples
    py, px, sy, sx = torch.meshgrid(pixel, pixel, sub, sub, indexing='ij')
    return torch.stack([(px + sx).reshape(-1), (py + sy).reshape(-1)], dim=1)


@functools.lru_cache(maxsize=8)
def _extent(width, height, device, dtype):
    """The canvas's (width, height) on the device, made once (not copied there every render)."""
    return torch.tensor([width, height], device=device, dtype=dtype)


def clip_segments(ends, lo, hi):
    """Clip segments ``ends`` (Q, 2, 2) to boxes [lo, hi] (Q, 1 or 2); Liang-Barsky.

    Returns (start, end, keep): the clipped ends, and which segments meet their box.
    """
    a = ends[:, 0]
    direction = ends[:, 1] - a
    # Along an axis where the segment does not move, a tiny step stands in: its bounds on t
    # become -huge/+huge (no constraint) when a lies within the box, +-huge past it
    # (nothing kept), as the exact limits would.
    safe = torch.where(direction == 0, _TINY_STEP, direction)
    t_lo = (lo - a) / safe
    t_hi = (hi - a) / safe
    t0 = torch.minimum(t_lo, t_hi).amax(dim=1).clamp_min_(0)[:, None]
    t1 = torch.maximum(t_lo, t_hi).amin(dim=1).clamp_max_(1)[:, None]
    return (torch.addcmul(a, t0, direction), torch.addcmul(a, t1, direction),
            (t0 <= t1).squeeze(1))


# Small enough that any coordinate difference over it is beyond [0, 1] (or infinite).
_TINY_STEP = 1e-30
