"""The Method contract, checked for EVERY registered method (seed methods and baselines).

A method that lands in ``benchmark.methods`` or ``baselines`` is picked up
automatically. Each one is fitted on a tiny synthetic FeatureSet of its
feature kind with fast hyperparameters (few epochs, no progress bar; per-method
overrides in ``FAST``) and must give: probabilities of shape
``(n, n_classes)`` whose rows sum to 1, embeddings of shape ``(n, d)``,
predictions that do not depend on how the test set is batched, identical
results for the same seed, an exact save/load round trip, and a ConfigError
naming an unknown hyperparameter.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from benchmark.errors import ConfigError
from benchmark.features import make_config
from benchmark.methods import METHODS, FeatureSet

CLASSES = ["angry", "neutral", "sad"]
N_MELS = 64                                 # frame-level features: a list of (frames, 64) arrays
VECTOR_FEATURES = {"functionals": 24, "egemaps": 88}   # 2-D arrays of this width
ENCODER_VECTOR_DIMS = 32                    # one pooled layer of a pretrained encoder (whisper_encoder, ssl)
LAYERS, ENCODER_DIMS = 3, 16                # several pooled layers: (n, LAYERS, ENCODER_DIMS)

# Generic fast settings are applied when a method has the field; per-method extras go here.
GENERIC_FAST = {"epochs": 2, "batch_size": 16, "progress": False}
FAST: dict[str, dict[str, Any]] = {
    "dae_conv": {"segment_frames": 16, "channels": [4, 8]},
    "vae_conv": {"segment_frames": 16, "channels": [4, 8]},
    "ssvae_conv": {"segment_frames": 16, "channels": [4, 8]},
}


def fast_hparams(name: str) -> dict[str, Any]:
    fields = METHODS.get(name).HParams.model_fields
    hp = {k: v for k, v in GENERIC_FAST.items() if k in fields}
    hp.update(FAST.get(name, {}))
    return hp


def synthetic(feature: str | dict[str, Any], n: int, seed: int) -> FeatureSet:
    """Three separable classes, four speakers, two languages, in the shape ``feature`` has."""
    rng = np.random.default_rng(seed)
    y = np.array([CLASSES[i % 3] for i in range(n)])
    k = np.array([CLASSES.index(c) for c in y])
    config = make_config(feature)
    if config.kind == "frames":
        X: Any = []
        for c in k:
            x = rng.normal(size=(int(rng.integers(20, 60)), N_MELS)).astype(np.float32)
            x[:, c * 16:(c + 1) * 16] += 2.0
            X.append(x)
    elif config.kind == "vector":
        width = VECTOR_FEATURES.get(config.name, ENCODER_VECTOR_DIMS)
        X = rng.normal(size=(n, width)) + 3.0 * np.eye(width)[k]
    elif config.kind == "layers":  # the classes are in layer 1 only
        X = rng.normal(size=(n, LAYERS, ENCODER_DIMS))
        X[:, 1] += 3.0 * np.eye(ENCODER_DIMS)[k]
    else:
        pytest.fail(f"tests/test_method_contract.py has no synthetic data for feature kind {config.kind!r}; add it")
    return FeatureSet([f"{config.name}_{seed}_{i}" for i in range(n)], X, y,
                      np.array([f"spk{(i // 3) % 4}" for i in range(n)]),
                      np.array(["en" if i % 2 else "de" for i in range(n)]))


@pytest.fixture(scope="module", params=METHODS.names())
def fitted(request):
    name = request.param
    method = METHODS.get(name)(**fast_hparams(name), seed=0)
    train, val, test = (synthetic(method.feature, n, seed) for n, seed in ((48, 0), (18, 1), (15, 2)))
    method.fit(train, val)
    return name, method, train, val, test


def test_probabilities(fitted):
    name, method, train, _, test = fitted
    assert sorted(method.classes_) == CLASSES
    proba = method.predict_proba(test)
    assert proba.shape == (len(test), len(method.classes_))
    assert np.isfinite(proba).all() and (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert set(method.predict(test)) <= set(CLASSES)


def test_embeddings(fitted):
    name, method, _, _, test = fitted
    Z = method.embed(test)
    assert Z.ndim == 2 and Z.shape[0] == len(test) and Z.shape[1] >= 1
    assert np.isfinite(Z).all()


def test_predictions_do_not_depend_on_batching(fitted):
    name, method, _, _, test = fitted
    whole = method.predict_proba(test)
    parts = np.concatenate([method.predict_proba(test.subset(np.arange(i, min(i + 4, len(test)))))
                            for i in range(0, len(test), 4)])
    np.testing.assert_allclose(parts, whole, atol=1e-5)


def test_same_seed_same_model(fitted):
    name, method, train, val, test = fitted
    again = METHODS.get(name)(**fast_hparams(name), seed=0).fit(train, val)
    np.testing.assert_array_equal(again.predict_proba(test), method.predict_proba(test))
    np.testing.assert_array_equal(again.embed(test), method.embed(test))


def test_save_load_round_trip(fitted, tmp_path):
    name, method, _, _, test = fitted
    saved = method.save(tmp_path / name)
    loaded = METHODS.get(name).load(saved)
    assert loaded.classes_ == method.classes_
    assert loaded.hparams == method.hparams
    np.testing.assert_array_equal(loaded.predict_proba(test), method.predict_proba(test))
    np.testing.assert_array_equal(loaded.embed(test), method.embed(test))
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".pkl", ".pickle")]


@pytest.mark.parametrize("name", METHODS.names())
def test_unknown_hyperparameter_is_named(name):
    with pytest.raises(ConfigError, match="no_such_knob"):
        METHODS.get(name)(no_such_knob=1)
    method = METHODS.get(name)()
    assert METHODS.get(name)(**method.hparams).hparams == method.hparams   # a config round-trips
