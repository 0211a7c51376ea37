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
# samples of zeros kept past the longest wave of a batch before its CNN input is cut: 40 frames of 10 ms
# (20 output columns), well beyond the CNN's receptive field (6 frames, 3-4 output columns, each side)
_CNN_MARGIN = 40 * 160


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
        self._silence: Any = None

    @property
    def model(self) -> Any:
        if self._model is None:
            with contextlib.redirect_stdout(io.StringIO()):   # it prints the weights path on load
                self._model = _model_class()().eval()
        return self._model

    def predict(self, waves: list[np.ndarray]) -> np.ndarray:
        """Predicted MOS of each 16-kHz waveform. Waves shorter than one window go through in batches
        of similar length (each zero-padded to the window, as the model pads one alone, but the CNN runs
        only over the speech; see ``_short_batch``); longer ones one at a time through the model itself."""
        import torch

        model = self.model
        seq_len = sys.modules["distillmos.sqa"].SEQ_LEN   # one analysis window, 7.68 s at 16 kHz
        out = np.full(len(waves), np.nan)
        # sorted by length, so that a batch's CNN input is cut where its longest member ends
        short = sorted((i for i, w in enumerate(waves) if len(w) <= seq_len), key=lambda i: len(waves[i]))
        from benchmark.features.spectral import torch_threads

        with torch.inference_mode(), torch_threads(self.settings.threads):
            for start in range(0, len(short), self.settings.batch_size):
                idx = short[start:start + self.settings.batch_size]
                out[idx] = self._short_batch([waves[i] for i in idx], seq_len)
            for i in (i for i, w in enumerate(waves) if len(w) > seq_len):
                out[i] = float(model(torch.from_numpy(waves[i][None, :])).reshape(-1)[0])
        return out

    def _short_batch(self, waves: list[np.ndarray], seq_len: int) -> np.ndarray:
        """The model's output for waves zero-padded to one window, with the CNN run only over the speech.

        Most of DistillMOS's time is its CNN over 768 STFT frames, and an utterance of 2 s leaves
        three quarters of them padding. An STFT frame of zeros is all zeros, and a CNN column whose
        receptive field (6 frames each side) sees only zeros is the same as in an all-zero window. So the
        CNN runs over the waves cut ``_CNN_MARGIN`` samples past the longest one (the cut's edge effects
        stay in the margin's second half), and the columns past the speech are those of an all-zero
        window: the transformer then sees the same sequence as for the padded window
        (tests/test_tts_paper_metrics.py checks it against the model's own forward to float precision)."""
        import torch

        model = self.model
        hop = model.cnn.hop_length
        cut = min(seq_len, -(-(max(len(w) for w in waves) + _CNN_MARGIN) // (2 * hop)) * 2 * hop)
        batch = np.zeros((len(waves), cut), dtype=np.float32)
        for row, wave in enumerate(waves):
            batch[row, :len(wave)] = wave
        x = torch.from_numpy(batch)
        x = x / (torch.max(torch.abs(x), dim=1, keepdim=True).values + 1e-8)   # the model's normalisation
        feat = model.cnn(x)   # (batch, features, cut / hop / 2)
        if cut < seq_len:
            # the cut's edge reaches a few columns back and the speech's a few forward: keep up to the
            # middle of the margin, where both are far
            keep = feat.shape[-1] - _CNN_MARGIN // (4 * hop)
            silence = self._silence_features(seq_len)[..., keep:]
            feat = torch.cat([feat[..., :keep], silence.expand(len(waves), -1, -1)], dim=-1)
        norm_qual = model.transformer_pool_attn(feat.permute(0, 2, 1))
        return (1 + 4 * norm_qual).reshape(-1).numpy()

    def _silence_features(self, seq_len: int) -> Any:
        """The CNN's output for one all-zero window (computed once): a constant column, but for the
        window's last columns, which see the CNN's own zero padding."""
        import torch

        if self._silence is None:
            self._silence = self.model.cnn(torch.zeros(1, seq_len))
        return self._silence

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
