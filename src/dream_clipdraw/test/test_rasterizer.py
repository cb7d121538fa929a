"""Correctness of the differentiable rasterizer: area, reference image, gradients."""
import math

import pytest
import torch

from dream_clipdraw.raster_flatten import piece_layout
from dream_clipdraw.raster_reference import reference_render
from dream_clipdraw.raster_tiles import TileGrid
from dream_clipdraw.rasterizer import render
from dream_clipdraw.scene_init import clipdraw_init

BLACK = torch.tensor([[0.0, 0.0, 0.0, 1.0]])


pytestmark = pytest.mark.usefixtures('one_torch_thread')   # conftest.py


def straight(x0, y0, x1, y1, segments=1, dtype=torch.float32):
    """A straight open path from (x0, y0) to (x1, y1) made of cubic segments."""
    t = torch.linspace(0, 1, 3 * segments + 1, dtype=torch.float64)[:, None]
    start = torch.tensor([x0, y0], dtype=torch.float64)
    end = torch.tensor([x1, y1], dtype=torch.float64)
    return (start + t * (end - start)).to(dtype)


def ink(image):
    """Sum over pixels of (1 - luminance): the area covered by black ink."""
    image = image.detach()
    luminance = 0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2]
    return float((1 - luminance).sum())


@pytest.mark.parametrize('width', [2.0, 5.0, 11.0])
@pytest.mark.parametrize('samples', [1, 2, 4])
@pytest.mark.parametrize('direction', [(1.0, 0.0), (0.6, 0.8), (-0.28, 0.96)])
def test_straight_stroke_area_is_length_times_width_plus_caps(width, samples, direction):
    length = 40.0
    cx, cy = 48.3, 47.9
    dx, dy = direction[0] * length / 2, direction[1] * length / 2
    points = [straight(cx - dx, cy - dy, cx + dx, cy + dy)]
    image = render(points, torch.tensor([width]), BLACK, (96, 96), samples=samples)
    expected = length * width + math.pi * (width / 2) ** 2
    assert ink(image) == pytest.approx(expected, rel=0.02)


def test_area_follows_width_and_is_not_half_of_it():
    """Guards the unit of widths (full width, not radius) against the area formula."""
    points = [straight(20.0, 30.0, 70.0, 30.0)]
    thin = ink(render(points, torch.tensor([4.0]), BLACK, (64, 96)))
    thick = ink(render(points, torch.tensor([8.0]), BLACK, (64, 96)))
    assert thin == pytest.approx(50 * 4 + math.pi * 4, rel=0.02)
    assert thick == pytest.approx(50 * 8 + math.pi * 16, rel=0.02)


def reference_scene():
    generator = torch.Generator().manual_seed(7)
    points, _, colors = clipdraw_init(6, (64, 64), generator=generator, jitter=0.15)
    widths = torch.tensor([1.0, 2.0, 3.0, 4.5, 6.0, 9.0])
    return points, widths, colors


@pytest.fixture(scope='module')
def reference_image():
    points, widths, colors = reference_scene()
    return reference_render(points, widths, colors, (64, 64), samples=16)


@pytest.mark.parametrize('samples', [2, 4])
def test_matches_16x16_supersampled_reference(reference_image, samples):
    points, widths, colors = reference_scene()
    image = render(points, widths, colors, (64, 64), samples=samples).double()
    error = (image - reference_image).abs()
    assert float(error.mean()) < 0.0015
    assert float(error.max()) < 0.2
    # The scene is not trivially white: the comparison has something to compare.
    assert float((1 - reference_image).abs().mean()) > 0.03


def test_deep_tiles_composite_stroke_by_stroke_in_order():
    # 80 strokes through the middle: tiles 80 deep, every 7th one opaque (the log-space
    # compositing's floor). With one sample per pixel a pixel is a sample, so each stroke's
    # alpha can be read from a render of it alone (black on white) and composited one by one.
    generator = torch.Generator().manual_seed(7)
    points = [straight(2.0, float(y), 30.0, 32.0 - float(y)) for y in torch.linspace(4, 28, 80)]
    widths = 1.0 + 3.0 * torch.rand(80, generator=generator)
    colors = torch.rand(80, 4, generator=generator)
    colors[::7, 3] = 1.0
    expected = torch.ones(3, 32, 32, dtype=torch.float64)
    for p, w, c in zip(points, widths, colors):
        black = torch.tensor([[0.0, 0.0, 0.0, float(c[3])]])
        alpha = 1 - render([p], w[None], black, (32, 32), samples=1)[0].double()
        expected = expected * (1 - alpha) + c[:3].double().view(3, 1, 1) * alpha
    image = render(points, widths, colors, (32, 32), samples=1).double()
    assert float((image - expected).abs().max()) < 1e-5
    assert float((1 - expected).abs().mean()) > 0.2


def test_reference_comparison_can_fail(reference_image):
    points, widths, colors = reference_scene()
    moved = [p + torch.tensor([0.7, 0.0]) for p in points]
    image = render(moved, widths, colors, (64, 64)).double()
    assert float((image - reference_image).abs().mean()) > 0.003


@pytest.mark.parametrize('segments', [1, 2, 3, 5])
def test_strokes_of_several_segments_match_reference(segments):
    generator = torch.Generator().manual_seed(segments)
    colors = torch.rand(3, 4, generator=generator)
    points = []
    for _ in range(3):
        start = torch.rand(1, 2, generator=generator) * 48
        steps = (torch.rand(3 * segments, 2, generator=generator) - 0.5) * 8
        points.append(torch.cat([start, start + torch.cumsum(steps, 0)]))
    widths = torch.tensor([1.5, 3.0, 5.0])
    image = render(points, widths, colors, (48, 48)).double()
    reference = reference_render(points, widths, colors, (48, 48))
    assert float((image - reference).abs().mean()) < 0.002


def test_collinear_segments_cover_one_long_stroke():
    one = ink(render([straight(10.0, 20.0, 80.0, 20.0, 1)], torch.tensor([3.0]), BLACK,
                     (40, 96)))
    four = ink(render([straight(10.0, 20.0, 80.0, 20.0, 4)], torch.tensor([3.0]), BLACK,
                      (40, 96)))
    assert four == pytest.approx(one, rel=1e-3)
    assert one == pytest.approx(70 * 3 + math.pi * 2.25, rel=0.02)


def gradient_scene():
    generator = torch.Generator().manual_seed(3)
    points, _, colors = clipdraw_init(3, (20, 20), generator=generator, jitter=0.25)
    points = [p.double().requires_grad_() for p in points]
    widths = torch.tensor([1.3, 2.7, 4.1], dtype=torch.float64, requires_grad=True)
    colors = colors.double().requires_grad_()
    return points, widths, colors


def test_gradients_agree_with_central_differences():
    points, widths, colors = gradient_scene()
    weights = torch.rand(3, 20, 20, generator=torch.Generator().manual_seed(0),
                         dtype=torch.float64)

    def loss():
        with torch.no_grad():
            return float((render(points, widths, colors, (20, 20)) * weights).sum())

    (render(points, widths, colors, (20, 20)) * weights).sum().backward()
    checked = 0
    step = 1e-6
    for tensor in [*points, widths, colors]:
        flat = tensor.data.view(-1)
        analytic = tensor.grad.view(-1)
        for i in range(flat.shape[0]):
            saved = float(flat[i])
            flat[i] = saved + step
            up = loss()
            flat[i] = saved - step
            down = loss()
            flat[i] = saved
            numeric = (up - down) / (2 * step)
            assert float(analytic[i]) == pytest.approx(numeric, rel=1e-4, abs=1e-6), (
                f'parameter {i} of a tensor of shape {tuple(tensor.shape)}')
            checked += abs(numeric) > 1e-3
    # Most parameters matter to this scene: the check is not vacuous.
    assert checked > 30


def test_gradients_reach_every_kind_of_parameter():
    points, widths, colors = gradient_scene()
    render(points, widths, colors, (20, 20)).mean().backward()
    assert all(float(p.grad.abs().sum()) > 0 for p in points)
    # Wider or more opaque ink darkens a white canvas.
    assert bool((widths.grad < 0).all())
    assert bool((colors.grad[:, 3] < 0).all())
    assert bool((colors.grad[:, :3] > 0).all())


def two_crossing(first, second, alpha=1.0):
    points = [straight(5.0, 16.0, 27.0, 16.0), straight(16.0, 5.0, 16.0, 27.0)]
    colors = torch.tensor([[*first, alpha], [*second, alpha]])
    return points, torch.tensor([8.0, 8.0]), colors


def test_later_opaque_stroke_hides_earlier_one():
    red, blue = (1.0, 0.0, 0.0), (0.0, 0.0, 1.0)
    image = render(*two_crossing(red, blue), (32, 32))
    assert image[:, 16, 16].tolist() == pytest.approx([0.0, 0.0, 1.0], abs=1e-6)
    assert image[:, 16, 8].tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-6)
    swapped = render(*two_crossing(blue, red), (32, 32))
    assert swapped[:, 16, 16].tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-6)


def test_half_transparent_strokes_composite_with_over():
    first, second = (0.8, 0.2, 0.0), (0.0, 0.4, 0.6)
    background = torch.tensor([0.9, 1.0, 0.7])
    image = render(*two_crossing(first, second, alpha=0.5), (32, 32), background=background)
    c1, c2 = torch.tensor(first), torch.tensor(second)
    expected = c2 * 0.5 + (c1 * 0.5 + background * 0.5) * 0.5
    assert image[:, 16, 16].tolist() == pytest.approx(expected.tolist(), abs=1e-6)
    only_first = c1 * 0.5 + background * 0.5
    assert image[:, 16, 8].tolist() == pytest.approx(only_first.tolist(), abs=1e-6)
    assert image[:, 2, 2].tolist() == pytest.approx(background.tolist(), abs=1e-6)


def test_no_strokes_gives_the_background():
    background = torch.tensor([0.2, 0.5, 0.9])
    image = render([], torch.zeros(0), torch.zeros(0, 4), (7, 5), background=background)
    assert image.shape == (3, 7, 5)
    assert torch.equal(image, background.view(3, 1, 1).expand(3, 7, 5))
    assert torch.equal(render([], torch.zeros(0), torch.zeros(0, 4), (4, 4)),
                       torch.ones(3, 4, 4))


def test_stroke_entirely_off_canvas_leaves_background_and_zero_gradient():
    points = [straight(-50.0, -40.0, -10.0, -30.0).requires_grad_(),
              straight(1e6, 5.0, 2e6, 9.0).requires_grad_()]
    widths = torch.tensor([4.0, 4.0], requires_grad=True)
    colors = torch.tensor([[0.0, 0.0, 0.0, 1.0]] * 2, requires_grad=True)
    image = render(points, widths, colors, (32, 32))
    assert torch.equal(image, torch.ones(3, 32, 32))
    image.sum().backward()
    assert float(points[0].grad.abs().sum()) == 0
    assert float(widths.grad.abs().sum()) == 0


def test_stroke_partly_off_canvas_covers_its_visible_part():
    # From x = -20 to x = 20 at y = 16: 20 px visible, the left cap outside.
    points = [straight(-20.0, 16.0, 20.0, 16.0)]
    image = render(points, torch.tensor([6.0]), BLACK, (32, 48))
    expected = 20 * 6 + math.pi * 9 / 2
    assert ink(image) == pytest.approx(expected, rel=0.02)
    # A long stroke crossing the whole canvas from far outside.
    crossing = [straight(-1e5, 10.0, 1e5, 10.0)]
    image = render(crossing, torch.tensor([4.0]), BLACK, (32, 48))
    assert ink(image) == pytest.approx(48 * 4, rel=0.02)


def test_degenerate_stroke_is_a_round_dot():
    dot = torch.full((4, 2), 20.0).requires_grad_()
    widths = torch.tensor([10.0], requires_grad=True)
    image = render([dot], widths, BLACK, (40, 40))
    assert ink(image) == pytest.approx(math.pi * 25, rel=0.02)
    image.sum().backward()
    assert bool(torch.isfinite(dot.grad).all())
    assert float(widths.grad) < 0


def test_thin_dot_has_finite_gradients():
    dot = torch.full((7, 2), 10.5).requires_grad_()
    widths = torch.tensor([0.5], requires_grad=True)
    render([dot], widths, BLACK, (20, 20)).sum().backward()
    assert bool(torch.isfinite(dot.grad).all()) and bool(torch.isfinite(widths.grad).all())


def test_stroke_thinner_than_a_sample_is_never_fully_covering():
    # Samples of row 10 sit at y = 10.25 and 10.75; the centreline runs through the first.
    points = [straight(2.0, 10.25, 30.0, 10.25)]
    image = render(points, torch.tensor([0.4]), BLACK, (20, 32))
    # Ramp at the centre: (0.2 * 2 + 0.5) = 0.9 on 2 of the 4 samples, 0 on the others.
    assert float(1 - image[0, 10, 16]) == pytest.approx(0.45, abs=1e-5)
    assert ink(image) == pytest.approx(28 * 0.4, rel=0.15)


def layout(points):
    return piece_layout(torch.cat(points), [p.shape[0] for p in points])


def test_work_follows_the_strokes_not_the_canvas():
    """The (piece, tile) pairs, which size every later step, ignore the canvas's extent."""
    generator = torch.Generator().manual_seed(4)
    points, widths, _ = clipdraw_init(40, (64, 64), generator=generator)
    points = [p + 32 for p in points]  # at most 9 steps of 3.2 px from [0, 64): inside 128
    pieces = layout(points)
    reach = (widths / 2 + 0.25)[pieces.stroke]
    counts = []
    for side in (128, 4096):
        pair_piece = TileGrid(side, side, 2, 4).pairs(pieces.ends, reach)[0]
        counts.append(pair_piece.shape[0])
    assert counts[0] == counts[1]
    assert counts[0] < 4 * pieces.ends.shape[0]  # a few tiles per piece, not all 256 of them
    more = layout(points + [p + 1.5 for p in points])
    doubled = TileGrid(128, 128, 2, 4).pairs(more.ends, torch.cat([reach, reach]))
    assert doubled[0].shape[0] == pytest.approx(2 * counts[0], rel=0.1)


def test_non_square_canvas_not_a_multiple_of_the_tile():
    points, widths, colors = reference_scene()
    image = render(points, widths, colors, (37, 61))
    full = render(points, widths, colors, (64, 64))
    assert image.shape == (3, 37, 61)
    assert torch.allclose(image, full[:, :37, :61], atol=1e-5)


def test_black_ink_equals_over_for_black_strokes():
    points, widths, colors = reference_scene()
    colors = colors.clone()
    colors[:, :3] = 0
    over = render(points, widths, colors, (64, 64))
    ink_image = render(points, widths, colors, (64, 64), black_ink=True)
    assert torch.allclose(over, ink_image, atol=1e-5)


def test_black_ink_multiplies_colour_filters_in_any_order():
    points, widths, colors = reference_scene()
    background = torch.tensor([1.0, 0.9, 0.8])
    image = render(points, widths, colors, (64, 64), samples=1, background=background,
                   black_ink=True)
    # With one sample per pixel, each stroke alone gives its per-pixel factor.
    expected = background.view(3, 1, 1).expand(3, 64, 64).clone()
    for i in range(len(points)):
        expected = expected * render(points[i:i + 1], widths[i:i + 1], colors[i:i + 1],
                                     (64, 64), samples=1, black_ink=True)
    assert torch.allclose(image, expected, atol=1e-5)
    reversed_order = render(points[::-1], widths.flip(0), colors.flip(0), (64, 64),
                            samples=1, background=background, black_ink=True)
    assert torch.allclose(image, reversed_order, atol=1e-5)
    over = render(points, widths, colors, (64, 64), samples=1, background=background)
    assert float((over - image).abs().max()) > 0.05  # coloured strokes: not "over"


def test_black_ink_gradient_is_exact_for_opaque_black():
    points = [straight(4.0, 10.0, 28.0, 10.0, dtype=torch.float64)]
    widths = torch.tensor([6.0], dtype=torch.float64)
    for black_ink in (False, True):
        colors = torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64,
                              requires_grad=True)
        background = torch.tensor([0.5, 0.6, 0.7], dtype=torch.float64)
        render(points, widths, colors, (20, 32), background=background,
               black_ink=black_ink).sum().backward()
        # d(sum)/d(alpha) = -sum over covered pixels of coverage * background
        covered = ink(render(points, widths, torch.tensor([[0.0, 0, 0, 1]]), (20, 32)))
        assert float(colors.grad[0, 3]) == pytest.approx(-covered * 1.8, rel=1e-3)


def test_float64_and_float32_agree():
    points, widths, colors = reference_scene()
    single = render(points, widths, colors, (64, 64))
    double = render([p.double() for p in points], widths.double(), colors.double(), (64, 64))
    assert double.dtype == torch.float64
    assert torch.allclose(single.double(), double, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')
def test_cuda_matches_cpu():
    points, widths, colors = reference_scene()
    cpu = render(points, widths, colors, (64, 64))
    cuda_points = [p.cuda().requires_grad_() for p in points]
    cuda = render(cuda_points, widths.cuda(), colors.cuda(), (64, 64))
    assert cuda.device.type == 'cuda'
    assert torch.allclose(cuda.cpu(), cpu, atol=1e-4)
    cuda.mean().backward()
    assert bool(torch.isfinite(cuda_points[0].grad).all())
