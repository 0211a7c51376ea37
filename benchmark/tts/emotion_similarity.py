"""Emotion similarity: cosine of emotion embeddings of the synthesized and the ground-truth recording.

The embeddings come from the judge (:mod:`benchmark.tts.judge`), which is
none of the methods compared: a method's own encoder would favour speech
conditioned on its own embeddings. ``space: features`` (default) is the
judge's standardised input features (emobench's utterance-level functionals:
pitch, loudness, spectral shape, MFCC statistics; standardised on the judge's
ground-truth training recordings), ``space: logits`` its per-class decision
scores.

Caveat, as in the emotional-TTS papers that report it: such a similarity also
tracks speaker and wording (the same sentence said by the same speaker is
similar whatever its emotion), so it is read beside the judge's accuracy and
per-class recall, never alone. Rows without a reference get NaN.
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from benchmark.errors import ConfigError, EmobenchError
from benchmark.tts.scorers import ScorerOutput, TTSScorer


class EmotionSimilaritySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    space: Literal["features", "logits"] = "features"
    reference_column: str = "reference"


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``a`` with the same row of ``b``."""
    return np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


class EmotionSimilarityScorer(TTSScorer[EmotionSimilaritySettings]):
    """``emo_sim``: cosine in the judge's space between each synthesized wav and its reference recording."""

    name = "emotion_similarity"
    Settings = EmotionSimilaritySettings
    needs_reference = True

    def _judge(self) -> Any:
        judge = self.context.judge
        if judge is None or not hasattr(judge, "embed"):
            raise ConfigError("TTS scorer 'emotion_similarity' needs a judge with an embedding space "
                              "(score-tts --judge: a saved judge or a ground-truth manifest to train one)")
        return judge

    def score(self, rows: pd.DataFrame) -> ScorerOutput:
        judge = self._judge()
        column = self.settings.reference_column
        if column not in rows.columns:
            raise EmobenchError(f"emotion_similarity: the manifest has no {column!r} column "
                                f"(columns: {', '.join(map(str, rows.columns))})")
        reference = rows[column].fillna("").astype(str)
        has = (reference != "").to_numpy()
        sims = np.full(len(rows), np.nan)
        if has.any():
            synth = judge.embed(list(rows["wav"][has]), self.settings.space, progress=self.context.progress)
            ref = judge.embed(list(reference[has]), self.settings.space, progress=self.context.progress)
            sims[has] = row_cosines(synth, ref)
        return ScorerOutput(pd.DataFrame({"emo_sim": sims}, index=rows.index))

    def record(self) -> dict[str, Any]:
        info = getattr(self.context.judge, "info", None) or {}
        return {**self.settings.model_dump(), "encoder": f"judge {info.get('name', 'unnamed')}",
                "caveat": "also tracks speaker and wording"}

    def describe(self) -> str:
        r = self.record()
        return (f"emotion similarity: cosine in the {r['encoder']}'s {r['space']} space, synthesized vs "
                f"{r['reference_column']} (also tracks speaker and wording: read it beside the judge's accuracy)")
