"""The Manifest: one validated table describing a corpus, whatever its source.

Every corpus loader returns a Manifest, every protocol reads one. Its schema is
fixed (see ``REQUIRED_COLUMNS``/``OPTIONAL_COLUMNS``). Validation lists every
offending row with its ``utt_id`` and never drops data silently: it either
raises :class:`~benchmark.errors.ManifestError` or, when the caller asks with
``on_error="skip"``, returns the clean rows together with a report of what was
skipped and why.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

import pandas as pd

from benchmark.errors import ManifestError
from benchmark.labels import EMOTIONS

REQUIRED_COLUMNS: tuple[str, ...] = (
    "utt_id",
    "path",
    "corpus",
    "language",
    "speaker",
    "emotion",
    "text",
    "duration_s",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("session", "gender", "split")
GENDERS = ("female", "male")
OnError = Literal["raise", "skip"]


@dataclass
class SkipReport:
    """What validation left out of a manifest, one entry per row, and why."""

    source: str
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (row id, reason)

    def __len__(self) -> int:
        return len(self.skipped)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.skipped, columns=["entry", "reason"])

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.to_frame().to_csv(path, index=False)
        return path


def _row_problems(row: pd.Series, check_files: bool, require_text: bool) -> list[str]:
    """Every reason why one manifest row is unusable (empty list when it is fine)."""
    problems = []
    for col in ("utt_id", "path", "corpus", "language", "speaker"):
        value = row[col]
        if not isinstance(value, str) or not value.strip():
            problems.append(f"empty {col}")
    emotion = row["emotion"]
    if emotion not in EMOTIONS:
        problems.append(f"unknown emotion label {emotion!r} (expected one of {', '.join(EMOTIONS)})")
    text = row["text"]
    # None/NaN means "this corpus has no transcript"; an empty string is a broken one.
    if isinstance(text, str):
        if not text.strip():
            problems.append("empty transcript")
    elif require_text or not _is_missing(text):
        problems.append("missing transcript")
    duration = row["duration_s"]
    if not isinstance(duration, (int, float)) or not math.isfinite(duration) or duration <= 0:
        problems.append(f"bad duration_s {duration!r} (expected a positive number of seconds)")
    gender = row.get("gender")
    if gender is not None and not _is_missing(gender) and gender not in GENDERS:
        problems.append(f"bad gender {gender!r} (expected one of {', '.join(GENDERS)})")
    if check_files and isinstance(row["path"], str) and row["path"]:
        problems.extend(_audio_file_problems(row["path"]))
    return problems


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _audio_file_problems(path: str, decode: bool = False) -> list[str]:
    """The audio file's problems, each naming it (header checks; with ``decode`` NaN and silence too)."""
    from benchmark.audio import file_problem, header_problem

    problem = file_problem(path) if decode else header_problem(path)
    return [problem.describe(path)] if problem else []


@dataclass
class CsvRow:
    """One record of a CSV file: the line it starts on, its cells by column, and what is wrong with it."""

    line: int
    values: dict[str, str]
    problem: str | None = None


def read_csv_rows(path: str | Path, *, sep: str = ",") -> tuple[list[str], list[CsvRow]]:
    """The header and the records of a CSV (or TSV) file, every cell a string.

    Unlike ``pandas.read_csv`` a record with too many or too few fields does
    not stop the file: it comes back with ``problem`` saying so (its cells
    padded with "" or cut to the header), so that a loader can report it by
    line and, when asked, skip it. What makes the whole file unreadable (not
    UTF-8, no header, a repeated column name, a broken quote) raises a
    :class:`ManifestError` naming the file and the line.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ManifestError(str(path), [f"line {line}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header: list[str] | None = None
    rows: list[CsvRow] = []
    end = 0  # the line the previous record ended on
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue  # blank line (pandas skips them too)
            if header is None:
                header = [f.strip() for f in fields]
                repeated = sorted({c for c in header if header.count(c) > 1})
                if repeated:
                    raise ManifestError(str(path), [f"line {start}: repeated column name(s) {repeated} in the header"])
                continue
            problem = None
            if len(fields) != len(header):
                problem = (f"{len(fields)} fields where the header has {len(header)} "
                           f"({'an unquoted comma in a cell?' if len(fields) > len(header) else 'cells missing'})")
                fields = (fields + [""] * len(header))[:len(header)]
            rows.append(CsvRow(start, dict(zip(header, fields)), problem))
    except csv.Error as exc:
        raise ManifestError(str(path), [f"line {reader.line_num}: not valid CSV ({exc})"]) from None
    if header is None:
        raise ManifestError(str(path), ["empty file: no header line"])
    return header, rows


def validate_manifest(
    df: pd.DataFrame,
    source: str,
    *,
    check_files: bool = False,
    require_text: bool = False,
    on_error: OnError = "raise",
) -> tuple[pd.DataFrame, SkipReport]:
    """Check ``df`` against the Manifest schema.

    Returns the manifest (columns in canonical order, index reset) and a
    :class:`SkipReport`. With ``on_error="raise"`` any bad row raises a
    :class:`ManifestError` listing every offending row; with ``"skip"`` bad rows
    are moved to the report instead.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ManifestError(source, [f"missing column {c!r}" for c in missing])
    df = df.reset_index(drop=True).copy()
    df["duration_s"] = pd.to_numeric(df["duration_s"], errors="coerce").astype(float)

    problems: dict[int, list[str]] = {}
    for i, row in df.iterrows():
        row_problems = _row_problems(row, check_files, require_text)
        if row_problems:
            problems[i] = row_problems
    duplicated = df["utt_id"].duplicated(keep=False)
    for i in df.index[duplicated]:
        problems.setdefault(i, []).append(f"duplicate utt_id {df.at[i, 'utt_id']!r}")

    report = SkipReport(source)
    if problems:
        lines = [f"row {i} ({_entry_name(df, i)}): {'; '.join(p)}" for i, p in sorted(problems.items())]
        if on_error == "raise":
            raise ManifestError(source, lines)
        report.skipped = [(_entry_name(df, i), "; ".join(p)) for i, p in sorted(problems.items())]
        df = df.drop(index=list(problems)).reset_index(drop=True)

    columns = list(REQUIRED_COLUMNS) + [c for c in OPTIONAL_COLUMNS if c in df.columns]
    extra = [c for c in df.columns if c not in columns]
    return df[columns + extra], report


def _entry_name(df: pd.DataFrame, i: int) -> str:
    utt = df.at[i, "utt_id"]
    path = df.at[i, "path"]
    return f"utt_id={utt!r}, path={path!r}"


def manifest_from_records(
    records: Iterable[dict],
    source: str,
    *,
    check_files: bool = True,
    require_text: bool = False,
    on_error: OnError = "raise",
    fill_duration: bool = True,
) -> tuple[pd.DataFrame, SkipReport]:
    """Build and validate a manifest from loader records.

    Records without ``duration_s`` get it from the audio header (cheap: no
    decoding). Unreadable files are reported by validation, not here.
    """
    df = pd.DataFrame(list(records))
    if df.empty:
        raise ManifestError(source, ["no utterances found"])
    if fill_duration:
        if "duration_s" not in df.columns:
            df["duration_s"] = float("nan")
        todo = df["duration_s"].isna()
        df.loc[todo, "duration_s"] = [audio_duration(p) for p in df.loc[todo, "path"]]
    return validate_manifest(df, source, check_files=check_files, require_text=require_text, on_error=on_error)


def audio_duration(path: str) -> float:
    """Duration in seconds from the file header, NaN when the file cannot be read."""
    import soundfile as sf

    try:
        info = sf.info(path)
    except Exception:
        return float("nan")
    return info.frames / info.samplerate if info.samplerate else float("nan")


def manifest_hash(df: pd.DataFrame) -> str:
    """A stable content hash of a manifest (order-independent), for MLflow params."""
    cols = [c for c in REQUIRED_COLUMNS if c != "path"] + [c for c in OPTIONAL_COLUMNS if c in df.columns]
    canonical = df[cols].sort_values("utt_id").to_csv(index=False, float_format="%.4f")
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a manifest written by :func:`write_manifest` (CSV or Parquet) and validate it."""
    path = Path(path)
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype={"text": "string"})
    except FileNotFoundError:
        raise ManifestError(str(path), ["manifest file not found"]) from None
    except (ValueError, OSError) as exc:  # pandas ParserError/EmptyDataError, pyarrow errors, bad encodings
        raise ManifestError(str(path), [f"not a readable manifest ({type(exc).__name__}: {exc})"]) from None
    if "text" in df.columns:
        df["text"] = df["text"].astype(object).where(df["text"].notna(), None)
    return validate_manifest(df, str(path))[0]


def write_manifest(df: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    if path.suffix == ".parquet":
        df.to_parquet(tmp, index=False)
    else:
        df.to_csv(tmp, index=False)
    tmp.replace(path)  # atomic: a crash never leaves a half-written manifest
    return path


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per-corpus summary: utterances, hours, speakers, languages and emotion counts."""
    rows = []
    for corpus, part in df.groupby("corpus", sort=True):
        row = {
            "corpus": corpus,
            "utterances": len(part),
            "hours": round(part["duration_s"].sum() / 3600, 3),
            "speakers": part["speaker"].nunique(),
            "languages": ",".join(sorted(part["language"].unique())),
        }
        row.update({f"n_{e}": int(n) for e, n in part["emotion"].value_counts().sort_index().items()})
        rows.append(row)
    return pd.DataFrame(rows).fillna(0)
