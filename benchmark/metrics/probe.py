"""Speaker probe: how much speaker identity a frozen embedding leaks.

A linear classifier (z-scored logistic regression) predicts the speaker from
the embeddings of utterances whose speakers the method never saw in training
(the test fold of a speaker-independent split). Each speaker's utterances are
split in two halves (stratified, seeded): the probe trains on one half and is
scored on the other. Accuracy near chance means little speaker information.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def speaker_probe(Z: np.ndarray, speakers: Sequence[str], *, seed: int = 0) -> dict[str, float]:
    """``speaker_probe_acc`` and ``speaker_probe_chance`` (majority-speaker rate on the probe's test half)."""
    speakers = np.asarray(speakers, dtype=object).astype(str)
    names, counts = np.unique(speakers, return_counts=True)
    keep = np.isin(speakers, names[counts >= 2])
    if len(np.unique(speakers[keep])) < 2:
        return {"speaker_probe_acc": float("nan"), "speaker_probe_chance": float("nan")}
    Z, speakers = np.asarray(Z, dtype=np.float64)[keep], speakers[keep]
    z_tr, z_te, s_tr, s_te = train_test_split(Z, speakers, test_size=0.5, stratify=speakers, random_state=seed)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    probe.fit(z_tr, s_tr)
    _, test_counts = np.unique(s_te, return_counts=True)
    return {"speaker_probe_acc": float(np.mean(probe.predict(z_te) == s_te)),
            "speaker_probe_chance": float(test_counts.max() / len(s_te))}
