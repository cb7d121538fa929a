"""Random CLIPDraw-like drawings (seeded), for the benchmark and the tests.

Like CLIPDraw's initialisation: each stroke has 1-3 cubic segments, starts anywhere on the
canvas and each further control point moves from the previous one by up to +-5% of the
canvas, so strokes are short squiggles scattered over the whole canvas.
"""
import numpy as np

from dream_plotter.drawing_model import DrawingData, StrokeData


def random_drawing(num_strokes=256, seed=0, canvas=224, max_segments=3, step=0.05,
                   palette=None):
    rng = np.random.default_rng(seed)
    strokes = []
    for _ in range(num_strokes):
        k = int(rng.integers(1, max_segments + 1))
        p0 = rng.uniform(0, canvas, size=2)
        steps = rng.uniform(-step * canvas, step * canvas, size=(3 * k, 2))
        pts = np.vstack([p0, p0 + np.cumsum(steps, axis=0)])
        pts = np.clip(pts, 0, canvas)
        color = tuple(float(c) for c in rng.uniform(0, 1, size=3)) + (1.0,)
        pen = int(rng.integers(0, len(palette))) if palette else 0
        strokes.append(StrokeData(points=pts, width=float(rng.uniform(1, 5)), color=color,
                                  pen=pen))
    return DrawingData(strokes=strokes, canvas_width=canvas, canvas_height=canvas,
                       palette=list(palette or []), prompt='random squiggles')
