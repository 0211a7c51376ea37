"""Distances between embedding distributions (latent consistency across languages/corpora).

:func:`mmd_rbf` and :func:`bhattacharyya_distance` take optional integer
weights (draw counts of a bootstrap resample), so that the claims can resample
utterances without copying embeddings; with unit weights they are the plain
estimators. :func:`language_distance_boot` is the per-run statistic the claims
test: the mean over language pairs of one distance, on z-scored embeddings,
with resamples drawn within each language.
"""
from __future__ import annotations

from itertools import combinations
from typing import Any, Literal

import numpy as np
from scipy.linalg import sqrtm

LatentDistance = Literal["mmd", "bhattacharyya"]
MIN_PER_LANGUAGE = 5   # a distribution distance on a handful of points is noise


def standardise(Z: np.ndarray) -> np.ndarray:
    """Each dimension z-scored within the run, so that methods with larger embedding scales are not
    penalised by a scale-dependent distance."""
    Z = np.asarray(Z, dtype=float)
    std = Z.std(0)
    return (Z - Z.mean(0)) / np.where(std > 0, std, 1.0)


def _rbf_kernel(pooled: np.ndarray, bandwidth: float | None) -> np.ndarray:
    sq = np.sum(pooled**2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * pooled @ pooled.T, 0.0)
    if bandwidth is None:
        off = d2[np.triu_indices_from(d2, k=1)]
        bandwidth = float(np.sqrt(0.5 * np.median(off))) if off.size and np.median(off) > 0 else 1.0
    return np.exp(-d2 / (2 * bandwidth**2))


def _mmd_from_kernel(k: np.ndarray, n: int, weights: np.ndarray) -> np.ndarray:
    """Squared MMD of the first ``n`` rows against the rest under (B, n + m) draw counts.

    With unit weights this is the unbiased estimator; with counts, every pair of
    draws counts except a draw with itself (a point drawn twice is compared with
    its copy: k = 1 for an RBF kernel, the same for every method)."""
    wa, wb = weights[:, :n], weights[:, n:]
    kaa, kbb, kab = k[:n, :n], k[n:, n:], k[:n, n:]
    na, nb = wa.sum(1), wb.sum(1)
    self_a = wa @ np.diag(kaa)
    self_b = wb @ np.diag(kbb)
    within_a = (((wa @ kaa) * wa).sum(1) - self_a) / (na * (na - 1))     # w^T K w per resample, via BLAS
    within_b = (((wb @ kbb) * wb).sum(1) - self_b) / (nb * (nb - 1))
    between = ((wa @ kab) * wb).sum(1) / (na * nb)
    return within_a + within_b - 2 * between


def mmd_rbf(a: np.ndarray, b: np.ndarray, bandwidth: float | None = None,
            weights: np.ndarray | None = None) -> float | np.ndarray:
    """Unbiased squared MMD with an RBF kernel; bandwidth by the median heuristic on the pooled data.

    ``weights``: (B, len(a) + len(b)) draw counts -> B resampled values (same kernel and bandwidth)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    k = _rbf_kernel(np.vstack([a, b]), bandwidth)
    if weights is None:
        return float(_mmd_from_kernel(k, len(a), np.ones((1, len(a) + len(b))))[0])
    return _mmd_from_kernel(k, len(a), np.asarray(weights, dtype=np.float64))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to ``a`` and ``b`` (as in FID)."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = sqrtm(cov_a @ cov_b)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * covmean))


def _gaussians(x: np.ndarray, w: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Means (B, d) and ridged sample covariances (B, d, d) of ``x`` under (B, n) draw counts."""
    n = w.sum(1)
    mean = w @ x / n[:, None]
    second = np.einsum("bi,ij,ik->bjk", w, x, x, optimize=True)      # sum_i w_bi x_i x_i^T (BLAS)
    cov = (second - n[:, None, None] * mean[:, :, None] * mean[:, None, :]) / (n - 1)[:, None, None]
    return mean, cov + ridge * np.eye(x.shape[1])


def _bhattacharyya(mu_a: np.ndarray, cov_a: np.ndarray, mu_b: np.ndarray, cov_b: np.ndarray) -> np.ndarray:
    mu = mu_a - mu_b
    cov = (cov_a + cov_b) / 2
    term1 = np.einsum("bi,bi->b", mu, np.linalg.solve(cov, mu[..., None])[..., 0]) / 8
    _, logdet = np.linalg.slogdet(cov)
    _, logdet_a = np.linalg.slogdet(cov_a)
    _, logdet_b = np.linalg.slogdet(cov_b)
    return term1 + 0.5 * (logdet - 0.5 * (logdet_a + logdet_b))


def bhattacharyya_distance(a: np.ndarray, b: np.ndarray, ridge: float = 1e-6,
                           weights: np.ndarray | None = None) -> float | np.ndarray:
    """Bhattacharyya distance between Gaussians fitted to ``a`` and ``b`` (the VAE paper's measure).

    ``weights``: (B, len(a) + len(b)) draw counts -> B resampled values (all at once)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    w = np.ones((1, len(a) + len(b))) if weights is None else np.asarray(weights, dtype=np.float64)
    mu_a, cov_a = _gaussians(a, w[:, : len(a)], ridge)
    mu_b, cov_b = _gaussians(b, w[:, len(a):], ridge)
    values = _bhattacharyya(mu_a, cov_a, mu_b, cov_b)
    return float(values[0]) if weights is None else values


def language_distance_boot(Z: np.ndarray, languages: np.ndarray, metric: LatentDistance, n_boot: int, seed: int,
                           min_per_language: int = MIN_PER_LANGUAGE) -> tuple[float, np.ndarray, list[str]]:
    """The mean over language pairs of ``metric`` between per-language embeddings of one run (z-scored),
    its ``n_boot`` resampled values (utterances drawn with replacement within each language; the draws
    depend only on ``languages``, ``n_boot`` and ``seed``, so two runs with the same test utterances in the
    same order get the same draws), and the languages used (those with ``min_per_language`` utterances)."""
    Z = standardise(Z)
    languages = np.asarray(languages).astype(str)
    present = sorted(lang for lang in set(languages) if (languages == lang).sum() >= min_per_language)
    if len(present) < 2:
        return float("nan"), np.full(n_boot, np.nan), present
    rng = np.random.default_rng(seed)
    rows = {lang: np.flatnonzero(languages == lang) for lang in present}
    draws = {lang: rng.multinomial(len(idx), np.full(len(idx), 1 / len(idx)), size=n_boot).astype(float)
             for lang, idx in rows.items()}
    distance = mmd_rbf if metric == "mmd" else bhattacharyya_distance
    values: list[Any] = []
    for x, y in combinations(present, 2):
        # row 0: every utterance once (the point value); rows 1..: the resamples; one kernel for all
        weights = np.vstack([np.ones(len(rows[x]) + len(rows[y])), np.hstack([draws[x], draws[y]])])
        values.append(distance(Z[rows[x]], Z[rows[y]], weights=weights))
    mean = np.mean(values, axis=0)
    return float(mean[0]), mean[1:], present
