"""The score stage of a TTS evaluation: one system's wavs -> its metrics, tables and settings.

:func:`score_system` scores the synthesized (or reference) wavs with
:func:`benchmark.tts.scoring.score_tts` against the parallel ground truth (same sentence,
speaker, emotion): judge emotion accuracy, Whisper WER/CER, MCD, F0 RMSE, duration ratio and
the configured scorers, all with the same judge and ASR, so the systems' numbers are
comparable (paired on the same utterances); the judge's class probabilities become the
system's predictions table.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from benchmark.tts.asr import Transcriber
    from benchmark.tts.judge import EmotionJudge
    from benchmark.tts.scoring import ScoringConfig


@dataclass
class SystemResult:
    """What one system scored: the numbers, the tables they come from, and what the report draws."""

    system: str
    metrics: dict[str, float]
    per_utterance: pd.DataFrame  # score_tts's table (judge label, transcript, WER, MCD, ... per utterance)
    predictions: pd.DataFrame  # a predictions table: y_true = intended emotion, y_pred = the judge's label
    settings: dict[str, Any]  # ASR, MCD, vocoder, judge, the system's training
    showcase: dict[str, np.ndarray] | None = None  # text, speaker, emotions, mel_<emotion>
    model_dir: str | None = None  # the saved TTS model (TTS systems only)
    fit_seconds: float = 0.0
    hparams: dict[str, Any] = field(default_factory=dict)  # the conditioning method's, resolved
    samples: list[str] = field(default_factory=list)  # a few wavs worth listening to (the showcase)


def system_table(test: pd.DataFrame, wavs: Sequence[str | Path], reference: bool) -> pd.DataFrame:
    """score_tts's input: a wav per synthesized row, with its text, emotion and (``reference``) true recording."""
    return pd.DataFrame({"utt_id": test["utt_id"], "wav": [str(w) for w in wavs], "text": test["text"],
                         "emotion": test["emotion"], "reference": test["path"] if reference else "",
                         "language": test["language"], "speaker": test["speaker"]})


def score_system(table: pd.DataFrame, system: str, out: Path, scoring: ScoringConfig, judge: EmotionJudge,
                 transcriber: Transcriber, train: pd.DataFrame, test: pd.DataFrame,
                 settings: dict[str, Any], progress: bool) -> SystemResult:
    """Score ``table``'s wavs (written under ``out/<system>/scores``); ``settings`` are the evaluation's own
    (system, seed, config, vocoder), completed here with the judge's, the ASR's and the scorers'."""
    from benchmark.predictions import make_predictions
    from benchmark.tts.scoring import score_tts

    result = score_tts(table, out / system / "scores", scoring, judge=judge, judge_info=judge.info,
                       transcriber=transcriber, log_mlflow=False, progress=progress)
    per_utt = result.per_utterance
    proba = judge.predict_proba(list(per_utt["wav"]))
    predictions = make_predictions(per_utt["utt_id"], per_utt["emotion"], proba, judge.classes,
                                   speakers=per_utt["speaker"], languages=per_utt["language"])
    metrics = {k: float(v) for k, v in result.summary.items() if isinstance(v, (int, float))}
    metrics.update({"judge_heldout_accuracy": judge.info["heldout_accuracy"],
                    "judge_heldout_ua": judge.info["heldout_ua"], "n_train_utterances": len(train),
                    "n_train_sentences": int(train["text"].nunique()),
                    "n_test_sentences": int(test["text"].nunique())})
    settings = {**settings, "judge": judge.info, "asr": transcriber.record(),
                "mcd": scoring.mcd.describe(), "prosody": scoring.prosody.model_dump(),
                "scorers": {n: result.settings[n] for n in result.settings.get("scorers", [])
                            if n not in ("mcd", "prosody", "judge", "asr")},
                "heldout_sentences": sorted(test["text"].unique())}
    return SystemResult(system, metrics, per_utt, predictions, settings)
