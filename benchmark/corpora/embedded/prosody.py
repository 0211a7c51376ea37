"""Emotion as a distribution over prosody, relative to the speaker, plus voice-quality effects.

Each emotion is a profile: for every prosodic dimension, a mean shift from
the speaker's baseline (at full intensity) and a per-utterance spread. One
utterance draws an intensity (how strongly it is expressed: weak renditions
sit close to neutral) and then every dimension from a normal distribution,
so classes overlap and no single cue separates them. The ``difficulty``
knob (0-1) shrinks the shifts, widens the spreads and lowers the floor of
the intensity.

Dimensions: pitch level and pitch range (eSpeak 0-99 scales), speaking rate
(log factor), pauses between words (eSpeak word gap, 10 ms units), loudness
(dB), and voice quality, rendered after synthesis: spectral tilt (dB above
~1 kHz; + tense/pressed, - lax/dark), breathiness (aspiration noise that
follows the voice's envelope), shimmer (slow random amplitude modulation)
and jitter (fast random time warping, which wobbles the pitch period).

The profiles follow the direction of the acoustic correlates reported for
acted emotional speech (e.g. Scherer 2003; Banse & Scherer 1996): anger and
happiness raise pitch, range, rate and loudness (anger with a tenser voice),
sadness lowers them with a slower, breathier, darker voice.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from benchmark.corpora.embedded.speakers import Speaker

DIMENSIONS: tuple[str, ...] = ("pitch", "pitch_range", "log_rate", "wordgap", "gain_db", "tilt_db", "breath",
                               "shimmer", "jitter_ms")

# Per-utterance spread of every utterance, whatever its emotion (before the difficulty scaling).
BASE_SD: dict[str, float] = {"pitch": 3.0, "pitch_range": 6.0, "log_rate": 0.05, "wordgap": 0.4, "gain_db": 1.5,
                             "tilt_db": 1.0, "breath": 0.015, "shimmer": 0.01, "jitter_ms": 0.03}

# Mean shift from the speaker's baseline at full intensity; dimensions not listed do not shift.
PROFILES: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"pitch": 15, "pitch_range": 22, "log_rate": 0.08, "gain_db": 3.0, "tilt_db": 2.5, "breath": 0.01,
              "shimmer": 0.02, "jitter_ms": 0.05},
    "angry": {"pitch": 6, "pitch_range": 8, "log_rate": 0.10, "gain_db": 6.0, "tilt_db": 5.0, "shimmer": 0.03,
              "jitter_ms": 0.12},
    "sad": {"pitch": -8, "pitch_range": -16, "log_rate": -0.14, "wordgap": 1.5, "gain_db": -3.5, "tilt_db": -3.5,
            "breath": 0.06, "shimmer": 0.04, "jitter_ms": 0.06},
    # Optional extra classes (not in the default corpus).
    "fear": {"pitch": 14, "pitch_range": -4, "log_rate": 0.12, "gain_db": -1.0, "tilt_db": 0.0, "breath": 0.07,
             "shimmer": 0.08, "jitter_ms": 0.2},
    "surprise": {"pitch": 15, "pitch_range": 24, "log_rate": 0.0, "gain_db": 2.5, "tilt_db": 1.5,
                 "jitter_ms": 0.04},
}
# Extra spread of an emotional rendition, relative to BASE_SD (emotions are less stable than neutral).
EMOTIONAL_SPREAD = 1.3


@dataclass(frozen=True)
class Prosody:
    """The prosody one utterance is rendered with (absolute values, baselines included)."""

    intensity: float
    pitch: int
    pitch_range: int
    rate: int
    wordgap: int
    gain_db: float
    tilt_db: float
    breath: float
    shimmer: float
    jitter_ms: float

    def to_dict(self) -> dict:
        return asdict(self)


def difficulty_scales(difficulty: float) -> tuple[float, float, float]:
    """(shift scale, spread scale, lowest intensity) for a difficulty in 0-1.

    0 gives big shifts, tight spreads and near full-strength renditions; 1
    halves the shifts, more than doubles the spreads and lets an emotional
    utterance be as weak as 15% of full strength.
    """
    shift = 1.3 - 0.7 * difficulty
    spread = 0.6 + 0.8 * difficulty
    lowest = 0.85 - 0.7 * difficulty
    return shift, spread, lowest


def draw_prosody(emotion: str, speaker: Speaker, difficulty: float, rng: np.random.Generator) -> Prosody:
    """Draw one utterance's prosody: the speaker's baseline + the emotion's shift and spread."""
    profile = PROFILES[emotion]
    shift, spread, lowest = difficulty_scales(difficulty)
    intensity = 0.0 if emotion == "neutral" else float(rng.uniform(lowest, 1.0))
    sd_factor = spread * (EMOTIONAL_SPREAD if profile else 1.0)
    v = {dim: intensity * shift * profile.get(dim, 0.0) + sd_factor * BASE_SD[dim] * rng.standard_normal()
         for dim in DIMENSIONS}
    return Prosody(
        intensity=intensity,
        pitch=int(round(np.clip(speaker.pitch + v["pitch"], 0, 99))),
        pitch_range=int(round(np.clip(speaker.pitch_range + v["pitch_range"], 0, 99))),
        rate=int(round(np.clip(speaker.rate * np.exp(v["log_rate"]), 80, 450))),
        wordgap=int(round(max(0.0, v["wordgap"]))),
        gain_db=float(speaker.gain_db + v["gain_db"]),
        tilt_db=float(speaker.tilt_db + v["tilt_db"]),
        breath=float(max(0.0, speaker.breath + v["breath"])),
        shimmer=float(max(0.0, 0.02 + v["shimmer"])),
        jitter_ms=float(max(0.0, 0.05 + v["jitter_ms"])),
    )


def smooth_noise(n: int, sr: int, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance random curve with features at about ``rate_hz`` (spline through random knots)."""
    from scipy.interpolate import CubicSpline  # imported here: scipy takes ~1 s to import
    n_knots = max(4, int(np.ceil(n / sr * rate_hz)) + 2)
    knots_t = np.linspace(0, n, n_knots)
    curve = CubicSpline(knots_t, rng.standard_normal(n_knots))(np.arange(n))
    return curve / (np.std(curve) + 1e-12)


def envelope(x: np.ndarray, sr: int, cutoff_hz: float = 30.0) -> np.ndarray:
    """Amplitude envelope (rectified, low-passed), never negative."""
    from scipy.signal import butter, sosfilt  # imported here: scipy takes ~1 s to import
    sos = butter(2, cutoff_hz, "low", fs=sr, output="sos")
    return np.maximum(sosfilt(sos, np.abs(x)), 0.0)


def apply_voice_quality(x: np.ndarray, sr: int, p: Prosody, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tilt, breathiness, shimmer and jitter on a mono float signal.

    Returns the new signal (same length) and the time map: ``source_pos[n]``
    is the input sample that output sample ``n`` was read from (jitter warps
    time by a fraction of a millisecond), used to move phoneme boundaries.
    """
    from scipy.signal import butter, sosfilt  # imported here: scipy takes ~1 s to import
    n = len(x)
    # Jitter: read the input at n + d(n); |d| stays far below one period, |d'| far below 1 (monotone map).
    d = p.jitter_ms * 1e-3 * sr * np.clip(smooth_noise(n, sr, 60.0, rng), -2.5, 2.5)
    source_pos = np.clip(np.arange(n) + d, 0, n - 1)
    y = np.interp(source_pos, np.arange(n), x)
    # Spectral tilt: add or remove part of the band above ~1 kHz.
    high = sosfilt(butter(2, 1000.0, "high", fs=sr, output="sos"), y)
    y = y + (10 ** (p.tilt_db / 20) - 1) * high
    # Breathiness: high-passed noise shaped by the voice's envelope.
    if p.breath > 0:
        noise = sosfilt(butter(2, 1500.0, "high", fs=sr, output="sos"), rng.standard_normal(n))
        noise *= envelope(y, sr)
        y = y + p.breath * noise * (np.std(y) / (np.std(noise) + 1e-12))
    # Shimmer/tremor: slow random amplitude modulation.
    y = y * (1 + p.shimmer * np.clip(smooth_noise(n, sr, 12.0, rng), -2.5, 2.5))
    return y, source_pos
