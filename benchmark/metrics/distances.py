"""Distances between embedding distributions (latent consistency across languages/corpora)."""
from __future__ import annotations

import numpy as np
from scipy.linalg import sqrtm


def mmd_rbf(a: np.ndarray, b: np.ndarray, bandwidth: float | None = None) -> float:
    """Unbiased squared MMD with an RBF kernel; bandwidth by the median heuristic on the pooled data."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    pooled = np.vstack([a, b])
    sq = np.sum(pooled**2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * pooled @ pooled.T, 0.0)
    if bandwidth is None:
        off = d2[np.triu_indices_from(d2, k=1)]
        bandwidth = float(np.sqrt(0.5 * np.median(off))) if off.size and np.median(off) > 0 else 1.0
    k = np.exp(-d2 / (2 * bandwidth**2))
    n, m = len(a), len(b)
    kaa, kbb, kab = k[:n, :n], k[n:, n:], k[:n, n:]
    return float((kaa.sum() - np.trace(kaa)) / (n * (n - 1)) + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
                 - 2 * kab.mean())


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to ``a`` and ``b`` (as in FID)."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = sqrtm(cov_a @ cov_b)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * covmean))


def bhattacharyya_distance(a: np.ndarray, b: np.ndarray, ridge: float = 1e-6) -> float:
    """Bhattacharyya distance between Gaussians fitted to ``a`` and ``b`` (the VAE paper's measure)."""
    mu = a.mean(axis=0) - b.mean(axis=0)
    dims = a.shape[1]
    cov_a = np.atleast_2d(np.cov(a, rowvar=False)) + ridge * np.eye(dims)
    cov_b = np.atleast_2d(np.cov(b, rowvar=False)) + ridge * np.eye(dims)
    cov = (cov_a + cov_b) / 2
    term1 = mu @ np.linalg.solve(cov, mu) / 8
    _, logdet = np.linalg.slogdet(cov)
    _, logdet_a = np.linalg.slogdet(cov_a)
    _, logdet_b = np.linalg.slogdet(cov_b)
    return float(term1 + 0.5 * (logdet - 0.5 * (logdet_a + logdet_b)))
