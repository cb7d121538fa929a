"""Clusters of drawing + prompt embeddings."""
import numpy as np

from dream_analysis.clustering import cluster_sessions


def test_separate_groups_are_found():
    rng = np.random.default_rng(0)
    centres = np.eye(6)[:3]
    image = np.concatenate([c + 0.05 * rng.standard_normal((8, 6)) for c in centres])
    text = np.concatenate([np.roll(c, 3) + 0.05 * rng.standard_normal((8, 6))
                           for c in centres])
    found = cluster_sessions(image, text)
    assert found.k == 3 and found.silhouette > 0.5
    for start in (0, 8, 16):
        assert len(set(found.labels[start:start + 8])) == 1
    assert len(set(found.labels)) == 3
    assert np.isfinite(found.coords).all() and found.coords.shape == (24, 2)
    assert cluster_sessions(image, text, k=2).k == 2


def test_too_few_sessions_form_one_group():
    found = cluster_sessions(np.eye(3), np.eye(3))
    assert found.k == 1 and (found.labels == 0).all() and 'too few' in found.note
    assert cluster_sessions(np.zeros((0, 4)), np.zeros((0, 4))).labels.shape == (0,)
