"""SER scoring from predictions tables (see ``benchmark/predictions.py``).

Add a metric computable from a confusion matrix by writing one function in
``ser.py`` and decorating it ``@SER_METRICS.register("name")``: it then shows
up in every cell's scores and can be bootstrapped.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from benchmark.metrics.bootstrap import bootstrap_ci, resample_weights, weighted_confusions
from benchmark.metrics.distances import bhattacharyya_distance, frechet_distance, mmd_rbf
from benchmark.metrics.probe import speaker_probe
from benchmark.metrics.ser import SER_METRICS, confusion, per_class_recall, ser_scores
from benchmark.metrics.significance import mcnemar, paired_bootstrap

__all__ = ["SER_METRICS", "confusion", "per_class_recall", "ser_scores", "score_predictions", "aggregate_folds",
           "bootstrap_ci", "resample_weights", "weighted_confusions", "paired_bootstrap", "mcnemar",
           "speaker_probe", "mmd_rbf", "frechet_distance", "bhattacharyya_distance"]


def score_predictions(table: pd.DataFrame, labels: Sequence[str], *, n_bootstrap: int = 1000,
                      seed: int = 0) -> dict[str, float]:
    """UA, WA, macro-F1, per-class recall and 95% bootstrap CIs of UA (utterances and speakers)."""
    scores = ser_scores(table["y_true"], table["y_pred"], labels)
    if n_bootstrap:
        low, high = bootstrap_ci(table["y_true"], table["y_pred"], labels, n_boot=n_bootstrap, seed=seed)
        scores.update({"ua_ci_low": low, "ua_ci_high": high})
        if "speaker" in table and table["speaker"].nunique() > 1:
            low, high = bootstrap_ci(table["y_true"], table["y_pred"], labels, unit="speaker",
                                     speakers=table["speaker"], n_boot=n_bootstrap, seed=seed)
            scores.update({"ua_spk_ci_low": low, "ua_spk_ci_high": high})
    return scores


def aggregate_folds(tables: Sequence[pd.DataFrame], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Both fold aggregations, labelled: metrics over the pooled predictions of all folds
    (``pooled``), and the mean and standard deviation of per-fold metrics (``fold_mean``, ``fold_std``)."""
    pooled = pd.concat(tables, ignore_index=True)
    per_fold = pd.DataFrame([ser_scores(t["y_true"], t["y_pred"], labels) for t in tables])
    return {"pooled": ser_scores(pooled["y_true"], pooled["y_pred"], labels),
            "fold_mean": per_fold.mean().to_dict(), "fold_std": per_fold.std(ddof=0).to_dict()}
