"""The rasterizer's contract: renderer registry, input checking, CLIPDraw's initial scene."""
import importlib.util

import pytest
import torch

from dream_clipdraw.raster_flatten import PackedPoints
from dream_clipdraw.rasterizer import available_renderers, get_renderer, render
from dream_clipdraw.scene_init import clipdraw_init

HAVE_DIFFVG = importlib.util.find_spec('pydiffvg') is not None


pytestmark = pytest.mark.usefixtures('one_torch_thread')   # conftest.py


def one_stroke():
    points = [torch.tensor([[2.0, 2.0], [5.0, 3.0], [8.0, 6.0], [10.0, 10.0]])]
    return points, torch.tensor([2.0]), torch.tensor([[0.1, 0.2, 0.3, 1.0]])


def test_torch_renderer_is_always_available():
    assert 'torch' in available_renderers()
    assert get_renderer('torch') is render


def test_unknown_renderer_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown renderer 'cairo'.*torch"):
        get_renderer('cairo')


@pytest.mark.skipif(HAVE_DIFFVG, reason='pydiffvg is installed here')
def test_diffvg_without_pydiffvg_is_a_clear_error():
    assert 'diffvg' not in available_renderers()
    with pytest.raises(ValueError, match='pydiffvg'):
        get_renderer('diffvg')


@pytest.mark.parametrize('bad_points, message', [
    ([torch.zeros(5, 2)], r'3k\+1'),
    ([torch.zeros(1, 2)], r'3k\+1'),
    ([torch.zeros(4, 3)], r'\(3k\+1, 2\)'),
    ([[[0.0, 0.0]] * 4], r'\(3k\+1, 2\)'),
    ([torch.full((4, 2), float('nan'))], 'NaN'),
])
def test_bad_points_are_clear_errors(bad_points, message):
    with pytest.raises(ValueError, match=message):
        render(bad_points, torch.tensor([1.0]), torch.ones(1, 4), (8, 8))


def test_packed_points_render_and_differentiate_like_the_list_of_strokes():
    generator = torch.Generator().manual_seed(3)
    points, widths, colors = clipdraw_init(12, (32, 32), generator=generator)
    data = torch.cat(points).requires_grad_(True)
    packed = PackedPoints(data, [p.shape[0] for p in points])
    assert len(packed) == 12 and all(torch.equal(a, b) for a, b in zip(packed, points))
    listed = [p.clone().requires_grad_(True) for p in points]
    image = render(packed, widths, colors, (32, 32))
    assert torch.equal(image, render(listed, widths, colors, (32, 32)))
    weights = torch.rand(image.shape, generator=torch.Generator().manual_seed(4))
    (image * weights).sum().backward()
    (render(listed, widths, colors, (32, 32)) * weights).sum().backward()
    assert torch.allclose(data.grad, torch.cat([p.grad for p in listed]), atol=1e-6)


@pytest.mark.parametrize('data, counts, message', [
    (torch.zeros(7, 2), [4, 4], r'\(8, 2\) tensor'),
    (torch.zeros(8, 3), [4, 4], r'\(8, 2\) tensor'),
    (torch.zeros(8, 2, dtype=torch.long), [4, 4], 'floating point'),
    (torch.zeros(8, 2), [3, 5], r'points\[0\] has 3 points'),
    (torch.full((4, 2), float('inf')), [4], 'NaN or infinity'),
])
def test_bad_packed_points_are_clear_errors(data, counts, message):
    n = len(counts)
    with pytest.raises(ValueError, match=message):
        render(PackedPoints(data, counts), torch.ones(n), torch.ones(n, 4), (8, 8))


def test_bad_widths_colors_size_samples_are_clear_errors():
    points, widths, colors = one_stroke()
    with pytest.raises(ValueError, match='widths must have shape'):
        render(points, torch.ones(2), colors, (8, 8))
    with pytest.raises(ValueError, match='widths must be finite and >= 0'):
        render(points, torch.tensor([-1.0]), colors, (8, 8))
    with pytest.raises(ValueError, match='colors must have shape'):
        render(points, widths, torch.ones(1, 3), (8, 8))
    with pytest.raises(ValueError, match='colors contain NaN'):
        render(points, widths, torch.full((1, 4), float('inf')), (8, 8))
    with pytest.raises(ValueError, match='size'):
        render(points, widths, colors, (0, 8))
    with pytest.raises(ValueError, match='size'):
        render(points, widths, colors, 8)
    with pytest.raises(ValueError, match='samples'):
        render(points, widths, colors, (8, 8), samples=0)
    with pytest.raises(ValueError, match='background'):
        render(points, widths, colors, (8, 8), background=torch.ones(4))


def test_output_shape_range_and_dtype():
    points, widths, colors = one_stroke()
    image = render(points, widths, colors, (12, 16), samples=3)
    assert image.shape == (3, 12, 16) and image.dtype == torch.float32
    assert float(image.min()) >= 0 and float(image.max()) <= 1
    assert float(image.min()) < 0.5  # the stroke is there


def test_clipdraw_init_follows_the_recipe():
    size = (100, 200)  # height, width
    points, widths, colors = clipdraw_init(300, size, generator=torch.Generator().manual_seed(1))
    assert len(points) == 300
    segments = [(p.shape[0] - 1) // 3 for p in points]
    assert all(p.shape[0] == 3 * k + 1 and p.shape[1] == 2 for p, k in zip(points, segments))
    assert set(segments) == {1, 2, 3}
    starts = torch.stack([p[0] for p in points])
    assert float(starts[:, 0].min()) >= 0 and float(starts[:, 0].max()) < 200
    assert float(starts[:, 1].min()) >= 0 and float(starts[:, 1].max()) < 100
    assert float(starts[:, 0].max()) > 150  # uniform over the width, not a square
    steps = torch.cat([p[1:] - p[:-1] for p in points]).abs()
    assert float(steps[:, 0].max()) <= 0.05 * 200 + 1e-4
    assert float(steps[:, 1].max()) <= 0.05 * 100 + 1e-4
    assert float(steps[:, 0].max()) > 0.04 * 200  # the whole +-5% range is used
    assert torch.equal(widths, torch.ones(300))
    assert colors.shape == (300, 4)
    assert float(colors.min()) >= 0 and float(colors.max()) <= 1
    assert float(colors[:, 3].std()) > 0.2  # random opacity


def test_clipdraw_init_options_and_reproducibility():
    first = clipdraw_init(20, (64, 64), generator=torch.Generator().manual_seed(5),
                          max_segments=5, width=3.0, jitter=0.2)
    again = clipdraw_init(20, (64, 64), generator=torch.Generator().manual_seed(5),
                          max_segments=5, width=3.0, jitter=0.2)
    assert all(torch.equal(a, b) for a, b in zip(first[0], again[0]))
    assert torch.equal(first[2], again[2])
    assert max((p.shape[0] - 1) // 3 for p in first[0]) > 3
    assert torch.equal(first[1], torch.full((20,), 3.0))
    steps = torch.cat([p[1:] - p[:-1] for p in first[0]]).abs()
    assert float(steps.max()) > 0.05 * 64
    points, widths, colors = clipdraw_init(0, (64, 64))
    assert points == [] and widths.shape == (0,) and colors.shape == (0, 4)
    image = render(points, widths, colors, (64, 64))
    assert torch.equal(image, torch.ones(3, 64, 64))


def test_clipdraw_init_scene_renders_and_differentiates():
    points, widths, colors = clipdraw_init(32, (64, 64),
                                           generator=torch.Generator().manual_seed(2))
    points = [p.requires_grad_() for p in points]
    widths.requires_grad_()
    colors.requires_grad_()
    render(points, widths, colors, (64, 64)).mean().backward()
    moved = sum(int(float(p.grad.abs().sum()) > 0) for p in points)
    assert moved >= 28  # nearly every stroke is on the canvas and gets a gradient
    assert bool(torch.isfinite(widths.grad).all())
