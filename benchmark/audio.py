"""Reading audio: one function, the same checks for every corpus and feature.

Audio of any sample rate or channel count is mixed down to mono and resampled
(polyphase filtering, ``scipy.signal.resample_poly``) with a logged note, so
that corpora recorded at 44.1 or 48 kHz, stereo, mix freely with the 16 kHz
embedded corpus. Missing, empty (0 bytes), corrupt, truncated, sample-less,
NaN-carrying and silent files raise :class:`~benchmark.errors.AudioError`
naming the file.

Two levels of checks, so that loading a corpus stays cheap:

* :func:`header_problem` reads only the file header (no decoding): missing,
  0-byte, unreadable, truncated (a WAV whose ``data`` chunk is shorter than
  its header declares; libsndfile silently reads what is there) and 0 frames.
* :func:`content_problem` decodes the samples as well: NaN/infinite samples
  and silence. ``score-tts`` runs it on every wav; :func:`load_audio` always.
"""
from __future__ import annotations

import logging
import struct
from stat import S_ISREG
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

from benchmark.errors import AudioError

log = logging.getLogger(__name__)

SILENCE_PEAK = 1e-5  # a file whose peak stays below this carries no speech (about -100 dBFS)
_STREAMING_SIZES = (0, 0xFFFFFFFF)  # placeholders written by recorders that never patched the header


class AudioProblem(NamedTuple):
    """Why a file is not usable audio: ``kind`` (missing, empty, unreadable, truncated, corrupt, silent)
    and a detail."""

    kind: str
    detail: str = ""

    def describe(self, path: str | Path) -> str:
        """One line naming the file: ``truncated audio file a.wav (the header declares ...)``."""
        return f"{self.kind} audio file {path}" + (f" ({self.detail})" if self.detail else "")

    def __str__(self) -> str:
        return f"{self.kind} audio" + (f" ({self.detail})" if self.detail else "")


def header_problem(path: str | Path) -> AudioProblem | None:
    """Why ``path`` is not usable audio judging from its header alone (None when it looks fine)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    if stat is None or not S_ISREG(stat.st_mode):
        return AudioProblem("missing", "file not found")
    size = stat.st_size
    if size == 0:
        return AudioProblem("empty", "0 bytes")
    truncated = _wav_truncation(path, size)
    if truncated:
        return AudioProblem("truncated", truncated)
    try:
        info = sf.info(str(path))
    except Exception as exc:  # noqa: BLE001  (soundfile raises RuntimeError/LibsndfileError variants)
        return AudioProblem("unreadable", str(exc))
    if info.frames == 0:
        return AudioProblem("empty", "0 samples")
    return None


def content_problem(samples: np.ndarray) -> AudioProblem | None:
    """Why decoded ``samples`` (any shape) cannot be used: none, NaN/infinite values, or silence."""
    if samples.size == 0:
        return AudioProblem("empty", "0 samples")
    finite = np.isfinite(samples)
    if not finite.all():
        return AudioProblem("corrupt", f"{int((~finite).sum())} of {samples.size} samples are NaN or infinite")
    if np.abs(samples).max() < SILENCE_PEAK:
        return AudioProblem("silent", "peak below -100 dBFS")
    return None


# Sample rates a speech file can have; outside them the header is damaged (a rate of 61 MHz in a
# 4-KB file resamples to no samples at all).
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1_000, 768_000


def rate_problem(rate: int) -> AudioProblem | None:
    """A sample rate no speech recording has: the header is corrupt."""
    if MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        return None
    return AudioProblem("corrupt", f"sample rate {rate} Hz, outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")


def file_problem(path: str | Path) -> AudioProblem | None:
    """Header and content checks of one file (decodes it): why it cannot be used, None when it can."""
    problem = header_problem(path)
    if problem:
        return problem
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001  (a file whose header opens but whose data does not decode)
        return AudioProblem("unreadable", str(exc))
    return rate_problem(rate) or content_problem(samples)


def _wav_truncation(path: Path, size: int) -> str | None:
    """A RIFF/WAVE file whose ``data`` chunk declares more bytes than the file holds."""
    with path.open("rb") as f:
        buffer, start = f.read(4096), 0  # the data chunk header is almost always in here: one read per file
        if len(buffer) < 12 or buffer[:4] != b"RIFF" or buffer[8:12] != b"WAVE":
            return None  # not a plain RIFF WAV (RF64, AIFF, FLAC, ...): libsndfile checks it
        offset = 12
        while offset + 8 <= size:
            if offset + 8 > start + len(buffer):  # a chunk header past what was read (a long LIST chunk)
                f.seek(offset)
                buffer, start = f.read(8), offset
            chunk_id, chunk_size = struct.unpack_from("<4sI", buffer, offset - start)
            if chunk_id == b"data":
                available = size - offset - 8
                if chunk_size not in _STREAMING_SIZES and chunk_size > available:
                    return f"the header declares {chunk_size} bytes of sample data, the file holds {available}"
                return None
            offset += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to an even size
    return None  # no data chunk: libsndfile reports the file as unreadable or empty


def load_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Mono float32 samples of ``path`` at ``sample_rate``."""
    path = Path(path)
    problem = header_problem(path)
    if problem:
        raise AudioError(str(path), str(problem))
    try:
        samples, file_rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises several types for corrupt files
        raise AudioError(str(path), str(AudioProblem("unreadable", str(exc)))) from None
    if samples.shape[1] > 1:
        log.info("%s: mixing %d channels down to mono", path, samples.shape[1])
    mono = samples.mean(axis=1)
    problem = rate_problem(file_rate) or content_problem(mono)
    if problem:
        raise AudioError(str(path), str(problem))
    if file_rate != sample_rate:
        log.info("%s: resampling %d Hz -> %d Hz", path, file_rate, sample_rate)
        mono = resample(mono, file_rate, sample_rate)
        if not len(mono):   # fewer samples than one at the target rate
            raise AudioError(str(path), str(AudioProblem("empty", f"0 samples at {sample_rate} Hz")))
    return np.ascontiguousarray(mono, dtype=np.float32)


# Largest up/down factor resample_poly is given: every common rate pair is far below it
# (44.1 kHz -> 16 kHz is 160/441); an odd rate such as 16,001 Hz would be 16,000/16,001, whose
# polyphase filter and upsampled signal take tens of GiB.
MAX_POLYPHASE_FACTOR = 1000


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """float32 ``samples`` from ``from_rate`` to ``to_rate`` Hz: SciPy's polyphase filter for rates in a
    small integer ratio (all the usual ones), libsoxr's for any other (linear memory at any ratio)."""
    ratio = Fraction(to_rate, from_rate)
    if max(ratio.numerator, ratio.denominator) <= MAX_POLYPHASE_FACTOR:
        from scipy.signal import resample_poly  # imported here: scipy.signal costs ~0.3 s to import

        return resample_poly(samples, ratio.numerator, ratio.denominator).astype(np.float32)
    import soxr

    return np.asarray(soxr.resample(samples, from_rate, to_rate, quality="HQ"), dtype=np.float32)
