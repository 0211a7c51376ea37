"""What the pretrained-encoder features share: layer picks and pooling as views of every layer's frames.

An encoder (``whisper_encoder``, ``ssl``) is run once per audio file and its
hidden states of every layer are cached as one ``(frames, layers, dims)``
array (float16 unless a value would overflow it; the encoders' activations
stay far below). A config that picks ``layers`` or pools over time is a view
of that array (:meth:`EncoderFeatureConfig.view`), cached on its own, so
trying another layer or pooling never runs the encoder again.

``layers``: ``"all"``, one index (``0`` is the encoder's input embedding,
``-1`` the last layer, as in HuggingFace's ``hidden_states``) or a list of
indices. ``pooling``: ``"none"`` (frame-level), ``"mean"`` or ``"mean_std"``
(mean and standard deviation over frames, concatenated). Shapes per
utterance:

=============  =====================  =====================
pooling        one layer (an int)     several layers
=============  =====================  =====================
``none``       ``(frames, D)``        ``(frames, L, D)``
``mean``       ``(D,)``               ``(L, D)``
``mean_std``   ``(2D,)``              ``(L, 2D)``
=============  =====================  =====================
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import numpy as np

from benchmark.errors import ConfigError
from benchmark.features.base import FEATURE_VERSION, FeatureConfig, FeatureKind

FLOAT16_MAX = 6.0e4  # above this (float16 tops out at 65504) the frames are stored as float32

Layers = Literal["all"] | int | tuple[int, ...]

_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def file_fingerprint(path: Path) -> str:
    """SHA-1 of a weights file, memoised per (path, size, mtime) within the process."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _FINGERPRINTS:
        with open(path, "rb") as fh:
            _FINGERPRINTS[key] = hashlib.file_digest(fh, "sha1").hexdigest()
    return _FINGERPRINTS[key]


class EncoderFeatureConfig(FeatureConfig):
    """A pretrained encoder's hidden states: which ``layers``, and the ``pooling`` over frames."""

    layers: Layers = "all"
    pooling: Literal["none", "mean", "mean_std"] = "mean"
    # False: a pooled view is computed from every layer's mean and std, which the encoder run caches
    # instead of every frame (a few KB a file rather than ~1-2.5 MB a second of audio for a base/large
    # SSL model); frame-level views still cache the frames. Not part of the cache key: both routes
    # give the same views (up to the float16 rounding of cached frames).
    cache_frames: bool = True

    def weights_id(self) -> str:
        """Identity of the weights (a content hash): the same config on other weights is another cache."""
        raise NotImplementedError

    def digest(self) -> str:
        payload = {"version": FEATURE_VERSION, **self.model_dump(exclude={"cache_frames"}),
                   "weights": self.weights_id()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]

    def source(self) -> "EncoderFeatureConfig | None":
        """Every layer's frames; for pooled views with ``cache_frames: false``, every layer's mean and std."""
        if self.pooling != "none" and not self.cache_frames:
            stats = {"layers": "all", "pooling": "mean_std"}
            return None if (self.layers, self.pooling) == ("all", "mean_std") else self.model_copy(update=stats)
        if self.layers == "all" and self.pooling == "none":
            return None
        return self.model_copy(update={"layers": "all", "pooling": "none"})

    def encoder_output(self, states: np.ndarray) -> np.ndarray:
        """What the extractor caches for this (source) config from the encoder's ``(frames, layers, dims)``."""
        return storage_array(states) if self.pooling == "none" else self.view(states)

    @property
    def frame_level(self) -> bool:
        return self.pooling == "none"

    @property
    def kind(self) -> FeatureKind:
        if isinstance(self.layers, int):
            return "frames" if self.pooling == "none" else "vector"
        return "layer_frames" if self.pooling == "none" else "layers"

    def layer_index(self, n_layers: int) -> list[int]:
        picked = list(range(n_layers)) if self.layers == "all" else (
            [self.layers] if isinstance(self.layers, int) else list(self.layers))
        bad = [i for i in picked if not -n_layers <= i < n_layers]
        if bad or not picked:
            raise ConfigError(f"feature {self.name!r}: layers {bad or picked} out of range; this encoder has "
                              f"{n_layers} hidden states (0 = input embedding .. {n_layers - 1} = last layer)")
        return picked

    def view(self, stored: np.ndarray) -> np.ndarray:
        """Pick layers from every layer's frames ``(frames, layers, dims)``, then pool over frames; or from
        every layer's statistics ``(layers, 2 dims)`` (mean, then std). float32."""
        if stored.ndim == 2:  # statistics: only pooled views come from them
            x = stored[self.layer_index(stored.shape[0])].astype(np.float32)
            x = x[:, : x.shape[1] // 2] if self.pooling == "mean" else x
            return np.ascontiguousarray(x[0] if isinstance(self.layers, int) else x)
        x = stored[:, self.layer_index(stored.shape[1])].astype(np.float32)
        if self.pooling == "mean":
            x = x.mean(axis=0)
        elif self.pooling == "mean_std":
            x = np.concatenate([x.mean(axis=0), x.std(axis=0)], axis=-1)
        if isinstance(self.layers, int):
            x = x[:, 0] if self.pooling == "none" else x[0]
        return np.ascontiguousarray(x)


def storage_array(states: np.ndarray) -> np.ndarray:
    """A ``(frames, layers, dims)`` array as it is cached: float16 unless a value would overflow it."""
    return states.astype(np.float16 if np.abs(states).max(initial=0.0) < FLOAT16_MAX else np.float32)
