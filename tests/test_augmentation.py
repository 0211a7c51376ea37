"""Batched crops and augmentations (benchmark.methods.augmentation) against the per-example NumPy
reference they replace, on the same random draws: the batched tensors must hold, row by row,
what a loop over utterances computes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.methods.augmentation import (FrameStore, add_noise, apply_masks, draw_crop_starts, draw_masks,
                                           draw_noise, draw_pitch_shifts, draw_speed_factors, pitch_shift,
                                           speed_perturb)
from benchmark.methods.emotion_extractor import EmotionExtractor


def _utterances(seed: int = 0, n: int = 7, bands: int = 12) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(int(rng.integers(5, 40)), bands)).astype(np.float32) for _ in range(n)]


def _padded(examples: list[np.ndarray], width: int | None = None) -> np.ndarray:
    width = width or max(len(e) for e in examples)
    out = np.zeros((len(examples), width, examples[0].shape[1]), dtype=np.float32)
    for i, e in enumerate(examples):
        out[i, : len(e)] = e
    return out


# ----------------------------------------------------------------------------- per-example reference


def ref_crop(x: np.ndarray, start: int, crop: int) -> np.ndarray:
    return x if len(x) <= crop else x[start : start + crop]


def ref_masks(x: np.ndarray, starts, widths, axis: int) -> np.ndarray:
    x = x.copy()
    for s, w in zip(starts, widths):
        if axis == 0:
            x[s : s + w] = 0.0
        else:
            x[:, s : s + w] = 0.0
    return x


def ref_speed(x: np.ndarray, factor: float) -> np.ndarray:
    n = max(8, int(round(len(x) / factor)))
    positions = np.linspace(0, len(x) - 1, n)
    left = np.floor(positions).astype(int)
    right = np.minimum(left + 1, len(x) - 1)
    w = (positions - left)[:, None]
    return (1 - w) * x[left] + w * x[right]


def ref_pitch(x: np.ndarray, shift: int) -> np.ndarray:
    x = np.roll(x, shift, axis=1)
    if shift > 0:
        x[:, :shift] = x[:, shift : shift + 1]
    elif shift < 0:
        x[:, shift:] = x[:, shift - 1 : shift]
    return x


def ref_noise(x: np.ndarray, snr: float, noise: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    power = np.exp(x * std + mean)
    scaled = power.mean() / (10 ** (snr / 10)) * noise
    return (np.log(power + scaled) - mean) / std


# ----------------------------------------------------------------------------- the batched versions


def test_crops_are_the_per_example_windows_zero_padded():
    utts = _utterances()
    store = FrameStore.from_arrays(utts)
    rows = np.array([3, 0, 6, 2])
    starts, lengths = draw_crop_starts(store.lengths[rows], 16, np.random.default_rng(1))
    x = store.crops(rows, starts, lengths, min_frames=8).numpy()
    expected = _padded([ref_crop(utts[r], s, 16) for r, s in zip(rows, starts)], width=x.shape[1])
    np.testing.assert_array_equal(x, expected)
    assert all(0 <= s <= max(0, len(utts[r]) - 16) for r, s in zip(rows, starts))
    assert store.crops(rows[:1], np.zeros(1, np.int64), np.array([3]), min_frames=8).shape[1] == 8


@pytest.mark.parametrize("axis", [0, 1])
def test_masks_match_the_per_example_loop(axis):
    utts = _utterances(2)
    x = _padded(utts)
    lengths = np.array([len(u) for u in utts]) if axis == 0 else np.full(len(utts), x.shape[2])
    starts, widths = draw_masks(lengths, 3, 6, np.random.default_rng(3))
    got = apply_masks(torch.from_numpy(x), starts, widths, dim=axis + 1).numpy()
    for i, u in enumerate(utts):
        np.testing.assert_array_equal(got[i, : len(u)], ref_masks(u, starts[i], widths[i], axis))
        assert not got[i, len(u):].any()
    # the draws follow the per-example rule: start in 0..max(1, length - width) - 1
    assert (widths <= 6).all() and (starts < np.maximum(1, lengths[:, None] - widths)).all()


def test_speed_perturbation_matches_the_per_example_interpolation():
    utts = _utterances(4)
    factors = draw_speed_factors(len(utts), 0.3, np.random.default_rng(5))
    got, lengths = speed_perturb(torch.from_numpy(_padded(utts)), np.array([len(u) for u in utts]), factors)
    for i, u in enumerate(utts):
        ref = ref_speed(u, factors[i])
        assert lengths[i] == len(ref)
        np.testing.assert_allclose(got[i, : len(ref)].numpy(), ref, rtol=1e-5, atol=1e-5)
        assert not got[i, len(ref):].any()


def test_pitch_shift_matches_roll_with_edge_fill():
    utts = _utterances(6)
    shifts = draw_pitch_shifts(len(utts), 3, np.random.default_rng(7))
    shifts[:3] = [2, -2, 0]
    got = pitch_shift(torch.from_numpy(_padded(utts)), shifts).numpy()
    for i, u in enumerate(utts):
        np.testing.assert_array_equal(got[i, : len(u)], ref_pitch(u, int(shifts[i])))


def test_noise_matches_the_per_example_snr():
    utts = _utterances(8)
    x = _padded(utts)
    mean, std = np.linspace(-2, 1, x.shape[2]), np.linspace(0.5, 2, x.shape[2])
    snr, noise = draw_noise(x.shape, (10.0, 30.0), np.random.default_rng(9))
    lengths = np.array([len(u) for u in utts])
    got = add_noise(torch.from_numpy(x), lengths, snr, noise, mean, std).numpy()
    for i, u in enumerate(utts):
        ref = ref_noise(u.astype(np.float64), snr[i], noise[i, : len(u)], mean, std)
        np.testing.assert_allclose(got[i, : len(u)], ref, rtol=1e-4, atol=1e-4)
        assert not got[i, len(u):].any()


def _extractor(**hp) -> EmotionExtractor:
    """An Emotion Extractor set up for training batches without a fit (normalised frames given)."""
    method = EmotionExtractor(progress=False, crop_frames=16, **hp)
    utts = _utterances(10, n=8)
    method.classes_ = ["angry", "neutral"]
    method.train_x_ = utts
    method.train_store_ = FrameStore.from_arrays(utts)
    method.train_y_ = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    method.train_speakers_ = np.array(["a", "a", "b", "b", "a", "a", "b", "b"])
    method.class_counts_ = np.array([4.0, 4.0])
    method.mean_, method.std_ = np.zeros(12), np.ones(12)
    method.model_ = method.build(12, 2, 2)
    method.prepare_training()
    return method


def test_extractor_batches_are_deterministic_for_a_seed_and_blend_same_speaker_neutrals():
    hp = dict(neutral_mix_prob=1.0, speed_perturb=True, pitch_perturb=True, noise=True, freq_masks=1, mixup=False)
    method = _extractor(**hp)
    rows = np.arange(8)
    a = method.train_batch(rows, np.random.default_rng(11))
    b = _extractor(**hp).train_batch(rows, np.random.default_rng(11))
    assert all(torch.equal(a[k], b[k]) for k in ("x", "lengths", "target"))
    # every emotional row was blended: lam in [0.5, 1] on angry, the rest on neutral; neutral rows untouched
    target = a["target"].numpy()
    np.testing.assert_allclose(target.sum(axis=1), 1.0, rtol=1e-6)
    assert ((target[::2, 0] >= 0.5) & (target[::2, 0] <= 1.0) & (target[::2, 1] > 0)).all()
    np.testing.assert_array_equal(target[1::2], [[0.0, 1.0]] * 4)


def test_extractor_neutral_blend_is_the_blend_of_the_two_windows():
    method = _extractor(neutral_mix_prob=1.0, spec_augment=False)
    rows = np.array([0])   # angry, speaker a: its Neutral partners are rows 1 and 5
    batch = method.train_batch(rows, np.random.default_rng(12))
    lam = float(batch["target"][0, 0])
    x = batch["x"][0].numpy()[: int(batch["lengths"][0])]
    utts = method.train_x_
    matches = []
    for partner in (1, 5):
        n = min(len(utts[0]), len(utts[partner]))
        blend = lam * utts[0][:n] + (1 - lam) * utts[partner][:n]
        matches += [np.allclose(blend[s : s + len(x)], x, atol=1e-6) for s in range(max(1, n - len(x) + 1))]
    assert any(matches)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_pool_frames_averages_each_utterances_groups_and_a_set_equals_its_utterances(k):
    from benchmark.methods.augmentation import pool_frames

    rng = np.random.default_rng(k)
    utts = [rng.normal(size=(n, 4)).astype(np.float32) for n in (1, 2, 5, 6, 7)]
    frames, counts = pool_frames(utts, k)
    expected = []
    for x in utts:   # the definition: consecutive groups of k frames, a trailing partial group averaged alone
        expected += [x[s : s + k].mean(axis=0) for s in range(0, len(x), k)]
    np.testing.assert_allclose(frames, np.stack(expected), rtol=1e-6, atol=1e-6)
    assert counts.tolist() == [-(-len(x) // k) for x in utts]
    alone = np.concatenate([pool_frames([x], k)[0] for x in utts])
    assert np.array_equal(alone, frames)    # inference (one utterance) sees training's floats


def test_band_stats_match_numpy_in_float64():
    from benchmark.methods.augmentation import band_stats

    rng = np.random.default_rng(0)
    utts = [(rng.normal(size=(n, 3)) * [1, 2, 0.5] + [-10, 3, 0]).astype(np.float32) for n in (3, 9000, 40)]
    flat = np.concatenate(utts).astype(np.float64)
    for given in (utts, np.concatenate(utts)):
        mean, std = band_stats(given, chunk=4096)
        np.testing.assert_allclose(mean, flat.mean(axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(std, flat.std(axis=0), rtol=1e-10)
