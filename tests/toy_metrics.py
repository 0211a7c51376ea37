"""A toy TTS scorer and a toy SER metric, each one module entry; the tests register them (one call each)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from benchmark.tts.scorers import ScorerOutput, TTSScorer


class ToySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: float = 1.0   # recorded as the MLflow param toy.weight


class ToyScorer(TTSScorer):
    """``toy_hit``: weight x (the judge's label equals the intended emotion), per utterance."""

    name = "toy"
    Settings = ToySettings

    def score(self, rows: pd.DataFrame) -> ScorerOutput:
        hit = (rows["judge_pred"].astype(str) == rows["emotion"].astype(str)).astype(float)
        return ScorerOutput(pd.DataFrame({"toy_hit": self.settings.weight * hit}, index=rows.index))


def g_mean(cm: np.ndarray) -> np.ndarray:
    """Geometric mean of the per-class recalls of the classes present (one value per confusion matrix)."""
    support = cm.sum(axis=-1)
    recall = np.diagonal(cm, axis1=-2, axis2=-1) / np.where(support > 0, support, 1)
    logs = np.where(support > 0, np.log(np.maximum(recall, 1e-12)), 0.0)
    return np.exp(logs.sum(axis=-1) / (support > 0).sum(axis=-1))
