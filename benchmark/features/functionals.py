"""A fast utterance-level functional set on torch, for quick runs.

It follows the spirit of eGeMAPS (pitch, loudness, spectral balance, MFCC
statistics, rhythm) at a fraction of the cost: every frame-level descriptor
comes from one STFT, F0 from a normalised autocorrelation pitch tracker. Use
``egemaps`` for the standard set; use this one when speed matters.

Descriptors (frames of 25 ms / 10 ms at 16 kHz):
- F0 (semitones re 27.5 Hz, voiced frames only): normalised autocorrelation
  of each frame, the highest peak in [f0_min, f0_max] with parabolic
  interpolation; a frame is voiced when the peak exceeds ``voicing_threshold``
  and the frame is within 40 dB of the utterance's loudest frame.
- loudness: frame energy in dB.
- spectral: centroid, 85% roll-off, flux, slope (regression of log power on
  frequency), flatness.
- MFCC 1..12.
- rhythm: voiced ratio, rate of energy peaks (syllable-nucleus proxy), duration.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from benchmark.features.base import FEATURES, Extractor, FeatureConfig
from benchmark.features.spectral import dct_matrix, mel_filterbank, power_spectrogram_batch, torch_threads

SEMITONE_REF_HZ = 27.5


class FunctionalsConfig(FeatureConfig):
    name: Literal["functionals"] = "functionals"
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    f0_min: float = 60.0
    f0_max: float = 500.0
    voicing_threshold: float = 0.5


def _stats(x: torch.Tensor, prefix: str, slope: bool = True) -> dict[str, float]:
    """mean, std, 10/50/90th percentiles, 10-90 range and linear slope (per second) of a contour."""
    if x.numel() == 0:
        x = torch.zeros(1)
    q = torch.quantile(x, torch.tensor([0.1, 0.5, 0.9], dtype=x.dtype))
    out = {f"{prefix}_mean": x.mean(), f"{prefix}_std": x.std(unbiased=False), f"{prefix}_p10": q[0],
           f"{prefix}_p50": q[1], f"{prefix}_p90": q[2], f"{prefix}_range": q[2] - q[0]}
    if slope:
        t = torch.arange(x.numel(), dtype=x.dtype) / 100.0
        t = t - t.mean()
        denom = (t * t).sum()
        out[f"{prefix}_slope"] = (t * (x - x.mean())).sum() / denom if denom > 0 else torch.tensor(0.0)
    return {k: float(v) for k, v in out.items()}


def f0_contour(frames: torch.Tensor, sample_rate: int, f0_min: float, f0_max: float,
               threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """F0 in Hz and voicing strength per frame (frames: (n, win) windowed samples)."""
    win = frames.shape[1]
    window = torch.hann_window(win, dtype=frames.dtype)
    frames = (frames - frames.mean(dim=1, keepdim=True)) * window
    n_fft = 1 << (2 * win - 1).bit_length()

    def autocorrelation(x: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.rfft(x, n=n_fft)
        return torch.fft.irfft(spec.real.square() + spec.imag.square(), n=n_fft)[..., :win]

    # Boersma (1993): dividing by the window's own autocorrelation removes the
    # taper's bias toward short lags, which would otherwise pull F0 upward.
    acf = autocorrelation(frames) / autocorrelation(window).clamp_min(1e-12)
    acf = acf / acf[:, :1].clamp_min(1e-12)
    lo, hi = max(2, int(sample_rate / f0_max)), min(int(sample_rate / f0_min), win - 3)
    region = acf[:, lo - 1 : hi + 2]
    peaks = (region[:, 1:-1] > region[:, :-2]) & (region[:, 1:-1] >= region[:, 2:])
    region = region[:, 1:-1]
    best = torch.where(peaks, region, torch.full_like(region, -1.0)).max(dim=1, keepdim=True).values
    # Octave errors: multiples of the period peak almost as high as the period itself;
    # take the shortest lag whose peak is within 10% of the best one.
    candidates = peaks & (region >= 0.9 * best)
    idx = candidates.int().argmax(dim=1)
    strength = region.gather(1, idx[:, None])[:, 0]
    lag = (idx + lo).clamp(1, win - 2)
    rows = torch.arange(acf.shape[0])
    y0, y1, y2 = acf[rows, lag - 1], acf[rows, lag], acf[rows, lag + 1]
    denom = y0 - 2 * y1 + y2
    shift = torch.where(denom.abs() > 1e-12, 0.5 * (y0 - y2) / denom, torch.zeros_like(denom)).clamp(-1, 1)
    f0 = sample_rate / (lag.to(acf.dtype) + shift)
    return f0, strength


@FEATURES.register("functionals")
class Functionals(Extractor):
    """Utterance-level functionals (about 60 dims); names from :meth:`feature_names`."""

    Config = FunctionalsConfig
    config: FunctionalsConfig
    frame_level = False

    def feature_names(self) -> list[str]:
        return list(self._describe(np.sin(np.linspace(0, 2000, 16000)).astype(np.float32)).keys())

    def extract_batch(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        # Per-utterance tensors are small: one thread avoids OpenMP overhead that costs 20x here.
        with torch.inference_mode(), torch_threads(1):
            return [np.fromiter(self._describe(w).values(), dtype=np.float32) for w in waves]

    def _describe(self, wave: np.ndarray) -> dict[str, float]:
        cfg = self.config
        sr, hop, win = cfg.sample_rate, cfg.hop_length, cfg.win_length
        power = power_spectrogram_batch([wave], cfg.n_fft, win, hop, torch.device("cpu"))[0].double()
        freqs = torch.linspace(0, sr / 2, power.shape[1], dtype=torch.float64)
        energy_db = 10 * torch.log10(power.sum(dim=1) + 1e-10)
        active = energy_db > energy_db.max() - 40  # frames within 40 dB of the loudest

        padded = torch.nn.functional.pad(torch.from_numpy(wave).double(), (win // 2, win // 2))
        frames = padded.unfold(0, win, hop)[: power.shape[0]]
        f0, strength = f0_contour(frames, sr, cfg.f0_min, cfg.f0_max, cfg.voicing_threshold)
        voiced = (strength > cfg.voicing_threshold) & active[: f0.shape[0]]
        f0_st = 12 * torch.log2(f0[voiced] / SEMITONE_REF_HZ)

        spec = power[active] if active.any() else power
        total = spec.sum(dim=1).clamp_min(1e-12)
        centroid = (spec * freqs).sum(dim=1) / total
        rolloff = freqs[(torch.cumsum(spec, dim=1) >= 0.85 * total[:, None]).int().argmax(dim=1)]
        norm = spec / total[:, None]
        flux = (norm[1:] - norm[:-1]).square().sum(dim=1) if len(norm) > 1 else torch.zeros(1, dtype=norm.dtype)
        log_spec = torch.log10(spec + 1e-10)
        fc = freqs - freqs.mean()
        slope = (log_spec - log_spec.mean(dim=1, keepdim=True)) @ fc / (fc * fc).sum()
        flatness = torch.exp(torch.log(spec + 1e-10).mean(dim=1)) / (spec.mean(dim=1) + 1e-10)

        fb = torch.from_numpy(mel_filterbank(sr, cfg.n_fft, 40)).double()
        mfcc = torch.log(spec @ fb.T + 1e-10) @ torch.from_numpy(dct_matrix(40, 13)).double()

        feats: dict[str, float] = {}
        feats.update(_stats(f0_st, "f0_semitone"))
        feats.update(_stats(energy_db[active], "loudness_db"))
        for name, contour in (("centroid_hz", centroid), ("rolloff_hz", rolloff), ("flux", flux),
                              ("spectral_slope", slope), ("flatness", flatness)):
            feats[f"{name}_mean"] = float(contour.mean())
            feats[f"{name}_std"] = float(contour.std(unbiased=False)) if contour.numel() > 1 else 0.0
        for k in range(1, 13):
            feats[f"mfcc{k}_mean"] = float(mfcc[:, k].mean())
            feats[f"mfcc{k}_std"] = float(mfcc[:, k].std(unbiased=False)) if mfcc.shape[0] > 1 else 0.0
        duration = len(wave) / sr
        feats["voiced_ratio"] = float(voiced.double().mean())
        feats["peak_rate_hz"] = _peak_rate(energy_db, active) / duration
        feats["duration_s"] = duration
        return feats


def _peak_rate(energy_db: torch.Tensor, active: torch.Tensor) -> float:
    """Count local maxima of the smoothed energy envelope that rise 3 dB above their surroundings."""
    kernel = torch.ones(1, 1, 5, dtype=energy_db.dtype) / 5
    smooth = torch.nn.functional.conv1d(energy_db[None, None], kernel, padding=2)[0, 0]
    if smooth.numel() < 3:
        return 0.0
    mid = smooth[1:-1]
    peaks = (mid > smooth[:-2]) & (mid >= smooth[2:]) & active[1:-1] & (mid > smooth.median() + 3)
    return float(peaks.sum())
