"""The metric-spec registry: round trips, lazy resolution, errors; a toy TTS metric and a toy SER metric, each
one module entry (tests/toy_metrics.py) plus one registration here, reach score-tts, the leaderboards, the
report's TTS table and ``compare`` without any other file knowing them."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import test_tts_leaderboard as ttslb
from sklearn.metrics import recall_score

from benchmark import leaderboard as lb
from benchmark.errors import ConfigError
from benchmark.metrics.registry import METRICS, TTS_SCORERS, MetricSpec, register_tts_scorer, resolve
from benchmark.metrics.ser import confusion, ser_scores

TOY = MetricSpec("toy_hit", "tts_table", "Toy hit", unit="%", scale=100.0, digits=1, direction="higher",
                 hf_type="accuracy", numerator="toy_hit", description="the toy scorer's judge hit rate")


@pytest.fixture
def toy():
    register_tts_scorer("toy", "toy_metrics:ToyScorer", [TOY])
    yield
    TTS_SCORERS.unregister("toy")


# ----------------------------------------------------------------------------- the registry itself


def test_builtin_specs_round_trip_and_carry_their_metadata():
    assert METRICS.names("confusion")[:4] == ["ua", "wa", "macro_f1", "minority_recall"]
    assert METRICS.get("minority_recall").needs_labels and not METRICS.get("ua").needs_labels
    wer = METRICS.get("wer")
    assert (wer.reads, wer.unit, wer.direction, wer.hf_type, wer.scorer) == ("tts_table", "%", "lower", "wer", "asr")
    assert (wer.numerator, wer.denominator) == ("word_errors", "ref_words")
    assert wer.format(0.1234) == "12.3" and METRICS.get("mcd_db").format(5.678) == "5.68" and wer.format(None) == "–"
    recall = METRICS.get("recall.sad")
    assert (recall.label, recall.hf_args, recall.reads) == ("Recall sad", {"labels": "sad"}, "confusion")
    assert set(TTS_SCORERS.names()) >= {"asr", "mcd", "prosody", "judge", "speaker_similarity", "mos",
                                        "emotion_similarity"}
    assert TTS_SCORERS.get("speaker_similarity").metrics == ("spk_sim",)
    assert lb.metric_label("spk_sim") == "Speaker sim." and lb.column_header("mos_pred") == "Predicted MOS"


def test_registries_resolve_lazily_and_say_what_is_wrong():
    assert resolve("benchmark.metrics.ser:macro_f1") is sys.modules["benchmark.metrics.ser"].macro_f1
    with pytest.raises(ConfigError, match="expected 'module:object'"):
        resolve("benchmark.metrics.ser.macro_f1", "metric 'x' compute")
    with pytest.raises(ConfigError, match="cannot import no_such_module"):
        resolve("no_such_module:f")
    with pytest.raises(ConfigError, match="has no 'nope'"):
        resolve("benchmark.metrics.ser:nope")
    # registering a scorer imports nothing: its class is loaded on first use
    register_tts_scorer("lazy_toy", "toy_metrics_never_imported:Scorer")
    try:
        assert "toy_metrics_never_imported" not in sys.modules
        with pytest.raises(ConfigError, match="TTS scorer 'lazy_toy'.*cannot import toy_metrics_never_imported"):
            TTS_SCORERS.get("lazy_toy").load()
    finally:
        TTS_SCORERS.unregister("lazy_toy")
    with pytest.raises(ConfigError, match="unknown TTS scorer 'nope'; known: asr"):
        TTS_SCORERS.get("nope")
    with pytest.raises(ConfigError, match="unknown metric 'nope'"):
        METRICS.get("nope")


def test_bad_specs_are_refused_naming_the_field():
    with pytest.raises(ConfigError, match="metric 'x': a TTS-table metric needs its numerator column"):
        MetricSpec("x", "tts_table", "X")
    with pytest.raises(ConfigError, match="metric 'x': a confusion metric needs compute"):
        MetricSpec("x", "confusion", "X")
    with pytest.raises(ConfigError, match="direction must be higher, lower or neither, got 'up'"):
        MetricSpec("x", "tts_table", "X", numerator="x", direction="up")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="metric 'wer' is registered twice"):
        METRICS.register(MetricSpec("wer", "tts_table", "Other WER", numerator="wer"))
    with pytest.raises(ValueError, match=r"unknown TTS scorer\(s\) \['nope'\]"):
        from benchmark.tts.scoring import ScoringConfig

        ScoringConfig(scorers=("mcd", "nope"))
    with pytest.raises(ValueError, match=r"settings for unknown TTS scorer\(s\) \['mso'\]"):
        ScoringConfig(settings={"mso": {"batch_size": 2}})
    from benchmark.tts.evaluate import TTSEvalConfig

    with pytest.raises(ValueError, match=r"scorers\n.*unknown TTS scorer\(s\) \['nope'\]"):
        TTSEvalConfig(scorers=["mos", "nope"])   # a suite's tts.config.scorers, refused when it is read


# ----------------------------------------------------------------------------- toy TTS metric


def test_toy_tts_scorer_runs_in_score_tts_with_its_settings_logged(toy, tmp_path):
    from mlflow.tracking import MlflowClient

    from benchmark.tts.scoring import ScoringConfig, score_tts

    sr = 16000
    t = np.arange(sr) / sr
    rows = []
    for i, emotion in enumerate(["happy", "sad", "angry"]):
        sf.write(tmp_path / f"s{i}.wav", 0.3 * np.sin(2 * np.pi * (150 + 30 * i) * t), sr)
        rows.append({"wav": f"s{i}.wav", "text": "hello there", "emotion": emotion})
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    config = ScoringConfig(asr=None, settings={"toy": {"weight": 2.0}}).with_scorers("toy")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = score_tts(tmp_path / "m.csv", tmp_path / "out", config, judge=lambda paths: ["happy", "happy", "angry"],
                       tracking_uri=uri, progress=False)
    assert list(result.per_utterance["toy_hit"]) == [2.0, 0.0, 2.0]
    assert result.summary["toy_hit"] == pytest.approx(4 / 3)   # the default summary: the mean of the column
    assert result.settings["scorers"] == ["mcd", "prosody", "judge", "toy"]
    params = MlflowClient(tracking_uri=uri).get_run(result.run_id).data.params
    assert params["toy.weight"] == "2.0"
    with pytest.raises(ConfigError, match="TTS scorer 'toy' settings"):
        score_tts(tmp_path / "m.csv", tmp_path / "o2", ScoringConfig(asr=None, settings={"toy": {"wieght": 1}})
                  .with_scorers("toy"), judge=lambda p: ["sad"] * 3, log_mlflow=False, progress=False)


@pytest.fixture
def toy_store(toy, tmp_path):
    """The fake TTS store of test_tts_leaderboard.py, its per-utterance tables scored by the toy scorer too
    (as the suite's TTS cells are when ``toy`` is among their scorers)."""
    from benchmark.tts.scorers import ScorerContext, build_scorer

    original = ttslb._per_utterance

    def with_toy(*args, **kwargs):
        table = original(*args, **kwargs)
        return pd.concat([table, build_scorer("toy", None, ScorerContext()).score(table).columns], axis=1)

    ttslb._per_utterance = with_toy
    try:
        return ttslb.build_tts_store(tmp_path / "store")
    finally:
        ttslb._per_utterance = original


def test_toy_tts_metric_appears_in_a_leaderboard_the_report_and_compare(toy_store):
    from benchmark import results
    from benchmark.compare import GateConfig, compare
    from benchmark.report.inputs import ReportInputs
    from benchmark.report.sections import tts

    uri, cells = toy_store
    definition = lb.parse_definition({**ttslb.DEFINITION, "columns": ["wa", "toy_hit"], "labels": {}}, "toyboard")
    board = lb.build_leaderboard(definition, uri, progress=False).entries.set_index("method")
    for system in ttslb.SYSTEMS:   # the toy hit rate is the judge's accuracy, CIs from the same resamples
        assert board.loc[system, "toy_hit"] == pytest.approx(board.loc[system, "wa"], abs=1e-12)
        assert board.loc[system, "toy_hit_low"] == pytest.approx(board.loc[system, "wa_low"], abs=1e-12)
        assert board.loc[system, "toy_hit_high"] == pytest.approx(board.loc[system, "wa_high"], abs=1e-12)
    shown = lb.display_table(lb.build_leaderboard(definition, uri, progress=False))
    assert "Toy hit (%)" in shown.columns

    suite_cells = results.load_cells(uri, ttslb.SUITE)
    section = tts.build(ReportInputs(suite_cells, uri, ttslb.SUITE, n_bootstrap=150))
    table = section.tables[0]
    assert "Toy hit (%)" in table.frame.columns
    values = table.values.set_index("method")
    assert values.loc["ssvae", "toy_hit"] == pytest.approx(values.loc["ssvae", "wa"], abs=1e-12)
    assert any("Toy hit: the toy scorer's judge hit rate, higher is better" in n for n in table.notes)

    # compare two single cells (the control against the EE-conditioned system): the toy's paired difference
    # is the accuracy's, and a lower-is-better metric (WER) counts a rise as the worsening
    base, cand = cells[("emotion_extractor", 0)][0], cells[("none", 0)][0]
    verdict = compare(base, cand, GateConfig(metrics={"wa": 1.0, "toy_hit": 1.0, "wer": 1.0}, claims=False),
                      tracking_uri=uri, progress=False)
    rows = verdict.rows.set_index("metric")
    assert rows.loc["toy_hit", "diff"] == pytest.approx(rows.loc["wa", "diff"], abs=1e-12)
    assert rows.loc["toy_hit", "p"] == pytest.approx(rows.loc["wa", "p"])
    assert rows.loc["toy_hit", "status"] == rows.loc["wa", "status"] == "regressed"
    u_base = cells[("emotion_extractor", 0)][2]
    u_cand = cells[("none", 0)][2]
    wer_diff = (u_cand["word_errors"].sum() / u_cand["ref_words"].sum()
                - u_base["word_errors"].sum() / u_base["ref_words"].sum())
    assert rows.loc["wer", "diff"] == pytest.approx(wer_diff, abs=1e-12)
    assert "| Toy hit | % |" in verdict.markdown


def test_a_gate_on_an_undirected_or_unknown_metric_is_refused():
    from benchmark.compare import GateConfig

    with pytest.raises(ValueError, match="cannot be gated"):
        GateConfig(metrics={"duration_ratio": 0.1})
    with pytest.raises(ValueError, match=r"unknown metric\(s\) \['toy_hit'\]"):
        GateConfig(metrics={"toy_hit": 1.0})   # not registered outside the toy fixture


# ----------------------------------------------------------------------------- toy SER metric


@pytest.fixture
def g_mean():
    METRICS.register(MetricSpec("g_mean", "confusion", "G-mean", compute="toy_metrics:g_mean", hf_type="g_mean",
                                description="geometric mean of the per-class recalls"))
    yield
    METRICS.unregister("g_mean")


def _independent_g_mean(y_true, y_pred) -> float:
    recalls = recall_score(y_true, y_pred, labels=sorted(set(y_true)), average=None, zero_division=0)
    return float(np.exp(np.mean(np.log(np.maximum(recalls, 1e-12)))))


def test_toy_ser_metric_is_scored_ranked_reported_and_gated(g_mean, tmp_path):
    from benchmark.compare import GateConfig, compare

    rng = np.random.default_rng(0)
    classes = ["angry", "happy", "neutral", "sad"]
    y_true = rng.choice(classes, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.choice(classes, 200))
    scores = ser_scores(y_true, y_pred, classes)
    assert scores["g_mean"] == pytest.approx(_independent_g_mean(y_true, y_pred), abs=1e-12)
    assert confusion(y_true, y_pred, classes).sum() == 200

    uri, cells = ttslb.build_tts_store(tmp_path / "store")   # its SER cells: speaker_kfold, two methods
    definition = lb.parse_definition({"suite": ttslb.SUITE, "protocol": "speaker_kfold", "rank_by": "g_mean",
                                      "columns": ["g_mean", "ua"], "n_bootstrap": 200}, "gmean")
    board = lb.build_leaderboard(definition, uri, progress=False)
    entries = board.entries.set_index("method")
    for method in ("emotion_extractor", "linear_svm"):
        per_seed = [_independent_g_mean(p["y_true"], p["y_pred"])
                    for p in (cells[(f"ser:{method}", s)][1] for s in ttslb.SEEDS)]
        assert entries.loc[method, "g_mean"] == pytest.approx(np.mean(per_seed), abs=1e-12)
    assert board.leader == "emotion_extractor" and "G-mean (%)" in lb.display_table(board).columns
    index = lb.model_index(board, "emotion_extractor")["model-index"][0]["results"][0]["metrics"]
    assert index[0]["type"] == "g_mean" and index[0]["value"] == round(100 * entries.loc["emotion_extractor",
                                                                                           "g_mean"], 2)
    from benchmark import results
    from benchmark.report.inputs import ReportInputs
    from benchmark.report.sections import leaderboard

    section = leaderboard.build(ReportInputs(results.load_cells(uri, ttslb.SUITE), uri, ttslb.SUITE,
                                             n_bootstrap=150))
    table = section.tables[0]
    assert list(table.frame.columns[2:6]) == ["UA (%)", "WA (%)", "macro-F1 (%)", "G-mean (%)"]
    shown = table.frame.set_index("method").loc["emotion_extractor", "G-mean (%)"]
    assert shown.startswith(f"{100 * entries.loc['emotion_extractor', 'g_mean']:.1f}")
    verdict = compare(cells[("ser:emotion_extractor", 0)][0], cells[("ser:linear_svm", 0)][0],
                      GateConfig(metrics={"g_mean": 1.0}, claims=False), tracking_uri=uri, progress=False)
    assert verdict.rows.iloc[0]["metric"] == "g_mean" and verdict.rows.iloc[0]["status"] == "regressed"
