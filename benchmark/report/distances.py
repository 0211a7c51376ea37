"""Embedding geometry for the report: per-language distribution distances and 2-D projections."""
from __future__ import annotations

from itertools import combinations

import numpy as np

from benchmark.metrics import mmd_rbf
from benchmark.metrics.distances import standardise


def language_distances(Z: np.ndarray, languages: np.ndarray, min_per_language: int = 5) -> list[dict]:
    """Unbiased squared MMD between the embeddings of every pair of languages in one run.

    Languages with fewer than ``min_per_language`` utterances are left out (a
    distribution distance on a handful of points is noise).
    """
    Z = standardise(Z)
    languages = np.asarray(languages).astype(str)
    present = sorted(lang for lang in set(languages) if (languages == lang).sum() >= min_per_language)
    return [{"a": a, "b": b, "distance": mmd_rbf(Z[languages == a], Z[languages == b])}
            for a, b in combinations(present, 2)]


def project_2d(Z: np.ndarray, method: str = "auto", seed: int = 0, max_tsne: int = 500) -> tuple[np.ndarray, str]:
    """2-D coordinates of ``Z`` and the name of the projection used (t-SNE when small, else PCA)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    Z = standardise(Z)
    use_tsne = method == "tsne" or (method == "auto" and len(Z) <= max_tsne)
    if use_tsne and len(Z) > 5:
        perplexity = float(min(30.0, (len(Z) - 1) / 3))
        # Exact gradients: on the few hundred points t-SNE is used for, they are several
        # times faster than Barnes-Hut here (and need no OpenMP threads).
        points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, method="exact",
                      max_iter=500).fit_transform(Z)
        return points, "t-SNE"
    n = min(2, Z.shape[1])
    points = PCA(n_components=n, random_state=seed).fit_transform(Z)
    if n == 1:
        points = np.column_stack([points[:, 0], np.zeros(len(points))])
    return points, "PCA"
