"""SER scoring from predictions tables (see ``benchmark/predictions.py``).

``ser.py`` defines each metric once (on confusion matrices); ``stacked.py`` is
the one statistics engine (seed means, bootstrap CIs, paired tests, McNemar,
minimum detectable effects) that the runner, leaderboards, report, compare and
claims all use. Add a metric computable from a confusion matrix by writing one
function in ``ser.py`` and decorating it ``@SER_METRICS.register("name")``: it
then shows up in every cell's scores and can be bootstrapped.
"""
from __future__ import annotations

from benchmark.metrics.distances import bhattacharyya_distance, frechet_distance, mmd_rbf
from benchmark.metrics.probe import speaker_probe
from benchmark.metrics.ser import SER_METRICS, confusion, minority_recall, per_class_recall, ser_scores
from benchmark.metrics.stacked import (
    PairedDifference,
    Scored,
    Stacked,
    bootstrap_ci,
    class_labels,
    compare_scored,
    draw_counts,
    mcnemar,
    mcnemar_seeds,
    minimum_detectable_effect,
    paired_bootstrap_p,
    paired_difference,
    resample_weights,
    score_predictions,
    score_stacked,
    seed_means,
    weighted_confusions,
)

__all__ = ["SER_METRICS", "confusion", "minority_recall", "per_class_recall", "ser_scores", "score_predictions",
           "Stacked", "Scored", "PairedDifference", "class_labels", "draw_counts", "resample_weights",
           "weighted_confusions", "seed_means", "score_stacked", "bootstrap_ci", "paired_bootstrap_p",
           "paired_difference", "compare_scored", "minimum_detectable_effect", "mcnemar", "mcnemar_seeds",
           "speaker_probe", "mmd_rbf", "frechet_distance", "bhattacharyya_distance"]
