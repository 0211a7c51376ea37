"""Reading audio: one function, the same checks for every corpus and feature.

Audio of any sample rate or channel count is mixed down to mono and resampled
(polyphase filtering, ``scipy.signal.resample_poly``) with a logged note, so
that corpora recorded at 44.1 or 48 kHz, stereo, mix freely with the 16 kHz
embedded corpus. Missing, corrupt, empty and silent files raise
:class:`~benchmark.errors.AudioError` naming the file.
"""
from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from benchmark.errors import AudioError

log = logging.getLogger(__name__)

SILENCE_PEAK = 1e-5  # a file whose peak stays below this carries no speech (about -100 dBFS)


def load_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Mono float32 samples of ``path`` at ``sample_rate``."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(str(path), "file not found")
    try:
        samples, file_rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises several types for corrupt files
        raise AudioError(str(path), f"unreadable audio ({exc})") from None
    if samples.shape[0] == 0:
        raise AudioError(str(path), "empty audio (0 samples)")
    if samples.shape[1] > 1:
        log.info("%s: mixing %d channels down to mono", path, samples.shape[1])
    mono = samples.mean(axis=1)
    if not np.isfinite(mono).all():
        raise AudioError(str(path), "audio contains NaN or infinite samples")
    if np.abs(mono).max() < SILENCE_PEAK:
        raise AudioError(str(path), "silent audio (peak below -100 dBFS)")
    if file_rate != sample_rate:
        log.info("%s: resampling %d Hz -> %d Hz", path, file_rate, sample_rate)
        ratio = Fraction(sample_rate, file_rate)
        mono = resample_poly(mono, ratio.numerator, ratio.denominator).astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)
