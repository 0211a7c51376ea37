"""``superb_probe``: the SUPERB / EmoBox downstream recipe on a frozen pretrained encoder.

SUPERB (Yang et al., 2021) and EmoBox (Ma et al., 2024) score a frozen
speech encoder by a light head: a learned softmax-weighted sum of the
encoder's layers, mean pooling over time, and a linear (or small MLP)
classifier trained with cross-entropy. Mean pooling and the weighted sum are
both linear, so ``mean_t(sum_l w_l h_lt) = sum_l w_l mean_t(h_lt)``: the probe
reads each layer's utterance mean, ``(layers, dims)`` (the feature's default
``pooling: mean``), which gives exactly the frame-level recipe's outputs at a
fraction of the cost and memory. Each (layer, dim) is z-scored with training
statistics first (an affine map per layer, which also commutes with the
mean), so that layers of very different scale start on an equal footing;
the layer weights start uniform.

Hyperparameters: ``feature`` (default: every layer of ``whisper_encoder``,
mean-pooled; ``{"name": "ssl", "model": DIR}`` for a HuggingFace model),
``head`` (``linear`` or ``mlp`` with ``hidden`` units), the usual training
knobs. Training is :class:`benchmark.training.Trainer` (AdamW, early stopping
on validation UA; without a validation set a speaker-disjoint
``val_speaker_fraction`` of the training speakers is held out).
``embed()`` is the layer-weighted pooled representation the head reads;
``layer_weights()`` the learned softmax weights (also in the saved
``method.json``), the SUPERB way to see which layers carry emotion.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import nn

from benchmark.errors import EmobenchError
from benchmark.methods.base import FeatureSet, HParams, Method, hold_out_speakers
from benchmark.methods.linear import Standardizer, label_codes, train_labels

DEFAULT_FEATURE: dict[str, Any] = {"name": "whisper_encoder", "layers": "all", "pooling": "mean"}


class ProbeHParams(HParams):
    feature: str | dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_FEATURE),
                                          description="a pretrained encoder's pooled layers")
    head: Literal["linear", "mlp"] = "linear"
    hidden: int = Field(256, ge=1, description="MLP head width")
    dropout: float = Field(0.1, ge=0, lt=1, description="before the MLP head's output layer")
    class_weight: Literal["balanced"] | None = None
    epochs: int = Field(60, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-3, ge=0)
    patience: int = Field(10, ge=1)
    device: str = "cpu"  # the probe is tiny: a GPU's transfers cost more than they save
    progress: bool = True
    threads: int = Field(1, ge=1)
    val_speaker_fraction: float = Field(0.15, gt=0, lt=1)

    @field_validator("feature")
    @classmethod
    def _pooled(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        from benchmark.features.base import check_feature_kind

        return check_feature_kind(value, ("layers", "vector"))


class LayerWeightedProbe(nn.Module):
    """softmax(w)-weighted sum of ``(B, layers, dims)`` -> head."""

    def __init__(self, n_layers: int, dims: int, n_classes: int, head: str, hidden: int, dropout: float):
        super().__init__()
        self.layer_logits = nn.Parameter(torch.zeros(n_layers))
        self.head: nn.Module
        if head == "linear":
            self.head = nn.Linear(dims, n_classes)
        else:
            self.head = nn.Sequential(nn.Linear(dims, hidden), nn.ReLU(), nn.Dropout(dropout),
                                      nn.Linear(hidden, n_classes))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("l,bld->bd", torch.softmax(self.layer_logits, dim=0), x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(x))


class SuperbProbe(Method):
    """Learned softmax layer weights + mean pooling + linear/MLP head on a frozen encoder."""

    name = "superb_probe"
    feature: str | dict[str, Any] = DEFAULT_FEATURE
    HParams = ProbeHParams
    hp: ProbeHParams

    def __init__(self, **hparams: Any):
        super().__init__(**hparams)
        self.feature = self.hp.feature  # instance-level: which encoder, layers and pooling

    def fit(self, train: FeatureSet, val: FeatureSet | None = None) -> "SuperbProbe":
        from benchmark.features.spectral import torch_threads
        from benchmark.training import TrainConfig, Trainer, seed_everything

        seed_everything(self.hp.seed)
        if val is None or not len(val):
            train, val = hold_out_speakers(train, self.hp.val_speaker_fraction, np.random.default_rng(self.hp.seed))
        classes, y = train_labels(train, self.name)
        self.classes_ = classes
        X = self._layers(train)
        self.scaler_ = Standardizer.fit(X.reshape(len(X), -1))
        Z = torch.from_numpy(self._z(X))
        targets = torch.from_numpy(y)
        weight = None
        if self.hp.class_weight == "balanced":
            counts = np.bincount(y, minlength=len(classes)).astype(np.float64)
            weight = torch.tensor(len(y) / (len(counts) * np.maximum(counts, 1)), dtype=torch.float32)
        self.model_ = LayerWeightedProbe(X.shape[1], X.shape[2], len(classes), self.hp.head, self.hp.hidden,
                                         self.hp.dropout)
        config = TrainConfig(epochs=self.hp.epochs, batch_size=self.hp.batch_size, lr=self.hp.lr,
                             weight_decay=self.hp.weight_decay, patience=self.hp.patience, device=self.hp.device,
                             progress=self.hp.progress)
        trainer = Trainer(self.name, config, seed=self.hp.seed)
        device = trainer.device
        weight = None if weight is None else weight.to(device)

        def batches(epoch: int, rng: np.random.Generator):
            order = rng.permutation(len(Z))
            for s in range(0, len(order), self.hp.batch_size):
                rows = torch.from_numpy(order[s : s + self.hp.batch_size])
                yield Z[rows].to(device), targets[rows].to(device)

        def step(model: LayerWeightedProbe, batch: tuple[torch.Tensor, torch.Tensor],
                 epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
            x, t = batch
            return nn.functional.cross_entropy(model(x), t, weight=weight), {}

        validate = self._validator(val, classes) if val is not None and len(val) else None
        with torch_threads(self.hp.threads):
            self.model_ = trainer.fit(self.model_, batches, step, validate)
        self.model_.cpu()
        self.history_ = trainer.history
        return self

    def _validator(self, val: FeatureSet, classes: list[str]) -> Callable[[LayerWeightedProbe], float]:
        """Validation UA for early stopping (classes unseen in training left out)."""
        from benchmark.training import validation_ua

        codes = label_codes(val.y, classes)
        keep = codes >= 0     # a class absent from training cannot be predicted; left out of val UA

        def validate(model: LayerWeightedProbe) -> float:
            pred = self._proba(val, model).argmax(axis=1)
            return validation_ua(codes[keep], pred[keep], len(classes))

        return validate

    def layer_weights(self) -> np.ndarray:
        """The learned softmax weights over the encoder's layers (sum to 1)."""
        self._check_fitted()
        return torch.softmax(self.model_.layer_logits.detach(), dim=0).numpy().astype(np.float64)

    def embed(self, batch: FeatureSet) -> np.ndarray:
        return self._forward(batch, self.model_, "embed")

    def predict_proba(self, batch: FeatureSet) -> np.ndarray:
        return self._proba(batch, self.model_)

    def save(self, path: str | Path) -> Path:
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"method": self.name, "hparams": self.hparams, "classes": self.classes_,
                "shape": list(self.shape_), "layer_weights": self.layer_weights().tolist()}
        (path / "method.json").write_text(json.dumps(meta, indent=2))
        stats = self.scaler_.arrays()
        np.savez(path / "normalisation.npz", mean=stats["mean"], scale=stats["scale"])   # what load() reads
        torch.save(self.model_.state_dict(), path / "weights.pt")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SuperbProbe":
        path = Path(path)
        meta = json.loads((path / "method.json").read_text())
        if meta["method"] != cls.name:
            raise EmobenchError(f"{path}: holds method {meta['method']!r}, not {cls.name!r}")
        method = cls(**meta["hparams"])
        method.classes_ = meta["classes"]
        stats = np.load(path / "normalisation.npz", allow_pickle=False)
        method.scaler_ = Standardizer(stats["mean"], stats["scale"])
        n_layers, dims = meta["shape"]
        method.model_ = LayerWeightedProbe(n_layers, dims, len(meta["classes"]), method.hp.head, method.hp.hidden,
                                           method.hp.dropout)
        # weights_only: a weights file can hold tensors, never code.
        method.model_.load_state_dict(torch.load(path / "weights.pt", map_location="cpu", weights_only=True))
        method.model_.eval()
        return method

    # ---------------------------------------------------------------- internals

    @property
    def shape_(self) -> tuple[int, int]:
        return len(self.model_.layer_logits), int(self.scaler_.mean.size // len(self.model_.layer_logits))

    def _check_fitted(self) -> None:
        if getattr(self, "model_", None) is None:
            raise EmobenchError(f"method {self.name}: call fit() or load() first")

    def _layers(self, batch: FeatureSet) -> np.ndarray:
        """``batch.X`` as a finite ``(n, layers, dims)`` array (one vector per utterance: one layer)."""
        X = batch.X
        if not isinstance(X, np.ndarray) or X.ndim not in (2, 3):
            raise EmobenchError(f"method {self.name}: expects pooled encoder layers, (n, layers, dims) or (n, dims); "
                                f"got {type(X).__name__ if not isinstance(X, np.ndarray) else f'a {X.ndim}-D array'}")
        X = X[:, None, :] if X.ndim == 2 else X
        if getattr(self, "scaler_", None) is not None and X[0].size != self.scaler_.mean.size:
            raise EmobenchError(f"method {self.name}: features have shape {X.shape[1:]}, the probe was trained on "
                                f"{self.shape_}")
        bad = ~np.isfinite(X.reshape(len(X), -1)).all(axis=1)
        if bad.any():
            raise EmobenchError(f"method {self.name}: {int(bad.sum())} utterance(s) have NaN/inf features, e.g. "
                                f"{[batch.utt_ids[i] for i in np.flatnonzero(bad)[:10]]}")
        return X.astype(np.float64)

    def _z(self, X: np.ndarray) -> np.ndarray:
        return self.scaler_.transform(X.reshape(len(X), -1)).reshape(X.shape).astype(np.float32)

    def _forward(self, batch: FeatureSet, model: LayerWeightedProbe, what: str) -> np.ndarray:
        self._check_fitted()
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        with torch.no_grad():
            x = torch.from_numpy(self._z(self._layers(batch))).to(device)
            out = model.pooled(x) if what == "embed" else torch.softmax(model(x), dim=1)
        model.train(was_training)
        return out.cpu().numpy().astype(np.float64)

    def _proba(self, batch: FeatureSet, model: LayerWeightedProbe) -> np.ndarray:
        proba = self._forward(batch, model, "proba")
        return proba / proba.sum(axis=1, keepdims=True)
