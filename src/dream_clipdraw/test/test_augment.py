"""CLIPDraw's augmentations: shape, white fill, gradients, and the seed alone decides them."""
import pytest
import torch

from dream_clipdraw.augment import Augmenter


def make(seed=0, **kwargs):
    return Augmenter(32, generator=torch.Generator().manual_seed(seed), **kwargs)


def test_copies_have_clip_size_and_differ():
    image = torch.rand(3, 48, 48)
    batch = make()(image, 4)
    assert batch.shape == (4, 3, 32, 32)
    assert not torch.allclose(batch[0], batch[1])


def test_a_white_canvas_stays_white():
    batch = make()(torch.ones(3, 40, 40), 3)
    assert torch.allclose(batch, torch.ones_like(batch), atol=1e-5)


def test_the_border_revealed_by_the_warp_is_white():
    batch = make(distortion=1.0, crop_scale=(1.0, 1.0))(torch.zeros(3, 40, 40), 4)
    assert batch.max() > 0.9          # some white came in from outside
    assert batch.min() < 0.1          # and the black canvas is still there


def test_gradients_reach_the_canvas():
    image = torch.rand(3, 40, 40, requires_grad=True)
    make()(image, 2).sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


def test_same_seed_same_copies_other_seed_other_copies():
    image = torch.rand(3, 40, 40)
    assert torch.equal(make(1)(image, 2), make(1)(image, 2))
    assert not torch.equal(make(1)(image, 2), make(2)(image, 2))


def test_parameters_stay_in_range():
    aug = make(distortion=0.5)
    for _ in range(200):
        _, end = aug.perspective_params(100, 80)
        xs = [p[0] for p in end]
        ys = [p[1] for p in end]
        assert min(xs) >= 0 and max(xs) <= 99 and min(ys) >= 0 and max(ys) <= 79
        assert end[0][0] <= 26 and end[1][0] >= 99 - 26
        top, left, h, w = aug.crop_params(100, 80)
        assert 0.7 * 8000 * 0.85 <= h * w <= 0.9 * 8000 * 1.15
        assert top + h <= 80 and left + w <= 100


def _torchvision_copies(aug, image, n):
    """The same copies made one by one with torchvision's perspective and resized_crop."""
    from torchvision.transforms import functional as TF

    height, width = image.shape[-2:]
    copies = []
    for _ in range(n):
        (start, end), (top, left, h, w) = aug.copy_params(width, height)
        warped = TF.perspective(image - aug.fill, start, end) + aug.fill
        copies.append(TF.resized_crop(warped, top, left, h, w, [aug.out_size] * 2,
                                      antialias=True))
    return torch.stack(copies)


@pytest.mark.parametrize('size,out', [(56, 56), (40, 64), (72, 48)])
def test_the_batched_warps_compute_torchvision_s_warps(size, out):
    # (56, 56) and (40, 64): crops are enlarged, batched grid_sample; (72, 48): crops are
    # shrunk, torchvision's antialiased resize per copy.
    image = torch.rand(3, size, size, requires_grad=True)
    ours = Augmenter(out, generator=torch.Generator().manual_seed(3))(image, 4)
    theirs = _torchvision_copies(
        Augmenter(out, generator=torch.Generator().manual_seed(3)), image, 4)
    assert ours.shape == theirs.shape == (4, 3, out, out)
    assert torch.allclose(ours, theirs, atol=1e-4)
    weights = torch.randn_like(ours)
    ours_grad, = torch.autograd.grad((ours * weights).sum(), image)
    theirs_grad, = torch.autograd.grad((theirs * weights).sum(), image)
    assert torch.allclose(ours_grad, theirs_grad, atol=1e-3)
    assert theirs_grad.abs().max() > 0.5
