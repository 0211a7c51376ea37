"""EXTENSION (not in the paper): the VAE family on log-mel input with a small convolutional backbone.

Das et al. (ICASSP 2022, arXiv 2203.14865; see ``benchmark/methods/vae.py``)
use eGeMAPS functionals and an MLP. These variants keep their losses, KL
schedules, clustering loss, unlabelled data and latent linear SVC, and swap
the input and backbone, so that the loss functions can be compared on a
frame-level representation too:

================  ===========================================================
``dae_conv``      denoising autoencoder on log-mel segments
``vae_conv``      VAE (``kl_schedule`` "none" by default; "cyclical"/"linear" as in ``vae_kl_annealing``)
``ssvae_conv``    semi-supervised VAE (cyclical annealing + ``gamma`` * L_clus)
================  ===========================================================

Choices made here (all hyperparameters where it matters):

* input: ``(frames, n_mels)`` log-mel arrays (``feature="logmel"``),
  z-scored per mel bin with statistics over all training frames. No
  outlier removal (that rule is for functionals).
* the autoencoder sees fixed segments of ``segment_frames`` frames (64,
  0.64 s at a 10 ms hop; as accurate as 128 on the embedded corpus and 3x
  faster to train): in training one random crop per utterance per
  epoch (shorter utterances are zero-padded, and padded frames are masked
  out of the reconstruction loss); at inference every utterance is cut into
  consecutive segments and its latent is the mean of the segments' latent
  means, weighted by their real frame counts, so that the whole utterance
  counts.
* reconstruction error: squared error summed over mel bins, averaged over
  a segment's real frames (see ``_reconstruction``), so that ``beta`` and
  ``gamma`` weigh KL and L_clus as they do on the MLP.
* backbone (:class:`ConvAutoencoder`): three stride-2 3x3 convolutions
  (``channels`` 8, 16, 16 -- 16, 32, 32 gave the same UA at 1.5x the time; ReLU), then by default
  (``pooling="time_stats"``)
  the mean and standard deviation over time of that map -> linear bottleneck;
  the decoder (``decoder="spectrum"``) mirrors the encoder over frequency
  only, with 1x4 stride-2 transposed convolutions on a single time row, and
  paints that one spectrum over every frame of the segment. The earlier
  ``decoder="grid"`` ran 4x4 transposed convolutions over the whole
  (frames, mels) grid of a latent broadcast over time, which could only
  paint a map repeating every 2**len(channels) frames; it cost half of each
  step. Over seeds 0-4 (50 epochs, the split of ``perf/bench_training.py``)
  the spectrum decoder's UA was 0.456/0.457/0.527 (dae/vae/ssvae_conv)
  against 0.469/0.448/0.512 for the grid, at 1.65-2x the fits per second.
  Files saved with the grid decoder load with it. On one
  embedded-corpus fold (10 epochs) time pooling gave UA 0.41/0.43/0.44
  (dae/vae/ssvae_conv) against 0.37/0.36/0.39 for ``pooling="flatten"`` (the
  latent of a frame-by-frame autoencoder spends itself on the phone sequence).
"""
from __future__ import annotations

import math
from typing import Any, Iterator, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from benchmark.errors import ConfigError, EmobenchError
from benchmark.methods.augmentation import FrameStore, band_stats, draw_crop_starts
from benchmark.methods.base import FeatureSet
from benchmark.methods.vae import (Autoencoder, AutoencoderHParams, AutoencoderMethod, KLHParams, NoiseHParams,
                                   SemiSupervisedHParams)


class ConvAutoencoder(Autoencoder):
    """(B, 1, frames, n_mels) -> conv encoder -> bottleneck (mu[, logvar]) -> transposed-conv decoder.

    ``pooling="time_stats"``: the encoder's feature map is summarised by its
    mean and standard deviation over time (per channel and frequency) before
    the bottleneck, and the decoder paints the latent back as a time-constant
    map; the latent then describes the segment's spectral statistics (voice
    quality, level, tilt, pitch region) rather than its phone sequence.
    ``pooling="flatten"``: the whole feature map feeds the bottleneck and the
    decoder reconstructs it frame by frame.
    """

    def __init__(self, n_mels: int, segment: int, channels: list[int], latent: int, variational: bool,
                 pooling: str = "time_stats", decoder: str = "grid"):
        super().__init__()
        if pooling not in ("time_stats", "flatten"):
            raise ValueError(f"pooling must be 'time_stats' or 'flatten', not {pooling!r}")
        if decoder not in ("grid", "spectrum"):
            raise ValueError(f"decoder must be 'grid' or 'spectrum', not {decoder!r}")
        if decoder == "spectrum" and pooling != "time_stats":
            raise ValueError("decoder='spectrum' paints one spectrum over time: it needs pooling='time_stats'")
        # "spectrum": the decoder runs over frequency only, on one time row, and its spectrum is broadcast
        # over the segment's frames; "grid" (files saved before it, and pooling="flatten"): 2-D transposed
        # convolutions over the whole (frames, mels) grid.
        self.spectral = decoder == "spectrum"
        self.variational = variational
        self.latent = latent
        self.pooling = pooling
        self.out_shape = (segment, n_mels)
        enc: list[nn.Module] = []
        c_in = 1
        h, w = segment, n_mels
        for c in channels:
            enc += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.ReLU()]
            c_in = c
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        self.grid = (channels[-1], h, w)
        self.features = nn.Sequential(*enc)
        c = channels[-1]
        pooled = 2 * c * w if pooling == "time_stats" else c * h * w
        self.head = nn.Linear(pooled, latent * (2 if variational else 1))
        self.expand = nn.Linear(latent, c * w if pooling == "time_stats" else c * h * w)
        dec: list[nn.Module] = []
        outs = list(reversed(channels[:-1])) + [1]
        c_in = channels[-1]
        kernel, stride, padding = ((1, 4), (1, 2), (0, 1)) if self.spectral else (4, 2, 1)
        for i, c_out in enumerate(outs):
            dec.append(nn.ConvTranspose2d(c_in, c_out, kernel, stride=stride, padding=padding))
            if i < len(outs) - 1:
                dec.append(nn.ReLU())
            c_in = c_out
        self.decoder = nn.Sequential(*dec)
        # Channels-last weights and maps: PyTorch's CPU kernels for the transposed convolutions are
        # then oneDNN's, 1.4x the steps per second of the default layout (same values up to rounding).
        self.to(memory_format=torch.channels_last)   # type: ignore[call-overload]  # a real keyword, untyped

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        f = self.features(x.contiguous(memory_format=torch.channels_last))   # (B, C, frames', mels')
        if self.pooling == "time_stats":
            # The standard deviation spelt out: torch.std over this axis is 10x slower on a CPU
            # (5.8 against 0.57 ms forward-backward on a (64, 16, 8, 8) map), with the same values.
            mean = f.mean(dim=2, keepdim=True)
            std = ((f - mean) ** 2).mean(dim=2).sqrt()
            f = torch.cat([mean.squeeze(2), std], dim=1)
        h = self.head(f.flatten(1))
        if self.variational:
            return h[:, : self.latent], h[:, self.latent:]
        return h, None

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        c, h, w = self.grid
        g = self.expand(z)
        s, m = self.out_shape
        if self.spectral:
            spectrum = self.decoder(g.view(-1, c, 1, w).contiguous(memory_format=torch.channels_last))[..., :m]
            return spectrum.expand(-1, -1, s, -1)   # (B, 1, frames, mels), a view: no copy per frame
        g = g.view(-1, c, 1, w).expand(-1, c, h, w) if self.pooling == "time_stats" else g.view(-1, c, h, w)
        g = g.contiguous(memory_format=torch.channels_last)
        return self.decoder(g)[:, :, :s, :m]


class ConvHParams(AutoencoderHParams):
    segment_frames: int = Field(64, ge=8, description="frames per autoencoder segment")
    channels: list[int] = Field(default_factory=lambda: [8, 16, 16], min_length=1,
                                description="8, 16, 16: the UA of 16, 32, 32 on the embedded corpus at 1.5-3x "
                                            "the speed")
    pooling: Literal["time_stats", "flatten"] = "time_stats"
    decoder: Literal["spectrum", "grid"] = Field("spectrum", description=(
        "spectrum: one decoded spectrum painted over the segment (time_stats pooling); grid: 2-D transposed "
        "convolutions over the (frames, mels) grid, as before (pooling='flatten' always uses it)"))


class DAEConvHParams(ConvHParams, NoiseHParams):
    pass


class VAEConvHParams(ConvHParams, KLHParams):
    pass


class SSVAEConvHParams(ConvHParams, SemiSupervisedHParams):
    pass


class ConvAutoencoderMethod(AutoencoderMethod):
    """The VAE family's losses and latent SVC on log-mel segments (an extension; see the module docstring)."""

    feature = "logmel"

    def __init__(self, **hparams: Any):
        super().__init__(**hparams)
        if any(c < 1 for c in self.hp.channels):
            raise ConfigError(f"method {self.name}: channels must be positive, got {self.hp.channels}")
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def _prepare(self, batch: FeatureSet, *, fit: bool) -> list[np.ndarray]:
        X = batch.X
        if isinstance(X, np.ndarray) and X.ndim == 2:
            raise ConfigError(f"method {self.name}: expects frame-level features (a list of (frames, n_mels) "
                              "arrays), got a 2-D array of utterance-level features")
        n_mels = None if fit or self.mean_ is None else len(self.mean_)
        bad = []
        for uid, x in zip(batch.utt_ids, X):
            shape = np.shape(x)
            if len(shape) != 2 or shape[0] == 0 or (n_mels is not None and shape[1] != n_mels):
                bad.append(f"{uid}: shape {shape}")
            elif not np.isfinite(x).all():
                bad.append(f"{uid}: NaN/inf values")
        if not bad and n_mels is None and len({np.shape(x)[1] for x in X}) > 1:
            bad.append(f"mixed numbers of mel bins {sorted({np.shape(x)[1] for x in X})}")
        if bad:
            want = f"(frames>0, {n_mels})" if n_mels else "(frames>0, n_mels)"
            raise EmobenchError(f"method {self.name}: {len(bad)} utterance(s) are not finite {want} arrays, "
                                f"e.g. {bad[:5]}")
        if fit:
            # float64 sums utterance by utterance: a float64 copy of every frame cost 17% of a fit.
            self.mean_, scale = band_stats(list(X))
            scale[scale < 1e-12] = 1.0
            self.scale_ = scale
        mean, scale = (a.astype(np.float32) for a in self._fitted_norm())
        return [(np.asarray(x, dtype=np.float32) - mean) / scale for x in X]

    def _fitted_norm(self) -> tuple[np.ndarray, np.ndarray]:
        """The per-mel-bin ``(mean_, scale_)`` of a fitted (or loaded) method."""
        if self.mean_ is None or self.scale_ is None:
            raise EmobenchError(f"method {self.name}: call fit() or load() first")
        return self.mean_, self.scale_

    def _n_rows(self, data: list[np.ndarray]) -> int:
        return len(data)

    def _select(self, data: list[np.ndarray], rows: np.ndarray) -> list[np.ndarray]:
        return [data[i] for i in rows]

    def _concat(self, parts: list[list[np.ndarray]]) -> list[np.ndarray]:
        return [x for part in parts for x in part]

    def _batches(self, data: list[np.ndarray] | FrameStore, y: np.ndarray, rng: np.random.Generator) -> Iterator[tuple]:
        """One random ``segment_frames`` crop per utterance (zero-padded, masked), cut from one flat
        frame tensor with a gather per batch."""
        store = data if isinstance(data, FrameStore) else FrameStore.from_arrays(data)
        s = self.hp.segment_frames
        order = rng.permutation(len(store.lengths))
        y_t = torch.from_numpy(y)
        for i in range(0, len(order), self.hp.batch_size):
            rows = order[i:i + self.hp.batch_size]
            starts, lengths = draw_crop_starts(store.lengths[rows], s, rng)
            segs = store.crops(rows, starts, lengths, s, width=s)
            mask = (torch.arange(s)[None, :] < torch.from_numpy(lengths)[:, None]).float()
            yield segs[:, None], mask[:, None, :, None], y_t[torch.from_numpy(rows)]

    def _epoch_source(self, data: list[np.ndarray], y: np.ndarray):
        store = FrameStore.from_arrays(data)   # the training frames once per fit, not per batch
        return lambda epoch, rng: self._batches(store, y, rng)

    def _encode_prepared(self, data: list[np.ndarray]) -> np.ndarray:
        """Each utterance's latent: the mean of its consecutive segments' latents, weighted by their real
        frames (the segments cut from one flat frame tensor in one gather, not one array each)."""
        if not data:
            return np.zeros((0, self.hp.latent_dim))
        s = self.hp.segment_frames
        store = FrameStore.from_arrays(data)
        segments = np.maximum(-(-store.lengths // s), 1)
        owner = np.repeat(np.arange(len(data)), segments)
        starts = (np.arange(len(owner)) - np.repeat(np.cumsum(segments) - segments, segments)) * s
        real = np.clip(store.lengths[owner] - starts, 0, s)
        segs = store.crops(owner, starts, real, s, width=s)
        mu = self._encode_tensor(segs[:, None], chunk=256)
        w = real.astype(np.float64)
        out = np.zeros((len(data), mu.shape[1]))
        np.add.at(out, owner, mu * w[:, None])
        return out / np.bincount(owner, weights=w, minlength=len(data))[:, None]

    def _reconstruction(self, recon: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        # Squared error summed over mel bins, averaged over real frames: per frame it is on the
        # scale of the MLP's per-utterance error (tens), so that beta * KL and gamma * L_clus keep
        # the weight they have there instead of vanishing next to a sum over 64 x 128 elements.
        if mask is None:
            raise ValueError("the conv backbone's reconstruction needs the frame mask its batches carry")
        err = ((recon - x) ** 2) * mask
        frames = mask.flatten(1).sum(dim=1).clamp(min=1.0)
        return (err.flatten(1).sum(dim=1) / frames).mean()

    def _model_args(self) -> dict[str, Any]:
        mean, _ = self._fitted_norm()
        return {"n_mels": int(len(mean)), "segment": self.hp.segment_frames, "channels": list(self.hp.channels),
                "latent": self.hp.latent_dim, "variational": self.variant != "dae", "pooling": self.hp.pooling,
                "decoder": self.hp.decoder if self.hp.pooling == "time_stats" else "grid"}

    def _build_model(self, data: list[np.ndarray]) -> Autoencoder:
        return self._model_from_args(self._model_args())

    def _model_from_args(self, args: dict[str, Any]) -> Autoencoder:
        return ConvAutoencoder(**args)

    def _norm_arrays(self) -> dict[str, np.ndarray]:
        mean, scale = self._fitted_norm()
        return {"mean": mean, "scale": scale}

    def _set_norm_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.mean_, self.scale_ = arrays["mean"], arrays["scale"]


class DAEConv(ConvAutoencoderMethod):
    """EXTENSION: denoising autoencoder on log-mel segments, latent SVC."""

    name = "dae_conv"
    variant = "dae"
    HParams = DAEConvHParams
    hp: DAEConvHParams


class VAEConv(ConvAutoencoderMethod):
    """EXTENSION: VAE on log-mel segments (``kl_schedule`` selects annealing), latent SVC."""

    name = "vae_conv"
    variant = "vae"
    HParams = VAEConvHParams
    hp: VAEConvHParams


class SSVAEConv(ConvAutoencoderMethod):
    """EXTENSION: semi-supervised VAE on log-mel segments, latent SVC."""

    name = "ssvae_conv"
    variant = "ssvae"
    HParams = SSVAEConvHParams
    hp: SSVAEConvHParams
