"""CLIPDraw's augmentations: random perspective, then a random resized crop to CLIP's input.

Without them the optimisation finds adversarial scribbles that CLIP scores highly but that
look like nothing. Only the random parameters are drawn here, from a caller's
torch.Generator and with the same distributions as ``RandomPerspective`` and
``RandomResizedCrop``, so that a seed reproduces a drawing without touching (or depending on)
the global RNG that other threads share. Each copy's parameters come from one block of
uniforms, drawn in one torch call (not thirty), so the generator's state before a call
still determines its copies. The white border is made by warping ``image - 1`` with zero
padding and adding 1 back.

The warps compute what torchvision's ``perspective`` and ``resized_crop`` (bilinear,
antialiased) compute, but for all copies at once: one ``grid_sample`` per warp for the whole
batch, whose parameters reach the device in one copy. Per copy, torchvision's functions cost
about twenty small kernels and several host-to-device copies each, which on a GPU made the
augmentations cost more than the rendering. A crop that must be shrunk to CLIP's size (a
canvas larger than CLIP's input) needs the antialiasing filter: that case uses torchvision's
``resized_crop`` per copy (an upscaling resize is plain bilinear interpolation).
"""
import functools
import math

import torch
from torch.nn import functional as F
from torchvision.transforms import functional as TF


# Uniforms one copy may need: 8 corner moves, 10 tries of (scale, ratio), a crop position.
_PER_COPY = 8 + 2 * 10 + 2


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
        self._pool = []

    def __call__(self, image, n):
        """image (3, H, W) -> (n, 3, out_size, out_size), differentiable w.r.t. image."""
        height, width = image.shape[-2:]
        params, crops = self.draw(n, height, width)
        params = params.to(device=image.device, dtype=image.dtype)
        if all(h <= self.out_size and w <= self.out_size for _, _, h, w in crops):
            return self.warp(image, params)
        size = [self.out_size, self.out_size]
        return torch.stack([TF.resized_crop(copy, top, left, h, w, size, antialias=True)
                            for copy, (top, left, h, w) in zip(self._perspective(image, params),
                                                               crops)])

    def draw(self, n, height, width):
        """Random parameters of ``n`` copies of an image of ``height`` x ``width``: a (n, 12)
        float64 CPU tensor (8 perspective coefficients, then the crop's top, left, h, w) for
        :meth:`warp`, and the crops as integers."""
        corners, crops = [], []
        for _ in range(int(n)):
            corner, crop = self.copy_params(width, height)
            corners.append(corner)
            crops.append(crop)
        coeffs = _perspective_coeffs(corners, height, width)
        return torch.cat([coeffs, torch.tensor(crops, dtype=torch.float64)], 1), crops

    def warp(self, image, params):
        """The copies of ``image`` (3, H, W) that ``params`` (n, 12, on the image's device,
        from :meth:`draw`) describe, for crops no larger than ``out_size``: two
        ``grid_sample`` calls whatever n, and nothing that waits for the device."""
        height, width = image.shape[-2:]
        warped = self._perspective(image, params)
        return F.grid_sample(warped, _crop_grid(params[:, 8:], height, width, self.out_size),
                             mode='bilinear', padding_mode='border', align_corners=False)

    def _perspective(self, image, params):
        # Warp (image - fill) with zero padding, then add fill back: the revealed border is
        # exactly ``fill``. torchvision's own fill blends bilinear edge samples twice and
        # leaves a grey seam along the border, a line CLIP would see.
        height, width = image.shape[-2:]
        grid = _perspective_grid(params[:, :8], height, width)
        shifted = (image - self.fill).unsqueeze(0).expand(params.shape[0], -1, -1, -1)
        return F.grid_sample(shifted, grid, mode='bilinear', padding_mode='zeros',
                             align_corners=False) + self.fill

    def copy_params(self, width, height):
        """One copy's perspective corners and crop, from one block of uniforms."""
        self._fill()
        try:
            return self.perspective_params(width, height), self.crop_params(width, height)
        finally:
            self._pool = []   # the unused rest: the next copy starts a block of its own

    def _fill(self):
        self._pool = torch.rand(_PER_COPY, dtype=torch.float64,
                                generator=self.generator).tolist()[::-1]

    def _next(self):
        """A uniform in [0, 1) from the generator (53 random bits)."""
        if not self._pool:
            self._fill()
        return self._pool.pop()

    def _randint(self, low, high):
        return low + min(int(self._next() * (high - low)), high - low - 1)

    def _uniform(self, low, high):
        return low + (high - low) * self._next()

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


def _perspective_coeffs(corners, height, width):
    """(n, 8) coefficients (a..h) mapping output pixels to grid_sample's input coordinates.

    torchvision's ``_get_perspective_coeffs`` for a batch (the same least-squares system in
    double precision, rounded to float32 as torchvision rounds it), with the numerators
    divided by half the image's size, as torchvision's grid does on the device.
    """
    rows = []
    for start, end in corners:
        system = []
        for (x, y), (u, v) in zip(end, start):
            system.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
            system.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rows.append((system, [c for point in start for c in point]))
    a = torch.tensor([r[0] for r in rows], dtype=torch.float64)
    b = torch.tensor([r[1] for r in rows], dtype=torch.float64)
    solution = torch.linalg.lstsq(a, b[..., None], driver='gels').solution[..., 0]
    solution = solution.to(torch.float32).double()
    solution[:, :3] /= 0.5 * width
    solution[:, 3:6] /= 0.5 * height
    return solution


def _perspective_grid(coeffs, height, width):
    """(n, H, W, 2) grid_sample grid of the homographies ``coeffs`` (n, 8), pixel centres."""
    xy1 = _pixel_centres(height, width, coeffs.device, coeffs.dtype)      # (H*W, 3)
    n = coeffs.shape[0]
    numerators = xy1 @ coeffs[:, :6].reshape(n, 2, 3).transpose(1, 2)     # (n, H*W, 2)
    denominator = xy1[:, :2] @ coeffs[:, 6:].T + 1                         # (H*W, n)
    grid = numerators / denominator.T[..., None] - 1
    return grid.view(n, height, width, 2)


@functools.lru_cache(maxsize=8)
def _pixel_centres(height, width, device, dtype):
    """(H*W, 3) rows (x + 0.5, y + 0.5, 1), made once per size and device."""
    y, x = torch.meshgrid(torch.arange(height, dtype=torch.float64) + 0.5,
                          torch.arange(width, dtype=torch.float64) + 0.5, indexing='ij')
    xy1 = torch.stack([x.reshape(-1), y.reshape(-1), torch.ones(height * width)], 1)
    return xy1.to(device=device, dtype=dtype)


def _crop_grid(crops, height, width, out):
    """(n, out, out, 2) grid that resizes crops (top, left, h, w) (n, 4) to out x out.

    The source coordinate of output pixel i is (i + 0.5) h / out - 0.5 clamped to the crop,
    as in torch's bilinear resize of the cropped tensor; for an upscaling resize its
    antialiased variant computes the same weights.
    """
    steps = _pixel_centres(1, out, crops.device, crops.dtype)[:, 0]        # i + 0.5
    top, left, h, w = crops.unbind(1)

    def axis(first, length, size):
        source = steps * (length / out)[:, None] - 0.5
        source = torch.minimum(source.clamp_min(0), (length - 1)[:, None]) + first[:, None]
        return (source + 0.5) * (2 / size) - 1

    gx = axis(left, w, width)[:, None, :].expand(-1, out, -1)
    gy = axis(top, h, height)[:, :, None].expand(-1, -1, out)
    return torch.stack([gx, gy], dim=3)
