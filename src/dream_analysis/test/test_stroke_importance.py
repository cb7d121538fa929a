"""Per-stroke importance: exact leave-one-out renders, the right stroke found, the cap kept."""
import numpy as np
import torch

from dream_analysis.drawing_images import SquareView
from dream_analysis.stroke_importance import ink, stroke_importance, strokes_to_evaluate
from dream_analysis.synthetic_archive import random_strokes
from dream_clipdraw.drawing import Drawing, Stroke


def line(x0, y0, x1, y1, width=3.0, alpha=1.0):
    points = [[x0 + (x1 - x0) * t, y0 + (y1 - y0) * t] for t in (0, 1 / 3, 2 / 3, 1)]
    return Stroke(points=points, width=width, color=(0.0, 0.0, 0.0, alpha))


def test_leaving_a_stroke_out_equals_rendering_without_it():
    rng = np.random.default_rng(3)
    for width, height in ((64, 64), (80, 48)):   # square and padded canvases
        drawing = Drawing(strokes=random_strokes(12, max(width, height), rng),
                          canvas_width=width, canvas_height=height)
        view = SquareView(drawing, 64)
        base = view.render()
        for index in (0, 5, 11):
            kept = [i for i in range(12) if i != index]
            assert torch.allclose(view.without(base, index), view.render(kept), atol=1e-4)


def test_strokes_are_chosen_by_ink():
    drawing = Drawing(strokes=[line(0, 0, 10, 0), line(0, 0, 40, 0), line(0, 0, 40, 0, 1.0),
                               line(0, 0, 40, 0, alpha=0.1)], canvas_width=64, canvas_height=64)
    assert np.allclose(ink(drawing), [30, 120, 40, 12])
    assert strokes_to_evaluate(drawing, 2).tolist() == [1, 2]
    assert strokes_to_evaluate(drawing, 0).tolist() == []


def test_the_stroke_that_carries_the_score_matters_most():
    # A stand-in "CLIP": the embedding is (ink in the left half, ink in the right half, 1);
    # the "prompt" points at ink on the left. Removing the long left stroke hurts most,
    # removing a right stroke helps.
    drawing = Drawing(strokes=[line(4, 10, 28, 54, 4.0), line(6, 40, 12, 46, 2.0),
                               line(40, 8, 60, 50, 4.0), line(36, 20, 60, 20, 3.0)],
                      canvas_width=64, canvas_height=64)
    view = SquareView(drawing, 64, samples=1)

    def encode(images):
        darkness = 1 - images.mean(1)
        feats = torch.stack([darkness[:, :, :32].sum((1, 2)), darkness[:, :, 32:].sum((1, 2)),
                             torch.full((len(images),), 50.0)], 1)
        return feats / feats.norm(dim=1, keepdim=True)

    base = view.render()
    prompt = torch.tensor([1.0, 0.0, 0.3])
    prompt = prompt / prompt.norm()
    found = stroke_importance(view, base, encode(base[None])[0], prompt, encode, cap=3)
    assert found.evaluated.tolist() == [0, 2, 3]          # the three inkiest
    assert np.isnan(found.drops[1])                        # beyond the cap: not evaluated
    assert found.drops[0] > 0 and found.drops[2] < 0 and found.drops[3] < 0
    assert 'stroke 0 matters most' in found.reason()
