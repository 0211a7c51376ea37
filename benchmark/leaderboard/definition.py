"""A leaderboard's definition: the YAML file that says which cells, which metrics, how methods are ranked and tested.

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

``labels: {wa: "Emotion accuracy (judge)"}`` relabels columns;
``references: [ground_truth, resynthesis]`` lists methods (systems) shown in
rows of their own below the ranked ones, marked as references: never the
leader, never tested. ``kind: claims`` defines the claims board instead
(``benchmark.claims.board``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

import benchmark
from benchmark.errors import ConfigError, validate_config
from benchmark.leaderboard.columns import (
    PROBE_METRICS,
    column_header,
    is_prediction_metric,
    metric_label,
    prediction_metrics,
    tts_metrics,
)
from benchmark.metrics.registry import METRICS
from benchmark.suite import DEFAULT_TRACKING_URI

DEFINITIONS_DIR = Path(benchmark.__file__).resolve().parent.parent / "leaderboards"


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
    """The names of the leaderboards defined in ./leaderboards and in the emobench checkout's."""
    names = {p.stem for folder in (Path("leaderboards"), DEFINITIONS_DIR) if folder.is_dir()
             for p in folder.glob("*.yaml")}
    return sorted(names)


def load_definition(name_or_path: str | Path) -> LeaderboardDef:
    """Read and validate a definition by name (:func:`definition_path`) or YAML path."""
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

