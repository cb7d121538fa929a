"""pydiffvg behind :func:`dream_clipdraw.rasterizer.render`'s signature, when it is installed.

Only for comparisons: pydiffvg is not a dependency (it does not build everywhere). Note that
diffvg's ``stroke_width`` is a half-width; our widths are full widths.
"""
import torch


def diffvg_renderer():
    """Return a render function backed by pydiffvg; ValueError when pydiffvg is missing."""
    try:
        import pydiffvg
    except ImportError as exc:
        raise ValueError("renderer 'diffvg' needs pydiffvg, which is not installed here "
                         f"({exc}); draw with the torch renderer") from None

    def render(points, widths, colors, size, *, samples=2, background=None, black_ink=False):
        if black_ink:
            raise ValueError("renderer 'diffvg' has no black_ink mode; use 'torch'")
        height, width = (int(v) for v in size)
        device = widths.device
        pydiffvg.set_device(device)
        if background is None:
            background = torch.ones(3, dtype=torch.float32, device=device)
        shapes, groups = [], []
        for i, p in enumerate(points):
            segments = (p.shape[0] - 1) // 3
            shapes.append(pydiffvg.Path(
                num_control_points=torch.full((segments,), 2, dtype=torch.int32),
                points=p.float(), stroke_width=widths[i].float() / 2, is_closed=False))
            groups.append(pydiffvg.ShapeGroup(
                shape_ids=torch.tensor([i]), fill_color=None, stroke_color=colors[i].float()))
        args = pydiffvg.RenderFunction.serialize_scene(width, height, shapes, groups)
        rgba = pydiffvg.RenderFunction.apply(width, height, samples, samples, 0, None, *args)
        alpha = rgba[:, :, 3:]
        image = rgba[:, :, :3] * alpha + background.float().view(1, 1, 3) * (1 - alpha)
        return image.permute(2, 0, 1)

    return render
