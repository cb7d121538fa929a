"""Unsupervised clusters of drawings and prompts: what the hand-written rules do not see.

Each session is the concatenation of its drawing embedding and its prompt embedding (each
unit length, so both weigh the same). KMeans (scikit-learn) runs for k = 2..8 and keeps the
k with the best silhouette; PCA gives the 2-D map the report plots. Comparing clusters with
groupings shows structure the rules miss (e.g. a cluster of one motif split across groups).
"""
from dataclasses import dataclass

import numpy as np

MAX_K = 8


@dataclass
class Clusters:
    labels: np.ndarray      # (n,) cluster of each session, -1 where not clustered
    coords: np.ndarray      # (n, 2) map coordinates (PCA), NaN where not clustered
    k: int
    silhouette: float
    note: str


def cluster_sessions(image_embeddings, text_embeddings, *, k=None, seed=0):
    """Cluster sessions whose embeddings are finite; ``k`` None picks it by silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    image = np.asarray(image_embeddings, dtype=np.float64)
    text = np.asarray(text_embeddings, dtype=np.float64)
    n = image.shape[0]
    labels = np.full(n, -1)
    coords = np.full((n, 2), np.nan)
    if n == 0:
        return Clusters(labels, coords, 0, float('nan'), 'no sessions with a drawing')
    features = np.concatenate([_unit(image), _unit(text)], axis=1)
    usable = np.isfinite(features).all(1)
    x = features[usable]
    if len(x) >= 2:
        components = min(2, x.shape[1], len(x))
        mapped = PCA(n_components=components, random_state=seed).fit_transform(x)
        coords[usable, :components] = mapped
        if components == 1:
            coords[usable, 1] = 0.0
    if len(x) < 4:
        labels[usable] = 0
        return Clusters(labels, coords, 1, float('nan'),
                        f'{len(x)} sessions: too few to cluster (one group)')
    distinct = len(np.unique(np.round(x, 6), axis=0))
    candidates = [k] if k else list(range(2, min(MAX_K, len(x) - 1, distinct) + 1))
    best = None
    for kk in candidates:
        if kk < 2 or kk > distinct:
            continue
        model = KMeans(n_clusters=kk, n_init=4, random_state=seed).fit(x)
        score = silhouette_score(x, model.labels_) if kk < len(x) else float('nan')
        if best is None or score > best[0]:
            best = (score, kk, model.labels_)
    if best is None:
        labels[usable] = 0
        return Clusters(labels, coords, 1, float('nan'), 'embeddings too alike to cluster')
    score, kk, found = best
    labels[usable] = found
    how = 'as asked' if k else 'best silhouette over k=2..' + str(candidates[-1])
    return Clusters(labels, coords, kk, float(score),
                    f'KMeans on drawing + prompt embeddings, k={kk} ({how}), '
                    f'silhouette {score:.2f}')


def _unit(x):
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    with np.errstate(invalid='ignore', divide='ignore'):
        return x / norm
