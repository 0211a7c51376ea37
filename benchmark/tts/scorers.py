"""TTS scorers: one class per metric family, VERSA-style; :func:`benchmark.tts.scoring.score_tts` loops over them.

A scorer reads the validated TTS manifest rows (``wav``, ``text``, ``emotion``,
``reference``, ``language``, ...) and returns per-utterance columns (and the
rows it could not analyse, by index). Its settings are a pydantic model,
recorded in the scoring run's settings and logged to MLflow as params under
the scorer's name. Every scorer and the metrics its columns feed are
registered once in :mod:`benchmark.metrics.registry` (``register_tts_scorer``),
so the leaderboards, the report and ``compare`` know them from there.

Writing a scorer: subclass :class:`TTSScorer`, set ``Settings``, implement
:meth:`TTSScorer.score`; register it with its metric specs. The default
summary of a scorer is each of its registered metrics over the utterances
(sum(numerator) / sum(denominator), or the mean of the numerator).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from benchmark.errors import ConfigError, EmobenchError
from benchmark.metrics.registry import METRICS, TTS_SCORERS
from benchmark.tts.asr import AsrSettings
from benchmark.tts.mcd import McdSettings, mcd_settings
from benchmark.tts.prosody import ProsodySettings

Judge = Callable[[list[str]], Sequence[str]]


class NoSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class ScorerContext:
    """What a scoring run shares between scorers: models built once by the caller."""

    transcriber: Any = None                      # benchmark.tts.asr.Transcriber (the asr scorer)
    judge: Judge | None = None                   # wav paths -> emotion labels (judge, emotion_similarity)
    judge_info: Mapping[str, object] | None = None
    normaliser: str = "auto"
    progress: bool = True
    jobs: int | None = 1                         # processes for per-row analyses (benchmark.tts.parallel)


@dataclass
class ScorerOutput:
    """Per-utterance columns (index = the rows scored) and the rows that failed, index -> reason."""

    columns: pd.DataFrame
    failures: dict[int, str] = field(default_factory=dict)


S = TypeVar("S", bound=BaseModel)


class TTSScorer(Generic[S]):
    """One metric family over a TTS manifest's rows; ``S`` is its settings model (``Settings``)."""

    name: ClassVar[str] = ""
    Settings: ClassVar[type[BaseModel]] = NoSettings
    needs_reference: ClassVar[bool] = False   # rows without a ground-truth recording get NaN

    def __init__(self, settings: BaseModel | Mapping[str, Any] | None = None,
                 context: ScorerContext | None = None):
        if settings is None:
            settings = self.Settings()
        elif isinstance(settings, Mapping):
            try:
                settings = self.Settings(**settings)
            except ValueError as exc:   # pydantic's ValidationError
                raise ConfigError(f"TTS scorer {self.name!r} settings: {exc}") from None
        self.settings: S = cast(S, settings)
        self.context = context or ScorerContext()

    def score(self, rows: pd.DataFrame) -> ScorerOutput:
        raise NotImplementedError

    def record(self) -> dict[str, Any]:
        """What is logged for this scorer (MLflow params ``<name>.<key>``): its settings and model identity."""
        return self.settings.model_dump()

    def describe(self) -> str:
        """One line for the summary's settings section."""
        return f"{self.name}: {self.record()}"

    def summary(self, table: pd.DataFrame) -> dict[str, float]:
        """Each registered metric of this scorer over the utterances of ``table``."""
        out: dict[str, float] = {}
        for metric in TTS_SCORERS.get(self.name).metrics:
            spec = METRICS.get(metric)
            if spec.numerator not in table.columns:
                continue
            top = pd.to_numeric(table[spec.numerator], errors="coerce")
            if spec.denominator is None:
                out[metric] = float(top.mean()) if top.notna().any() else math.nan
            else:
                bottom = pd.to_numeric(table[spec.denominator], errors="coerce")
                ok = top.notna() & bottom.notna()
                out[metric] = float(top[ok].sum() / bottom[ok].sum()) if bottom[ok].sum() > 0 else math.nan
        return out

    # helpers for per-row scorers
    def _per_row(self, rows: pd.DataFrame, one: Callable[[pd.Series], dict[str, float]], desc: str,
                 columns: Sequence[str], jobs: int | None = 1) -> ScorerOutput:
        """Apply ``one`` to each row (with a reference, when ``needs_reference``) over ``jobs`` processes
        (:func:`benchmark.tts.parallel.map_items`: the same numbers for any ``jobs``); failures by row."""
        from benchmark.tts.parallel import Failure, map_items

        def guarded(row: pd.Series) -> dict[str, float]:
            return one(row) if (row.get("reference") or not self.needs_reference) else {}

        values = map_items(guarded, [row for _, row in rows.iterrows()], jobs=jobs,
                           progress=self.context.progress, desc=desc)
        failures = {i: f"{desc} failed: {v}" if v.known else f"{desc} failed ({v})"
                    for i, v in zip(rows.index, values) if isinstance(v, Failure)}
        frame = pd.DataFrame([{} if isinstance(v, Failure) else v for v in values], index=rows.index)
        for column in columns:
            if column not in frame.columns:
                frame[column] = np.nan
        return ScorerOutput(frame, failures)


# ----------------------------------------------------------------------------- built-in scorers


def distinct_references(rows: pd.DataFrame) -> list[str]:
    """The distinct reference files of ``rows`` (analysed once each, before the rows that read them)."""
    from benchmark.tts.mcd import distinct_references as distinct

    try:
        return distinct([r for r in rows["reference"] if r])
    except EmobenchError:  # a file gone since validation: its rows fail, by name, when scored
        return []


class McdScorer(TTSScorer[McdSettings]):
    """Mel-cepstral distortion against the ground-truth recording (:mod:`benchmark.tts.mcd`)."""

    name = "mcd"
    Settings = McdSettings
    needs_reference = True

    def __init__(self, settings: BaseModel | Mapping[str, Any] | None = None, context: ScorerContext | None = None):
        super().__init__(settings if settings is not None else mcd_settings("default"), context)

    def score(self, rows: pd.DataFrame) -> ScorerOutput:
        from benchmark.tts.mcd import mcd, prepare_dtw, reference_cepstra, uses_reference_cache
        from benchmark.tts.parallel import map_items

        prepare_dtw(self.settings.dtw)
        if uses_reference_cache(self.settings):   # each distinct reference analysed once, before the rows
            map_items(lambda ref: reference_cepstra(ref, self.settings), distinct_references(rows),
                      jobs=self.context.jobs)

        def one(row: pd.Series) -> dict[str, float]:
            m = mcd(row["wav"], row["reference"], self.settings)
            return {"mcd_db": m.mcd_db, "mcd_pairs": m.n_pairs}

        return self._per_row(rows, one, "MCD analysis", ["mcd_db", "mcd_pairs"], self.context.jobs)

    def describe(self) -> str:
        return self.settings.describe()

    def summary(self, table: pd.DataFrame) -> dict[str, float]:
        if "mcd_db" not in table.columns or not table["mcd_db"].notna().any():
            return {}
        values = pd.to_numeric(table["mcd_db"], errors="coerce")
        return {"mcd_db": float(values.mean()),
                "mcd_db_std": float(values.std(ddof=1)) if values.notna().sum() > 1 else math.nan}


PROSODY_COLUMNS = ("f0_rmse_hz", "f0_rmse_cents", "f0_corr", "vuv_disagreement", "duration_ratio",
                   "speech_duration_ratio")


class ProsodyScorer(TTSScorer[ProsodySettings]):
    """F0 RMSE/correlation, V/UV disagreement and duration ratios against the ground truth."""

    name = "prosody"
    Settings = ProsodySettings
    needs_reference = True

    def score(self, rows: pd.DataFrame) -> ScorerOutput:
        from benchmark.tts.mcd import prepare_dtw
        from benchmark.tts.parallel import map_items
        from benchmark.tts.prosody import prosody, reference_analysis

        prepare_dtw(self.settings.dtw)
        map_items(lambda ref: reference_analysis(ref, self.settings), distinct_references(rows),
                  jobs=self.context.jobs)
        return self._per_row(rows, lambda row: prosody(row["wav"], row["reference"], self.settings).to_dict(),
                             "prosody analysis", PROSODY_COLUMNS, self.context.jobs)

    def describe(self) -> str:
        import json

        return f"prosody: {json.dumps(self.record())} (F0 RMSE in Hz and cents; correlation of F0 in Hz)"

    def summary(self, table: pd.DataFrame) -> dict[str, float]:
        if "f0_rmse_hz" not in table.columns or not table["f0_rmse_hz"].notna().any():
            return {}
        return {c: float(pd.to_numeric(table[c], errors="coerce").mean()) for c in PROSODY_COLUMNS if c in table}


ASR_COLUMNS = ["hypothesis", "reference_norm", "hypothesis_norm", "normaliser", "wer", "cer", "substitutions",
               "deletions", "insertions", "word_errors", "ref_words", "char_errors", "ref_chars"]


class AsrScorer(TTSScorer[AsrSettings]):
    """Whisper transcripts scored against the text (WER, CER; :mod:`benchmark.tts.wer`)."""

    name = "asr"
    Settings = AsrSettings

    def __init__(self, settings: BaseModel | Mapping[str, Any] | None = None, context: ScorerContext | None = None):
        super().__init__(settings, context)
        self._record: dict[str, Any] = {}

    def score(self, rows: pd.DataFrame) -> ScorerOutput:
        from benchmark.tts.asr import Transcriber
        from benchmark.tts.wer import score_transcripts

        transcriber = self.context.transcriber or Transcriber(self.settings)
        self.context.transcriber = transcriber
        hyps = transcriber.transcribe_files(list(rows["wav"]), list(rows["language"]), progress=self.context.progress)
        wer = score_transcripts(list(rows["text"]), hyps, utt_ids=list(rows["utt_id"]),
                                languages=list(rows["language"]), normaliser=self.context.normaliser,
                                asr_settings=transcriber.record())
        self._record = dict(wer.settings)
        return ScorerOutput(wer.per_utterance[ASR_COLUMNS].set_axis(rows.index))

    def record(self) -> dict[str, Any]:
        return self._record or self.settings.model_dump()

    def describe(self) -> str:
        a = self.record()
        return (f"ASR: {a.get('backend')} {a.get('model')} (sha256 {a.get('model_sha256')}), beam "
                f"{a.get('beam_size')}, temperature {a.get('temperature')}, {a.get('compute_type')}, language "
                f"{a.get('language')}, normaliser {a.get('normaliser')}; WER is corpus-level (errors summed over "
                "utterances), wer_mean is the mean of per-utterance WERs")

    def summary(self, table: pd.DataFrame) -> dict[str, float]:
        s = {"wer": float(table["word_errors"].sum() / table["ref_words"].sum()),
             "wer_mean": float(table["wer"].mean()),
             "cer": float(table["char_errors"].sum() / table["ref_chars"].sum()),
             "cer_mean": float(table["cer"].mean()), "n_ref_words": int(table["ref_words"].sum())}
        for lang, part in table.groupby("language"):
            s[f"wer.{lang}"] = float(part["word_errors"].sum() / part["ref_words"].sum())
            s[f"cer.{lang}"] = float(part["char_errors"].sum() / part["ref_chars"].sum())
        return s


class JudgeScorer(TTSScorer[NoSettings]):
    """The judge's emotion label of each synthesized utterance (``judge_pred``); the TTS boards score it as
    UA, WA and per-class recall from the predictions table."""

    name = "judge"

    def score(self, rows: pd.DataFrame) -> ScorerOutput:
        judge = self.context.judge
        if judge is None:
            raise ConfigError("TTS scorer 'judge' needs a judge (score-tts --judge)")
        preds = list(judge(list(rows["wav"])))
        if len(preds) != len(rows):
            raise EmobenchError(f"judge returned {len(preds)} labels for {len(rows)} wavs")
        return ScorerOutput(pd.DataFrame({"judge_pred": [str(p) for p in preds]}, index=rows.index))

    def record(self) -> dict[str, Any]:
        judge = self.context.judge
        return dict(self.context.judge_info or {"name": getattr(judge, "__name__", type(judge).__name__)})

    def describe(self) -> str:
        import json

        return f"emotion judge: {json.dumps(self.record(), default=str)}"

    def summary(self, table: pd.DataFrame) -> dict[str, float]:
        correct = table["judge_pred"] == table["emotion"]
        s = {"emotion_accuracy": float(correct.mean())}
        recalls = {e: float(correct[table["emotion"] == e].mean()) for e in sorted(table["emotion"].unique())}
        s.update({f"emotion_recall.{e}": r for e, r in recalls.items()})
        s["emotion_ua"] = float(np.mean(list(recalls.values())))
        info = self.context.judge_info or {}
        if "heldout_accuracy" in info:
            s["judge_heldout_accuracy"] = float(cast(float, info["heldout_accuracy"]))
        return s


def weights_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """The first 16 hex digits of a weights file's SHA-256 (recorded so a run names the exact model)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()[:16]


def build_scorer(name: str, settings: BaseModel | Mapping[str, Any] | None, context: ScorerContext
                 ) -> TTSScorer[Any]:
    """The registered scorer ``name`` with ``settings`` (None: its defaults)."""
    cls = TTS_SCORERS.get(name).load()
    if not (isinstance(cls, type) and issubclass(cls, TTSScorer)):
        raise ConfigError(f"TTS scorer {name!r}: {cls!r} is not a TTSScorer subclass")
    return cls(settings, context)


__all__ = ["AsrScorer", "JudgeScorer", "McdScorer", "NoSettings", "ProsodyScorer", "ScorerContext", "ScorerOutput",
           "TTSScorer", "build_scorer", "weights_sha256"]
