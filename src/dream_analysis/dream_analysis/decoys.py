"""Agreement judged against decoys: where the true prompt ranks among many others.

A raw CLIP cosine says little (matched image-text pairs sit around 0.2-0.4, and a drawing
optimised against a model flatters it), so each drawing is compared with its own prompt and
with every candidate that is not its prompt: the other dreams of the archive and a shipped
list of generic prompts. The rank of the true prompt, its percentile among the candidates
and its z-score over them are what the groupings use. The same ranking is done for images of
text (glyphs): the drawing against its prompt written as letters and against decoys'.
"""
from dataclasses import dataclass

import numpy as np

from dream_analysis.word_lists import data_file, read_lines


def load_decoys(path=None):
    """Generic decoy prompts: the shipped list, or one prompt per line of ``path``."""
    import pathlib
    source = pathlib.Path(path) if path else data_file('decoys.txt')
    if path and not source.is_file():
        raise FileNotFoundError(f'decoy file not found: {path}')
    try:
        decoys = read_lines(source)
    except UnicodeDecodeError as error:
        raise ValueError(f'decoy file {path} is not UTF-8 text (byte '
                         f'{error.object[error.start]:#04x} at offset {error.start})') from None
    if not decoys:
        raise ValueError(f'{path or "decoys.txt"} holds no decoy prompts')
    return decoys


def same_text(a, b):
    return ' '.join(a.lower().split()) == ' '.join(b.lower().split())


@dataclass
class RelativeAgreement:
    """Where each session's true candidate ranks among the others (1 = best)."""

    cosine: np.ndarray         # (n,) cosine with the true candidate
    rank: np.ndarray           # (n,) 1 + candidates scoring strictly higher
    candidates: np.ndarray     # (n,) how many candidates it was ranked against
    percentile: np.ndarray     # (n,) (rank - 1) / candidates: 0 = nothing beat it
    z: np.ndarray              # (n,) (cosine - candidates' mean) / their std


def relative_agreement(images, truths, pool, exclude):
    """Rank each image's true candidate among a pool of candidates.

    images: (n, D) unit embeddings of the drawings; truths: (n, D) their true candidates
    (prompt text embedding, or glyph image embedding); pool: (m, D) candidates;
    exclude: (n, m) bool, True where a pool entry must not count as a decoy for that row
    (the same prompt text, e.g. the session's own).
    """
    images = np.asarray(images, dtype=np.float64)
    truths = np.asarray(truths, dtype=np.float64)
    pool = np.asarray(pool, dtype=np.float64)
    n = images.shape[0]
    cosine = np.einsum('nd,nd->n', images, truths)
    scores = images @ pool.T if len(pool) else np.zeros((n, 0))
    valid = ~np.asarray(exclude, dtype=bool) if len(pool) else np.zeros((n, 0), dtype=bool)
    counts = valid.sum(1)
    higher = ((scores > cosine[:, None]) & valid).sum(1)
    rank = higher + 1
    with np.errstate(invalid='ignore', divide='ignore'):
        percentile = np.where(counts > 0, higher / np.maximum(counts, 1), np.nan)
        masked = np.where(valid, scores, np.nan)
        mean = np.nanmean(np.where(counts[:, None] > 0, masked, 0.0), axis=1)
        std = np.nanstd(np.where(counts[:, None] > 0, masked, 0.0), axis=1)
        z = np.where(counts > 1, (cosine - mean) / np.maximum(std, 1e-9), np.nan)
    return RelativeAgreement(cosine, rank, counts, percentile, z)


def exclusion_mask(prompts, pool_texts):
    """(n, m) True where pool entry j is the same text as session i's prompt."""
    normal = [' '.join(t.lower().split()) for t in pool_texts]
    index = {}
    for j, t in enumerate(normal):
        index.setdefault(t, []).append(j)
    mask = np.zeros((len(prompts), len(pool_texts)), dtype=bool)
    for i, prompt in enumerate(prompts):
        for j in index.get(' '.join(prompt.lower().split()), ()):
            mask[i, j] = True
    return mask
