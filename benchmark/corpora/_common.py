"""Plumbing shared by the real-corpus loaders.

A loader walks a corpus in its published layout and, for every utterance,
either adds a record (one future manifest row), reports a *problem* (bad data:
an unknown label code, a file name that does not parse, a line that names no
file) or an *exclusion* (a rule or option the user chose leaves it out: a class
outside ``classes``, IEMOCAP's ``xxx`` "no majority", a CMU-MOSEI tie).
:func:`finish` then builds the manifest with
:func:`benchmark.manifest.manifest_from_records`, which adds its own checks
(missing/unreadable/empty audio, duplicate ids, empty transcripts).

* With ``on_error="raise"`` (default) any problem raises one
  :class:`~benchmark.errors.ManifestError` listing every offending entry.
* With ``on_error="skip"`` problems are left out and listed in the returned
  :class:`~benchmark.manifest.SkipReport` with their reasons.
* Exclusions never raise; they are always listed in the SkipReport, prefixed
  ``excluded:``, so nothing leaves a manifest without a trace.
"""
from __future__ import annotations

import filecmp
import functools
import inspect
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import pandas as pd
from pydantic import ConfigDict, ValidationError, validate_call
from tqdm import tqdm

from benchmark.errors import ConfigError, ManifestError
from benchmark.labels import CORE3, CORE4, EMOTIONS
from benchmark.manifest import OPTIONAL_COLUMNS, SkipReport, audio_duration, manifest_from_records

ClassesArg = Sequence[str] | str | None

CLASS_PRESETS: dict[str, tuple[str, ...]] = {"core4": CORE4, "core3": CORE3}

# Emotion names seen in corpus metadata (EmoBox label maps, CSV manifests) ->
# canonical names. Corpus-specific *codes* (W, ang, 05, ...) live in each loader.
EMOTION_SYNONYMS: dict[str, str] = {
    **{e: e for e in EMOTIONS},
    "anger": "angry", "angry": "angry", "mad": "angry",
    "happiness": "happy", "happy": "happy", "joy": "happy", "gioia": "happy",
    "sadness": "sad", "sad": "sad",
    "neutrality": "neutral", "neutral": "neutral",
    "fear": "fear", "fearful": "fear", "afraid": "fear",
    "disgust": "disgust", "disgusted": "disgust",
    "surprise": "surprise", "surprised": "surprise",
    "calm": "calm", "contempt": "contempt",
    "excited": "excited", "excitement": "excited",
    "frustrated": "frustrated", "frustration": "frustrated",
    "boredom": "boredom", "bored": "boredom", "boredem": "boredom",  # EmoBox's EmoDB map spells it so
    "other": "other",
}
# Names that mean "the annotators did not agree": never a class, always excluded.
NO_AGREEMENT = {"no-agreement", "no_agreement", "noagreement", "xxx", "x", "unknown"}

LANGUAGE_NAMES: dict[str, str] = {
    "english": "en", "german": "de", "italian": "it", "french": "fr", "urdu": "ur", "greek": "el",
    "chinese": "zh", "mandarin": "zh", "spanish": "es", "persian": "fa", "russian": "ru",
    "polish": "pl", "turkish": "tr", "bangla": "bn", "bengali": "bn", "amharic": "am",
    "mexican spanish": "es",
}

AUDIO_SUFFIXES = (".wav",)


def canonical_emotion(name: object) -> str | None:
    """Canonical emotion for a metadata label name (case-insensitive), None if unknown."""
    if not isinstance(name, str):
        return None
    return EMOTION_SYNONYMS.get(name.strip().lower())


def language_code(name: str) -> str | None:
    """ISO 639-1 code for a language name or code (``"French"``, ``"fr"``), None if unknown."""
    key = name.strip().lower()
    if len(key) == 2 and key.isalpha():
        return key
    return LANGUAGE_NAMES.get(key)


def resolve_classes(classes: ClassesArg) -> tuple[str, ...] | None:
    """``classes`` option -> tuple of canonical names (None keeps every label).

    Accepts a preset (``"core4"``, ``"core3"``), a comma-separated string
    (``"neutral,sad"``, handy on the command line) or a sequence of names.
    """
    if classes is None or (isinstance(classes, str) and classes.strip().lower() == "all"):
        return None
    if isinstance(classes, str):
        preset = CLASS_PRESETS.get(classes.strip().lower())
        names = list(preset) if preset else [c.strip() for c in classes.split(",") if c.strip()]
    else:
        names = list(classes)
    bad = [c for c in names if c not in EMOTIONS]
    if bad or not names:
        raise ConfigError(
            f"classes: unknown emotion(s) {bad or names!r}; use canonical names "
            f"({', '.join(EMOTIONS)}) or a preset ({', '.join(CLASS_PRESETS)})"
        )
    return tuple(dict.fromkeys(names))


def corpus_root(root: str | os.PathLike | None, corpus: str, layout: str) -> Path:
    """The corpus directory as an absolute path; a clear error when it is not one."""
    if root is None:
        raise ConfigError(f"corpus {corpus!r} is licensed and read from your copy: pass its root directory "
                          f"(expected layout: {layout})")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ConfigError(f"corpus {corpus!r}: root {str(path)!r} is not a directory (expected layout: {layout})")
    return path.resolve()


def iter_audio(root: Path, suffixes: tuple[str, ...] = AUDIO_SUFFIXES) -> Iterator[Path]:
    """Audio files under ``root`` in a stable order, skipping hidden files and macOS debris."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(suffixes):
                yield Path(dirpath) / name


def read_text(path: Path, encodings: Sequence[str] = ("utf-8-sig",)) -> str:
    """Read a metadata text file, trying ``encodings`` in order (corpora ship a mix)."""
    data = path.read_bytes()
    for enc in encodings:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise ManifestError(str(path), [f"cannot decode as any of {', '.join(encodings)}"])


@dataclass
class Collector:
    """What a loader found while walking a corpus: records, problems and exclusions."""

    corpus: str
    root: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    excluded: list[tuple[str, str]] = field(default_factory=list)

    def add(self, native_id: str, path: Path | str, *, speaker: str, emotion: str, language: str,
            text: str | None, **extra: Any) -> None:
        """Add one utterance; ``utt_id`` and ``speaker`` get the corpus prefix (globally unique)."""
        self.records.append({
            "utt_id": f"{self.corpus}_{native_id}",
            "path": str(path),
            "corpus": self.corpus,
            "language": language,
            "speaker": f"{self.corpus}_{speaker}",
            "emotion": emotion,
            "text": text,
            **extra,
        })

    def problem(self, entry: str | Path, reason: str) -> None:
        self.problems.append((self.name(entry), reason))

    def exclude(self, entry: str | Path, reason: str) -> None:
        self.excluded.append((self.name(entry), reason))

    def exclude_utt(self, native_id: str, reason: str) -> None:
        """Exclude an utterance by id, named as its manifest ``utt_id`` would be."""
        self.excluded.append((f"{self.corpus}_{native_id}", reason))

    def name(self, entry: str | Path) -> str:
        """Entries are named by their path relative to the corpus root when they are files."""
        if isinstance(entry, Path):
            try:
                return str(entry.relative_to(self.root))
            except ValueError:
                return str(entry)
        return entry


def finish(
    col: Collector,
    *,
    on_error: str,
    check_files: bool,
    classes: ClassesArg = None,
    require_text: bool = False,
    progress: bool = True,
) -> tuple[pd.DataFrame, SkipReport]:
    """Filter by ``classes``, validate, and either raise or report (see module docstring)."""
    check_on_error(on_error)
    wanted = resolve_classes(classes)
    source = f"{col.corpus} corpus at {col.root}"
    records = []
    for rec in col.records:
        if wanted is not None and rec["emotion"] not in wanted:
            col.excluded.append((rec["utt_id"], f"emotion {rec['emotion']!r} not in classes ({', '.join(wanted)})"))
        else:
            records.append(rec)
    records, copies = _drop_copies(records, col)
    col.problems.extend(copies)
    _fill_durations(records, check_files, progress, col.corpus)

    if records:
        df, report = manifest_from_records(records, source, check_files=check_files, require_text=require_text,
                                           on_error="skip", fill_duration=False)
        problems = col.problems + report.skipped
    else:
        df, problems = pd.DataFrame(), list(col.problems)
    if problems and on_error == "raise":
        raise ManifestError(source, [f"{entry}: {reason}" for entry, reason in problems])
    if df.empty:
        reasons = [f"{e}: {r}" for e, r in problems] + [f"{e}: excluded: {r}" for e, r in col.excluded]
        raise ManifestError(source, reasons or ["no utterances found; is root the corpus directory?"])
    skipped = list(problems) + [(entry, f"excluded: {reason}") for entry, reason in col.excluded]
    return _tidy(df), SkipReport(source, skipped)


def _drop_copies(records: list[dict], col: Collector) -> tuple[list[dict], list[tuple[str, str]]]:
    """Later records repeating an earlier ``utt_id`` with byte-identical audio, as problems.

    A tree that holds every file twice (RAVDESS ``Actor_NN/`` beside
    ``audio_speech_actors_01-24/Actor_NN/``) is reported copy by copy; with
    ``on_error="skip"`` the first copy (in walking order) stays. Records that
    share an id but not their audio are kept: validation reports every one of
    them, since nothing says which is right.
    """
    first: dict[str, dict] = {}
    kept, copies = [], []
    for rec in records:
        seen = first.setdefault(rec["utt_id"], rec)
        if seen is not rec and _same_audio(seen["path"], rec["path"]):
            copies.append((col.name(Path(rec["path"])),
                           f"duplicate utt_id {rec['utt_id']!r}: the same audio as {col.name(Path(seen['path']))} "
                           "(that copy is kept with on_error='skip')"))
        else:
            kept.append(rec)
    return kept, copies


def _same_audio(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b) or filecmp.cmp(a, b, shallow=False)
    except OSError:  # a missing copy: validation names it
        return False


def check_on_error(on_error: str) -> None:
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"on_error must be 'raise' or 'skip', not {on_error!r}")


def _fill_durations(records: list[dict], check_files: bool, progress: bool, corpus: str) -> None:
    """Durations from audio headers (cheap, no decoding); metadata durations only without file checks."""
    todo = [r for r in records if check_files or _missing(r.get("duration_s"))]
    for rec in tqdm(todo, desc=f"{corpus}: reading audio headers", unit="file",
                    disable=not progress or len(todo) < 2000):
        rec["duration_s"] = audio_duration(rec["path"])


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """None (not NaN) for absent text/session/gender/split; drop optional columns nobody filled."""
    df = df.copy()
    for col in ("text",) + OPTIONAL_COLUMNS:
        if col not in df.columns:
            continue
        values = df[col].astype(object)
        values = values.where(values.notna(), None)
        if col in OPTIONAL_COLUMNS and values.isna().all():
            df = df.drop(columns=col)
        else:
            df[col] = values
    return df


F = TypeVar("F", bound=Callable[..., Any])


def strict_options(func: F) -> F:
    """Check loader options against the signature: unknown or ill-typed options are ConfigErrors.

    Values are validated (and coerced, so ``"true"``/``"0.3"`` from a command
    line work) by pydantic; an error names the option and lists the known ones.
    """
    sig = inspect.signature(func)
    known = [p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]
    validated = validate_call(config=ConfigDict(arbitrary_types_allowed=True))(func)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        unknown = [k for k in kwargs if k not in known]
        if unknown:
            raise ConfigError(f"{func.__name__}: unknown option(s) {', '.join(map(repr, unknown))}; "
                              f"known options: {', '.join(known)}")
        try:
            return validated(*args, **kwargs)
        except ValidationError as exc:
            if exc.title != func.__name__:  # raised inside the loader, not by the argument check
                raise
            by_option: dict[str, list[str]] = {}
            for err in exc.errors():  # a union type reports one message per member: keep the option name
                by_option.setdefault(str(err["loc"][0]) if err["loc"] else "?", []).append(err["msg"])
            bad = "; ".join(f"option {name!r}: {' or '.join(dict.fromkeys(msgs))} (got {kwargs.get(name)!r})"
                            for name, msgs in by_option.items())
            raise ConfigError(f"{func.__name__}: {bad}") from None

    return wrapper  # type: ignore[return-value]
