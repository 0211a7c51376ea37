"""benchmark.results: finished cells and their artifacts read back from MLflow.

The store is built in ``tmp_path`` exactly as /tmp/run_schema.md (the runner's
contract) describes it. ``FakeSuite`` is also used by test_leaderboard.py and
test_compare.py.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric, Param

from benchmark import results, tracking
from benchmark.errors import EmobenchError

CLASSES = ["neutral", "happy", "angry", "sad"]


# ----------------------------------------------------------------------------- fake store (shared)


def make_test_set(rng: np.random.Generator, fold: str, n: int = 160, prefix: str = "embedded") -> pd.DataFrame:
    """A fold's test utterances: every class present, speakers disjoint between folds."""
    y = np.array([CLASSES[i % len(CLASSES)] for i in range(n)])
    rng.shuffle(y)
    speakers = np.array([f"{prefix}_{fold}_spk{i % 4}" for i in range(n)])
    return pd.DataFrame({"utt_id": [f"{prefix}_{fold}_{i:04d}" for i in range(n)], "y_true": y,
                         "speaker": speakers, "language": "en"})


def predictions(rng: np.random.Generator, test: pd.DataFrame, skill: float) -> pd.DataFrame:
    """A predictions table (benchmark.predictions layout): right with probability ``skill``."""
    right = rng.random(len(test)) < skill
    wrong = np.array([rng.choice([c for c in CLASSES if c != t]) for t in test["y_true"]])
    y_pred = np.where(right, test["y_true"], wrong)
    table = test[["utt_id", "y_true"]].assign(y_pred=y_pred, speaker=test["speaker"], language=test["language"])
    for c in CLASSES:
        table[f"p_{c}"] = np.where(y_pred == c, 0.7, 0.1)
    return table


def sklearn_metrics(pred: pd.DataFrame) -> dict[str, float]:
    """UA/WA/macro-F1/per-class recall by scikit-learn, on the classes present in y_true."""
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    y, p = pred["y_true"].astype(str), pred["y_pred"].astype(str)
    labels = sorted(set(y))
    out = {"ua": recall_score(y, p, labels=labels, average="macro", zero_division=0),
           "wa": accuracy_score(y, p), "macro_f1": f1_score(y, p, labels=labels, average="macro", zero_division=0)}
    out.update({f"recall.{c}": r for c, r in zip(labels, recall_score(y, p, labels=labels, average=None))})
    return out


@dataclass
class FakeSuite:
    """One suite execution in a store: a parent run and its cell runs, as the runner writes them."""

    uri: str
    suite: str
    digest: str = "c0nf1g"
    parent: str = ""
    runs: dict[tuple, str] = field(default_factory=dict)   # (corpus, protocol, fold, method, seed) -> run id
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)   # run id -> predictions

    def __post_init__(self) -> None:
        self.client = tracking.configure(self.uri)
        name = f"emobench-{self.suite}"
        exp = self.client.get_experiment_by_name(name)
        # Artifacts next to the store, not in ./mlruns of whatever directory the tests run from.
        root = Path(self.uri.removeprefix("sqlite:///")).parent / "artifacts"
        self.exp_id = exp.experiment_id if exp else self.client.create_experiment(name, root.as_uri())

    def start(self) -> FakeSuite:
        tags = {tracking.KIND_TAG: "suite", tracking.SUITE_TAG: self.suite, "emobench.config": self.digest}
        self.parent = self.client.create_run(self.exp_id, run_name=self.suite, tags=tags).info.run_id
        self.client.log_text(self.parent, f"name: {self.suite}\n", "suite.yaml")
        return self

    def finish(self) -> FakeSuite:
        time.sleep(0.002)   # cells must start before the parent ends, at millisecond resolution
        self.client.set_terminated(self.parent, status="FINISHED")
        return self

    def cell(self, *, method: str, fold: str, seed: int, pred: pd.DataFrame, protocol: str = "speaker_kfold",
             corpus: str = "embedded", meta: dict | None = None, emb: dict | None = None, status: str = "FINISHED",
             speaker_independent: bool = True, cell_key: str | None = None, tags: dict | None = None,
             steps: dict[str, list[float]] | None = None) -> str:
        key = cell_key or f"{self.suite}-{corpus}-{protocol}-{fold}-{method}-{seed}"
        tags = {tracking.KIND_TAG: "cell", tracking.CELL_TAG: key, tracking.SUITE_TAG: self.suite,
                "method": method, "protocol": protocol, "protocol_name": protocol, "fold": fold, "seed": str(seed),
                "corpus": corpus, "speaker_independent": str(speaker_independent).lower(), "feature": "functionals",
                "mlflow.parentRunId": self.parent, **{f"meta.{k}": str(v) for k, v in (meta or {}).items()},
                **(tags or {})}
        run_id = self.client.create_run(self.exp_id, run_name=f"{method}/{protocol}/{fold}/seed{seed}",
                                        tags=tags).info.run_id
        m = sklearn_metrics(pred)
        # Logged metrics are deliberately off by 0.5: every consumer must recompute from the predictions.
        metrics = {k: v + 0.5 for k, v in m.items()}
        metrics.update(ua_ci_low=0.0, ua_ci_high=1.0, ua_spk_ci_low=0.0, ua_spk_ci_high=1.0, fit_seconds=0.1,
                       n_train=100.0, n_test=float(len(pred)))
        if emb is not None:
            metrics.update(speaker_probe_acc=0.99, speaker_probe_chance=0.01)
        params = {"hp.C": "1.0", "data_hash": "d4t4", "split_digest": f"split-{fold}", "code_version": "abc123",
                  "config_digest": self.digest, "pkg.numpy": np.__version__}
        now = int(time.time() * 1000)
        history = [Metric(k, float(v), now, epoch) for k, values in (steps or {}).items()
                   for epoch, v in enumerate(values, start=1)]    # step metrics, step = epoch (runner schema)
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()] + history,
                              params=[Param(k, v) for k, v in params.items()])
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "predictions").mkdir()
            pred.to_parquet(Path(tmp) / "predictions" / "predictions.parquet", index=False)
            self.client.log_artifacts(run_id, str(Path(tmp) / "predictions"), "predictions")
            if emb is not None:
                (Path(tmp) / "embeddings").mkdir()
                np.savez_compressed(Path(tmp) / "embeddings" / "test.npz", **emb)
                self.client.log_artifacts(run_id, str(Path(tmp) / "embeddings"), "embeddings")
        self.client.set_terminated(run_id, status=status)
        if status == "FINISHED":
            self.runs[(corpus, protocol, fold, method, str(seed))] = run_id
            self.tables[run_id] = pred
        return run_id


def new_store(root: Path) -> str:
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


# ----------------------------------------------------------------------------- tests of benchmark.results


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Suite "res": 2 methods x 2 folds x 2 seeds, an older superseded run, a FAILED run, a second protocol."""
    uri = new_store(tmp_path_factory.mktemp("results"))
    rng = np.random.default_rng(0)
    first = FakeSuite(uri, "res").start()
    tests = {f: make_test_set(rng, f) for f in ("fold0", "fold1")}
    old = first.cell(method="svm", fold="fold0", seed=0, pred=predictions(rng, tests["fold0"], 0.1))
    first.finish()
    time.sleep(0.01)
    run = FakeSuite(uri, "res").start()
    for method, skill in (("svm", 0.5), ("extractor", 0.8)):
        for fold, test in tests.items():
            for seed in (0, 1):
                run.cell(method=method, fold=fold, seed=seed, pred=predictions(rng, test, skill))
    failed = run.cell(method="svm", fold="fold0", seed=7, pred=predictions(rng, tests["fold0"], 0.0),
                      status="FAILED")
    emb = {"utt_ids": tests["fold0"]["utt_id"].to_numpy(str), "Z": rng.normal(size=(160, 3)),
           "y": tests["fold0"]["y_true"].to_numpy(str), "speakers": tests["fold0"]["speaker"].to_numpy(str),
           "languages": np.array(["en"] * 160)}
    run.cell(method="svm", protocol="unseen_speakers", fold="fold0", seed=0, emb=emb,
             pred=predictions(rng, tests["fold0"], 0.5))
    run.finish()
    other = FakeSuite(uri, "other").start()
    other.cell(method="svm", fold="fold0", seed=0, pred=predictions(rng, tests["fold0"], 0.5))
    other.finish()
    return {"uri": uri, "run": run, "old": old, "failed": failed, "first": first, "emb": emb, "other": other}


def test_load_cells_keeps_the_latest_finished_run_per_cell(store):
    cells = results.load_cells(store["uri"], "res")
    run = store["run"]
    assert set(cells["run_id"]) == set(run.runs.values())
    assert store["old"] not in set(cells["run_id"]) and store["failed"] not in set(cells["run_id"])
    assert not cells[["corpus", "protocol", "fold", "method", "seed"]].duplicated().any()
    row = cells[cells["run_id"] == run.runs[("embedded", "speaker_kfold", "fold1", "extractor", "1")]].iloc[0]
    assert (row["method"], row["fold"], row["seed"], row["speaker_independent"]) == ("extractor", "fold1", "1", "true")
    assert row["params.config_digest"] == "c0nf1g" and row["params.hp.C"] == "1.0"
    assert row["ua"] == pytest.approx(sklearn_metrics(run.tables[row["run_id"]])["ua"] + 0.5)


def test_load_cells_filters_and_separates_suites(store):
    assert set(results.load_cells(store["uri"], "res", protocol="unseen_speakers")["protocol"]) == {"unseen_speakers"}
    assert len(results.load_cells(store["uri"], "res", protocol="speaker_kfold")) == 8
    assert results.load_cells(store["uri"], "res", corpus="iemocap").empty
    other = results.load_cells(store["uri"], "other")
    assert list(other["run_id"]) == list(store["other"].runs.values())
    empty = results.load_cells(store["uri"], "never_ran")
    assert empty.empty and {"run_id", "method", "protocol", "fold", "seed"} <= set(empty.columns)


def test_predictions_round_trip_and_are_downloaded_once(store, monkeypatch):
    run = store["run"]
    run_id = run.runs[("embedded", "speaker_kfold", "fold0", "svm", "1")]
    results.clear_cache()
    results.load_cells(store["uri"], "res")            # remembers which store each run lives in
    calls = []
    original = results.MlflowClient.download_artifacts
    monkeypatch.setattr(results.MlflowClient, "download_artifacts",
                        lambda self, *a, **k: calls.append(a) or original(self, *a, **k))
    reads = []
    read_parquet = pd.read_parquet
    monkeypatch.setattr(results.pd, "read_parquet", lambda *a, **k: reads.append(a) or read_parquet(*a, **k))
    first = results.load_predictions(run_id)
    pd.testing.assert_frame_equal(first, run.tables[run_id].reset_index(drop=True))
    first.loc[0, "y_pred"] = "mutated"                 # a caller's edit must not reach the cache
    again = results.load_predictions(run_id)
    assert again.loc[0, "y_pred"] == run.tables[run_id]["y_pred"].iloc[0]
    # a local store's artifact is read in place, once: no MLflow download
    assert len(reads) == 1 and calls == []
    # a run that load_cells did not list (its artifact location unknown) is downloaded, once
    results.clear_cache()
    third = results.load_predictions(run_id, store["uri"])
    results.load_predictions(run_id, store["uri"])
    pd.testing.assert_frame_equal(third, run.tables[run_id].reset_index(drop=True))
    assert len(calls) == 1


def test_embeddings_round_trip_or_none(store):
    cells = results.load_cells(store["uri"], "res")
    probe_run = cells[cells["protocol"] == "unseen_speakers"]["run_id"].iloc[0]
    emb = results.load_embeddings(probe_run, store["uri"])
    for key, value in store["emb"].items():
        np.testing.assert_array_equal(emb[key], value)
    assert results.load_embeddings(store["run"].runs[("embedded", "speaker_kfold", "fold0", "svm", "0")],
                                   store["uri"]) is None


def test_a_suite_execution_includes_the_cells_it_reused(store):
    """A re-run reuses finished cells of the same config: they belong to it although another execution ran them."""
    rng = np.random.default_rng(1)
    test = make_test_set(rng, "fold0")
    first = FakeSuite(store["uri"], "reuse").start()
    a = first.cell(method="svm", fold="fold0", seed=0, pred=predictions(rng, test, 0.5))
    b = first.cell(method="svm", fold="fold0", seed=1, pred=predictions(rng, test, 0.5))
    first.finish()
    time.sleep(0.01)
    later = FakeSuite(store["uri"], "reuse").start()     # re-ran seed 1, added a method, reused seed 0
    c = later.cell(method="svm", fold="fold0", seed=1, pred=predictions(rng, test, 0.5))
    d = later.cell(method="extractor", fold="fold0", seed=0, pred=predictions(rng, test, 0.8))
    later.finish()
    time.sleep(0.01)
    changed = FakeSuite(store["uri"], "reuse", digest="n3wc0nf1g").start()   # another config: nothing reused
    e = changed.cell(method="svm", fold="fold0", seed=0, pred=predictions(rng, test, 0.5))
    changed.finish()
    assert set(results.load_run_cells(store["uri"], later.parent)["run_id"]) == {a, c, d}
    assert set(results.load_run_cells(store["uri"], first.parent)["run_id"]) == {a, b}
    assert set(results.load_run_cells(store["uri"], changed.parent)["run_id"]) == {e}
    assert list(results.load_run_cells(store["uri"], c)["run_id"]) == [c]


def test_bad_references_are_clear_errors(store, tmp_path):
    with pytest.raises(EmobenchError, match="not found"):
        results.load_run_cells(store["uri"], "0" * 32)
    with pytest.raises(EmobenchError, match="FAILED"):
        results.load_run_cells(store["uri"], store["failed"])
    with pytest.raises(EmobenchError, match="no MLflow store"):
        results.load_cells(f"sqlite:///{tmp_path / 'missing.db'}", "res")
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(EmobenchError, match="models:/<name>/<version>"):
        results.resolve_model_version(store["uri"], "models:/no-version")
    with pytest.raises(EmobenchError, match="no such registered model"):
        results.resolve_model_version(store["uri"], "models:/nothing/1")


def test_a_registered_model_version_resolves_to_its_source_run(store):
    run_id = store["run"].runs[("embedded", "speaker_kfold", "fold1", "extractor", "0")]
    client = store["run"].client
    client.create_registered_model("emobench-extractor-embedded")
    version = client.create_model_version("emobench-extractor-embedded", f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias("emobench-extractor-embedded", "champion", version.version)
    uri = f"models:/emobench-extractor-embedded/{version.version}"
    assert results.resolve_model_version(store["uri"], uri) == run_id
    assert results.resolve_model_version(store["uri"], "models:/emobench-extractor-embedded@champion") == run_id
