"""The regression gate: ``emobench compare BASELINE CANDIDATE``.

Both sides are read from MLflow and every number is recomputed from the
cells' predictions tables. A side is

* a suite execution (parent run id): every cell that execution stood on
  (``benchmark.results.load_run_cells``);
* ``suite:<name>``: the latest finished cells of a suite in the store (what a
  CI job that just ran the suite wants, without looking up a run id);
* a cell run id, or a registered model version ``models:/<name>/<version>``
  (``models:/<name>@<alias>``), whose source run is a cell;
* a leaderboard snapshot (its directory, or its ``leaderboard.csv``): the run
  ids it lists, read from its tracking URI. When those runs cannot be read
  (the store is elsewhere), only the snapshot's aggregate numbers are left:
  they are compared with the other side's, threshold only, and the verdict
  says that no paired test was possible.

Cells are matched on (corpus, protocol, fold, method, seed); two single cells
are matched directly (e.g. two versions of one model). Matched cells must
have the same test utterances with the same labels, else it is an error
naming the cells. Per (corpus, protocol, method) the predictions of all
matched folds of a seed are pooled, each metric is the mean over seeds, and
the candidate - baseline difference gets a paired test on the same test
utterances (paired bootstrap: one resampling of the utterances, within each
fold, applied to both sides and every seed; or exact McNemar on
per-utterance correctness per seed, largest p). A *regression* is a drop
larger than the metric's threshold (absolute points, i.e. percentage points)
that is significant at ``alpha``; ``compare`` then exits 1.

Gate config (YAML, every key optional)::

    metrics: {ua: 1.0, macro_f1: 2.0}   # guarded metrics -> max allowed drop in points
    alpha: 0.05
    test: paired_bootstrap               # or mcnemar
    n_bootstrap: 2000
    seed: 0
    protocols: [speaker_kfold, unseen_speakers]   # default: every matched protocol
    claims: true                         # also report the papers' claims whose verdict changed

When both sides have readable cells, every shipped claim (``benchmark/claims``)
is evaluated on each side's cells; a claim whose verdict changed between the
baseline and the candidate (e.g. supported -> inconclusive) is listed in the
verdict. A changed claim is reported, not gated: the exit code is the metrics'.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from benchmark import leaderboard as lb
from benchmark import results
from benchmark.metrics import stacked as st
from benchmark.metrics.registry import METRICS
from benchmark.errors import ConfigError, EmobenchError, validate_config
from benchmark.suite import DEFAULT_TRACKING_URI

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


# ----------------------------------------------------------------------------- gate config


class GateConfig(BaseModel):
    """What the gate guards and how strictly."""

    model_config = ConfigDict(extra="forbid")

    metrics: dict[str, float] = Field(default_factory=lambda: {"ua": 1.0})
    alpha: float = Field(0.05, gt=0, lt=1)
    test: Literal["paired_bootstrap", "mcnemar"] = "paired_bootstrap"
    n_bootstrap: int = Field(2000, ge=100)
    seed: int = 0
    protocols: list[str] | None = None
    claims: bool = True

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("guard at least one metric, e.g. {ua: 1.0}")
        bad = [m for m in value if not (lb.is_prediction_metric(m) or lb.is_tts_metric(m))]
        if bad:
            raise ValueError(f"unknown metric(s) {bad}; known: {', '.join(lb.prediction_metrics())}, recall.<class>, "
                             f"and for TTS cells {', '.join(lb.tts_metrics())}")
        undirected = [m for m in value if METRICS.get(m).direction == "neither"]
        if undirected:
            raise ValueError(f"{undirected} cannot be gated: neither higher nor lower is better")
        negative = [m for m, v in value.items() if v < 0]
        if negative:
            raise ValueError(f"max drop must be >= 0 points: {negative}")
        return value


def load_gate(path: str | Path | None) -> GateConfig:
    """The gate config at ``path`` (None: the defaults, UA may drop at most 1 point)."""
    if path is None:
        return GateConfig()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: gate config not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return validate_config(GateConfig, data, str(path), "gate config")


# ----------------------------------------------------------------------------- sides


@dataclass
class Side:
    """One side of a comparison: cells with readable predictions, or only a snapshot's aggregates."""

    spec: str
    tracking_uri: str
    cells: pd.DataFrame | None = None
    snapshot: pd.DataFrame | None = None        # leaderboard rows (aggregates) when no predictions are readable
    definition: lb.LeaderboardDef | None = None  # the snapshot's leaderboard definition
    why_aggregate: str = ""

    @property
    def describe(self) -> str:
        if self.cells is not None:
            what = f"{len(self.cells)} cell run(s)"
            if "params.code_version" in self.cells.columns:
                versions = sorted(self.cells["params.code_version"].dropna().astype(str).unique())
                if versions:
                    what += f", code {', '.join(versions[:3])}{' ...' if len(versions) > 3 else ''}"
            return f"`{self.spec}` ({what}, {self.tracking_uri})"
        return f"`{self.spec}` (leaderboard snapshot, aggregates only: {self.why_aggregate})"


def _read_snapshot(path: Path) -> tuple[pd.DataFrame, lb.LeaderboardDef | None]:
    csv = path / "leaderboard.csv" if path.is_dir() else path
    if not csv.is_file() or csv.suffix != ".csv":
        raise ConfigError(f"{path}: not a leaderboard snapshot (expected a directory with leaderboard.csv, or a CSV)")
    table = pd.read_csv(csv, keep_default_na=False, na_values=[""])
    if {"claim", "verdict"} <= set(table.columns):
        raise ConfigError(f"{csv}: a claims board snapshot lists verdicts, not methods; compare the suite runs "
                          "(the verdict lists the claims whose verdict changed)")
    needed = {"method", "suite", "protocol"}
    if not needed <= set(table.columns):
        raise ConfigError(f"{csv}: not a leaderboard snapshot (missing column(s) "
                          f"{', '.join(sorted(needed - set(table.columns)))})")
    definition = None
    meta = csv.parent / "snapshot.json"
    if meta.is_file():
        definition = lb.LeaderboardDef.model_validate(json.loads(meta.read_text())["definition"])
    return table, definition


def _snapshot_side(spec: str, path: Path, tracking_uri: str | None) -> Side:
    table, definition = _read_snapshot(path)
    if definition is None:   # a bare CSV: rebuild what it says about itself
        first = table.iloc[0]
        definition = lb.LeaderboardDef(name=str(first.get("leaderboard", path.stem)), suite=str(first["suite"]),
                                       protocol=str(first["protocol"]),
                                       corpus=str(first["corpus"]) if str(first.get("corpus", "")) not in ("", "nan")
                                       else None,
                                       aggregate=str(first.get("aggregate", "pooled")),
                                       rank_by=str(first.get("rank_by", "ua")))
    recorded = str(table["tracking_uri"].iloc[0]) if "tracking_uri" in table.columns else None
    uri = tracking_uri or recorded or DEFAULT_TRACKING_URI
    if "run_ids" not in table.columns:
        return Side(spec, uri, snapshot=table, definition=definition,
                    why_aggregate="the snapshot lists no run ids")
    run_ids = [r for ids in table["run_ids"].dropna().astype(str) for r in ids.split()]
    try:
        cells = pd.concat([results.load_run_cells(uri, r) for r in run_ids], ignore_index=True)
    except EmobenchError as exc:
        return Side(spec, uri, snapshot=table, definition=definition,
                    why_aggregate=f"its runs cannot be read ({str(exc).splitlines()[0]})")
    return Side(spec, uri, cells=cells, definition=definition)


def resolve_side(spec: str, tracking_uri: str = DEFAULT_TRACKING_URI) -> Side:
    """A run id, ``suite:<name>``, ``models:/...`` URI or snapshot path -> the cells (or aggregates) it stands for."""
    if spec.startswith("suite:"):
        name = spec.removeprefix("suite:")
        cells = results.load_cells(tracking_uri, name)
        if cells.empty:
            raise EmobenchError(f"{spec}: suite {name!r} has no finished cell runs at {tracking_uri}")
        return Side(spec, tracking_uri, cells=cells)
    if spec.startswith("models:/"):
        run_id = results.resolve_model_version(tracking_uri, spec)
        return Side(spec, tracking_uri, cells=results.load_run_cells(tracking_uri, run_id))
    path = Path(spec)
    if path.exists():
        return _snapshot_side(spec, path, None)
    if RUN_ID.match(spec):
        return Side(spec, tracking_uri, cells=results.load_run_cells(tracking_uri, spec))
    raise ConfigError(f"{spec!r}: expected a run id (32 hex digits), suite:<name>, models:/<name>/<version>, or a "
                      "leaderboard snapshot (directory or leaderboard.csv)")


# ----------------------------------------------------------------------------- matching


@dataclass
class Pair:
    """Matched cells of one (corpus, protocol, method): the unit a verdict line is about."""

    corpus: str
    protocol: str
    method: str                       # "a -> b" when two single cells of different methods are compared
    baseline: pd.DataFrame            # cell rows, one per (fold, seed)
    candidate: pd.DataFrame


def _key(row: pd.Series) -> tuple[str, ...]:
    return tuple(str(row[k]) for k in results.CELL_KEY)


def _cell_name(row: pd.Series) -> str:
    return f"{row['method']}/{row['corpus']}/{row['protocol']}/{row['fold']}/seed{row['seed']} (run {row['run_id']})"


def match_cells(base: pd.DataFrame, cand: pd.DataFrame, protocols: list[str] | None
                ) -> tuple[list[Pair], list[str], list[str]]:
    """Pairs per (corpus, protocol, method), and the cells only one side has."""
    if protocols is not None:
        base = base[base["protocol"].astype(str).isin(protocols)]
        cand = cand[cand["protocol"].astype(str).isin(protocols)]
    if len(base) == 1 and len(cand) == 1:
        b, c = base.iloc[0], cand.iloc[0]
        method = b["method"] if b["method"] == c["method"] else f"{b['method']} -> {c['method']}"
        return [Pair(str(b["corpus"]), str(b["protocol"]), str(method), base, cand)], [], []
    b_keys = {_key(r): i for i, r in base.iterrows()}
    c_keys = {_key(r): i for i, r in cand.iterrows()}
    common = sorted(set(b_keys) & set(c_keys))
    only_b = [_cell_name(base.loc[b_keys[k]]) for k in sorted(set(b_keys) - set(c_keys))]
    only_c = [_cell_name(cand.loc[c_keys[k]]) for k in sorted(set(c_keys) - set(b_keys))]
    groups: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
    for k in common:
        corpus, protocol, _fold, method, _seed = k
        groups.setdefault((corpus, protocol, method), []).append((b_keys[k], c_keys[k]))
    pairs = [Pair(corpus, protocol, method, base.loc[[i for i, _ in idx]], cand.loc[[j for _, j in idx]])
             for (corpus, protocol, method), idx in sorted(groups.items())]
    return pairs, only_b, only_c


def _check_test_sets(pair: Pair, base_pred: pd.DataFrame, cand_pred: pd.DataFrame) -> None:
    """Matched cells must score the same utterances with the same labels."""
    problems = []
    for (_, b), (_, c) in zip(pair.baseline.iterrows(), pair.candidate.iterrows()):
        bp = base_pred[base_pred["run_id"] == b["run_id"]].set_index("utt_id")
        cp = cand_pred[cand_pred["run_id"] == c["run_id"]].set_index("utt_id")
        if set(bp.index) != set(cp.index):
            only_b, only_c = sorted(set(bp.index) - set(cp.index)), sorted(set(cp.index) - set(bp.index))
            problems.append(f"{_cell_name(b)} vs {_cell_name(c)}: test sets differ ({len(only_b)} utterance(s) only "
                            f"in the baseline, e.g. {only_b[:3]}; {len(only_c)} only in the candidate, e.g. "
                            f"{only_c[:3]})")
            continue
        differ = bp["y_true"].astype(str) != cp.loc[bp.index, "y_true"].astype(str)
        if differ.any():
            problems.append(f"{_cell_name(b)} vs {_cell_name(c)}: {int(differ.sum())} utterance(s) carry different "
                            f"labels, e.g. {list(bp.index[differ][:3])}")
    if problems:
        raise EmobenchError("matched cells do not share their test sets, so they cannot be compared:\n  - "
                            + "\n  - ".join(problems))


# ----------------------------------------------------------------------------- verdict


@dataclass
class Verdict:
    """The outcome of a comparison; ``exit_code`` is what ``emobench compare`` exits with."""

    rows: pd.DataFrame                # one row per (corpus, protocol, method, metric)
    markdown: str
    paired: bool
    only_baseline: list[str] = field(default_factory=list)
    only_candidate: list[str] = field(default_factory=list)
    claims: pd.DataFrame | None = None   # per claim: both verdicts and effects, ``changed``

    @property
    def changed_claims(self) -> pd.DataFrame:
        if self.claims is None or self.claims.empty:
            return pd.DataFrame(columns=["claim", "baseline_verdict", "candidate_verdict"])
        return self.claims[self.claims["changed"]]

    @property
    def regressed(self) -> bool:
        return bool((self.rows["status"] == "regressed").any()) if not self.rows.empty else False

    @property
    def exit_code(self) -> int:
        return 1 if self.regressed else 0


def _worsening(metric: str, diff: float) -> float:
    """How much worse the candidate is, in the metric's printed unit (points for percentages): the drop of a
    higher-is-better metric, the rise of a lower-is-better one (WER, MCD)."""
    spec = METRICS.get(metric)
    return -spec.sign * spec.scale * diff


def _status(metric: str, diff: float, p: float, max_drop: float, alpha: float, tested: bool) -> str:
    """regressed: worse beyond the threshold, significant (or untested: aggregates only); improved: a
    significant gain (untested: a gain larger than the threshold); else unchanged."""
    significant = np.isfinite(p) and p < alpha
    worse = _worsening(metric, diff)
    if worse > max_drop and (significant or not tested):
        return "regressed"
    if worse < 0 and (significant if tested else -worse > max_drop):
        return "improved"
    return "unchanged"


def _paired_rows(pair: Pair, gate: GateConfig, base_uri: str, cand_uri: str) -> list[dict]:
    base_pred = lb.stacked_predictions(pair.baseline, base_uri)
    cand_pred = lb.stacked_predictions(pair.candidate, cand_uri)
    _check_test_sets(pair, base_pred, cand_pred)
    if len(pair.baseline) == 1 and len(pair.candidate) == 1:
        # Two single cells: align the candidate's fold/seed on the baseline's (their keys may differ).
        cand_pred = cand_pred.assign(fold=base_pred["fold"].iloc[0], seed=base_pred["seed"].iloc[0])
    base = st.Stacked.from_frame(base_pred)
    cand = st.Stacked.from_frame(cand_pred, items=base.items)
    labels = st.class_labels(pd.concat([base_pred, cand_pred], ignore_index=True))
    weights = st.resample_weights(base.items, gate.n_bootstrap, gate.seed)
    sb = st.score_stacked(base, labels, "pooled", weights)
    sc = st.score_stacked(cand, labels, "pooled", weights)
    tts = [m for m in gate.metrics if lb.is_tts_metric(m)]
    if tts and pair.protocol == lb.TTS_PROTOCOL:   # recomputed from the cells' per-utterance tables, same resamples
        base_utt = lb.tts_utterances(pair.baseline, base_uri)
        cand_utt = lb.tts_utterances(pair.candidate, cand_uri)
        if len(pair.baseline) == 1 and len(pair.candidate) == 1:
            cand_utt = cand_utt.assign(fold=base_pred["fold"].iloc[0], seed=base_pred["seed"].iloc[0])
        for scored, stacked, utt in ((sb, base, base_utt), (sc, cand, cand_utt)):
            extra = lb.score_tts(stacked, utt, tts, "pooled", weights)
            for part in ("value", "sd", "low", "high", "boot", "per_seed"):
                getattr(scored, part).update(getattr(extra, part))
    mcnemar = st.mcnemar_seeds(base, cand) if gate.test == "mcnemar" else None
    rows = []
    for metric, max_drop in gate.metrics.items():
        if lb.is_tts_metric(metric) and pair.protocol != lb.TTS_PROTOCOL:
            continue   # a TTS metric guards TTS cells only
        if lb.is_prediction_metric(metric) and pair.protocol == lb.TTS_PROTOCOL and metric not in sb.value:
            continue
        if metric not in sb.value:
            raise EmobenchError(f"gate metric {metric!r}: no such class in {pair.corpus}/{pair.protocol} "
                                f"(classes: {', '.join(labels)})")
        paired = st.compare_scored(sb, sc, metric)
        p = mcnemar if mcnemar is not None and lb.is_prediction_metric(metric) else paired.p
        rows.append({"corpus": pair.corpus, "protocol": pair.protocol, "method": pair.method, "metric": metric,
                     "baseline": sb.value[metric], "candidate": sc.value[metric], "diff": paired.diff,
                     "diff_low": paired.low, "diff_high": paired.high, "p": p, "max_drop": max_drop,
                     "cells": len(pair.baseline), "seeds": len(base.seeds), "n_test": len(base.items),
                     "status": _status(metric, paired.diff, p, max_drop, gate.alpha, True), "tested": True})
    return rows


def _aggregates(side: Side, definition: lb.LeaderboardDef) -> pd.DataFrame:
    """Per method: the snapshot's numbers, or the leaderboard recomputed from the side's cells."""
    if side.snapshot is not None:
        return side.snapshot
    cells = lb.select_cells(side.cells, definition)
    if cells.empty:
        raise EmobenchError(f"{side.spec}: no cells of protocol {definition.protocol!r} to compare with the snapshot")
    cells, _ = lb.complete_seeds(cells)
    rows = []
    for method, group in cells.groupby("method"):
        pred = lb.stacked_predictions(group, side.tracking_uri)
        stacked = st.Stacked.from_frame(pred)
        labels = st.class_labels(pred)
        point, _ = st.seed_means(stacked, labels, definition.aggregate)
        rows.append({"method": method, **{k: float(v[0]) for k, v in point.items()}})
    return pd.DataFrame(rows)


def _aggregate_rows(base: Side, cand: Side, gate: GateConfig) -> list[dict]:
    definition = base.definition if base.snapshot is not None else cand.definition
    assert definition is not None   # only called when one side is a snapshot, which carries its definition
    b, c = _aggregates(base, definition), _aggregates(cand, definition)
    rows = []
    for method in sorted(set(b["method"]) & set(c["method"])):
        br, cr = b[b["method"] == method].iloc[0], c[c["method"] == method].iloc[0]
        for metric, max_drop in gate.metrics.items():
            if metric not in br.index or metric not in cr.index:
                raise EmobenchError(f"gate metric {metric!r}: the snapshot {definition.name} does not carry it "
                                    f"(columns: {', '.join(definition.columns)})")
            diff = float(cr[metric]) - float(br[metric])
            rows.append({"corpus": definition.corpus or "", "protocol": definition.protocol, "method": method,
                         "metric": metric, "baseline": float(br[metric]), "candidate": float(cr[metric]),
                         "diff": diff, "diff_low": np.nan, "diff_high": np.nan, "p": np.nan, "max_drop": max_drop,
                         "cells": np.nan, "seeds": np.nan, "n_test": np.nan,
                         "status": _status(metric, diff, np.nan, max_drop, gate.alpha, False), "tested": False})
    if not rows:
        raise EmobenchError(f"no method in common between {base.spec} and {cand.spec}")
    return rows


def _covered(cells: pd.DataFrame, definition: lb.LeaderboardDef) -> pd.DataFrame:
    """The cells a leaderboard covers: its protocol, corpus and ``select``."""
    return lb.select_cells(cells, definition) if not cells.empty else cells


def compare(baseline: str | Side, candidate: str | Side, gate: GateConfig | None = None, *,
            tracking_uri: str = DEFAULT_TRACKING_URI, candidate_tracking_uri: str | None = None,
            progress: bool = True) -> Verdict:
    """Compare two sides (run ids, model versions, snapshots) and decide whether the candidate regressed."""
    from tqdm.auto import tqdm

    gate = gate or GateConfig()
    base = baseline if isinstance(baseline, Side) else resolve_side(baseline, tracking_uri)
    cand = candidate if isinstance(candidate, Side) else resolve_side(candidate, candidate_tracking_uri or tracking_uri)
    only_b: list[str] = []
    only_c: list[str] = []
    if base.cells is not None and cand.cells is not None:
        b_cells, c_cells = base.cells, cand.cells
        definition = base.definition or cand.definition
        if definition is not None:   # a snapshot covers one leaderboard: compare only what it covers
            b_cells, c_cells = (_covered(cells, definition) for cells in (b_cells, c_cells))
        pairs, only_b, only_c = match_cells(b_cells, c_cells, gate.protocols)
        if not pairs:
            raise EmobenchError(f"no cells in common between {base.spec} and {cand.spec} (matched on "
                                f"{', '.join(results.CELL_KEY)}); baseline-only: {len(only_b)}, candidate-only: "
                                f"{len(only_c)}")
        rows = []
        for pair in tqdm(pairs, desc="compare", unit="group", disable=not progress):
            rows.extend(_paired_rows(pair, gate, base.tracking_uri, cand.tracking_uri))
        paired = True
    else:
        rows, paired = _aggregate_rows(base, cand, gate), False
    table = pd.DataFrame(rows)
    claims = _claim_changes(base, cand) if gate.claims and paired else None
    verdict = Verdict(table, "", paired, only_b, only_c, claims)
    verdict.markdown = render(verdict, base, cand, gate)
    return verdict


def _claim_changes(base: Side, cand: Side) -> pd.DataFrame:
    """Every shipped claim evaluated on both sides' cells, with whether its verdict changed."""
    from benchmark.claims import evaluate_claims, load_claims

    claims = load_claims()
    before = evaluate_claims(base.cells, base.tracking_uri, claims)
    after = evaluate_claims(cand.cells, cand.tracking_uri, claims)
    rows = []
    for b, c in zip(before, after):
        rb, rc = b.row(), c.row()
        rows.append({"claim": rb["claim"], "baseline_verdict": rb["verdict"], "candidate_verdict": rc["verdict"],
                     "metric": rc["metric"] or rb["metric"], "baseline_effect": rb["effect"],
                     "candidate_effect": rc["effect"], "baseline_ci": (rb["ci_low"], rb["ci_high"]),
                     "candidate_ci": (rc["ci_low"], rc["ci_high"]), "changed": rb["verdict"] != rc["verdict"]})
    return pd.DataFrame(rows)


def _claim_lines(claims: pd.DataFrame | None) -> list[str]:
    if claims is None:
        return []
    from benchmark.claims.evaluate import display_value

    changed = claims[claims["changed"]]
    lines = ["", f"## Claims whose verdict changed ({len(changed)} of {len(claims)})", ""]
    if changed.empty:
        return lines + ["none (the papers' claims, benchmark/claims: the same verdict on both sides)"]
    lines += ["| claim | baseline | candidate | effect (baseline) | effect (candidate) |", "|---|---|---|---:|---:|"]
    def effect(metric, value, ci):
        return (f"{display_value(metric, value, True)} [{display_value(metric, ci[0], True)}, "
                f"{display_value(metric, ci[1], True)}]") if metric else "–"

    for r in changed.itertuples(index=False):
        lines.append(f"| {r.claim} | {r.baseline_verdict} | {r.candidate_verdict} | "
                     f"{effect(r.metric, r.baseline_effect, r.baseline_ci)} | "
                     f"{effect(r.metric, r.candidate_effect, r.candidate_ci)} |")
    return lines + ["", "A changed claim is reported, not gated (`emobench claims` explains each verdict)."]


# ----------------------------------------------------------------------------- Markdown


def _pts(x: float, signed: bool = False, metric: str = "ua") -> str:
    """A value in the metric's printed unit (points for percentages), two decimals (three below 1)."""
    if x is None or not np.isfinite(x):
        return "–"
    spec = METRICS.get(metric)
    digits = 2 if spec.unit else 3
    return f"{spec.scale * x:+.{digits}f}" if signed else f"{spec.scale * x:.{digits}f}"


def _unit(metric: str) -> str:
    return METRICS.get(metric).unit or "score"


def _p(p: float, floor: float = 0.0) -> str:
    """The p-value without its sign: "0.123", "< 0.001", "≤ 0.001" (a paired bootstrap's floor)."""
    if p is None or not np.isfinite(p):
        return "–"
    return lb.format_p(p, floor).removeprefix("= ")


def _table(rows: pd.DataFrame, paired: bool, floor: float) -> list[str]:
    head = ["corpus", "protocol", "method", "metric", "unit", "baseline", "candidate", "Δ"]
    head += ["95% CI of Δ", "p", "max drop"] if paired else ["max drop"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 5 + ["---:"] * (len(head) - 5)) + "|"]
    for r in rows.itertuples(index=False):
        m = r.metric
        cells = [r.corpus, r.protocol, r.method, lb.metric_label(m), _unit(m),
                 _pts(r.baseline, metric=m), _pts(r.candidate, metric=m), _pts(r.diff, True, m)]
        if paired:
            cells += [f"[{_pts(r.diff_low, True, m)}, {_pts(r.diff_high, True, m)}]", _p(r.p, floor)]
        cells.append(f"{r.max_drop:g}")
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return lines


def render(verdict: Verdict, base: Side, cand: Side, gate: GateConfig) -> str:
    rows = verdict.rows
    title = "REGRESSION" if verdict.regressed else "PASS"
    floor = 2 / (gate.n_bootstrap + 1) if gate.test == "paired_bootstrap" else 0.0
    thresholds = ", ".join(f"{lb.metric_label(m)} {v:g}" for m, v in gate.metrics.items())
    if verdict.paired:
        test = (f"paired bootstrap ({gate.n_bootstrap} resamples of the test utterances within each fold, the same "
                "resample for both sides and every seed)" if gate.test == "paired_bootstrap"
                else "exact McNemar test on per-utterance correctness, per seed, largest p-value")
        how = (f"Metrics recomputed from both sides' predictions tables: per (corpus, protocol, method), the "
               f"predictions of all matched folds of a seed pooled, mean over seeds. Test: {test}, alpha = "
               f"{gate.alpha}. A regression is a drop larger than its threshold that is significant.")
    else:
        how = ("**No paired test was possible**: one side is a leaderboard snapshot whose predictions cannot be read, "
               "so only its aggregate numbers are compared (threshold only, no significance). A drop larger than its "
               "threshold counts as a regression.")
    lines = [f"# emobench compare: {title}", "", f"- Baseline: {base.describe}", f"- Candidate: {cand.describe}",
             f"- Max allowed worsening (points for percentages, else the metric's unit): {thresholds}", f"- {how}"]
    if verdict.paired:
        lines.append(f"- Matched {int(rows.drop_duplicates(['corpus', 'protocol', 'method'])['cells'].sum())} "
                     f"cell pair(s) on (corpus, protocol, fold, method, seed)")
    for label, cells in (("baseline", verdict.only_baseline), ("candidate", verdict.only_candidate)):
        if cells:
            shown = "; ".join(cells[:10]) + (f"; ... and {len(cells) - 10} more" if len(cells) > 10 else "")
            lines.append(f"- Only in the {label} (not compared): {shown}")
    for status, heading in (("regressed", "Regressed"), ("improved", "Improved"), ("unchanged", "Unchanged")):
        part = rows[rows["status"] == status]
        lines += ["", f"## {heading} ({len(part)})", ""]
        if part.empty:
            lines.append("none")
        else:
            lines += _table(part, verdict.paired, floor)
    lines += _claim_lines(verdict.claims)
    if verdict.regressed:
        regressed = rows[rows["status"] == "regressed"]
        worse = [_worsening(m, d) for m, d in zip(regressed["metric"], regressed["diff"])]
        worst = regressed.iloc[int(np.argmax(worse))]
        amount = _worsening(worst["metric"], worst["diff"])
        unit = "points" if METRICS.get(worst["metric"]).unit == "%" else (METRICS.get(worst["metric"]).unit or "")
        verb = "dropped" if METRICS.get(worst["metric"]).sign > 0 else "rose"
        lines += ["", f"**Verdict: regression** - worst: {lb.metric_label(worst['metric'])} of {worst['method']} on "
                      f"{worst['corpus']}/{worst['protocol']} {verb} by {amount:.2f} {unit}".rstrip() + " "
                      f"(threshold {worst['max_drop']:g}"
                  + (f", p {lb.format_p(worst['p'], floor)})" if verdict.paired else ", untested)")]
    elif verdict.paired:
        lines += ["", "**Verdict: pass** - no guarded metric dropped significantly beyond its threshold."]
    else:
        lines += ["", "**Verdict: pass** - no guarded metric dropped beyond its threshold (untested: aggregates only)."]
    return "\n".join(lines) + "\n"
