"""The SER grid cell: (corpus, protocol, split, method, seed); trained once per training group, scored per cell.

A :class:`benchmark.runner.cells.GridCell`: its group fits the method once on the shared train/val
split (:func:`run_cells`) and scores each cell's test set (predictions, metrics, the confusion
figure, the embeddings and speaker probe where the protocol keeps them).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from benchmark import tracking
from benchmark.runner.cells import CellResult, FeatureNeed, _digest, method_feature
from benchmark.runner.pool import worker_manifest
from benchmark.splits import Split
from benchmark.suite import ProtocolSpec, variant_name


@dataclass(frozen=True)
class Cell:
    """One unit of work: train ``method`` on ``split`` with ``seed`` and score it."""

    corpus: str
    data_hash: str
    protocol: ProtocolSpec
    split: Split
    method: str                      # the suite's name: a registered method or a ``base/variant``
    hparams: dict[str, Any]
    seed: int
    base_method: str | None = None   # the registered method of a variant (None: ``method`` itself)

    chained = False  # one job per training group: one fit, every cell of the group scored on it

    @property
    def registered(self) -> str:
        """The registry name of the method class this cell trains."""
        return self.base_method or self.method

    @property
    def key(self) -> str:
        payload = {
            "corpus": self.corpus,
            "data": self.data_hash,
            "protocol": self.protocol.label,
            "split": self.split.digest(),
            "method": self.method,
            "hparams": self.hparams,
            "seed": self.seed,
            "embeddings": self.protocol.keep_embeddings,
        }
        return _digest(payload)

    @property
    def training_key(self) -> str:
        """Cells with the same training key train the same model (e.g. one source language tested on
        every target language): the runner fits it once and scores it on each cell's test set."""
        s = self.split
        payload = {"corpus": self.corpus, "data": self.data_hash, "train": s.train_ids, "val": s.val_ids,
                   "labels": s.labels, "label_map": s.label_map, "method": self.method, "hparams": self.hparams,
                   "seed": self.seed}
        return _digest(payload)

    @property
    def name(self) -> str:
        return f"{self.method}/{self.protocol.label}/{self.split.fold}/seed{self.seed}"

    @property
    def protocol_label(self) -> str:
        return self.protocol.label

    @property
    def n_train(self) -> int:
        return len(self.split.train_ids)

    @property
    def schedule_rank(self) -> int:
        """Networks on frames (log-mel, an encoder layer's frames) are the slow ones: they start first."""
        from benchmark.features import make_config

        return 0 if make_config(method_feature(self.registered, self.hparams)).frame_level else 1

    def params(self) -> dict[str, Any]:
        return {"data_hash": self.data_hash, "split_digest": self.split.digest()}

    def feature_needs(self) -> list[FeatureNeed]:
        return [FeatureNeed(method_feature(self.registered, self.hparams))]

    def summary_line(self, metrics: dict[str, float]) -> str:
        return f"UA={metrics.get('ua', float('nan')):.3f}"

    @classmethod
    def run_group(cls, cells: Sequence[Any], manifest: pd.DataFrame | None, *, n_bootstrap: int,
                  models_dir: str | None, work_dir: str | None) -> list[CellResult | Exception]:
        return run_cells(list(cells), manifest, n_bootstrap, models_dir)

    def register_model(self, run_id: str, model_dir: str, manifest: pd.DataFrame) -> None:
        """Log the fitted method to its run as a pyfunc model and register it as
        ``emobench-<method>-<corpus>`` (one version per cell, tagged with the cell)."""
        from benchmark.features import feature_set
        from benchmark.methods import METHODS
        from benchmark.model_registry import log_and_register, registered_name

        method = METHODS.get(self.registered).load(model_dir)
        example = feature_set(self.split.frames(manifest)["test"].head(5), method.feature, progress=False)
        # A variant registers under its own name ("/" is not allowed in a registered model's name).
        log_and_register(method, data_hash=self.data_hash, input_example=example, run_id=run_id,
                         name=registered_name(self.method.replace("/", "."), self.corpus),
                         tags={"cell": self.key, "cell_name": self.name})

    def tags(self, suite: str) -> dict[str, str]:
        from benchmark.features.base import feature_label

        tags = {
            tracking.KIND_TAG: "cell",
            tracking.CELL_TAG: self.key,
            tracking.SUITE_TAG: suite,
            "method": self.method,
            "base_method": self.registered,
            "variant": variant_name(self.method),
            "protocol": self.protocol.label,
            "protocol_name": self.protocol.name,
            "fold": self.split.fold,
            "seed": str(self.seed),
            "corpus": self.corpus,
            "speaker_independent": str(self.split.speaker_independent).lower(),
            "feature": feature_label(method_feature(self.registered, self.hparams)),
        }
        tags.update({f"meta.{k}": str(v) for k, v in self.split.meta.items()})
        return tags


def run_cell(cell: Cell, manifest: pd.DataFrame | None = None, n_bootstrap: int = 1000) -> CellResult:
    """Train and score one cell (pure: no MLflow here, so it can run in any process)."""
    result = run_cells([cell], manifest, n_bootstrap)[0]
    if isinstance(result, Exception):
        raise result
    return result


def run_cells(cells: list[Cell], manifest: pd.DataFrame | None = None,
              n_bootstrap: int = 1000, models_dir: str | None = None) -> list[CellResult | Exception]:
    """Train once and score every cell of ``cells``, which share one training key.

    A failure is returned in the failing cell's place (a failed fit fails them all), so that
    one broken cell never hides the results of the others. With ``models_dir`` the fitted method
    is saved under it (once for the group) for the main process to log and register.
    """
    from benchmark.features import feature_set
    from benchmark.methods import METHODS

    if len({c.training_key for c in cells}) != 1:
        raise ValueError("run_cells: the cells do not share one training key")
    first = cells[0]
    manifest = manifest if manifest is not None else worker_manifest(first.corpus)
    method_cls = METHODS.get(first.registered)
    try:
        method = method_cls(**{**first.hparams, "seed": first.seed})
        frames = first.split.frames(manifest)
        data = {part: feature_set(rows, method.feature, progress=False)
                for part, rows in frames.items() if part != "test" and len(rows)}
        start = time.perf_counter()
        method.fit(data["train"], data.get("val"))
        fit_seconds = time.perf_counter() - start
        saved = str(method.save(Path(models_dir) / first.training_key)) if models_dir else None
    except Exception as exc:  # noqa: BLE001  (reported on every cell that needed this model)
        return [exc] * len(cells)
    results: list[CellResult | Exception] = []
    for cell in cells:
        try:
            test_rows = cell.split.frames(manifest)["test"] if cell is not first else frames["test"]
            test = feature_set(test_rows, method.feature, progress=False)
            result = _score_cell(cell, method, test, len(data["train"]), fit_seconds, n_bootstrap)
            result.model_dir = saved
            results.append(result)
        except Exception as exc:  # noqa: BLE001
            results.append(exc)
    return results


def _score_cell(cell: Cell, method, test, n_train: int, fit_seconds: float, n_bootstrap: int) -> CellResult:
    from benchmark.metrics import score_predictions
    from benchmark.predictions import make_predictions

    proba = method.predict_proba(test)
    predictions = make_predictions(test.utt_ids, test.y, proba, method.classes_,
                                   speakers=test.speakers, languages=test.languages)
    metrics = score_predictions(predictions, labels=list(cell.split.labels), n_bootstrap=n_bootstrap, seed=cell.seed)
    metrics.update({"fit_seconds": fit_seconds, "n_train": n_train, "n_test": len(test)})
    embeddings = None
    if cell.protocol.keep_embeddings:
        from benchmark.metrics import speaker_probe

        Z = method.embed(test)
        # Plain unicode arrays (not object arrays): readable with allow_pickle=False.
        embeddings = {"utt_ids": np.asarray(test.utt_ids, dtype=str), "Z": np.asarray(Z, dtype=np.float32),
                      "y": np.asarray(test.y, dtype=str), "speakers": np.asarray(test.speakers, dtype=str),
                      "languages": np.asarray(test.languages, dtype=str)}
        metrics.update(speaker_probe(Z, np.asarray(test.speakers), seed=cell.seed))
    from benchmark.report.cell_figure import confusion_png

    figures = {"confusion.png": confusion_png(predictions, list(cell.split.labels), cell.name)}
    convergence = getattr(method, "convergence_", None)
    return CellResult(predictions, metrics, embeddings, fit_seconds, method.hparams, figures,
                      history=list(getattr(method, "history_", [])),
                      convergence=None if convergence is None else convergence.as_dict())
