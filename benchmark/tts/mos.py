"""Predicted MOS: DistillMOS (``distillmos`` package, MIT; weights ``distill_mos_v7.pt`` inside the wheel).

DistillMOS is a small CNN + transformer distilled from an XLS-R-based speech
quality model; it maps a 16 kHz waveform to a mean opinion score in [1, 5]
(longer inputs are cut into overlapping 7.68-s windows and averaged, shorter
ones zero-padded to one window). No reference recording is needed.

``distillmos.sqa`` imports torchaudio at module level, but only its own
command-line file reader uses it, and the torchaudio wheels on the registry do
not load beside the CPU torch emobench pins. So emobench installs distillmos
(and its ``xls-r-sqa`` dependency) without dependencies (``setup.sh``), loads
audio with soundfile and resamples with librosa, and imports the model module
with a placeholder ``torchaudio`` module that exists only during that import:
the real torchaudio is never imported. ``tests/test_tts_paper_metrics.py``
checks that torch keeps its version and torchaudio stays unimported.
"""
from __future__ import annotations

import contextlib
import io
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from benchmark.errors import EmobenchError
from benchmark.tts.scorers import ScorerOutput, TTSScorer, weights_sha256

SAMPLE_RATE = 16000


class MosSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # torch intra-op threads while embedding: on 2 loaded cores 1 thread was 12x faster than 2 (oversubscription)
    threads: int = Field(1, ge=1)

    batch_size: int = Field(8, ge=1)   # utterances per forward pass (those shorter than one window)


def _model_class() -> type:
    """``distillmos.ConvTransformerSQAModel``, imported without importing torchaudio (see the module doc)."""
    if "distillmos.sqa" in sys.modules:
        return sys.modules["distillmos.sqa"].ConvTransformerSQAModel
    placeholder = "torchaudio" not in sys.modules
    if placeholder:
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")   # distillmos.sqa's CLI reader only
    try:
        from distillmos.sqa import ConvTransformerSQAModel
    except ImportError as exc:
        raise EmobenchError(f"predicted MOS needs the distillmos package ({exc}); run ./setup.sh") from None
    finally:
        if placeholder:
            del sys.modules["torchaudio"]
    return ConvTransformerSQAModel


def load_audio(path: str) -> np.ndarray:
    """Mono float32 at 16 kHz."""
    import librosa
    import soundfile as sf

    wav, sr = sf.read(path, dtype="float32", always_2d=True)
    wav = wav[:, 0]
    if sr != SAMPLE_RATE:
        wav = librosa.resample(wav, orig_sr=sr, target_sr=SAMPLE_RATE)
    return np.ascontiguousarray(wav, dtype=np.float32)


class MosScorer(TTSScorer[MosSettings]):
    """``mos_pred``: DistillMOS's predicted MOS of each synthesized wav (1-5, higher is better)."""

    name = "mos"
    Settings = MosSettings

    def __init__(self, settings: Any = None, context: Any = None):
        super().__init__(settings, context)
        self._model: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            with contextlib.redirect_stdout(io.StringIO()):   # it prints the weights path on load
                self._model = _model_class()().eval()
        return self._model

    def predict(self, waves: list[np.ndarray]) -> np.ndarray:
        """Predicted MOS of each 16-kHz waveform. Waves shorter than one window go through in batches
        (each zero-padded to the window, exactly as the model pads one alone); longer ones one at a time."""
        import torch

        model = self.model
        SEQ_LEN = sys.modules["distillmos.sqa"].SEQ_LEN   # one analysis window, 7.68 s at 16 kHz
        out = np.full(len(waves), np.nan)
        short = [i for i, w in enumerate(waves) if len(w) <= SEQ_LEN]
        from benchmark.features.spectral import torch_threads

        with torch.inference_mode(), torch_threads(self.settings.threads):
            for start in range(0, len(short), self.settings.batch_size):
                idx = short[start:start + self.settings.batch_size]
                batch = np.zeros((len(idx), SEQ_LEN), dtype=np.float32)
                for row, i in enumerate(idx):
                    batch[row, :len(waves[i])] = waves[i]
                out[idx] = model(torch.from_numpy(batch)).reshape(-1).numpy()
            for i in (i for i, w in enumerate(waves) if len(w) > SEQ_LEN):
                out[i] = float(model(torch.from_numpy(waves[i][None, :])).reshape(-1)[0])
        return out

    def score(self, rows: pd.DataFrame) -> ScorerOutput:
        waves, failures = [], {}
        for i, path in zip(rows.index, rows["wav"]):
            try:
                wave = load_audio(path)
                if not np.abs(wave).max() > 0:
                    raise ValueError("silent audio")
            except Exception as exc:  # noqa: BLE001  (this row's audio could not be read)
                failures[i] = f"predicted MOS failed ({type(exc).__name__}: {exc})"
                wave = np.zeros(0, dtype=np.float32)
            waves.append(wave)
        keep = [k for k, i in enumerate(rows.index) if i not in failures]
        scores = np.full(len(rows), np.nan)
        if keep:
            scores[keep] = self.predict([waves[k] for k in keep])
        return ScorerOutput(pd.DataFrame({"mos_pred": scores}, index=rows.index), failures)

    def record(self) -> dict[str, Any]:
        import importlib.util

        spec = importlib.util.find_spec("distillmos")   # located, not imported (that needs the placeholder)
        if spec is None or spec.origin is None:
            raise EmobenchError("predicted MOS needs the distillmos package; run ./setup.sh")
        weights = Path(spec.origin).parent / "weights" / "distill_mos_v7.pt"
        return {**self.settings.model_dump(), "model": "DistillMOS v7 (ConvTransformerSQAModel)",
                "weights_sha256": weights_sha256(weights), "sample_rate": SAMPLE_RATE}

    def describe(self) -> str:
        r = self.record()
        return (f"predicted MOS: {r['model']} (weights sha256 {r['weights_sha256']}), 16 kHz input, range 1-5, "
                "no reference")
