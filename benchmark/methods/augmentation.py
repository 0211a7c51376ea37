"""Training crops and augmentations of log-mel mini-batches, whole batches at a time in torch.

Every operation is split in two: a ``draw_*`` function takes the random numbers of a
batch from the epoch's NumPy generator in a few vectorised calls (so a fit stays
deterministic for a seed and independent of torch's global generator), and an
``apply`` function applies them to a padded ``(B, T, M)`` batch with its real
``lengths``. The per-example reference they replace (one NumPy crop and augmentation
per utterance in a Python loop) is in ``tests/test_augmentation.py``, which checks the
batched versions against it on the same draws.

Frames are stored once per fit as one flat ``(total_frames, M)`` tensor with each
utterance's offset and length (:class:`FrameStore`); a batch is one gather from it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class FrameStore:
    """Utterances as one flat frame tensor: utterance ``i`` is ``frames[offsets[i] : offsets[i] + lengths[i]]``."""

    frames: torch.Tensor      # (total_frames, M) float32
    offsets: np.ndarray       # (N,) int64
    lengths: np.ndarray       # (N,) int64

    @classmethod
    def from_arrays(cls, arrays: list[np.ndarray]) -> "FrameStore":
        lengths = np.array([len(a) for a in arrays], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        frames = torch.from_numpy(np.ascontiguousarray(np.concatenate(arrays), dtype=np.float32))
        return cls(frames, offsets, lengths)

    def crops(self, rows: np.ndarray, starts: np.ndarray, lengths: np.ndarray, min_frames: int,
              width: int | None = None) -> torch.Tensor:
        """(B, width, M): ``lengths[b]`` frames of utterance ``rows[b]`` from ``starts[b]``, zero after them.

        ``width`` defaults to the longest crop (at least ``min_frames``)."""
        if width is None:
            width = max(int(lengths.max(initial=0)), min_frames)
        t = np.arange(width)
        valid = t[None, :] < lengths[:, None]
        index = np.where(valid, self.offsets[rows, None] + starts[:, None] + t[None, :], 0)
        x = self.frames[torch.from_numpy(index)]
        return x * torch.from_numpy(valid)[:, :, None]


def draw_crop_starts(lengths: np.ndarray, crop: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(start, crop length) per utterance: a uniform ``crop``-frame window, or all of a shorter utterance."""
    starts = rng.integers(0, np.maximum(lengths - crop, 0) + 1)
    return starts.astype(np.int64), np.minimum(lengths, crop).astype(np.int64)


def frame_mask(lengths: torch.Tensor | np.ndarray, frames: int) -> torch.Tensor:
    lengths = torch.as_tensor(lengths)
    return torch.arange(frames)[None, :] < lengths[:, None]


# ----------------------------------------------------------------------------- SpecAugment masks


def draw_masks(lengths: np.ndarray, count: int, max_width: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(starts, widths), each (B, count): widths uniform in 0..max_width, starts uniform in
    0..max(1, length - width) - 1 -- the per-example rule, for ``count`` masks of every row."""
    widths = rng.integers(0, max_width + 1, size=(len(lengths), count))
    starts = rng.integers(0, np.maximum(1, np.asarray(lengths)[:, None] - widths))
    return starts.astype(np.int64), widths.astype(np.int64)


def apply_masks(x: torch.Tensor, starts: np.ndarray, widths: np.ndarray, dim: int) -> torch.Tensor:
    """Zero ``[start, start + width)`` along ``dim`` (1: time, 2: mel bands) for every (row, mask)."""
    if starts.size == 0:
        return x
    pos = torch.arange(x.shape[dim])[None, None, :]
    s, w = torch.from_numpy(starts)[:, :, None], torch.from_numpy(widths)[:, :, None]
    hit = ((pos >= s) & (pos < s + w)).any(dim=1)                 # (B, size of dim)
    keep = (~hit)[:, :, None] if dim == 1 else (~hit)[:, None, :]
    return x * keep


# ----------------------------------------------------------------------------- speed, pitch, noise


def draw_speed_factors(n: int, speed_range: float, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(1 - speed_range, 1 + speed_range, size=n)


def speed_perturb(x: torch.Tensor, lengths: np.ndarray, factors: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
    """Resample each row's real frames in time by 1/factor (linear interpolation of every band,
    at least 8 frames out); returns the batch and the new lengths."""
    lengths = np.asarray(lengths, dtype=np.int64)
    out_len = np.maximum(8, np.round(lengths / factors)).astype(np.int64)
    width = int(out_len.max(initial=8))
    j = np.arange(width)[None, :]
    step = (lengths - 1)[:, None] / np.maximum(out_len - 1, 1)[:, None]
    pos = np.minimum(j * step, (lengths - 1)[:, None]).clip(min=0)
    left = np.floor(pos).astype(np.int64)
    right = np.minimum(left + 1, np.maximum(lengths - 1, 0)[:, None])
    w = torch.from_numpy((pos - left).astype(np.float32))[:, :, None]
    rows = torch.arange(len(x))[:, None]
    y = (1 - w) * x[rows, torch.from_numpy(left)] + w * x[rows, torch.from_numpy(right)]
    return y * frame_mask(out_len, width)[:, :, None], out_len


def draw_pitch_shifts(n: int, max_bands: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(-max_bands, max_bands + 1, size=n).astype(np.int64)


def pitch_shift(x: torch.Tensor, shifts: np.ndarray) -> torch.Tensor:
    """Shift each row's mel bands by ``shifts[b]`` (positive: up), repeating the edge band into the gap."""
    bands = x.shape[2]
    source = np.clip(np.arange(bands)[None, :] - shifts[:, None], 0, bands - 1)   # (B, M)
    index = torch.from_numpy(source)[:, None, :].expand(-1, x.shape[1], -1)
    return torch.gather(x, 2, index)


def draw_noise(shape: tuple[int, ...], snr_db_range: tuple[float, float], rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """(SNR in dB per row, unit-mean exponential noise of ``shape``)."""
    snr = rng.uniform(*snr_db_range, size=shape[0])
    return snr, rng.exponential(1.0, size=shape).astype(np.float32)


def add_noise(x: torch.Tensor, lengths: np.ndarray, snr_db: np.ndarray, noise: np.ndarray,
              mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """Normalised log-mel back to linear mel, noise at each row's SNR (relative to the row's mean
    power over its real frames), and back; padding stays zero."""
    mean_t = torch.from_numpy(np.asarray(mean, dtype=np.float32))
    std_t = torch.from_numpy(np.asarray(std, dtype=np.float32))
    mask = frame_mask(lengths, x.shape[1])[:, :, None]
    power = torch.exp(x * std_t + mean_t)
    count = torch.from_numpy(np.maximum(np.asarray(lengths), 1) * x.shape[2]).float()
    row_mean = (power * mask).sum(dim=(1, 2)) / count
    scale = row_mean / torch.from_numpy((10 ** (np.asarray(snr_db) / 10)).astype(np.float32))
    noisy = (torch.log(power + scale[:, None, None] * torch.from_numpy(noise)) - mean_t) / std_t
    return noisy * mask
