"""How much each stroke matters to CLIP: the score lost when that stroke is left out.

Leave-one-out is exact and simple to explain ("without this stroke, CLIP's agreement with the
prompt drops by x"). Its cost is one render and one CLIP pass per stroke, so only the
strokes with the most ink (length x width x opacity) are evaluated, up to a cap; the others
are reported as not evaluated, never as unimportant. Each left-out image re-renders only the
box its stroke covered, and the images of one drawing go through CLIP as one batch.
"""
from dataclasses import dataclass

import numpy as np
import torch

from dream_clipdraw.bezier import chain_length


@dataclass
class StrokeImportance:
    """Per stroke: score drop when left out (NaN = not evaluated), and the base score."""

    base_score: float
    drops: np.ndarray          # (n_strokes,)
    evaluated: np.ndarray      # indices evaluated, most ink first

    def reason(self):
        n = len(self.drops)
        if n == 0:
            return 'no strokes'
        if not len(self.evaluated):
            return 'not evaluated (cap 0)'
        values = self.drops[self.evaluated]
        top = int(self.evaluated[int(np.argmax(values))])
        share = self.top_share()
        return (f'{len(self.evaluated)} of {n} strokes evaluated (most ink first); stroke '
                f'{top} matters most (score -{values.max():.4f} without it); '
                f'top stroke holds {share:.0%} of the positive drops')

    def top_share(self):
        values = np.clip(self.drops[self.evaluated], 0, None) if len(self.evaluated) else []
        total = float(np.sum(values))
        return float(np.max(values)) / total if total > 0 else float('nan')


def ink(drawing):
    """Ink of each stroke: length x width x opacity (canvas pixels squared)."""
    return np.array([chain_length(np.asarray(s.points, dtype=float)) * s.width * s.color[3]
                     for s in drawing.strokes], dtype=float)


def strokes_to_evaluate(drawing, cap):
    """Indices of the ``cap`` strokes with the most ink, most first."""
    if cap <= 0 or not drawing.strokes:
        return np.zeros(0, dtype=int)
    order = np.argsort(-ink(drawing), kind='stable')
    return order[:cap]


def leave_one_out(view, base_image, chosen):
    """(k, 3, S, S): ``base_image`` with each stroke of ``chosen`` left out in turn."""
    return torch.stack([view.without(base_image, int(i)) for i in chosen])


def from_scores(base_score, scores, n_strokes, chosen):
    """StrokeImportance from the prompt scores of the left-out images of ``chosen``."""
    drops = np.full(n_strokes, np.nan)
    chosen = np.asarray(chosen, dtype=int)
    if len(chosen):
        drops[chosen] = base_score - np.asarray(scores, dtype=float)
    return StrokeImportance(float(base_score), drops, chosen)


def stroke_importance(view, base_image, base_embedding, prompt_embedding, encode, cap):
    """Leave-one-out importance of the ``cap`` inkiest strokes of ``view.drawing``.

    view: a drawing_images.SquareView; base_image: its full render (3, S, S);
    base_embedding / prompt_embedding: unit vectors (D,) of the full drawing and the prompt;
    encode: images (n, 3, S, S) -> unit embeddings (n, D).
    """
    chosen = strokes_to_evaluate(view.drawing, cap)
    prompt = prompt_embedding.float().reshape(-1)
    base_score = float(base_embedding.float().reshape(-1) @ prompt)
    scores = []
    if len(chosen):
        scores = (encode(leave_one_out(view, base_image, chosen)).float() @ prompt).numpy()
    return from_scores(base_score, scores, len(view.drawing.strokes), chosen)
