"""Log-mel and MFCC on torch (batched; on a GPU when one is present).

The mel filterbank is the Slaney-style one (Slaney mel scale, area-normalised
triangles), the default of librosa, so numbers compare directly with
``librosa.feature.melspectrogram``. Frames are centred with zero padding
(librosa's ``pad_mode="constant"``): with zero padding, computing a batch of
zero-padded utterances in one STFT gives exactly the frames of each utterance
alone, which is what makes batching free.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator, Literal

import numpy as np
import torch

from benchmark.features.base import FEATURES, Extractor, FeatureConfig

BATCH_SECONDS = 120.0  # audio per STFT batch: bounds memory, keeps the batch large enough to be fast


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, hz / f_sp)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)


@lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) Slaney-normalised triangular filters."""
    f_max = f_max or sample_rate / 2
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_points = _mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))
    widths = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_points[2:] - mel_points[:-2]))[:, None]  # equal area per filter
    return weights.astype(np.float32)


@lru_cache(maxsize=8)
def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II as a (n_in, n_out) matrix (same as scipy.fft.dct(norm='ortho'))."""
    n = np.arange(n_in)
    k = np.arange(n_out)
    basis = np.cos(np.pi / n_in * (n[:, None] + 0.5) * k[None, :]) * np.sqrt(2.0 / n_in)
    basis[:, 0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` intra-op threads, restoring the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def pick_feature_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class LogMelConfig(FeatureConfig):
    name: Literal["logmel"] = "logmel"
    n_fft: int = 512
    win_length: int = 400      # 25 ms at 16 kHz
    hop_length: int = 160      # 10 ms at 16 kHz
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float | None = None
    log_offset: float = 1e-6


def power_spectrogram_batch(waves: list[np.ndarray], n_fft: int, win_length: int, hop_length: int,
                            device: torch.device | None = None) -> list[torch.Tensor]:
    """Per-utterance power spectrograms (frames, n_fft//2+1), computed in one batched STFT."""
    device = device or pick_feature_device()
    lengths = [len(w) for w in waves]
    batch = torch.zeros(len(waves), max(lengths), dtype=torch.float32)
    for i, w in enumerate(waves):
        batch[i, : len(w)] = torch.from_numpy(w)
    window = torch.hann_window(win_length, periodic=True, device=device)
    spec = torch.stft(batch.to(device), n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                      center=True, pad_mode="constant", return_complex=True)
    power = spec.real.square() + spec.imag.square()  # (batch, freq, frames)
    return [power[i, :, : 1 + n // hop_length].T for i, n in enumerate(lengths)]


def logmel_batch(waves: list[np.ndarray], cfg: LogMelConfig) -> list[torch.Tensor]:
    device = pick_feature_device()
    fb = torch.from_numpy(mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max)).to(device)
    out = []
    for power in power_spectrogram_batch(waves, cfg.n_fft, cfg.win_length, cfg.hop_length, device):
        out.append(torch.log(power @ fb.T + cfg.log_offset))
    return out


def _chunks_by_duration(waves: list[np.ndarray], sample_rate: int) -> list[list[int]]:
    """Group indices, sorted by length, into batches of about BATCH_SECONDS of audio."""
    order = sorted(range(len(waves)), key=lambda i: len(waves[i]))
    chunks, current, total = [], [], 0
    for i in order:
        current.append(i)
        total += len(waves[i]) / sample_rate
        if total >= BATCH_SECONDS:
            chunks.append(current)
            current, total = [], 0
    if current:
        chunks.append(current)
    return chunks


@FEATURES.register("logmel")
class LogMel(Extractor):
    """Log mel energies, (frames, n_mels) float32; 25 ms Hann window, 10 ms hop, 64 mels by default."""

    Config = LogMelConfig
    frame_level = True

    def extract_batch(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = [None] * len(waves)  # type: ignore[list-item]
        with torch.inference_mode():
            for chunk in _chunks_by_duration(waves, self.config.sample_rate):
                for i, feats in zip(chunk, logmel_batch([waves[i] for i in chunk], self.config)):
                    out[i] = feats.cpu().numpy().astype(np.float32)
        return out


class MfccConfig(LogMelConfig):
    name: Literal["mfcc"] = "mfcc"  # type: ignore[assignment]
    n_mfcc: int = 20


@FEATURES.register("mfcc")
class Mfcc(Extractor):
    """MFCC: orthonormal DCT-II of the log-mel, first ``n_mfcc`` coefficients, (frames, n_mfcc)."""

    Config = MfccConfig
    frame_level = True

    def extract_batch(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        dct = torch.from_numpy(dct_matrix(self.config.n_mels, self.config.n_mfcc)).to(pick_feature_device())
        out: list[np.ndarray] = [None] * len(waves)  # type: ignore[list-item]
        with torch.inference_mode():
            for chunk in _chunks_by_duration(waves, self.config.sample_rate):
                for i, feats in zip(chunk, logmel_batch([waves[i] for i in chunk], self.config)):
                    out[i] = (feats @ dct).cpu().numpy().astype(np.float32)
        return out
