"""What the runner's cells share: the result of one cell and the hash its run keys are made of.

The cell kinds themselves are :class:`benchmark.runner.ser_cell.Cell` (an SER grid cell) and
:class:`benchmark.runner.tts_cell.TTSCell` (a TTS system).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


def _digest(payload: dict[str, Any]) -> str:
    """Short stable hash of a JSON-able payload (keys sorted; anything else by its str())."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


@dataclass
class CellResult:
    predictions: pd.DataFrame
    metrics: dict[str, float]
    embeddings: dict[str, np.ndarray] | None = None
    fit_seconds: float = 0.0
    hparams: dict[str, Any] = field(default_factory=dict)  # resolved: suite values + method defaults
    figures: dict[str, bytes] = field(default_factory=dict)  # artifact file name -> PNG bytes
    model_dir: str | None = None  # the fitted method's save() folder, when the suite registers models
    artifacts: dict[str, bytes] = field(default_factory=dict)  # artifact path -> content (TTS tables, showcase)
    history: list[dict[str, float]] = field(default_factory=list)  # per epoch: loss, val_ua, method terms
    convergence: dict[str, Any] | None = None  # benchmark.training.Convergence.as_dict() of the fit


def method_feature(method: str, hparams: dict[str, Any]) -> Any:
    """The feature a configured method reads: its ``feature`` hyperparameter where it has one
    (log-mel networks, the VAE family, the pretrained-encoder probes), else its class's."""
    from benchmark.methods import METHODS

    return METHODS.get(method)(**hparams).feature
