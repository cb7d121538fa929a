"""Points along chains of cubic Bezier segments, for path lengths and polyline previews.

Works on numpy arrays and torch tensors alike (only arithmetic and indexing), so the same
code measures lengths with gradient in the optimiser and flattens curves for RViz markers.
"""
import numpy as np


def cubic_chain_points(control, steps=16):
    """control (3k+1, 2) -> (k * steps + 1, 2) points along the chain, ends included."""
    n = control.shape[0]
    if n < 4 or (n - 1) % 3:
        raise ValueError(f'a cubic chain needs 3k+1 control points (k >= 1), got {n}')
    t = np.linspace(0.0, 1.0, steps + 1)[:-1]
    basis = np.stack([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3], 1)
    p0, p1, p2, p3 = control[0:-1:3], control[1::3], control[2::3], control[3::3]
    numpy = isinstance(control, np.ndarray)
    if numpy:
        b = basis.astype(control.dtype)
    else:
        import torch
        b = torch.as_tensor(basis, dtype=control.dtype, device=control.device)
    points = (b[None, :, 0, None] * p0[:, None] + b[None, :, 1, None] * p1[:, None]
              + b[None, :, 2, None] * p2[:, None] + b[None, :, 3, None] * p3[:, None])
    points = points.reshape(-1, 2)
    if numpy:
        return np.concatenate([points, control[-1:]], 0)
    return torch.cat([points, control[-1:]], 0)


def chain_length(control, steps=16):
    """Length of the chain, measured along ``steps`` chords per segment."""
    points = cubic_chain_points(control, steps)
    d = points[1:] - points[:-1]
    return _norms(d).sum()


def _norms(d):
    if isinstance(d, np.ndarray):
        return np.sqrt((d ** 2).sum(-1))
    return ((d ** 2).sum(-1) + 1e-12).sqrt()


def stroke_lengths(points, steps=8):
    """Lengths (N,) of a list of (3k+1, 2) torch chains, in one vectorised pass (with grad)."""
    import torch

    if not points:
        return torch.zeros(0)
    device, dtype = points[0].device, points[0].dtype
    starts, owners, offset = [], [], 0
    for i, p in enumerate(points):
        k = (p.shape[0] - 1) // 3
        starts.append(offset + 3 * torch.arange(k))
        owners.append(torch.full((k,), i))
        offset += p.shape[0]
    starts = torch.cat(starts).to(device)
    owners = torch.cat(owners).to(device)
    control = torch.cat(list(points))[starts[:, None] + torch.arange(4, device=device)]
    t = torch.linspace(0, 1, steps + 1, device=device, dtype=dtype)[:, None]
    basis = torch.cat([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3], 1)
    curve = torch.einsum('tj,sjd->std', basis, control)
    pieces = ((curve[:, 1:] - curve[:, :-1]) ** 2).sum(-1).add(1e-12).sqrt().sum(1)
    return torch.zeros(len(points), device=device, dtype=dtype).index_add(0, owners, pieces)
