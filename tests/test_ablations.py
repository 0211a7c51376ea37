"""Ablation tables, convergence marks and learning curves, from a store written as the runner writes it.

Variants carry the runner's tags (``method`` = base/variant, ``base_method``, ``variant``); iterative cells
carry ``epochs_run``/``best_epoch``/``epoch_cap``, the ``convergence.*`` tags and the per-epoch step
metrics ``train_loss`` and ``val_ua`` (test_results.FakeSuite writes them).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score
from test_results import FakeSuite, make_test_set, new_store, predictions

from benchmark import leaderboard as lb
from benchmark import results
from benchmark.report.sections.ablations import ablation_section
from benchmark.report.sections.learning_curves import learning_curve_section, learning_curves, stop_summary

SUITE = "abltest"
LOSS = {"emotion_extractor": [1.2, 0.9, 0.7], "emotion_extractor/no_pitch": [1.3, 1.0, 0.8, 0.7]}
VAL_UA = {"emotion_extractor": [0.4, 0.5, 0.52], "emotion_extractor/no_pitch": [0.3, 0.45, 0.5, 0.6]}


def _convergence(method: str) -> tuple[dict, dict]:
    still = method == "emotion_extractor/no_pitch"     # stopped at the cap while val UA still rose
    tags = {"base_method": "emotion_extractor", "variant": method.partition("/")[2],
            "convergence.stop_reason": "epoch_cap" if still else "early_stop",
            "convergence.still_improving": str(still).lower()}
    return tags, {"train_loss": LOSS[method], "val_ua": VAL_UA[method]}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    uri = new_store(tmp_path_factory.mktemp("abl"))
    rng = np.random.default_rng(2)
    suite = FakeSuite(uri, SUITE).start()
    test = make_test_set(rng, "heldout", n=200)
    for seed in (0, 1):
        for method, skill in (("emotion_extractor", 0.55), ("emotion_extractor/no_pitch", 0.75)):
            tags, steps = _convergence(method)
            run = suite.cell(method=method, protocol="unseen_speakers", fold="heldout", seed=seed,
                             pred=predictions(rng, test, skill), tags=tags, steps=steps)
            n = len(LOSS[method])
            suite.client.log_metric(run, "epochs_run", n)
            suite.client.log_metric(run, "best_epoch", n)
            suite.client.log_metric(run, "epoch_cap", 4)
        suite.cell(method="logreg", protocol="unseen_speakers", fold="heldout", seed=seed,
                   pred=predictions(rng, test, 0.5))
    suite.finish()
    suite.cells = results.load_cells(uri, SUITE)
    return suite


def test_the_ablation_table_is_the_paired_difference_against_the_base(store):
    section = ablation_section(store.cells, store.uri, n_bootstrap=300)
    (table,) = section.tables
    row = table.values.iloc[0]
    assert (row["base"], row["variant"], row["protocol"]) == ("emotion_extractor", "emotion_extractor/no_pitch",
                                                              "unseen_speakers")
    def seed_mean(method):
        runs = [store.runs[("embedded", "unseen_speakers", "heldout", method, str(s))] for s in (0, 1)]
        return np.mean([balanced_accuracy_score(store.tables[r]["y_true"], store.tables[r]["y_pred"])
                        for r in runs])

    expected = seed_mean("emotion_extractor/no_pitch") - seed_mean("emotion_extractor")
    assert row["ua_diff"] == pytest.approx(expected, abs=1e-12)
    assert row["ua_low"] < row["ua_diff"] < row["ua_high"] and row["ua_low"] > 0 and row["ua_p"] < 0.05
    assert np.isfinite(row["minority_recall_diff"]) and row["seeds"] == 2 and row["n_test"] == 200
    shown = table.frame.iloc[0]
    assert shown["variant"] == "emotion_extractor/no_pitch" + lb.CONVERGENCE_MARK      # still improving
    assert shown["Δ UA"].startswith(f"{100 * expected:+.1f} [")
    assert any("epoch cap" in n for n in table.notes)


def test_no_variants_no_ablation_section(store):
    plain = store.cells[~store.cells["method"].str.contains("/")]
    assert ablation_section(plain, store.uri, n_bootstrap=100) is None


def test_a_leaderboard_row_is_marked_when_a_cell_was_still_improving(store):
    definition = lb.parse_definition({"suite": SUITE, "protocol": "unseen_speakers", "n_bootstrap": 100}, "conv")
    board = lb.build_leaderboard(definition, store.uri, progress=False)
    marked = dict(zip(board.entries["method"], board.entries["still_improving"]))
    assert marked == {"emotion_extractor/no_pitch": True, "emotion_extractor": False, "logreg": False}
    methods = list(lb.display_table(board)["Method"])
    assert "emotion_extractor/no_pitch" + lb.CONVERGENCE_MARK in methods and "emotion_extractor" in methods
    assert lb.CONVERGENCE_NOTE in lb.to_markdown(board)


def test_learning_curves_come_from_the_step_metrics(store):
    curves = learning_curves(store.cells, store.uri)
    assert set(curves["method"]) == set(LOSS)        # logreg is not iterative: no curve
    for method in LOSS:
        for key, expected in (("train_loss", LOSS[method]), ("val_ua", VAL_UA[method])):
            for _, run in curves[(curves["method"] == method) & (curves["curve"] == key)].groupby("run_id"):
                assert list(run["epoch"]) == list(range(1, len(expected) + 1))
                assert list(run["value"]) == pytest.approx(expected)
    summary = stop_summary(store.cells).set_index("method")
    assert summary.loc["emotion_extractor/no_pitch", "still_improving"] == 2
    assert summary.loc["emotion_extractor", "stop_reasons"] == "early_stop 2"
    section = learning_curve_section(store.cells, store.uri, {})
    assert section.figures and section.figures[0].key == "learning_curves"
    titles = [ax.get_title(loc="left") for ax in section.figures[0].figure.axes if ax.get_title(loc="left")]
    assert titles == ["emotion_extractor", "emotion_extractor/no_pitch " + lb.CONVERGENCE_MARK]
    assert pd.isna(results.load_metric_history(store.cells["run_id"].iloc[0], "no_such_metric",
                                               store.uri).get("value").max())


def test_the_learning_curves_figure_does_not_depend_on_the_stores_run_ids():
    # the same results logged to another store get other (random) run ids: the figure must be the same,
    # its lines drawn in the cells' order (fold, seed) rather than the ids'. Two cells whose curves cross,
    # so that the line drawn last shows where they overlap.
    import io

    from benchmark.report.sections.learning_curves import learning_curve_figure

    rows = []
    for seed, (run_id, values) in enumerate((("a" * 32, [1.0, 0.6, 0.3]), ("f" * 32, [0.2, 0.6, 0.9]))):
        for curve in ("train_loss", "val_ua"):
            rows += [{"method": "cnn", "run_id": run_id, "fold": "fold0", "seed": str(seed), "curve": curve,
                      "epoch": epoch, "value": value} for epoch, value in enumerate(values, start=1)]
    curves = pd.DataFrame(rows)
    renamed = curves.assign(run_id=curves["run_id"].map({"a" * 32: "f" * 32, "f" * 32: "a" * 32}))

    def png(frame: pd.DataFrame) -> bytes:
        buffer = io.BytesIO()
        learning_curve_figure(frame, {"cnn": (0.8, 0.2, 0.4)}, set()).savefig(buffer, format="png",
                                                                              metadata={"Software": None})
        return buffer.getvalue()

    assert png(renamed) == png(curves)
