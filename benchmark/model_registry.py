"""Log trained methods to MLflow as pyfunc models and register them in the Model Registry.

A registered emobench model is an ``mlflow.pyfunc`` model that anyone can
score without emobench training code::

    import mlflow
    model = mlflow.pyfunc.load_model("models:/emobench-logreg-embedded/1")   # or ...@champion
    model.predict(pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]))   # functionals
    model.predict(pd.DataFrame({"logmel": [frames_1, frames_2]}))                   # frame-level input
    # -> DataFrame: one ``proba_<class>`` column per class, and ``label`` (the argmax class)

or get the emobench :class:`~benchmark.methods.base.Method` back with
:func:`load_registered` (``embed``, ``predict_proba`` and friends).

What is stored, and why it is safe to load
------------------------------------------
* ``artifacts/<method>/``: the method's own ``save()`` directory. Methods load
  it without unpickling (``torch.load(weights_only=True)``, skops with an
  explicit trusted-type list, ``.npz`` with ``allow_pickle=False``, JSON).
* the wrapper is logged as code (MLflow "models from code"): a three-line
  file that imports :class:`EmobenchPyfuncModel` from the installed emobench
  package. No cloudpickle is involved, so loading a model never runs code
  hidden in a binary file. The scoring machine needs emobench installed
  (``pip install`` of this repository), not the training code of the caller.
* ``model_config`` names the method (registry name), the input kind
  (``vectors`` or ``frames``), the feature columns and the input dtype, so
  that inputs are cast exactly as the method saw them in training.
* an input signature inferred from ``input_example``
  (``mlflow.models.infer_signature``), and the example itself.

The run gets params ``method``, ``feature``, ``data_hash``, ``code_version``
and ``hp.<name>`` for every hyperparameter (keys the run already has with an
equal value are left alone; a conflicting value is an error). The model
version is tagged with the same provenance.
"""
from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

from benchmark.errors import ConfigError, EmobenchError
from benchmark.methods.base import FeatureSet, Method

PROBA_PREFIX = "proba_"
FRAMES_COLUMN = "logmel"
_WRAPPER_CODE = (
    "# emobench pyfunc wrapper (models from code): the model itself is the method's save() directory.\n"
    "from mlflow.models import set_model\n"
    "from benchmark.model_registry import EmobenchPyfuncModel\n"
    "set_model(EmobenchPyfuncModel())\n"
)
_REQUIREMENTS = ("mlflow", "numpy", "pandas", "scikit-learn", "skops", "torch", "pydantic")


@dataclass(frozen=True)
class RegisteredModel:
    """Where a logged method went: its run, artifact URI and registered name/version."""

    run_id: str
    model_uri: str            # runs:/<run_id>/<artifact_path>
    name: str | None          # registered model name (None when not registered)
    version: str | None

    @property
    def registry_uri(self) -> str | None:
        return None if self.name is None else f"models:/{self.name}/{self.version}"


def registered_name(method: str, corpus: str) -> str:
    """The stable Model Registry name of ``method`` trained on ``corpus``."""
    return f"emobench-{method}-{corpus}"


# ----------------------------------------------------------------------------- input/output conversion


def _input_spec(example: FeatureSet) -> dict[str, Any]:
    if isinstance(example.X, np.ndarray) and example.X.ndim == 2:
        d = example.X.shape[1]
        return {"input": "vectors", "columns": [f"f{i}" for i in range(d)], "dtype": str(example.X.dtype)}
    if isinstance(example.X, np.ndarray) and example.X.ndim == 3:  # a pretrained encoder's pooled layers
        n_layers, d = example.X.shape[1:]
        return {"input": "layers", "columns": [f"l{layer}_f{i}" for layer in range(n_layers) for i in range(d)],
                "shape": [int(n_layers), int(d)], "dtype": str(example.X.dtype)}
    if isinstance(example.X, list) and example.X and all(np.ndim(x) == 2 for x in example.X):
        return {"input": "frames", "column": FRAMES_COLUMN, "dtype": str(np.asarray(example.X[0]).dtype),
                "dims": int(np.shape(example.X[0])[1])}
    raise ConfigError("input_example: X must be a 2-D array (utterance-level features), a 3-D array (pooled "
                      "encoder layers) or a non-empty list of (frames, dims) arrays")


def to_frame(batch: FeatureSet, spec: dict[str, Any]) -> pd.DataFrame:
    """The pyfunc input DataFrame of ``batch`` (what a caller passes to ``model.predict``)."""
    if spec["input"] in ("vectors", "layers"):  # layers: one column per (layer, dim)
        return pd.DataFrame(np.asarray(batch.X).reshape(len(batch), -1), columns=spec["columns"])
    return pd.DataFrame({spec["column"]: [np.asarray(x).tolist() for x in batch.X]})


def to_feature_set(data: Any, spec: dict[str, Any]) -> FeatureSet:
    """Turn a pyfunc input (DataFrame, 2-D array or list of frame arrays) back into a FeatureSet."""
    dtype = np.dtype(spec["dtype"])
    if spec["input"] == "layers":
        flat = to_feature_set(data, {**spec, "input": "vectors"})
        assert isinstance(flat.X, np.ndarray)   # vectors are one 2-D array
        return FeatureSet(flat.utt_ids, flat.X.reshape(len(flat), *spec["shape"]), None, flat.speakers, flat.languages)
    if spec["input"] == "vectors":
        if isinstance(data, pd.DataFrame):
            missing = [c for c in spec["columns"] if c not in data.columns]
            if missing:
                raise EmobenchError(f"model input lacks feature column(s) {missing[:5]} "
                                    f"(expects {len(spec['columns'])} columns f0..f{len(spec['columns']) - 1})")
            data = data[spec["columns"]].to_numpy()
        matrix = np.asarray(data, dtype=dtype)
        if matrix.ndim != 2 or matrix.shape[1] != len(spec["columns"]):
            raise EmobenchError(f"model input has shape {matrix.shape}; expects (n, {len(spec['columns'])})")
        X: np.ndarray | list[np.ndarray] = matrix
    else:
        if isinstance(data, pd.DataFrame):
            if spec["column"] not in data.columns:
                raise EmobenchError(f"model input needs a column {spec['column']!r} of (frames, dims) arrays")
            data = list(data[spec["column"]])
        frames = [np.asarray([np.asarray(row, dtype=dtype) for row in utt], dtype=dtype) for utt in data]
        bad = [i for i, x in enumerate(frames) if x.ndim != 2 or x.shape[1] != spec["dims"]]
        if bad:
            raise EmobenchError(f"model input rows {bad[:10]} are not (frames, {spec['dims']}) arrays")
        X = frames
    n = len(X)
    ids = [str(i) for i in range(n)]
    unknown = np.array(["unknown"] * n)
    return FeatureSet(utt_ids=ids, X=X, y=None, speakers=unknown, languages=unknown)


def predictions_frame(method: Method, batch: FeatureSet) -> pd.DataFrame:
    """``proba_<class>`` columns and the argmax ``label``, the pyfunc output."""
    proba = method.predict_proba(batch)
    classes = list(method.classes_ or [])
    out = pd.DataFrame(proba, columns=[f"{PROBA_PREFIX}{c}" for c in classes])
    out["label"] = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    return out


# ----------------------------------------------------------------------------- the pyfunc wrapper

with warnings.catch_warnings():
    # MLflow suggests type hints on predict(); the input schema here is the explicit signature
    # (DataFrame of vectors or of frame arrays), which type hints cannot express.
    warnings.filterwarnings("ignore", message=".*type hints to the `predict` method.*")

    class EmobenchPyfuncModel(PythonModel):
        """pyfunc face of any emobench Method; ``self.method`` is the loaded Method."""

        def load_context(self, context) -> None:
            from benchmark.methods import METHODS

            self.config = dict(context.model_config or {})
            method_cls = METHODS.get(self.config["method"])
            self.method = method_cls.load(context.artifacts["method"])

        def predict(self, context, model_input, params=None):  # noqa: ARG002
            return predictions_frame(self.method, to_feature_set(model_input, self.config))


# ----------------------------------------------------------------------------- logging and loading


def pip_requirements() -> list[str]:
    """The pinned versions of what loading an emobench model needs (those installed here)."""
    reqs = []
    for name in _REQUIREMENTS:
        try:
            reqs.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return reqs


def _same_value(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def _log_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    """Log params, leaving equal ones the run already has; a conflicting value is an error."""
    from mlflow.entities import Param

    existing = client.get_run(run_id).data.params
    new = []
    for key, value in params.items():
        text = str(value)[:6000]
        if key in existing:
            if not _same_value(existing[key], text):
                raise EmobenchError(f"run {run_id}: param {key!r} is already {existing[key]!r}, "
                                    f"the model being logged has {text!r}")
            continue
        new.append(Param(key, text))
    if new:
        client.log_batch(run_id, params=new)


def log_and_register(method: Method, *, data_hash: str, input_example: FeatureSet, name: str | None = None,
                     corpus: str | None = None, code_version: str | None = None, run_id: str | None = None,
                     artifact_path: str = "model", register: bool = True,
                     tags: dict[str, str] | None = None) -> RegisteredModel:
    """Log a trained ``method`` to an MLflow run as a pyfunc model and register it.

    ``run_id`` defaults to the active run (``mlflow.start_run()``); the run is
    left open either way. ``name`` defaults to
    ``registered_name(method.name, corpus)``. ``input_example`` is a few
    utterances of the method's feature kind; it fixes the signature. Returns
    where the model went; ``register=False`` only logs it.
    """
    if method.classes_ is None:
        raise EmobenchError(f"method {method.name}: only a trained method can be logged (call fit first)")
    if run_id is None:
        active = mlflow.active_run()
        if active is None:
            raise EmobenchError("log_and_register needs an MLflow run: pass run_id= or call it inside "
                                "`with mlflow.start_run():`")
        run_id = active.info.run_id
    if register and name is None:
        if corpus is None:
            raise ConfigError("log_and_register: give `name` or `corpus` (the registered name is "
                              "emobench-<method>-<corpus>)")
        name = registered_name(method.name, corpus)
    if code_version is None:
        from benchmark.tracking import code_version as current_code_version

        code_version = current_code_version()

    client = MlflowClient()
    provenance = {"method": method.name, "feature": method.feature, "data_hash": data_hash,
                  "code_version": code_version}
    _log_params(client, run_id, {**provenance, **{f"hp.{k}": v for k, v in method.hparams.items()}})

    example = input_example.subset(np.arange(min(len(input_example), 5)))
    spec = _input_spec(example)
    input_frame = to_frame(example, spec)
    signature = mlflow.models.infer_signature(input_frame, predictions_frame(method, example))
    with tempfile.TemporaryDirectory() as tmp:
        method_dir = method.save(Path(tmp) / method.name)
        code = Path(tmp) / "emobench_model.py"
        code.write_text(_WRAPPER_CODE)
        model_dir = Path(tmp) / "pyfunc"
        mlflow.pyfunc.save_model(
            str(model_dir), python_model=str(code), artifacts={"method": str(method_dir)},
            model_config={**spec, "method": method.name}, signature=signature, input_example=input_frame,
            pip_requirements=pip_requirements(), metadata={"emobench": provenance},
        )
        # Logged as plain artifacts of the run (not mlflow.pyfunc.log_model) so that a run
        # created by the suite runner's client stays open and in its hands.
        client.log_artifacts(run_id, str(model_dir), artifact_path)
    model_uri = f"runs:/{run_id}/{artifact_path}"
    if not register:
        return RegisteredModel(run_id, model_uri, None, None)
    version = mlflow.register_model(model_uri, name, tags={**provenance, **(tags or {})})
    return RegisteredModel(run_id, model_uri, name, str(version.version))


def model_uri(name: str, version: int | str | None = None, alias: str | None = None) -> str:
    """``models:/name/version``, ``models:/name@alias``, or the latest version when neither is given."""
    if version is not None and alias is not None:
        raise ConfigError("give a version or an alias, not both")
    if alias is not None:
        return f"models:/{name}@{alias}"
    if version is None:
        versions = MlflowClient().search_model_versions(f"name = '{name}'")
        if not versions:
            raise EmobenchError(f"no registered model named {name!r}")
        version = max(int(v.version) for v in versions)
    return f"models:/{name}/{version}"


def load_registered(name: str, version: int | str | None = None, alias: str | None = None) -> Method:
    """The emobench Method of a registered model version (latest when no version or alias is given).

    The model's MLmodel file is read first (no code of the model runs): a model that emobench did
    not log, or an emobench TTS model, is refused before ``mlflow.pyfunc.load_model`` imports and
    runs its code."""
    uri = model_uri(name, version, alias)
    _check_emobench_model(name, uri)
    pyfunc = mlflow.pyfunc.load_model(uri)
    wrapper = pyfunc.unwrap_python_model()
    if not isinstance(wrapper, EmobenchPyfuncModel):
        raise EmobenchError(f"registered model {name!r} is not an emobench model")
    return wrapper.method


def _check_emobench_model(name: str, uri: str) -> None:
    """Refuse ``uri`` unless its MLmodel metadata says emobench logged it as a SER method."""
    from mlflow.models import Model

    try:
        info = Model.load(uri)
    except Exception as exc:  # noqa: BLE001  (missing version, unreachable store, no MLmodel file)
        raise EmobenchError(f"registered model {name!r} ({uri}): cannot read its MLmodel file ({exc})") from None
    provenance = (info.metadata or {}).get("emobench")
    if not isinstance(provenance, dict):
        raise EmobenchError(f"registered model {name!r} ({uri}) is not an emobench model (its MLmodel metadata "
                            "has no 'emobench' entry); nothing was loaded")
    if "method" not in provenance:
        kind = "a TTS model (load it with mlflow.pyfunc.load_model)" if "tts_conditioner" in provenance else \
            "not an emobench method"
        raise EmobenchError(f"registered model {name!r} ({uri}) is {kind}; nothing was loaded")


def __getattr__(name: str) -> Any:
    # TTS models registered before the TTS wrapper moved to benchmark.tts.model_registry load their
    # wrapper from here ("from benchmark.model_registry import EmobenchTTSPyfuncModel" in their
    # logged code); imported only then, so this module needs no TTS code of its own.
    if name == "EmobenchTTSPyfuncModel":
        from benchmark.tts.model_registry import EmobenchTTSPyfuncModel

        return EmobenchTTSPyfuncModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
