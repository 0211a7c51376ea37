"""MLflow logging and Model Registry: registered versions load back and reproduce predictions exactly."""
from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from benchmark.errors import EmobenchError
from benchmark.methods import METHODS, FeatureSet
from benchmark.model_registry import (load_registered, log_and_register, model_uri, registered_name, to_frame,
                                      _input_spec)


def make_set(n: int = 60, dims: int = 5, seed: int = 0) -> FeatureSet:
    rng = np.random.default_rng(seed)
    y = np.array(["angry", "neutral", "sad"] * (n // 3))
    X = rng.normal(size=(n, dims)) + (y == "angry")[:, None] * 1.5 - (y == "sad")[:, None] * 1.5 * np.eye(dims)[1]
    return FeatureSet([f"u{i}" for i in range(n)], X, y, np.array(["s"] * n), np.array(["en"] * n))


@pytest.fixture(scope="module")
def tracking(tmp_path_factory):
    """A throwaway SQLite tracking store; artifacts go to the same temporary folder."""
    root = tmp_path_factory.mktemp("mlflow")
    previous = mlflow.get_tracking_uri()
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp = client.create_experiment("registry-test", artifact_location=str(root / "artifacts"))
    yield exp
    mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def registered(tracking):
    train, test = make_set(seed=0), make_set(seed=1)
    method = METHODS.get("linear_svm")(C=0.5, seed=3).fit(train)
    with mlflow.start_run(experiment_id=tracking) as run:
        info = log_and_register(method, data_hash="feedface", input_example=train, corpus="synthetic",
                                code_version="0123abc")
        assert mlflow.active_run().info.run_id == run.info.run_id  # the run is left open to its owner
    return method, info, test


def test_registered_version_reproduces_predictions(registered):
    method, info, test = registered
    assert info.name == registered_name("linear_svm", "synthetic") == "emobench-linear_svm-synthetic"
    loaded = load_registered(info.name, info.version)
    assert type(loaded) is type(method) and loaded.hparams == method.hparams
    np.testing.assert_array_equal(loaded.predict_proba(test), method.predict_proba(test))
    np.testing.assert_array_equal(loaded.embed(test), method.embed(test))


def test_pyfunc_scoring_needs_no_training_code(registered):
    method, info, test = registered
    model = mlflow.pyfunc.load_model(f"models:/{info.name}/{info.version}")
    frame = pd.DataFrame(test.X, columns=[f"f{i}" for i in range(test.X.shape[1])])
    out = model.predict(frame)
    assert list(out.columns) == ["proba_angry", "proba_neutral", "proba_sad", "label"]
    np.testing.assert_array_equal(out[["proba_angry", "proba_neutral", "proba_sad"]].to_numpy(),
                                  method.predict_proba(test))
    assert (out["label"].to_numpy() == method.predict(test)).all()
    inputs = model.metadata.get_input_schema().input_names()
    assert inputs == [f"f{i}" for i in range(5)]


def test_params_hold_hparams_data_hash_and_code_version(registered):
    method, info, _ = registered
    params = MlflowClient().get_run(info.run_id).data.params
    assert params["data_hash"] == "feedface" and params["code_version"] == "0123abc"
    assert params["method"] == "linear_svm" and params["feature"] == "functionals"
    for key, value in method.hparams.items():
        assert params[f"hp.{key}"] == str(value)
    version = MlflowClient().get_model_version(info.name, info.version)
    assert version.tags["data_hash"] == "feedface" and version.tags["code_version"] == "0123abc"


def test_model_artifacts_hold_no_pickle(registered, tmp_path):
    _, info, _ = registered
    local = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path))
    files = [p.name for p in __import__("pathlib").Path(local).rglob("*") if p.is_file()]
    assert "MLmodel" in files and "model.skops" in files
    assert not [f for f in files if f.endswith((".pkl", ".pickle"))]


def test_versions_aliases_and_latest(tracking, registered):
    _, info, test = registered
    other = METHODS.get("logreg")().fit(make_set(seed=4))
    with mlflow.start_run(experiment_id=tracking):
        second = log_and_register(other, data_hash="feedface", input_example=test, name=info.name,
                                  code_version="0123abc")
    assert int(second.version) == int(info.version) + 1
    MlflowClient().set_registered_model_alias(info.name, "champion", info.version)
    champion = load_registered(info.name, alias="champion")
    latest = load_registered(info.name)
    assert champion.name == "linear_svm" and latest.name == "logreg"
    np.testing.assert_array_equal(latest.predict_proba(test), other.predict_proba(test))
    assert model_uri(info.name, alias="champion") == f"models:/{info.name}@champion"


def test_errors(tracking, registered):
    method, _, test = registered
    with pytest.raises(EmobenchError, match="needs an MLflow run"):
        log_and_register(method, data_hash="x", input_example=test, corpus="c")
    with pytest.raises(EmobenchError, match="trained"):
        with mlflow.start_run(experiment_id=tracking):
            log_and_register(METHODS.get("logreg")(), data_hash="x", input_example=test, corpus="c")
    with mlflow.start_run(experiment_id=tracking):
        mlflow.log_param("data_hash", "something-else")
        with pytest.raises(EmobenchError, match="data_hash"):
            log_and_register(method, data_hash="x", input_example=test, corpus="c", code_version="v")
    with pytest.raises(EmobenchError, match="no registered model"):
        load_registered("emobench-nothing-here")


def test_frame_input_round_trip():
    rng = np.random.default_rng(0)
    frames = [rng.normal(size=(n, 64)).astype(np.float32) for n in (7, 12)]
    fs = FeatureSet(["a", "b"], frames, None, np.array(["s", "s"]), np.array(["en", "en"]))
    spec = _input_spec(fs)
    from benchmark.model_registry import to_feature_set

    back = to_feature_set(to_frame(fs, spec), spec)
    assert all(np.array_equal(x, y) and y.dtype == np.float32 for x, y in zip(frames, back.X))
    back = to_feature_set(frames, spec)
    assert all(np.array_equal(x, y) for x, y in zip(frames, back.X))
    with pytest.raises(EmobenchError, match="frames, 64"):
        to_feature_set([np.zeros((3, 10))], spec)


def test_frame_level_method_registers_and_scores(tracking):
    rng = np.random.default_rng(0)
    y = np.array(["angry", "neutral", "sad"] * 8)
    frames = []
    for k in range(len(y)):
        x = rng.normal(size=(int(rng.integers(10, 30)), 64)).astype(np.float32)
        x[:, (k % 3) * 20:(k % 3 + 1) * 20] += 2
        frames.append(x)
    fs = FeatureSet([f"u{i}" for i in range(len(y))], frames, y, np.array(["s"] * len(y)), np.array(["en"] * len(y)))
    method = METHODS.get("dae_conv")(epochs=2, segment_frames=8, channels=[4], progress=False).fit(fs)
    with mlflow.start_run(experiment_id=tracking):
        info = log_and_register(method, data_hash="d", input_example=fs, corpus="synthetic", code_version="v")
    model = mlflow.pyfunc.load_model(info.registry_uri)
    assert model.metadata.get_input_schema().input_names() == ["logmel"]
    out = model.predict(pd.DataFrame({"logmel": frames}))
    np.testing.assert_array_equal(out.filter(like="proba_").to_numpy(), method.predict_proba(fs))
    loaded = load_registered(info.name, info.version)
    np.testing.assert_array_equal(loaded.embed(fs), method.embed(fs))


def test_layer_probe_on_pooled_encoder_layers_registers_and_scores(tracking):
    """superb_probe reads (n, layers, dims): one pyfunc column per (layer, dim), reshaped back."""
    rng = np.random.default_rng(0)
    y = np.array(["angry", "neutral", "sad"] * 10)
    X = rng.normal(size=(len(y), 3, 4))
    X[:, 1, :3] += 2 * np.eye(3)[np.arange(len(y)) % 3]
    fs = FeatureSet([f"u{i}" for i in range(len(y))], X, y, np.array(["s"] * len(y)), np.array(["en"] * len(y)))
    method = METHODS.get("superb_probe")(epochs=3, progress=False).fit(fs)
    with mlflow.start_run(experiment_id=tracking):
        info = log_and_register(method, data_hash="d", input_example=fs, corpus="synthetic", code_version="v")
    model = mlflow.pyfunc.load_model(info.registry_uri)
    assert model.metadata.get_input_schema().input_names()[:2] == ["l0_f0", "l0_f1"]
    out = model.predict(to_frame(fs, _input_spec(fs)))
    np.testing.assert_array_equal(out.filter(like="proba_").to_numpy(), method.predict_proba(fs))
