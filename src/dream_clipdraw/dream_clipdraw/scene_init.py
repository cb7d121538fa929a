"""CLIPDraw's random initial scene (Frans et al. 2021), shared by the optimiser and benchmarks."""
import torch


def clipdraw_init(num_paths, size, *, generator=None, max_segments=3, width=1.0,
                  jitter=0.05, device='cpu'):
    """CLIPDraw's initial scene: ``num_paths`` random open paths on a (height, width) canvas.

    Each path has 1..max_segments cubic segments (3k+1 points); its start point is uniform on
    the canvas and each further control point is the previous one plus
    (U - 0.5) * 2 * jitter * canvas size per axis (up to +-5% of the canvas by default).
    Widths are all ``width`` (full width, pixels); colours are uniform random RGBA.
    Returns (points list, widths (N,), colors (N, 4)) as plain float32 tensors on ``device``;
    the caller makes them require grad. ``generator`` is a CPU torch.Generator (the scene is
    drawn on the CPU, so the same seed gives the same scene on every device).
    """
    height, width_px = (int(v) for v in size)
    if num_paths < 0 or max_segments < 1 or height <= 0 or width_px <= 0:
        raise ValueError('clipdraw_init needs num_paths >= 0, max_segments >= 1 and a '
                         f'positive size, got {num_paths}, {max_segments}, {size}')
    canvas = torch.tensor([width_px, height], dtype=torch.float32)
    segments = torch.randint(1, max_segments + 1, (num_paths,), generator=generator)
    points = []
    for k in segments.tolist():
        start = torch.rand(1, 2, generator=generator) * canvas
        steps = (torch.rand(3 * k, 2, generator=generator) - 0.5) * 2 * jitter * canvas
        path = torch.cat([start, start + torch.cumsum(steps, 0)])
        points.append(path.to(device))
    widths = torch.full((num_paths,), float(width), device=device)
    colors = torch.rand(num_paths, 4, generator=generator).to(device)
    return points, widths, colors
