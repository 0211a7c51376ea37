"""SER metrics from labels: UA, WA, macro-F1, per-class recall, confusion matrix.

All of them come from one confusion matrix over a fixed label order, so the
bootstrap can recompute them for a thousand resamples at once (a resample is
just a weighted confusion matrix). UA is the mean recall over the classes
present in ``y_true`` (scikit-learn's ``balanced_accuracy_score``); a class
absent from the test set has no recall and is left out of UA, and its recall
is reported as NaN.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from sklearn.metrics import confusion_matrix as _sk_confusion

from benchmark.registry import Registry

ConfusionMetric = Callable[[np.ndarray], np.ndarray]
SER_METRICS: Registry[ConfusionMetric] = Registry("SER metric")


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class, in ``labels`` order."""
    return _sk_confusion(np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object), labels=list(labels))


def _recalls(cm: np.ndarray) -> np.ndarray:
    """Per-class recall of one or many (..., k, k) confusion matrices; NaN for absent classes."""
    support = cm.sum(axis=-1)
    diag = np.diagonal(cm, axis1=-2, axis2=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, diag / np.where(support > 0, support, 1), np.nan)


@SER_METRICS.register("ua")
def unweighted_accuracy(cm: np.ndarray) -> np.ndarray:
    """Mean per-class recall over classes present in the test set (balanced accuracy)."""
    return np.nanmean(_recalls(cm), axis=-1)


@SER_METRICS.register("wa")
def weighted_accuracy(cm: np.ndarray) -> np.ndarray:
    """Overall accuracy."""
    return np.trace(cm, axis1=-2, axis2=-1) / cm.sum(axis=(-2, -1))


@SER_METRICS.register("macro_f1")
def macro_f1(cm: np.ndarray) -> np.ndarray:
    """Unweighted mean F1 over the label set (scikit-learn's zero_division=0 convention)."""
    diag = np.diagonal(cm, axis1=-2, axis2=-1)
    denom = cm.sum(axis=-1) + cm.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2 * diag / np.where(denom > 0, denom, 1), 0.0)
    return f1.mean(axis=-1)


def per_class_recall(cm: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    return {label: float(r) for label, r in zip(labels, _recalls(cm))}


def ser_scores(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Every registered metric plus ``recall.<class>``, as plain floats."""
    cm = confusion(y_true, y_pred, labels)
    scores = {name: float(SER_METRICS.get(name)(cm)) for name in SER_METRICS.names()}
    scores.update({f"recall.{c}": r for c, r in per_class_recall(cm, labels).items()})
    return scores
