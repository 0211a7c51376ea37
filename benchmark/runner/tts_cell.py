"""The TTS cell: one system (a conditioning method, ``none`` or a reference) of one (corpus, seed) group.

A :class:`benchmark.runner.cells.GridCell` of protocol ``tts``: its predictions table holds the
judge's labels of the system's audio against the intended emotions, and ``tts/per_utterance.parquet``
the Whisper WER/CER, MCD and prosody scores per utterance. The TTS systems of a (corpus, seed) are
*chained*: they run one job each, one after the other, the first training the judge and the base
acoustic model into the chain's work folder, which the next load (``benchmark.tts.evaluate.TTSBench``);
the two references (``ground_truth``, ``resynthesis``) train no acoustic model and run as jobs of their
own beside the chain.
"""
from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from benchmark import tracking
from benchmark.runner.cells import CellResult, FeatureNeed, _digest
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
    chained = True       # the systems of a group run one after another in the group's work folder
    n_train = None

    @property
    def key(self) -> str:
        return _digest({"task": "tts", "corpus": self.corpus, "data": self.data_hash, "system": self.system,
                        "hparams": self.hparams, "seed": self.seed, "config": self.config})

    @property
    def is_reference(self) -> bool:
        """``ground_truth`` and ``resynthesis``: scored recordings, no acoustic model."""
        from benchmark.tts.evaluate import REFERENCE_SYSTEMS

        return self.system in REFERENCE_SYSTEMS

    @property
    def training_key(self) -> str:
        """The TTS systems (``none`` and the conditioning methods) of one (corpus, seed, config) share the
        base acoustic model: one chain, whose first job trains it. A reference trains no model, so each is a
        group of its own that runs beside the chain (it builds the judge, a second-long fit, in its own work
        folder: the same judge, since the split and the seed are the same)."""
        return _digest({"task": "tts", "corpus": self.corpus, "data": self.data_hash, "seed": self.seed,
                        "config": self.config, **({"reference": self.system} if self.is_reference else {})})

    @property
    def schedule_rank(self) -> int:
        """The chain (base model, then a fine-tuning, synthesis and scoring per system) is the run's longest
        sequence of jobs: it starts first; the references (minutes of scoring each) right after it."""
        return -1 if self.is_reference else -2

    @property
    def method(self) -> str:
        return self.system

    @property
    def name(self) -> str:
        return f"{self.system}/tts/seed{self.seed}"

    def params(self) -> dict[str, Any]:
        return {"data_hash": self.data_hash,
                **{f"tts.{k}": json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else v
                   for k, v in self.config.items()}}

    def feature_needs(self) -> list[FeatureNeed]:
        from benchmark.tts.evaluate import TTSEvalConfig

        tts = TTSEvalConfig(**self.config)
        # the TTS targets and the judge's input, on the rows of the synthesized language
        return [FeatureNeed(feature, tts.language) for feature in sorted({"logmel", tts.judge_feature})]

    def summary_line(self, metrics: dict[str, float]) -> str:
        return (f"emotion acc={metrics.get('emotion_accuracy', float('nan')):.3f} "
                f"WER={metrics.get('wer', float('nan')):.3f}")

    @classmethod
    def run_group(cls, cells: Sequence[Any], manifest: pd.DataFrame | None, *, n_bootstrap: int,
                  models_dir: str | None, work_dir: str | None) -> list[CellResult | Exception]:
        work = None if work_dir is None else str(Path(work_dir) / cells[0].training_key)
        return run_tts_cells(list(cells), manifest, models_dir, work_dir=work)

    def register_model(self, run_id: str, model_dir: str, manifest: pd.DataFrame) -> None:
        """Log the system's TTS model to its run as a pyfunc model and register it
        (``emobench-tts-<conditioner>-<corpus>``)."""
        from benchmark.tts.model_registry import log_and_register_tts

        log_and_register_tts(model_dir, data_hash=self.data_hash, corpus=self.corpus, run_id=run_id,
                             tags={"cell": self.key, "cell_name": self.name})

    def tags(self, suite: str) -> dict[str, str]:
        from benchmark.tts.evaluate import TTSEvalConfig

        reference = self.is_reference
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
