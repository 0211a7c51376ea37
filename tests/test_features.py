"""Audio loading and cached features, checked against independent computations."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.fft
import soundfile as sf

from benchmark.audio import load_audio
from benchmark.errors import AudioError, ConfigError
from benchmark.features import extract_features, feature_set, make_config
from benchmark.features.base import FEATURES

SR = 16000


def _tone(freq: float, seconds: float = 1.0, amp: float = 0.3, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _manifest(tmp_path, waves: dict[str, np.ndarray], sr: int = SR) -> pd.DataFrame:
    rows = []
    for i, (utt, wave) in enumerate(waves.items()):
        path = tmp_path / f"{utt}.wav"
        sf.write(path, wave, sr, subtype="FLOAT")  # no 16-bit rounding: compare to the exact input
        rows.append({"utt_id": utt, "path": str(path), "corpus": "t", "language": "en", "speaker": f"s{i % 2}",
                     "emotion": ["neutral", "sad"][i % 2], "text": None, "duration_s": len(wave) / sr})
    return pd.DataFrame(rows)


@pytest.fixture()
def cache(tmp_path):
    return tmp_path / "cache"


def test_logmel_matches_librosa(tmp_path, cache):
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    waves = {"a": (0.1 * rng.standard_normal(SR)).astype(np.float32), "b": _tone(440, 1.7)}
    feats = extract_features(_manifest(tmp_path, waves), "logmel", cache_dir=cache, progress=False)
    for utt, wave in waves.items():
        mel = librosa.feature.melspectrogram(y=wave, sr=SR, n_fft=512, win_length=400, hop_length=160, n_mels=64,
                                             pad_mode="constant", power=2.0)  # Slaney mel, as ours
        expected = np.log(mel.T + 1e-6)
        assert feats[utt].shape == expected.shape and feats[utt].dtype == np.float32
        # Batched with a longer utterance, yet equal to librosa on each alone (float32 rounding).
        np.testing.assert_allclose(feats[utt], expected, atol=1e-3)


def test_mfcc_is_the_orthonormal_dct_of_the_logmel(tmp_path, cache):
    m = _manifest(tmp_path, {"a": _tone(300, 0.8)})
    logmel = extract_features(m, "logmel", cache_dir=cache, progress=False)["a"]
    mfcc = extract_features(m, {"name": "mfcc", "n_mfcc": 13}, cache_dir=cache, progress=False)["a"]
    np.testing.assert_allclose(mfcc, scipy.fft.dct(logmel, type=2, norm="ortho", axis=1)[:, :13], atol=1e-3)


@pytest.mark.parametrize("freq", [110.0, 150.0, 200.0, 320.0])
def test_functionals_track_f0_of_a_tone(freq):
    extractor = FEATURES.get("functionals")(make_config("functionals"))
    names = extractor.feature_names()
    values = dict(zip(names, extractor.extract_batch([_tone(freq, 1.5)])[0]))
    f0 = 27.5 * 2 ** (values["f0_semitone_p50"] / 12)
    assert abs(f0 - freq) < 2.0
    assert values["voiced_ratio"] > 0.9


def test_functionals_see_loudness_and_no_pitch_in_noise():
    extractor = FEATURES.get("functionals")(make_config("functionals"))
    names = extractor.feature_names()
    quiet, loud = extractor.extract_batch([_tone(200, 1, 0.05), _tone(200, 1, 0.5)])
    i = names.index("loudness_db_mean")
    assert loud[i] - quiet[i] == pytest.approx(20.0, abs=0.5)
    noise = (0.1 * np.random.default_rng(1).standard_normal(SR)).astype(np.float32)
    assert dict(zip(names, extractor.extract_batch([noise])[0]))["voiced_ratio"] < 0.05


def test_egemaps_has_88_finite_values(tmp_path, cache):
    feats = extract_features(_manifest(tmp_path, {"a": _tone(180, 1.0)}), "egemaps", cache_dir=cache, progress=False)
    assert feats["a"].shape == (88,) and np.isfinite(feats["a"]).all()


def test_egemaps_equals_opensmile_process_signal():
    """The streamed path (one Smile, its extraction called directly) gives process_signal's values."""
    import opensmile

    from benchmark.features.egemaps import Egemaps, EgemapsConfig

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    rng = np.random.default_rng(3)
    waves = [_tone(150, 0.8), (0.05 * rng.standard_normal(SR // 2)).astype(np.float32), _tone(260, 1.3)]
    ours = Egemaps(EgemapsConfig()).extract_batch(waves)
    for wave, values in zip(waves, ours):
        expected = smile.process_signal(wave, SR)
        assert list(expected.columns) == Egemaps(EgemapsConfig()).feature_names()
        np.testing.assert_array_equal(values, expected.to_numpy()[0].astype(np.float32))


def test_cache_hits_by_content_and_survives_renames(tmp_path, cache, monkeypatch):
    m = _manifest(tmp_path, {"a": _tone(200), "b": _tone(300)})
    first = extract_features(m, "functionals", cache_dir=cache, progress=False)
    entries = sorted(cache.rglob("*.npy"))
    assert len(entries) == 2

    import benchmark.features as features_module

    monkeypatch.setattr(features_module, "_MEMORY", {})
    monkeypatch.setattr(features_module, "_extract_chunk", lambda *a: pytest.fail("recomputed a cached file"))
    renamed = m.copy()
    new_path = tmp_path / "moved.wav"
    (tmp_path / "a.wav").rename(new_path)
    renamed.loc[0, "path"] = str(new_path)
    again = extract_features(renamed, "functionals", cache_dir=cache, progress=False)
    for utt in first:
        np.testing.assert_array_equal(first[utt], again[utt])


def test_resampled_stereo_matches_mono_16k(tmp_path):
    mono = _tone(220, 1.0, sr=44100)
    stereo = np.stack([mono, mono], axis=1)
    sf.write(tmp_path / "s.wav", stereo, 44100)
    sf.write(tmp_path / "m.wav", _tone(220, 1.0), SR)
    a, b = load_audio(tmp_path / "s.wav"), load_audio(tmp_path / "m.wav")
    assert abs(len(a) - len(b)) <= 1
    n = min(len(a), len(b))
    assert np.abs(a[100 : n - 100] - b[100 : n - 100]).max() < 0.01


@pytest.mark.parametrize("rate", [16001, 44101, 7919])
def test_an_odd_sample_rate_resamples_in_linear_memory(tmp_path, rate):
    """16,001 Hz is 16,000/16,001 to a polyphase filter (tens of GiB); libsoxr takes it in linear memory."""
    import tracemalloc

    source = _tone(220, 0.25, sr=rate)     # short: a regression fails here rather than exhausting memory
    sf.write(tmp_path / "odd.wav", source, rate)
    tracemalloc.start()
    got = load_audio(tmp_path / "odd.wav")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20
    want = _tone(220, 0.25)
    assert abs(len(got) - len(source) * SR / rate) <= 1
    n = min(len(got), len(want))
    assert np.abs(got[200 : n - 200] - want[200 : n - 200]).max() < 0.01


def test_a_sample_rate_no_recording_has_is_a_corrupt_header_naming_the_file(tmp_path):
    path = tmp_path / "fast.wav"
    sf.write(path, _tone(220, 0.01, sr=2_000_000), 2_000_000)
    with pytest.raises(AudioError, match="sample rate 2000000 Hz") as err:
        load_audio(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("kind, message", [("missing", "not found"), ("corrupt", "unreadable"),
                                           ("empty", "empty"), ("silent", "silent")])
def test_bad_audio_names_the_file(tmp_path, kind, message):
    path = tmp_path / f"{kind}.wav"
    if kind == "corrupt":
        path.write_bytes(b"RIFF not really a wav file")
    elif kind == "empty":
        sf.write(path, np.zeros(0, dtype=np.float32), SR)
    elif kind == "silent":
        sf.write(path, np.zeros(SR, dtype=np.float32), SR)
    with pytest.raises(AudioError, match=message) as err:
        load_audio(path)
    assert str(path) in str(err.value)


def test_a_bad_file_keeps_what_was_already_cached(tmp_path, cache):
    m = _manifest(tmp_path, {"a": _tone(200), "b": _tone(300)})
    sf.write(tmp_path / "b.wav", np.zeros(SR, dtype=np.float32), SR)  # now silent
    with pytest.raises(AudioError, match="b.wav"):
        extract_features(m, "functionals", cache_dir=cache, progress=False)
    ok = extract_features(m.iloc[:1], "functionals", cache_dir=cache, progress=False)
    assert set(ok) == {"a"}


def test_bad_feature_config_names_the_key():
    with pytest.raises(ConfigError, match="n_melz"):
        make_config({"name": "logmel", "n_melz": 80})
    with pytest.raises(ConfigError, match="unknown feature"):
        make_config("spectrogramz")


def test_feature_set_is_deterministic_and_aligned(tmp_path, cache):
    m = _manifest(tmp_path, {"a": _tone(200), "b": _tone(300), "c": _tone(250)})
    one = feature_set(m, "functionals", cache_dir=cache, progress=False)
    two = feature_set(m.iloc[::-1], "functionals", cache_dir=cache, progress=False)
    assert one.utt_ids == ["a", "b", "c"] and one.X.shape[0] == 3
    np.testing.assert_array_equal(one.X, two.X[::-1])
    assert list(one.y) == ["neutral", "sad", "neutral"]
