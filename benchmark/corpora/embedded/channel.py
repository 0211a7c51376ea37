"""Recording channels: one per session, drawn around a per-language "studio".

Real corpora differ in microphones, rooms and noise, and a classifier can
learn the channel instead of the emotion. Here every language has its own
studio (band limits, room reverberation, noise level and colour, mains hum),
and every session varies around it (another day, another microphone gain),
so languages differ in channel too and session confounds speaker. The
``difficulty`` knob lowers the signal-to-noise ratio.

The chain per utterance: reverberation (a synthetic room impulse response:
direct path + exponentially decaying noise with the session's RT60 and
direct-to-reverberant ratio), band-pass filtering, additive coloured noise at
the session's SNR (measured against the active speech) plus hum, and the
session's microphone gain. It keeps the signal length and timing.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from benchmark.corpora.embedded.speakers import rng_for


@dataclass(frozen=True)
class Channel:
    """The recording channel of one session."""

    session: str
    low_hz: float
    high_hz: float
    rt60_s: float
    drr_db: float  # direct-to-reverberant energy ratio
    snr_db: float  # mean SNR of the session's utterances
    noise_color: float  # spectral exponent: 0 white, 1 pink, 2 brown
    hum_hz: float  # 0 (none), 50 or 60
    hum_db: float  # hum level relative to the noise
    gain_db: float  # microphone/preamp gain

    def to_dict(self) -> dict:
        return asdict(self)


def make_channel(language: str, session: str, seed: int, difficulty: float) -> Channel:
    """The channel of ``session``, drawn around the studio of ``language``."""
    studio = rng_for(seed, "studio", language)
    low = studio.uniform(60, 220)
    high = studio.uniform(3600, 7400)
    rt60 = studio.uniform(0.15, 0.55)
    drr = studio.uniform(2, 12)
    snr = studio.uniform(20, 34) - 14 * difficulty
    color = studio.uniform(0.0, 1.6)
    hum_hz = float(studio.choice([0.0, 50.0, 60.0]))
    rng = rng_for(seed, "session", session)
    return Channel(
        session=session,
        low_hz=float(low * np.exp(rng.normal(0, 0.2))),
        high_hz=float(min(7800.0, high * np.exp(rng.normal(0, 0.08)))),
        rt60_s=float(rt60 * np.exp(rng.normal(0, 0.2))),
        drr_db=float(drr + rng.normal(0, 2.0)),
        snr_db=float(snr + rng.normal(0, 3.0)),
        noise_color=float(np.clip(color + rng.normal(0, 0.2), 0, 2)),
        hum_hz=hum_hz,
        hum_db=float(rng.uniform(-6, 3)),
        gain_db=float(rng.normal(0, 2.5)),
    )


def active_power(x: np.ndarray, sr: int, floor_db: float = 35.0) -> float:
    """Mean power of the 20 ms frames within ``floor_db`` of the loudest (speech, not pauses)."""
    hop = sr // 50
    n = len(x) // hop
    if n == 0:
        return float(np.mean(x ** 2)) + 1e-20
    frames = np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-20
    active = frames[frames >= frames.max() * 10 ** (-floor_db / 10)]
    return float(active.mean())


def room_impulse_response(sr: int, rt60_s: float, drr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Direct path + exponentially decaying Gaussian tail (energy falls 60 dB in ``rt60_s``)."""
    n = max(2, int(rt60_s * sr))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.908 * t / rt60_s)
    tail[: int(0.003 * sr)] = 0.0  # first reflections arrive a few ms after the direct sound
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail ** 2) + 1e-20))
    tail[0] = 1.0
    return tail


def colored_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance noise with a 1/f**exponent power spectrum."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=float)
    f[0] = 1.0
    noise = np.fft.irfft(spectrum / f ** (exponent / 2), n)
    return noise / (np.std(noise) + 1e-20)


def apply_channel(x: np.ndarray, sr: int, ch: Channel, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Room, band-pass, noise at ``snr_db`` (+ hum) and gain; same length as ``x``."""
    from scipy.signal import butter, fftconvolve, sosfilt  # here: scipy.signal takes ~1 s to import
    band = butter(2, [ch.low_hz, min(ch.high_hz, 0.49 * sr)], "bandpass", fs=sr, output="sos")
    y = fftconvolve(x, room_impulse_response(sr, ch.rt60_s, ch.drr_db, rng))[: len(x)]
    y = sosfilt(band, y)
    noise = colored_noise(len(y), ch.noise_color, rng)
    if ch.hum_hz:
        t = np.arange(len(y)) / sr
        hum = sum(np.sin(2 * np.pi * k * ch.hum_hz * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3))
        noise = noise + 10 ** (ch.hum_db / 20) * hum / np.std(hum)
    noise = sosfilt(band, noise)  # the microphone hears the noise too: the SNR is in-band
    noise *= np.sqrt(active_power(y, sr) * 10 ** (-snr_db / 10) / (np.mean(noise ** 2) + 1e-20))
    return (y + noise) * 10 ** (ch.gain_db / 20)
