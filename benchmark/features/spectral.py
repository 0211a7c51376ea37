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

# Audio per STFT batch on a CPU: large enough that per-call overhead vanishes, small enough that the batch's
# spectrogram stays in cache (20 s: 2,000 frames x 257 bins; 4.1x librosa one thread each, against 2.4x at
# 120 s; perf/bench_features.py). A GPU takes much larger batches.
BATCH_SECONDS = 20.0
GPU_BATCH_SECONDS = 600.0


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
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


def _padded_batch(waves: list[np.ndarray]) -> torch.Tensor:
    """(batch, longest) float32, each wave zero-padded at the end."""
    batch = torch.zeros(len(waves), max(len(w) for w in waves), dtype=torch.float32)
    for i, w in enumerate(waves):
        batch[i, : len(w)] = torch.from_numpy(np.asarray(w, dtype=np.float32))
    return batch


def _power_batch(waves: list[np.ndarray], n_fft: int, win_length: int, hop_length: int,
                 device: torch.device) -> torch.Tensor:
    """(batch, n_fft//2+1, frames of the longest) power spectrogram, one batched STFT."""
    window = torch.hann_window(win_length, periodic=True, device=device)
    spec = torch.stft(_padded_batch(waves).to(device), n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                      window=window, center=True, pad_mode="constant", return_complex=True)
    power = spec.real.square()
    return power.addcmul_(spec.imag, spec.imag)  # |X|^2 without a second temporary


def power_spectrogram_batch(waves: list[np.ndarray], n_fft: int, win_length: int, hop_length: int,
                            device: torch.device | None = None) -> list[torch.Tensor]:
    """Per-utterance power spectrograms (frames, n_fft//2+1), computed in one batched STFT."""
    power = _power_batch(waves, n_fft, win_length, hop_length, device or pick_feature_device())
    return [power[i, :, : 1 + len(w) // hop_length].T for i, w in enumerate(waves)]


def logmel_batch(waves: list[np.ndarray], cfg: LogMelConfig) -> list[torch.Tensor]:
    """Per-utterance log-mel (frames, n_mels): one STFT, one batched product with the filterbank and one
    in-place log for the whole batch (few large kernels rather than several small ones per utterance)."""
    device = pick_feature_device()
    fb = torch.from_numpy(mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.f_min, cfg.f_max)).to(device)
    power = _power_batch(waves, cfg.n_fft, cfg.win_length, cfg.hop_length, device)
    mel = torch.matmul(power.transpose(1, 2), fb.T)  # (batch, frames, n_mels), contiguous per utterance
    mel.add_(cfg.log_offset).log_()
    return [mel[i, : 1 + len(w) // cfg.hop_length] for i, w in enumerate(waves)]


@contextmanager
def feature_threads() -> Iterator[None]:
    """One intra-op thread on a CPU. The STFT, filterbank product and log are small memory-bound kernels:
    a second thread gains little on a quiet machine and costs 3x on a loaded one (threads waiting for
    each other; measured interleaved, perf/bench_features.py), and the suite's workers already use the
    other cores."""
    if pick_feature_device().type == "cpu":
        with torch_threads(1):
            yield
    else:
        yield


def _chunks_by_duration(waves: list[np.ndarray], sample_rate: int) -> list[list[int]]:
    """Group indices, sorted by length, into batches of about BATCH_SECONDS of audio (GPU_BATCH_SECONDS
    on a GPU)."""
    limit = BATCH_SECONDS if pick_feature_device().type == "cpu" else GPU_BATCH_SECONDS
    order = sorted(range(len(waves)), key=lambda i: len(waves[i]))
    chunks: list[list[int]] = []
    current: list[int] = []
    total = 0.0
    for i in order:
        current.append(i)
        total += len(waves[i]) / sample_rate
        if total >= limit:
            chunks.append(current)
            current, total = [], 0
    if current:
        chunks.append(current)
    return chunks


@FEATURES.register("logmel")
class LogMel(Extractor):
    """Log mel energies, (frames, n_mels) float32; 25 ms Hann window, 10 ms hop, 64 mels by default."""

    Config = LogMelConfig
    config: LogMelConfig
    frame_level = True

    def extract_batch(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = [None] * len(waves)  # type: ignore[list-item]
        with torch.inference_mode(), feature_threads():
            for chunk in _chunks_by_duration(waves, self.config.sample_rate):
                for i, feats in zip(chunk, logmel_batch([waves[i] for i in chunk], self.config)):
                    out[i] = feats.cpu().numpy().copy()  # a copy: a view would keep the whole batch alive
        return out


class MfccConfig(LogMelConfig):
    name: Literal["mfcc"] = "mfcc"  # type: ignore[assignment]
    n_mfcc: int = 20


@FEATURES.register("mfcc")
class Mfcc(Extractor):
    """MFCC: orthonormal DCT-II of the log-mel, first ``n_mfcc`` coefficients, (frames, n_mfcc)."""

    Config = MfccConfig
    config: MfccConfig
    frame_level = True

    def extract_batch(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        dct = torch.from_numpy(dct_matrix(self.config.n_mels, self.config.n_mfcc)).to(pick_feature_device())
        out: list[np.ndarray] = [None] * len(waves)  # type: ignore[list-item]
        with torch.inference_mode(), feature_threads():
            for chunk in _chunks_by_duration(waves, self.config.sample_rate):
                for i, feats in zip(chunk, logmel_batch([waves[i] for i in chunk], self.config)):
                    out[i] = (feats @ dct).cpu().numpy()
        return out
