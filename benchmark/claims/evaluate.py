"""Evaluating a claim on a suite's finished cells, with the leaderboards' paired statistics.

A claim expands into comparisons, one per (method, baseline, metric). Each
comparison is an effect ``method - baseline`` on the same test utterances:

* **prediction metrics** (UA, minority recall, recall.<class>, ...): per seed
  the metric over the pooled predictions of the folds (or the fold mean), the
  mean over the seeds both methods ran; the 95% CI and p come from the paired
  bootstrap of :mod:`benchmark.metrics.stacked` (one resampling of the test
  utterances applied to both methods and every seed), exactly as a leaderboard
  tests a method against its leader;
* **trend** claims (``trend: ratio``): the effect is the least-squares slope of
  the per-level difference over log2 of the level (points per doubling of the
  imbalance ratio); every level is resampled with the same seed, so levels
  sharing their test set (the imbalance protocol) share their draws;
* **speaker_probe_acc**: the speaker probe's per-utterance predictions on its
  test half (benchmark.metrics.probe), scored and resampled like predictions;
* **mmd / bhattacharyya**: per cell the mean over language pairs of the
  distance between per-language test embeddings (z-scored), resampled within
  each language with the same draws for both methods; mean over cells.

Verdict of a comparison against the claim's boundary (``margin``, signed by the
direction), with the (1 - alpha) CI of the effect: *supported* when the CI
lies entirely on the claimed side, *contradicted* when it lies entirely on the
other side, *inconclusive* otherwise, or when the data is missing (the reason
names what is missing). ``within`` needs the CI inside [-margin, margin]
(contradicted: entirely outside). p is the paired bootstrap p of "effect =
boundary" (``within``: the larger of the two). The minimum detectable effect is
``(z_{1-alpha/2} + z_power) * SE``, SE the sd of the resampled effects.

A claim with ``require: all`` is supported when every comparison is,
contradicted when any is; ``any``: supported when one is, contradicted when all
are. Its headline is the comparison that decides it (for ``all`` the one whose
CI clears the boundary by the least).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from benchmark import leaderboard as lb
from benchmark import results
from benchmark.claims.spec import ClaimSpec, in_points, metric_kind
from benchmark.errors import EmobenchError
from benchmark.metrics import stacked as st
from benchmark.metrics.distances import LatentDistance, language_distance_boot
from benchmark.metrics.probe import speaker_probe_predictions

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"


class MissingData(Exception):
    """A comparison cannot be computed from the store: the message says what is missing."""


@dataclass
class Comparison:
    """One effect ``method - baseline`` of one metric (native units: fractions for rates)."""

    method: str
    baseline: str
    metric: str
    verdict: str = INCONCLUSIVE
    effect: float = float("nan")
    low: float = float("nan")
    high: float = float("nan")
    se: float = float("nan")
    p: float = float("nan")
    mde: float = float("nan")
    method_value: float = float("nan")     # the two sides (not for trends)
    baseline_value: float = float("nan")
    n_test: int = 0
    seeds: int = 0
    cells: int = 0
    split: str = ""                        # SI / SD / SI/SD: are the test speakers unseen in training?
    reason: str = ""                       # why it is inconclusive for lack of data

    @property
    def computed(self) -> bool:
        return not self.reason


@dataclass
class ClaimResult:
    claim: ClaimSpec
    verdict: str
    comparisons: list[Comparison]
    headline: Comparison | None
    notes: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """One flat record (CSV, snapshots, compare)."""
        h = self.headline or Comparison("", "", self.claim.metrics[0])
        return {"claim": self.claim.id, "paper": self.claim.paper, "statement": self.claim.statement,
                "verdict": self.verdict, "method": h.method, "baseline": h.baseline, "metric": h.metric,
                "trend": self.claim.trend or "", "direction": self.claim.direction, "margin": self.claim.margin,
                "effect": h.effect, "ci_low": h.low, "ci_high": h.high, "p": h.p, "mde": h.mde, "se": h.se,
                "method_value": h.method_value, "baseline_value": h.baseline_value, "n_test": h.n_test,
                "seeds": h.seeds, "protocol": self.claim.protocol, "comparisons": len(self.comparisons),
                "supported": sum(c.verdict == SUPPORTED for c in self.comparisons),
                "contradicted": sum(c.verdict == CONTRADICTED for c in self.comparisons),
                "missing": "; ".join(dict.fromkeys(c.reason for c in self.comparisons if c.reason))}


# ----------------------------------------------------------------------------- cells


def _where(claim: ClaimSpec) -> str:
    where = f"protocol {claim.protocol!r}" + (f", corpus {claim.corpus!r}" if claim.corpus else "")
    if claim.select.meta:
        where += ", " + ", ".join(f"{k} {v}" for k, v in claim.select.meta.items())
    return where


def claim_cells(claim: ClaimSpec, cells: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The cells a claim reads (protocol, corpus, ``select``; seeds covering every fold) and notes."""
    if cells.empty or "protocol" not in cells.columns:
        return cells.iloc[0:0], []
    definition = lb.LeaderboardDef(name=f"claim {claim.id}", suite="-", protocol=claim.protocol,
                                   corpus=claim.corpus, select=claim.select)
    chosen = cells[cells["protocol"].astype(str) == claim.protocol]
    if chosen.empty:
        return chosen, []
    try:
        chosen = lb.select_cells(chosen, definition)
    except EmobenchError as exc:
        raise MissingData(str(exc)) from None
    if chosen.empty:
        return chosen, []
    if claim.trend:   # each level of the trend is its own protocol instance: complete seeds per level
        parts, notes = [], []
        column = f"meta.{claim.trend}"
        if column not in chosen.columns:
            raise MissingData(f"no cell of {_where(claim)} carries {column} (the trend's levels)")
        for _, group in chosen.groupby(column):
            kept, n = lb.complete_seeds(group)
            parts.append(kept)
            notes += n
        return pd.concat(parts) if parts else chosen.iloc[0:0], notes
    return lb.complete_seeds(chosen)


def _pick(options: list[str], methods: set[str]) -> str | None:
    return next((m for m in options if m in methods), None)


def _matched(cells: pd.DataFrame, method: str, baseline: str, extra: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two methods' cells on the (corpus, fold, seed[, level]) both ran, in the same order."""
    key = ["corpus", "fold", "seed", *extra]
    a = cells[cells["method"].astype(str) == method]
    b = cells[cells["method"].astype(str) == baseline]
    common = set(map(tuple, a[key].astype(str).to_numpy())) & set(map(tuple, b[key].astype(str).to_numpy()))
    if not common:
        raise MissingData(f"{method} and {baseline} share no (fold, seed) cell")
    keep = lambda df: df[[tuple(r) in common for r in df[key].astype(str).to_numpy()]].sort_values(key)  # noqa: E731
    return keep(a), keep(b)


# ----------------------------------------------------------------------------- effects


def _stack(cells: pd.DataFrame, uri: str) -> pd.DataFrame:
    frames = []
    for row in cells.to_dict("records"):
        pred = results.load_predictions(row["run_id"], uri)
        speaker = pred["speaker"] if "speaker" in pred.columns else ""
        frames.append(pd.DataFrame({"utt_id": pred["utt_id"].astype(str), "y_true": pred["y_true"].astype(str),
                                    "y_pred": pred["y_pred"].astype(str), "speaker": speaker,
                                    "seed": str(row["seed"]), "fold": str(row["fold"])}))
    return pd.concat(frames, ignore_index=True)


def _paired_scores(pa: pd.DataFrame, pb: pd.DataFrame, metric: str, claim: ClaimSpec, what: str
                   ) -> tuple[float, float, np.ndarray, np.ndarray, int, int]:
    """(point a, point b, boot a, boot b, test items, seeds) of ``metric`` under one shared resampling."""
    try:
        scores = st.score_paired(pa, pb, n_boot=claim.n_bootstrap, seed=claim.seed,
                                 aggregate=claim.aggregation.folds,
                                 by_speaker=claim.aggregation.resample == "speaker")
    except EmobenchError as exc:
        raise MissingData(f"{what}: {exc}") from None
    sa, sb = scores.a, scores.b
    if metric not in sa.value:
        raise MissingData(f"{what}: {metric} names a class absent from the test set (classes: "
                          f"{', '.join(scores.labels)})")
    return sa.value[metric], sb.value[metric], sa.boot[metric], sb.boot[metric], scores.n_items, len(scores.seeds)


@lru_cache(maxsize=2048)
def _probe_half(run_id: str, seed: int, uri: str) -> pd.DataFrame | None:
    emb = results.load_embeddings(run_id, uri)
    if emb is None:
        return None
    half = speaker_probe_predictions(emb["Z"], np.asarray(emb["speakers"]), seed=seed)
    return half.assign(utt_id=np.asarray(emb["utt_ids"]).astype(str)[half["row"].to_numpy()])


def _probe_stack(cells: pd.DataFrame, uri: str) -> pd.DataFrame:
    frames = []
    for row in cells.to_dict("records"):
        half = _probe_half(row["run_id"], int(row["seed"]), uri)
        if half is None:
            raise MissingData(f"{row['method']}: cell {row['fold']}/seed {row['seed']} logged no test embeddings "
                              "(set keep_embeddings on the protocol)")
        frames.append(half[["utt_id", "y_true", "y_pred"]].assign(speaker=half["y_true"], seed=str(row["seed"]),
                                                                  fold=str(row["fold"])))
    return pd.concat(frames, ignore_index=True)


def _distance_effect(ca: pd.DataFrame, cb: pd.DataFrame, metric: LatentDistance, claim: ClaimSpec, uri: str
                     ) -> tuple[float, float, np.ndarray, np.ndarray, int, int]:
    points_a, points_b, boots_a, boots_b, n = [], [], [], [], 0
    for ra, rb in zip(ca.to_dict("records"), cb.to_dict("records")):
        ea, eb = results.load_embeddings(ra["run_id"], uri), results.load_embeddings(rb["run_id"], uri)
        for r, e in ((ra, ea), (rb, eb)):
            if e is None:
                raise MissingData(f"{r['method']}: cell {r['fold']}/seed {r['seed']} logged no test embeddings "
                                  "(set keep_embeddings on the protocol)")
        assert ea is not None and eb is not None   # checked just above
        ids_a, ids_b = np.asarray(ea["utt_ids"]).astype(str), np.asarray(eb["utt_ids"]).astype(str)
        if set(ids_a) != set(ids_b):
            raise MissingData(f"{ra['method']} and {rb['method']}: cell {ra['fold']}/seed {ra['seed']} embeds "
                              "different test utterances")
        order = pd.Index(ids_b).get_indexer(ids_a)   # b in a's utterance order: the same draws for both
        pa, ba, langs = language_distance_boot(ea["Z"], ea["languages"], metric, claim.n_bootstrap, claim.seed)
        pb, bb, _ = language_distance_boot(np.asarray(eb["Z"])[order], ea["languages"], metric, claim.n_bootstrap,
                                           claim.seed)
        if len(langs) < 2:
            raise MissingData(f"{ra['method']}: cell {ra['fold']}/seed {ra['seed']} has fewer than two languages "
                              "with 5 test utterances, so no latent distance between languages")
        points_a.append(pa)
        points_b.append(pb)
        boots_a.append(ba)
        boots_b.append(bb)
        n = max(n, len(ids_a))
    seeds = len(set(ca["seed"].astype(str)))
    return (float(np.mean(points_a)), float(np.mean(points_b)), np.mean(boots_a, 0), np.mean(boots_b, 0), n, seeds)


def _effect(cells: pd.DataFrame, method: str, baseline: str, metric: str, claim: ClaimSpec, uri: str,
            level: str | None = None) -> tuple[float, float, np.ndarray, np.ndarray, int, int, int]:
    """(point method, point baseline, boot method, boot baseline, n_test, seeds, cells) of one comparison."""
    ca, cb = _matched(cells, method, baseline, [level] if level else [])
    what = f"{method} vs {baseline}"
    kind = metric_kind(metric)
    if kind == "distance":
        distance: LatentDistance = "mmd" if metric == "mmd" else "bhattacharyya"   # metric_kind checked the name
        return (*_distance_effect(ca, cb, distance, claim, uri), len(ca))
    if kind == "probe":
        pa, pb, metric = _probe_stack(ca, uri), _probe_stack(cb, uri), "wa"   # probe accuracy = its WA
    else:
        pa, pb = _stack(ca, uri), _stack(cb, uri)
    return (*_paired_scores(pa, pb, metric, claim, what), len(ca))


def _trend_effect(cells: pd.DataFrame, method: str, baseline: str, metric: str, claim: ClaimSpec, uri: str
                  ) -> tuple[float, np.ndarray, int, int, int]:
    """(slope, resampled slopes, n_test, seeds, cells): the slope of (method - baseline) over log2(level)."""
    column = f"meta.{claim.trend}"
    levels, diffs, boots, n, seeds, count = [], [], [], 0, 0, 0
    for level, group in sorted(cells.groupby(column), key=lambda kv: float(kv[0])):
        if not {method, baseline} <= set(group["method"].astype(str)):
            continue
        try:
            va, vb, ba, bb, n_test, s, c = _effect(group, method, baseline, metric, claim, uri)
        except MissingData:
            continue
        levels.append(float(level))
        diffs.append(va - vb)
        boots.append(ba - bb)
        n, seeds, count = max(n, n_test), max(seeds, s), count + c
    if len(levels) < 2:
        raise MissingData(f"{method} vs {baseline}: a trend over {claim.trend} needs at least two levels both ran "
                          f"(found {', '.join(f'{v:g}' for v in levels) or 'none'})")
    if min(levels) <= 0:
        raise MissingData(f"trend over {claim.trend}: levels must be positive for log2 (got {levels})")
    x = np.log2(levels)
    x = (x - x.mean()) / np.sum((x - x.mean()) ** 2)           # slope = x . d
    return float(x @ np.array(diffs)), x @ np.vstack(boots), n, seeds, count


# ----------------------------------------------------------------------------- verdicts


def _boundaries(claim: ClaimSpec, metric: str) -> tuple[float, ...]:
    m = claim.margin_native(metric)
    return {"greater": (m,), "not_greater": (m,), "less": (-m,), "not_less": (-m,), "within": (-m, m)}[
        claim.direction]


def decide(direction: str, low: float, high: float, bounds: tuple[float, ...]) -> str:
    """supported / contradicted / inconclusive from the CI of the effect and the claim's boundary."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return INCONCLUSIVE
    if direction == "within":
        lo, hi = bounds
        if low > lo and high < hi:
            return SUPPORTED
        return CONTRADICTED if low > hi or high < lo else INCONCLUSIVE
    (b,) = bounds
    above = direction in ("greater", "not_less")
    if (low > b) if above else (high < b):
        return SUPPORTED
    if (high < b) if above else (low > b):
        return CONTRADICTED
    return INCONCLUSIVE


def clearance(claim: ClaimSpec, c: Comparison) -> float:
    """How far the CI clears the boundary on the claimed side (negative: it does not)."""
    bounds = _boundaries(claim, c.metric)
    if not c.computed or not np.isfinite(c.low):
        return -np.inf
    if claim.direction == "within":
        return min(c.low - bounds[0], bounds[1] - c.high)
    return c.low - bounds[0] if claim.direction in ("greater", "not_less") else bounds[0] - c.high


def _fill(c: Comparison, claim: ClaimSpec, point: float, boot: np.ndarray) -> Comparison:
    bounds = _boundaries(claim, c.metric)
    zeros = np.zeros_like(boot)
    level = 1 - claim.alpha
    diffs = [st.paired_difference(0.0, point, zeros, boot, null=b, level=level) for b in bounds]
    c.effect, c.low, c.high, c.se = diffs[0].diff, diffs[0].low, diffs[0].high, diffs[0].se
    c.p = max(d.p for d in diffs)
    c.mde = st.minimum_detectable_effect(c.se, claim.alpha, claim.power)
    c.verdict = decide(claim.direction, c.low, c.high, bounds)
    return c


def split_flag(cells: pd.DataFrame) -> str:
    """SI when every cell's test speakers are unseen in training, SD when none are, else SI/SD."""
    seen = set(cells["speaker_independent"].astype(str).str.lower()) if "speaker_independent" in cells else set()
    return "SI" if seen == {"true"} else "SD" if seen == {"false"} else "SI/SD"


def compare_one(claim: ClaimSpec, cells: pd.DataFrame, method: str, baseline: str, metric: str,
                uri: str) -> Comparison:
    c = Comparison(method, baseline, metric)
    c.split = split_flag(cells[cells["method"].astype(str).isin([method, baseline])])
    try:
        if claim.trend:
            slope, boot, c.n_test, c.seeds, c.cells = _trend_effect(cells, method, baseline, metric, claim, uri)
            return _fill(c, claim, slope, boot)
        va, vb, ba, bb, c.n_test, c.seeds, c.cells = _effect(cells, method, baseline, metric, claim, uri)
    except MissingData as exc:
        c.reason = str(exc)
        return c
    c.method_value, c.baseline_value = va, vb
    return _fill(c, claim, va - vb, ba - bb)


def combine(claim: ClaimSpec, comparisons: list[Comparison]) -> tuple[str, Comparison | None]:
    verdicts = [c.verdict for c in comparisons]
    if claim.require == "all":
        verdict = (CONTRADICTED if CONTRADICTED in verdicts else
                   SUPPORTED if verdicts and all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE)
    else:
        verdict = (SUPPORTED if SUPPORTED in verdicts else
                   CONTRADICTED if verdicts and all(v == CONTRADICTED for v in verdicts) else INCONCLUSIVE)
    deciding = [c for c in comparisons if c.verdict == verdict and c.computed] or \
        [c for c in comparisons if c.computed]
    if not deciding:
        return verdict, None
    pick = min if (claim.require == "all") == (verdict != CONTRADICTED) else max
    return verdict, pick(deciding, key=lambda c: clearance(claim, c))


def evaluate_claim(claim: ClaimSpec, cells: pd.DataFrame, tracking_uri: str) -> ClaimResult:
    """The claim's verdict on ``cells`` (a suite's finished cells, from ``benchmark.results``)."""
    try:
        chosen, notes = claim_cells(claim, cells)
    except MissingData as exc:
        comparisons = [Comparison(m, "", metric, reason=str(exc)) for m in claim.methods for metric in claim.metrics]
        return ClaimResult(claim, INCONCLUSIVE, comparisons, None)
    present = set(chosen["method"].astype(str)) if not chosen.empty else set()
    comparisons = []
    for method in claim.methods:
        for options in claim.baseline_options():
            baseline = _pick(options, present)
            for metric in claim.metrics:
                missing = [method] if method not in present else []
                if baseline is None:
                    missing.append(" or ".join(options))
                if missing:
                    comparisons.append(Comparison(method, baseline or " | ".join(options), metric,
                                                  reason=f"no finished cells of {' and '.join(missing)} on "
                                                         f"{_where(claim)}"))
                    continue
                assert baseline is not None   # a missing baseline was reported above
                comparisons.append(compare_one(claim, chosen, method, baseline, metric, tracking_uri))
    verdict, headline = combine(claim, comparisons)
    return ClaimResult(claim, verdict, comparisons, headline, notes)


def evaluate_claims(cells: pd.DataFrame, tracking_uri: str, claims: list[ClaimSpec] | None = None,
                    progress: bool = False) -> list[ClaimResult]:
    """Every claim (default: the shipped ones) on ``cells``."""
    from tqdm.auto import tqdm

    from benchmark.claims.spec import load_claims

    claims = load_claims() if claims is None else claims
    return [evaluate_claim(c, cells, tracking_uri) for c in tqdm(claims, desc="claims", unit="claim",
                                                                 disable=not progress)]


def display_value(metric: str, value: float, signed: bool = False) -> str:
    """An effect or a value as shown: points for rates, 3 significant decimals for distances."""
    if value is None or not np.isfinite(value):
        return "–"
    if in_points(metric):
        return f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"
    return f"{value:+.3f}" if signed else f"{value:.3f}"
