"""Leaderboards: ranked tables of methods, recomputed from the runs' predictions tables.

A leaderboard is defined in ``leaderboards/<name>.yaml``::

    title: Speaker-independent SER
    suite: default              # the suite whose MLflow experiment is read
    protocol: speaker_kfold     # protocol label (the runs' ``protocol`` tag)
    corpus: embedded            # optional: one corpus
    select:                     # optional: which cells of the protocol count
      meta: {ratio: max}        #   a Split.meta value, or max/min of it (numeric)
      differ: [meta.train_language, meta.test_language]   # off-diagonal cells only
    aggregate: pooled           # pooled (one score over all folds' predictions) or fold_mean
    rank_by: ua
    columns: [ua, wa, macro_f1, recall.sad]
    significance: {test: paired_bootstrap, alpha: 0.05}

``emobench leaderboard NAME`` reads the suite's finished cells from MLflow
(``benchmark.results``) and recomputes every number from their predictions
tables, never from a logged metric:

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
* the TTS columns (``wer``, ``cer``, ``mcd_db``, ``f0_rmse_hz``, ... of TTS
  cells, protocol ``tts``) are recomputed from each cell's
  ``tts/per_utterance.parquet``: WER/CER corpus-level (summed errors over
  summed reference words/characters per seed), the others means over
  utterances; mean over seeds, sd over seeds, and a 95% CI from the very
  resamples of test utterances the prediction metrics use. They are shown,
  never ranked on (lower is better for most of them).

``labels: {wa: "Emotion accuracy (judge)"}`` relabels columns;
``references: [ground_truth, resynthesis]`` lists methods (systems) shown in
rows of their own below the ranked ones, marked as references: never the
leader, never tested.

The result is written as Markdown, CSV, HTML and LaTeX (booktabs) into
``leaderboards/<name>/``; the CSV and ``snapshot.json`` keep the run ids
behind every row, so ``emobench compare`` can re-test a snapshot.
"""
from __future__ import annotations

import functools
import html as html_lib
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

import benchmark
from benchmark import results
from benchmark.errors import ConfigError, EmobenchError, validate_config
from benchmark.suite import DEFAULT_TRACKING_URI
# The statistics are benchmark.metrics.stacked's, the one engine the runner, report, compare and claims use;
# these names stay importable from here for code written against the leaderboard.
from benchmark.metrics.stacked import (  # noqa: F401  (re-exported)
    Scored,
    Stacked,
    class_labels,
    confusions,
    mcnemar_seeds,
    paired_accuracy_mdd,
    paired_bootstrap_p,
    resample_weights,
    score_stacked,
    scores_from_confusion,
    seed_means,
)
from benchmark.metrics.registry import METRICS
from benchmark.metrics.stacked import nan_quiet as _nan_quiet
from benchmark.metrics.stacked import natural_key as _natural

DEFINITIONS_DIR = Path(benchmark.__file__).resolve().parent.parent / "leaderboards"
TIE_MARK = "≈"
# Beside a method whose cells include one that stopped at the epoch cap while validation UA still improved.
CONVERGENCE_MARK = "†"
CONVERGENCE_NOTE = (f"{CONVERGENCE_MARK} = at least one of the method's cells stopped at its epoch cap while "
                    "validation UA was still improving (MLflow tag convergence.still_improving): more epochs "
                    "might change its numbers.")
SI_MARK, SD_MARK = "SI", "SD"   # as in the report: speaker-independent / speaker-dependent split

# Every metric's metadata (what it reads, label, unit, scale, direction, model-card type) is its
# benchmark.metrics.registry spec; these helpers only look it up.
TTS_PROTOCOL = "tts"   # the protocol tag of TTS grid cells (their TTS columns come from tts/per_utterance.parquet)
PROBE_METRICS = ("speaker_probe_acc", "speaker_probe_chance")   # recomputed from test embeddings: shown, never tested


def prediction_metrics() -> tuple[str, ...]:
    """Metrics recomputable from a predictions table: every registered confusion metric (ua, wa, ...)."""
    return tuple(METRICS.names("confusion"))


def is_prediction_metric(name: str) -> bool:
    return METRICS.reads(name, "confusion")


def tts_metrics() -> tuple[str, ...]:
    """Metrics recomputed from TTS cells' per-utterance tables (registered by the TTS scorers)."""
    return tuple(METRICS.names("tts_table"))


def is_tts_metric(name: str) -> bool:
    return METRICS.reads(name, "tts_table")


def is_probe_metric(name: str) -> bool:
    return METRICS.reads(name, "embeddings")


def metric_label(name: str, labels: dict[str, str] | None = None) -> str:
    """How a column is named in tables (a definition's ``labels`` win)."""
    if labels and name in labels:
        return labels[name]
    return METRICS.get(name).label if name in METRICS else name


def metric_unit(name: str) -> str:
    """The unit a column is printed in (its registered spec's)."""
    return METRICS.get(name).unit if name in METRICS else "%"


def format_metric(name: str, value: float | None) -> str:
    """A value as printed in a table: its spec's scale and digits (percent, one decimal, for SER metrics)."""
    if name in METRICS:
        return METRICS.get(name).format(value)
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.1f}"


def column_header(name: str, labels: dict[str, str] | None = None) -> str:
    unit = metric_unit(name)
    return f"{metric_label(name, labels)} ({unit})" if unit else metric_label(name, labels)


# ----------------------------------------------------------------------------- definitions


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Significance(_Strict):
    test: Literal["paired_bootstrap", "mcnemar"] = "paired_bootstrap"
    alpha: float = Field(0.05, gt=0, lt=1)
    # set (e.g. 0.8): the board shows n and, per row, the minimum detectable difference of a paired
    # accuracy comparison with the leader at this power (stacked.paired_accuracy_mdd; rank_by wa only)
    power: float | None = Field(None, gt=0, lt=1)


class Select(_Strict):
    meta: dict[str, str | int | float] = Field(default_factory=dict)   # Split.meta key -> value | "max" | "min"
    differ: list[str] = Field(default_factory=list)                    # columns whose values must differ

    @field_validator("differ")
    @classmethod
    def _pair(cls, value: list[str]) -> list[str]:
        if value and len(value) < 2:
            raise ValueError("name at least two columns (e.g. [meta.train_language, meta.test_language])")
        return value


class LeaderboardDef(_Strict):
    """One leaderboard: which cells, which metrics, how methods are ranked and tested."""

    name: str = ""                        # defaults to the file name
    title: str | None = None
    description: str = ""
    suite: str
    protocol: str
    corpus: str | None = None
    select: Select = Field(default_factory=Select)
    aggregate: Literal["pooled", "fold_mean"] = "pooled"
    rank_by: str = "ua"
    columns: list[str] = Field(default_factory=lambda: ["ua", "wa", "macro_f1"])
    labels: dict[str, str] = Field(default_factory=dict)   # column -> the name shown for it
    references: list[str] = Field(default_factory=list)    # methods shown below the ranking, never tested
    significance: Significance = Field(default_factory=Significance)
    n_bootstrap: int = Field(1000, ge=100)
    seed: int = 0                         # bootstrap seed: the same seed gives the same CIs

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, value: list[str]) -> list[str]:
        bad = [c for c in value if c not in METRICS]
        if bad:
            raise ValueError(f"unknown metric(s) {bad}; known: {', '.join(prediction_metrics() + PROBE_METRICS)}, "
                             f"recall.<class>, and for TTS cells {', '.join(tts_metrics())}")
        if len(set(value)) != len(value):
            raise ValueError("a metric is listed twice")
        return value

    @field_validator("rank_by")
    @classmethod
    def _rankable(cls, value: str) -> str:
        if not is_prediction_metric(value):
            raise ValueError(f"{value!r} cannot rank: use a metric of the predictions "
                             f"({', '.join(prediction_metrics())}, "
                             "recall.<class>)")
        return value

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        empty = [k for k, v in value.items() if not str(v).strip()]
        if empty:
            raise ValueError(f"empty label for {empty}")
        return value

    @field_validator("references")
    @classmethod
    def _references(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a reference is listed twice")
        return value

    @model_validator(mode="after")
    def _rank_metric_shown(self) -> LeaderboardDef:
        if self.rank_by not in self.columns:
            self.columns.insert(0, self.rank_by)
        if self.significance.power is not None and self.rank_by != "wa":
            raise ValueError("significance.power: the minimum detectable difference is computed for paired "
                             f"per-utterance correctness, so rank_by must be wa (got {self.rank_by!r})")
        unknown = [k for k in self.labels if k not in self.columns]
        if unknown:
            raise ValueError(f"labels: {unknown} name no column of this board (columns: {', '.join(self.columns)})")
        return self

    @property
    def heading(self) -> str:
        return self.title or f"{self.name}: {self.protocol} ({self.suite})"

    def label(self, metric: str) -> str:
        """The column's name in tables and notes (``labels`` win over the built-in names)."""
        return metric_label(metric, self.labels)

    def header(self, metric: str) -> str:
        """The column header: its label and unit."""
        return column_header(metric, self.labels)


def parse_definition(data: Any, name: str, source: str = "<leaderboard>") -> LeaderboardDef:
    """Validate a leaderboard definition; errors name the bad key.

    ``kind: claims`` defines the claims board instead (``benchmark.claims.board``)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a leaderboard definition must be a mapping, got {type(data).__name__}")
    if data.get("kind") == "claims":
        from benchmark.claims.board import parse_board

        return parse_board(data, name, source)  # type: ignore[return-value]
    definition = validate_config(LeaderboardDef, data, source, "leaderboard definition")
    definition.name = definition.name or name
    return definition


def definition_path(name_or_path: str | Path) -> Path:
    """``leaderboards/<name>.yaml`` (in the working directory, else in the emobench checkout) or a YAML path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ConfigError(f"{path}: leaderboard definition not found")
        return path
    for folder in (Path("leaderboards"), DEFINITIONS_DIR):
        candidate = folder / f"{name_or_path}.yaml"
        if candidate.is_file():
            return candidate
    raise ConfigError(f"unknown leaderboard {str(name_or_path)!r}; defined: {', '.join(list_definitions()) or 'none'} "
                      f"(leaderboards/<name>.yaml), or give a YAML path")


def list_definitions() -> list[str]:
    names = {p.stem for folder in (Path("leaderboards"), DEFINITIONS_DIR) if folder.is_dir()
             for p in folder.glob("*.yaml")}
    return sorted(names)


def load_definition(name_or_path: str | Path) -> LeaderboardDef:
    path = definition_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_definition(data, path.stem, str(path))


def suite_tracking_uri(suite: str) -> str:
    """The tracking URI a shipped suite records to (read from its YAML without importing every method)."""
    from benchmark.suite import SUITES_DIR

    path = SUITES_DIR / f"{suite}.yaml"
    if path.is_file():
        data = yaml.safe_load(path.read_text()) or {}
        uri = (data.get("tracking") or {}).get("uri") if isinstance(data, dict) else None
        if uri:
            return str(uri)
    return DEFAULT_TRACKING_URI


# ----------------------------------------------------------------------------- selecting cells


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



# ----------------------------------------------------------------------------- scoring


# ----------------------------------------------------------------------------- TTS columns


def tts_utterances(cells: pd.DataFrame, tracking_uri: str | None = None) -> pd.DataFrame:
    """The per-utterance TTS tables (``tts/per_utterance.parquet``) of ``cells`` stacked, with seed, fold,
    method and run id on every row. A cell without the artifact is an error naming its run."""
    frames = []
    for row in cells.to_dict("records"):
        table = results.load_tts_utterances(row["run_id"], tracking_uri)
        frames.append(table.assign(seed=str(row["seed"]), fold=str(row["fold"]), method=str(row["method"]),
                                   run_id=row["run_id"]))
    return pd.concat(frames, ignore_index=True)


def _tts_per_seed(stacked: Stacked, utterances: pd.DataFrame, metrics: list[str], aggregate: str,
                  weights: np.ndarray) -> np.ndarray:
    """(W, seeds, metrics) per-seed values of TTS ``metrics`` under each row of ``weights`` (W, items)."""
    index = pd.MultiIndex.from_frame(stacked.items[["fold", "utt_id"]])
    item = index.get_indexer(pd.MultiIndex.from_arrays([utterances["fold"].astype(str),
                                                        utterances["utt_id"].astype(str)]))
    n, k = len(utterances), len(metrics)
    num, den = np.zeros((n, k)), np.zeros((n, k))
    for j, name in enumerate(metrics):
        spec = METRICS.get(name)
        top = (pd.to_numeric(utterances[spec.numerator], errors="coerce").to_numpy(float)
               if spec.numerator in utterances.columns else np.full(n, np.nan))
        if spec.denominator is None:
            bottom = np.ones(n)
        elif spec.denominator in utterances.columns:
            bottom = pd.to_numeric(utterances[spec.denominator], errors="coerce").to_numpy(float)
        else:
            bottom = np.full(n, np.nan)
        valid = np.isfinite(top) & np.isfinite(bottom) & (item >= 0)
        num[:, j], den[:, j] = np.where(valid, top, 0.0), np.where(valid, bottom, 0.0)
    seed_pos = {s: i for i, s in enumerate(stacked.seeds)}
    fold_pos = {f: i for i, f in enumerate(stacked.folds)}
    sums = np.zeros((2, weights.shape[0], len(stacked.seeds), len(stacked.folds), k))
    safe_item = np.where(item >= 0, item, 0)
    for (seed, fold), idx in utterances.groupby(["seed", "fold"]).indices.items():
        w = weights[:, safe_item[idx]]                       # (W, rows)
        sums[0, :, seed_pos[seed], fold_pos[fold]] = w @ num[idx]
        sums[1, :, seed_pos[seed], fold_pos[fold]] = w @ den[idx]
    with _nan_quiet():
        if aggregate == "pooled":
            top, bottom = sums[0].sum(2), sums[1].sum(2)       # (W, S, K)
            return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)
        per_fold = np.where(sums[1] > 0, sums[0] / np.where(sums[1] > 0, sums[1], 1), np.nan)
        return np.nanmean(per_fold, 2)


def score_tts(stacked: Stacked, utterances: pd.DataFrame, metrics: list[str], aggregate: str,
              weights: np.ndarray) -> Scored:
    """TTS ``metrics`` of one method (registered TTS-table specs): the seed mean, sd over seeds, and the 95% CI
    of the seed mean over the resamples ``weights`` (the same draw counts over test items the board's
    prediction metrics use, so that both are resampled together).

    ``utterances``: the method's stacked per-utterance tables (:func:`tts_utterances`). A row whose
    (fold, utt_id) is no test utterance of its cell's predictions table is an error naming the run.
    """
    known = stacked.frame.groupby("run_id")["utt_id"].agg(lambda u: set(u.astype(str)))
    for run_id, group in utterances.groupby("run_id"):
        extra = sorted(set(group["utt_id"].astype(str)) - known.get(run_id, set()))
        if extra:
            raise EmobenchError(f"run {run_id}: {results.TTS_UTTERANCES_ARTIFACT} holds utterance(s) {extra[:5]} "
                                f"that are not in its {results.PREDICTIONS_ARTIFACT}")
    point = _tts_per_seed(stacked, utterances, metrics, aggregate, np.ones((1, len(stacked.items))))[0]   # (S, K)
    boot_seeds = _tts_per_seed(stacked, utterances, metrics, aggregate, weights)                        # (W, S, K)
    value, sd, low, high, boot, per_seed = {}, {}, {}, {}, {}, {}
    with _nan_quiet():
        for j, name in enumerate(metrics):
            seeds = point[:, j]
            value[name] = float(np.nanmean(seeds)) if np.isfinite(seeds).any() else float("nan")
            sd[name] = float(np.nanstd(seeds, ddof=1)) if np.isfinite(seeds).sum() > 1 else float("nan")
            b = np.nanmean(boot_seeds[:, :, j], -1)
            boot[name], per_seed[name] = b, seeds
            finite = np.isfinite(b).any()
            low[name] = float(np.nanpercentile(b, 2.5)) if finite else float("nan")
            high[name] = float(np.nanpercentile(b, 97.5)) if finite else float("nan")
    return Scored(value, sd, low, high, boot, per_seed)


# ----------------------------------------------------------------------------- building a leaderboard


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


def complete_seeds(cells: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Keep the seeds of each method that cover every fold of the protocol (pooling needs all of them)."""
    folds = set(cells["fold"].astype(str))
    keep, notes = [], []
    for (method, seed), group in cells.groupby(["method", "seed"]):
        missing = folds - set(group["fold"].astype(str))
        if missing:
            notes.append(f"{method}: seed {seed} left out, it lacks fold(s) {', '.join(sorted(missing, key=_natural))}")
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
    from tqdm.auto import tqdm

    from benchmark.tracking import code_version

    if not isinstance(definition, BaseModel):
        definition = load_definition(definition)
    if getattr(definition, "kind", None) == "claims":
        from benchmark.claims.board import build_claims_board

        return build_claims_board(definition, tracking_uri, progress=progress)  # type: ignore[return-value,arg-type]
    uri = tracking_uri or suite_tracking_uri(definition.suite)
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
    methods = sorted(chosen["method"].astype(str).unique())
    references = [m for m in definition.references if m in methods]
    ranked = [m for m in methods if m not in references]
    if not ranked:
        raise EmobenchError(f"leaderboard {definition.name}: only reference systems ({', '.join(references)}) "
                            "have finished cells; nothing to rank")
    board_notes += [f"reference {r}: no finished cells" for r in definition.references if r not in methods]
    stacks: dict[str, Stacked] = {}
    all_pred = []
    for method in tqdm(methods, desc=f"leaderboard {definition.name}", unit="method", disable=not progress):
        pred = stacked_predictions(chosen[chosen["method"] == method], uri)
        all_pred.append(pred)
        stacks[method] = Stacked.from_frame(pred)
    labels = class_labels(pd.concat(all_pred, ignore_index=True))
    n_boot, boot_seed = definition.n_bootstrap, definition.seed
    scored = {}
    tts_columns = [c for c in definition.columns if is_tts_metric(c)]
    for method, stacked in stacks.items():
        weights = resample_weights(stacked.items, n_boot, boot_seed, definition.aggregate)
        scored[method] = score_stacked(stacked, labels, definition.aggregate, weights)
        if tts_columns:   # resampled with the very weights of the prediction metrics
            tts = score_tts(stacked, tts_utterances(chosen[chosen["method"] == method], uri), tts_columns,
                            definition.aggregate, weights)
            for part in ("value", "sd", "low", "high", "boot", "per_seed"):
                getattr(scored[method], part).update(getattr(tts, part))
    bad = [c for c in definition.columns if is_prediction_metric(c) and c not in scored[methods[0]].value]
    if bad:
        raise EmobenchError(f"leaderboard {definition.name}: columns {bad} name classes absent from the test "
                            f"sets (classes: {', '.join(labels)})")

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
            if stacks[method].test_set() != stacks[leader].test_set():
                board_notes.append(f"{method}: its test utterances differ from the leader's, so no paired test")
            elif definition.significance.test == "paired_bootstrap":
                p = paired_bootstrap_p(scored[leader].boot[rank_by], s.boot[rank_by])
            else:
                p = mcnemar_seeds(stacks[leader], stacks[method])
        if definition.significance.power is not None:
            row.update(_mdd_vs_leader(stacks, leader, method, definition.significance))
        row.update(still_improving=results.still_improving(group),
                   seeds=len(stacks[method].seeds), folds=len(stacks[method].folds),
                   n_test=len(stacks[method].items), speaker_independent=_si_flag(group["speaker_independent"]),
                   p_vs_leader=p, tied_with_leader=bool(np.isfinite(p) and p >= definition.significance.alpha),
                   reference=method in references, run_ids=sorted(group["run_id"]))
        rows.append(row)
    entries = pd.DataFrame(rows)
    is_ranked = ~entries["reference"]
    values = entries.loc[is_ranked, rank_by].round(12)
    rank = values.rank(method="min", ascending=False).fillna(int(is_ranked.sum())).astype(int)
    # Reference rows have no rank (shown as "ref."): a nullable integer column keeps the others integers.
    entries.insert(0, "rank", rank.reindex(entries.index).astype("Int64") if references else rank)
    return Leaderboard(definition, entries, uri, len(chosen), board_notes,
                       datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), code_version())


def _mdd_vs_leader(stacks: dict[str, Stacked], leader: str, method: str, sig: Significance) -> dict[str, float]:
    """The minimum detectable accuracy difference of ``method`` vs the leader (NaN for the leader itself or
    when their test sets differ), at the discordance the two show."""
    if method == leader or sig.power is None or stacks[method].test_set() != stacks[leader].test_set():
        return {"mdd_vs_leader": float("nan"), "discordance_vs_leader": float("nan")}
    power = paired_accuracy_mdd(stacks[leader], stacks[method], sig.alpha, sig.power)
    return {"mdd_vs_leader": power.mdd, "discordance_vs_leader": power.discordance}


# ----------------------------------------------------------------------------- Hugging Face model-index


def _is_tts_board(d: LeaderboardDef) -> bool:
    return d.protocol == "tts" or any(is_tts_metric(c) for c in d.columns)


def model_index(board: Leaderboard, method: str) -> dict[str, Any]:
    """A Hugging Face ``model-index`` block for ``method``'s entry (seed means; SER metrics, WER and CER in
    percent, the other TTS metrics in their own unit)."""
    entry = board.entry(method)
    d = board.definition
    metrics = []
    for m in d.columns:
        value = entry[m]
        if value is None or not np.isfinite(value):
            continue
        spec = METRICS.get(m)
        name = spec.hf_name or spec.header()
        if m in d.labels:
            name = spec.header(d.labels[m])
        metric = {"type": spec.hf_type or m, "value": round(spec.scale * float(value), 2), "name": name}
        if spec.hf_args:
            metric["args"] = dict(spec.hf_args)
        metrics.append(metric)
    folds, seeds = int(entry["folds"]), int(entry["seeds"])
    over_seeds = f"mean over {seeds} seed{'s' if seeds != 1 else ''}"
    if _is_tts_board(d):
        split = f"held-out sentences ({d.protocol}, {over_seeds})"
    else:
        split = (f"test ({d.protocol}, {'pooled over' if d.aggregate == 'pooled' else 'mean over'} {folds} fold"
                 f"{'s' if folds != 1 else ''}, {over_seeds}, "
                 f"{'speaker-independent' if entry['speaker_independent'] == SI_MARK else 'speaker-dependent'})")
    corpus = d.corpus or "mixed"
    described = "emobench embedded, synthetic eSpeak NG speech" if corpus == "embedded" else corpus
    dataset = {"name": f"{corpus} ({described})",
               "type": f"emobench/{corpus}", "split": split}
    task = ({"type": "text-to-speech", "name": "Emotional Text-to-Speech"} if _is_tts_board(d)
            else {"type": "speech-emotion-recognition", "name": "Speech Emotion Recognition"})
    result = {"task": task, "dataset": dataset, "metrics": metrics,
              "source": {"name": f"emobench leaderboard {d.name} (suite {d.suite}, protocol {d.protocol})"}}
    return {"model-index": [{"name": method, "results": [result]}]}


def model_index_yaml(board: Leaderboard, method: str) -> str:
    return yaml.safe_dump(model_index(board, method), sort_keys=False, allow_unicode=True)


# ----------------------------------------------------------------------------- writing it out


def _pct(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.1f}"


REFERENCE_MARK = "ref."   # the rank column of a reference row


def _rank_text(entry: dict) -> str:
    return REFERENCE_MARK if entry.get("reference") else str(entry["rank"])


def _si_flag(values: pd.Series) -> str:
    seen = set(values.astype(str).str.lower())
    return SI_MARK if seen == {"true"} else SD_MARK if seen == {"false"} else f"{SI_MARK}/{SD_MARK}"


def display_table(board: Leaderboard) -> pd.DataFrame:
    """The table as printed (Markdown, HTML, LaTeX): percentages, CIs, marks."""
    rows = []
    # A paired bootstrap cannot give p below 2/(n+1): print that floor as a bound, not as the p-value.
    floor = 2 / (board.definition.n_bootstrap + 1) if board.definition.significance.test == "paired_bootstrap" else 0
    leader = board.leader
    d = board.definition
    for e in board.entries.to_dict("records"):
        mark = CONVERGENCE_MARK if e.get("still_improving") is True else ""
        row = {"Rank": _rank_text(e), "Method": e["method"] + mark}
        for m in d.columns:
            value = e[m]
            if is_prediction_metric(m) or is_tts_metric(m):
                f = functools.partial(format_metric, m)
                text = f"{f(value)} [{f(e[f'{m}_low'])}, {f(e[f'{m}_high'])}]"
                if m == d.rank_by and e["seeds"] > 1:
                    text = f"{f(value)} ± {f(e[f'{m}_sd'])} [{f(e[f'{m}_low'])}, {f(e[f'{m}_high'])}]"
            else:
                text = _pct(value)
            row[d.header(m)] = text
        row["Seeds"] = str(e["seeds"])
        if d.significance.power is not None:
            row["n"] = str(e["n_test"])
            row["MDD vs leader"] = _pct(e.get("mdd_vs_leader"))
        row["Split"] = e["speaker_independent"]
        if e.get("reference"):
            row["vs leader"] = "reference"
        elif e["method"] == leader:   # the first ranked row
            row["vs leader"] = "leader"
        elif e["tied_with_leader"]:
            row["vs leader"] = f"{TIE_MARK} (p {format_p(e['p_vs_leader'], floor)})"
        else:
            row["vs leader"] = f"p {format_p(e['p_vs_leader'], floor)}"
        rows.append(row)
    return pd.DataFrame(rows)


def format_p(p: float, floor: float = 0.0) -> str:
    """"= 0.123", "< 0.001", or "≤ 0.002" at the smallest p-value a paired bootstrap can reach (``floor``)."""
    if p is None or not np.isfinite(p):
        return "n/a"
    if floor and p <= floor * (1 + 1e-9):
        return f"≤ {math.ceil(floor * 1000) / 1000:.3f}"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def notes(board: Leaderboard) -> list[str]:
    d = board.definition
    how = ("each metric over the pooled predictions of all folds of a seed" if d.aggregate == "pooled"
           else "the mean over folds of each fold's metric")
    test = ("paired bootstrap of the seed-mean difference on the same resampled test utterances"
            if d.significance.test == "paired_bootstrap"
            else "exact McNemar test on per-utterance correctness, per common seed, largest p-value")
    within = ", within each fold" if d.aggregate == "fold_mean" else ""
    tts = [c for c in d.columns if is_tts_metric(c)]
    unit = "Values in percent unless the column names another unit" if tts else "Values in percent"
    lines = [
        (f"{unit}: {how}, mean over seeds (± standard deviation over seeds for "
         f"{d.label(d.rank_by)}); [low, high] = 95% bootstrap CI over test utterances "
         f"({d.n_bootstrap} resamples{within}; seeds averaged: the same resample is applied to every seed and "
         "the seed mean recomputed)."),
        (f"Ranked by {d.label(d.rank_by)}. {TIE_MARK} = not significantly different from the leader at "
         f"alpha = {d.significance.alpha} ({test}, {d.label(d.rank_by)})."),
        f"{SI_MARK} = speaker-independent split (no test speaker in training); {SD_MARK} = speaker-dependent.",
    ]
    if tts:
        what = "; ".join(f"{d.label(c)} = {METRICS.get(c).description} ({METRICS.get(c).better})" for c in tts)
        lines.append(f"TTS columns, recomputed from each cell's {results.TTS_UTTERANCES_ARTIFACT} (never ranked on): "
                     f"{what}; per seed, then the mean over seeds; their [low, high] come from the same resamples "
                     "of test utterances as the other columns.")
    if d.significance.power is not None:
        lines.append(f"n = test utterances each system is scored on (per seed). MDD vs leader = minimum detectable "
                     f"difference in {d.label(d.rank_by)}, in points: the smallest true difference from the leader "
                     f"that a paired test (McNemar, two-sided, alpha = {d.significance.alpha}) detects with "
                     f"probability {d.significance.power} on n paired utterances, at the share of utterances on "
                     "which exactly one of the two is judged correct (their observed discordance, mean over "
                     "seeds; Connor's normal approximation, benchmark.metrics.stacked.mcnemar_mdd); a "
                     "difference smaller than it may exist unseen.")
    if "still_improving" in board.entries.columns and board.entries["still_improving"].any():
        lines.append(CONVERGENCE_NOTE)
    if d.references:
        lines.append(f"Reference rows ({', '.join(d.references)}) are shown below the ranked methods for "
                     "comparison: never ranked, never the leader, not tested.")
    if any(m in PROBE_METRICS for m in d.columns):
        lines.append("Speaker probe: accuracy of a linear classifier predicting the speaker from the frozen test "
                     "embeddings (recomputed from the logged embeddings), mean over cells; lower = less speaker "
                     "identity leaks. Chance = the majority-speaker rate.")
    lines.extend(board.notes)
    return lines


def _md_cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_text(text: str) -> str:
    """Definition text (title, description) as Markdown: HTML escaped, as the HTML output does, since
    Markdown renderers pass raw HTML through (a ``<script>`` in a title must stay text)."""
    return html_lib.escape(text, quote=False)


def to_markdown(board: Leaderboard) -> str:
    table = display_table(board)
    lines = [f"# {_md_text(' '.join(board.definition.heading.split()))}", ""]
    if board.definition.description:
        lines += [_md_text(board.definition.description.strip()), ""]
    lines += [f"Suite `{board.definition.suite}`, protocol `{board.definition.protocol}`"
              + (f", corpus `{board.definition.corpus}`" if board.definition.corpus else "")
              + f"; {board.n_cells} finished cell runs; generated {board.generated} from `{board.tracking_uri}`.", ""]
    lines.append("| " + " | ".join(_md_cell(c) for c in table.columns) + " |")
    lines.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(table.columns))) + "|")
    lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    lines += [""] + [f"- {n}" for n in notes(board)]
    return "\n".join(lines) + "\n"


_TEX = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
        "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
        "±": r"$\pm$", "≈": r"$\approx$", "≤": r"$\leq$", "–": "--", "<": r"$<$", ">": r"$>$",
        "†": r"\textsuperscript{\dag}"}
_TEX_RE = re.compile("|".join(re.escape(k) for k in _TEX))


def tex_escape(text: object) -> str:
    """``text`` as LaTeX source: special characters escaped, ± ≈ as math."""
    return _TEX_RE.sub(lambda m: _TEX[m.group(0)], str(text))


def to_latex(board: Leaderboard) -> str:
    """A booktabs ``table`` float (``\\input`` it; needs ``\\usepackage{booktabs}``)."""
    table = display_table(board)
    label = re.sub(r"[^A-Za-z0-9]+", "-", board.definition.name).strip("-")
    lines = ["% generated by `emobench leaderboard`; numbers recomputed from the runs' predictions tables",
             r"\begin{table*}[tbp]", r"\centering", r"\small",
             rf"\caption{{{tex_escape(board.definition.heading)}}}", rf"\label{{tab:leaderboard-{label}}}",
             rf"\begin{{tabular}}{{rl{'r' * (len(table.columns) - 2)}}}", r"\toprule",
             " & ".join(tex_escape(c) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(tex_escape(v) for v in row) + r" \\" for row in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip",
              r"\parbox{0.95\linewidth}{\footnotesize " + " ".join(tex_escape(n) for n in notes(board)) + "}",
              r"\end{table*}"]
    return "\n".join(lines) + "\n"


_HTML_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:14px}th,td{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}
th{border-bottom:2px solid #444}td:nth-child(2),th:nth-child(2){text-align:left}
tr:first-child td{font-weight:600}.notes{font-size:13px;color:#555;max-width:60em}"""


def to_html(board: Leaderboard) -> str:
    """One self-contained HTML page (no external resources)."""
    table = display_table(board).to_html(index=False, escape=True, border=0, classes="leaderboard")
    esc = html_lib.escape
    d = board.definition
    meta = (f"Suite <code>{esc(d.suite)}</code>, protocol <code>{esc(d.protocol)}</code>"
            + (f", corpus <code>{esc(d.corpus)}</code>" if d.corpus else "")
            + f"; {board.n_cells} finished cell runs; generated {esc(board.generated)} from "
              f"<code>{esc(board.tracking_uri)}</code>.")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{esc(d.heading)}</title>",
        f"<style>{_HTML_STYLE}</style></head><body>", f"<h1>{esc(d.heading)}</h1>",
        f"<p>{esc(d.description.strip())}</p>" if d.description else "", f"<p>{meta}</p>", table,
        '<ul class="notes">' + "".join(f"<li>{esc(n)}</li>" for n in notes(board)) + "</ul>",
        "</body></html>", ""])


def write(board: Leaderboard, out: Path | str | None = None) -> dict[str, Path]:
    """Write leaderboard.{md,csv,html,tex} and snapshot.json into ``out`` (default leaderboards/<name>/)."""
    if not isinstance(board, Leaderboard):   # the claims board writes its own (benchmark.claims.board)
        return board.write(out)
    out = Path(out) if out is not None else Path("leaderboards") / board.definition.name
    out.mkdir(parents=True, exist_ok=True)
    files = {"md": out / "leaderboard.md", "csv": out / "leaderboard.csv", "html": out / "leaderboard.html",
             "tex": out / "leaderboard.tex", "json": out / "snapshot.json"}
    files["md"].write_text(to_markdown(board), encoding="utf-8")
    board.to_csv_frame().to_csv(files["csv"], index=False)
    files["html"].write_text(to_html(board), encoding="utf-8")
    files["tex"].write_text(to_latex(board), encoding="utf-8")
    snapshot = {"definition": board.definition.model_dump(), "tracking_uri": board.tracking_uri,
                "generated": board.generated, "code_version": board.code_version, "n_cells": board.n_cells,
                "notes": notes(board),
                "entries": json.loads(board.entries.to_json(orient="records"))}
    files["json"].write_text(json.dumps(snapshot, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return files


def embed_in_markdown(path: Path | str, name: str, markdown: str) -> None:
    """Replace the block between ``<!-- leaderboard:NAME -->`` and ``<!-- /leaderboard:NAME -->``
    in ``path`` (e.g. the README) with ``markdown``, so that a published table is produced by the
    suite, never typed by hand. The rest of the file is left byte for byte as it was."""
    path = Path(path)
    if not path.is_file():
        raise EmobenchError(f"{path}: no such file to write leaderboard {name!r} into")
    text = path.read_text(encoding="utf-8")
    start, end = f"<!-- leaderboard:{name} -->", f"<!-- /leaderboard:{name} -->"
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise EmobenchError(f"{path}: no block '{start}' ... '{end}' to write leaderboard {name!r} into")
    # The board's own title becomes a level-3 heading: it sits inside the host file's sections.
    body = "\n".join("###" + line[1:] if line.startswith("# ") else line for line in markdown.strip().splitlines())
    path.write_text(text[: i + len(start)] + "\n" + body + "\n" + text[j:], encoding="utf-8")
