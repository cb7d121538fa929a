"""CLIPDraw's augmentations: random perspective, then a random resized crop to CLIP's input.

Without them the optimisation finds adversarial scribbles that CLIP scores highly but that
look like nothing. The warps are torchvision's own differentiable functional ops; only the
random parameters are drawn here, from a caller's torch.Generator and with the same
distributions as ``RandomPerspective`` and ``RandomResizedCrop``, so that a seed reproduces
a drawing without touching (or depending on) the global RNG that other threads share.
(The v1 functional API: v2's perspective fills the border in place, which breaks autograd.)
The white border is made by warping ``image - 1`` with zero padding and adding 1 back.
"""
import math

import torch
from torchvision.transforms import functional as TF


class Augmenter:
    """Makes n differently warped copies of one rendered canvas, sized for CLIP."""

    def __init__(self, out_size, *, distortion=0.5, crop_scale=(0.7, 0.9),
                 crop_ratio=(3 / 4, 4 / 3), fill=1.0, generator=None):
        if not 0 <= distortion <= 1:
            raise ValueError(f'distortion must be in [0, 1], got {distortion}')
        if not 0 < crop_scale[0] <= crop_scale[1] <= 1:
            raise ValueError(f'crop_scale must satisfy 0 < low <= high <= 1, got {crop_scale}')
        self.out_size = int(out_size)
        self.distortion = float(distortion)
        self.crop_scale = tuple(crop_scale)
        self.crop_ratio = tuple(crop_ratio)
        self.fill = float(fill)
        self.generator = generator

    def __call__(self, image, n):
        """image (3, H, W) -> (n, 3, out_size, out_size), differentiable w.r.t. image."""
        height, width = image.shape[-2:]
        copies = []
        for _ in range(int(n)):
            start, end = self.perspective_params(width, height)
            # Warp (image - fill) with zero padding, then add fill back: the revealed border
            # is exactly ``fill``. torchvision's own fill blends bilinear edge samples twice
            # and leaves a grey seam along the border, a line CLIP would see.
            warped = TF.perspective(image - self.fill, start, end) + self.fill
            top, left, h, w = self.crop_params(width, height)
            copies.append(TF.resized_crop(warped, top, left, h, w,
                                          [self.out_size, self.out_size], antialias=True))
        return torch.stack(copies)

    def _randint(self, low, high):
        return int(torch.randint(low, high, (1,), generator=self.generator))

    def _uniform(self, low, high):
        return low + (high - low) * float(torch.rand(1, generator=self.generator))

    def perspective_params(self, width, height):
        """Corners moved inwards by up to distortion x half the side (RandomPerspective)."""
        half_h, half_w = height // 2, width // 2
        dh = int(self.distortion * half_h) + 1
        dw = int(self.distortion * half_w) + 1
        top_left = [self._randint(0, dw), self._randint(0, dh)]
        top_right = [width - self._randint(0, dw) - 1, self._randint(0, dh)]
        bottom_right = [width - self._randint(0, dw) - 1, height - self._randint(0, dh) - 1]
        bottom_left = [self._randint(0, dw), height - self._randint(0, dh) - 1]
        start = [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]]
        return start, [top_left, top_right, bottom_right, bottom_left]

    def crop_params(self, width, height):
        """(top, left, h, w) of a crop of scale x area and ratio (RandomResizedCrop)."""
        area = height * width
        log_ratio = (math.log(self.crop_ratio[0]), math.log(self.crop_ratio[1]))
        for _ in range(10):
            target = area * self._uniform(*self.crop_scale)
            aspect = math.exp(self._uniform(*log_ratio))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return self._randint(0, height - h + 1), self._randint(0, width - w + 1), h, w
        # Fallback, as torchvision: a central crop of the whole image within the ratio range.
        ratio = width / height
        if ratio < self.crop_ratio[0]:
            w, h = width, int(round(width / self.crop_ratio[0]))
        elif ratio > self.crop_ratio[1]:
            h, w = height, int(round(height * self.crop_ratio[1]))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w
