"""Suite configs: declarative YAML validated into typed objects.

A suite names the corpora, the protocols (each with its own config, methods
and seeds), the methods' hyperparameters and where results are tracked.
A method entry named ``base/variant`` is a *variant*: the registered method
``base`` (or the one its ``method:`` key names) with the entry's hyperparameter
overrides, e.g. ``emotion_extractor/plus_pitch: {pitch_perturb: true}``. A variant
is a method like any other everywhere (cells, leaderboards, compare, registry);
the report adds an ablation table per base method. The
shipped suites live in ``benchmark/suites/*.yaml`` (``smoke``, ``default``,
``full``); any other YAML path works too. Errors name the bad key and say what
was expected.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from benchmark.errors import ConfigError, validate_config

SUITES_DIR = Path(__file__).parent / "suites"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CorpusSpec(_Strict):
    name: str
    root: str | None = None                  # directory of a real corpus; None for the embedded one
    options: dict[str, Any] = Field(default_factory=dict)


class ProtocolSpec(_Strict):
    name: str                                # registry name, e.g. "speaker_kfold"
    id: str | None = None                    # label in results; defaults to name
    config: dict[str, Any] = Field(default_factory=dict)
    methods: list[str] | Literal["all"] = "all"
    seeds: list[int] = Field(default_factory=lambda: [0])
    corpora: list[str] | Literal["all"] = "all"
    keep_embeddings: bool = False            # log test embeddings (speaker probe, latent consistency)

    @property
    def label(self) -> str:
        return self.id or self.name


class TTSSpec(_Strict):
    """The TTS grid: corpus x system x seed, one system per conditioning method plus the control and references.

    Systems: ``none`` (the TTS model without emotion input), one per name in
    ``methods`` (conditioned on that method's frozen embeddings; the method's
    hyperparameters are the suite's), and with ``references`` the held-out
    recordings (``ground_truth``) and their Griffin-Lim resynthesis
    (``resynthesis``). ``config`` holds :class:`benchmark.tts.evaluate.TTSEvalConfig` fields.
    """

    methods: list[str] = Field(default_factory=list)
    control: bool = True                     # the "none" system
    references: bool = True                  # the "ground_truth" and "resynthesis" systems
    seeds: list[int] = Field(default_factory=lambda: [0])
    corpora: list[str] | Literal["all"] = "all"
    config: dict[str, Any] = Field(default_factory=dict)

    def systems(self) -> list[str]:
        refs = ["ground_truth", "resynthesis"] if self.references else []
        return refs + (["none"] if self.control else []) + list(self.methods)


# The store every command uses when none is named: a SQLite file in the working directory.
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


class TrackingSpec(_Strict):
    uri: str = DEFAULT_TRACKING_URI
    experiment: str | None = None            # defaults to "emobench-<suite name>"
    register_models: bool = False            # register every trained model in the Model Registry


class ExecutorSpec(_Strict):
    """Where the grid runs: ``local`` (this machine: ``n_jobs`` processes) or ``ray`` (a Ray cluster)."""

    name: Literal["local", "ray"] = "local"
    address: str | None = None               # ray: the cluster (e.g. "ray://head:10001", "auto"); default
                                             # $RAY_ADDRESS, else a new single-node Ray on this machine
    retries: int = Field(1, ge=0)            # ray: times a job is run again after its worker or node died
    cpus_per_task: int = Field(1, ge=1)      # ray: CPUs (and torch/BLAS threads) per job
    gpus_per_task: float = Field(1.0, ge=0)  # ray: GPUs per job of a method whose `device` is cuda
    warm: bool = False                       # ray, on a cluster that outlives the run (address): run the jobs on
                                             # warm workers that stay for the next run (docs/scale-out.md)
    warm_idle_s: float = Field(900.0, gt=0)  # ray, warm: a warm worker without a job this long ends itself


class SuiteConfig(_Strict):
    name: str
    description: str = ""
    corpora: list[CorpusSpec]
    methods: dict[str, dict[str, Any]]       # method (or base/variant) name -> hyperparameters
    protocols: list[ProtocolSpec]
    tts: TTSSpec | None = None               # the TTS grid (None: no TTS cells)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    n_jobs: int = 1                          # grid cells run in parallel processes
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    bootstrap: int = 1000                    # bootstrap resamples for confidence intervals

    @field_validator("protocols")
    @classmethod
    def _unique_protocol_ids(cls, protocols: list[ProtocolSpec]) -> list[ProtocolSpec]:
        labels = [p.label for p in protocols]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"protocol ids must be unique; repeated: {dupes} (set `id:` to tell them apart)")
        return protocols

    @property
    def experiment_name(self) -> str:
        return self.tracking.experiment or f"emobench-{self.name}"

    def base_method(self, name: str) -> str:
        """The registered method behind a suite method name (``base/variant`` -> ``base``)."""
        return base_method(name, self.methods.get(name, {}))

    def hparams_of(self, name: str) -> dict[str, Any]:
        """The hyperparameters a suite method name passes to its registered method."""
        return {k: v for k, v in self.methods[name].items() if k != METHOD_KEY}

    def methods_for(self, protocol: ProtocolSpec) -> list[str]:
        return list(self.methods) if protocol.methods == "all" else list(protocol.methods)

    def digest(self) -> str:
        """Hash of the resolved config (tracking location excluded: same suite, same results)."""
        payload = self.model_dump(exclude={"tracking", "n_jobs", "executor"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


METHOD_KEY = "method"   # in a method entry: the registered method a variant is built on


def base_method(name: str, entry: dict[str, Any] | None = None) -> str:
    """``emotion_extractor/plus_pitch`` -> ``emotion_extractor`` (or the entry's ``method:``)."""
    entry = entry or {}
    return str(entry.get(METHOD_KEY) or name.split("/", 1)[0])


def variant_name(name: str) -> str:
    """``emotion_extractor/plus_pitch`` -> ``plus_pitch``; ``""`` for a plain method."""
    return name.split("/", 1)[1] if "/" in name else ""


def parse_suite(data: dict[str, Any], source: str = "<suite>") -> SuiteConfig:
    """Validate a suite dict; check that every named method and protocol exists."""
    suite = validate_config(SuiteConfig, data, source, "suite config")
    _check_references(suite, source)
    return suite


def _check_references(suite: SuiteConfig, source: str) -> None:
    # Imported here: the protocol registry pulls in pandas and scikit-learn.
    from benchmark.methods import METHODS
    from benchmark.protocols import PROTOCOLS

    problems = []
    for name in suite.methods:
        base = suite.base_method(name)
        if base not in METHODS:
            what = f"unknown method {base!r}" if base != name else "unknown method"
            problems.append(f"methods.{name}: {what} (known: {', '.join(METHODS.names())})")
            continue
        if "/" in base or (METHOD_KEY in suite.methods[name] and "/" not in name):
            problems.append(f"methods.{name}: only a `base/variant` entry may name its `{METHOD_KEY}`")
            continue
        try:
            METHODS.get(base)(**suite.hparams_of(name))
        except ConfigError as exc:
            problems.append(f"methods.{name}: {exc}")
    # a protocol may name a corpus by its loader or by its own name (a CSV corpus's `corpus` option)
    corpus_names = {c.name for c in suite.corpora} | {str(c.options["corpus"]) for c in suite.corpora
                                                      if c.options.get("corpus")}
    for i, proto in enumerate(suite.protocols):
        if proto.name not in PROTOCOLS:
            problems.append(f"protocols.{i}.name: unknown protocol {proto.name!r} "
                            f"(known: {', '.join(PROTOCOLS.names())})")
        for m in [] if proto.methods == "all" else proto.methods:
            if m not in suite.methods:
                problems.append(f"protocols.{i}.methods: {m!r} is not configured under `methods`")
        for c in [] if proto.corpora == "all" else proto.corpora:
            if c not in corpus_names:
                problems.append(f"protocols.{i}.corpora: {c!r} is not listed under `corpora`")
    problems += _tts_problems(suite, corpus_names)
    if problems:
        raise ConfigError(f"{source}: invalid suite config\n" + "\n".join(f"  - {p}" for p in problems))


def _tts_problems(suite: SuiteConfig, corpus_names: set[str]) -> list[str]:
    if suite.tts is None:
        return []
    from benchmark.errors import EmobenchError
    from benchmark.tts.evaluate import CONTROL_SYSTEM, REFERENCE_SYSTEMS, TTSEvalConfig

    problems = []
    for m in suite.tts.methods:
        if m in (CONTROL_SYSTEM, *REFERENCE_SYSTEMS):
            problems.append(f"tts.methods: {m!r} is not a method (set tts.control / tts.references instead)")
        elif m not in suite.methods:
            problems.append(f"tts.methods: {m!r} is not configured under `methods`")
        elif "/" in m:
            problems.append(f"tts.methods: {m!r} is a variant; TTS conditions on plain methods only")
    for c in [] if suite.tts.corpora == "all" else suite.tts.corpora:
        if c not in corpus_names:
            problems.append(f"tts.corpora: {c!r} is not listed under `corpora`")
    try:
        TTSEvalConfig(**suite.tts.config)
    except (ValidationError, EmobenchError) as exc:
        problems.append(f"tts.config: {exc}".replace("\n", " "))
    if not suite.tts.systems():
        problems.append("tts: no systems (give methods, or keep control / references on)")
    return problems


def load_suite(name_or_path: str | Path) -> SuiteConfig:
    """Load a shipped suite by name (``smoke``, ``default``, ``full``) or a YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        candidate = SUITES_DIR / f"{name_or_path}.yaml"
        if not candidate.exists():
            known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.yaml")))
            raise ConfigError(f"unknown suite {name_or_path!r}; shipped suites: {known}; or give a YAML path")
        path = candidate
    if not path.is_file():
        raise ConfigError(f"{path}: suite config file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_suite(data, str(path))


def list_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))
