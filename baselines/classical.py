"""Classical baselines on utterance-level acoustic functionals (scikit-learn, imbalanced-learn).

Registered names (all consume the ``"functionals"`` feature, a 2-D array):

========================  ==========================================================================
``majority``              predicts the training prior for every utterance (argmax = majority class)
``logreg``                multinomial logistic regression
``linear_svm``            linear SVM (``LinearSVC``)
``logreg_oversampled``    logistic regression on a training set balanced by ``RandomOverSampler``
``logreg_smote``          logistic regression on a training set balanced by ``SMOTE``
========================  ==========================================================================

Common to all of them:

* Features are z-scored inside the method with statistics of the training
  set only (the same scaler is applied to validation and test data), so
  callers pass raw functionals.
* ``embed()`` returns those z-scored functionals. A linear model has no
  hidden representation; the standardized input is what it sees, so the
  representation probes (speaker probe, latent consistency) on a baseline
  measure what the raw functionals carry, the reference point for learned
  embeddings.
* ``linear_svm`` has no probabilistic output. By default (``probability=
  "softmax"``) its class probabilities are a softmax of the one-vs-rest
  decision values: cheap, deterministic, and its argmax is exactly the SVM's
  prediction, but not calibrated. ``probability="calibrated"`` uses
  ``CalibratedClassifierCV`` (sigmoid, ``calibration_folds`` folds) instead;
  its argmax can differ from a single SVM's.
* Resampling (``logreg_oversampled``, ``logreg_smote``) happens after
  z-scoring and only on the training set; validation and test data are never
  resampled. SMOTE interpolates between z-scored neighbours of a class;
  ``k_neighbors`` is lowered to (smallest class size - 1) when a class is
  smaller than that, with a log message; a class with a single utterance is an
  error.
* Saved models are a directory: ``hparams.json``, ``classes.json``,
  ``scaler.npz`` and the fitted estimator as a skops file (or ``prior.npz``
  for ``majority``); loading never unpickles.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from benchmark.errors import EmobenchError
from benchmark.methods.base import FeatureSet, HParams, Method
from benchmark.methods.linear import (Standardizer, check_class_counts, feature_matrix, softmax_decision,
                                      train_labels)
from benchmark.methods.sk_io import (load_arrays, load_sklearn, read_json, save_arrays, save_sklearn,
                                     write_json)

log = logging.getLogger(__name__)


class _FunctionalsMethod(Method):
    """z-scored functionals -> one estimator; subclasses say how the estimator is built and fitted."""

    feature: str | dict[str, Any] = "functionals"   # frozen_logreg: a hyperparameter

    def __init__(self, **hparams: Any):
        super().__init__(**hparams)
        self.scaler_: Standardizer | None = None

    # -- subclass hooks
    def _fit_model(self, Z: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def _proba(self, Z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _save_model(self, path: Path) -> None:
        raise NotImplementedError

    def _load_model(self, path: Path) -> None:
        raise NotImplementedError

    # -- the Method interface
    def fit(self, train: FeatureSet, val: FeatureSet | None = None) -> "_FunctionalsMethod":
        """Fit the scaler and the model on ``train``; ``val`` is not needed (no early stopping)."""
        X = feature_matrix(train, self.name)
        self.classes_, y = train_labels(train, self.name)
        self.scaler_ = Standardizer.fit(X)
        self._fit_model(self.scaler_.transform(X), y)
        return self

    def _z(self, batch: FeatureSet) -> np.ndarray:
        if self.scaler_ is None:
            raise EmobenchError(f"method {self.name}: call fit() or load() first")
        return self.scaler_.transform(feature_matrix(batch, self.name, len(self.scaler_.mean)))

    def embed(self, batch: FeatureSet) -> np.ndarray:
        """The z-scored functionals (see the module docstring)."""
        return self._z(batch)

    def predict_proba(self, batch: FeatureSet) -> np.ndarray:
        return self._proba(self._z(batch))

    def save(self, path: str | Path) -> Path:
        if self.scaler_ is None:
            raise EmobenchError(f"method {self.name}: nothing to save, call fit() first")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / "hparams.json", {"method": self.name, "hparams": self.hparams})
        write_json(path / "classes.json", self.classes_)
        save_arrays(path / "scaler.npz", **self.scaler_.arrays())
        self._save_model(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "_FunctionalsMethod":
        path = Path(path)
        meta = read_json(path / "hparams.json")
        if meta.get("method") != cls.name:
            raise EmobenchError(f"{path}: holds method {meta.get('method')!r}, not {cls.name!r}")
        method = cls(**meta["hparams"])
        method.classes_ = list(read_json(path / "classes.json"))
        stats = load_arrays(path / "scaler.npz")
        method.scaler_ = Standardizer(stats["mean"], stats["scale"])
        method._load_model(path)
        return method


# ----------------------------------------------------------------------------- majority


class MajorityBaseline(_FunctionalsMethod):
    """The training-set class prior for every utterance; its prediction is the majority class."""

    name = "majority"

    def _fit_model(self, Z: np.ndarray, y: np.ndarray) -> None:
        assert self.classes_ is not None   # set by fit before _fit_model
        self.prior_ = np.bincount(y, minlength=len(self.classes_)) / len(y)

    def _proba(self, Z: np.ndarray) -> np.ndarray:
        return np.repeat(self.prior_[None, :], len(Z), axis=0)

    def _save_model(self, path: Path) -> None:
        save_arrays(path / "prior.npz", prior=self.prior_)

    def _load_model(self, path: Path) -> None:
        self.prior_ = load_arrays(path / "prior.npz")["prior"]


# ----------------------------------------------------------------------------- linear models


class LogRegHParams(HParams):
    C: float = Field(1.0, gt=0, description="inverse L2 regularisation strength")
    max_iter: int = Field(2000, ge=1)
    class_weight: Literal["balanced"] | None = None


class _SklearnModel(_FunctionalsMethod):
    """Shared save/load and probabilities of a single fitted scikit-learn classifier."""

    def _estimator(self) -> Any:
        raise NotImplementedError

    def _resample(self, Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return Z, y

    def _fit_model(self, Z: np.ndarray, y: np.ndarray) -> None:
        Z, y = self._resample(Z, y)
        self.model_ = self._estimator().fit(Z, y)

    def _proba(self, Z: np.ndarray) -> np.ndarray:
        return self.model_.predict_proba(Z)

    def _save_model(self, path: Path) -> None:
        save_sklearn(self.model_, path / "model.skops")

    def _load_model(self, path: Path) -> None:
        self.model_ = load_sklearn(path / "model.skops")


class LogRegBaseline(_SklearnModel):
    """Multinomial logistic regression (L2, lbfgs) on z-scored functionals."""

    name = "logreg"
    HParams = LogRegHParams
    hp: LogRegHParams

    def _estimator(self) -> LogisticRegression:
        return LogisticRegression(C=self.hp.C, max_iter=self.hp.max_iter, class_weight=self.hp.class_weight,
                                  random_state=self.hp.seed)


class LinearSVMHParams(HParams):
    C: float = Field(1.0, gt=0)
    max_iter: int = Field(10000, ge=1)
    class_weight: Literal["balanced"] | None = None
    probability: Literal["softmax", "calibrated"] = "softmax"
    calibration_folds: int = Field(3, ge=2)


class LinearSVMBaseline(_SklearnModel):
    """Linear SVM (one-vs-rest ``LinearSVC``); probabilities as in the module docstring."""

    name = "linear_svm"
    HParams = LinearSVMHParams
    hp: LinearSVMHParams

    def _estimator(self) -> Any:
        svc = LinearSVC(C=self.hp.C, max_iter=self.hp.max_iter, class_weight=self.hp.class_weight,
                        random_state=self.hp.seed)
        if self.hp.probability == "calibrated":
            return CalibratedClassifierCV(svc, method="sigmoid", cv=self.hp.calibration_folds)
        return svc

    def _fit_model(self, Z: np.ndarray, y: np.ndarray) -> None:
        assert self.classes_ is not None   # set by fit before _fit_model
        if self.hp.probability == "calibrated":
            check_class_counts(y, self.classes_, self.hp.calibration_folds, self.name,
                               f"calibration with {self.hp.calibration_folds} folds")
        super()._fit_model(Z, y)

    def _proba(self, Z: np.ndarray) -> np.ndarray:
        if self.hp.probability == "calibrated":
            return self.model_.predict_proba(Z)
        return softmax_decision(self.model_.decision_function(Z))


class LogRegOversampled(LogRegBaseline):
    """Logistic regression after random oversampling of minority classes (imbalanced-learn)."""

    name = "logreg_oversampled"

    def _resample(self, Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from imblearn.over_sampling import RandomOverSampler

        return RandomOverSampler(random_state=self.hp.seed).fit_resample(Z, y)


class SmoteHParams(LogRegHParams):
    k_neighbors: int = Field(5, ge=1, description="SMOTE neighbours (lowered for classes smaller than k+1)")


class LogRegSmote(LogRegBaseline):
    """Logistic regression after SMOTE on the z-scored functionals (imbalanced-learn)."""

    name = "logreg_smote"
    HParams = SmoteHParams
    hp: SmoteHParams

    def _resample(self, Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from imblearn.over_sampling import SMOTE

        assert self.classes_ is not None   # set by fit before resampling
        check_class_counts(y, self.classes_, 2, self.name, "SMOTE")
        smallest = int(np.bincount(y).min())
        k = min(self.hp.k_neighbors, smallest - 1)
        if k < self.hp.k_neighbors:
            log.info("%s: smallest class has %d utterances; SMOTE uses k_neighbors=%d instead of %d",
                     self.name, smallest, k, self.hp.k_neighbors)
        return SMOTE(k_neighbors=k, random_state=self.hp.seed).fit_resample(Z, y)
