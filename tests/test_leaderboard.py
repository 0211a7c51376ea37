"""`emobench leaderboard`: ranks, numbers recomputed from the predictions tables, marks, files, model-index.

Store (built in tmp_path as the runner writes it, see test_results.FakeSuite):
three methods x 2 folds x 2 seeds on speaker_kfold. ``emotion_extractor`` is
clearly better than ``linear_svm``; ``extractor_copy`` has exactly the
leader's predictions, so it must carry the "not significantly different" mark.
The logged metrics are deliberately wrong (+0.5): a leaderboard that read them
would fail every number check.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import balanced_accuracy_score, f1_score
from test_results import (
    CLASSES,
    FakeSuite,
    make_test_set,
    new_store,
    predictions,
    sklearn_metrics,
)
from typer.testing import CliRunner

from benchmark import leaderboard as lb
from benchmark.errors import ConfigError, EmobenchError

SUITE = "lbtest"
SKILL = {"emotion_extractor": 0.85, "linear_svm": 0.45}
DEFINITION = {"title": "Test board: speaker k-fold", "suite": SUITE, "protocol": "speaker_kfold",
              "corpus": "embedded", "rank_by": "ua", "columns": ["ua", "wa", "macro_f1", "recall.sad"],
              "significance": {"test": "paired_bootstrap", "alpha": 0.05}, "n_bootstrap": 400}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    uri = new_store(tmp_path_factory.mktemp("lb"))
    rng = np.random.default_rng(0)
    suite = FakeSuite(uri, SUITE).start()
    for fold in ("fold0", "fold1"):
        test = make_test_set(rng, fold)
        for seed in (0, 1):
            best = predictions(rng, test, SKILL["emotion_extractor"])
            suite.cell(method="emotion_extractor", fold=fold, seed=seed, pred=best)
            suite.cell(method="extractor_copy", fold=fold, seed=seed, pred=best)
            suite.cell(method="linear_svm", fold=fold, seed=seed, pred=predictions(rng, test, SKILL["linear_svm"]))
    # A cell of another protocol and one of another corpus: the board must leave them out.
    suite.cell(method="linear_svm", protocol="imbalance", fold="ratio4", seed=0, meta={"ratio": 4},
               pred=predictions(rng, make_test_set(rng, "r4"), 0.9))
    suite.cell(method="linear_svm", corpus="emodb", fold="fold0", seed=0,
               pred=predictions(rng, make_test_set(rng, "fold0", prefix="emodb"), 0.99))
    suite.finish()
    return suite


@pytest.fixture(scope="module")
def board(store):
    definition = lb.parse_definition(DEFINITION, "testboard")
    return lb.build_leaderboard(definition, store.uri, progress=False)


def _independent(store: FakeSuite, method: str, protocol: str = "speaker_kfold") -> dict[str, float]:
    """Per seed: scikit-learn on the pooled predictions of both folds; then the mean over seeds."""
    per_seed = []
    for seed in ("0", "1"):
        runs = [r for (c, p, f, m, s), r in store.runs.items()
                if (c, p, m, s) == ("embedded", protocol, method, seed)]
        per_seed.append(sklearn_metrics(pd.concat([store.tables[r] for r in runs], ignore_index=True)))
    return {k: float(np.mean([s[k] for s in per_seed])) for k in per_seed[0]} | {
        f"{k}_sd": float(np.std([s[k] for s in per_seed], ddof=1)) for k in per_seed[0]}


def test_ranks_follow_the_recomputed_ua(board):
    e = board.entries
    assert e["method"].iloc[-1] == "linear_svm"
    assert set(e["method"].iloc[:2]) == {"emotion_extractor", "extractor_copy"}
    assert list(e["rank"]) == [1, 1, 3]            # identical predictions share the rank
    assert list(e["seeds"]) == [2, 2, 2] and list(e["folds"]) == [2, 2, 2] and list(e["n_test"]) == [320] * 3
    assert set(e["speaker_independent"]) == {"SI"}


def test_numbers_equal_scikit_learn_on_the_same_tables(board, store):
    for method in ("emotion_extractor", "linear_svm"):
        row, expected = board.entry(method), _independent(store, method)
        for metric in ("ua", "wa", "macro_f1", "recall.sad"):
            assert row[metric] == pytest.approx(expected[metric], abs=1e-12), (method, metric)
            assert row[f"{metric}_sd"] == pytest.approx(expected[f"{metric}_sd"], abs=1e-12)
            assert row[f"{metric}_low"] < row[metric] < row[f"{metric}_high"]
        # 640 predictions per seed: a bootstrap CI of UA is a few points wide, not 0 and not 50.
        assert 0.02 < row["ua_high"] - row["ua_low"] < 0.2


def test_the_mark_sits_on_a_method_identical_to_the_leader_only(board):
    leader, copy, worse = (board.entries.iloc[i] for i in range(3))
    assert (leader["method"], copy["method"]) == ("emotion_extractor", "extractor_copy")   # tie: by name
    assert copy["tied_with_leader"] and copy["p_vs_leader"] == pytest.approx(1.0)
    assert not worse["tied_with_leader"] and worse["p_vs_leader"] < 0.01
    table = lb.display_table(board)
    assert list(table["vs leader"].str[:1]) == ["l", lb.TIE_MARK, "p"]


def test_mcnemar_marks_the_same_way(store):
    definition = lb.parse_definition({**DEFINITION, "significance": {"test": "mcnemar", "alpha": 0.05}}, "mc")
    e = lb.build_leaderboard(definition, store.uri, progress=False).entries.set_index("method")
    assert e.loc["extractor_copy", "tied_with_leader"] and e.loc["extractor_copy", "p_vs_leader"] == 1.0
    assert not e.loc["linear_svm", "tied_with_leader"] and e.loc["linear_svm", "p_vs_leader"] < 1e-6


def test_files_in_four_formats(board, tmp_path):
    files = lb.write(board, tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"leaderboard.md", "leaderboard.csv", "leaderboard.html",
                                                              "leaderboard.tex", "snapshot.json"}
    md = files["md"].read_text()
    assert md.startswith("# Test board: speaker k-fold") and "| Rank | Method | UA (%)" in md
    ua = board.entry("linear_svm")["ua"]
    assert f"{100 * ua:.1f}" in md
    csv = pd.read_csv(files["csv"])
    assert list(csv["method"]) == list(board.entries["method"])
    assert csv["ua"].to_numpy() == pytest.approx(board.entries["ua"].to_numpy())
    assert set(csv["run_ids"].str.split().explode()) == set(board.entries["run_ids"].explode())
    tex = files["tex"].read_text()
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert tex.count(rule) == 1
    assert r"emotion\_extractor" in tex and "emotion_extractor" not in tex.replace(r"emotion\_extractor", "")
    assert r"$\approx$" in tex and "≈" not in tex
    body = tex[tex.index(r"\midrule"):tex.index(r"\bottomrule")]
    assert body.count(r"\\") == 3
    html = files["html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count("<tr") == 4 and "http" not in html


def test_model_index_block_parses_with_the_right_keys(board):
    block = yaml.safe_load(lb.model_index_yaml(board, "emotion_extractor"))
    (model,) = block["model-index"]
    assert model["name"] == "emotion_extractor"
    (result,) = model["results"]
    assert result["task"]["type"] == "speech-emotion-recognition"
    assert {"name", "type", "split"} <= set(result["dataset"])
    assert "speaker_kfold" in result["dataset"]["split"] and "synthetic" in result["dataset"]["name"]
    metrics = {m["name"]: m for m in result["metrics"]}
    assert all({"type", "value", "name"} <= set(m) for m in result["metrics"])
    ua = next(m for name, m in metrics.items() if name.startswith("UA"))
    assert ua["value"] == pytest.approx(round(100 * board.entry("emotion_extractor")["ua"], 2))
    assert {m["type"] for m in result["metrics"]} == {"recall", "accuracy", "f1"}
    with pytest.raises(EmobenchError, match="no method 'nope'"):
        lb.model_index(board, "nope")


def test_model_index_block_loads_as_a_hugging_face_model_card(board):
    """Pasted into a model card's front matter, the block is what huggingface_hub reads back: every metric with
    its type, value and arguments (a source without a URL would make ModelCard refuse the card)."""
    from huggingface_hub import ModelCard

    card = ModelCard(f"---\n{lb.model_index_yaml(board, 'linear_svm')}---\n# linear_svm\n")
    assert card.data.model_name == "linear_svm"
    loaded = {(r.metric_type, r.metric_name): r for r in card.data.eval_results}
    entry = board.entry("linear_svm")
    assert len(loaded) == len(board.definition.columns)
    ua = loaded[("recall", "UA (unweighted average recall, %)")]
    assert ua.metric_value == round(100 * entry["ua"], 2) and ua.metric_args == {"average": "macro"}
    assert ua.task_type == "speech-emotion-recognition" and ua.dataset_type == "emobench/embedded"
    assert loaded[("accuracy", "WA (accuracy, %)")].metric_value == round(100 * entry["wa"], 2)


def _without_sad(pred: pd.DataFrame) -> pd.DataFrame:
    """German has no sad utterance; make sure no model predicts it there either (absent from the fold)."""
    if (pred["y_true"] == "sad").any():
        return pred
    return pred.assign(y_pred=pred["y_pred"].replace("sad", "neutral"))


def test_select_by_meta_and_off_diagonal(tmp_path):
    """Imbalance: only the largest ratio counts; cross-lingual: off-diagonal cells, mean over pairs."""
    uri = new_store(tmp_path / "sel")
    rng = np.random.default_rng(3)
    suite = FakeSuite(uri, "sel").start()
    test = make_test_set(rng, "imb")
    for ratio, skill in ((1, 0.9), (8, 0.4)):
        suite.cell(method="m", protocol="imbalance", fold=f"ratio{ratio}", seed=0, meta={"ratio": ratio},
                   pred=predictions(rng, test, skill))
    tests = {lang: make_test_set(rng, lang, prefix=lang) for lang in ("en", "de")}
    tests["de"] = tests["de"][tests["de"]["y_true"] != "sad"]     # a class one language lacks
    for train in ("en", "de"):
        for target in ("en", "de"):
            suite.cell(method="m", protocol="cross_lingual", fold=f"{train}->{target}", seed=0,
                       meta={"train_language": train, "test_language": target},
                       pred=_without_sad(predictions(rng, tests[target], 0.95 if train == target else 0.5)))
    suite.finish()
    imb = lb.build_leaderboard(lb.parse_definition(
        {"suite": "sel", "protocol": "imbalance", "select": {"meta": {"ratio": "max"}},
         "columns": ["ua", "minority_recall"], "n_bootstrap": 200}, "imb"), uri, progress=False).entry("m")
    r8 = suite.tables[suite.runs[("embedded", "imbalance", "ratio8", "m", "0")]]
    expected = sklearn_metrics(r8)
    assert imb["ua"] == pytest.approx(expected["ua"])
    assert imb["minority_recall"] == pytest.approx(np.mean([expected[f"recall.{c}"] for c in CLASSES[1:]]))
    cross = lb.build_leaderboard(lb.parse_definition(
        {"suite": "sel", "protocol": "cross_lingual", "aggregate": "fold_mean", "n_bootstrap": 200,
         "select": {"differ": ["meta.train_language", "meta.test_language"]}}, "cl"), uri, progress=False).entry("m")
    off = [suite.tables[suite.runs[("embedded", "cross_lingual", f, "m", "0")]] for f in ("en->de", "de->en")]
    assert cross["ua"] == pytest.approx(np.mean([balanced_accuracy_score(t["y_true"], t["y_pred"]) for t in off]))
    # scikit-learn's default labels: the classes in y_true or y_pred of each fold.
    assert cross["macro_f1"] == pytest.approx(np.mean([f1_score(t["y_true"], t["y_pred"], average="macro")
                                                       for t in off]))
    assert cross["folds"] == 2 and cross["n_test"] == sum(len(t) for t in off)


def test_speaker_probe_is_recomputed_from_the_embeddings(tmp_path):
    from benchmark.metrics import speaker_probe

    uri = new_store(tmp_path / "probe")
    rng = np.random.default_rng(4)
    suite = FakeSuite(uri, "probe").start()
    embs = {}
    for fold in ("fold0", "fold1"):
        test = make_test_set(rng, fold)
        speakers = test["speaker"].to_numpy(str)
        code = {spk: 2.0 * i for i, spk in enumerate(sorted(set(speakers)))}
        leak = np.array([code[spk] for spk in speakers])[:, None]         # speaker identity in the embedding
        emb = {"utt_ids": test["utt_id"].to_numpy(str), "Z": rng.normal(size=(len(test), 4)) + leak,
               "y": test["y_true"].to_numpy(str), "speakers": speakers, "languages": np.array(["en"] * len(test))}
        embs[fold] = emb
        suite.cell(method="leaky", protocol="unseen_speakers", fold=fold, seed=0, emb=emb,
                   pred=predictions(rng, test, 0.7))
        suite.cell(method="no_embeddings", protocol="unseen_speakers", fold=fold, seed=0,
                   pred=predictions(rng, test, 0.6))
    suite.finish()
    definition = lb.parse_definition({"suite": "probe", "protocol": "unseen_speakers", "n_bootstrap": 100,
                                      "columns": ["ua", "speaker_probe_acc", "speaker_probe_chance"]}, "probe")
    board = lb.build_leaderboard(definition, uri, progress=False)
    expected = [speaker_probe(e["Z"], e["speakers"], seed=0) for e in embs.values()]
    leaky = board.entry("leaky")
    for metric in ("speaker_probe_acc", "speaker_probe_chance"):   # the logged values (0.99, 0.01) are not used
        assert leaky[metric] == pytest.approx(np.mean([e[metric] for e in expected]))
    assert leaky["speaker_probe_acc"] > 2 * leaky["speaker_probe_chance"]
    assert np.isnan(board.entry("no_embeddings")["speaker_probe_acc"])
    assert any("no_embeddings: no test embeddings" in n for n in board.notes)
    assert "Speaker probe acc. (%)" in lb.to_markdown(board)


def test_shipped_definitions_are_valid():
    names = lb.list_definitions()
    assert {"speaker_independent", "unseen_speakers", "imbalance", "cross_lingual"} <= set(names)
    for name in names:
        definition = lb.load_definition(name)
        suite = "pretrained" if name == "pretrained" else "default"  # the pretrained encoders' own suite
        assert definition.suite == suite
        if name != "claims":   # the claims board lists claims, not methods (tests/test_claims.py)
            assert definition.rank_by == ("wa" if name == "tts" else "ua")
    assert "speaker_probe_acc" in lb.load_definition("unseen_speakers").columns


@pytest.mark.parametrize("change, key", [
    ({"rank": "ua"}, "rank"),
    ({"significance": {"test": "ttest"}}, "significance.test"),
    ({"significance": {"alpha": 2}}, "significance.alpha"),
    ({"columns": ["ua", "accuracy"]}, "columns"),
    ({"rank_by": "speaker_probe_acc"}, "rank_by"),
    ({"aggregate": "median"}, "aggregate"),
    ({"select": {"meta": {"ratio": "max"}, "where": 1}}, "select.where"),
])
def test_bad_definition_names_the_key(tmp_path, change, key):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**DEFINITION, **change}))
    with pytest.raises(ConfigError) as err:
        lb.load_definition(path)
    assert re.search(rf"^\s+- {re.escape(key)}: ", str(err.value), re.MULTILINE), str(err.value)
    assert str(path) in str(err.value)
    missing = {k: v for k, v in DEFINITION.items() if k != "suite"}
    with pytest.raises(ConfigError, match=r"- suite: Field required"):
        lb.parse_definition(missing, "x")


def test_no_cells_is_a_clear_error(store):
    definition = lb.parse_definition({**DEFINITION, "protocol": "never_ran"}, "none")
    with pytest.raises(EmobenchError, match="no finished cell runs .*never_ran.*emobench run lbtest"):
        lb.build_leaderboard(definition, store.uri, progress=False)


def test_cli_writes_the_files_and_exports_model_index(store, tmp_path):
    from benchmark.cli import app

    path = tmp_path / "cliboard.yaml"
    path.write_text(yaml.safe_dump(DEFINITION))
    runner = CliRunner()
    out = tmp_path / "cli_out"
    result = runner.invoke(app, ["leaderboard", str(path), "--tracking-uri", store.uri, "--out", str(out),
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (out / "leaderboard.tex").is_file() and "emotion_extractor" in result.output
    result = runner.invoke(app, ["leaderboard", str(path), "--tracking-uri", store.uri, "--out", str(out),
                                 "--model-index", "linear_svm", "--no-progress"])
    assert result.exit_code == 0, result.output
    block = yaml.safe_load((out / "model-index-linear_svm.yaml").read_text())
    assert block["model-index"][0]["name"] == "linear_svm"
    assert "model-index:" in result.output
    result = runner.invoke(app, ["leaderboard", "no_such_board", "--tracking-uri", store.uri])
    assert result.exit_code == 2 and "unknown leaderboard" in result.output


def test_readme_block_is_replaced_and_nothing_else_changes(store, tmp_path):
    from benchmark.cli import app

    path = tmp_path / "cliboard.yaml"
    path.write_text(yaml.safe_dump(DEFINITION))
    readme = tmp_path / "README.md"
    before, after = "# Title\n\nintro text\n\n", "\n\nclosing text\n"
    readme.write_text(before + "<!-- leaderboard:cliboard -->\nold table\n<!-- /leaderboard:cliboard -->" + after)
    args = ["leaderboard", str(path), "--tracking-uri", store.uri, "--out", str(tmp_path / "o"), "--no-progress",
            "--readme", str(readme)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = readme.read_text()
    assert text.startswith(before) and text.endswith(after) and "old table" not in text
    table = text[text.index("<!-- leaderboard:cliboard -->"):]
    board_md = (tmp_path / "o" / "leaderboard.md").read_text().strip()
    assert board_md.startswith("# ") and "\n# " not in table and "### " + board_md[2:] in table
    # a second run gives the same file (idempotent)
    assert CliRunner().invoke(app, args).exit_code == 0 and readme.read_text() == text
    # a file without the markers is an error naming the file, and it is left untouched
    other = tmp_path / "OTHER.md"
    other.write_text("no markers here\n")
    result = CliRunner().invoke(app, args[:-1] + [str(other)])
    assert result.exit_code == 2 and "OTHER.md" in result.output and "leaderboard:cliboard" in result.output
    assert other.read_text() == "no markers here\n"
    result = CliRunner().invoke(app, args[:-1] + [str(tmp_path / "MISSING.md")])
    assert result.exit_code == 2 and "MISSING.md" in result.output and "no such file" in result.output
