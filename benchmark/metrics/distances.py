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
from typing import Literal

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
    within_a = (np.einsum("bi,ij,bj->b", wa, kaa, wa) - self_a) / (na * (na - 1))
    within_b = (np.einsum("bi,ij,bj->b", wb, kbb, wb) - self_b) / (nb * (nb - 1))
    between = np.einsum("bi,ij,bj->b", wa, kab, wb) / (na * nb)
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


def _gaussian(x: np.ndarray, w: np.ndarray | None, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    if w is None:
        mean, cov = x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))
    else:
        mean = (w[:, None] * x).sum(0) / w.sum()
        cov = np.atleast_2d(np.cov(x, rowvar=False, fweights=w.astype(int)))
    return mean, cov + ridge * np.eye(x.shape[1])


def bhattacharyya_distance(a: np.ndarray, b: np.ndarray, ridge: float = 1e-6,
                           weights: np.ndarray | None = None) -> float | np.ndarray:
    """Bhattacharyya distance between Gaussians fitted to ``a`` and ``b`` (the VAE paper's measure).

    ``weights``: (B, len(a) + len(b)) draw counts -> B resampled values."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)

    def one(wa: np.ndarray | None, wb: np.ndarray | None) -> float:
        mu_a, cov_a = _gaussian(a, wa, ridge)
        mu_b, cov_b = _gaussian(b, wb, ridge)
        mu = mu_a - mu_b
        cov = (cov_a + cov_b) / 2
        term1 = mu @ np.linalg.solve(cov, mu) / 8
        _, logdet = np.linalg.slogdet(cov)
        _, logdet_a = np.linalg.slogdet(cov_a)
        _, logdet_b = np.linalg.slogdet(cov_b)
        return float(term1 + 0.5 * (logdet - 0.5 * (logdet_a + logdet_b)))

    if weights is None:
        return one(None, None)
    weights = np.asarray(weights)
    return np.array([one(w[: len(a)], w[len(a):]) for w in weights])


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
    point, boot = [], []
    for x, y in combinations(present, 2):
        a, b = Z[rows[x]], Z[rows[y]]
        point.append(distance(a, b))
        boot.append(distance(a, b, weights=np.hstack([draws[x], draws[y]])))
    return float(np.mean(point)), np.mean(boot, axis=0), present
