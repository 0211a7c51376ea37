"""SER metrics against scikit-learn and hand computations on the same predictions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sklearn.metrics import balanced_accuracy_score, accuracy_score, f1_score, recall_score

from benchmark.errors import ManifestError
from benchmark.metrics import (Stacked, bhattacharyya_distance, bootstrap_ci, class_labels, compare_scored,
                               draw_counts, frechet_distance, mcnemar, minimum_detectable_effect, mmd_rbf,
                               resample_weights, score_predictions, score_stacked, seed_means, ser_scores,
                               speaker_probe)
from benchmark.predictions import make_predictions, validate_predictions

LABELS = ["neutral", "happy", "angry", "sad"]


def _predictions(n=800, accuracy=0.7, seed=0, speakers=20):
    rng = np.random.default_rng(seed)
    y = rng.choice(LABELS, size=n, p=[0.5, 0.2, 0.15, 0.15])
    wrong = rng.random(n) > accuracy
    pred = np.where(wrong, rng.choice(LABELS, size=n), y)
    return y, pred, np.array([f"s{i % speakers}" for i in range(n)])


def test_scores_match_scikit_learn():
    y, pred, _ = _predictions()
    s = ser_scores(y, pred, LABELS)
    assert s["ua"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert s["wa"] == pytest.approx(accuracy_score(y, pred))
    assert s["macro_f1"] == pytest.approx(f1_score(y, pred, labels=LABELS, average="macro", zero_division=0))
    recalls = recall_score(y, pred, labels=LABELS, average=None)
    assert [s[f"recall.{c}"] for c in LABELS] == pytest.approx(list(recalls))


def test_predictions_table_round_trip_and_errors(tmp_path):
    proba = np.array([[0.7, 0.3], [0.2, 0.8]])
    t = make_predictions(["a", "b"], ["x", "y"], proba, ["x", "y"], speakers=["s", "s"], languages=["en", "en"])
    assert list(t["y_pred"]) == ["x", "y"] and list(t.columns[-2:]) == ["p_x", "p_y"]
    t.to_parquet(tmp_path / "p.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "p.parquet"), t)
    bad = t.copy()
    bad.loc[1, "p_x"] = 0.9
    with pytest.raises(ManifestError, match="rows \\[1\\]"):
        validate_predictions(bad)
    with pytest.raises(ManifestError, match="y_true"):
        validate_predictions(t.drop(columns="y_true"))


def test_bootstrap_ci_contains_the_estimate_narrows_with_n_and_speakers_are_wider():
    y, pred, spk = _predictions(n=2000, speakers=10)
    ua = balanced_accuracy_score(y, pred)
    lo, hi = bootstrap_ci(y, pred, LABELS, n_boot=500)
    assert lo < ua < hi
    lo_small, hi_small = bootstrap_ci(y[:200], pred[:200], LABELS, n_boot=500)
    assert hi_small - lo_small > hi - lo
    # Speaker-clustered errors: some speakers are much harder, so speakers must be the resampling unit.
    hard = np.isin(spk, ["s0", "s1", "s2"])
    pred2 = np.where(hard, np.roll(y, 1), y)
    utt = bootstrap_ci(y, pred2, LABELS, n_boot=500)
    by_spk = bootstrap_ci(y, pred2, LABELS, n_boot=500, unit="speaker", speakers=spk)
    assert by_spk[1] - by_spk[0] > 1.5 * (utt[1] - utt[0])


def test_score_predictions_reports_both_intervals():
    y, pred, spk = _predictions()
    proba = np.eye(4)[[LABELS.index(p) for p in pred]]
    table = make_predictions([str(i) for i in range(len(y))], y, proba, LABELS, speakers=spk)
    s = score_predictions(table, LABELS, n_bootstrap=200)
    assert s["ua_ci_low"] < s["ua"] < s["ua_ci_high"] and s["ua_spk_ci_low"] < s["ua"] < s["ua_spk_ci_high"]


def _stack(y, pred, fold="f0", seed=0) -> pd.DataFrame:
    return pd.DataFrame({"utt_id": [f"u{i:05d}" for i in range(len(y))], "y_true": y, "y_pred": pred,
                         "fold": fold, "seed": str(seed)})


def _paired(y, pred_a, pred_b, n_boot=500, seed=0, metric="ua"):
    a, b = Stacked.from_frame(_stack(y, pred_a)), None
    b = Stacked.from_frame(_stack(y, pred_b), items=a.items)
    labels = class_labels(pd.concat([a.frame, b.frame]))
    weights = resample_weights(a.items, n_boot, seed)
    return compare_scored(score_stacked(a, labels, "pooled", weights), score_stacked(b, labels, "pooled", weights),
                          metric)


def test_paired_tests_separate_better_from_identical():
    y, weak, _ = _predictions(accuracy=0.5, seed=1)
    strong = np.where(np.random.default_rng(2).random(len(y)) < 0.8, y, weak)
    better = _paired(y, weak, strong)
    assert better.diff == pytest.approx(balanced_accuracy_score(y, strong) - balanced_accuracy_score(y, weak))
    assert better.diff > 0 and better.p < 0.01 and better.low > 0
    same = _paired(y, weak, weak)
    assert same.diff == 0 and same.p == 1.0 and same.se == 0
    assert mcnemar(y, weak, strong)["p"] < 0.01 and mcnemar(y, weak, weak)["p"] == 1.0


def test_paired_difference_by_hand():
    """The paired bootstrap recomputed by hand: the same draws for both, p = 2 (tail + 1) / (B + 1)."""
    y, a, _ = _predictions(n=300, accuracy=0.55, seed=3)
    b = np.where(np.random.default_rng(4).random(len(y)) < 0.3, y, a)
    result = _paired(y, a, b, n_boot=300, seed=7)
    rng = np.random.default_rng(7)
    diffs = []
    for counts in rng.multinomial(len(y), np.full(len(y), 1 / len(y)), size=300):
        idx = np.repeat(np.arange(len(y)), counts)
        diffs.append(balanced_accuracy_score(y[idx], b[idx]) - balanced_accuracy_score(y[idx], a[idx]))
    diffs = np.array(diffs)
    assert result.low == pytest.approx(np.percentile(diffs, 2.5)) and result.high == pytest.approx(
        np.percentile(diffs, 97.5))
    assert result.se == pytest.approx(diffs.std(ddof=1))
    tail = min((diffs <= 0).sum(), (diffs >= 0).sum())
    assert result.p == pytest.approx(min(1, 2 * (tail + 1) / 301))
    assert result.mde() == pytest.approx((1.959964 + 0.841621) * diffs.std(ddof=1), rel=1e-5)
    assert minimum_detectable_effect(0.01, alpha=0.05, power=0.5) == pytest.approx(0.0195996, rel=1e-4)


def test_mcnemar_is_statsmodels_exact_above_25_discordant_pairs():
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    y = np.array(["a"] * 100)
    a = np.array(["a"] * 40 + ["b"] * 60)              # right on 0..39
    b = np.array(["b"] * 10 + ["a"] * 50 + ["b"] * 40)  # right on 10..59
    r = mcnemar(y, a, b)
    assert (r["n01"], r["n10"]) == (10, 20) and "exact" in r["test"]
    assert r["p"] == pytest.approx(sm_mcnemar([[30, 10], [20, 40]], exact=True).pvalue)
    assert r["p"] == pytest.approx(binomtest(10, 30, 0.5).pvalue)


def test_mcnemar_by_hand():
    y = np.array(["a"] * 10)
    a = np.array(["a"] * 3 + ["b"] * 7)       # a right on 3
    b = np.array(["a"] * 9 + ["b"])           # b right on 9
    r = mcnemar(y, a, b)                       # discordant: only-a 0, only-b 6
    assert (r["n01"], r["n10"]) == (0, 6)
    assert r["p"] == pytest.approx(binomtest(0, 6, 0.5).pvalue) == pytest.approx(2 * 0.5**6)


def test_macro_f1_is_scikit_learns_default_labels_everywhere():
    """One macro-F1: over the classes in y_true or y_pred. A label neither true nor predicted is left out
    (it used to count F1 = 0 in the runner's per-cell scores); a predicted class absent from y_true counts 0."""
    y = np.array(["neutral", "happy", "happy", "neutral", "neutral", "sad"])
    pred = np.array(["neutral", "happy", "neutral", "neutral", "angry", "sad"])
    expected = f1_score(y, pred, average="macro", zero_division=0)     # labels: angry, happy, neutral, sad
    assert ser_scores(y, pred, LABELS + ["fear"])["macro_f1"] == pytest.approx(expected)
    stacked = Stacked.from_frame(_stack(y, pred))
    point, _ = seed_means(stacked, class_labels(stacked.frame) + ["fear"], "pooled")
    assert point["macro_f1"][0] == pytest.approx(expected)


def test_fold_aggregation_keeps_pooled_and_mean_apart():
    y1, p1, _ = _predictions(n=100, accuracy=0.9, seed=1)
    y2, p2, _ = _predictions(n=300, accuracy=0.5, seed=2)
    stacked = Stacked.from_frame(pd.concat([_stack(y1, p1, "f0"), _stack(y2, p2, "f1")], ignore_index=True))
    pooled, _ = seed_means(stacked, LABELS, "pooled")
    mean, _ = seed_means(stacked, LABELS, "fold_mean")
    assert pooled["wa"][0] == pytest.approx(accuracy_score(np.r_[y1, y2], np.r_[p1, p2]))
    assert mean["wa"][0] == pytest.approx((accuracy_score(y1, p1) + accuracy_score(y2, p2)) / 2)
    # fold_mean resamples within each fold: every resample keeps each fold's size
    weights = resample_weights(stacked.items, 50, 0, "fold_mean")
    assert (weights[:, :100].sum(1) == 100).all() and (weights[:, 100:].sum(1) == 300).all()
    assert draw_counts(10, 3, 0).sum(1).tolist() == [10, 10, 10]


def test_speaker_probe_sees_speaker_information():
    rng = np.random.default_rng(0)
    speakers = np.repeat([f"s{i}" for i in range(8)], 30)
    centres = rng.normal(size=(8, 16)) * 3
    leaky = centres[np.repeat(np.arange(8), 30)] + rng.normal(size=(240, 16))
    clean = rng.normal(size=(240, 16))
    assert speaker_probe(leaky, speakers)["speaker_probe_acc"] > 0.9
    r = speaker_probe(clean, speakers)
    assert r["speaker_probe_acc"] < 0.35 and r["speaker_probe_chance"] == pytest.approx(1 / 8)


def test_distribution_distances():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    shifted = b + np.array([2.0, 0, 0])
    assert abs(mmd_rbf(a, b)) < 0.02 and mmd_rbf(a, shifted) > 0.1
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(a, a + np.array([2.0, 1.0, 0])) == pytest.approx(5.0, rel=1e-6)
    cov = np.cov(a, rowvar=False)
    shift = np.array([1.0, 0, 0])
    assert bhattacharyya_distance(a, a + shift) == pytest.approx(shift @ np.linalg.solve(cov, shift) / 8, rel=1e-3)


def test_seed_difference_is_welchs_t_on_the_per_seed_values():
    from scipy import stats as sps

    from benchmark.metrics.stacked import seed_difference

    old = [0.501, 0.623, 0.590, 0.621, 0.554]
    new = [0.489, 0.544, 0.504, 0.608, 0.571, 0.530]
    d = seed_difference(old, new)
    welch = sps.ttest_ind(new, old, equal_var=False)
    assert d.diff == pytest.approx(np.mean(new) - np.mean(old))
    assert d.p == pytest.approx(welch.pvalue) and d.df == pytest.approx(welch.df)
    ci = welch.confidence_interval(0.95)
    assert (d.low, d.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
    se = np.sqrt(np.var(new, ddof=1) / 6 + np.var(old, ddof=1) / 5)
    assert d.se == pytest.approx(se) and (d.n_a, d.n_b) == (5, 6)
    assert d.mde() == pytest.approx((1.959964 + 0.841621) * se, rel=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        seed_difference([0.5], [0.5, 0.6])
    with pytest.raises(ValueError, match="finite"):
        seed_difference([0.5, float("nan")], [0.5, 0.6])
