"""Stroke importance as a picture: evaluated strokes coloured by the score lost without them.

Red strokes carry the drawing's agreement with the prompt (leaving them out lowers it), blue
ones work against it; strokes that were not evaluated stay grey. Drawn with PIL over a faded
copy of the drawing: a picture for people, not a measurement.
"""
import numpy as np

from dream_clipdraw.bezier import cubic_chain_points


def heat_map(view, image, importance, fade=0.75):
    """(S, S, 3) uint8 heat map of ``importance`` (StrokeImportance) over ``image`` (uint8)."""
    from matplotlib import colormaps
    from PIL import Image, ImageDraw

    faded = (image.astype(np.float32) * (1 - fade) + 255 * fade).astype(np.uint8)
    canvas = Image.fromarray(faded)
    draw = ImageDraw.Draw(canvas)
    drops = importance.drops
    finite = drops[np.isfinite(drops)]
    scale = float(np.max(np.abs(finite))) if len(finite) else 0.0
    cmap = colormaps['coolwarm']
    order = sorted(importance.evaluated, key=lambda i: abs(drops[i]))   # strongest on top
    for index in order:
        stroke = view.drawing.strokes[int(index)]
        points = np.asarray(stroke.points, dtype=float) * view.scale + view.offset
        line = cubic_chain_points(points, steps=12)
        value = 0.5 + 0.5 * (drops[index] / scale if scale > 0 else 0.0)
        colour = tuple(int(255 * c) for c in cmap(float(value))[:3])
        width = max(2, int(round(stroke.width * view.scale)) + 1)
        draw.line([tuple(p) for p in line], fill=colour, width=width, joint='curve')
    return np.asarray(canvas)
