"""Prosody checks on synthetic source-filter tones with known F0 contours."""
from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from benchmark.tts.prosody import ProsodySettings, prosody, prosody_from_waves

SR = 16000


def tone(f0_of_u, dur: float, scale: float = 1.0, lead_silence: float = 0.0) -> np.ndarray:
    """Harmonics of F0(u) (u = normalised time 0..1) under a spectral envelope that opens over time.

    Harmonic amplitudes sample one time-varying envelope, so a pitch-shifted or
    time-stretched copy has the same mel-cepstra at the same normalised time and
    DTW can align the two.
    """
    n = int(dur * SR)
    u = np.arange(n) / n
    f0 = f0_of_u(u) * scale
    phase = 2 * np.pi * np.cumsum(f0) / SR
    cutoff = 400 + 2600 * u
    x = np.zeros(n)
    for k in range(1, 40):
        fk = k * f0
        x += np.exp(-fk / cutoff) * (fk < SR / 2 - 200) * np.sin(k * phase)
    x = 0.1 * x / np.abs(x).max()
    return np.concatenate([np.zeros(int(lead_silence * SR)), x])


def rising(u):
    return 150 + 100 * u


def flat(u):
    return 200 + 0 * u


def test_time_stretched_copy_has_near_zero_f0_error_and_known_duration_ratio():
    r = prosody_from_waves(tone(rising, 1.3), tone(rising, 1.0))
    assert r.f0_rmse_cents < 10  # harvest jitter only; a semitone is 100 cents
    assert r.f0_rmse_hz < 1.5
    assert r.f0_corr > 0.99
    assert r.duration_ratio == pytest.approx(1.3, abs=1e-3)
    assert r.speech_duration_ratio == pytest.approx(1.3, abs=0.02)
    assert r.vuv_disagreement < 0.05
    assert r.n_voiced_pairs > 150


def test_constant_pitch_shift_gives_its_size_in_cents_and_hz():
    r = prosody_from_waves(tone(flat, 0.8, scale=1.1), tone(flat, 1.0))
    assert r.f0_rmse_cents == pytest.approx(1200 * math.log2(1.1), abs=3.0)  # 165.0 cents
    assert r.f0_rmse_hz == pytest.approx(20.0, abs=0.5)
    assert r.duration_ratio == pytest.approx(0.8, abs=1e-3)


def test_inverted_contour_is_anticorrelated():
    r = prosody_from_waves(tone(lambda u: 250 - 100 * u, 1.0), tone(rising, 1.0))
    assert r.f0_corr < -0.9
    assert r.f0_rmse_hz > 30


def test_leading_silence_changes_raw_but_not_speech_duration_ratio(tmp_path):
    syn, ref = tmp_path / "syn.wav", tmp_path / "ref.wav"
    sf.write(syn, tone(rising, 1.0, lead_silence=0.5), SR)
    sf.write(ref, tone(rising, 1.0), SR)
    r = prosody(syn, ref, ProsodySettings(f0_method="dio"))
    assert r.duration_ratio == pytest.approx(1.5, abs=1e-3)
    assert r.speech_duration_ratio == pytest.approx(1.0, abs=0.03)
    assert r.f0_rmse_cents < 25
    assert set(r.to_dict()) >= {"f0_rmse_hz", "f0_rmse_cents", "f0_corr", "duration_ratio"}
