"""`emobench plan` / `run --dry-run`: what a run would do, from the grid and the store, training nothing."""
from __future__ import annotations

import statistics

import pytest
from typer.testing import CliRunner

from benchmark import cli, runner, tracking
from benchmark.plan import estimate_fit, make_plan, past_fit_timings
from benchmark.suite import parse_suite

SUITE = {
    "name": "planned",
    "corpora": [{"name": "embedded", "options": {"size": 96, "languages": ["en", "de"], "speakers_per_language": 3,
                                                 "sentences_per_language": 8, "sessions_per_language": 1}}],
    "methods": {"majority": {}, "logreg": {}},
    "protocols": [{"name": "speaker_kfold", "config": {"k": 2}, "seeds": [0, 1]},
                  {"name": "cross_lingual", "methods": ["logreg"], "config": {"test_fraction": 0.34}}],
    "bootstrap": 50,
}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    path = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMOBENCH_HOME", str(path))
        yield path


def test_plan_counts_cells_groups_and_finished_and_estimates_from_past_fits(home, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    suite = parse_suite({**SUITE, "tracking": {"uri": uri}})
    before = make_plan(suite)
    assert not (tmp_path / "mlflow.db").exists()  # planning never creates a store
    # 2 folds x 2 seeds x 2 methods + cross-lingual en->{en,de}, de->{de,en} (2 fits for 4 cells)
    assert before.cells == 12 and before.finished == 0 and before.groups == 10
    row = before.table.set_index(["protocol", "method"]).loc[("cross_lingual", "logreg")]
    assert row["cells"] == 4 and row["groups"] == 2 and row["estimate from"] == "no past runs"

    runner.run_suite(parse_suite({**SUITE, "protocols": SUITE["protocols"][:1], "tracking": {"uri": uri}}),
                     progress=False)
    after = make_plan(suite)
    assert after.finished == 8 and after.groups == 2
    # the estimate is the median fit time of the same method at the same training-set size
    client = tracking.configure(uri)
    runs = client.search_runs([client.get_experiment_by_name(suite.experiment_name).experiment_id],
                              filter_string="tags.method = 'logreg'")
    manifests = runner.load_manifests(suite, progress=False)
    cell = next(c for c in runner.expand_grid(suite, manifests) if c.protocol.name == "cross_lingual")
    n_train = len(cell.split.train_ids)
    same = [r.data.metrics["fit_seconds"] for r in runs if r.data.metrics["n_train"] == n_train]
    estimate, basis = estimate_fit(past_fit_timings(client), "logreg", n_train)
    if same:
        assert estimate == pytest.approx(statistics.median(same)) and basis.startswith("same size")
    else:  # scaled per training utterance from the nearest size seen
        nearest = min({r.data.metrics["n_train"] for r in runs}, key=lambda n: abs(n - n_train))
        per = statistics.median(r.data.metrics["fit_seconds"] / r.data.metrics["n_train"] for r in runs
                                if r.data.metrics["n_train"] == nearest)
        assert estimate == pytest.approx(per * n_train) and basis == f"scaled from n={int(nearest)}"
    # one fit per training group; the critical path is the longer of the two, on 2 workers they run side by side
    groups = runner.schedule([c for c in runner.expand_grid(suite, manifests) if c.protocol.name == "cross_lingual"])
    fits = [estimate_fit(past_fit_timings(client), "logreg", len(g[0].split.train_ids))[0] for g in groups]
    assert after.critical_path_s == pytest.approx(max(fits)) and after.total_s == pytest.approx(sum(fits))
    assert after.wall_s(1) == pytest.approx(sum(fits)) and after.wall_s(2) == pytest.approx(max(fits))


def test_dry_run_prints_the_plan_and_trains_nothing(home, tmp_path, monkeypatch):
    import yaml

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "planned.yaml"
    path.write_text(yaml.safe_dump({**SUITE, "tracking": {"uri": f"sqlite:///{tmp_path / 'cli.db'}"}}))
    result = CliRunner().invoke(cli.app, ["run", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "12 cells: 0 already FINISHED, 12 to run in 10 jobs" in result.output
    assert "cross_lingual" in result.output and not (tmp_path / "cli.db").exists()
