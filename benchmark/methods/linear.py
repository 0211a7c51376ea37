"""Input checks, z-scoring and linear classifiers shared by functional-feature methods.

The classical baselines (``baselines/classical.py``) and the VAE family
(``benchmark/methods/vae.py``) both z-score a matrix of utterance-level
functionals with statistics of the training set only, and both turn the
decision values of a linear classifier into class probabilities. Those pieces
live here so that the two families behave identically.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from benchmark.errors import ConfigError, EmobenchError
from benchmark.methods.base import FeatureSet

log = logging.getLogger(__name__)


def feature_matrix(batch: FeatureSet, method: str, n_features: int | None = None) -> np.ndarray:
    """``batch.X`` as a finite float64 ``(n, d)`` matrix, or an error naming what is wrong.

    Non-finite rows are named by ``utt_id`` (the feature extractor, not the
    method, must decide what to do with them), and a width that differs from
    the training data's is an error rather than a silent broadcast.
    """
    if not isinstance(batch.X, np.ndarray) or batch.X.ndim != 2:
        kind = type(batch.X).__name__ if not isinstance(batch.X, np.ndarray) else f"{batch.X.ndim}-D array"
        raise ConfigError(f"method {method}: expects utterance-level features (a 2-D array), got {kind}; "
                          "frame-level features (e.g. log-mel) need a method whose feature is 'logmel'")
    X = np.asarray(batch.X, dtype=np.float64)
    if len(X) != len(batch.utt_ids):
        raise EmobenchError(f"method {method}: {len(X)} feature rows for {len(batch.utt_ids)} utterances")
    if n_features is not None and X.shape[1] != n_features:
        raise EmobenchError(f"method {method}: features have {X.shape[1]} dimensions, "
                            f"the model was trained on {n_features}")
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        ids = [batch.utt_ids[i] for i in np.flatnonzero(bad)[:10]]
        raise EmobenchError(f"method {method}: {int(bad.sum())} utterance(s) have NaN/inf features, "
                            f"e.g. {ids}")
    return X


def train_labels(train: FeatureSet, method: str) -> tuple[list[str], np.ndarray]:
    """Sorted class names of ``train`` and each row's class index; at least two classes are needed."""
    if train.y is None:
        raise EmobenchError(f"method {method}: the training set has no labels")
    y = np.asarray(train.y).astype(str)
    classes = sorted(set(y.tolist()))
    if len(classes) < 2:
        raise EmobenchError(f"method {method}: the training set has a single class {classes}; need at least two")
    return classes, label_codes(y, classes)


def label_codes(labels: Sequence[object] | np.ndarray | None, classes: list[str]) -> np.ndarray:
    """Each label's index in ``classes``, -1 for a class not among them (e.g. absent from training)."""
    if labels is None:
        raise EmobenchError("the validation set has no labels: early stopping needs them")
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index.get(str(c), -1) for c in np.asarray(labels)], dtype=np.int64)


class Standardizer:
    """Per-dimension z-scoring with training-set statistics (constant dimensions keep scale 1)."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)

    @classmethod
    def fit(cls, X: np.ndarray) -> "Standardizer":
        scale = X.std(axis=0)
        # A constant dimension carries no information; dividing by 0 would make it NaN.
        scale[scale < 1e-12] = 1.0
        return cls(X.mean(axis=0), scale)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.scale

    def arrays(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "scale": self.scale}


def outlier_rows(Z: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean mask of rows with any ``|z| > threshold`` (the VAE paper drops these from training)."""
    return (np.abs(Z) > threshold).any(axis=1)


def softmax_decision(decision: np.ndarray) -> np.ndarray:
    """Class probabilities from linear decision values: a softmax over classes.

    A binary sklearn classifier returns one column (the score of the second
    class); it becomes ``[0, d]``, so that the softmax is the logistic of
    ``d``. The argmax of the result is always the classifier's own prediction.
    """
    d = np.asarray(decision, dtype=np.float64)
    if d.ndim == 1:
        d = np.stack([np.zeros_like(d), d], axis=1)
    d = d - d.max(axis=1, keepdims=True)
    e = np.exp(d)
    return e / e.sum(axis=1, keepdims=True)


def check_class_counts(y: np.ndarray, classes: list[str], minimum: int, method: str, why: str) -> None:
    """Raise naming every class with fewer than ``minimum`` training rows."""
    counts = np.bincount(y, minlength=len(classes))
    few = {classes[i]: int(n) for i, n in enumerate(counts) if n < minimum}
    if few:
        raise EmobenchError(f"method {method}: {why} needs at least {minimum} training utterances per class; "
                            f"too few: {few}")
