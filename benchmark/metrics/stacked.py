"""The one statistics engine: every SER number of emobench comes from here.

The runner's per-cell scores, the leaderboards, the report, ``compare`` and the
claims all score predictions tables with these functions, so one number means
the same everywhere (docs/statistics.md lists the definitions).

* **Stacked predictions.** The predictions of one method's cells, one row per
  (seed, fold, test utterance). ``item`` numbers the test utterances (a (fold,
  utt_id) pair: two folds may test the same utterance, e.g. two transfer pairs
  with the same test language); items are what a bootstrap resamples.
* **Point values.** Per seed, a metric over the pooled predictions of all its
  folds (``aggregate="pooled"``) or the mean over folds of the per-fold metric
  (``"fold_mean"``); the value shown is the mean over seeds. The metrics
  themselves are defined once, in :mod:`benchmark.metrics.ser`.
* **Bootstrap.** A resample is a vector of integer draw counts on the test
  items, so B resamples are one (B, n) matrix and their confusion matrices one
  matrix product. The same draw is applied to every seed (seeds averaged), and
  paired comparisons apply it to both methods. ``pooled``: items drawn from all
  folds together; ``fold_mean``: within each fold. With ``groups`` whole groups
  (speakers) are drawn: a cluster bootstrap, wider when utterances of one
  speaker are correlated.
* **Paired tests.** The paired bootstrap p-value is twice the smaller share of
  resampled differences on either side of the null value, with the +1
  correction (``2 (tail + 1) / (B + 1)``: a finite resample count never
  claims p = 0). McNemar is statsmodels' exact (binomial) test, always.
* **Minimum detectable effect.** ``(z_{1-alpha/2} + z_{power}) * SE`` with SE
  the standard deviation of the resampled paired differences: the smallest
  true difference a two-sided test at ``alpha`` detects with probability
  ``power`` at this data size (normal approximation).
"""
from __future__ import annotations

import functools

import math
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Literal, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from benchmark.errors import EmobenchError
from benchmark.labels import EMOTIONS
from benchmark.metrics.ser import confusion_scores

Aggregate = Literal["pooled", "fold_mean"]
Unit = Literal["utterance", "speaker"]


def natural_key(text: object) -> tuple:
    """Sort "fold10" after "fold2" and "10" after "2"."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text)))


@contextmanager
def nan_quiet() -> Iterator[None]:
    """A class absent from a fold or a resample gives NaN recalls by design: no warnings about them."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# ----------------------------------------------------------------------------- stacked predictions


@dataclass
class Stacked:
    """The predictions of one method's cells stacked: one row per (seed, fold, test utterance)."""

    frame: pd.DataFrame                 # seed, fold, utt_id, y_true, y_pred, item (+ whatever else came in)
    items: pd.DataFrame                 # one row per item: fold, utt_id (index = item number)
    seeds: list[str]
    folds: list[str]

    @classmethod
    def from_frame(cls, pred: pd.DataFrame, items: pd.DataFrame | None = None) -> Stacked:
        """``pred`` needs seed, fold, utt_id, y_true, y_pred. ``items`` fixes the item order (another
        method's, for a paired comparison); by default (fold, utt_id) sorted."""
        pred = pred.assign(seed=pred["seed"].astype(str), fold=pred["fold"].astype(str),
                           utt_id=pred["utt_id"].astype(str))
        if items is None:
            items = pred[["fold", "utt_id"]].drop_duplicates().sort_values(["fold", "utt_id"]).reset_index(drop=True)
        index = pd.MultiIndex.from_frame(items[["fold", "utt_id"]].astype(str))
        item = index.get_indexer(pd.MultiIndex.from_frame(pred[["fold", "utt_id"]]))
        if (item < 0).any():
            raise EmobenchError("predictions hold test utterances outside the common test set")
        frame = pred.assign(item=item)
        seeds = sorted(frame["seed"].unique(), key=natural_key)
        return cls(frame, items.reset_index(drop=True), seeds, sorted(items["fold"].astype(str).unique(),
                                                                      key=natural_key))

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> Stacked:
        """One predictions table (one cell) as a stack of one seed and one fold, items in table order."""
        pred = table.assign(seed="0", fold="0", utt_id=np.arange(len(table)).astype(str))
        return cls.from_frame(pred, items=pred[["fold", "utt_id"]])

    def test_set(self) -> set[tuple[str, str]]:
        return set(zip(self.items["fold"], self.items["utt_id"]))


def class_labels(pred: pd.DataFrame) -> list[str]:
    """The classes predictions are scored on: every class in y_true or y_pred, canonical order first.

    Predicted classes absent from the test set stay in, so that a prediction
    of such a class still counts as an error and scores macro-F1 0, as
    scikit-learn does with its default labels; UA averages the recall of the
    classes present in y_true only (balanced accuracy).
    """
    seen = set(pred["y_true"].astype(str)) | set(pred["y_pred"].astype(str))
    return [e for e in EMOTIONS if e in seen] + sorted(seen - set(EMOTIONS))


# ----------------------------------------------------------------------------- resampling


def draw_counts(n: int, n_boot: int, seed: int, groups: Sequence[str] | None = None) -> np.ndarray:
    """(n_boot, n) draw counts of n items; with ``groups``, whole groups are drawn with replacement.

    Read-only and memoised: every method of a board (and every board of a publish) is resampled with the
    same seed on the same test items, which is what pairs them, and one multinomial draw of a few thousand
    items costs a fraction of a second."""
    key = None if groups is None else tuple(np.asarray(groups, dtype=object).astype(str))
    return _draw_counts(n, n_boot, seed, key)


@functools.lru_cache(maxsize=8)
def _draw_counts(n: int, n_boot: int, seed: int, groups: tuple[str, ...] | None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if groups is None:
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    else:
        codes, inverse = np.unique(np.asarray(groups, dtype=object), return_inverse=True)
        g = len(codes)
        counts = rng.multinomial(g, np.full(g, 1.0 / g), size=n_boot)[:, inverse].astype(np.float64)
    counts.flags.writeable = False
    return counts


def resample_weights(items: pd.DataFrame, n: int, seed: int, aggregate: Aggregate | str = "pooled",
                     groups: Sequence[str] | None = None) -> np.ndarray:
    """(n, n_items) bootstrap draw counts over the test items of a :class:`Stacked`.

    ``pooled``: items drawn with replacement from all folds together (the
    pooled predictions are one test set); ``fold_mean``: drawn within each
    fold, so that every fold keeps its size and a per-fold metric exists in
    every resample. ``groups`` (one per item, e.g. speakers): a cluster
    bootstrap (pooled only). The same ``seed`` on the same items gives the same
    draws, which is what pairs two methods (or two imbalance ratios with the
    same test set).
    """
    if aggregate == "pooled":
        return draw_counts(len(items), n, seed, groups)
    if groups is not None:
        raise ValueError("a cluster (speaker) bootstrap is implemented for pooled folds only")
    weights = np.zeros((n, len(items)))
    for i, (_, idx) in enumerate(sorted(items.groupby("fold").indices.items())):
        weights[:, idx] = draw_counts(len(idx), n, int(np.random.default_rng([seed, i]).integers(2**31)))
    return weights


def weighted_confusions(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str],
                        weights: np.ndarray) -> np.ndarray:
    """(B, k, k) confusion matrices of B weightings of the same predictions (rows: true class)."""
    index = {c: i for i, c in enumerate(labels)}
    k = len(labels)
    t = np.array([index.get(v, -1) for v in y_true])
    p = np.array([index.get(v, -1) for v in y_pred])
    keep = (t >= 0) & (p >= 0)
    onehot = np.zeros((len(t), k * k))
    onehot[np.flatnonzero(keep), t[keep] * k + p[keep]] = 1.0
    return (weights @ onehot).reshape(-1, k, k)


def confusions(stacked: Stacked, labels: list[str], weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted confusion counts, shape (W, seeds, folds, K, K); no weights = the observed counts (W = 1)."""
    frame = stacked.frame
    unknown = set(frame["y_true"].astype(str)) - set(labels) | set(frame["y_pred"].astype(str)) - set(labels)
    if unknown:   # weighted_confusions would drop those rows silently
        raise EmobenchError(f"predictions hold class(es) {sorted(unknown)} outside the scored labels {labels}")
    weights = np.ones((1, len(stacked.items))) if weights is None else weights
    k = len(labels)
    out = np.zeros((weights.shape[0], len(stacked.seeds), len(stacked.folds), k, k))
    seed_pos = {s: i for i, s in enumerate(stacked.seeds)}
    fold_pos = {f: i for i, f in enumerate(stacked.folds)}
    items = frame["item"].to_numpy()
    y_true, y_pred = frame["y_true"].astype(str).to_numpy(), frame["y_pred"].astype(str).to_numpy()
    for (seed, fold), idx in frame.groupby(["seed", "fold"]).indices.items():
        out[:, seed_pos[seed], fold_pos[fold]] = weighted_confusions(y_true[idx], y_pred[idx], labels,
                                                                     weights[:, items[idx]])
    return out


# ----------------------------------------------------------------------------- scores


def scores_from_confusion(cm: np.ndarray, labels: list[str]) -> dict[str, np.ndarray]:
    """Every confusion metric of the registry (UA, WA, macro-F1, minority recall, ...) and ``recall.<class>``
    from (..., K, K) counts."""
    with nan_quiet():
        return confusion_scores(cm, labels)


def seed_means(stacked: Stacked, labels: list[str], aggregate: Aggregate | str,
               weights: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(seed mean, per-seed values) of every metric; arrays have a leading resample axis."""
    cm = confusions(stacked, labels, weights)                 # (W, S, F, K, K)
    with nan_quiet():
        if aggregate == "pooled":
            per_seed = scores_from_confusion(cm.sum(2), labels)   # (W, S)
        else:
            per_seed = {k: np.nanmean(v, -1) for k, v in scores_from_confusion(cm, labels).items()}
        return {k: np.nanmean(v, -1) for k, v in per_seed.items()}, per_seed


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap ``values`` (NaN resamples left out; NaN, NaN if none is finite)."""
    values = np.asarray(values, dtype=float)
    if not np.isfinite(values).any():
        return float("nan"), float("nan")
    alpha = round(100 * (1 - level) / 2, 10)   # 2.5, not 2.5000000000000022, for level 0.95
    return float(np.nanpercentile(values, alpha)), float(np.nanpercentile(values, 100 - alpha))


@dataclass
class Scored:
    """A method's seed-mean metrics, their spread over seeds and bootstrap CIs."""

    value: dict[str, float]
    sd: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]
    boot: dict[str, np.ndarray]         # seed mean per resample (paired tests reuse it)
    per_seed: dict[str, np.ndarray]     # point value per seed


def score_stacked(stacked: Stacked, labels: list[str], aggregate: Aggregate | str, weights: np.ndarray) -> Scored:
    """Seed means, sd over seeds and the 95% CI of the seed mean under the resamples ``weights``."""
    point, per_seed = seed_means(stacked, labels, aggregate)
    boot, _ = seed_means(stacked, labels, aggregate, weights)
    with nan_quiet():
        sd = {k: float(np.nanstd(v[0], ddof=1)) if v.shape[-1] > 1 else float("nan") for k, v in per_seed.items()}
    ci = {k: percentile_ci(v) for k, v in boot.items()}
    return Scored({k: float(v[0]) for k, v in point.items()}, sd, {k: c[0] for k, c in ci.items()},
                  {k: c[1] for k, c in ci.items()}, boot, {k: v[0] for k, v in per_seed.items()})


def bootstrap_ci(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str], *, metric: str = "ua",
                 unit: Unit = "utterance", speakers: Sequence[str] | None = None, n_boot: int = 1000,
                 seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``metric`` of one predictions table over ``n_boot`` resamples of its
    utterances (``unit="speaker"``: of its speakers)."""
    if unit == "speaker" and speakers is None:
        raise ValueError("a speaker bootstrap needs the speakers of the predictions")
    stacked = Stacked.from_table(pd.DataFrame({"y_true": list(y_true), "y_pred": list(y_pred)}))
    weights = draw_counts(len(stacked.items), n_boot, seed, speakers if unit == "speaker" else None)
    boot, _ = seed_means(stacked, list(labels), "pooled", weights)
    if metric not in boot:
        raise EmobenchError(f"unknown metric {metric!r}; known: {', '.join(sorted(boot))}")
    # The same percentile interval as percentile_ci, computed as the runner always has (one quantile call),
    # so that logged cell CIs keep their last digit.
    alpha = (1 - level) / 2
    with nan_quiet():
        low, high = np.nanquantile(boot[metric], [alpha, 1 - alpha])
    return float(low), float(high)


# ----------------------------------------------------------------------------- paired comparisons


def paired_bootstrap_p(boot_a: np.ndarray, boot_b: np.ndarray, null: float = 0.0) -> float:
    """Two-sided p-value of "B - A = null" from paired resamples (the same utterances drawn for both).

    The share of resampled differences on the other side of ``null``, doubled,
    with the +1 correction that keeps a finite resample count from claiming
    p = 0.
    """
    diff = np.asarray(boot_b, dtype=float) - np.asarray(boot_a, dtype=float)
    diff = diff[np.isfinite(diff)]
    if diff.size == 0:
        return float("nan")
    tail = min(np.sum(diff <= null), np.sum(diff >= null))
    return float(min(1.0, 2 * (tail + 1) / (diff.size + 1)))


def minimum_detectable_effect(se: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """``(z_{1-alpha/2} + z_{power}) * se``: the smallest true difference a two-sided test at ``alpha``
    detects with probability ``power``, for an estimate with standard error ``se``."""
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * se)


def mcnemar_mdd(n: int, discordance: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Minimum detectable difference in accuracy of two systems scored on the same ``n`` items.

    ``discordance`` is psi, the probability that a pair is discordant (one system right, the other
    wrong); the difference in accuracy equals delta = p10 - p01, with |delta| <= psi. The
    asymptotic McNemar test (two-sided, level ``alpha``) has power ``power`` when (Connor 1987)
    ``sqrt(n) delta = z_{1-alpha/2} sqrt(psi) + z_power sqrt(psi - delta^2)``; squaring gives
    ``(n + b^2) delta^2 - 2 a sqrt(n) delta + a^2 - b^2 psi = 0`` with a = z_{1-alpha/2} sqrt(psi),
    b = z_power, whose larger root is returned. NaN when psi is 0 (two systems that never
    disagree show no difference at any n); ``inf`` when no delta <= psi reaches the power.
    """
    if n < 1:
        raise ValueError(f"mcnemar_mdd: n must be at least 1, got {n}")
    if not 0 <= discordance <= 1:
        raise ValueError(f"mcnemar_mdd: discordance must be in [0, 1], got {discordance}")
    if discordance == 0:
        return float("nan")
    a = norm.ppf(1 - alpha / 2) * math.sqrt(discordance)
    b = norm.ppf(power)
    root_n = math.sqrt(n)
    disc = (a * root_n) ** 2 - (n + b * b) * (a * a - b * b * discordance)
    delta = (a * root_n + math.sqrt(max(disc, 0.0))) / (n + b * b)
    return float(delta) if delta <= discordance + 1e-12 else float("inf")


@dataclass(frozen=True)
class AccuracyPower:
    """What a paired accuracy comparison of two stacked systems can detect."""

    n: int                 # test items (utterances) both systems were scored on
    discordance: float     # share of discordant (seed, item) pairs of the common seeds
    mdd: float             # mcnemar_mdd(n, discordance, alpha, power), as a fraction
    alpha: float
    power: float


def paired_accuracy_mdd(a: Stacked, b: Stacked, alpha: float = 0.05, power: float = 0.8) -> AccuracyPower:
    """:func:`mcnemar_mdd` at the discordance systems ``a`` and ``b`` show on their common test items.

    n is the number of test items (what the board's bootstrap resamples: seeds that hold out
    different utterances add theirs; seeds that share them count them once, so a seed mean over
    such seeds detects at least as small a difference). The discordance is the share of (seed,
    item) pairs of their common seeds on which exactly one of the two is correct.
    """
    seeds = set(a.seeds) & set(b.seeds)
    if not seeds:
        raise EmobenchError("the two systems share no seed, so no paired comparison")
    if a.test_set() != b.test_set():
        raise EmobenchError("the two systems' test utterances differ, so no paired comparison")
    keys = ["seed", "fold", "utt_id"]
    fa = a.frame[a.frame["seed"].isin(seeds)].drop_duplicates(keys)
    fb = b.frame[b.frame["seed"].isin(seeds)].drop_duplicates(keys)
    both = fa.merge(fb, on=keys, suffixes=("_a", "_b"))
    if both.empty:
        raise EmobenchError("the two systems share no scored (seed, utterance), so no paired comparison")
    ok_a = both["y_pred_a"].astype(str) == both["y_true_a"].astype(str)
    ok_b = both["y_pred_b"].astype(str) == both["y_true_b"].astype(str)
    psi = float(np.mean(ok_a.to_numpy() != ok_b.to_numpy()))
    n = len(a.items)
    return AccuracyPower(n, psi, mcnemar_mdd(n, psi, alpha, power), alpha, power)


@dataclass(frozen=True)
class PairedDifference:
    """B - A on the same test items: the point difference, its bootstrap CI, SE and p."""

    diff: float
    low: float
    high: float
    se: float            # sd of the resampled differences
    p: float             # two-sided paired bootstrap p of "B - A = null"
    null: float = 0.0

    def mde(self, alpha: float = 0.05, power: float = 0.8) -> float:
        return minimum_detectable_effect(self.se, alpha, power)


def paired_difference(point_a: float, point_b: float, boot_a: np.ndarray, boot_b: np.ndarray, *,
                      null: float = 0.0, level: float = 0.95) -> PairedDifference:
    """B - A from two point values and their paired resamples (the same draws for both)."""
    diff = np.asarray(boot_b, dtype=float) - np.asarray(boot_a, dtype=float)
    finite = diff[np.isfinite(diff)]
    low, high = percentile_ci(finite, level)
    se = float(np.std(finite, ddof=1)) if finite.size > 1 else float("nan")
    return PairedDifference(float(point_b - point_a), low, high, se, paired_bootstrap_p(boot_a, boot_b, null), null)


def compare_scored(a: Scored, b: Scored, metric: str, *, null: float = 0.0) -> PairedDifference:
    """B - A of one metric of two :class:`Scored` computed under the same resample weights."""
    return paired_difference(a.value[metric], b.value[metric], a.boot[metric], b.boot[metric], null=null)


@dataclass(frozen=True)
class SeedDifference:
    """B - A of per-seed values of two independently trained sets of seeds: Welch's t interval and test."""

    diff: float          # mean(B) - mean(A)
    low: float
    high: float
    se: float            # standard error of the difference of the two means (unequal variances)
    p: float             # two-sided p of "B - A = 0"
    df: float            # Welch-Satterthwaite degrees of freedom
    n_a: int
    n_b: int

    def mde(self, alpha: float = 0.05, power: float = 0.8) -> float:
        return minimum_detectable_effect(self.se, alpha, power)


def seed_difference(values_a: Sequence[float], values_b: Sequence[float], level: float = 0.95) -> SeedDifference:
    """B - A from one value per training seed on each side (statsmodels' Welch t).

    The resamples of :func:`paired_difference` draw test items, so they see which utterances were tested but
    not how much a retrained network moves; when the two sides' seeds are unrelated (two versions of a
    method, whose random streams differ), the spread over seeds is this test's unit. At least two seeds a
    side, else ``ValueError``."""
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    a = np.asarray(values_a, dtype=float)
    b = np.asarray(values_b, dtype=float)
    if a.size < 2 or b.size < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError(f"a seed-level difference needs at least 2 finite values a side, got {a.size} and {b.size}")
    compare = CompareMeans(DescrStatsW(b), DescrStatsW(a))
    _, p, df = compare.ttest_ind(usevar="unequal")
    low, high = compare.tconfint_diff(alpha=1 - level, usevar="unequal")
    return SeedDifference(float(b.mean() - a.mean()), float(low), float(high),
                          float(compare.std_meandiff_separatevar), float(p), float(df), int(a.size), int(b.size))


@dataclass
class PairedScores:
    """Two methods scored on the same test items under one shared resampling."""

    a: Scored
    b: Scored
    stacked_a: Stacked
    stacked_b: Stacked
    labels: list[str]

    @property
    def n_items(self) -> int:
        return len(self.stacked_a.items)

    @property
    def seeds(self) -> list[str]:
        return self.stacked_a.seeds

    def difference(self, metric: str, null: float = 0.0) -> PairedDifference:
        """B - A of ``metric``."""
        return compare_scored(self.a, self.b, metric, null=null)


def score_paired(pred_a: pd.DataFrame, pred_b: pd.DataFrame, *, n_boot: int, seed: int,
                 aggregate: Aggregate | str = "pooled", by_speaker: bool = False) -> PairedScores:
    """Score two methods' stacked predictions (seed, fold, utt_id, y_true, y_pred[, speaker]) on their
    common seeds with the same resamples of the same test items.

    The two must hold the same test items with the same labels, else an :class:`EmobenchError` says
    why. ``by_speaker``: resample speakers (the ``speaker`` column), not utterances."""
    seeds = sorted(set(pred_a["seed"].astype(str)) & set(pred_b["seed"].astype(str)), key=natural_key)
    if not seeds:
        raise EmobenchError("the two methods share no seed")
    pred_a = pred_a[pred_a["seed"].astype(str).isin(seeds)]
    pred_b = pred_b[pred_b["seed"].astype(str).isin(seeds)]
    a = Stacked.from_frame(pred_a)
    try:
        b = Stacked.from_frame(pred_b, items=a.items)
    except EmobenchError:
        raise EmobenchError("the two methods' test utterances differ, so no paired test") from None
    if len(set(b.frame["item"])) != len(a.items):
        raise EmobenchError("the two methods' test utterances differ, so no paired test")
    truth_a = a.frame.drop_duplicates("item").set_index("item")["y_true"].astype(str).sort_index()
    truth_b = b.frame.drop_duplicates("item").set_index("item")["y_true"].astype(str).sort_index()
    if not truth_a.equals(truth_b):
        raise EmobenchError("the two methods' test labels differ")
    groups = None
    if by_speaker:
        groups = a.frame.drop_duplicates("item").set_index("item")["speaker"].reindex(range(len(a.items)))
        groups = groups.astype(str).to_numpy()
    weights = resample_weights(a.items, n_boot, seed, aggregate, groups)
    labels = class_labels(pd.concat([a.frame, b.frame], ignore_index=True))
    return PairedScores(score_stacked(a, labels, aggregate, weights), score_stacked(b, labels, aggregate, weights),
                        a, b, labels)


def mcnemar(y_true: Sequence[str], pred_a: Sequence[str], pred_b: Sequence[str]) -> dict[str, float | str]:
    """McNemar's test on per-utterance correctness: statsmodels' exact (binomial) test, at any count."""
    from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

    truth = np.asarray(y_true, dtype=object)
    a_ok = np.asarray(pred_a, dtype=object) == truth
    b_ok = np.asarray(pred_b, dtype=object) == truth
    n01 = int(np.sum(a_ok & ~b_ok))  # only a right
    n10 = int(np.sum(~a_ok & b_ok))  # only b right
    table = [[int(np.sum(a_ok & b_ok)), n01], [n10, int(np.sum(~a_ok & ~b_ok))]]
    result = sm_mcnemar(table, exact=True)
    p = 1.0 if n01 + n10 == 0 else float(result.pvalue)
    return {"test": "McNemar (exact binomial, statsmodels)", "n01": n01, "n10": n10,
            "statistic": float(min(n01, n10)), "p": p}


def mcnemar_seeds(a: Stacked, b: Stacked) -> float:
    """:func:`mcnemar` per seed both methods ran, on their common test items; the largest p-value
    (conservative: significant only if every seed is)."""
    ps = []
    for seed in sorted(set(a.seeds) & set(b.seeds), key=natural_key):
        fa = a.frame[a.frame["seed"] == seed].set_index("item")
        fb = b.frame[b.frame["seed"] == seed].set_index("item")
        common = fa.index.intersection(fb.index)
        ps.append(mcnemar(fa.loc[common, "y_true"].astype(str).to_numpy(),
                          fa.loc[common, "y_pred"].astype(str).to_numpy(),
                          fb.loc[common, "y_pred"].astype(str).to_numpy())["p"])
    return float(max(ps)) if ps else float("nan")


# ----------------------------------------------------------------------------- one cell


def score_predictions(table: pd.DataFrame, labels: Sequence[str], *, n_bootstrap: int = 1000,
                      seed: int = 0) -> dict[str, float]:
    """A cell's scores: UA, WA, macro-F1, per-class recall, and 95% bootstrap CIs of UA over utterances
    (``ua_ci_*``) and over speakers (``ua_spk_ci_*``, when the table has more than one speaker)."""
    from benchmark.metrics.ser import ser_scores

    scores = ser_scores(table["y_true"], table["y_pred"], labels)
    if n_bootstrap:
        low, high = bootstrap_ci(table["y_true"], table["y_pred"], labels, n_boot=n_bootstrap, seed=seed)
        scores.update({"ua_ci_low": low, "ua_ci_high": high})
        if "speaker" in table and table["speaker"].nunique() > 1:
            low, high = bootstrap_ci(table["y_true"], table["y_pred"], labels, unit="speaker",
                                     speakers=table["speaker"], n_boot=n_bootstrap, seed=seed)
            scores.update({"ua_spk_ci_low": low, "ua_spk_ci_high": high})
    return scores
