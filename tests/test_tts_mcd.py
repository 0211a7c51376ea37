"""MCD: closed-form values, exact DTW, preset reproduction (pymcd, ESPnet), settings and errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from benchmark.errors import AudioError, ConfigError
from benchmark.tts.mcd import (MCD_CONST, MCD_PRESETS, dtw_path, mcd, mcd_from_cepstra, mcd_settings)

K_DB = 10.0 / math.log(10.0)


def _voice(f0: float, dur: float, sr: int, seed: int, vibrato: float = 0.0, bright: float = 1.0) -> np.ndarray:
    """A harmonic 'vowel' whose spectral tilt moves over time (so frames differ), plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(dur * sr)) / sr
    f = f0 * (1 + vibrato * np.sin(2 * np.pi * 4 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    cutoff = bright * (500 + 2500 * t / dur)
    x = sum(np.exp(-k * f / cutoff) * np.sin(k * phase) for k in range(1, 30) if k * f0 < sr / 2 - 500)
    return 0.3 * x / np.abs(x).max() + 0.002 * rng.standard_normal(len(t))


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    d = tmp_path_factory.mktemp("mcd")
    paths = {}
    for name, (f0, dur, vib, bright, sr) in {
        "a": (120, 0.6, 0.0, 1.0, 16000), "b": (150, 0.7, 0.04, 0.8, 16000),
        "c": (210, 0.5, 0.02, 1.3, 22050), "d": (180, 0.65, 0.0, 1.1, 22050),
    }.items():
        paths[name] = d / f"{name}.wav"
        sf.write(paths[name], _voice(f0, dur, sr, seed=len(paths), vibrato=vib, bright=bright), sr,
                 subtype="PCM_16")
    return paths


# ------------------------------------------------------------------ closed form


def test_constant_offset_on_given_cepstra_is_closed_form():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(50, 25))
    d = rng.normal(scale=0.1, size=24)
    syn = ref.copy()
    syn[:, 1:] += d
    syn[:, 0] += 3.0  # c0 differs too, but the default preset leaves c0 out
    expected = K_DB * math.sqrt(2 * np.sum(d ** 2))
    plain = mcd_settings("default", dtw="none")
    assert mcd_from_cepstra(syn, ref, plain).mcd_db == pytest.approx(expected, rel=1e-12)
    with_c0 = mcd_settings("default", dtw="none", include_c0=True)
    assert mcd_from_cepstra(syn, ref, with_c0).mcd_db == pytest.approx(
        K_DB * math.sqrt(2 * (np.sum(d ** 2) + 9.0)), rel=1e-12)
    # Constant frames: every alignment costs the same, so DTW gives the closed form too,
    # even when the two sequences differ in length.
    flat_ref = np.tile(ref[0], (40, 1))
    flat_syn = np.tile(ref[0] + np.r_[0.0, d], (55, 1))
    res = mcd_from_cepstra(flat_syn, flat_ref, "default")
    assert res.mcd_db == pytest.approx(expected, rel=1e-12)
    assert (res.n_frames_syn, res.n_frames_ref) == (55, 40)
    assert MCD_CONST == pytest.approx(K_DB * math.sqrt(2))


def test_time_warped_copy_is_zero_with_dtw_but_not_without():
    rng = np.random.default_rng(1)
    ref = np.cumsum(rng.normal(size=(60, 14)), axis=0)  # a smooth trajectory, frames all distinct
    # A non-uniform time warp that keeps every reference frame, in order, 1-3 times each.
    syn = np.repeat(ref, rng.integers(1, 4, size=len(ref)), axis=0)
    assert mcd_from_cepstra(syn, ref, "default").mcd_db == pytest.approx(0.0, abs=1e-12)
    assert mcd_from_cepstra(syn, ref, mcd_settings("default", dtw="none")).mcd_db > 1.0


def _dtw_cost_bruteforce(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook O(NM) DTW cost with a Python double loop (independent of librosa)."""
    n, m = len(x), len(y)
    D = np.full((n + 1, m + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            c = np.linalg.norm(x[i - 1] - y[j - 1])
            D[i, j] = c + min(D[i - 1, j - 1], D[i - 1, j], D[i, j - 1])
    return float(D[n, m])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_dtw_path_is_optimal_and_valid(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(23, 5)), rng.normal(size=(31, 5))
    path = dtw_path(x, y, "exact")
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (22, 30)
    steps = np.diff(path, axis=0)
    assert set(map(tuple, steps)) <= {(1, 1), (0, 1), (1, 0)}
    cost = float(np.linalg.norm(x[path[:, 0]] - y[path[:, 1]], axis=1).sum())
    assert cost == pytest.approx(_dtw_cost_bruteforce(x, y), rel=1e-12)
    # fastdtw is an approximation: never better than the optimum
    fpath = dtw_path(x, y, "fastdtw")
    assert float(np.linalg.norm(x[fpath[:, 0]] - y[fpath[:, 1]], axis=1).sum()) >= cost - 1e-9


# ------------------------------------------------------------------ files and presets


@pytest.mark.parametrize("preset", ["default", "espnet", "versa", "pymcd", "pymcd_plain", "pymcd_dtw_sl"])
def test_identical_files_give_zero(wavs, preset):
    assert mcd(wavs["a"], wavs["a"], preset).mcd_db == pytest.approx(0.0, abs=1e-9)


def test_different_files_give_positive_mcd_that_is_symmetric_under_exact_dtw(wavs):
    ab = mcd(wavs["a"], wavs["b"]).mcd_db
    ba = mcd(wavs["b"], wavs["a"]).mcd_db
    assert ab > 0.5
    assert ab == pytest.approx(ba, rel=1e-9)


@pytest.mark.parametrize("mode,preset", [("plain", "pymcd_plain"), ("dtw", "pymcd"), ("dtw_sl", "pymcd_dtw_sl")])
def test_pymcd_presets_reproduce_pymcd(wavs, mode, preset):
    from pymcd.mcd import Calculate_MCD

    calc = Calculate_MCD(MCD_mode=mode)
    for ref, syn in [("a", "b"), ("c", "a"), ("d", "c")]:
        theirs = calc.calculate_mcd(str(wavs[ref]), str(wavs[syn]))  # pymcd: (reference, synthesized)
        ours = mcd(wavs[syn], wavs[ref], preset)
        assert ours.mcd_db == pytest.approx(theirs, rel=1e-9, abs=1e-9), (ref, syn)


@pytest.mark.parametrize("seed", [0, 1])
def test_pymcd_preset_breaks_fastdtw_ties_like_pymcd(seed):
    """Runs of identical frames (digital silence) make FastDTW ties; pymcd aligns (reference, synthesized)."""
    from fastdtw import fastdtw
    from pymcd.mcd import Calculate_MCD
    from scipy.spatial.distance import euclidean

    rng = np.random.default_rng(seed)
    silence = rng.normal(size=14)
    ref = np.vstack([np.tile(silence, (12, 1)), np.cumsum(rng.normal(size=(30, 14)), 0), np.tile(silence, (5, 1))])
    syn = np.vstack([np.tile(silence, (7, 1)), np.cumsum(rng.normal(size=(25, 14)), 0), np.tile(silence, (9, 1))])
    calc = Calculate_MCD(MCD_mode="dtw")
    _, path = fastdtw(ref[:, 1:], syn[:, 1:], dist=euclidean)  # the call pymcd makes
    frames, cost = calc.calculate_mcd_distance(ref, syn, path)
    theirs = calc.log_spec_dB_const * cost / frames
    assert mcd_from_cepstra(syn, ref, "pymcd").mcd_db == pytest.approx(theirs, rel=1e-12)
    swapped = mcd_settings("pymcd", dtw_reference_first=False)
    assert mcd_from_cepstra(syn, ref, swapped).mcd_db != pytest.approx(theirs, rel=1e-6)


def test_espnet_preset_matches_the_espnet_recipe(wavs):
    """ESPnet's evaluate_mcd.py, written out frame by frame (int16 read, Hamming, mcep, fastdtw, c0 kept)."""
    import pysptk
    from fastdtw import fastdtw
    from scipy.spatial.distance import euclidean

    def sptk_extract(x):
        win = pysptk.sptk.hamming(1024)
        n = (len(x) - 1024) // 256 + 1
        return np.stack([pysptk.mcep(x[256 * i: 256 * i + 1024] * win, 23, 0.42, eps=1e-6, etype=1)
                         for i in range(n)])

    gen, _ = sf.read(wavs["b"], dtype="int16")
    gt, _ = sf.read(wavs["a"], dtype="int16")
    g, t = sptk_extract(gen.astype(np.float64)), sptk_extract(gt.astype(np.float64))
    _, path = fastdtw(g, t, dist=euclidean)
    twf = np.array(path).T
    expected = np.mean(K_DB * np.sqrt(2 * np.sum((g[twf[0]] - t[twf[1]]) ** 2, 1)))
    assert mcd(wavs["b"], wavs["a"], "espnet").mcd_db == pytest.approx(expected, rel=1e-9)


def test_result_carries_its_settings(wavs):
    res = mcd(wavs["a"], wavs["b"], "versa")
    d = res.to_dict()
    assert d["settings"]["preset"] == "versa"
    assert d["settings"]["order"] == 39 and d["settings"]["alpha"] == 0.466
    assert d["settings"]["include_c0"] is True and d["settings"]["silence"] == "power_threshold"
    assert d["mcd_db"] == res.mcd_db and d["n_pairs"] >= max(0, 1)
    assert "c0 excluded" in mcd_settings("default").describe()
    assert set(MCD_PRESETS.names()) >= {"default", "espnet", "versa", "pymcd", "pymcd_plain", "pymcd_dtw_sl"}


def test_bad_settings_and_files_are_named(wavs, tmp_path):
    with pytest.raises(ConfigError, match="unknown MCD preset 'kaldi'.*known: default"):
        mcd_settings("kaldi")
    with pytest.raises(ConfigError, match="alpah"):
        mcd_settings("default", alpah=0.5)
    with pytest.raises(AudioError, match="nope.wav.*missing"):
        mcd(tmp_path / "nope.wav", wavs["a"])
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    with pytest.raises(AudioError, match="bad.wav.*unreadable"):
        mcd(bad, wavs["a"])


def test_reference_analyses_are_cached_and_give_the_same_numbers(wavs, tmp_path, monkeypatch):
    import benchmark.tts.mcd as M
    from benchmark.tts.prosody import ProsodySettings, prosody

    monkeypatch.setenv("EMOBENCH_HOME", str(tmp_path))
    a, b = wavs["a"], wavs["b"]
    first_mcd, first_prosody = mcd(a, b), prosody(a, b, ProsodySettings(f0_method="dio"))
    calls = []
    original = M._world_envelope
    monkeypatch.setattr(M, "_world_envelope", lambda wave, s: calls.append(1) or original(wave, s))
    again = mcd(a, b)
    assert len(calls) == 1  # only the synthesized side was analysed: the reference came from the cache
    assert again.mcd_db == first_mcd.mcd_db and again.n_pairs == first_mcd.n_pairs
    assert prosody(a, b, ProsodySettings(f0_method="dio")) == first_prosody
    # another analysis setting is another cache entry, not a stale hit
    assert mcd(a, b, "versa").mcd_db != first_mcd.mcd_db


# ------------------------------------------------------------------ fast paths against the packages they replace


@pytest.mark.parametrize("seed", range(6))
def test_compiled_fastdtw_gives_the_fastdtw_package_path(seed):
    """Same path as ``fastdtw.fastdtw(x, y, radius, dist=euclidean)``, ties (rounded values) included."""
    from fastdtw import fastdtw
    from scipy.spatial.distance import euclidean

    from benchmark.tts.fastdtw import fastdtw_path

    rng = np.random.default_rng(seed)
    for _ in range(8):
        n, m, d, radius = rng.integers(1, 160), rng.integers(1, 160), rng.integers(1, 15), int(rng.integers(1, 3))
        x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d))
        if seed % 2:
            x, y = np.round(x), np.round(y)  # many equal costs: the tie-breaking order matters
        _, theirs = fastdtw(x, y, radius=radius, dist=euclidean)
        np.testing.assert_array_equal(fastdtw_path(x, y, radius), np.asarray(theirs), err_msg=f"{n}x{m}x{d} r{radius}")


def test_compiled_fastdtw_rejects_mismatched_inputs():
    from benchmark.tts.fastdtw import fastdtw_path

    with pytest.raises(ValueError, match="equal dims"):
        fastdtw_path(np.zeros((5, 3)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="at least one frame"):
        fastdtw_path(np.zeros((0, 3)), np.zeros((5, 3)))


def test_per_frame_sptk_calls_equal_pysptk(wavs):
    import pysptk
    import pyworld

    from benchmark.tts.mcd import load_wave, mcep, sp2mc

    x = load_wave(wavs["c"], 22050)
    f0, t = pyworld.dio(x, 22050, frame_period=5.0)
    sp = pyworld.cheaptrick(x, pyworld.stonemask(x, f0, t, 22050), t, 22050, fft_size=512)
    np.testing.assert_array_equal(sp2mc(sp, 24, 0.42), pysptk.sp2mc(sp, 24, 0.42))
    np.testing.assert_array_equal(
        mcep(sp, 13, 0.65, maxiter=0, etype=1, eps=1e-8, min_det=0.0, itype=3),
        pysptk.mcep(sp, order=13, alpha=0.65, maxiter=0, etype=1, eps=1e-8, min_det=0.0, itype=3))
    frames = np.random.default_rng(0).normal(size=(20, 1024)) * pysptk.sptk.hamming(1024)
    np.testing.assert_array_equal(mcep(frames, 23, 0.42, maxiter=30, etype=1, eps=1e-6, min_det=1e-6, itype=0),
                                  pysptk.mcep(frames, 23, 0.42, maxiter=30, eps=1e-6, etype=1))


@pytest.mark.parametrize("preset", ["default", "pymcd", "espnet"])
def test_mcd_many_equals_pair_by_pair_for_any_jobs(wavs, tmp_path, monkeypatch, preset):
    from benchmark.tts.mcd import mcd_many

    pairs = [(wavs["a"], wavs["b"]), (wavs["c"], wavs["b"]), (wavs["d"], wavs["b"]), (wavs["b"], wavs["a"]),
             (wavs["c"], wavs["d"])]
    monkeypatch.setenv("EMOBENCH_HOME", str(tmp_path / "one"))
    one = mcd_many(pairs, preset, jobs=1)
    monkeypatch.setenv("EMOBENCH_HOME", str(tmp_path / "three"))
    three = mcd_many(pairs, preset, jobs=3)
    assert one == three
    monkeypatch.setenv("EMOBENCH_HOME", str(tmp_path / "single"))
    assert one == [mcd(a, b, preset) for a, b in pairs]
    # every distinct reference analysed exactly once, into the shared cache
    entries = list((tmp_path / "three").rglob("*.npy"))
    assert len(entries) == 3


def test_mcd_many_names_the_bad_pair(wavs, tmp_path):
    from benchmark.tts.mcd import mcd_many

    missing = tmp_path / "gone.wav"
    with pytest.raises(AudioError, match=r"gone\.wav vs .*b\.wav"):
        mcd_many([(wavs["a"], wavs["b"]), (missing, wavs["b"])], jobs=2)
