"""Speaker probe: how much speaker identity a frozen embedding leaks.

A linear classifier (z-scored logistic regression) predicts the speaker from
the embeddings of utterances whose speakers the method never saw in training
(the test fold of a speaker-independent split). Each speaker's utterances are
split in two halves (stratified, seeded): the probe trains on one half and is
scored on the other. Accuracy near chance means little speaker information.

:func:`speaker_probe_predictions` keeps the probe's per-utterance predictions
on its test half, so that two methods' probes can be compared with the paired
bootstrap over utterances (the claims do); :func:`speaker_probe` is their
accuracy.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def speaker_probe_predictions(Z: np.ndarray, speakers: Sequence[str] | np.ndarray, *, seed: int = 0) -> pd.DataFrame:
    """The probe's test half: ``row`` (index into ``Z``), ``y_true`` (speaker), ``y_pred`` (probe's guess).

    Empty when fewer than two speakers have two utterances each."""
    labels = np.asarray(speakers, dtype=object).astype(str)
    names, counts = np.unique(labels, return_counts=True)
    keep = np.flatnonzero(np.isin(labels, names[counts >= 2]))
    if len(np.unique(labels[keep])) < 2:
        return pd.DataFrame({"row": pd.Series(dtype=int), "y_true": pd.Series(dtype=str),
                             "y_pred": pd.Series(dtype=str)})
    Z = np.asarray(Z, dtype=np.float64)
    r_tr, r_te = train_test_split(keep, test_size=0.5, stratify=labels[keep], random_state=seed)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    probe.fit(Z[r_tr], labels[r_tr])
    return pd.DataFrame({"row": r_te, "y_true": labels[r_te], "y_pred": probe.predict(Z[r_te])})


def speaker_probe(Z: np.ndarray, speakers: Sequence[str] | np.ndarray, *, seed: int = 0) -> dict[str, float]:
    """``speaker_probe_acc`` and ``speaker_probe_chance`` (majority-speaker rate on the probe's test half)."""
    half = speaker_probe_predictions(Z, speakers, seed=seed)
    if half.empty:
        return {"speaker_probe_acc": float("nan"), "speaker_probe_chance": float("nan")}
    _, test_counts = np.unique(half["y_true"], return_counts=True)
    return {"speaker_probe_acc": float(np.mean(half["y_pred"] == half["y_true"])),
            "speaker_probe_chance": float(test_counts.max() / len(half))}
