"""SER metrics from labels: UA, WA, macro-F1, per-class recall, minority recall, confusion matrix.

The one definition of each metric (``benchmark.metrics.stacked`` resamples
them; the runner, leaderboards, report, compare and claims all call it).
Each is registered once in ``benchmark.metrics.registry`` (label, unit,
direction, model-card type, ``compute="benchmark.metrics.ser:<function>"``).
All of them come from one confusion matrix over a fixed label order, so the
bootstrap can recompute them for a thousand resamples at once (a resample is
just a weighted confusion matrix).

* UA is the mean recall over the classes present in ``y_true``
  (scikit-learn's ``balanced_accuracy_score``); a class absent from the test
  set has no recall and is left out of UA, and its recall is NaN.
* Macro-F1 is the mean F1 over the classes present in ``y_true`` or
  ``y_pred`` (scikit-learn's ``f1_score(average="macro")`` with its default
  labels, ``zero_division=0``): a class neither in the test set nor predicted
  has no F1 and is left out, a class predicted but absent from the test set
  scores F1 = 0. (Before the unification the runner averaged over every label
  of the split, counting such a class as 0; see docs/statistics.md.)
* Minority recall is the mean recall of the non-Neutral classes present in
  ``y_true`` (NaN when the labels hold no Neutral).
"""
from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix as _sk_confusion

from benchmark.labels import NEUTRAL

ConfusionMetric = Callable[[np.ndarray], np.ndarray]


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class, in ``labels`` order."""
    return _sk_confusion(np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object), labels=list(labels))


def row_normalised_confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """:func:`confusion` with each row divided by its true class's count (the diagonal is the per-class
    recall); a row of zeros for a class absent from ``y_true``."""
    cm = confusion(y_true, y_pred, labels).astype(float)
    support = cm.sum(1, keepdims=True)
    return np.divide(cm, support, out=np.zeros_like(cm), where=support > 0)


def _recalls(cm: np.ndarray) -> np.ndarray:
    """Per-class recall of one or many (..., k, k) confusion matrices; NaN for absent classes."""
    support = cm.sum(axis=-1)
    diag = np.diagonal(cm, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, diag / np.where(support > 0, support, 1), np.nan)


def unweighted_accuracy(cm: np.ndarray) -> np.ndarray:
    """Mean per-class recall over classes present in the test set (balanced accuracy)."""
    return np.nanmean(_recalls(cm), axis=-1)


def weighted_accuracy(cm: np.ndarray) -> np.ndarray:
    """Overall accuracy."""
    return np.trace(cm, axis1=-2, axis2=-1) / cm.sum(axis=(-2, -1))


def macro_f1(cm: np.ndarray) -> np.ndarray:
    """Mean F1 over the classes present in y_true or y_pred (scikit-learn's default labels, zero_division=0)."""
    diag = np.diagonal(cm, axis1=-2, axis2=-1)
    denom = cm.sum(axis=-1) + cm.sum(axis=-2)
    present = denom > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(present, 2 * diag / np.where(present, denom, 1), 0.0)
        return f1.sum(axis=-1) / present.sum(axis=-1)


def recalls(cm: np.ndarray) -> np.ndarray:
    """Per-class recall of one or many (..., k, k) confusion matrices; NaN for classes absent from y_true."""
    return _recalls(cm)


def minority_recall(cm: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Mean recall of the non-Neutral classes present in y_true; NaN without a Neutral label."""
    minority = np.array([c != NEUTRAL for c in labels])
    recall = _recalls(cm)
    if NEUTRAL not in labels or not minority.any():
        return np.full(recall.shape[:-1], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # a resample without any minority class
        return np.nanmean(np.where(minority, recall, np.nan), axis=-1)


def per_class_recall(cm: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    return {label: float(r) for label, r in zip(labels, _recalls(cm))}


def confusion_scores(cm: np.ndarray, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Every confusion metric of the registry (``benchmark.metrics.registry.METRICS``: UA, WA, macro-F1,
    minority recall, ...) and ``recall.<class>`` of one or many (..., K, K) confusion matrices."""
    from benchmark.metrics.registry import METRICS

    out = {}
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # nanmean of an all-NaN resample
        for name in METRICS.names("confusion"):
            spec = METRICS.get(name)
            out[name] = spec.function()(cm, list(labels)) if spec.needs_labels else spec.function()(cm)
        recall = _recalls(cm)
    for i, c in enumerate(labels):
        out[f"recall.{c}"] = recall[..., i]
    return out


def ser_scores(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Every registered confusion metric plus ``recall.<class>``, as plain floats."""
    return {k: float(v) for k, v in confusion_scores(confusion(y_true, y_pred, labels), labels).items()}
