"""SER scoring from predictions tables (see ``benchmark/predictions.py``).

``ser.py`` defines each metric once (on confusion matrices); ``stacked.py`` is
the one statistics engine (seed means, bootstrap CIs, paired tests, McNemar,
minimum detectable effects) that the runner, leaderboards, report, compare and
claims all use. Every metric is registered once in ``registry.py``
(:data:`~benchmark.metrics.registry.METRICS`: what it reads, label, unit,
direction, model-card type); a metric computable from a confusion matrix is one
function plus one ``METRICS.register(MetricSpec(..., compute="module:function"))``:
it then shows up in every cell's scores and can be bootstrapped.
"""
from __future__ import annotations

from benchmark.metrics.distances import bhattacharyya_distance, frechet_distance, mmd_rbf
from benchmark.metrics.probe import speaker_probe
from benchmark.metrics.registry import METRICS, TTS_SCORERS, MetricSpec, register_tts_scorer
from benchmark.metrics.ser import confusion, minority_recall, per_class_recall, row_normalised_confusion, ser_scores
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

__all__ = ["METRICS", "TTS_SCORERS", "MetricSpec", "register_tts_scorer", "confusion", "row_normalised_confusion",
           "minority_recall", "per_class_recall", "ser_scores", "score_predictions",
           "Stacked", "Scored", "PairedDifference", "class_labels", "draw_counts", "resample_weights",
           "weighted_confusions", "seed_means", "score_stacked", "bootstrap_ci", "paired_bootstrap_p",
           "paired_difference", "compare_scored", "minimum_detectable_effect", "mcnemar", "mcnemar_seeds",
           "speaker_probe", "mmd_rbf", "frechet_distance", "bhattacharyya_distance"]
