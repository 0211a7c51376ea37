"""Shared machinery of the neural methods on log-mel frames.

``LogMelNetMethod`` implements the whole Method contract once (normalisation,
cropping and padding, training through :class:`benchmark.training.Trainer`,
embedding, prediction, safe save/load); a method only says how to build its
network and what its loss is. The encoder is a small 1-D conv stack over
frames (mel bands as channels), an optional bidirectional GRU, and attentive statistics pooling
(Okabe et al., 2018) to a fixed-size embedding.

Choices (exposed as hyperparameters): log-mel is z-scored per mel band with
training statistics, then ``frame_pool`` consecutive frames are averaged
(2: a 20 ms hop, which halves every layer's cost on a CPU and, on the
embedded corpus, costs no accuracy: emotion lives in prosody over hundreds of
milliseconds); training uses random crops of ``crop_frames`` pooled frames
(0.96 s), cut in one gather per mini-batch from the training frames loaded once
(``benchmark.methods.augmentation.FrameStore``), evaluation the whole utterance.
The defaults (32 channels, 0.96-s crops, batch 128, early stopping with patience 4
under a cap of 100 epochs, the learning rate halved after every 2 epochs without a better
validation UA) are measured in ``docs/performance.md`` against the earlier 64 channels /
2.5-s crops / batch 32; the log-mel baselines change the schedule (``baselines/cnn.py``: at least 20 epochs at
a constant learning rate, on a moving average of the weights). Padded frames are zeroed after every
conv block and masked out of the pooling, so an utterance gets the same
embedding alone or in a padded batch (up to float rounding), and evaluation
runs in length-sorted batches. Early stopping uses validation UA; without a
validation set, a speaker-disjoint 15% of the training speakers is held out
for it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, cast

import numpy as np
import torch
from pydantic import Field, field_validator
from torch import nn

from benchmark.errors import EmobenchError
from benchmark.methods.augmentation import FrameStore, band_stats, draw_crop_starts, pool_frames
from benchmark.methods.base import FeatureSet, HParams, Method, hold_out_speakers
from benchmark.methods.linear import label_codes, train_labels


class LogMelHParams(HParams):
    # Any (frames, dims) feature: log-mel by default, or one layer of a pretrained encoder, e.g.
    # {"name": "whisper_encoder", "layers": 1, "pooling": "none"} (20-ms frames already: frame_pool 1).
    feature: str | dict[str, Any] = "logmel"
    # Early stopping ends every fit (patience 4 on validation UA); the cap is only a bound, set far above
    # the 10-30 epochs the embedded corpus's fits take, so that no fit is a training budget.
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(128, ge=1, description="128: 2-3x the throughput of 32 on a CPU, same UA")
    lr: float = Field(2e-3, gt=0, description="the same at batch 128 as at 32: 4e-3 (sqrt scaling) lost 4-5 UA "
                                            "points on *_weighted")
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(4, ge=1)
    min_epochs: int = Field(8, ge=1, description=(
        "no early stop or learning-rate decay before this epoch (8: without it, crnn seed 1 stopped at epoch 7 "
        "on a lucky epoch 3 with happy recall 0 and UA 0.375; held to epoch 8 it trained on to UA 0.521)"))
    lr_decay_factor: float | None = Field(0.5, gt=0, lt=1, description=(
        "learning rate x this after every lr_decay_patience epochs without a better validation UA (None: off)"))
    lr_decay_patience: int = Field(2, ge=1)
    grad_clip: float | None = 5.0
    ema_decay: float | None = Field(None, gt=0, lt=1, description=(
        "validate and keep a moving average of the weights with this decay per step (None: the weights)"))
    device: str = "auto"
    progress: bool = True
    threads: int = Field(1, ge=1, description="torch threads while training (1 is fastest on a busy 2-core box)")
    frame_pool: int = Field(2, ge=1, description="average this many consecutive log-mel frames (2: 20 ms hop)")
    crop_frames: int = Field(48, ge=8, description=(
        "training crop, in pooled frames (48 x 20 ms = 0.96 s: 1.3x the steps of 64, UA over 3 seeds "
        "0.549 against 0.521 for cnn, 0.534 against 0.552 for emotion_extractor; docs/performance.md)"))
    eval_batch_size: int = Field(64, ge=1)
    channels: list[int] = Field(default_factory=lambda: [32, 32, 32], description="Conv1d widths, one block each")
    rnn_hidden: int = Field(0, ge=0, description="bidirectional GRU size; 0 = no recurrent layer")
    embedding_dim: int = Field(128, ge=2)
    dropout: float = Field(0.2, ge=0, lt=1)
    val_speaker_fraction: float = Field(0.15, gt=0, lt=1)

    @field_validator("feature")
    @classmethod
    def _frames(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        from benchmark.features.base import check_feature_kind

        return check_feature_kind(value, ("frames",))


class AttentiveStatsPooling(nn.Module):
    """Attention-weighted mean and standard deviation over time, ignoring padded frames."""

    def __init__(self, dim: int, hidden: int = 64):
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # x (B, T, D), mask (B, T)
        scores = self.attention(x).squeeze(-1).masked_fill(~mask, float("-inf"))
        w = torch.softmax(scores, dim=1).unsqueeze(-1)
        mean = (w * x).sum(dim=1)
        var = (w * (x - mean.unsqueeze(1)) ** 2).sum(dim=1)
        return torch.cat([mean, torch.sqrt(var.clamp_min(1e-6))], dim=1)


class _PairMax(torch.autograd.Function):
    """Max of each pair of consecutive frames, backward to the first maximum of the pair, as
    ``max_pool1d(2)`` does; the forward is one elementwise ``maximum``, the backward one mask."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(h)
        pairs = _pairs(h)
        return torch.maximum(pairs[..., 0], pairs[..., 1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (h,) = ctx.saved_tensors
        pairs = _pairs(h)
        second = pairs[..., 1] > pairs[..., 0]              # a tie goes to the first, as in max_pool1d
        route = torch.stack([~second, second], dim=-1).to(grad.dtype)
        out = (route * grad.unsqueeze(-1)).flatten(-2)
        if out.shape[-1] < h.shape[-1]:    # a floored odd frame: no gradient
            out = nn.functional.pad(out, (0, h.shape[-1] - out.shape[-1]))
        return out


def _pairs(h: torch.Tensor) -> torch.Tensor:
    half = h.shape[-1] // 2
    return h[..., : 2 * half].unflatten(-1, (half, 2))


class MaxPoolTime(nn.Module):
    """``nn.MaxPool1d(2)`` over the last (time) axis: the same values, the same gradients and the same
    flooring of an odd length, at a twelfth of the forward time and half the forward-backward time of
    PyTorch's CPU ``max_pool1d`` (which goes through its 2-D kernel and stores indices; it was 18% of a
    ``cnn`` training step at batch 128). ``tests/test_neural_methods.py`` checks the two against each other."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:   # (B, C, T) -> (B, C, T // 2)
        return cast(torch.Tensor, _PairMax.apply(h))


def conv_block(c_in: int, c_out: int, kernel_size: int, dilation: int = 1, pool: bool = True) -> nn.Sequential:
    """Conv1d -> BatchNorm -> [max-pool over 2 frames] -> ReLU.

    Pooling before the ReLU is the same function (and gradient) as after it, as ReLU is monotone,
    at half the ReLU's cost; the parameter indices (0: conv, 1: batch norm) are those of the
    ReLU-then-pool order, so older weights files load."""
    layers: list[nn.Module] = [nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation,
                                         padding=dilation * (kernel_size // 2)), nn.BatchNorm1d(c_out)]
    return nn.Sequential(*layers, *([MaxPoolTime()] if pool else []), nn.ReLU())


def frame_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, frames) True on real frames; every utterance keeps at least one."""
    return torch.arange(frames, device=lengths.device)[None, :] < lengths.clamp(min=1)[:, None]


def packed_rnn(rnn: nn.RNNBase, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``rnn`` over (B, T, C) with each utterance's real length, output padded back to T.

    Packed, so the backward direction of a bidirectional layer starts at each utterance's last
    real frame rather than in its padding."""
    packed = nn.utils.rnn.pack_padded_sequence(h, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
    return nn.utils.rnn.pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=h.shape[1])[0]


class LogMelEncoder(nn.Module):
    """Conv1d blocks over frames (mel bands as channels; time pooled by 2) -> optional BiGRU ->
    attentive stats pooling -> embedding.

    1-D rather than 2-D convolutions: at the same width a 2-D stack over (time, mel) costs about
    six times more per utterance on a CPU (measured: 173 vs 26 ms per batch of 32 2.5-s crops,
    one core), which would put a CNN fit at minutes on the 2-core machine the default suite targets.
    """

    def __init__(self, n_mels: int, channels: list[int], rnn_hidden: int, embedding_dim: int, dropout: float,
                 kernel_size: int = 5):
        super().__init__()
        self.blocks, c_in = nn.ModuleList(), n_mels
        for c in channels:
            self.blocks.append(conv_block(c_in, c, kernel_size))
            c_in = c
        self.time_stride = 2 ** len(channels)
        dim = c_in
        self.rnn = nn.GRU(dim, rnn_hidden, batch_first=True, bidirectional=True) if rnn_hidden else None
        dim = 2 * rnn_hidden if rnn_hidden else dim
        self.pool = AttentiveStatsPooling(dim)
        self.embed = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * dim, embedding_dim), nn.ReLU())

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:  # x (B, T, M)
        h = x.transpose(1, 2).contiguous()                 # (B, M, T): contiguous is faster for mkldnn
        # A batch without padding (every training crop full length, the usual case) needs no masking:
        # each block's output is then all real frames (the masks would be all ones, an exact no-op).
        padded = bool((lengths < x.shape[1]).any())
        for block in self.blocks:
            h = block(h)
            lengths = lengths // 2
            if padded:
                # Zero what padding became, as the convolution's own zero padding is for a lone utterance.
                h = h * frame_mask(lengths, h.shape[2])[:, None, :]
        h = h.transpose(1, 2)                              # (B, T', C)
        mask = frame_mask(lengths, h.shape[1])
        if self.rnn is not None:
            h = packed_rnn(self.rnn, h, lengths)
        return self.embed(self.pool(h, mask))


def pad_batch(arrays: list[np.ndarray], min_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = [len(a) for a in arrays]
    out = np.zeros((len(arrays), max(max(lengths), min_frames), arrays[0].shape[1]), dtype=np.float32)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return torch.from_numpy(out), torch.tensor(lengths)


def pad_frames(x: torch.Tensor, min_frames: int) -> torch.Tensor:
    """Zero frames appended to a (B, T, M) batch up to ``min_frames``."""
    if x.shape[1] >= min_frames:
        return x
    return nn.functional.pad(x, (0, 0, 0, min_frames - x.shape[1]))


class LogMelNetMethod(Method):
    """Base of every neural log-mel method: subclasses give ``build`` and ``loss``."""

    feature: str | dict[str, Any] = "logmel"
    HParams = LogMelHParams
    hp: LogMelHParams

    def __init__(self, **hparams: Any):
        super().__init__(**hparams)
        self.feature = self.hp.feature  # instance-level: log-mel, or a pretrained encoder's layer

    # ---------------------------------------------------------------- hooks

    def build(self, n_mels: int, n_classes: int, n_speakers: int) -> nn.ModuleDict:
        """A module with ``encoder`` (-> embedding) and ``head`` (embedding -> logits)."""
        encoder = LogMelEncoder(n_mels, self.hp.channels, self.hp.rnn_hidden, self.hp.embedding_dim, self.hp.dropout)
        return nn.ModuleDict({"encoder": encoder, "head": nn.Linear(self.hp.embedding_dim, n_classes)})

    def loss(self, model: nn.ModuleDict, batch: dict[str, Any], epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        logits = model["head"](model["encoder"](batch["x"], batch["lengths"]))
        return nn.functional.cross_entropy(logits, batch["y"], weight=self.class_weights_), {}

    def epoch_indices(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Training rows of one epoch (subclasses resample)."""
        return rng.permutation(len(y))

    def min_epochs_for(self, y: np.ndarray) -> int:
        """The trainer's ``min_epochs`` for training labels ``y`` (a subclass whose epochs are longer than
        the training set may count them in training-set epochs: ``cnn_oversampled``'s ``min_epochs_unit``)."""
        return self.hp.min_epochs

    def train_batch(self, rows: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        """One training mini-batch of the rows ``rows``: random crops cut from the preloaded frames
        in one gather; subclasses augment the whole batch or add targets."""
        starts, lengths = draw_crop_starts(self.train_store_.lengths[rows], self.hp.crop_frames, rng)
        x = self.train_store_.crops(rows, starts, lengths, self.min_frames)
        return {"x": x, "lengths": torch.from_numpy(lengths), "y": torch.from_numpy(self.train_y_[rows]),
                "rows": rows}

    # ---------------------------------------------------------------- contract

    def fit(self, train: FeatureSet, val: FeatureSet | None = None) -> "LogMelNetMethod":
        from benchmark.training import TrainConfig, Trainer, seed_everything
        from benchmark.features.spectral import torch_threads

        seed_everything(self.hp.seed)
        rng = np.random.default_rng(self.hp.seed)
        if val is None or not len(val):
            train, val = hold_out_speakers(train, self.hp.val_speaker_fraction, rng)
        classes, y = train_labels(train, self.name)
        self.classes_ = classes
        # Pooled first, then z-scored with the pooled frames' statistics (the frames the network sees),
        # for the whole set at once; _normalise gives one utterance the same floats.
        frames, lengths = pool_frames(list(train.X), self.hp.frame_pool)
        mean, std = band_stats(frames)
        self.mean_, self.std_ = mean.astype(np.float32), (std + 1e-5).astype(np.float32)
        self.train_store_ = FrameStore.from_flat(self._zscore(frames), lengths)
        self.train_y_ = y
        self.train_speakers_ = np.asarray(train.speakers).astype(str)
        self.speaker_ids_ = sorted(set(self.train_speakers_.tolist()))
        counts = np.bincount(y, minlength=len(classes)).astype(np.float64)
        self.class_counts_ = counts
        self.class_weights_: torch.Tensor | None = None   # prepare_training may weigh the classes
        self.model_ = self.build(self.mean_.shape[0], len(classes), len(self.speaker_ids_))
        config = TrainConfig(epochs=self.hp.epochs, batch_size=self.hp.batch_size, lr=self.hp.lr,
                             weight_decay=self.hp.weight_decay, patience=self.hp.patience,
                             min_epochs=self.min_epochs_for(y), lr_decay_factor=self.hp.lr_decay_factor,
                             lr_decay_patience=self.hp.lr_decay_patience,
                             grad_clip=self.hp.grad_clip, ema_decay=self.hp.ema_decay, device=self.hp.device,
                             progress=self.hp.progress)
        trainer = Trainer(self.name, config, seed=self.hp.seed)
        self.device_ = trainer.device
        self.prepare_training()
        validate = self._validator(val, classes) if val is not None and len(val) else None
        with torch_threads(self.hp.threads):
            self.model_ = trainer.fit(self.model_, self._batches, self._step, validate)
        self.history_ = trainer.history
        self.convergence_ = trainer.convergence
        del self.train_store_
        return self

    def _validator(self, val: FeatureSet, classes: list[str]) -> Callable[[nn.ModuleDict], float] | None:
        """Validation UA for early stopping (classes unseen in training left out; None if that leaves none)."""
        from benchmark.training import validation_ua

        codes = label_codes(val.y, classes)
        keep = codes >= 0     # a class absent from training cannot be predicted; left out of val UA
        val_inputs = [self._normalise(x) for x, k in zip(val.X, keep) if k]  # once, not every epoch
        y_val = codes[keep]
        if not len(y_val):
            return None

        def validate(model: nn.ModuleDict) -> float:
            proba = self._forward_inputs(val_inputs, model, "proba")
            return validation_ua(y_val, proba.argmax(axis=1), len(classes))

        return validate

    def prepare_training(self) -> None:
        """Called once before training, after the model is built (class weights, speaker maps...)."""

    def embed(self, batch: FeatureSet) -> np.ndarray:
        return self._forward(batch, self.model_, "embed")

    def predict_proba(self, batch: FeatureSet) -> np.ndarray:
        return self._proba(batch, self.model_)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"method": self.name, "hparams": self.hparams, "classes": self.classes_,
                "speakers": self.speaker_ids_}
        (path / "method.json").write_text(json.dumps(meta, indent=2))
        np.savez(path / "normalisation.npz", mean=self.mean_, std=self.std_)
        torch.save({k: v.cpu() for k, v in self.model_.state_dict().items()}, path / "weights.pt")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LogMelNetMethod":
        path = Path(path)
        meta = json.loads((path / "method.json").read_text())
        if meta["method"] != cls.name:
            raise EmobenchError(f"{path}: holds method {meta['method']!r}, not {cls.name!r}")
        method = cls(**meta["hparams"])
        method.classes_, method.speaker_ids_ = meta["classes"], meta["speakers"]
        norm = np.load(path / "normalisation.npz", allow_pickle=False)
        method.mean_, method.std_ = norm["mean"], norm["std"]
        method.model_ = method.build(len(method.mean_), len(meta["classes"]), len(method.speaker_ids_))
        # weights_only: a weights file can hold tensors, never code.
        method.model_.load_state_dict(torch.load(path / "weights.pt", map_location="cpu", weights_only=True))
        method.model_.eval()
        method.device_ = torch.device("cpu")
        return method

    # ---------------------------------------------------------------- internals

    def _normalise(self, x: np.ndarray) -> np.ndarray:
        """``frame_pool`` frames averaged (a trailing partial group too), then z-scored per mel band."""
        return self._zscore(pool_frames([x], self.hp.frame_pool)[0])

    def _zscore(self, frames: np.ndarray) -> np.ndarray:
        """Pooled ``frames`` z-scored per mel band, in place (training and inference alike)."""
        frames -= self.mean_
        frames /= self.std_
        return frames

    def _batches(self, epoch: int, rng: np.random.Generator):
        order = self.epoch_indices(self.train_y_, rng)
        for s in range(0, len(order), self.hp.batch_size):
            rows = order[s : s + self.hp.batch_size]
            if len(rows) < 2:
                continue  # batch norm needs two examples
            yield self.train_batch(rows, rng)

    def _step(self, model: nn.ModuleDict, batch: dict[str, Any], epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        batch = {k: v.to(self.device_) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        return self.loss(model, batch, epoch)

    def _forward(self, batch: FeatureSet, model: nn.ModuleDict, what: str) -> np.ndarray:
        return self._forward_inputs([self._normalise(x) for x in batch.X], model, what)

    def _forward_inputs(self, inputs: list[np.ndarray], model: nn.ModuleDict, what: str) -> np.ndarray:
        from benchmark.features.spectral import torch_threads

        model.eval()
        device = next(model.parameters()).device
        # Length-sorted batches waste little on padding; the encoder masks padding after every block.
        order = np.argsort([len(x) for x in inputs], kind="stable")
        outputs: list[np.ndarray] = [np.empty(0)] * len(inputs)
        with torch.inference_mode(), torch_threads(self.hp.threads):
            for s in range(0, len(order), self.hp.eval_batch_size):
                rows = order[s : s + self.hp.eval_batch_size]
                xt, lengths = pad_batch([inputs[i] for i in rows], self.min_frames)
                z = model["encoder"](xt.to(device), lengths.to(device))
                out = (z if what == "embed" else torch.softmax(model["head"](z), dim=1)).cpu().numpy()
                for i, o in zip(rows, out.astype(np.float64)):
                    outputs[i] = o
        return np.stack(outputs) if outputs else np.empty((0, 0))

    @property
    def min_frames(self) -> int:
        """Shortest input the encoder's pooling accepts (one frame left after all its pooling)."""
        # An int attribute of every encoder; cast because nn.Module.__getattr__ is typed for parameters,
        # buffers and submodules only.
        return cast(int, self.model_["encoder"].time_stride)

    def _proba(self, batch: FeatureSet, model: nn.ModuleDict) -> np.ndarray:
        proba = self._forward(batch, model, "proba")
        return proba / proba.sum(axis=1, keepdims=True)

