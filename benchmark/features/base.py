"""Feature configs and the extractor interface every feature registers under."""
from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from benchmark.errors import ConfigError
from benchmark.registry import Registry

FeatureKind = Literal["vector", "frames", "layers", "layer_frames"]
KIND_TEXT = {"vector": "one vector per utterance", "frames": "a (frames, dims) matrix per utterance",
             "layers": "several pooled layers per utterance", "layer_frames": "several layers' frames per utterance"}

# Bump when an extractor's output changes for the same config, so old caches are not reused.
# 2: caches written before the batched log-mel extraction held features up to 1e-6 away from what the
#    code extracts now, enough to move a single-seed network cell by several UA points (README).
FEATURE_VERSION = 2


class FeatureConfig(BaseModel):
    """Base of every extractor's config; ``name`` selects the extractor."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    sample_rate: int = 16000

    def digest(self) -> str:
        payload = {"version": FEATURE_VERSION, **self.model_dump()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]

    def source(self) -> "FeatureConfig | None":
        """The config whose cached output this one is a view of (None: computed directly).

        Pretrained encoders compute every layer's frames once per file (the source); a config that
        picks layers or pools over time is a cheap view of that, cached on its own."""
        return None

    def view(self, stored: np.ndarray) -> np.ndarray:
        """This config's features from its source's output (the identity for a config without a source)."""
        return stored

    @property
    def frame_level(self) -> bool:
        """Whether the features are ``(frames, ...)`` arrays (one per utterance, lengths differ)."""
        return FEATURES.get(self.name).frame_level

    @property
    def kind(self) -> FeatureKind:
        """What one utterance's features are: a ``vector``, a ``(frames, dims)`` matrix (``frames``), or a
        pretrained encoder's several layers, pooled ``(layers, dims)`` (``layers``) or ``(frames, layers,
        dims)`` (``layer_frames``)."""
        return "frames" if self.frame_level else "vector"


class Extractor:
    """Turns waveforms into features. Subclasses set ``Config`` and ``extract_batch``.

    ``frame_level`` extractors return ``(frames, dims)`` arrays, the others one
    vector per utterance.
    """

    Config: ClassVar[type[FeatureConfig]]
    frame_level: ClassVar[bool]
    parallel: ClassVar[str] = "torch"  # "torch": batched in-process; "processes": a process pool

    def __init__(self, config: FeatureConfig):
        self.config = config

    def extract_batch(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError


FEATURES: Registry[type[Extractor]] = Registry("feature")


def make_config(feature: str | dict[str, Any] | FeatureConfig) -> FeatureConfig:
    """A validated config from a name (defaults), a dict with ``name``, or a config."""
    if isinstance(feature, FeatureConfig):
        return feature
    params = {"name": feature} if isinstance(feature, str) else dict(feature)
    if "name" not in params:
        raise ConfigError("feature config: missing key 'name'")
    extractor = FEATURES.get(params["name"])
    try:
        return extractor.Config(**params)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"feature {params['name']!r}: {problems}") from None


def feature_label(feature: str | dict[str, Any] | FeatureConfig) -> str:
    """A short readable name of a feature config: ``logmel``, ``whisper_encoder(layers=3, pooling=mean)``."""
    config = make_config(feature)
    required = [k for k, field in type(config).model_fields.items() if field.is_required()]
    defaults = type(config)(**{k: getattr(config, k) for k in required})
    changed = {k: v for k, v in config.model_dump().items()
               if k != "name" and (k in required or v != getattr(defaults, k))}
    return config.name + (f"({', '.join(f'{k}={v}' for k, v in changed.items())})" if changed else "")


def check_feature_kind(feature: str | dict[str, Any], kinds: tuple[FeatureKind, ...]) -> str | dict[str, Any]:
    """Validate a method's ``feature`` hyperparameter: a known feature config whose arrays are of one of
    ``kinds`` (raises ValueError saying what it gives and what is needed, for pydantic to report)."""
    import benchmark.features  # noqa: F401  (registers every extractor)

    try:
        config = make_config(feature)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    if config.kind not in kinds:
        raise ValueError(f"feature {config.name!r} with these settings gives {KIND_TEXT[config.kind]}; this method "
                         f"reads {' or '.join(KIND_TEXT[k] for k in kinds)}")
    return feature
