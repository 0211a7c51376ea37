"""The runner's cell protocol (benchmark.runner.cells.GridCell): a new kind of cell is one class.

A toy kind defined here, and nowhere else, runs through the same grid, executor, recorder and
resume as the SER cells: a chained group of two "corpus prior" cells (the first writes the class
counts into the group's work folder, the second reads them back), recorded with its own tags,
params, predictions and metrics, and skipped on a re-run by its key.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from benchmark import runner, tracking
from benchmark.predictions import make_predictions
from benchmark.runner.cells import CellResult, FeatureNeed, _digest
from benchmark.suite import parse_suite

SUITE = {
    "name": "toykind",
    "corpora": [{"name": "embedded", "options": {"size": 48, "languages": ["en"], "speakers_per_language": 3,
                                                 "sentences_per_language": 8, "sessions_per_language": 1}}],
    "methods": {"majority": {}},
    "protocols": [{"name": "speaker_kfold", "config": {"k": 2}, "seeds": [0]}],
    "bootstrap": 20,
}


@dataclass(frozen=True)
class PriorCell:
    """Predict the corpus's most frequent emotion for the utterances of one half (``part``) of the corpus."""

    corpus: str
    data_hash: str
    part: int
    seed: int = 0
    hparams: dict[str, Any] = field(default_factory=dict)

    method = "prior"
    protocol_label = "toy"
    chained = True
    n_train = None
    schedule_rank = 5

    @property
    def key(self) -> str:
        return _digest({"task": "toy", "corpus": self.corpus, "data": self.data_hash, "part": self.part})

    @property
    def training_key(self) -> str:
        return _digest({"task": "toy", "corpus": self.corpus, "data": self.data_hash})

    @property
    def name(self) -> str:
        return f"prior/toy/part{self.part}"

    def tags(self, suite: str) -> dict[str, str]:
        return {tracking.KIND_TAG: "cell", tracking.CELL_TAG: self.key, tracking.SUITE_TAG: suite,
                "method": self.method, "protocol": self.protocol_label, "protocol_name": "toy",
                "fold": f"part{self.part}", "seed": str(self.seed), "corpus": self.corpus}

    def params(self) -> dict[str, Any]:
        return {"data_hash": self.data_hash, "toy.part": self.part}

    def feature_needs(self) -> list[FeatureNeed]:
        return []

    def summary_line(self, metrics: dict[str, float]) -> str:
        return f"UA={metrics['ua']:.3f}"

    @classmethod
    def run_group(cls, cells: Sequence[Any], manifest: pd.DataFrame | None, *, n_bootstrap: int,
                  models_dir: str | None, work_dir: str | None) -> list[CellResult | Exception]:
        assert manifest is not None and work_dir is not None
        shared = Path(work_dir) / cells[0].training_key
        counts_file = shared / "counts.json"
        results: list[CellResult | Exception] = []
        for cell in cells:
            if cell.part == 0:  # the chain's first job builds what the next one loads
                shared.mkdir(parents=True, exist_ok=True)
                counts_file.write_text(json.dumps(manifest["emotion"].value_counts().to_dict()))
            counts = json.loads(counts_file.read_text())   # the second job fails if the folder was not shared
            rows = expected_rows(manifest, cell.part)
            classes = sorted(counts)
            proba = np.tile([float(c == max(counts, key=counts.get)) for c in classes], (len(rows), 1))
            predictions = make_predictions(rows["utt_id"], rows["emotion"], proba, classes)
            ua = balanced_accuracy_score(predictions["y_true"], predictions["y_pred"])
            results.append(CellResult(predictions, {"ua": ua, "n_test": len(rows)}))
        return results

    def register_model(self, run_id: str, model_dir: str, manifest: pd.DataFrame) -> None:
        raise NotImplementedError("a prior has no model")


def expected_rows(manifest: pd.DataFrame, part: int) -> pd.DataFrame:
    return manifest.sort_values("utt_id").iloc[part::2]


def test_a_new_cell_kind_runs_records_and_resumes_through_the_protocol_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOBENCH_HOME", str(tmp_path / "home"))
    suite = parse_suite({**SUITE, "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}})
    real = runner.execute.expand_cells

    def with_priors(suite_, manifests):
        (corpus, manifest), = manifests.items()
        from benchmark.manifest import manifest_hash

        return [*real(suite_, manifests), *(PriorCell(corpus, manifest_hash(manifest), part) for part in (0, 1))]

    monkeypatch.setattr(runner.execute, "expand_cells", with_priors)
    summary = runner.run_suite(suite, progress=False)
    assert summary.total == 2 + 2 and summary.ran == 4 and not summary.failed

    client = tracking.configure(suite.tracking.uri)
    exp = client.get_experiment_by_name(suite.experiment_name)
    toy = client.search_runs([exp.experiment_id], filter_string="tags.protocol = 'toy'")
    assert sorted(r.data.tags["fold"] for r in toy) == ["part0", "part1"]
    assert {r.info.status for r in toy} == {"FINISHED"}
    manifest = runner.load_manifests(suite, progress=False)["embedded"]
    for run in toy:
        part = int(run.data.params["toy.part"])
        logged = pd.read_parquet(client.download_artifacts(run.info.run_id, "predictions/predictions.parquet"))
        rows = expected_rows(manifest, part)
        assert logged["utt_id"].tolist() == rows["utt_id"].tolist()
        assert set(logged["y_pred"]) == {manifest["emotion"].value_counts().idxmax()}
        assert run.data.metrics["ua"] == pytest.approx(balanced_accuracy_score(rows["emotion"], logged["y_pred"]))
        assert run.data.metrics["n_test"] == len(rows) and "data_hash" in run.data.params

    again = runner.run_suite(suite, progress=False)
    assert again.skipped == again.total == 4 and again.ran == 0


def test_the_model_registry_imports_no_tts_code_and_old_tts_models_still_find_their_wrapper():
    code = ("import sys, benchmark.model_registry as registry\n"
            "assert not [m for m in sys.modules if m.startswith('benchmark.tts')], 'TTS imported'\n"
            "from benchmark.tts.model_registry import EmobenchTTSPyfuncModel\n"
            # the wrapper code logged with TTS models before the move imports it from benchmark.model_registry
            "assert registry.EmobenchTTSPyfuncModel is EmobenchTTSPyfuncModel\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
