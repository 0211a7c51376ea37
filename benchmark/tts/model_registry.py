"""Log trained emobench TTS models to MLflow as pyfunc models and register them.

The TTS side of :mod:`benchmark.model_registry` (which carries the generic
:class:`~benchmark.methods.base.Method` path and the shared helpers): a suite with
``register_models`` registers every TTS system it trains as
``emobench-tts-<conditioner or none>-<corpus>``, which anyone loads with
``mlflow.pyfunc.load_model`` (text + speaker (+ reference recording) -> audio). As for
methods, the wrapper is logged as code and the model is the ``TTSModel.save`` folder, so
loading never unpickles.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel
from mlflow.tracking import MlflowClient

from benchmark.errors import EmobenchError
from benchmark.model_registry import RegisteredModel, pip_requirements, registered_name

_TTS_WRAPPER_CODE = (
    "# emobench TTS pyfunc wrapper (models from code): the model itself is the TTSModel's save() directory.\n"
    "from mlflow.models import set_model\n"
    "from benchmark.tts.model_registry import EmobenchTTSPyfuncModel\n"
    "set_model(EmobenchTTSPyfuncModel())\n"
)

with warnings.catch_warnings():
    # MLflow suggests type hints on predict(); the input schema is the explicit signature below.
    warnings.filterwarnings("ignore", message=".*type hints to the `predict` method.*")

    class EmobenchTTSPyfuncModel(PythonModel):
        """pyfunc face of a trained emobench TTS model: text + speaker (+ reference recording) -> audio.

        Input: a DataFrame with ``text``, ``speaker`` (one of the model's training speakers),
        optional ``language`` (default: the model's language) and ``reference`` (a wav path in
        the emotion wanted; required when the model is conditioned on a method). Output: a
        DataFrame with ``audio`` (float32 samples as a list) and ``sample_rate``.
        """

        def load_context(self, context) -> None:
            from benchmark.tts.synthesize import TTSModel
            from benchmark.tts.vocoder import make_vocoder

            self.config = dict(context.model_config or {})
            self.tts = TTSModel.load(context.artifacts["tts"])
            self.vocoder = make_vocoder(self.config.get("vocoder", "griffin_lim"), self.tts.mel_config,
                                        **self.config.get("vocoder_options", {}))

        def predict(self, context, model_input, params=None):  # noqa: ARG002
            frame = pd.DataFrame(model_input)
            missing = [c for c in ("text", "speaker") if c not in frame.columns]
            if missing:
                raise EmobenchError(f"TTS model input lacks column(s) {missing} (needs text, speaker; "
                                    "optional language, reference)")
            language = self.config.get("language", "en")
            audio = []
            for row in frame.to_dict("records"):
                reference = row.get("reference") or None
                audio.append(self.tts.synthesize(str(row["text"]), str(row.get("language") or language),
                                                 str(row["speaker"]), reference=reference,
                                                 vocoder=self.vocoder).tolist())
            return pd.DataFrame({"audio": audio, "sample_rate": [self.vocoder.sample_rate] * len(audio)})


def log_and_register_tts(model_dir: str | Path, *, data_hash: str, corpus: str, run_id: str,
                         name: str | None = None, language: str = "en", vocoder: str = "griffin_lim",
                         vocoder_options: dict[str, Any] | None = None, artifact_path: str = "model",
                         register: bool = True, tags: dict[str, str] | None = None) -> RegisteredModel:
    """Log a saved TTS model (``TTSModel.save`` folder) to ``run_id`` as a pyfunc model and register it
    as ``emobench-tts-<conditioner or none>-<corpus>``; loading never unpickles (see the module docstring)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    from benchmark.tts.synthesize import TTSModel
    from benchmark.tracking import code_version

    tts = TTSModel.load(model_dir)
    system = tts.conditioner_name or "none"
    name = name or registered_name(f"tts-{system}", corpus)
    provenance = {"tts_conditioner": system, "data_hash": data_hash, "code_version": code_version()}
    signature = ModelSignature(inputs=Schema([ColSpec("string", "text"), ColSpec("string", "speaker"),
                                              ColSpec("string", "language", required=False),
                                              ColSpec("string", "reference", required=False)]))
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "emobench_tts_model.py"
        code.write_text(_TTS_WRAPPER_CODE)
        pyfunc_dir = Path(tmp) / "pyfunc"
        mlflow.pyfunc.save_model(
            str(pyfunc_dir), python_model=str(code), artifacts={"tts": str(model_dir)},
            model_config={"language": language, "vocoder": vocoder, "vocoder_options": vocoder_options or {}},
            signature=signature, pip_requirements=pip_requirements(), metadata={"emobench": provenance})
        MlflowClient().log_artifacts(run_id, str(pyfunc_dir), artifact_path)
    model_uri = f"runs:/{run_id}/{artifact_path}"
    if not register:
        return RegisteredModel(run_id, model_uri, None, None)
    version = mlflow.register_model(model_uri, name, tags={**provenance, **(tags or {})})
    return RegisteredModel(run_id, model_uri, name, str(version.version))
