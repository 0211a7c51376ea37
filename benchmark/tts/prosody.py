"""Prosody checks of synthesized speech against its ground-truth recording.

- **F0 RMSE** in Hz and in cents (1200 * log2(f_syn / f_ref)), and the
  **Pearson correlation of F0 in Hz**, over frame pairs that DTW aligns and
  that are voiced in both utterances. Alignment uses the mel-cepstra
  (c1..c24, c0 excluded) rather than F0 itself, so the alignment cannot hide
  pitch errors. F0 comes from WORLD Harvest (robust, slower) or DIO+StoneMask.
- **Voicing disagreement**: the fraction of aligned pairs voiced in one
  utterance and unvoiced in the other.
- **Duration ratio** synthesized / reference, of the whole files and of the
  speech after trimming leading/trailing silence (``trim_top_db`` below peak).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from benchmark.tts.mcd import _pyworld, dtw_path, load_wave, sp2mc


class ProsodySettings(BaseModel):
    """Analysis settings of the prosody checks (logged beside the numbers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sample_rate: int = 16000
    f0_method: Literal["harvest", "dio"] = "harvest"
    f0_floor: float = 50.0  # Hz; wide enough for low male voices
    f0_ceil: float = 800.0  # Hz; emotional (angry/happy) speech reaches high F0
    frame_shift_ms: float = 5.0
    align_order: int = 24  # mel-cepstrum order used for the DTW alignment
    align_alpha: float = 0.42
    dtw: Literal["exact", "fastdtw"] = "exact"
    trim_top_db: float = 40.0


@dataclass(frozen=True)
class ProsodyResult:
    f0_rmse_hz: float
    f0_rmse_cents: float
    f0_corr: float  # Pearson, F0 in Hz; NaN when either contour is constant or < 2 voiced pairs
    vuv_disagreement: float
    n_voiced_pairs: int
    duration_ratio: float
    speech_duration_ratio: float

    def to_dict(self) -> dict:
        return asdict(self)


def f0_and_cepstrum(wave: np.ndarray, settings: ProsodySettings) -> tuple[np.ndarray, np.ndarray]:
    """WORLD F0 (Hz, 0 = unvoiced) and mel-cepstra, one row per frame."""
    pw = _pyworld()
    s = settings
    x = np.ascontiguousarray(wave, dtype=np.float64)
    if s.f0_method == "harvest":
        f0, t = pw.harvest(x, s.sample_rate, f0_floor=s.f0_floor, f0_ceil=s.f0_ceil, frame_period=s.frame_shift_ms)
    else:
        f0, t = pw.dio(x, s.sample_rate, f0_floor=s.f0_floor, f0_ceil=s.f0_ceil, frame_period=s.frame_shift_ms)
        f0 = pw.stonemask(x, f0, t, s.sample_rate)
    sp = pw.cheaptrick(x, f0, t, s.sample_rate)
    return f0, sp2mc(sp, s.align_order, s.align_alpha)


def _speech_seconds(wave: np.ndarray, sr: int, top_db: float) -> float:
    import librosa

    # 512/128-sample frame/hop (32/8 ms at 16 kHz), finer than librosa's 2048/512 default
    trimmed, _ = librosa.effects.trim(wave, top_db=top_db, frame_length=512, hop_length=128)
    return len(trimmed) / sr


def prosody_from_waves(syn: np.ndarray, ref: np.ndarray, settings: ProsodySettings | None = None,
                       reference: tuple[np.ndarray, np.ndarray] | None = None) -> ProsodyResult:
    """Prosody checks of two waveforms at ``settings.sample_rate``; ``reference``: the reference's
    (F0, mel-cepstra) when already known (see :func:`prosody`)."""
    s = settings or ProsodySettings()
    f0_syn, cep_syn = f0_and_cepstrum(syn, s)
    f0_ref, cep_ref = reference if reference is not None else f0_and_cepstrum(ref, s)
    path = dtw_path(cep_syn[:, 1:], cep_ref[:, 1:], s.dtw)
    a, b = f0_syn[path[:, 0]], f0_ref[path[:, 1]]
    voiced_a, voiced_b = a > 0, b > 0
    both = voiced_a & voiced_b
    a, b = a[both], b[both]
    if len(a):
        rmse_hz = float(np.sqrt(np.mean((a - b) ** 2)))
        rmse_cents = float(np.sqrt(np.mean((1200.0 * np.log2(a / b)) ** 2)))
    else:
        rmse_hz = rmse_cents = math.nan
    corr = math.nan
    if len(a) >= 2 and np.std(a) > 0 and np.std(b) > 0:
        corr = float(np.corrcoef(a, b)[0, 1])
    speech_ref = _speech_seconds(ref, s.sample_rate, s.trim_top_db)
    return ProsodyResult(
        f0_rmse_hz=rmse_hz,
        f0_rmse_cents=rmse_cents,
        f0_corr=corr,
        vuv_disagreement=float(np.mean(voiced_a != voiced_b)),
        n_voiced_pairs=int(both.sum()),
        duration_ratio=len(syn) / len(ref),
        speech_duration_ratio=_speech_seconds(syn, s.sample_rate, s.trim_top_db) / speech_ref
        if speech_ref > 0 else math.nan,
    )


def reference_analysis(ref_path: str | Path, settings: ProsodySettings) -> np.ndarray:
    """The reference's (F0, mel-cepstra) as columns, shared by every system scored against it (cached by
    content + settings)."""
    from benchmark.tts.mcd import cached_reference_analysis

    return cached_reference_analysis(
        ref_path, "prosody", settings,
        lambda: np.column_stack(f0_and_cepstrum(load_wave(ref_path, settings.sample_rate), settings)))


def prosody(syn_path: str | Path, ref_path: str | Path, settings: ProsodySettings | None = None) -> ProsodyResult:
    """Prosody checks of a synthesized file against its ground-truth recording."""
    s = settings or ProsodySettings()
    ref = load_wave(ref_path, s.sample_rate)
    analysis = reference_analysis(ref_path, s)
    return prosody_from_waves(load_wave(syn_path, s.sample_rate), ref, s, (analysis[:, 0], analysis[:, 1:]))
