"""A slow, obviously-correct reference renderer for tests of :mod:`rasterizer`.

Dense and direct: every stroke is a finely sampled polyline (128 pieces per cubic, far
closer to the curve than a sample spacing), a sample is inside when its distance to the
polyline is at most half the width (round caps and joins by construction), and each pixel
averages ``samples`` x ``samples`` binary samples composited stroke by stroke with "over".
"""
import torch

REFERENCE_PIECES = 128


def bezier_polyline(points, pieces=REFERENCE_PIECES):
    """(k * pieces + 1, 2) points along the cubic path (3k+1, 2)."""
    t = torch.linspace(0, 1, pieces + 1, dtype=points.dtype)[:, None]
    out = [points[:1]]
    for s in range(0, points.shape[0] - 1, 3):
        p0, p1, p2, p3 = points[s:s + 4]
        curve = ((1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1
                 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3)
        out.append(curve[1:])
    return torch.cat(out)


def reference_render(points, widths, colors, size, samples=16, background=None):
    """(3, H, W) float64 image: binary coverage at samples x samples per pixel, "over".

    A stroke covers the union of the capsules (radius w / 2) around its polyline's pieces;
    each capsule is tested only on the samples inside its bounding box.
    """
    height, width = size
    background = torch.ones(3) if background is None else background
    ys = (torch.arange(height * samples, dtype=torch.float64) + 0.5) / samples
    xs = (torch.arange(width * samples, dtype=torch.float64) + 0.5) / samples
    image = background.double().view(3, 1, 1).expand(3, ys.shape[0], xs.shape[0]).clone()
    for p, w, c in zip(points, widths, colors):
        line = bezier_polyline(p.detach().double())
        r = float(w) / 2
        inside = torch.zeros(ys.shape[0], xs.shape[0], dtype=torch.bool)
        for a, b in zip(line[:-1], line[1:]):
            lo = torch.minimum(a, b) - r
            hi = torch.maximum(a, b) + r
            col = ((xs >= lo[0]) & (xs <= hi[0])).nonzero()[:, 0]
            row = ((ys >= lo[1]) & (ys <= hi[1])).nonzero()[:, 0]
            if col.numel() == 0 or row.numel() == 0:
                continue
            px = xs[col][None, :]
            py = ys[row][:, None]
            ab = b - a
            length_sq = max(float(ab.dot(ab)), 1e-18)
            t = (((px - a[0]) * ab[0] + (py - a[1]) * ab[1]) / length_sq).clamp(0, 1)
            dx = px - a[0] - t * ab[0]
            dy = py - a[1] - t * ab[1]
            box = inside[row[0]:row[-1] + 1, col[0]:col[-1] + 1]
            box |= dx * dx + dy * dy <= r * r
        a = inside.double() * float(c[3])
        image = image * (1 - a) + c[:3].detach().double().view(3, 1, 1) * a
    return image.view(3, height, samples, width, samples).mean(dim=(2, 4))
