"""Score any TTS system's outputs from a manifest (``emobench score-tts``).

The TTS manifest is a CSV or JSONL table, one synthesized utterance per row:

=============  ========  =======================================================
column         required  meaning
=============  ========  =======================================================
``wav``        yes       synthesized audio (alias ``path``); relative paths are
                         resolved against the manifest's folder
``text``       yes       the text the system was asked to say
``emotion``    yes       intended emotion, a canonical name (benchmark.labels)
``reference``  no        ground-truth recording of the same text, speaker and
                         emotion (aliases ``reference_wav``, ``ref_wav``)
``language``   no        ISO 639-1 code, default ``en``
``utt_id``     no        default: the wav file's stem
=============  ========  =======================================================

Other columns (method, speaker, ...) are carried into the per-utterance table.
Missing, empty, unreadable, truncated, silent or NaN-carrying wavs (and
references), CSV lines with the wrong number of fields, JSONL lines that are
not JSON objects, empty texts, unknown emotions and duplicate ids are
reported by row: :class:`~benchmark.errors.ManifestError` lists them all,
or with ``skip_bad=True`` the rows go to ``skipped_rows.csv`` instead.

Metrics per utterance come from registered TTS scorers (:mod:`benchmark.tts.scorers`,
registered with their metric specs in :mod:`benchmark.metrics.registry`), run in
the order ``ScoringConfig.scorers`` names them: WER/CER (``asr``: Whisper + jiwer,
see :mod:`benchmark.tts.wer`), MCD against the reference (``mcd``), F0
RMSE/correlation and duration ratio (``prosody``), and, when a ``judge`` (a
callable: list of wav paths -> predicted emotion labels) is given, the judge's
prediction (``judge``); on request speaker similarity (``speaker_similarity``),
predicted MOS (``mos``) and emotion similarity (``emotion_similarity``).
Written to the output folder (``per_utterance.csv``, ``summary.json``,
``summary.md``) and to an MLflow run in experiment ``tts-scoring`` (params =
every setting, metrics = the summary, artifacts = the tables).
"""
from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from benchmark.errors import ManifestError
from benchmark.labels import EMOTIONS
from benchmark.manifest import SkipReport, _audio_file_problems, read_csv_rows
from benchmark.tts.asr import AsrSettings, Transcriber
from benchmark.tts.mcd import McdSettings, mcd_settings
from benchmark.tts.prosody import ProsodySettings
from benchmark.tts.scorers import Judge, ScorerContext, TTSScorer, build_scorer
from benchmark.tts.wer import NORMALISERS, resolve_normaliser

EXPERIMENT = "tts-scoring"
_ALIASES = {"path": "wav", "reference_wav": "reference", "ref_wav": "reference"}


# The scorers run when a config names none: ``asr`` runs with ASR settings or a transcriber, ``judge`` with a judge.
DEFAULT_SCORERS = ("mcd", "prosody", "asr", "judge")
# What current emotional-TTS papers also report (speaker similarity, predicted MOS, emotion similarity to the
# reference): the suite's TTS cells and ``score-tts --metric`` add them.
PAPER_SCORERS = ("speaker_similarity", "emotion_similarity", "mos")


class ScoringConfig(BaseModel):
    """What to compute and how (every scorer's settings are logged as MLflow params under its name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    asr: AsrSettings | None = Field(default_factory=AsrSettings)  # None: no WER/CER
    normaliser: str = "auto"
    mcd: McdSettings = Field(default_factory=lambda: mcd_settings("default"))
    prosody: ProsodySettings = Field(default_factory=ProsodySettings)
    # registered TTS scorers (benchmark.metrics.registry.TTS_SCORERS), run in this order
    scorers: tuple[str, ...] = DEFAULT_SCORERS
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)   # scorer name -> its settings

    @field_validator("scorers")
    @classmethod
    def _registered(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from benchmark.metrics.registry import TTS_SCORERS

        unknown = [n for n in value if n not in TTS_SCORERS]
        if unknown:
            raise ValueError(f"unknown TTS scorer(s) {unknown}; registered: {', '.join(TTS_SCORERS.names())}")
        if len(set(value)) != len(value):
            raise ValueError("a scorer is listed twice")
        return value

    @field_validator("settings")
    @classmethod
    def _settings_of_registered(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from benchmark.metrics.registry import TTS_SCORERS

        unknown = [n for n in value if n not in TTS_SCORERS]
        if unknown:
            raise ValueError(f"settings for unknown TTS scorer(s) {unknown}; registered: "
                             f"{', '.join(TTS_SCORERS.names())}")
        return value

    def with_scorers(self, *names: str) -> "ScoringConfig":
        """This config with ``names`` appended to its scorers (those not already there)."""
        return self.model_copy(update={"scorers": (*self.scorers, *[n for n in names if n not in self.scorers])})


@dataclass
class ScoreResult:
    per_utterance: pd.DataFrame
    summary: dict
    settings: dict
    skipped: SkipReport
    files: dict[str, Path] = field(default_factory=dict)
    run_id: str | None = None
    scorers: list[TTSScorer[Any]] = field(default_factory=list)


# --------------------------------------------------------------------------- manifest


def read_tts_manifest(path: str | Path) -> pd.DataFrame:
    """Read a CSV or JSONL TTS manifest as strings, canonical column names, paths absolute.

    A record that cannot be read as a row (a CSV line with too many or too few
    fields, a JSONL line that is not a JSON object) is kept with its reason in
    ``read_problem``, so that validation reports it by row and ``skip_bad``
    can skip it; ``manifest_row`` numbers the rows from 1 in file order.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(str(path), ["manifest file not found"])
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        records, columns = _read_jsonl(path)
    else:
        columns, rows = read_csv_rows(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
        records = [{**r.values, "read_problem": f"line {r.line}: {r.problem}" if r.problem else ""} for r in rows]
    df = pd.DataFrame(records, columns=[*columns, "read_problem"], dtype=object)
    df = df.rename(columns={k: v for k, v in _ALIASES.items() if k in df.columns and v not in df.columns})
    missing = [c for c in ("wav", "text", "emotion") if c not in df.columns]
    if missing:
        raise ManifestError(str(path), [f"missing column {c!r}" for c in missing])
    for col in ("reference", "language", "utt_id"):
        if col not in df.columns:
            df[col] = ""
    df = df.astype(object).where(df.notna(), "")  # JSONL nulls -> "" like empty CSV cells
    for col in ("wav", "reference"):
        df[col] = [_resolve(p, path.parent) for p in df[col]]
    df["language"] = [str(x).strip().lower() or "en" for x in df["language"]]
    df["utt_id"] = [str(u).strip() or Path(w).stem for u, w in zip(df["utt_id"], df["wav"], strict=True)]
    df["emotion"] = [str(e).strip().lower() for e in df["emotion"]]
    df["text"] = [str(t) for t in df["text"]]
    df["manifest_row"] = np.arange(1, len(df) + 1)
    return df.reset_index(drop=True)


def _read_jsonl(path: Path) -> tuple[list[dict], list[str]]:
    """The records of a JSON-lines file and the union of their keys (in first-seen order)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise ManifestError(str(path), [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    records, columns = [], {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            problem = "" if isinstance(item, dict) else f"line {lineno}: not a JSON object"
        except json.JSONDecodeError as exc:
            item, problem = {}, f"line {lineno}: not valid JSON ({exc.msg})"
        item = item if isinstance(item, dict) else {}
        columns.update(dict.fromkeys(item))
        records.append({**{k: "" if v is None else v for k, v in item.items()}, "read_problem": problem})
    return records, [c for c in columns if c != "read_problem"]


def _resolve(value: object, base: Path) -> str:
    text = str(value).strip()
    if not text:
        return ""
    p = Path(text).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def validate_tts_manifest(df: pd.DataFrame, source: str, *, normaliser: str | None = "auto",
                          skip_bad: bool = False) -> tuple[pd.DataFrame, SkipReport]:
    """Check every row; raise :class:`ManifestError` listing bad rows, or move them to a report.

    With a ``normaliser``, a text that normalises to nothing (e.g. only
    punctuation) is an error too: its WER would be undefined.
    """
    problems: dict[int, list[str]] = {}
    norms: dict[str, Callable[[str], str]] = {}
    for i, row in df.iterrows():
        if row.get("read_problem"):  # a record whose cells cannot be trusted: say only that
            problems[i] = [str(row["read_problem"])]
            continue
        p = []
        if not row["wav"]:
            p.append("empty wav path")
        else:  # decoded, not only the header: a silent or NaN wav would be scored as garbage
            p += _audio_file_problems(row["wav"], decode=True)
        if row["reference"]:
            p += [f"reference: {x}" for x in _audio_file_problems(row["reference"], decode=True)]
        text = row["text"]
        if not text.strip():
            p.append("empty text")
        elif normaliser is not None:
            name = resolve_normaliser(normaliser, row["language"])
            norm = norms.setdefault(name, NORMALISERS.get(name)())
            if not norm(text).strip():
                p.append(f"text {text!r} is empty after {name} normalisation")
        if row["emotion"] not in EMOTIONS:
            p.append(f"unknown emotion {row['emotion']!r} (expected one of {', '.join(EMOTIONS)})")
        if p:
            problems[i] = p
    unread = df["read_problem"].astype(bool) if "read_problem" in df.columns else pd.Series(False, index=df.index)
    ids = df["utt_id"].where(~unread)  # an unreadable record has no id to clash with
    for i in df.index[ids.notna() & ids.duplicated(keep=False)]:
        problems.setdefault(i, []).append(f"duplicate utt_id {df.at[i, 'utt_id']!r}")
    df = df.drop(columns=["read_problem"], errors="ignore")
    report = SkipReport(source)
    if not problems:
        return df, report
    entries = {i: f"row {_row_number(df, i)} (utt_id={df.at[i, 'utt_id']!r}, wav={df.at[i, 'wav']!r})"
               for i in problems}
    if not skip_bad:
        raise ManifestError(source, [f"{entries[i]}: {'; '.join(p)}" for i, p in sorted(problems.items())])
    report.skipped = [(entries[i], "; ".join(p)) for i, p in sorted(problems.items())]
    return df.drop(index=list(problems)).reset_index(drop=True), report


def _row_number(df: pd.DataFrame, i: int) -> int:
    """The row's number in the manifest file, counting data rows from 1 (as a spreadsheet shows them)."""
    return int(df.at[i, "manifest_row"]) if "manifest_row" in df.columns else i + 1


# --------------------------------------------------------------------------- scoring


def _scorers(config: ScoringConfig, context: ScorerContext) -> list[TTSScorer[Any]]:
    """The scorers of ``config`` in order; ``asr`` only with ASR settings or a transcriber, ``judge`` and
    ``emotion_similarity`` only with a judge (they say so when asked for explicitly without one)."""
    built = {"mcd": config.mcd, "prosody": config.prosody, "asr": config.asr}
    scorers = []
    for name in config.scorers:
        if name == "asr" and config.asr is None and context.transcriber is None:
            continue
        if name in ("judge", "emotion_similarity") and context.judge is None and name in DEFAULT_SCORERS:
            continue
        settings = built.get(name)
        if settings is not None and config.settings.get(name):   # a built-in's field, with overrides
            settings = type(settings)(**{**settings.model_dump(), **config.settings[name]})
        scorers.append(build_scorer(name, settings if settings is not None else config.settings.get(name), context))
    return scorers


def _summary(table: pd.DataFrame, scorers: Sequence[TTSScorer[Any]], skipped: int) -> dict:
    s: dict[str, float] = {"n_utterances": len(table), "n_skipped": skipped,
                           "n_with_reference": int((table["reference"] != "").sum())}
    for scorer in scorers:
        s.update(scorer.summary(table))
    return s


def score_tts(
    manifest: str | Path | pd.DataFrame,
    out_dir: str | Path,
    config: ScoringConfig | None = None,
    *,
    judge: Judge | None = None,
    judge_info: Mapping[str, object] | None = None,
    transcriber: Transcriber | None = None,
    skip_bad: bool = False,
    log_mlflow: bool = True,
    tracking_uri: str | None = None,
    progress: bool = True,
    jobs: int | None = 1,
) -> ScoreResult:
    """Score the utterances of a TTS manifest with each scorer of ``config``; write tables to ``out_dir``
    and MLflow.

    ``judge`` maps a list of wav paths to predicted emotion labels (a SER
    model trained independently of the systems compared); ``judge_info``
    (name, held-out accuracy on ground truth, ...) is recorded beside its
    accuracy. ``transcriber`` overrides the one built from ``config.asr``.
    A row a scorer cannot analyse is an error naming its manifest row, or
    with ``skip_bad`` it is skipped (and the later scorers do not see it).
    ``jobs`` processes (0: one per core) share the per-utterance analyses of the scorers that use a
    pool (MCD, prosody); the results are the same for any ``jobs``.
    """
    config = config or ScoringConfig()
    if isinstance(manifest, pd.DataFrame):
        source, df = "<dataframe>", manifest.copy()
    else:
        source, df = str(Path(manifest).resolve()), read_tts_manifest(manifest)
    if "manifest_row" not in df.columns:  # survives the row drops below, for messages
        df["manifest_row"] = np.arange(1, len(df) + 1)
    context = ScorerContext(transcriber=transcriber, judge=judge, judge_info=judge_info,
                            normaliser=config.normaliser, progress=progress, jobs=jobs)
    scorers = _scorers(config, context)
    do_asr = any(sc.name == "asr" for sc in scorers)
    df, report = validate_tts_manifest(df, source, normaliser=config.normaliser if do_asr else None,
                                       skip_bad=skip_bad)
    if df.empty:
        raise ManifestError(source, ["no usable rows left to score"])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    table = df.assign(duration_s=[_duration(p) for p in df["wav"]])
    settings: dict[str, object] = {"manifest": source, "manifest_sha256": _file_hash(manifest),
                                   "scorers": [sc.name for sc in scorers]}
    for scorer in scorers:
        output = scorer.score(table)
        if output.failures:
            lines = {i: f"row {_row_number(table, i)} (utt_id={table.at[i, 'utt_id']!r}): {msg}"
                     for i, msg in output.failures.items()}
            if not skip_bad:
                raise ManifestError(source, [lines[i] for i in sorted(lines)])
            report.skipped += [(lines[i], output.failures[i]) for i in sorted(output.failures)]
            keep = ~table.index.isin(list(output.failures))
            table, output.columns = table[keep], output.columns[keep]
        table = pd.concat([table, output.columns], axis=1)
        if table.empty:
            raise ManifestError(source, ["no usable rows left to score"])
        settings[scorer.name] = scorer.record()
        if scorer.name == "mcd":
            settings["mcd_description"] = scorer.describe()
    table = table.reset_index(drop=True)

    summary = _summary(table, scorers, len(report))
    result = ScoreResult(table, summary, settings, report, scorers=scorers)
    result.files = _write_outputs(result, out_dir)
    if log_mlflow:
        result.run_id = _log_mlflow(result, tracking_uri)
    return result


def _file_hash(manifest: str | Path | pd.DataFrame) -> str:
    """Content hash of the manifest (of its file, or of the table given in memory)."""
    import hashlib

    if isinstance(manifest, pd.DataFrame):
        data = manifest.to_csv(index=False).encode()
    else:
        data = Path(manifest).read_bytes()
    return hashlib.sha256(data).hexdigest()[:16]


def _duration(path: str) -> float:
    import soundfile as sf

    info = sf.info(path)
    return info.frames / info.samplerate


# --------------------------------------------------------------------------- outputs


def _mean(values: pd.Series) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else math.nan


def _fmt(x: object) -> str:
    if isinstance(x, float):
        return "n/a" if math.isnan(x) else f"{x:.4g}"
    return str(x)


def _markdown(result: ScoreResult) -> str:
    s, st, t = result.summary, result.settings, result.per_utterance
    lines = ["# TTS scoring", "", f"Manifest: `{st['manifest']}` ({s['n_utterances']} utterances scored, "
             f"{s['n_skipped']} skipped, {s['n_with_reference']} with a reference recording)", "",
             "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in s.items() if not k.startswith("n_")]
    groups = [c for c in ("wer", "cer", "mcd_db", "f0_rmse_cents", "f0_corr", "spk_sim", "emo_sim", "mos_pred")
              if c in t.columns]
    if groups:
        per = t.groupby("emotion")
        lines += ["", "## Per intended emotion", "", "| emotion | n | " + " | ".join(groups) + " |",
                  "|---|---|" + "---|" * len(groups)]
        for emo, part in per:
            if "word_errors" in part.columns:
                vals = {"wer": part["word_errors"].sum() / part["ref_words"].sum(),
                        "cer": part["char_errors"].sum() / part["ref_chars"].sum()}
            else:
                vals = {}
            vals.update({c: _mean(part[c]) for c in groups if c not in vals})
            lines.append(f"| {emo} | {len(part)} | " + " | ".join(_fmt(float(vals[c])) for c in groups) + " |")
    lines += ["", "## Settings", ""] + [f"- {scorer.describe()}" for scorer in result.scorers]
    return "\n".join(lines) + "\n"


def _write_outputs(result: ScoreResult, out_dir: Path) -> dict[str, Path]:
    files = {"per_utterance": out_dir / "per_utterance.csv", "summary_json": out_dir / "summary.json",
             "summary_md": out_dir / "summary.md"}
    result.per_utterance.to_csv(files["per_utterance"], index=False)
    payload = {"summary": result.summary, "settings": result.settings}
    files["summary_json"].write_text(json.dumps(payload, indent=2, default=_json_default, allow_nan=True) + "\n")
    files["summary_md"].write_text(_markdown(result))
    if len(result.skipped):
        files["skipped_rows"] = result.skipped.write(out_dir / "skipped_rows.csv")
    return files


def _json_default(x: object) -> object:
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    return str(x)


def _flatten(d: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = str(v)
    return out


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, else a SQLite store ``mlflow.db`` in the current folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def _log_mlflow(result: ScoreResult, tracking_uri: str | None) -> str:
    from mlflow.entities import Metric, Param

    from benchmark import tracking

    client = tracking.configure(tracking_uri or default_tracking_uri())
    exp_id = tracking.experiment_id(client, EXPERIMENT)
    params = _flatten(result.settings)
    params["code_version"] = tracking.code_version()
    params.update({f"package.{k}": v for k, v in tracking.package_versions().items()})
    with tracking.tracked_run(client, exp_id, name=f"score-tts {Path(result.settings['manifest']).name}",
                              tags={tracking.KIND_TAG: "tts-scoring"}) as run_id:
        items = [Param(k, v[:6000]) for k, v in sorted(params.items())]
        for start in range(0, len(items), 100):  # MLflow accepts at most 100 params per batch
            client.log_batch(run_id, params=items[start:start + 100])
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, 0) for k, v in result.summary.items()
                   if isinstance(v, (int, float)) and not math.isnan(float(v))]
        for start in range(0, len(metrics), 500):
            client.log_batch(run_id, metrics=metrics[start:start + 500])
        for path in result.files.values():
            client.log_artifact(run_id, str(path))
    return run_id


__all__ = ["EXPERIMENT", "Judge", "ScoreResult", "ScoringConfig", "read_tts_manifest",
           "score_tts", "validate_tts_manifest", "default_tracking_uri"]
