"""Speaker similarity: cosine of GE2E speaker embeddings of the synthesized and the ground-truth recording.

The encoder is Resemblyzer's GE2E model (``resemblyzer`` package, Apache-2.0;
its weights ``pretrained.pt`` ship inside the wheel, nothing is downloaded).
Each file is loaded at 16 kHz, volume-normalised and, by default, its long
silences trimmed with WebRTC VAD (``resemblyzer.preprocess_wav``); the
utterance embedding is the L2-normalised mean of partial-window embeddings
(``VoiceEncoder.embed_utterance``), so the cosine is their dot product, in
[-1, 1], 1 for the same recording. Rows without a reference get NaN.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from benchmark.errors import EmobenchError
from benchmark.tts.scorers import ScorerOutput, TTSScorer, weights_sha256


class SpeakerSimilaritySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # torch intra-op threads while embedding: on 2 loaded cores 1 thread was 12x faster than 2 (oversubscription)
    threads: int = Field(1, ge=1)

    reference_column: str = "reference"   # the ground-truth recording (or e.g. style_reference)
    trim_silence: bool = True             # resemblyzer's VAD trimming of long silences
    rate: float = Field(1.3, gt=0)        # partial windows per second (resemblyzer's default)
    min_coverage: float = Field(0.75, gt=0, le=1)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


class SpeakerSimilarityScorer(TTSScorer[SpeakerSimilaritySettings]):
    """``spk_sim``: GE2E cosine between each synthesized wav and its reference recording."""

    name = "speaker_similarity"
    Settings = SpeakerSimilaritySettings
    needs_reference = True

    def __init__(self, settings: Any = None, context: Any = None):
        super().__init__(settings, context)
        self._encoder: Any = None
        self._cache: dict[str, np.ndarray] = {}

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from resemblyzer import VoiceEncoder

            self._encoder = VoiceEncoder("cpu", verbose=False)
        return self._encoder

    def embed(self, path: str) -> np.ndarray:
        """The L2-normalised GE2E embedding of one audio file (cached per path)."""
        if path not in self._cache:
            from resemblyzer import preprocess_wav
            from resemblyzer.audio import normalize_volume
            from resemblyzer.hparams import audio_norm_target_dBFS, sampling_rate

            if self.settings.trim_silence:
                wav = preprocess_wav(Path(path))
            else:
                import librosa

                wav, _ = librosa.load(path, sr=sampling_rate)
                wav = normalize_volume(wav, audio_norm_target_dBFS, increase_only=True)
            if len(wav) < sampling_rate // 10:
                raise EmobenchError(f"{path}: less than 0.1 s of speech left after silence trimming")
            from benchmark.features.spectral import torch_threads

            with torch_threads(self.settings.threads):
                self._cache[path] = self.encoder.embed_utterance(wav, rate=self.settings.rate,
                                                                min_coverage=self.settings.min_coverage)
        return self._cache[path]

    def score(self, rows: pd.DataFrame) -> ScorerOutput:
        column = self.settings.reference_column
        if column not in rows.columns:
            raise EmobenchError(f"speaker_similarity: the manifest has no {column!r} column "
                                f"(columns: {', '.join(map(str, rows.columns))})")
        reference = rows[column].fillna("").astype(str)
        return self._per_row(rows.assign(reference=reference),
                             lambda r: {"spk_sim": cosine(self.embed(r["wav"]), self.embed(r["reference"]))},
                             "speaker similarity", ["spk_sim"])

    def record(self) -> dict[str, Any]:
        import resemblyzer

        weights = Path(resemblyzer.__file__).parent / "pretrained.pt"
        return {**self.settings.model_dump(), "encoder": "resemblyzer GE2E (VoiceEncoder)",
                "weights_sha256": weights_sha256(weights), "sample_rate": 16000}

    def describe(self) -> str:
        r = self.record()
        return (f"speaker similarity: cosine of {r['encoder']} embeddings (weights sha256 {r['weights_sha256']}), "
                f"synthesized vs {r['reference_column']}, VAD trimming {'on' if r['trim_silence'] else 'off'}")
