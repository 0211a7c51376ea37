"""``frozen_logreg``: logistic regression on a frozen pretrained encoder's pooled features.

The plainest way to score a speech encoder: one layer's utterance mean and
standard deviation (``pooling: mean_std``), z-scored with training
statistics, into multinomial logistic regression (the ``logreg`` baseline,
``baselines/classical.py``, with the encoder's features instead of
functionals). It needs no training loop and no layer weights, so beside
``superb_probe`` it shows what the probe's learned layer mix and head add.

The default reads Whisper tiny.en's block 1 (of 4): on the embedded corpus it
is the best single layer (speaker-independent UA 0.567 against 0.540 for the
front end, 0.560, 0.481 and 0.424 for blocks 2-4; ``perf/pretrained_layers.py``,
docs/features.md): the top blocks, tuned to the decoder's text, carry less of
the (synthetic) prosody.
``feature`` takes any utterance-level feature, e.g. ``{"name": "ssl",
"model": DIR, "layers": 12, "pooling": "mean_std"}``.
"""
from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from baselines.classical import LogRegBaseline, LogRegHParams

DEFAULT_FEATURE: dict[str, Any] = {"name": "whisper_encoder", "layers": 1, "pooling": "mean_std"}


class FrozenLogRegHParams(LogRegHParams):
    feature: str | dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_FEATURE),
                                          description="an utterance-level feature: one pooled layer")

    @field_validator("feature")
    @classmethod
    def _one_vector(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        from benchmark.features.base import check_feature_kind

        return check_feature_kind(value, ("vector",))


class FrozenLogReg(LogRegBaseline):
    """Multinomial logistic regression on one frozen encoder layer's mean and standard deviation."""

    name = "frozen_logreg"
    feature: str | dict[str, Any] = DEFAULT_FEATURE
    HParams = FrozenLogRegHParams
    hp: FrozenLogRegHParams

    def __init__(self, **hparams: Any):
        super().__init__(**hparams)
        self.feature = self.hp.feature  # instance-level: which encoder and layer
