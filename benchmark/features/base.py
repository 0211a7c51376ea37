"""Feature configs and the extractor interface every feature registers under."""
from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from benchmark.errors import ConfigError
from benchmark.registry import Registry

# Bump when an extractor's output changes for the same config, so old caches are not reused.
FEATURE_VERSION = 1


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
