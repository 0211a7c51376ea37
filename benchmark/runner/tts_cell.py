"""The TTS cell: one system (a conditioning method, ``none`` or a reference) of one (corpus, seed) group."""
from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark import tracking
from benchmark.runner.cells import CellResult, _digest
from benchmark.runner.pool import worker_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TTSCell:
    """One TTS unit of work: score ``system`` (a conditioning method, ``none`` or a reference) on ``corpus``."""

    corpus: str
    data_hash: str
    system: str
    hparams: dict[str, Any]          # the conditioning method's (empty for none and the references)
    seed: int
    config: dict[str, Any]           # TTSEvalConfig fields

    protocol_label = "tts"
    fold = "heldout"

    @property
    def key(self) -> str:
        return _digest({"task": "tts", "corpus": self.corpus, "data": self.data_hash, "system": self.system,
                        "hparams": self.hparams, "seed": self.seed, "config": self.config})

    @property
    def training_key(self) -> str:
        """The systems of one (corpus, seed, config) share the split, judge, ASR and base model: one group."""
        return _digest({"task": "tts", "corpus": self.corpus, "data": self.data_hash, "seed": self.seed,
                        "config": self.config})

    @property
    def method(self) -> str:
        return self.system

    @property
    def name(self) -> str:
        return f"{self.system}/tts/seed{self.seed}"

    def tags(self, suite: str) -> dict[str, str]:
        from benchmark.tts.evaluate import REFERENCE_SYSTEMS, TTSEvalConfig

        reference = self.system in REFERENCE_SYSTEMS
        return {
            tracking.KIND_TAG: "cell",
            tracking.CELL_TAG: self.key,
            tracking.SUITE_TAG: suite,
            "method": self.system,
            "protocol": self.protocol_label,
            "protocol_name": "tts",
            "fold": self.fold,
            "seed": str(self.seed),
            "corpus": self.corpus,
            # the held-out sentences are spoken by training speakers: TTS synthesizes known voices
            "speaker_independent": "false",
            "feature": "tts",
            "meta.language": TTSEvalConfig(**self.config).language,
            "meta.system": "reference" if reference else "tts",
            "meta.conditioner": "" if reference else self.system,
        }


def run_tts_cells(cells: list[TTSCell], manifest: pd.DataFrame | None = None,
                  models_dir: str | None = None, progress: bool = False,
                  work_dir: str | None = None) -> list[CellResult | Exception]:
    """Score TTS systems of one (corpus, seed) group, sharing the judge, the ASR and the base model.

    ``work_dir`` keeps the judge and the base model between calls (the suite scores one system
    per call); without it they live in a temporary folder for this call. As with
    :func:`run_cells`, a failure is returned in the failing cell's place.
    """
    from benchmark.tts.evaluate import TTSBench

    if len({c.training_key for c in cells}) != 1:
        raise ValueError("run_tts_cells: the cells do not share one (corpus, seed, config) group")
    first = cells[0]
    manifest = manifest if manifest is not None else worker_manifest(first.corpus)
    import torch

    # Training uses the threads this process was given (one per worker in a pool), whatever the config says.
    threads = torch.get_num_threads()
    config = {**first.config, "train": {**first.config.get("train", {}), "threads": threads},
              "finetune": {**first.config.get("finetune", {}), "threads": threads}}
    results: list[CellResult | Exception] = []
    with tempfile.TemporaryDirectory(prefix="emobench-tts-") as tmp:
        try:
            bench = TTSBench(manifest, work_dir or tmp, seed=first.seed, config=config, progress=progress)
        except Exception as exc:  # noqa: BLE001
            return [exc] * len(cells)
        for cell in cells:
            try:
                scored = bench.evaluate(cell.system, cell.hparams)
                results.append(_tts_cell_result(cell, scored, models_dir))
            except Exception as exc:  # noqa: BLE001
                log.error("TTS cell %s failed: %s", cell.name, exc)
                results.append(exc)
    return results


def _tts_cell_result(cell: TTSCell, scored, models_dir: str | None) -> CellResult:
    """A TTS system's scores as a cell result: the judge's predictions table, the per-utterance scores,
    the showcase mels and a few wavs as artifacts; the model copied out for registration."""
    import io
    import shutil

    artifacts: dict[str, bytes] = {}
    buffer = io.BytesIO()
    scored.per_utterance.to_parquet(buffer, index=False)
    artifacts["tts/per_utterance.parquet"] = buffer.getvalue()
    artifacts["tts/settings.json"] = json.dumps(scored.settings, indent=1, default=str).encode()
    if scored.showcase is not None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **scored.showcase)
        artifacts["tts/showcase.npz"] = buffer.getvalue()
    for path in scored.samples:
        artifacts[f"tts/samples/{Path(path).name}"] = Path(path).read_bytes()
    model_dir = None
    if models_dir is not None and scored.model_dir is not None:
        model_dir = shutil.copytree(scored.model_dir, Path(models_dir) / cell.key)
    return CellResult(scored.predictions, scored.metrics, None, scored.fit_seconds, scored.hparams,
                      {}, None if model_dir is None else str(model_dir), artifacts)
