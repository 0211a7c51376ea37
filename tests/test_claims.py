"""Claims: files validated (errors name the file and key), verdicts recomputed from predictions tables.

Stores are built in tmp_path as the runner writes them (test_results.FakeSuite).
The central check recomputes a claim's effect, CI, p and minimum detectable
effect by hand from the predictions tables (scikit-learn recalls, numpy
resampling), independently of benchmark.metrics.stacked.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import norm
from sklearn.metrics import recall_score
from test_results import CLASSES, FakeSuite, make_test_set, new_store, predictions

from benchmark.claims import (CONTRADICTED, INCONCLUSIVE, SUPPORTED, evaluate_claim, list_claims, load_claim,
                              load_claims, parse_claim)
from benchmark.errors import ConfigError
from benchmark import results

EE_CLAIM = {"paper": "test", "statement": "EE raises minority recall over cnn at the largest ratio",
            "methods": ["emotion_extractor"], "baselines": ["cnn"], "protocol": "imbalance",
            "select": {"meta": {"ratio": "max"}}, "metric": "minority_recall", "direction": "greater",
            "margin": 0, "n_bootstrap": 300, "seed": 5}


def _skewed(rng, test, minority_skill, neutral_skill=0.9):
    """Predictions right with one probability on Neutral and another on the minority classes."""
    skill = np.where(test["y_true"] == "neutral", neutral_skill, minority_skill)
    right = rng.random(len(test)) < skill
    wrong = np.array([rng.choice([c for c in CLASSES if c != t]) for t in test["y_true"]])
    y_pred = np.where(right, test["y_true"], wrong)
    table = test[["utt_id", "y_true"]].assign(y_pred=y_pred, speaker=test["speaker"], language=test["language"])
    for c in CLASSES:
        table[f"p_{c}"] = np.where(y_pred == c, 0.7, 0.1)
    return table


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Suite "claimtest": imbalance ratios 1, 4, 8 (one shared test set), two seeds; the Emotion
    Extractor's minority recall falls less with the ratio than the CNN's; ``copy`` repeats the CNN."""
    uri = new_store(tmp_path_factory.mktemp("claims"))
    rng = np.random.default_rng(3)
    suite = FakeSuite(uri, "claimtest").start()
    test = make_test_set(rng, "heldout", n=120)
    for ratio, ee_skill, cnn_skill in ((1, 0.80, 0.78), (4, 0.75, 0.55), (8, 0.72, 0.35)):
        for seed in (0, 1):
            cnn = _skewed(rng, test, cnn_skill)
            suite.cell(method="emotion_extractor", protocol="imbalance", fold=f"ratio{ratio}", seed=seed,
                       meta={"ratio": ratio}, pred=_skewed(rng, test, ee_skill))
            suite.cell(method="cnn", protocol="imbalance", fold=f"ratio{ratio}", seed=seed, meta={"ratio": ratio},
                       pred=cnn)
            suite.cell(method="copy", protocol="imbalance", fold=f"ratio{ratio}", seed=seed, meta={"ratio": ratio},
                       pred=cnn)
    suite.finish()
    suite.cells = results.load_cells(uri, "claimtest")
    return suite


def _minority_recall(table: pd.DataFrame) -> float:
    labels = CLASSES[1:]
    return float(np.mean(recall_score(table["y_true"], table["y_pred"], labels=labels, average=None)))


def _hand_effect(store, method, baseline, ratio, n_boot, seed):
    """Seed mean of minority recall, method - baseline, and its paired bootstrap, by hand."""
    def tables(m):
        return [store.tables[store.runs[("embedded", "imbalance", f"ratio{ratio}", m, str(s))]] for s in (0, 1)]

    ta, tb = tables(method), tables(baseline)
    point = np.mean([_minority_recall(t) for t in ta]) - np.mean([_minority_recall(t) for t in tb])
    order = np.argsort(ta[0]["utt_id"].to_numpy())          # items are sorted by utt_id (one fold)
    n = len(order)
    diffs = []
    for counts in np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=n_boot):
        idx = np.repeat(order, counts)                        # the same draw for both methods and both seeds
        diffs.append(np.mean([_minority_recall(t.iloc[idx]) for t in ta])
                     - np.mean([_minority_recall(t.iloc[idx]) for t in tb]))
    return point, np.array(diffs)


def test_a_verdict_equals_a_hand_computed_paired_bootstrap(store):
    claim = parse_claim(EE_CLAIM, "ee")
    result = evaluate_claim(claim, store.cells, store.uri)
    c = result.headline
    point, diffs = _hand_effect(store, "emotion_extractor", "cnn", 8, 300, 5)
    assert (c.method, c.baseline, c.metric) == ("emotion_extractor", "cnn", "minority_recall")
    assert c.effect == pytest.approx(point, abs=1e-12)
    assert c.low == pytest.approx(np.percentile(diffs, 2.5)) and c.high == pytest.approx(np.percentile(diffs, 97.5))
    tail = min((diffs <= 0).sum(), (diffs >= 0).sum())
    assert c.p == pytest.approx(min(1.0, 2 * (tail + 1) / 301))
    assert c.se == pytest.approx(diffs.std(ddof=1))
    assert c.mde == pytest.approx((norm.ppf(0.975) + norm.ppf(0.8)) * diffs.std(ddof=1))
    assert c.low > 0 and result.verdict == SUPPORTED
    assert (c.n_test, c.seeds, c.cells) == (120, 2, 2)


def test_the_opposite_claim_is_contradicted_and_a_margin_beyond_the_ci_is_not_supported(store):
    worse = evaluate_claim(parse_claim({**EE_CLAIM, "direction": "less"}, "x"), store.cells, store.uri)
    assert worse.verdict == CONTRADICTED
    c = evaluate_claim(parse_claim(EE_CLAIM, "x"), store.cells, store.uri).headline
    # A margin (points) inside the CI: inconclusive; above the whole CI: contradicted.
    inside = 100 * (c.low + c.high) / 2
    assert evaluate_claim(parse_claim({**EE_CLAIM, "margin": inside}, "x"), store.cells, store.uri).verdict \
        == INCONCLUSIVE
    above = 100 * c.high + 1
    assert evaluate_claim(parse_claim({**EE_CLAIM, "margin": above}, "x"), store.cells, store.uri).verdict \
        == CONTRADICTED


def test_identical_predictions_are_equivalent_within_a_margin(store):
    claim = parse_claim({**EE_CLAIM, "methods": ["copy"], "direction": "within", "margin": 1}, "eq")
    result = evaluate_claim(claim, store.cells, store.uri)
    c = result.headline
    assert result.verdict == SUPPORTED and c.effect == 0 and c.low == 0 and c.high == 0 and c.se == 0


def test_require_all_needs_every_baseline(store):
    claim = parse_claim({**EE_CLAIM, "baselines": ["cnn", "copy"]}, "two")
    result = evaluate_claim(claim, store.cells, store.uri)
    assert [c.baseline for c in result.comparisons] == ["cnn", "copy"] and result.verdict == SUPPORTED
    claim = parse_claim({**EE_CLAIM, "methods": ["copy"], "baselines": ["cnn", "emotion_extractor"],
                         "require": "all"}, "mixed")
    result = evaluate_claim(claim, store.cells, store.uri)
    assert result.verdict == CONTRADICTED            # copy is worse than the EE: the claim fails over it
    assert result.headline.baseline == "emotion_extractor"


def test_the_trend_is_the_slope_of_the_advantage_over_log2_ratio(store):
    claim = parse_claim({**EE_CLAIM, "select": {}, "trend": "ratio"}, "trend")
    result = evaluate_claim(claim, store.cells, store.uri)
    c = result.headline
    points = [_hand_effect(store, "emotion_extractor", "cnn", r, 100, 5)[0] for r in (1, 4, 8)]
    x = np.log2([1, 4, 8])
    assert c.effect == pytest.approx(np.polyfit(x, points, 1)[0], abs=1e-12)
    assert c.effect > 0 and result.verdict == SUPPORTED and c.cells == 6


def test_missing_methods_or_protocols_are_inconclusive_naming_what_is_missing(store):
    result = evaluate_claim(parse_claim({**EE_CLAIM, "baselines": ["cnn_weighted", ["crnn", "cnn_oversampled"]]},
                                        "m"), store.cells, store.uri)
    assert result.verdict == INCONCLUSIVE and result.headline is None
    reasons = [c.reason for c in result.comparisons]
    assert "cnn_weighted" in reasons[0] and "crnn or cnn_oversampled" in reasons[1] and "imbalance" in reasons[0]
    gone = evaluate_claim(parse_claim({**EE_CLAIM, "protocol": "cross_lingual"}, "p"), store.cells, store.uri)
    assert gone.verdict == INCONCLUSIVE and "emotion_extractor and cnn" in gone.comparisons[0].reason
    assert "cross_lingual" in gone.comparisons[0].reason
    # A comparison with data and one without: an `all` claim cannot be supported.
    half = evaluate_claim(parse_claim({**EE_CLAIM, "baselines": ["cnn", "cnn_weighted"]}, "h"), store.cells,
                          store.uri)
    assert half.verdict == INCONCLUSIVE and half.comparisons[0].verdict == SUPPORTED
    # an alternative that is present is chosen over a missing first choice
    alt = evaluate_claim(parse_claim({**EE_CLAIM, "baselines": [["cnn_weighted", "cnn"]]}, "a"), store.cells,
                         store.uri)
    assert alt.headline.baseline == "cnn" and alt.verdict == SUPPORTED


def _embedding_store(tmp_path):
    """unseen_speakers: 'leaky' embeds the speaker and the language, 'clean' neither; same test set."""
    uri = new_store(tmp_path / "emb")
    rng = np.random.default_rng(1)
    suite = FakeSuite(uri, "embtest").start()
    test = make_test_set(rng, "heldout", n=160)
    test["language"] = np.where(np.arange(160) % 2 == 0, "en", "de")
    speakers = test["speaker"].to_numpy(str)
    code = {s: 2.0 * i for i, s in enumerate(sorted(set(speakers)))}
    for seed in (0, 1):
        base = {"utt_ids": test["utt_id"].to_numpy(str), "y": test["y_true"].to_numpy(str), "speakers": speakers,
                "languages": test["language"].to_numpy(str)}
        leak = np.array([code[s] for s in speakers])[:, None] + np.where(test["language"] == "de", 3.0, 0)[:, None]
        suite.cell(method="leaky", protocol="unseen_speakers", fold="heldout", seed=seed,
                   emb={**base, "Z": rng.normal(size=(160, 4)) + leak}, pred=predictions(rng, test, 0.7))
        suite.cell(method="clean", protocol="unseen_speakers", fold="heldout", seed=seed,
                   emb={**base, "Z": rng.normal(size=(160, 4))}, pred=predictions(rng, test, 0.7))
    suite.finish()
    return uri, results.load_cells(uri, "embtest")


def test_probe_and_latent_distance_claims(tmp_path):
    uri, cells = _embedding_store(tmp_path)
    probe = parse_claim({"paper": "t", "statement": "s", "methods": ["clean"], "baselines": ["leaky"],
                         "protocol": "unseen_speakers", "metric": "speaker_probe_acc", "direction": "less",
                         "n_bootstrap": 200}, "probe")
    result = evaluate_claim(probe, cells, uri)
    from benchmark.metrics import speaker_probe

    c = result.headline
    expected = []
    for m in ("clean", "leaky"):
        embs = [results.load_embeddings(r, uri) for r in cells[cells["method"] == m].sort_values("seed")["run_id"]]
        expected.append(np.mean([speaker_probe(e["Z"], e["speakers"], seed=s)["speaker_probe_acc"]
                                 for s, e in enumerate(embs)]))
    assert c.effect == pytest.approx(expected[0] - expected[1]) and c.method_value == pytest.approx(expected[0])
    assert result.verdict == SUPPORTED and c.high < 0
    distance = parse_claim({"paper": "t", "statement": "s", "methods": ["clean"], "baselines": ["leaky"],
                            "protocol": "unseen_speakers", "metric": ["mmd", "bhattacharyya"], "direction": "less",
                            "n_bootstrap": 100}, "dist")
    result = evaluate_claim(distance, cells, uri)
    assert [c.metric for c in result.comparisons] == ["mmd", "bhattacharyya"]
    assert result.verdict == SUPPORTED and all(c.effect < 0 and c.high < 0 for c in result.comparisons)


def test_weighted_distances_equal_the_plain_ones_on_the_drawn_points():
    from benchmark.metrics import bhattacharyya_distance, mmd_rbf

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(30, 3)), rng.normal(size=(25, 3)) + 0.5
    counts = rng.multinomial(55, np.full(55, 1 / 55))[None, :].astype(float)
    idx = np.repeat(np.arange(55), counts[0].astype(int))
    pa, pb = idx[idx < 30], idx[idx >= 30] - 30
    assert bhattacharyya_distance(a, b, weights=counts)[0] == pytest.approx(bhattacharyya_distance(a[pa], b[pb]))
    assert mmd_rbf(a, b, weights=np.ones((1, 55)))[0] == pytest.approx(mmd_rbf(a, b))


@pytest.mark.parametrize("change, key", [
    ({"direction": "bigger"}, "direction"),
    ({"metric": "accuracy"}, "metric"),
    ({"margin": -1}, "margin"),
    ({"baselines": []}, "baselines"),
    ({"trend": "ratio", "metric": "mmd"}, "trend"),
    ({"colour": "red"}, "colour"),
    ({"direction": "within", "margin": 0}, "margin"),
])
def test_a_bad_claim_file_is_an_error_naming_the_file_and_the_key(tmp_path, change, key):
    path = tmp_path / "bad_claim.yaml"
    path.write_text(yaml.safe_dump({**EE_CLAIM, **change}))
    with pytest.raises(ConfigError) as err:
        load_claim(path)
    assert str(path) in str(err.value) and key in str(err.value)


def test_a_claim_without_required_keys_names_them(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text("paper: x\nstatement: y\n")
    with pytest.raises(ConfigError, match=r"short.yaml: invalid claim[\s\S]*methods[\s\S]*protocol"):
        load_claim(path)
    path.write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_claim(path)


def test_the_shipped_claims_load_and_cover_the_three_papers():
    claims = load_claims()
    assert {c.id for c in claims} == set(list_claims())
    papers = {c.paper.split(":")[0] for c in claims}
    assert len(papers) == 3
    assert {"emotion_extractor", "speaker_adversarial", "vae", "vae_kl_annealing", "ssvae"} <= {
        m for c in claims for m in c.methods}
    with pytest.raises(ConfigError, match="unknown claim"):
        load_claims(["no_such_claim"])


def test_cli_and_the_claims_board(store, tmp_path):
    from typer.testing import CliRunner

    from benchmark import leaderboard as lb
    from benchmark.cli import app

    claim = tmp_path / "ee_claim.yaml"
    claim.write_text(yaml.safe_dump(EE_CLAIM))
    runner = CliRunner()
    result = runner.invoke(app, ["claims", "claimtest", "--tracking-uri", store.uri, "--claim", str(claim),
                                 "--claim", "ee_minority_recall", "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "| ee_claim | SUPPORTED |" in result.output
    # the shipped claim names cnn_weighted and cnn_oversampled, which this store lacks: inconclusive, named
    assert "| ee_minority_recall | inconclusive |" in result.output and "cnn_weighted" in result.output
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"leaderboard.md", "leaderboard.csv",
                                                            "leaderboard.html", "leaderboard.tex", "snapshot.json"}
    csv = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert list(csv["verdict"]) == ["supported", "inconclusive"]
    gate = runner.invoke(app, ["compare", str(tmp_path / "out"), str(tmp_path / "out"), "--tracking-uri", store.uri])
    assert gate.exit_code == 2 and "claims board snapshot" in gate.output
    bad = runner.invoke(app, ["claims", "claimtest", "--tracking-uri", store.uri, "--claim", "nope"])
    assert bad.exit_code == 2 and "unknown claim 'nope'" in bad.output
    # a leaderboard definition of kind `claims` builds and writes the same board
    definition = tmp_path / "claimboard.yaml"
    definition.write_text(yaml.safe_dump({"kind": "claims", "suite": "claimtest", "claims": [str(claim)]}))
    board = lb.build_leaderboard(lb.load_definition(definition), store.uri, progress=False)
    assert [r.verdict for r in board.results] == ["supported"]
    files = lb.write(board, tmp_path / "board")
    assert "SUPPORTED" in files["md"].read_text() and "tabular" in files["tex"].read_text()
    definition.write_text(yaml.safe_dump({"kind": "claims", "suite": "claimtest", "claims": ["nope"]}))
    with pytest.raises(ConfigError, match="unknown claim"):
        lb.load_definition(definition)
    assert lb.load_definition("claims").suite == "default"


def test_compare_reports_a_claim_whose_verdict_changed(tmp_path):
    """Baseline: ssvae predicts exactly what dae predicts (UA within 3 points: supported); candidate: ssvae
    much worse (contradicted). The shipped claim ssvae_ua_matches_dae changes verdict; the others stay."""
    from benchmark import compare as cmp

    uri = new_store(tmp_path / "cmp")
    rng = np.random.default_rng(8)
    tests = {f: make_test_set(rng, f) for f in ("fold0", "fold1")}
    dae = {f: predictions(rng, t, 0.7) for f, t in tests.items()}
    sides = {}
    for name, ssvae_skill in (("before", None), ("after", 0.3)):
        suite = FakeSuite(uri, f"cmp_{name}", digest=name).start()
        for fold, test in tests.items():
            suite.cell(method="dae", fold=fold, seed=0, pred=dae[fold])
            suite.cell(method="ssvae", fold=fold, seed=0,
                       pred=dae[fold] if ssvae_skill is None else predictions(rng, test, ssvae_skill))
        sides[name] = suite.finish()
    verdict = cmp.compare(sides["before"].parent, sides["after"].parent, tracking_uri=uri, progress=False)
    changed = verdict.changed_claims.set_index("claim")
    assert list(changed.index) == ["ssvae_ua_matches_dae"]
    assert (changed.loc["ssvae_ua_matches_dae", "baseline_verdict"],
            changed.loc["ssvae_ua_matches_dae", "candidate_verdict"]) == (SUPPORTED, CONTRADICTED)
    assert "## Claims whose verdict changed (1 of 6)" in verdict.markdown
    assert "| ssvae_ua_matches_dae | supported | contradicted |" in verdict.markdown
    quiet = cmp.compare(sides["before"].parent, sides["after"].parent, cmp.GateConfig(claims=False),
                        tracking_uri=uri, progress=False)
    assert quiet.claims is None and "Claims whose verdict" not in quiet.markdown


def test_resampling_speakers_widens_the_ci_when_errors_cluster_by_speaker(tmp_path):
    """The method is much better than the baseline on one of four speakers only: a speaker bootstrap
    (aggregation.resample: speaker) must give a wider CI than the utterance bootstrap."""
    uri = new_store(tmp_path / "spk")
    rng = np.random.default_rng(11)
    suite = FakeSuite(uri, "spktest").start()
    test = make_test_set(rng, "heldout", n=200)
    base = predictions(rng, test, 0.5)
    better = base.copy()
    lucky = (test["speaker"] == test["speaker"].iloc[0]).to_numpy()
    better.loc[lucky, "y_pred"] = better.loc[lucky, "y_true"]
    suite.cell(method="a", protocol="unseen_speakers", fold="heldout", seed=0, pred=better)
    suite.cell(method="b", protocol="unseen_speakers", fold="heldout", seed=0, pred=base)
    suite.finish()
    cells = results.load_cells(uri, "spktest")
    spec = {"paper": "t", "statement": "s", "methods": ["a"], "baselines": ["b"], "protocol": "unseen_speakers",
            "metric": "wa", "direction": "greater", "n_bootstrap": 400}
    by_utt = evaluate_claim(parse_claim(spec, "u"), cells, uri).headline
    by_spk = evaluate_claim(parse_claim({**spec, "aggregation": {"resample": "speaker"}}, "s"), cells, uri).headline
    assert by_utt.effect == by_spk.effect > 0
    assert by_spk.high - by_spk.low > 1.5 * (by_utt.high - by_utt.low)
    assert by_spk.mde > by_utt.mde
