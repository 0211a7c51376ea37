"""Building a leaderboard: the cells it scores and the ranked table of methods, from the statistics engine.

``emobench leaderboard NAME`` reads the suite's finished cells from MLflow
(``benchmark.results``) and recomputes every number from their predictions
tables, never from a logged metric. The statistics are
``benchmark.metrics.stacked``'s, the one engine the runner, report, compare and
claims use:

* per method and seed, each metric over the pooled predictions of all folds
  (``aggregate: fold_mean``: the mean over folds of the per-fold metric);
* the value shown is the mean over seeds, with the standard deviation over
  seeds beside it;
* the 95% CI is a bootstrap over test utterances with the seeds *averaged*:
  each resample draws test utterances with replacement within each fold,
  applies the same draw to every seed and recomputes the seed mean; the CI is
  the 2.5/97.5 percentiles of those seed means;
* every method is tested against the leader on the ranking metric, on the
  same test utterances (``paired_bootstrap``: the same resampling of the
  paired seed means; ``mcnemar``: exact McNemar on per-utterance correctness,
  one test per common seed, the largest p-value counts), and gets ``≈``
  when the difference is not significant at ``alpha``;
* the speaker-probe columns are recomputed from the cells' test embeddings
  with the same probe the runner uses, and averaged over cells (no CI);
* the TTS columns come from each cell's per-utterance table, resampled with the
  very weights of the prediction metrics (``benchmark.leaderboard.tts_columns``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from benchmark import results
from benchmark.errors import EmobenchError
from benchmark.leaderboard.columns import PROBE_METRICS, is_prediction_metric, is_tts_metric
from benchmark.leaderboard.definition import LeaderboardDef, Significance, load_definition, suite_tracking_uri
from benchmark.leaderboard.tts_columns import score_tts, tts_utterances
from benchmark.metrics.stacked import (
    Scored,
    Stacked,
    class_labels,
    mcnemar_seeds,
    natural_key,
    paired_accuracy_mdd,
    paired_bootstrap_p,
    resample_weights,
    score_stacked,
)

SI_MARK, SD_MARK = "SI", "SD"   # as in the report: speaker-independent / speaker-dependent split


def select_cells(cells: pd.DataFrame, definition: LeaderboardDef) -> pd.DataFrame:
    """The cells a leaderboard scores: its protocol (and corpus), filtered by ``select``."""
    chosen = cells[cells["protocol"].astype(str) == definition.protocol]
    if definition.corpus is not None:
        chosen = chosen[chosen["corpus"].astype(str) == definition.corpus]
    for key, wanted in definition.select.meta.items():
        column = key if key.startswith("meta.") else f"meta.{key}"
        if column not in chosen.columns:
            raise EmobenchError(f"leaderboard {definition.name}: select.meta.{key}: no cell of protocol "
                                f"{definition.protocol} carries {column}")
        values = chosen[column]
        if wanted in ("max", "min"):
            numeric = pd.to_numeric(values, errors="coerce")
            if numeric.isna().all():
                raise EmobenchError(f"leaderboard {definition.name}: select.meta.{key}: {wanted} needs numbers, "
                                    f"got {sorted(values.dropna().astype(str).unique())}")
            target = numeric.max() if wanted == "max" else numeric.min()
            chosen = chosen[numeric == target]
        else:
            chosen = chosen[values.astype(str) == str(wanted)]
    if definition.select.differ:
        missing = [c for c in definition.select.differ if c not in chosen.columns]
        if missing:
            raise EmobenchError(f"leaderboard {definition.name}: select.differ: no cell carries {', '.join(missing)}")
        sub = chosen[definition.select.differ].astype(str)
        chosen = chosen[sub.nunique(axis=1) == len(definition.select.differ)]
    return chosen


class NoCellsError(EmobenchError):
    """A leaderboard's suite has no finished cell of its protocol (e.g. a suite without TTS cells):
    callers that build every board of a suite may skip that board and say so."""


@dataclass
class Leaderboard:
    """A computed leaderboard: one row per method in ``entries``, ranked."""

    definition: LeaderboardDef
    entries: pd.DataFrame
    tracking_uri: str
    n_cells: int
    notes: list[str] = field(default_factory=list)
    generated: str = ""
    code_version: str = ""

    @property
    def leader(self) -> str:
        """The first ranked method (reference rows never lead)."""
        ranked = self.entries[~self.entries["reference"]] if "reference" in self.entries.columns else self.entries
        return str(ranked["method"].iloc[0])

    def entry(self, method: str) -> pd.Series:
        rows = self.entries[self.entries["method"] == method]
        if rows.empty:
            raise EmobenchError(f"leaderboard {self.definition.name}: no method {method!r} "
                                f"(methods: {', '.join(self.entries['method'])})")
        return rows.iloc[0]

    def to_csv_frame(self) -> pd.DataFrame:
        """Every number unformatted, plus what a snapshot needs to be re-tested (run ids, tracking URI)."""
        d = self.definition
        frame = self.entries.assign(run_ids=[" ".join(r) for r in self.entries["run_ids"]])
        return frame.assign(leaderboard=d.name, suite=d.suite, protocol=d.protocol, corpus=d.corpus or "",
                            aggregate=d.aggregate, rank_by=d.rank_by, test=d.significance.test,
                            alpha=d.significance.alpha, tracking_uri=self.tracking_uri)


def _si_flag(values: pd.Series) -> str:
    """SI / SD: whether every cell of a method's split is speaker-independent (SI/SD when they are mixed)."""
    seen = set(values.astype(str).str.lower())
    return SI_MARK if seen == {"true"} else SD_MARK if seen == {"false"} else f"{SI_MARK}/{SD_MARK}"


def complete_seeds(cells: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Keep the seeds of each method that cover every fold of the protocol (pooling needs all of them)."""
    folds = set(cells["fold"].astype(str))
    keep, notes = [], []
    for (method, seed), group in cells.groupby(["method", "seed"]):
        missing = folds - set(group["fold"].astype(str))
        if missing:
            lacking = ", ".join(sorted(missing, key=natural_key))
            notes.append(f"{method}: seed {seed} left out, it lacks fold(s) {lacking}")
        else:
            keep.append(group)
    kept = pd.concat(keep) if keep else cells.iloc[0:0]
    for method in sorted(set(cells["method"]) - set(kept["method"])):
        notes.append(f"{method}: left out, no seed has every fold")
    return kept, notes


def stacked_predictions(cells: pd.DataFrame, tracking_uri: str | None = None) -> pd.DataFrame:
    """The predictions tables of ``cells`` with seed, fold, method and run id on every row."""
    frames = []
    for row in cells.to_dict("records"):
        pred = results.load_predictions(row["run_id"], tracking_uri)
        frames.append(pred[["utt_id", "y_true", "y_pred"]].assign(
            seed=str(row["seed"]), fold=str(row["fold"]), method=str(row["method"]), run_id=row["run_id"]))
    return pd.concat(frames, ignore_index=True)


@lru_cache(maxsize=4096)
def run_speaker_probe(run_id: str, seed: int, tracking_uri: str | None = None) -> dict[str, float] | None:
    """The speaker probe on one cell's logged test embeddings (None if it kept none).

    Memoised: the leaderboards and the report of one ``emobench run`` ask for the same cells."""
    from benchmark.metrics import speaker_probe

    emb = results.load_embeddings(run_id, tracking_uri)
    if emb is None:
        return None
    return speaker_probe(emb["Z"], np.asarray(emb["speakers"]), seed=int(seed))


def probe_scores(cells: pd.DataFrame, tracking_uri: str | None = None) -> dict[str, float]:
    """The speaker probe recomputed from each cell's test embeddings (mean over cells); NaN without embeddings."""
    values: dict[str, list[float]] = {m: [] for m in PROBE_METRICS}
    for run_id, seed in zip(cells["run_id"], cells["seed"]):
        probe = run_speaker_probe(run_id, int(seed), tracking_uri)
        if probe is None:
            continue
        for m in PROBE_METRICS:
            values[m].append(float(probe[m]))
    return {m: float(np.mean(v)) if v else float("nan") for m, v in values.items()}


def build_leaderboard(definition: LeaderboardDef | str | Path, tracking_uri: str | None = None, *,
                      progress: bool = True) -> Leaderboard:
    """Compute a leaderboard from the suite's MLflow records (see the module docstring for the statistics)."""
    from benchmark.tracking import code_version

    if not isinstance(definition, BaseModel):
        definition = load_definition(definition)
    if getattr(definition, "kind", None) == "claims":
        from benchmark.claims.board import build_claims_board

        return build_claims_board(definition, tracking_uri, progress=progress)  # type: ignore[return-value,arg-type]
    uri = tracking_uri or suite_tracking_uri(definition.suite)
    chosen, board_notes = _board_cells(definition, uri)
    methods = sorted(chosen["method"].astype(str).unique())
    references = [m for m in definition.references if m in methods]
    ranked = [m for m in methods if m not in references]
    if not ranked:
        raise EmobenchError(f"leaderboard {definition.name}: only reference systems ({', '.join(references)}) "
                            "have finished cells; nothing to rank")
    board_notes += [f"reference {r}: no finished cells" for r in definition.references if r not in methods]
    stacks, scored = _score_methods(definition, chosen, methods, uri, progress)

    rank_by = definition.rank_by
    order = sorted(ranked, key=lambda m: (-np.nan_to_num(scored[m].value[rank_by], nan=-np.inf), m))
    leader = order[0]
    rows = []
    for method in order + references:
        group = chosen[chosen["method"] == method]
        s = scored[method]
        row: dict[str, Any] = {"method": method}
        for m in definition.columns:
            if is_prediction_metric(m) or is_tts_metric(m):
                row.update({m: s.value[m], f"{m}_sd": s.sd[m], f"{m}_low": s.low[m], f"{m}_high": s.high[m]})
        if any(m in PROBE_METRICS for m in definition.columns):
            probe = probe_scores(group, uri)
            row.update({m: probe[m] for m in definition.columns if m in PROBE_METRICS})
            if not np.isfinite(probe["speaker_probe_acc"]):
                board_notes.append(f"{method}: no test embeddings logged, so no speaker probe")
        p = float("nan")
        if method != leader and method not in references:
            p = _p_vs_leader(definition, stacks, scored, leader, method, board_notes)
        if definition.significance.power is not None:
            row.update(_mdd_vs_leader(stacks, leader, method, definition.significance))
        row.update(still_improving=results.still_improving(group),
                   seeds=len(stacks[method].seeds), folds=len(stacks[method].folds),
                   n_test=len(stacks[method].items), speaker_independent=_si_flag(group["speaker_independent"]),
                   p_vs_leader=p, tied_with_leader=bool(np.isfinite(p) and p >= definition.significance.alpha),
                   reference=method in references, run_ids=sorted(group["run_id"]))
        rows.append(row)
    entries = pd.DataFrame(rows)
    entries.insert(0, "rank", _ranks(entries, rank_by))
    return Leaderboard(definition, entries, uri, len(chosen), board_notes,
                       datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), code_version())


def _board_cells(definition: LeaderboardDef, uri: str) -> tuple[pd.DataFrame, list[str]]:
    """The finished cells the board scores (its selection, each method's seeds that have every fold) and the
    notes on what was left out; no cell at all is a :class:`NoCellsError`."""
    cells = results.load_cells(uri, definition.suite, protocol=definition.protocol, corpus=definition.corpus)
    chosen = select_cells(cells, definition) if not cells.empty else cells
    if chosen.empty:
        raise NoCellsError(f"leaderboard {definition.name}: no finished cell runs of suite {definition.suite!r}, "
                           f"protocol {definition.protocol!r}"
                           + (f", corpus {definition.corpus!r}" if definition.corpus else "")
                           + f" at {uri}; run `emobench run {definition.suite}` first")
    chosen, board_notes = complete_seeds(chosen)
    if chosen.empty:
        raise EmobenchError(f"leaderboard {definition.name}: no method has a seed with every fold; "
                            + "; ".join(board_notes))
    return chosen, board_notes


def _score_methods(definition: LeaderboardDef, chosen: pd.DataFrame, methods: list[str], uri: str,
                   progress: bool) -> tuple[dict[str, Stacked], dict[str, Scored]]:
    """Each method's stacked predictions and its scores (value, sd, CI, resamples) on every column; the TTS
    columns are resampled with the very weights of the prediction metrics."""
    from tqdm.auto import tqdm

    stacks: dict[str, Stacked] = {}
    all_pred = []
    for method in tqdm(methods, desc=f"leaderboard {definition.name}", unit="method", disable=not progress):
        pred = stacked_predictions(chosen[chosen["method"] == method], uri)
        all_pred.append(pred)
        stacks[method] = Stacked.from_frame(pred)
    labels = class_labels(pd.concat(all_pred, ignore_index=True))
    scored = {}
    tts_columns = [c for c in definition.columns if is_tts_metric(c)]
    for method, stacked in stacks.items():
        weights = resample_weights(stacked.items, definition.n_bootstrap, definition.seed, definition.aggregate)
        scored[method] = score_stacked(stacked, labels, definition.aggregate, weights)
        if tts_columns:
            tts = score_tts(stacked, tts_utterances(chosen[chosen["method"] == method], uri), tts_columns,
                            definition.aggregate, weights)
            for part in ("value", "sd", "low", "high", "boot", "per_seed"):
                getattr(scored[method], part).update(getattr(tts, part))
    bad = [c for c in definition.columns if is_prediction_metric(c) and c not in scored[methods[0]].value]
    if bad:
        raise EmobenchError(f"leaderboard {definition.name}: columns {bad} name classes absent from the test "
                            f"sets (classes: {', '.join(labels)})")
    return stacks, scored


def _p_vs_leader(definition: LeaderboardDef, stacks: dict[str, Stacked], scored: dict[str, Scored], leader: str,
                 method: str, board_notes: list[str]) -> float:
    """The p-value of ``method`` against the leader on the ranking metric (the definition's test); NaN, and a
    note, when their test utterances differ so that no paired test applies."""
    if stacks[method].test_set() != stacks[leader].test_set():
        board_notes.append(f"{method}: its test utterances differ from the leader's, so no paired test")
        return float("nan")
    if definition.significance.test == "paired_bootstrap":
        rank_by = definition.rank_by
        return paired_bootstrap_p(scored[leader].boot[rank_by], scored[method].boot[rank_by])
    return mcnemar_seeds(stacks[leader], stacks[method])


def _ranks(entries: pd.DataFrame, rank_by: str) -> pd.Series:
    """1 for the best ``rank_by``, ties sharing the better rank, the ranked rows' count for a missing value.
    Reference rows have no rank (shown as "ref."): a nullable integer column keeps the others integers."""
    is_ranked = ~entries["reference"]
    values = entries.loc[is_ranked, rank_by].round(12)
    rank = values.rank(method="min", ascending=False).fillna(int(is_ranked.sum())).astype(int)
    return rank.reindex(entries.index).astype("Int64") if not is_ranked.all() else rank


def _mdd_vs_leader(stacks: dict[str, Stacked], leader: str, method: str, sig: Significance) -> dict[str, float]:
    """The minimum detectable accuracy difference of ``method`` vs the leader (NaN for the leader itself or
    when their test sets differ), at the discordance the two show."""
    if method == leader or sig.power is None or stacks[method].test_set() != stacks[leader].test_set():
        return {"mdd_vs_leader": float("nan"), "discordance_vs_leader": float("nan")}
    power = paired_accuracy_mdd(stacks[leader], stacks[method], sig.alpha, sig.power)
    return {"mdd_vs_leader": power.mdd, "discordance_vs_leader": power.discordance}

