"""`emobench compare`: the regression gate on two sides' predictions tables.

One store holds a baseline suite execution (2 methods x 2 folds x 2 seeds) and
candidates built from it: identical predictions, a planted regression (the
extractor's predictions much worse), a tiny insignificant drop, an improvement,
and a candidate whose test set differs in one cell.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from test_results import (
    FakeSuite,
    make_test_set,
    new_store,
    predictions,
    sklearn_metrics,
)
from typer.testing import CliRunner

from benchmark import compare as cmp
from benchmark import leaderboard as lb
from benchmark.errors import ConfigError, EmobenchError

FOLDS, SEEDS = ("fold0", "fold1"), (0, 1)


def _worsen(pred: pd.DataFrame, rng: np.random.Generator, share: float) -> pd.DataFrame:
    """Turn ``share`` of the right predictions wrong."""
    pred = pred.copy()
    right = np.flatnonzero(pred["y_true"] == pred["y_pred"])
    flip = rng.choice(right, size=round(share * len(right)), replace=False)
    other = {"neutral": "sad", "happy": "angry", "angry": "happy", "sad": "neutral"}
    pred.loc[pred.index[flip], "y_pred"] = pred["y_true"].iloc[flip].map(other).to_numpy()
    return pred


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    uri = new_store(root)
    rng = np.random.default_rng(0)
    base = FakeSuite(uri, "gate_base").start()
    tests = {f: make_test_set(rng, f) for f in FOLDS}
    for fold in FOLDS:
        for seed in SEEDS:
            base.cell(method="emotion_extractor", fold=fold, seed=seed, pred=predictions(rng, tests[fold], 0.8))
            base.cell(method="linear_svm", fold=fold, seed=seed, pred=predictions(rng, tests[fold], 0.5))
    base.finish()

    def candidate(name: str, change) -> FakeSuite:
        suite = FakeSuite(uri, name).start()
        for (_corpus, _protocol, fold, method, seed), run_id in base.runs.items():
            suite.cell(method=method, fold=fold, seed=int(seed), pred=change(method, fold, base.tables[run_id]))
        return suite.finish()

    sides = {
        "same": candidate("gate_same", lambda m, f, p: p),
        "worse": candidate("gate_worse", lambda m, f, p: _worsen(p, rng, 0.3) if m == "emotion_extractor" else p),
        "tiny": candidate("gate_tiny", lambda m, f, p: _worsen(p, rng, 0.004) if m == "emotion_extractor" else p),
        "better": candidate("gate_better", lambda m, f, p: predictions(rng, tests[f], 0.9) if m == "linear_svm"
                            else p),
        "mismatch": candidate("gate_mismatch", lambda m, f, p: p.assign(utt_id=p["utt_id"] + "_x")
                              if (m, f) == ("linear_svm", "fold1") else p),
    }
    return {"uri": uri, "root": root, "base": base, **sides}


def _pooled_seed_mean(suite: FakeSuite, method: str, metric: str) -> float:
    values = []
    for seed in SEEDS:
        runs = [suite.runs[("embedded", "speaker_kfold", f, method, str(seed))] for f in FOLDS]
        values.append(sklearn_metrics(pd.concat([suite.tables[r] for r in runs]))[metric])
    return float(np.mean(values))


def _gate(**kw) -> cmp.GateConfig:
    return cmp.GateConfig(**{"n_bootstrap": 500, **kw})


def test_identical_runs_pass(store):
    verdict = cmp.compare(store["base"].parent, store["same"].parent, _gate(metrics={"ua": 1.0, "macro_f1": 1.0}),
                          tracking_uri=store["uri"], progress=False)
    assert verdict.exit_code == 0 and verdict.paired
    assert set(verdict.rows["status"]) == {"unchanged"} and len(verdict.rows) == 4
    assert (verdict.rows["diff"] == 0).all() and (verdict.rows["p"] == 1).all()
    assert "# emobench compare: PASS" in verdict.markdown and "## Regressed (0)" in verdict.markdown


def test_a_planted_regression_fails_and_is_named(store):
    verdict = cmp.compare(store["base"].parent, store["worse"].parent, _gate(metrics={"ua": 1.0, "wa": 1.0}),
                          tracking_uri=store["uri"], progress=False)
    assert verdict.exit_code == 1
    regressed = verdict.rows[verdict.rows["status"] == "regressed"]
    assert set(zip(regressed["method"], regressed["metric"])) == {("emotion_extractor", "ua"),
                                                                  ("emotion_extractor", "wa")}
    row = regressed[regressed["metric"] == "ua"].iloc[0]
    assert row["baseline"] == pytest.approx(_pooled_seed_mean(store["base"], "emotion_extractor", "ua"), abs=1e-12)
    assert row["candidate"] == pytest.approx(_pooled_seed_mean(store["worse"], "emotion_extractor", "ua"), abs=1e-12)
    assert row["diff_low"] <= row["diff"] <= row["diff_high"] < 0 and row["p"] < 0.01
    assert row["cells"] == 4 and row["seeds"] == 2 and row["n_test"] == 320
    md = verdict.markdown
    assert "# emobench compare: REGRESSION" in md and "## Regressed (2)" in md
    regressed_part = md[md.index("## Regressed"):md.index("## Improved")]
    assert "| embedded | speaker_kfold | emotion_extractor | UA |" in regressed_part
    assert f"{100 * row['diff']:+.2f}" in regressed_part and "linear_svm" not in regressed_part
    # A threshold wider than the drop lets it through.
    wide = cmp.compare(store["base"].parent, store["worse"].parent, _gate(metrics={"ua": 40.0}),
                       tracking_uri=store["uri"], progress=False)
    assert wide.exit_code == 0


def test_a_drop_that_is_not_significant_passes(store):
    verdict = cmp.compare(store["base"].parent, store["tiny"].parent, _gate(metrics={"ua": 0.0}),
                          tracking_uri=store["uri"], progress=False)
    row = verdict.rows[verdict.rows["method"] == "emotion_extractor"].iloc[0]
    assert row["diff"] < 0 and row["p"] > 0.05
    assert verdict.exit_code == 0 and row["status"] == "unchanged"


def test_an_improvement_is_reported(store):
    verdict = cmp.compare(store["base"].parent, store["better"].parent, _gate(), tracking_uri=store["uri"],
                          progress=False)
    assert verdict.exit_code == 0
    improved = verdict.rows[verdict.rows["status"] == "improved"]
    assert list(improved["method"]) == ["linear_svm"]
    assert "## Improved (1)" in verdict.markdown


def test_mcnemar_gate_finds_the_regression(store):
    verdict = cmp.compare(store["base"].parent, store["worse"].parent, _gate(test="mcnemar"),
                          tracking_uri=store["uri"], progress=False)
    assert verdict.exit_code == 1 and "McNemar" in verdict.markdown
    same = cmp.compare(store["base"].parent, store["same"].parent, _gate(test="mcnemar"),
                       tracking_uri=store["uri"], progress=False)
    assert same.exit_code == 0


def test_mismatched_test_sets_are_an_error_naming_the_cells(store):
    with pytest.raises(EmobenchError) as err:
        cmp.compare(store["base"].parent, store["mismatch"].parent, _gate(), tracking_uri=store["uri"],
                    progress=False)
    message = str(err.value)
    assert "linear_svm/embedded/speaker_kfold/fold1/seed0" in message and "test sets differ" in message
    assert store["mismatch"].runs[("embedded", "speaker_kfold", "fold1", "linear_svm", "0")] in message
    assert "fold0" not in message


def test_single_cells_and_registered_model_versions(store):
    key = ("embedded", "speaker_kfold", "fold0", "emotion_extractor", "1")
    base_run, worse_run = store["base"].runs[key], store["worse"].runs[key]
    client = store["base"].client
    client.create_registered_model("emobench-emotion_extractor-embedded")
    for run_id in (base_run, worse_run):
        client.create_model_version("emobench-emotion_extractor-embedded", f"runs:/{run_id}/model", run_id=run_id)
    verdict = cmp.compare("models:/emobench-emotion_extractor-embedded/1",
                          "models:/emobench-emotion_extractor-embedded/2", _gate(), tracking_uri=store["uri"],
                          progress=False)
    assert verdict.exit_code == 1 and len(verdict.rows) == 1
    row = verdict.rows.iloc[0]
    assert row["baseline"] == pytest.approx(sklearn_metrics(store["base"].tables[base_run])["ua"])
    assert row["candidate"] == pytest.approx(sklearn_metrics(store["worse"].tables[worse_run])["ua"])
    same = cmp.compare(base_run, store["same"].runs[key], _gate(), tracking_uri=store["uri"], progress=False)
    assert same.exit_code == 0


def test_a_leaderboard_snapshot_is_retested_or_compared_on_aggregates(store, tmp_path):
    definition = lb.parse_definition({"suite": "gate_base", "protocol": "speaker_kfold", "corpus": "embedded",
                                      "columns": ["ua", "wa"], "n_bootstrap": 200}, "gate")
    board = lb.build_leaderboard(definition, store["uri"], progress=False)
    snap = tmp_path / "snap"
    lb.write(board, snap)
    verdict = cmp.compare(str(snap), store["worse"].parent, _gate(), tracking_uri=store["uri"], progress=False)
    assert verdict.paired and verdict.exit_code == 1
    # The snapshot travels without its store (e.g. committed, read in CI): aggregates only.
    bare = tmp_path / "bare"
    bare.mkdir()
    table = pd.read_csv(snap / "leaderboard.csv")
    table["tracking_uri"] = f"sqlite:///{tmp_path / 'gone.db'}"
    table.to_csv(bare / "leaderboard.csv", index=False)
    verdict = cmp.compare(str(bare / "leaderboard.csv"), store["worse"].parent, _gate(), tracking_uri=store["uri"],
                          progress=False)
    assert not verdict.paired and verdict.exit_code == 1
    assert "No paired test was possible" in verdict.markdown and "gone.db" in verdict.markdown
    row = verdict.rows[verdict.rows["method"] == "emotion_extractor"].iloc[0]
    assert row["baseline"] == pytest.approx(board.entry("emotion_extractor")["ua"])
    assert row["candidate"] == pytest.approx(_pooled_seed_mean(store["worse"], "emotion_extractor", "ua"))
    assert cmp.compare(str(bare), store["same"].parent, _gate(), tracking_uri=store["uri"],
                       progress=False).exit_code == 0
    assert not (tmp_path / "gone.db").exists()


@pytest.mark.parametrize("content, key", [
    ({"metrics": {"ua": 1.0}, "alpha": 0.05, "tset": "mcnemar"}, "tset"),
    ({"metrics": {"accuracy": 1.0}}, "metrics"),
    ({"metrics": {"ua": -1}}, "metrics"),
    ({"test": "ttest"}, "test"),
    ({"alpha": 1.5}, "alpha"),
])
def test_bad_gate_config_names_the_key(tmp_path, content, key):
    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError, match=rf"(?m)^\s+- {key}: "):
        cmp.load_gate(path)


def test_cli_exit_codes(store, tmp_path):
    from benchmark.cli import app

    runner = CliRunner()
    gate = tmp_path / "gate.yaml"
    gate.write_text(yaml.safe_dump({"metrics": {"ua": 1.0}, "n_bootstrap": 300}))
    args = ["--tracking-uri", store["uri"], "--config", str(gate), "--no-progress"]
    worse = runner.invoke(app, ["compare", store["base"].parent, store["worse"].parent, *args,
                                "--out", str(tmp_path / "verdict.md")])
    assert worse.exit_code == 1, worse.output
    assert "REGRESSION" in worse.output and "emotion_extractor" in worse.output
    assert (tmp_path / "verdict.md").read_text().startswith("# emobench compare: REGRESSION")
    same = runner.invoke(app, ["compare", store["base"].parent, store["same"].parent, *args])
    assert same.exit_code == 0, same.output
    bad = runner.invoke(app, ["compare", store["base"].parent, store["mismatch"].parent, *args])
    assert bad.exit_code == 2 and "test sets differ" in bad.output
    nonsense = runner.invoke(app, ["compare", "not-a-run", store["same"].parent, *args])
    assert nonsense.exit_code == 2 and "expected a run id" in nonsense.output
    gate.write_text("metrics: {ua: 1.0}\nthreshold: 2\n")
    assert runner.invoke(app, ["compare", store["base"].parent, store["same"].parent, *args]).exit_code == 2


def test_latest_cells_of_a_suite_in_two_stores(store, tmp_path):
    """CI: the baseline store (from main) and a fresh candidate store, both named by suite."""
    uri = new_store(tmp_path / "candidate")
    cand = FakeSuite(uri, "gate_base").start()
    rng = np.random.default_rng(5)
    for (_corpus, _protocol, fold, method, seed), run_id in store["base"].runs.items():
        pred = store["base"].tables[run_id]
        cand.cell(method=method, fold=fold, seed=int(seed),
                  pred=_worsen(pred, rng, 0.3) if method == "linear_svm" else pred)
    cand.finish()
    verdict = cmp.compare("suite:gate_base", "suite:gate_base", _gate(), tracking_uri=store["uri"],
                          candidate_tracking_uri=uri, progress=False)
    assert verdict.exit_code == 1
    assert list(verdict.rows.loc[verdict.rows["status"] == "regressed", "method"]) == ["linear_svm"]
    with pytest.raises(EmobenchError, match="suite 'nothing' has no finished cell runs"):
        cmp.compare("suite:nothing", "suite:gate_base", tracking_uri=store["uri"], progress=False)
