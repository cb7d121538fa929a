"""Compositing of per-tile stroke layers, in log space, with a size-independent op count.

A layer is a (tile, stroke) pair with one row of S samples, and layers come sorted by tile,
then stroke (the bottom stroke first). "Over" needs, for each layer, the transmittance of
the layers above it in its tile: a cumulative product per tile. Here it is a difference of
one cumulative sum of ``log(1 - alpha)`` over all layers (float64, so that the differences
of large sums stay exact), taken between the layer and the last layer of its tile. A
recurrence over depth levels (the earlier way) costs a kernel launch per level and per
direction, which on a GPU is most of compositing once tiles are a hundred strokes deep; this
costs the same dozen operations for any depth.

An opaque layer (alpha = 1) would make the logarithm infinite: it counts as transmitting a
tiny floor instead (in float64, 1e-9 for "over"), in the forward pass only, with a
straight-through gradient, so the gradient stays exact (the floor cancels in it) and a value
is off by at most the floor.
"""
import torch

# Smallest transmittance of one layer in the multiplicative mode (its own dtype).
OPAQUE_FLOOR = 1e-6
# The same for "over", whose logarithms are float64: opaque strokes hide what is below them
# to 1e-9 (1 - floor is still exact to 1e-7 relative in float64).
OVER_FLOOR = 1e-9


def composite_over(alpha, color, tile, background, tiles, pixels, per_pixel):
    """Per-pixel RGB of every tile, (tiles, 3, pixels): layers "over" the background.

    alpha: (L, S) layer alpha per sample; color: (L, 3); tile: (L,) each layer's tile, the
    layers sorted by tile, then stroke. S = pixels * per_pixel, the samples of a pixel
    consecutive. out = bg * prod(1 - a) + sum_k c_k a_k above_k, averaged per pixel.
    """
    index = torch.arange(tile.shape[0], device=tile.device)
    top = torch.zeros(tiles, dtype=index.dtype, device=tile.device)
    top = top.scatter_reduce(0, tile, index, 'amax', include_self=False)[tile]
    wide = alpha.double()
    log_clear = torch.log1p(-_floored(wide, OVER_FLOOR))
    running = torch.cumsum(log_clear, 0)
    # Transmittance of the layers above each layer, up to its tile's top layer.
    weight = (wide * torch.exp(running[top] - running)).to(alpha.dtype)
    total = torch.zeros((tiles,) + alpha.shape[1:], dtype=log_clear.dtype, device=alpha.device)
    shown = torch.exp(total.index_add(0, tile, log_clear)).to(alpha.dtype)
    rgb = background.view(1, 3, 1) * shown[:, None, :]
    rgb = rgb.index_add(0, tile, color[:, :, None] * weight[:, None, :])
    return _pixel_mean(rgb, pixels, per_pixel)


def composite_multiply(alpha, color, tile, background, tiles, pixels, per_pixel):
    """Per-pixel RGB (tiles, 3, pixels) with order-free multiplicative ink.

    out = bg * prod_k (1 - a_k (1 - c_k)) per channel, averaged per pixel. Gray inks (black
    included) share one factor for the three channels, computed once.
    """
    gray = bool((color == color[:, :1]).all())
    if gray:
        ink = alpha * (1 - color[:, :1])
    else:
        ink = alpha[:, None, :] * (1 - color)[:, :, None]
    log_clear = torch.log1p(-_floored(ink, OPAQUE_FLOOR))
    total = torch.zeros((tiles,) + ink.shape[1:], dtype=alpha.dtype, device=alpha.device)
    shown = torch.exp(total.index_add(0, tile, log_clear))
    shown = shown.view(tiles, -1, pixels * per_pixel)
    return _pixel_mean(background.view(1, 3, 1) * shown, pixels, per_pixel)


def _floored(alpha, floor):
    """alpha, lowered to 1 - floor where above it, with an unchanged gradient."""
    return alpha + (alpha.clamp(max=1 - floor) - alpha).detach()


def _pixel_mean(values, pixels, per_pixel):
    return values.view(values.shape[0], values.shape[1], pixels, per_pixel).mean(-1)
