"""The columns a leaderboard can show: which metrics, what each reads, and how it is named and printed.

Every metric's metadata (what it reads, label, unit, scale, direction, model-card type) is its
``benchmark.metrics.registry`` spec; these helpers only look it up, so a metric registered there is a
column here without touching this package.
"""
from __future__ import annotations

import numpy as np

from benchmark.metrics.registry import METRICS

TTS_PROTOCOL = "tts"   # the protocol tag of TTS grid cells (their TTS columns come from tts/per_utterance.parquet)
PROBE_METRICS = ("speaker_probe_acc", "speaker_probe_chance")   # recomputed from test embeddings: shown, never tested


def prediction_metrics() -> tuple[str, ...]:
    """Metrics recomputable from a predictions table: every registered confusion metric (ua, wa, ...)."""
    return tuple(METRICS.names("confusion"))


def is_prediction_metric(name: str) -> bool:
    """A metric of the predictions tables (rankable, tested against the leader)."""
    return METRICS.reads(name, "confusion")


def tts_metrics() -> tuple[str, ...]:
    """Metrics recomputed from TTS cells' per-utterance tables (registered by the TTS scorers)."""
    return tuple(METRICS.names("tts_table"))


def is_tts_metric(name: str) -> bool:
    """A metric of TTS cells' per-utterance tables (shown with a CI, never ranked on)."""
    return METRICS.reads(name, "tts_table")


def is_probe_metric(name: str) -> bool:
    """A metric recomputed from the cells' test embeddings (the speaker probe)."""
    return METRICS.reads(name, "embeddings")


def metric_label(name: str, labels: dict[str, str] | None = None) -> str:
    """How a column is named in tables (a definition's ``labels`` win)."""
    if labels and name in labels:
        return labels[name]
    return METRICS.get(name).label if name in METRICS else name


def metric_unit(name: str) -> str:
    """The unit a column is printed in (its registered spec's)."""
    return METRICS.get(name).unit if name in METRICS else "%"


def format_metric(name: str, value: float | None) -> str:
    """A value as printed in a table: its spec's scale and digits (percent, one decimal, for SER metrics)."""
    if name in METRICS:
        return METRICS.get(name).format(value)
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.1f}"


def column_header(name: str, labels: dict[str, str] | None = None) -> str:
    """The column header: its label and, where it has one, its unit in parentheses."""
    unit = metric_unit(name)
    return f"{metric_label(name, labels)} ({unit})" if unit else metric_label(name, labels)

