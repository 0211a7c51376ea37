"""Claim files: one small YAML per claim, validated into a :class:`ClaimSpec`.

A claim says which methods beat (or match) which baselines, on which
protocol, by which metric, in which direction and by how much::

    paper: "Wang, Gudnason, Borth, Interspeech 2023 (arXiv 2306.05709)"
    statement: The Emotion Extractor raises minority-class recall over the plain and rebalancing baselines.
    methods: [emotion_extractor]
    baselines: [cnn, cnn_weighted, cnn_oversampled]   # an entry may be a list of alternatives
    protocol: imbalance
    select: {meta: {ratio: max}}                       # as in a leaderboard definition
    metric: minority_recall                            # or a list: every metric is one more comparison
    direction: greater                                 # greater | less | not_less | not_greater | within
    margin: 0                                          # points for rates (UA, recall, probe), raw for distances
    trend: ratio                                       # optional: the effect is the slope over log2(meta.ratio)
    aggregation: {folds: pooled, seeds: mean, resample: utterance}
    require: all                                       # every comparison must hold (or: any)

The shipped claims live beside this module (``benchmark/claims/*.yaml``); any
other YAML path works too. A bad file is a :class:`~benchmark.errors.ConfigError`
naming the file and the key.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from benchmark.errors import ConfigError, validate_config
from benchmark.leaderboard.definition import Select   # the same cell selection as a leaderboard definition

CLAIMS_DIR = Path(__file__).resolve().parent
PROBE_METRIC = "speaker_probe_acc"
DISTANCE_METRICS = ("mmd", "bhattacharyya")
Direction = Literal["greater", "less", "not_less", "not_greater", "within"]


def metric_kind(metric: str) -> str:
    """``prediction`` (recomputed from predictions tables), ``probe`` or ``distance`` (from embeddings)."""
    from benchmark.leaderboard.columns import is_prediction_metric

    if metric == PROBE_METRIC:
        return "probe"
    if metric in DISTANCE_METRICS:
        return "distance"
    if is_prediction_metric(metric):
        return "prediction"
    raise ValueError(metric)


def in_points(metric: str) -> bool:
    """Rates are shown (and their margins given) in percentage points; distances in their own units."""
    return metric_kind(metric) != "distance"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Aggregation(_Strict):
    folds: Literal["pooled", "fold_mean"] = "pooled"   # per seed: the pooled predictions, or the mean over folds
    seeds: Literal["mean"] = "mean"                     # the value is the mean over seeds both methods ran
    resample: Literal["utterance", "speaker"] = "utterance"   # the bootstrap's unit


class ClaimSpec(_Strict):
    """One claim of a paper, as a check emobench can run on a suite's records."""

    id: str = ""                          # defaults to the file name
    paper: str
    statement: str
    methods: list[str] = Field(min_length=1)
    baselines: list[str | list[str]] = Field(min_length=1)
    protocol: str
    corpus: str | None = None
    select: Select = Field(default_factory=Select)
    metric: str | list[str]
    direction: Direction
    margin: float = Field(0.0, ge=0)
    trend: str | None = None
    aggregation: Aggregation = Field(default_factory=Aggregation)
    require: Literal["all", "any"] = "all"
    alpha: float = Field(0.05, gt=0, lt=1)
    power: float = Field(0.8, gt=0, lt=1)
    n_bootstrap: int = Field(1000, ge=100)
    seed: int = 0
    note: str = ""

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | list[str]) -> str | list[str]:
        names = [value] if isinstance(value, str) else value
        if not names:
            raise ValueError("name at least one metric")
        bad = []
        for name in names:
            try:
                metric_kind(name)
            except ValueError:
                bad.append(name)
        if bad:
            raise ValueError(f"unknown metric(s) {bad}; known: ua, wa, macro_f1, minority_recall, recall.<class>, "
                             f"{PROBE_METRIC}, {', '.join(DISTANCE_METRICS)}")
        return value

    @field_validator("baselines")
    @classmethod
    def _alternatives(cls, value: list[str | list[str]]) -> list[str | list[str]]:
        if any(isinstance(v, list) and not v for v in value):
            raise ValueError("an entry of alternatives must name at least one method")
        return value

    @field_validator("trend")
    @classmethod
    def _trend_key(cls, value: str | None) -> str | None:
        return value.removeprefix("meta.") if value else value

    @model_validator(mode="after")
    def _consistent(self) -> ClaimSpec:
        if self.trend and any(metric_kind(m) != "prediction" for m in self.metrics):
            raise ValueError("trend: a trend is computed from predictions tables; use a prediction metric "
                             "(ua, minority_recall, recall.<class>, ...)")
        if self.trend and self.trend in self.select.meta:
            raise ValueError(f"trend: {self.trend!r} is also fixed by select.meta; a trend needs several values")
        if self.aggregation.resample == "speaker" and any(metric_kind(m) == "distance" for m in self.metrics):
            raise ValueError("aggregation.resample: latent distances resample utterances within each language")
        if self.direction == "within" and self.margin == 0:
            raise ValueError("margin: a `within` claim needs a margin > 0")
        return self

    @property
    def metrics(self) -> list[str]:
        return [self.metric] if isinstance(self.metric, str) else list(self.metric)

    def baseline_options(self) -> list[list[str]]:
        """Each baseline entry as its list of alternatives, in order of preference."""
        return [[b] if isinstance(b, str) else list(b) for b in self.baselines]

    def margin_native(self, metric: str) -> float:
        """The margin in the metric's own scale (a fraction for rates)."""
        return self.margin / 100 if in_points(metric) else self.margin


def parse_claim(data: Any, name: str, source: str = "<claim>") -> ClaimSpec:
    """Validate one claim; errors name ``source`` and the bad key."""
    claim = validate_config(ClaimSpec, data, source, "claim")
    claim.id = claim.id or name
    return claim


def load_claim(path: str | Path) -> ClaimSpec:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: claim file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_claim(data, path.stem, str(path))


def list_claims() -> list[str]:
    """The shipped claims' ids."""
    return sorted(p.stem for p in CLAIMS_DIR.glob("*.yaml"))


def load_claims(names: list[str] | str | None = None) -> list[ClaimSpec]:
    """Shipped claims by id (``None`` or ``"all"``: every one), or YAML paths."""
    if names is None or names == "all":
        names = list_claims()
    elif isinstance(names, str):
        names = [names]
    out = []
    for name in names:
        path = Path(name)
        if path.suffix not in (".yaml", ".yml"):
            path = CLAIMS_DIR / f"{name}.yaml"
            if not path.is_file():
                raise ConfigError(f"unknown claim {name!r}; shipped: {', '.join(list_claims())}, or give a YAML path")
        out.append(load_claim(path))
    ids = [c.id for c in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"claims {dupes} are given twice")
    return out
