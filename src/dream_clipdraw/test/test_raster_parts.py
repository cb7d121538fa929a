"""The rasterizer's parts with their own arithmetic: edge coverage, piece ends, clipping."""
import pytest
import torch

from dream_clipdraw.raster_flatten import piece_ends, piece_layout
from dream_clipdraw.raster_ramp import ramp_coverage
from dream_clipdraw.raster_tiles import clip_segments
from dream_clipdraw.scene_init import clipdraw_init

pytestmark = pytest.mark.usefixtures('one_torch_thread')   # conftest.py


def projection(where, ends):
    """Parameter t in [0, 1] of the point of each segment nearest to each sample."""
    a, b = ends[:, 0], ends[:, 1]
    ab = b - a
    return (((where - a) * ab).sum(1) / (ab * ab).sum(1).clamp_min(1e-12)).clamp(0, 1)


def distance(where, ends):
    """Distance from each sample to its segment, as autograd differentiates it."""
    a, b = ends[:, 0], ends[:, 1]
    d = where - a - projection(where, ends)[:, None] * (b - a)
    return (d * d).sum(1).clamp_min(1e-12).sqrt()


def autograd_ramp(where, ends, widths, samples):
    """The same coverage left to autograd: the formula the hand-written gradient replaces."""
    return ((widths / 2 - distance(where, ends)) * samples + 0.5).clamp(0, 1)


def ramp_inputs(count, seed, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    where = torch.rand(count, 2, generator=generator, dtype=dtype) * 8
    ends = torch.rand(count, 2, 2, generator=generator, dtype=dtype) * 8
    widths = torch.rand(count, generator=generator, dtype=dtype) * 6
    return where, ends, widths


def test_edge_coverage_gradient_matches_finite_differences():
    where, ends, widths = ramp_inputs(1500, 0)
    value = (widths / 2 - distance(where, ends)) * 2 + 0.5
    # Samples away from the clamp's kinks, where finite differences straddle them: all those
    # on the ramp, and 60 covered or out of reach (no gradient), for a short check.
    ramp = (value > 0.05) & (value < 0.95)
    flat = (value < -0.05) | (value > 1.05)
    keep = ramp | (flat & (flat.cumsum(0) <= 60))
    where, ends, widths = where[keep], ends[keep], widths[keep]
    ends.requires_grad_()
    widths.requires_grad_()
    assert torch.autograd.gradcheck(lambda e, w: ramp_coverage(where, e, w, 2), (ends, widths))
    # Both clamped and unclamped projections onto the segments were exercised.
    t = projection(where, ends.detach())
    assert bool((t == 0).any() & (t == 1).any() & ((t > 0) & (t < 1)).any())
    assert int(((value[keep] > 0) & (value[keep] < 1)).sum()) > 50


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_edge_coverage_equals_autograd_including_degenerate_cases(dtype):
    where, ends, widths = ramp_inputs(300, 1, dtype)
    ends[:20, 1] = ends[:20, 0]              # zero-length pieces (round dots)
    where[20:40] = ends[20:40, 0]            # samples exactly on a piece's end
    where[40:60] = ends[40:60].mean(1)       # ... and on its middle
    weights = torch.rand(300, generator=torch.Generator().manual_seed(2), dtype=dtype)
    grads = []
    for function in (ramp_coverage, autograd_ramp):
        e = ends.clone().requires_grad_()
        w = widths.clone().requires_grad_()
        value = function(where, e, w, 3)
        (value * weights).sum().backward()
        grads.append((value.detach(), e.grad, w.grad))
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    for mine, reference in zip(*grads):
        assert torch.allclose(mine, reference, atol=tolerance, rtol=tolerance)
    assert float(grads[0][1].abs().sum()) > 0 and float(grads[0][2].abs().sum()) > 0


def test_pieces_join_and_carry_the_points_gradient():
    points, _, _ = clipdraw_init(30, (64, 64), generator=torch.Generator().manual_seed(3))
    stacked = torch.cat(points).requires_grad_()
    layout = piece_layout(stacked, [p.shape[0] for p in points])
    a, b = layout.ends.unbind(1)
    # Each stroke's pieces join end to start (the same Bernstein row gives the same point),
    # and run from the stroke's first point to its last.
    same_stroke = layout.stroke[1:] == layout.stroke[:-1]
    assert torch.equal(b[:-1][same_stroke], a[1:][same_stroke])
    first = torch.cat([torch.tensor([True]), ~same_stroke])
    last = torch.cat([~same_stroke, torch.tensor([True])])
    assert torch.allclose(a[first], torch.stack([p[0] for p in points]), atol=1e-5)
    assert torch.allclose(b[last], torch.stack([p[-1] for p in points]), atol=1e-5)
    # The layout has no gradient; the same pieces rebuilt by piece_ends have it.
    ends = piece_ends(stacked, layout.rows, layout.knots)
    assert torch.equal(ends.detach(), layout.ends)
    assert ends.requires_grad and not layout.ends.requires_grad
    ends.sum().backward()
    # Every control point moves some piece end (the Bernstein weights sum to one per end).
    assert bool((stacked.grad != 0).all())


@pytest.mark.parametrize('box', [(0.0, 4.0), (-1.5, 5.5)])
def test_clipping_keeps_exactly_the_part_inside_the_box(box):
    lo, hi = box
    generator = torch.Generator().manual_seed(4)
    ends = torch.rand(500, 2, 2, generator=generator) * 12 - 4
    ends[:100, 1, 0] = ends[:100, 0, 0]      # vertical pieces
    ends[100:200, 1, 1] = ends[100:200, 0, 1]   # horizontal ones
    ends[200:220, 1] = ends[200:220, 0]      # points
    ends[220:230, :, 0] = lo                 # along the box's edge,
    ends[230:240, :, 0] = lo - 1e-4          # just outside it,
    ends[240:250, :, 0] = lo + 1e-4          # just inside it
    start, end, keep = clip_segments(ends, torch.full((500, 1), lo), torch.full((500, 1), hi))
    # Dense points along each piece: inside the box exactly between the clipped ends.
    t = torch.linspace(0, 1, 2001)[:, None, None]
    along = ends[None, :, 0] + t * (ends[None, :, 1] - ends[None, :, 0])
    inside = ((along >= lo) & (along <= hi)).all(2)   # (samples, pieces)
    assert torch.equal(keep, inside.any(0) | keep)   # nothing inside is dropped
    assert int((keep & ~inside.any(0)).sum()) <= 2   # (only pieces grazing a corner)
    for i in torch.nonzero(keep).squeeze(1).tolist():
        for point in (start[i], end[i]):
            assert bool(((point >= lo - 1e-5) & (point <= hi + 1e-5)).all()), i
        if inside[:, i].any():
            first = along[inside[:, i].nonzero()[0, 0], i]
            last = along[inside[:, i].nonzero()[-1, 0], i]
            assert torch.allclose(torch.stack([start[i], end[i]]), torch.stack([first, last]),
                                  atol=0.02), i


def test_classification_in_chunks_gives_the_same_render(monkeypatch):
    """A CPU render classifies in chunks, a GPU one mostly in one: the result is the same."""
    from dream_clipdraw import rasterizer

    points, _, colors = clipdraw_init(24, (48, 48), generator=torch.Generator().manual_seed(5))
    widths = torch.linspace(1, 12, 24)
    results = []
    for chunk in (1 << 30, 3000):   # one chunk; dozens of them
        monkeypatch.setitem(rasterizer._CHUNK, 'cpu', chunk)
        stacked = torch.cat(points).requires_grad_()
        w = widths.clone().requires_grad_()
        image = rasterizer.render(rasterizer.PackedPoints(stacked, [p.shape[0] for p in points]),
                                  w, colors, (48, 48))
        image.sum().backward()
        results.append((image.detach(), stacked.grad, w.grad))
    for one, many in zip(*results):
        assert torch.equal(one, many)


def test_finite_inputs_whose_sum_overflows_are_accepted():
    """The input check sums everything once; an overflow alone is not a NaN in the input."""
    from dream_clipdraw.rasterizer import render

    far = torch.full((4, 2), 3e38)
    near = torch.tensor([[2.0, 2.0], [4.0, 2.0], [6.0, 2.0], [8.0, 2.0]])
    image = render([far, far, near], torch.tensor([2.0, 2.0, 2.0]),
                   torch.tensor([[0.0, 0.0, 0.0, 1.0]] * 3), (8, 12))
    assert float(image.min()) < 1e-6 and float(image.max()) == 1.0   # the near stroke drawn
    with pytest.raises(ValueError, match='NaN or infinity'):
        render([far.clone().fill_(float('nan')), near], torch.tensor([2.0, 2.0]),
               torch.tensor([[0.0, 0.0, 0.0, 1.0]] * 2), (8, 12))
