"""Coverage of the samples on a stroke's edge, with a hand-written gradient.

A sample at distance d from a stroke of width w is covered ``clamp((w / 2 - d) * s + 0.5,
0, 1)`` (s samples per pixel along an axis). Left to autograd, the distance to a segment is
a dozen operators forward and twice as many backward, and on a GPU each one is a kernel
launch. Its gradient is simple, though: with q = (1 - t) a + t b the nearest point of the
segment a-b and n the unit vector from q to the sample, d d / d a = -(1 - t) n and
d d / d b = -t n (the derivative through t vanishes at the nearest point, clamped or not).
"""
import torch

# Squared distances below this count as zero (no direction, no gradient), as in autograd's
# clamp_min(1e-12).sqrt().
_TINY_SQ = 1e-12


class RampCoverage(torch.autograd.Function):
    """Coverage (H,) of samples ``where`` (H, 2) by pieces ``ends`` (H, 2, 2), ``widths`` (H,)."""

    @staticmethod
    def forward(ctx, where, ends, widths, samples):
        a, b = ends[:, 0], ends[:, 1]
        ab = b - a
        ap = where - a
        t = ((ap * ab).sum(1) / (ab * ab).sum(1).clamp_min(_TINY_SQ)).clamp_(0, 1)
        d = ap.addcmul_(t[:, None], ab, value=-1)
        dist_sq = (d * d).sum(1)
        dist = dist_sq.clamp_min(_TINY_SQ).sqrt_()
        value = (widths * (samples / 2) + 0.5).sub_(dist, alpha=samples)
        # Where the clamp lets the gradient through (inclusive, as torch.clamp's does).
        live = (value >= 0) & (value <= 1)
        normal = d.div_(dist[:, None]).mul_((dist_sq >= _TINY_SQ)[:, None])
        ctx.samples = samples
        ctx.save_for_backward(normal, t, live)
        return value.clamp_(0, 1)

    @staticmethod
    def backward(ctx, grad):
        normal, t, live = ctx.saved_tensors
        samples = ctx.samples
        grad = grad * live
        push = normal * (grad * samples)[:, None]   # -d loss / d dist times n
        grad_ends = torch.stack([push - push * t[:, None], push * t[:, None]], dim=1)
        # Where the distance vanishes n is 0: the width still gets its gradient, ends none.
        grad_widths = grad * (samples / 2) if ctx.needs_input_grad[2] else None
        return None, grad_ends, grad_widths, None


def ramp_coverage(where, ends, widths, samples):
    """``clamp((widths / 2 - |where - segment|) * samples + 0.5, 0, 1)``, differentiable
    w.r.t. ``ends`` and ``widths`` (not ``where``)."""
    return RampCoverage.apply(where, ends, widths, samples)
