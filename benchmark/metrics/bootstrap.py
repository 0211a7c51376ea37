"""Bootstrap confidence intervals over utterances or over speakers.

A resample is a vector of integer weights on the test utterances (how often
each was drawn), so B resamples are one (B, n) weight matrix and their
confusion matrices one matrix product: 1,000 resamples of 5,000 predictions
take a few milliseconds. Resampling speakers (a cluster bootstrap) keeps each
speaker's utterances together, which is the honest unit when utterances of
one speaker are correlated; its intervals are wider.
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from benchmark.metrics.ser import SER_METRICS

Unit = Literal["utterance", "speaker"]


def resample_weights(n: int, n_boot: int, seed: int, groups: Sequence[str] | None = None) -> np.ndarray:
    """(n_boot, n) draw counts; with ``groups``, whole groups are drawn with replacement."""
    rng = np.random.default_rng(seed)
    if groups is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    codes, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    g = len(codes)
    group_counts = rng.multinomial(g, np.full(g, 1.0 / g), size=n_boot)
    return group_counts[:, inverse].astype(np.float64)


def weighted_confusions(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str],
                        weights: np.ndarray) -> np.ndarray:
    """(B, k, k) confusion matrices of B weightings of the same predictions."""
    index = {c: i for i, c in enumerate(labels)}
    k = len(labels)
    t = np.array([index.get(v, -1) for v in y_true])
    p = np.array([index.get(v, -1) for v in y_pred])
    keep = (t >= 0) & (p >= 0)
    onehot = np.zeros((len(t), k * k))
    onehot[np.flatnonzero(keep), t[keep] * k + p[keep]] = 1.0
    return (weights @ onehot).reshape(-1, k, k)


def bootstrap_ci(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str], *, metric: str = "ua",
                 unit: Unit = "utterance", speakers: Sequence[str] | None = None, n_boot: int = 1000,
                 seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``metric`` over ``n_boot`` resamples."""
    if unit == "speaker" and speakers is None:
        raise ValueError("a speaker bootstrap needs the speakers of the predictions")
    weights = resample_weights(len(y_true), n_boot, seed, speakers if unit == "speaker" else None)
    values = SER_METRICS.get(metric)(weighted_confusions(y_true, y_pred, labels, weights))
    alpha = (1 - level) / 2
    low, high = np.nanquantile(values, [alpha, 1 - alpha])
    return float(low), float(high)
