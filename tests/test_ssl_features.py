"""The ``ssl`` feature: HuggingFace WavLM / HuBERT / wav2vec 2.0 / data2vec-audio models loaded from a local
folder only, tested with small randomly initialised models of each architecture (2 layers, hidden size 32)
saved to a temporary folder, against HuggingFace's own feature extractor + model forward pass."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from benchmark.errors import ConfigError
from benchmark.features import extract_features, feature_set, make_config

SR = 16000


def _manifest(tmp_path, waves: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = []
    for i, (utt, wave) in enumerate(waves.items()):
        path = tmp_path / f"{utt}.wav"
        sf.write(path, wave, SR, subtype="FLOAT")
        rows.append({"utt_id": utt, "path": str(path), "corpus": "t", "language": "en", "speaker": f"s{i % 2}",
                     "emotion": ["neutral", "sad"][i % 2], "text": None, "duration_s": len(wave) / SR})
    return pd.DataFrame(rows)


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
