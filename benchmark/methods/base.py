"""The one interface shared by seed methods and baselines.

A method is a scikit-learn-like estimator over a :class:`FeatureSet`::

    method = METHODS.get("emotion_extractor")(epochs=20)
    method.fit(train, val)
    probs = method.predict_proba(test)   # (n, n_classes), rows sum to 1
    z = method.embed(test)               # (n, embedding_dim)
    method.save(path); same = type(method).load(path)

Each method declares the feature it consumes (a name from the feature
registry) and a pydantic ``HParams`` model, so that suite configs are
validated and every hyperparameter has a default that works on the embedded
corpus. An iterative method also leaves, after ``fit``, ``history_`` (one dict
per epoch: ``loss``, ``val_ua`` and its own terms) and ``convergence_`` (a
:class:`benchmark.training.Convergence`), which the runner logs to MLflow.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from benchmark.errors import ConfigError, EmobenchError
from benchmark.featureset import FeatureSet
from benchmark.registry import Registry


def hold_out_speakers(train: FeatureSet, fraction: float,
                      rng: np.random.Generator) -> tuple[FeatureSet, FeatureSet | None]:
    """For early stopping without a validation set: a speaker-disjoint validation set of ``fraction`` of the
    speakers (none with fewer than 3)."""
    speakers = np.unique(np.asarray(train.speakers).astype(str))
    if len(speakers) < 3:
        return train, None
    held = rng.choice(speakers, max(1, round(fraction * len(speakers))), replace=False)
    is_val = np.isin(np.asarray(train.speakers).astype(str), held)
    return train.subset(np.flatnonzero(~is_val)), train.subset(np.flatnonzero(is_val))


class HParams(BaseModel):
    """Base of every method's hyperparameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    seed: int = 0


class Method(ABC):
    """Base class: subclasses set ``name``, ``feature`` and ``HParams``."""

    name: ClassVar[str]
    # The feature it consumes: a registry name ("logmel", "functionals") or a feature config. A per-class
    # default that an instance may override (methods whose feature is a hyperparameter set it in __init__).
    feature: str | dict[str, Any]
    HParams: ClassVar[type[HParams]] = HParams

    def __init__(self, **hparams: Any):
        try:
            self.hp = self.HParams(**hparams)
        except ValidationError as exc:
            raise ConfigError(f"method {self.name}: invalid hyperparameters:\n{exc}") from None
        self.classes_: list[str] | None = None

    @property
    def hparams(self) -> dict[str, Any]:
        return self.hp.model_dump()

    def _fitted_classes(self) -> list[str]:
        """``classes_`` of a fitted (or loaded) method."""
        if self.classes_ is None:
            raise EmobenchError(f"method {self.name}: call fit() or load() first")
        return self.classes_

    @abstractmethod
    def fit(self, train: FeatureSet, val: FeatureSet | None = None) -> "Method":
        """Train on ``train``; ``val`` (never test data) drives early stopping."""

    @abstractmethod
    def embed(self, batch: FeatureSet) -> np.ndarray:
        """The utterance-level representation, shape ``(n, embedding_dim)``."""

    @abstractmethod
    def predict_proba(self, batch: FeatureSet) -> np.ndarray:
        """Class posteriors, shape ``(n, len(classes_))``, columns in ``classes_`` order."""

    def predict(self, batch: FeatureSet) -> np.ndarray:
        return np.asarray(self.classes_)[self.predict_proba(batch).argmax(axis=1)]

    @abstractmethod
    def save(self, path: str | Path) -> Path:
        """Write a self-contained directory that :meth:`load` reads back safely."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> "Method":
        """Inverse of :meth:`save`; never executes code from the files it reads."""


# Every shipped method, seed or baseline: name -> "module:class", imported on first use (so a run
# that trains one method imports only its module). A new method is one module plus one line here;
# a method outside the package registers itself with METHODS.register_lazy or @METHODS.register.
METHOD_MODULES = {
    "majority":            "baselines.classical:MajorityBaseline",
    "logreg":              "baselines.classical:LogRegBaseline",
    "linear_svm":          "baselines.classical:LinearSVMBaseline",
    "logreg_oversampled":  "baselines.classical:LogRegOversampled",
    "logreg_smote":        "baselines.classical:LogRegSmote",
    "frozen_logreg":       "baselines.frozen:FrozenLogReg",
    "cnn":                 "baselines.cnn:CNN",
    "crnn":                "baselines.cnn:CRNN",
    "cnn_weighted":        "baselines.cnn:CNNWeighted",
    "crnn_weighted":       "baselines.cnn:CRNNWeighted",
    "cnn_oversampled":     "baselines.cnn:CNNOversampled",
    "dae":                 "benchmark.methods.vae:DAE",
    "vae":                 "benchmark.methods.vae:VAE",
    "vae_kl_annealing":    "benchmark.methods.vae:VAEKLAnnealing",
    "ssvae":               "benchmark.methods.vae:SSVAE",
    "dae_conv":            "benchmark.methods.vae_conv:DAEConv",
    "vae_conv":            "benchmark.methods.vae_conv:VAEConv",
    "ssvae_conv":          "benchmark.methods.vae_conv:SSVAEConv",
    "emotion_extractor":   "benchmark.methods.emotion_extractor:EmotionExtractor",
    "speaker_adversarial": "benchmark.methods.speaker_adversarial:SpeakerAdversarial",
    "superb_probe":        "benchmark.methods.layer_probe:SuperbProbe",
}
METHODS: Registry[type[Method]] = Registry("method", lazy=METHOD_MODULES)
