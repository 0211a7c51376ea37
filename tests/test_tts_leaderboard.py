"""TTS leaderboards: columns recomputed from the TTS cells' per-utterance tables, reference rows, labels.

The store (built in tmp_path with MlflowClient, as the runner logs TTS cells):
suite ``ttsfake``, protocol ``tts``, fold ``heldout``, two seeds (each with its
own held-out utterances, the same for every system of the seed) x five
systems: the references ``ground_truth`` and ``resynthesis``, the control
``none`` and two conditioned systems. Per cell: a predictions table (y_true =
intended emotion, y_pred = the judge's label), ``tts/per_utterance.parquet``,
``tts/showcase.npz`` (not for resynthesis) and ``tts/settings.json``. A few SER
cells of speaker_kfold sit beside them. The logged metrics are deliberately
wrong (+0.5): a board that read them would fail every number check.
``build_tts_store`` is shared with test_tts_report.py.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.entities import Metric

from benchmark import leaderboard as lb
from benchmark import results, tracking
from benchmark.metrics import stacked
from benchmark.errors import ConfigError, EmobenchError

SUITE = "ttsfake"
EMOTIONS = ["neutral", "happy", "angry", "sad"]
# system -> (meta.system, conditioner, judge skill, word error rate, MCD dB)
SYSTEMS = {
    "ground_truth": ("reference", "", 0.95, 0.03, None),
    "resynthesis": ("reference", "", 0.85, 0.06, 2.0),
    "none": ("tts", "none", 0.30, 0.15, 7.0),
    "emotion_extractor": ("tts", "emotion_extractor", 0.75, 0.12, 6.0),
    "ssvae": ("tts", "ssvae", 0.55, 0.20, 6.5),
}
SEEDS = (0, 1)
N_UTT = 96
SHOWCASE_TEXT = "The kite flew over the old bridge."
SETTINGS = {"asr": {"backend": "openai-whisper", "model": "tiny.en", "beam_size": 5, "temperature": 0.0},
            "mcd": "24 mel-cepstra (c1..c24), alpha 0.42, 16 kHz, 5 ms shift, DTW, c0 excluded",
            "vocoder": {"vocoder": "griffin_lim", "n_iter": 32},
            "judge": {"name": "logreg(egemaps)", "classifier": "LogisticRegression",
                      "trained_on": "ground-truth recordings only", "heldout_accuracy": 0.9}}
DEFINITION = {"title": "TTS test board", "suite": SUITE, "protocol": "tts", "corpus": "embedded", "rank_by": "wa",
              "columns": ["wa", "ua", "wer", "cer", "wer_mean", "mcd_db", "f0_rmse_hz", "f0_corr", "duration_ratio"],
              "labels": {"wa": "Emotion accuracy (judge)", "wer": "Word error rate"},
              "references": ["ground_truth", "resynthesis"], "n_bootstrap": 300}


# ----------------------------------------------------------------------------- fake store (shared)


def _held_out(seed: int) -> pd.DataFrame:
    """The held-out utterances of a seed: every emotion, several speakers, a sentence per utterance."""
    rng = np.random.default_rng(100 + seed)
    emotion = np.array([EMOTIONS[i % len(EMOTIONS)] for i in range(N_UTT)])
    rng.shuffle(emotion)
    words = rng.integers(4, 12, N_UTT)
    return pd.DataFrame({"utt_id": [f"embedded_s{seed}_{i:03d}" for i in range(N_UTT)], "emotion": emotion,
                         "speaker": [f"embedded_en_{i % 3}" for i in range(N_UTT)], "language": "en",
                         "ref_words": words, "ref_chars": words * 5})


def _predictions(rng: np.random.Generator, held: pd.DataFrame, skill: float) -> pd.DataFrame:
    right = rng.random(len(held)) < skill
    wrong = np.array([rng.choice([e for e in EMOTIONS if e != t]) for t in held["emotion"]])
    y_pred = np.where(right, held["emotion"], wrong)
    table = pd.DataFrame({"utt_id": held["utt_id"], "y_true": held["emotion"], "y_pred": y_pred,
                          "speaker": held["speaker"], "language": held["language"]})
    for e in EMOTIONS:
        table[f"p_{e}"] = np.where(y_pred == e, 0.7, 0.1)
    return table


def _per_utterance(rng: np.random.Generator, held: pd.DataFrame, pred: pd.DataFrame, wer: float,
                   mcd: float | None) -> pd.DataFrame:
    word_errors = rng.binomial(held["ref_words"].to_numpy(), wer)
    char_errors = rng.binomial(held["ref_chars"].to_numpy(), wer / 2)
    table = pd.DataFrame({"utt_id": held["utt_id"], "emotion": held["emotion"], "judge_pred": pred["y_pred"],
                          "text": ["some words"] * len(held), "speaker": held["speaker"],
                          "language": held["language"], "hypothesis": ["some word"] * len(held),
                          "wer": word_errors / held["ref_words"], "cer": char_errors / held["ref_chars"],
                          "word_errors": word_errors, "ref_words": held["ref_words"],
                          "char_errors": char_errors, "ref_chars": held["ref_chars"]})
    if mcd is not None:
        n = len(held)
        table["mcd_db"] = mcd + rng.normal(0, 0.8, n)
        table["f0_rmse_hz"] = 10 * mcd + rng.normal(0, 5, n)
        table["f0_rmse_cents"] = 100 * mcd + rng.normal(0, 30, n)
        table["f0_corr"] = np.clip(1 - mcd / 10 + rng.normal(0, 0.1, n), -1, 1)
        table.loc[3, "f0_corr"] = np.nan   # an utterance without voiced frame pairs: left out of the mean
        table["vuv_disagreement"] = rng.uniform(0, 0.2, n)
        table["duration_ratio"] = 1 + rng.normal(0, 0.05 * mcd, n)
    return table


def _showcase(rng: np.random.Generator, system: str) -> dict[str, np.ndarray] | None:
    if system == "resynthesis":
        return None
    emotions = EMOTIONS[:-1] if system == "ground_truth" else EMOTIONS   # no real "sad" recording of it
    show = {"text": np.array(SHOWCASE_TEXT), "speaker": np.array("embedded_en_1"), "emotions": np.array(emotions)}
    for i, e in enumerate(emotions):
        show[f"mel_{e}"] = (rng.normal(-4, 1, (40 + 8 * i, 64)) + np.linspace(2, -2, 64)).astype(np.float32)
    return show


def log_tts_cell(client, exp_id: str, parent: str, *, system: str, seed: int, pred: pd.DataFrame,
                 utterances: pd.DataFrame | None, showcase: dict | None, suite: str = SUITE,
                 settings: dict | None = None) -> str:
    kind, conditioner = SYSTEMS.get(system, ("tts", system))[:2]
    tags = {tracking.KIND_TAG: "cell", tracking.CELL_TAG: f"tts-{suite}-{system}-{seed}", tracking.SUITE_TAG: suite,
            "method": system, "protocol": "tts", "protocol_name": "tts", "fold": "heldout", "seed": str(seed),
            "corpus": "embedded", "speaker_independent": "false", "feature": "tts", "meta.language": "en",
            "meta.system": kind, "meta.conditioner": conditioner, "mlflow.parentRunId": parent}
    run_id = client.create_run(exp_id, run_name=f"tts/{system}/seed{seed}", tags=tags).info.run_id
    correct = (pred["y_true"] == pred["y_pred"]).mean()
    metrics = {"emotion_accuracy": correct + 0.5, "wer": 0.9, "cer": 0.9, "mcd_db": 99.0,
               "judge_heldout_accuracy": 0.9, "train_seconds": 1.0}
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "predictions").mkdir()
        pred.to_parquet(root / "predictions" / "predictions.parquet", index=False)
        client.log_artifacts(run_id, str(root / "predictions"), "predictions")
        (root / "tts").mkdir()
        if utterances is not None:
            utterances.to_parquet(root / "tts" / "per_utterance.parquet", index=False)
        if showcase is not None:
            np.savez_compressed(root / "tts" / "showcase.npz", **showcase)
        (root / "tts" / "settings.json").write_text(json.dumps(settings or SETTINGS))
        client.log_artifacts(run_id, str(root / "tts"), "tts")
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def build_tts_store(root: Path, with_ser: bool = True) -> tuple[str, dict]:
    """The fake store; returns (tracking URI, {(system, seed): (run_id, predictions, per-utterance)})."""
    from test_results import make_test_set, predictions

    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = tracking.configure(uri)
    exp_id = client.create_experiment(f"emobench-{SUITE}", artifact_location=(root / "artifacts").as_uri())
    parent = client.create_run(exp_id, run_name=SUITE, tags={tracking.KIND_TAG: "suite", tracking.SUITE_TAG: SUITE,
                                                             "emobench.config": "c0nf1g"}).info.run_id
    rng = np.random.default_rng(7)
    cells = {}
    for seed in SEEDS:
        held = _held_out(seed)
        for system, (_, _, skill, wer, mcd) in SYSTEMS.items():
            pred = _predictions(rng, held, skill + 0.03 * seed)
            utt = _per_utterance(rng, held, pred, wer, mcd)
            run_id = log_tts_cell(client, exp_id, parent, system=system, seed=seed, pred=pred, utterances=utt,
                                  showcase=_showcase(rng, system),
                                  settings={**SETTINGS, "judge": {**SETTINGS["judge"],
                                                                  "heldout_accuracy": 0.9 - 0.02 * seed}})
            cells[(system, seed)] = (run_id, pred, utt)
    if with_ser:
        # SER cells beside them: the same method name as a TTS system, so mixing them up would show.
        test = make_test_set(rng, "fold0", n=80)
        for method, skill in (("emotion_extractor", 0.8), ("linear_svm", 0.5)):
            for seed in SEEDS:
                pred = predictions(rng, test, skill)
                tags = {tracking.KIND_TAG: "cell", tracking.CELL_TAG: f"ser-{method}-{seed}", tracking.SUITE_TAG: SUITE,
                        "method": method, "protocol": "speaker_kfold", "protocol_name": "speaker_kfold",
                        "fold": "fold0", "seed": str(seed), "corpus": "embedded", "speaker_independent": "true",
                        "feature": "functionals", "mlflow.parentRunId": parent}
                run_id = client.create_run(exp_id, tags=tags).info.run_id
                client.log_batch(run_id, metrics=[Metric("ua", 0.1, int(time.time() * 1000), 0)])
                with tempfile.TemporaryDirectory() as tmp:
                    pred.to_parquet(Path(tmp) / "predictions.parquet", index=False)
                    client.log_artifact(run_id, str(Path(tmp) / "predictions.parquet"), "predictions")
                client.set_terminated(run_id, status="FINISHED")
                cells[(f"ser:{method}", seed)] = (run_id, pred, None)
    client.set_terminated(parent, status="FINISHED")
    return uri, cells


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_tts_store(tmp_path_factory.mktemp("tts_lb"))


@pytest.fixture(scope="module")
def board(store):
    return lb.build_leaderboard(lb.parse_definition(DEFINITION, "ttsboard"), store[0], progress=False)


def _by_hand(cells: dict, system: str) -> dict[str, list[float]]:
    """Per seed, straight from the logged tables with pandas."""
    out: dict[str, list[float]] = {}
    for seed in SEEDS:
        _, pred, utt = cells[(system, seed)]
        values = {"wa": float((pred["y_true"] == pred["y_pred"]).mean()),
                  "ua": float(np.mean([(pred["y_pred"][pred["y_true"] == e] == e).mean() for e in EMOTIONS])),
                  "wer": utt["word_errors"].sum() / utt["ref_words"].sum(),
                  "cer": utt["char_errors"].sum() / utt["ref_chars"].sum(),
                  "wer_mean": utt["wer"].mean()}
        for column in ("mcd_db", "f0_rmse_hz", "f0_corr", "duration_ratio"):
            values[column] = utt[column].mean() if column in utt else np.nan   # pandas skips NaN
        for k, v in values.items():
            out.setdefault(k, []).append(float(v))
    return out


# ----------------------------------------------------------------------------- the board


def test_values_equal_independent_computations(board, store):
    for system in SYSTEMS:
        row, expected = board.entry(system), _by_hand(store[1], system)
        for metric, per_seed in expected.items():
            if system == "ground_truth" and metric in ("mcd_db", "f0_rmse_hz", "f0_corr", "duration_ratio"):
                assert np.isnan(row[metric]), (system, metric)   # nothing to compare the ground truth with
                continue
            assert row[metric] == pytest.approx(np.mean(per_seed), abs=1e-12), (system, metric)
            assert row[f"{metric}_sd"] == pytest.approx(np.std(per_seed, ddof=1), abs=1e-12), (system, metric)
            assert row[f"{metric}_low"] <= row[metric] <= row[f"{metric}_high"], (system, metric)
            assert row[f"{metric}_low"] < row[f"{metric}_high"], (system, metric)
        assert row["seeds"] == 2 and row["folds"] == 1 and row["n_test"] == 2 * N_UTT


def test_tts_cis_come_from_the_boards_own_resamples(board, store):
    """Corpus-level WER's CI: the seed mean of summed errors / summed words under stacked.resample_weights."""
    items = pd.DataFrame({"fold": "heldout", "utt_id": sorted(
        u for seed in SEEDS for u in store[1][("none", seed)][2]["utt_id"])})
    weights = stacked.resample_weights(items, DEFINITION["n_bootstrap"], 0)
    position = {u: i for i, u in enumerate(items["utt_id"])}
    boot = []
    for seed in SEEDS:
        utt = store[1][("none", seed)][2]
        w = weights[:, [position[u] for u in utt["utt_id"]]]
        boot.append((w @ utt["word_errors"].to_numpy(float)) / (w @ utt["ref_words"].to_numpy(float)))
    means = np.mean(boot, axis=0)
    row = board.entry("none")
    assert row["wer_low"] == pytest.approx(np.percentile(means, 2.5), abs=1e-12)
    assert row["wer_high"] == pytest.approx(np.percentile(means, 97.5), abs=1e-12)


def test_references_are_shown_below_and_never_ranked_or_tested(board):
    e = board.entries
    assert list(e["method"]) == ["emotion_extractor", "ssvae", "none", "ground_truth", "resynthesis"]
    assert list(e["reference"]) == [False, False, False, True, True]
    assert list(e["rank"].iloc[:3]) == [1, 2, 3] and e["rank"].iloc[3:].isna().all()
    assert board.leader == "emotion_extractor"   # ground_truth has the best emotion accuracy, but is a reference
    refs = e[e["reference"]]
    assert refs["p_vs_leader"].isna().all() and not refs["tied_with_leader"].any()
    assert e.loc[e["method"] == "none", "p_vs_leader"].iloc[0] < 0.01
    table = lb.display_table(board)
    assert list(table["Rank"]) == ["1", "2", "3", "ref.", "ref."]
    assert list(table["vs leader"].iloc[[0, 3, 4]]) == ["leader", "reference", "reference"]


def test_labels_units_and_formats(board):
    table = lb.display_table(board)
    assert list(table.columns[2:11]) == [
        "Emotion accuracy (judge) (%)", "UA (%)", "Word error rate (%)", "CER (%)", "Mean utt. WER (%)",
        "MCD (dB)", "F0 RMSE (Hz)", "F0 corr.", "Duration ratio"]
    row, shown = board.entry("none"), table.set_index("Method").loc["none"]
    assert shown["Word error rate (%)"].startswith(f"{100 * row['wer']:.1f} [")
    assert shown["MCD (dB)"].startswith(f"{row['mcd_db']:.2f} [")
    assert shown["F0 RMSE (Hz)"].startswith(f"{row['f0_rmse_hz']:.1f} [")
    assert shown["F0 corr."].startswith(f"{row['f0_corr']:.2f} [")
    assert shown["Emotion accuracy (judge) (%)"].startswith(f"{100 * row['wa']:.1f} ± ")
    assert table.set_index("Method").loc["ground_truth", "MCD (dB)"] == "– [–, –]"
    notes = " ".join(lb.notes(board))
    assert "Ranked by Emotion accuracy (judge)" in notes and "tts/per_utterance.parquet" in notes
    assert "Reference rows (ground_truth, resynthesis)" in notes


def test_every_output_format_copes(board, tmp_path):
    files = lb.write(board, tmp_path / "out")
    md = files["md"].read_text()
    assert "| Rank | Method | Emotion accuracy (judge) (%) |" in md and "| ref. | ground_truth |" in md
    tex = files["tex"].read_text()
    assert r"Emotion accuracy (judge) (\%)" in tex and "MCD (dB)" in tex
    html = files["html"].read_text()
    assert "Word error rate (%)" in html and "reference" in html
    csv = pd.read_csv(files["csv"])
    assert {"wer", "wer_low", "wer_high", "wer_sd", "mcd_db", "reference"} <= set(csv.columns)
    assert csv.loc[csv["method"] == "ground_truth", "rank"].isna().all()
    snapshot = json.loads(files["json"].read_text())
    assert snapshot["definition"]["references"] == ["ground_truth", "resynthesis"]
    assert snapshot["definition"]["labels"]["wa"] == "Emotion accuracy (judge)"
    by_method = {e["method"]: e for e in snapshot["entries"]}
    assert by_method["ground_truth"]["rank"] is None and by_method["ground_truth"]["mcd_db"] is None
    assert by_method["none"]["wer"] == pytest.approx(board.entry("none")["wer"])
    # The snapshot's definition is read back as compare does.
    assert lb.LeaderboardDef.model_validate(snapshot["definition"]).references == ["ground_truth", "resynthesis"]


def test_model_index_maps_the_tts_metrics(board):
    block = lb.model_index(board, "emotion_extractor")["model-index"][0]["results"][0]
    assert block["task"]["type"] == "text-to-speech"
    metrics = {m["name"]: m for m in block["metrics"]}
    row = board.entry("emotion_extractor")
    accuracy = metrics["Emotion accuracy (judge) (%)"]
    assert accuracy["type"] == "accuracy" and accuracy["value"] == round(100 * row["wa"], 2)
    wer = metrics["Word error rate (%)"]
    assert wer["type"] == "wer" and wer["value"] == round(100 * row["wer"], 2)
    assert metrics["Mean per-utterance WER (%)"]["value"] == round(100 * row["wer_mean"], 2)
    mcd = metrics["MCD against the ground truth (dB, lower is better)"]
    assert mcd["type"] == "mcd" and mcd["value"] == round(row["mcd_db"], 2)
    assert yaml.safe_load(lb.model_index_yaml(board, "ground_truth"))   # NaN columns are left out, not written


def test_the_shipped_tts_definition(store):
    d = lb.load_definition("tts")
    assert (d.suite, d.protocol, d.corpus, d.rank_by) == ("default", "tts", "embedded", "wa")
    assert d.columns == ["wa", "ua", "recall.neutral", "recall.happy", "recall.angry", "recall.sad", "wer", "cer",
                         "mcd_db", "f0_rmse_hz", "spk_sim", "emo_sim", "mos_pred"]
    assert d.references == ["ground_truth", "resynthesis"] and "accuracy" in d.labels["wa"].lower()
    assert "synthetic" in d.description.lower() and "whisper" in d.description.lower()
    assert "judge" in d.description.lower()
    board = lb.build_leaderboard(d.model_copy(update={"suite": SUITE, "n_bootstrap": 100}), store[0], progress=False)
    assert board.leader == "emotion_extractor" and list(board.entries["reference"].iloc[-2:]) == [True, True]


def test_a_suite_without_tts_cells_fails_clearly(tmp_path):
    from test_results import FakeSuite, make_test_set, new_store, predictions

    uri = new_store(tmp_path / "ser_only")
    suite = FakeSuite(uri, "seronly").start()
    suite.cell(method="linear_svm", fold="fold0", seed=0,
               pred=predictions(np.random.default_rng(0), make_test_set(np.random.default_rng(0), "fold0"), 0.5))
    suite.finish()
    d = lb.load_definition("tts").model_copy(update={"suite": "seronly"})
    with pytest.raises(lb.NoCellsError, match=r"no finished cell runs of suite 'seronly', protocol 'tts'"):
        lb.build_leaderboard(d, uri, progress=False)
    assert issubclass(lb.NoCellsError, EmobenchError)


def test_definition_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"labels.*\['mcd_db'\] name no column"):
        lb.parse_definition({**DEFINITION, "columns": ["wa"], "labels": {"mcd_db": "MCD"}}, "bad")
    with pytest.raises(ConfigError, match="rank_by"):
        lb.parse_definition({**DEFINITION, "rank_by": "wer"}, "bad")
    with pytest.raises(ConfigError, match="references"):
        lb.parse_definition({**DEFINITION, "references": ["ground_truth", "ground_truth"]}, "bad")
    with pytest.raises(ConfigError, match="unknown metric"):
        lb.parse_definition({**DEFINITION, "columns": ["wa", "mos"]}, "bad")


def test_a_missing_per_utterance_artifact_names_the_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = tracking.configure(uri)
    exp_id = client.create_experiment("emobench-broken", artifact_location=(tmp_path / "artifacts").as_uri())
    parent = client.create_run(exp_id, tags={tracking.KIND_TAG: "suite", tracking.SUITE_TAG: "broken"}).info.run_id
    rng = np.random.default_rng(1)
    held = _held_out(0)
    good = _predictions(rng, held, 0.6)
    log_tts_cell(client, exp_id, parent, system="none", seed=0, pred=good, suite="broken",
                 utterances=_per_utterance(rng, held, good, 0.1, 6.0), showcase=None)
    bad = log_tts_cell(client, exp_id, parent, system="ssvae", seed=0, pred=_predictions(rng, held, 0.6),
                       suite="broken", utterances=None, showcase=None)
    definition = lb.parse_definition({**DEFINITION, "suite": "broken"}, "broken")
    with pytest.raises(EmobenchError, match=rf"run {bad}: no tts/per_utterance.parquet artifact"):
        lb.build_leaderboard(definition, uri, progress=False)
    # Without a TTS column the per-utterance tables are not needed.
    definition = lb.parse_definition({**DEFINITION, "suite": "broken", "columns": ["wa"], "labels": {}}, "b")
    board = lb.build_leaderboard(definition,
                                 uri, progress=False)
    assert set(board.entries["method"]) == {"none", "ssvae"}
    # Read through MLflow's download path too (the run not listed by load_cells in this process).
    results.clear_cache()
    with pytest.raises(EmobenchError, match=rf"run {bad}: no tts/per_utterance.parquet artifact"):
        results.load_tts_utterances(bad, uri)


def test_per_utterance_rows_outside_the_predictions_are_an_error(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = tracking.configure(uri)
    exp_id = client.create_experiment("emobench-extra", artifact_location=(tmp_path / "artifacts").as_uri())
    parent = client.create_run(exp_id, tags={tracking.KIND_TAG: "suite", tracking.SUITE_TAG: "extra"}).info.run_id
    rng = np.random.default_rng(2)
    held = _held_out(0)
    pred = _predictions(rng, held, 0.6)
    utt = _per_utterance(rng, held, pred, 0.1, 6.0)
    utt.loc[0, "utt_id"] = "not_a_test_utterance"
    run = log_tts_cell(client, exp_id, parent, system="none", seed=0, pred=pred, suite="extra", utterances=utt,
                       showcase=None)
    with pytest.raises(EmobenchError, match=rf"run {run}: .*not_a_test_utterance"):
        lb.build_leaderboard(lb.parse_definition({**DEFINITION, "suite": "extra"}, "x"), uri, progress=False)


def test_the_board_states_n_and_the_minimum_detectable_difference(store):
    from benchmark.metrics.stacked import mcnemar_mdd

    definition = {**DEFINITION, "significance": {"test": "paired_bootstrap", "alpha": 0.05, "power": 0.8}}
    board = lb.build_leaderboard(lb.parse_definition(definition, "ttsboard"), store[0], progress=False)
    cells = store[1]
    for system in ("ssvae", "none", "resynthesis"):
        # by hand: the share of (seed, utterance) pairs on which exactly one of the two is judged correct
        disagree, total = 0, 0
        for seed in SEEDS:
            lead, other = cells[("emotion_extractor", seed)][1], cells[(system, seed)][1]
            ok_lead, ok_other = lead["y_pred"] == lead["y_true"], other["y_pred"] == other["y_true"]
            disagree, total = disagree + int((ok_lead != ok_other).sum()), total + len(lead)
        row = board.entry(system)
        assert row["discordance_vs_leader"] == pytest.approx(disagree / total)
        assert row["mdd_vs_leader"] == pytest.approx(mcnemar_mdd(2 * N_UTT, disagree / total, 0.05, 0.8))
        assert 0.05 < row["mdd_vs_leader"] < 0.3
    assert np.isnan(board.entry("emotion_extractor")["mdd_vs_leader"])
    table = lb.display_table(board)
    assert list(table["n"]) == [str(2 * N_UTT)] * 5
    none = table[table["Method"] == "none"].iloc[0]
    assert none["MDD vs leader"] == f"{100 * board.entry('none')['mdd_vs_leader']:.1f}"
    markdown = lb.to_markdown(board)
    assert "MDD vs leader" in markdown and "McNemar" in markdown and "alpha = 0.05" in markdown
    # without power the board stays as it was
    assert "MDD vs leader" not in lb.display_table(lb.build_leaderboard(
        lb.parse_definition(DEFINITION, "ttsboard"), store[0], progress=False)).columns


def test_power_needs_an_accuracy_ranking():
    with pytest.raises(ConfigError, match="rank_by must be wa"):
        lb.parse_definition({**DEFINITION, "rank_by": "ua", "significance": {"power": 0.8}}, "ttsboard")
