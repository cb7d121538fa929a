"""Compositing of per-tile stroke layers, without padding every tile to the deepest one.

A layer is a (tile, stroke) pair with one row of S samples. "Over" needs, for each layer,
the transmittance of the layers above it: a cumulative product inside each tile. torch's
cumprod would need a padded (tiles, deepest, S) layout, mostly padding; logarithms break on
opaque layers. Instead layers are stored level by level (level h: the h-th layer from the
top of every tile at least h + 1 deep), tiles ordered by decreasing depth, so that the
tiles present at a level are a prefix of those at the level above: the product is then a
recurrence over levels on contiguous slices, exact with opaque (alpha = 1) layers.
"""
import torch

# Smallest transmittance of one layer in the multiplicative mode (see composite_multiply).
OPAQUE_FLOOR = 1e-6


class LayerStack:
    """Level-major storage of layers given sorted by (tile slot, stroke).

    slot: (L,) tile slot of each layer, non-decreasing, strokes increasing inside a slot (the
    first is the bottom); depth: (T,) layers per slot.
    Attributes: ``position`` (L,): where each given layer is stored; ``slot`` (L,): slot of
    each stored row; ``bottom`` (T,): row of each slot's bottom layer; ``sizes``: rows per
    level; ``offsets``: first row of each level.
    """

    def __init__(self, slot, depth):
        device = slot.device
        count = slot.shape[0]
        end = torch.cumsum(depth, 0)
        level = end[slot] - 1 - torch.arange(count, device=device)  # 0: top of its tile
        rank = torch.empty_like(depth)
        rank[torch.argsort(depth, descending=True, stable=True)] = torch.arange(
            depth.shape[0], device=device)
        sizes = torch.bincount(level)
        offsets = torch.cumsum(sizes, 0) - sizes
        self.position = offsets[level] + rank[slot]
        self.slot = torch.empty_like(slot)
        self.slot[self.position] = slot
        self.bottom = offsets[depth - 1] + rank
        self.depth = depth
        self.sizes = sizes.tolist()          # the one host copy: offsets follow from it
        self.offsets = [0] * len(self.sizes)
        for h in range(1, len(self.sizes)):
            self.offsets[h] = self.offsets[h - 1] + self.sizes[h - 1]


class _Above(torch.autograd.Function):
    """above[i] = prod over layers j above i in its tile of (1 - alpha[j]); 1 for the top."""

    @staticmethod
    def forward(ctx, alpha, stack):
        clear = 1 - alpha
        above = torch.empty_like(alpha)
        offsets, sizes = stack.offsets, stack.sizes
        above[:sizes[0]] = 1
        for h in range(1, len(sizes)):
            upper = slice(offsets[h - 1], offsets[h - 1] + sizes[h])
            torch.mul(above[upper], clear[upper], out=above[offsets[h]:offsets[h] + sizes[h]])
        ctx.stack = stack
        ctx.save_for_backward(clear, above)
        return above

    @staticmethod
    def backward(ctx, grad):
        clear, above = ctx.saved_tensors
        offsets, sizes = ctx.stack.offsets, ctx.stack.sizes
        # d above[k] / d alpha[j] = -above[j] * prod_{j > i > k} (1 - alpha[i]) for k below j,
        # so grad_alpha[j] = -above[j] * below[j] with
        # below[j] = sum_{k below j} grad[k] prod_{j > i > k} (1 - alpha[i]), built bottom-up.
        below = torch.zeros_like(clear)
        for h in range(len(sizes) - 2, -1, -1):
            lower = slice(offsets[h + 1], offsets[h + 1] + sizes[h + 1])
            torch.addcmul(grad[lower], clear[lower], below[lower],
                          out=below[offsets[h]:offsets[h] + sizes[h + 1]])
        return below.mul_(above).neg_(), None


def composite_over(alpha, color, stack, background, pixels, per_pixel):
    """Per-pixel RGB of every tile slot, (T, 3, pixels): layers "over" the background.

    alpha: (L, S) layer alpha per sample; color: (L, 3); S = pixels * per_pixel, the samples
    of a pixel consecutive. out = bg * prod(1 - a) + sum_k c_k a_k above_k, averaged per pixel.
    """
    above = _Above.apply(alpha, stack)
    weight = _pixel_mean(alpha * above, pixels, per_pixel)
    bottom = stack.bottom
    shown = _pixel_mean(above[bottom] * (1 - alpha[bottom]), pixels, per_pixel)
    tiles = background.view(1, 3, 1) * shown[:, None, :]
    return tiles.index_add(0, stack.slot, weight[:, None, :] * color[:, :, None])


def composite_multiply(alpha, color, stack, background, pixels, per_pixel):
    """Per-pixel RGB (T, 3, pixels) with order-free multiplicative ink.

    out = bg * prod_k (1 - a_k (1 - c_k)) per channel, averaged per pixel. Summed as
    logarithms (no depth recurrence); an opaque factor is taken as OPAQUE_FLOOR instead of 0
    in the forward pass, with a straight-through gradient, so the gradient stays exact (the
    floor cancels in it) and the value is off by at most OPAQUE_FLOOR. Gray inks (black
    included) share one factor for the three channels, computed once.
    """
    gray = bool((color == color[:, :1]).all())
    if gray:
        ink = alpha * (1 - color[:, :1])
    else:
        ink = alpha[:, None, :] * (1 - color)[:, :, None]
    ink = ink + (ink.clamp(max=1 - OPAQUE_FLOOR) - ink).detach()
    slots = stack.depth.shape[0]
    log_sum = torch.zeros((slots,) + ink.shape[1:], dtype=alpha.dtype, device=alpha.device)
    log_sum = log_sum.index_add(0, stack.slot, torch.log1p(-ink))
    shown = torch.exp(log_sum).view(slots, -1, pixels, per_pixel).mean(-1)
    return background.view(1, 3, 1) * shown


def _pixel_mean(values, pixels, per_pixel):
    return values.view(values.shape[0], pixels, per_pixel).mean(-1)
