"""The suite runner end to end on a tiny embedded corpus: MLflow records, resume, failures, interrupts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from benchmark import runner, tracking
from benchmark.suite import parse_suite

SUITE = {
    "name": "tiny",
    "corpora": [{"name": "embedded", "options": {"size": 96, "languages": ["en", "de"], "speakers_per_language": 3,
                                                 "sentences_per_language": 8, "sessions_per_language": 1}}],
    "methods": {"majority": {}, "logreg": {}},
    "protocols": [{"name": "speaker_kfold", "config": {"k": 2}, "seeds": [0, 1]},
                  {"name": "unseen_speakers", "methods": ["logreg"], "keep_embeddings": True,
                   "config": {"val_fraction": 0.4}}],
    "bootstrap": 50,
}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    path = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMOBENCH_HOME", str(path))
        yield path


@pytest.fixture()
def store(tmp_path, home):
    suite = parse_suite({**SUITE, "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}})
    return suite, tracking.configure(suite.tracking.uri)


def _runs(client, suite, status=None):
    exp = client.get_experiment_by_name(suite.experiment_name)
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`{tracking.KIND_TAG}` = 'cell'")
    return [r for r in runs if status is None or r.info.status == status]


def test_run_records_every_cell_with_provenance_and_predictions(store):
    suite, client = store
    summary = runner.run_suite(suite, progress=False)
    assert summary.total == 2 * 2 * 2 + 1 and summary.ran == summary.total and not summary.failed
    runs = _runs(client, suite)
    assert len(runs) == summary.total and {r.info.status for r in runs} == {"FINISHED"}
    run = next(r for r in runs if r.data.tags["method"] == "logreg" and r.data.tags["protocol"] == "speaker_kfold")
    assert run.data.tags["speaker_independent"] == "true" and run.data.tags["feature"] == "functionals"
    for key in ("data_hash", "split_digest", "code_version", "config_digest", "pkg.torch", "hp.C"):
        assert key in run.data.params
    # The logged UA is the UA of the logged predictions table.
    path = client.download_artifacts(run.info.run_id, "predictions/predictions.parquet")
    pred = pd.read_parquet(path)
    assert run.data.metrics["ua"] == pytest.approx(balanced_accuracy_score(pred["y_true"], pred["y_pred"]))
    probe = next(r for r in runs if r.data.tags["protocol"] == "unseen_speakers")
    assert "speaker_probe_acc" in probe.data.metrics
    emb = np.load(client.download_artifacts(probe.info.run_id, "embeddings/test.npz"), allow_pickle=False)
    assert emb["Z"].shape[0] == len(emb["utt_ids"]) == probe.data.metrics["n_test"]
    # every cell carries its confusion matrix as a PNG
    png = client.download_artifacts(run.info.run_id, "figures/confusion.png")
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cells_sharing_a_training_set_are_fitted_once_with_the_same_results(home, tmp_path, monkeypatch):
    spec = {**SUITE, "methods": {"logreg": {}},
            "protocols": [{"name": "cross_lingual", "config": {"test_fraction": 0.34}}],
            "tracking": {"uri": f"sqlite:///{tmp_path / 'transfer.db'}"}}
    suite = parse_suite(spec)
    manifests = runner.load_manifests(suite, progress=False)
    cells = runner.expand_grid(suite, manifests)
    groups = runner.schedule(cells)
    assert len(cells) == 4 and sorted(len(g) for g in groups) == [2, 2]  # en->{en,de}, de->{de,en}
    fits = {"n": 0}
    from baselines.classical import LogRegBaseline as LogReg
    original = LogReg.fit

    def counting_fit(self, *args, **kwargs):
        fits["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LogReg, "fit", counting_fit)
    summary = runner.run_suite(suite, progress=False)
    assert summary.ran == 4 and fits["n"] == 2
    # A grouped cell gives exactly what the cell run on its own gives.
    client = tracking.configure(suite.tracking.uri)
    for cell in cells:
        alone = runner.run_cell(cell, manifests[cell.corpus], suite.bootstrap)
        run = next(r for r in _runs(client, suite) if r.data.tags[tracking.CELL_TAG] == cell.key)
        logged = pd.read_parquet(client.download_artifacts(run.info.run_id, "predictions/predictions.parquet"))
        pd.testing.assert_frame_equal(logged, alone.predictions.reset_index(drop=True), check_dtype=False)


def test_rerun_skips_finished_cells(store):
    suite, client = store
    runner.run_suite(suite, progress=False)
    again = runner.run_suite(suite, progress=False)
    assert again.skipped == again.total and again.ran == 0 and again.parent_run_id is None
    assert len(_runs(client, suite)) == again.total


def test_a_failing_cell_is_marked_failed_and_retried_on_rerun(store, monkeypatch):
    suite, client = store
    real = runner.run_cells

    def flaky(cells, *args, **kwargs):
        if cells[0].method == "majority" and cells[0].seed == 1:
            raise RuntimeError("boom")
        return real(cells, *args, **kwargs)

    monkeypatch.setattr(runner.ser_cell, "run_cells", flaky)
    summary = runner.run_suite(suite, progress=False)
    assert len(summary.failed) == 2 and summary.ran == summary.total - 2
    failed = _runs(client, suite, "FAILED")
    assert len(failed) == 2 and all("boom" in r.data.tags["emobench.error"] for r in failed)
    monkeypatch.setattr(runner.ser_cell, "run_cells", real)
    retry = runner.run_suite(suite, progress=False)
    assert retry.ran == 2 and retry.skipped == summary.total - 2
    assert len(_runs(client, suite, "FINISHED")) == summary.total


def test_interrupt_leaves_no_running_run_and_resumes_without_duplicates(store, monkeypatch):
    suite, client = store
    real = runner.run_cells
    calls = {"n": 0}

    def interrupted(cells, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(cells, *args, **kwargs)

    monkeypatch.setattr(runner.ser_cell, "run_cells", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run_suite(suite, progress=False)
    statuses = [r.info.status for r in _runs(client, suite)]
    assert "RUNNING" not in statuses and statuses.count("FINISHED") == 2 and statuses.count("FAILED") == 1
    exp = client.get_experiment_by_name(suite.experiment_name)
    parents = client.search_runs([exp.experiment_id], filter_string=f"tags.`{tracking.KIND_TAG}` = 'suite'")
    assert [p.info.status for p in parents] == ["FAILED"]
    monkeypatch.setattr(runner.ser_cell, "run_cells", real)
    resumed = runner.run_suite(suite, progress=False)
    assert resumed.skipped == 2 and resumed.ran == resumed.total - 2
    assert len(_runs(client, suite, "FINISHED")) == resumed.total  # no duplicates


def test_parallel_run_gives_the_same_predictions(store, tmp_path):
    suite, client = store
    runner.run_suite(suite, progress=False)
    other = parse_suite({**SUITE, "tracking": {"uri": f"sqlite:///{tmp_path / 'parallel.db'}"}})
    runner.run_suite(other, n_jobs=2, progress=False)
    pclient = tracking.configure(other.tracking.uri)

    def ua_by_cell(c, s):
        return {r.data.tags[tracking.CELL_TAG]: r.data.metrics["ua"] for r in _runs(c, s)}

    assert ua_by_cell(client, suite) == ua_by_cell(pclient, other)


def test_a_parallel_run_on_a_cold_feature_cache_gives_the_same_predictions(home, tmp_path, monkeypatch):
    """With a pool, the first job's features are extracted at once and the rest in the background while jobs
    run (benchmark.runner.features): the cells' numbers are those of a sequential run that extracted first."""
    config = {**SUITE, "methods": {**SUITE["methods"], "dae": {"epochs": 2, "early_stopping": False,
                                                               "progress": False}}}   # eGeMAPS beside functionals
    sequential = parse_suite({**config, "tracking": {"uri": f"sqlite:///{tmp_path / 'seq.db'}"}})
    runner.run_suite(sequential, progress=False)
    cold = tmp_path / "cold"
    cold.mkdir()
    (cold / "corpora").symlink_to(home / "corpora")
    monkeypatch.setenv("EMOBENCH_HOME", str(cold))
    parallel = parse_suite({**config, "tracking": {"uri": f"sqlite:///{tmp_path / 'par.db'}"}})
    summary = runner.run_suite(parallel, n_jobs=2, progress=False)
    assert summary.ran == summary.total and not summary.failed and summary.stage_seconds["features"] > 0
    assert {p.name.split("-")[0] for p in (cold / "features").iterdir()} == {"functionals", "egemaps"}

    def ua_by_cell(s):
        client = tracking.configure(s.tracking.uri)
        return {r.data.tags[tracking.CELL_TAG]: r.data.metrics["ua"] for r in _runs(client, s)}

    assert ua_by_cell(sequential) == ua_by_cell(parallel)


def test_cli_rerun_publishes_only_when_something_changed(home, tmp_path, monkeypatch):
    import yaml
    from typer.testing import CliRunner

    from benchmark import cli, publish
    from benchmark.report import DEFAULT_OUT

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny.yaml"
    spec = {**SUITE, "protocols": SUITE["protocols"][:1], "methods": {"majority": {}},
            "tracking": {"uri": f"sqlite:///{tmp_path / 'cli.db'}"}}
    path.write_text(yaml.safe_dump(spec))
    published = []

    # The real publish builds the report: tested elsewhere.
    def fake_publish(suite, uri, progress, n_jobs=1, boards_dir=None):
        published.append(suite)
        (DEFAULT_OUT / suite).mkdir(parents=True, exist_ok=True)
        (DEFAULT_OUT / suite / "report.html").write_text("<html></html>")
        return publish.Published(boards=[])  # this suite has no leaderboard

    monkeypatch.setattr(publish, "publish", fake_publish)
    invoke = lambda: CliRunner().invoke(cli.app, ["run", str(path), "--no-progress"])  # noqa: E731
    first = invoke()
    assert first.exit_code == 0, first.output
    assert published == ["tiny"]
    again = invoke()
    assert again.exit_code == 0 and "nothing new" in again.output and published == ["tiny"]
    (DEFAULT_OUT / "tiny" / "report.html").unlink()  # a missing output is published again
    assert invoke().exit_code == 0 and published == ["tiny", "tiny"]


def test_register_models_puts_every_cell_in_the_model_registry(home, tmp_path):
    from mlflow import MlflowClient

    from benchmark.methods import METHODS
    from benchmark.model_registry import load_registered, registered_name

    spec = {**SUITE, "methods": {"logreg": {}}, "protocols": [SUITE["protocols"][1]],
            "tracking": {"uri": f"sqlite:///{tmp_path / 'registry.db'}", "register_models": True}}
    suite = parse_suite(spec)
    summary = runner.run_suite(suite, progress=False)
    assert summary.ran == 1 and not summary.failed
    client = MlflowClient(tracking_uri=suite.tracking.uri)
    name = registered_name("logreg", "embedded")
    versions = client.search_model_versions(f"name = '{name}'")
    assert len(versions) == 1
    run = _runs(client, suite, "FINISHED")[0]
    assert versions[0].run_id == run.info.run_id and versions[0].tags["cell"] == run.data.tags[tracking.CELL_TAG]
    # the registered model predicts what the cell logged, with no training code of the caller's
    manifests = runner.load_manifests(suite, progress=False)
    cell = runner.expand_grid(suite, manifests)[0]
    from benchmark.features import feature_set

    test = feature_set(cell.split.frames(manifests["embedded"])["test"], "functionals", progress=False)
    method = load_registered(name)
    logged = pd.read_parquet(client.download_artifacts(run.info.run_id, "predictions/predictions.parquet"))
    assert list(method.predict(test)) == list(logged["y_pred"])
    assert isinstance(method, METHODS.get("logreg"))


def test_variants_and_convergence_are_recorded(home, tmp_path):
    """A ``base/variant`` is its own row with its base named; an iterative fit logs its learning curve."""
    data = {**SUITE, "methods": {"logreg": {}, "logreg/strong": {"C": 100.0},
                                 "cnn": {"epochs": 3, "patience": 2, "channels": [8, 8], "crop_frames": 32,
                                         "progress": False}},
            "protocols": [{"name": "unseen_speakers", "config": {"val_fraction": 0.4}}],
            "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}}
    suite = parse_suite(data)
    client = tracking.configure(suite.tracking.uri)
    assert not runner.run_suite(suite, progress=False).failed
    runs = {r.data.tags["method"]: r for r in _runs(client, suite)}
    assert set(runs) == {"logreg", "logreg/strong", "cnn"}
    variant, plain = runs["logreg/strong"], runs["logreg"]
    assert (variant.data.tags["base_method"], variant.data.tags["variant"]) == ("logreg", "strong")
    assert (plain.data.tags["base_method"], plain.data.tags["variant"]) == ("logreg", "")
    assert variant.data.params["hp.C"] == "100.0" and plain.data.params["hp.C"] != "100.0"
    assert "convergence.stop_reason" not in plain.data.tags      # not iterative
    cnn = runs["cnn"]
    history = client.get_metric_history(cnn.info.run_id, "val_ua")
    epochs = int(cnn.data.metrics["epochs_run"])
    assert [m.step for m in history] == list(range(1, epochs + 1))
    assert len(client.get_metric_history(cnn.info.run_id, "train_loss")) == epochs
    best = max(history, key=lambda m: (m.value, -m.step))
    assert cnn.data.metrics["best_epoch"] == best.step and cnn.data.metrics["epoch_cap"] == 3
    reason = cnn.data.tags["convergence.stop_reason"]
    # Early stopping fires after `patience` (2) epochs without a gain; otherwise the cap (3) ended it.
    assert reason == ("early_stop" if epochs - best.step >= 2 else "epoch_cap")
    assert reason == "early_stop" or epochs == 3
    assert cnn.data.tags["convergence.still_improving"] == str(reason == "epoch_cap").lower()
