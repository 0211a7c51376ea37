"""What the runner asks of a cell (:class:`GridCell`), what a cell gives back (:class:`CellResult`),
and the hash its run key is made of.

The cell kinds are :class:`benchmark.runner.ser_cell.Cell` (an SER grid cell: corpus, protocol,
split, method, seed) and :class:`benchmark.runner.tts_cell.TTSCell` (a TTS system of a corpus and
seed). The grid, the executors and the recorder use only :class:`GridCell`'s members, so a new
kind of cell is one class that has them, plus the function in :mod:`benchmark.runner.grid` that
expands a suite into its cells (docs/suites.md, "Adding a cell kind").
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, Sequence

import numpy as np
import pandas as pd


class FeatureNeed(NamedTuple):
    """A feature a cell's fit or scoring reads: extracted for the corpus (or its rows in ``language``)
    once, before the cells run, so that pool workers only read the cache."""

    feature: Any                 # a feature name, config dict or FeatureConfig
    language: str | None = None  # None: every row of the corpus


class GridCell(Protocol):
    """What the runner needs of a cell, whatever its kind (the cells of one training group are of one kind).

    Cells are immutable and picklable: they travel to pool and Ray workers. ``key`` is the run key that
    resume matches on, so what it hashes must never change for an existing kind.
    """

    @property
    def corpus(self) -> str: ...
    @property
    def data_hash(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def hparams(self) -> dict[str, Any]: ...
    @property
    def method(self) -> str:
        """The method (or system) column of the leaderboards."""
    @property
    def protocol_label(self) -> str:
        """The protocol tag of its run (``tts`` for TTS cells)."""
    @property
    def key(self) -> str:
        """The cell's hash: everything that determines its result (resume skips a FINISHED run with it)."""
    @property
    def training_key(self) -> str:
        """Cells with one training key form one training group: one job (one fit) per group, or one
        job per cell run one after the other when ``chained``."""
    @property
    def name(self) -> str:
        """The run's name, ``method/protocol/fold/seed``-like."""
    @property
    def chained(self) -> bool:
        """True: the group's cells are one job each, run in order, sharing the work folder
        ``<work_dir>/<training_key>`` (what the first builds the next load); False: one job per group."""
    @property
    def n_train(self) -> int | None:
        """Training utterances (the plan scales past timings by it); None where it does not apply."""
    @property
    def schedule_rank(self) -> int:
        """Groups with the lowest rank start first (the slowest kinds: longest-first keeps workers busy)."""

    def tags(self, suite: str) -> dict[str, str]:
        """The run's tags (the leaderboards select cells by them)."""

    def params(self) -> dict[str, Any]:
        """The cell's own run params, beside the resolved ``hp.*`` and the suite's provenance."""

    def feature_needs(self) -> list[FeatureNeed]:
        """The features to extract before the group runs."""

    def summary_line(self, metrics: dict[str, float]) -> str:
        """The headline numbers shown on the progress bar when the cell is done."""

    @classmethod
    def run_group(cls, cells: Sequence[Any], manifest: pd.DataFrame | None, *, n_bootstrap: int,
                  models_dir: str | None, work_dir: str | None) -> list[CellResult | Exception]:
        """Run the cells of one job (one training group, or one cell of a chained group) in this process;
        a failure is returned in the failing cell's place. ``manifest`` None: the pool worker's copy.
        Pure: no MLflow here, so it runs in any process."""

    def register_model(self, run_id: str, model_dir: str, manifest: pd.DataFrame) -> None:
        """Log the model saved under ``model_dir`` to ``run_id`` and register it (``register_models``)."""


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
