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
from typing import Sequence

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
        return cls.from_flat(np.concatenate(arrays), np.array([len(a) for a in arrays], dtype=np.int64))

    @classmethod
    def from_flat(cls, frames: np.ndarray, lengths: np.ndarray) -> "FrameStore":
        """From utterances already laid end to end (``lengths`` frames each, in order)."""
        lengths = np.asarray(lengths, dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return cls(torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)), offsets, lengths)

    def crops(self, rows: np.ndarray, starts: np.ndarray, lengths: np.ndarray, min_frames: int,
              width: int | None = None) -> torch.Tensor:
        """(B, width, M): ``lengths[b]`` frames of utterance ``rows[b]`` from ``starts[b]``, zero after them.

        ``width`` defaults to the longest crop (at least ``min_frames``)."""
        if width is None:
            width = max(int(lengths.max(initial=0)), min_frames)
        t = np.arange(width)
        index = self.offsets[rows, None] + starts[:, None] + t[None, :]
        if (lengths >= width).all():     # every crop full length (the usual batch): nothing to zero
            return self.frames[torch.from_numpy(index)]
        valid = t[None, :] < lengths[:, None]
        x = self.frames[torch.from_numpy(np.where(valid, index, 0))]
        return x * torch.from_numpy(valid)[:, :, None]


def pool_frames(arrays: Sequence[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every ``k`` consecutive frames of each utterance averaged (a trailing partial group over its own
    frames), all utterances laid end to end: ``(frames (sum n_i, M) float32, n_i per utterance)``.

    Each utterance's groups are summed straight into its rows of the output (no padded copy of the
    whole set), so a single utterance (``[x]``) gives the same floats as it does inside a set."""
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    n = -(-lengths // k)
    dims = arrays[0].shape[1] if arrays else 0
    out = np.empty((int(n.sum()), dims), dtype=np.float32)
    counts = np.full(len(out), float(k), dtype=np.float32)
    row = 0
    for a, length, groups in zip(arrays, lengths, n):
        full = int(length) // k
        a = np.asarray(a, dtype=np.float32)
        if k == 1:
            out[row : row + full] = a
        elif full:
            np.sum(a[: full * k].reshape(full, k, dims), axis=1, out=out[row : row + full])
        if groups > full:            # the trailing partial group
            out[row + full] = a[full * k :].sum(axis=0)
            counts[row + full] = length - full * k
        row += int(groups)
    if k > 1:
        out /= counts[:, None]
    return out, n


def band_stats(arrays: list[np.ndarray] | np.ndarray, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and population standard deviation, in float64, of the frames of ``arrays``
    (a list of (frames, M) arrays, or one such array).

    One pass of float64 sums and sums of squares over at most ``chunk`` frames at a time: 5-15x faster
    than concatenating every frame and calling NumPy's ``mean``/``std(dtype=float64)`` (which casts
    through small buffers), and equal to them to about 1e-13 on log-mel scales (variances of order 1
    around means of order 10: no cancellation a float64 sum of squares would feel)."""
    parts = [arrays] if isinstance(arrays, np.ndarray) else arrays
    dims = parts[0].shape[1] if len(parts) else 0
    total, squares, n = np.zeros(dims), np.zeros(dims), 0
    for part in parts:
        for s in range(0, len(part), chunk):
            block = np.asarray(part[s : s + chunk], dtype=np.float64)
            total += block.sum(axis=0)
            squares += np.einsum("ij,ij->j", block, block)
            n += len(block)
    n = max(n, 1)
    mean = total / n
    return mean, np.sqrt(np.maximum(squares / n - mean ** 2, 0.0))


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
