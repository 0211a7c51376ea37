"""A plain CSV manifest, for any corpus without a dedicated loader.

The file has the Manifest columns (see :mod:`benchmark.manifest`)::

    utt_id,path,speaker,emotion[,language][,corpus][,text][,duration_s][,session][,gender][,split]

* ``path`` may be relative: it resolves against the CSV's own folder.
* ``emotion``: a canonical name or a common synonym (anger, happiness,
  sadness, fearful, ...), or any code given in the ``label_map`` option
  (``{"W": "angry"}``).
* ``language``: a column, or the ``language`` option for the whole file.
* ``corpus``: a column, or the ``corpus`` option (default: the CSV's stem).
* ``utt_id`` and ``speaker`` get the ``<corpus>_`` prefix unless they already
  carry it, so a manifest written by emobench reads back unchanged.
* ``text``: absent column or empty cell = no transcript (None) unless
  ``require_text=True``, where an empty cell is an error.
* ``gender``: female/male (F/M accepted); ``duration_s`` is read from the
  audio header when absent.

``root`` is the CSV file, or a folder holding ``manifest.csv``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora._common import (NO_AGREEMENT, ClassesArg, Collector, canonical_emotion, finish, language_code,
                                       strict_options)
from benchmark.errors import ConfigError, ManifestError
from benchmark.manifest import OnError, SkipReport, read_csv_rows

LAYOUT = "a CSV with utt_id,path,speaker,emotion[,language,corpus,text,duration_s,session,gender,split]"
REQUIRED = ("utt_id", "path", "speaker", "emotion")
GENDERS = {"f": "female", "female": "female", "m": "male", "male": "male"}


@CORPORA.register("csv")
@strict_options
def load_csv_manifest(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
                      classes: ClassesArg = None, corpus: str | None = None, language: str | None = None,
                      label_map: dict[str, str] | None = None, require_text: bool = False,
                      progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load a CSV manifest (``root`` = the CSV file or a folder with ``manifest.csv``)."""
    csv_path = _csv_path(root)
    columns, rows = read_csv_rows(csv_path)
    missing = [c for c in REQUIRED if c not in columns]
    if "language" not in columns and language is None:
        missing.append("language (or pass language=)")
    if missing:
        raise ManifestError(str(csv_path), [f"missing column {c!r}" for c in missing])
    if language is not None and language_code(language) is None:
        raise ConfigError(f"language: unknown language {language!r} (use an ISO 639-1 code such as 'en')")
    codes = _label_map(label_map)
    default_corpus = corpus or csv_path.stem
    col = Collector(default_corpus, csv_path.parent)
    for row in rows:
        entry = f"{csv_path.name} line {row.line}"
        if row.problem:  # a record cut short or split by a stray comma: its cells cannot be trusted
            col.problem(entry, row.problem)
            continue
        _add(col, row.values, entry, csv_path.parent, corpus, default_corpus, language, codes, require_text)
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, require_text=require_text,
                  progress=progress)


def _csv_path(root: str | Path | None) -> Path:
    if root is None:
        raise ConfigError(f"corpus 'csv' needs root= (the CSV file; {LAYOUT})")
    path = Path(root).expanduser().resolve()
    if path.is_dir():
        path = path / "manifest.csv"
    if not path.is_file():
        raise ConfigError(f"corpus 'csv': {str(path)!r} is not a file ({LAYOUT})")
    return path


def _label_map(label_map: dict[str, str] | None) -> dict[str, str]:
    codes = {}
    for code, name in (label_map or {}).items():
        target = canonical_emotion(name)
        if target is None:
            raise ConfigError(f"label_map[{code!r}]: {name!r} is not an emotion name emobench knows")
        codes[str(code)] = target
    return codes


def _add(col: Collector, row: dict, entry: str, folder: Path, forced_corpus: str | None, default_corpus: str,
         forced_language: str | None, codes: dict[str, str], require_text: bool) -> None:
    utt = row["utt_id"].strip()
    entry = f"{entry} ({utt})"
    raw = row["emotion"].strip()
    corpus = forced_corpus or row.get("corpus", "").strip() or default_corpus
    if raw.lower() in NO_AGREEMENT:
        col.exclude(_prefixed(corpus, utt), f"no agreed label ({raw!r})")
        return
    emotion = codes.get(raw) or canonical_emotion(raw)
    lang_raw = forced_language or row.get("language", "")
    lang = language_code(lang_raw) if lang_raw.strip() else None
    reasons = []
    if emotion is None:
        reasons.append(f"unknown emotion label {raw!r} (use canonical names, synonyms or label_map=)")
    if lang is None:
        reasons.append(f"bad language {lang_raw!r} (expected an ISO 639-1 code)")
    gender_raw = row.get("gender", "").strip()
    gender = GENDERS.get(gender_raw.lower()) if gender_raw else None
    if gender_raw and gender is None:
        reasons.append(f"bad gender {gender_raw!r} (expected female/male)")
    for col_name in ("utt_id", "path", "speaker"):
        if not row[col_name].strip():
            reasons.append(f"empty {col_name}")
    if reasons:
        col.problem(entry, "; ".join(reasons))
        return
    path = Path(row["path"].strip())
    path = path if path.is_absolute() else (folder / path).resolve()
    text = row.get("text")
    if text == "" and not require_text:
        text = None  # an empty cell means "no transcript" unless transcripts are required
    duration = pd.to_numeric(row.get("duration_s", ""), errors="coerce")
    extra = {k: (row[k].strip() or None) for k in ("session", "split") if k in row}
    col.records.append({
        "utt_id": _prefixed(corpus, utt),
        "path": str(path),
        "corpus": corpus,
        "language": lang,
        "speaker": _prefixed(corpus, row["speaker"].strip()),
        "emotion": emotion,
        "text": text,
        "duration_s": float(duration) if pd.notna(duration) else None,
        "gender": gender,
        **extra,
    })


def _prefixed(corpus: str, name: str) -> str:
    return name if name.startswith(f"{corpus}_") else f"{corpus}_{name}"
