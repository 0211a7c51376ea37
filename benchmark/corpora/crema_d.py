"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset; Cao et al., 2014), English.

Layout (the published repository)::

    <root>/AudioWAV/1001_DFA_ANG_XX.wav    actor 1001, sentence DFA, emotion ANG, level XX
    <root>/VideoDemographics.csv           ActorID,Age,Sex,Race,Ethnicity

Emotions: ANG angry, DIS disgust, FEA fear, HAP happy, NEU neutral, SAD sad.
Levels: LO, MD, HI, XX (unspecified; copies made before the 2022 rename
spell it ``X``, as in ``1040_ITH_SAD_X.wav``, and are read the same). The twelve sentence codes map to the
corpus's fixed sentences; gender comes from ``VideoDemographics.csv``
(pass ``demographics=None`` to load a copy without it, gender then absent).
The labels are the *intended* emotions of the file names, not the crowd votes.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora._common import ClassesArg, Collector, corpus_root, finish, iter_audio, strict_options
from benchmark.errors import ManifestError
from benchmark.manifest import OnError, SkipReport, read_csv_rows

CORPUS = "crema_d"
LAYOUT = "<root>/AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav and <root>/VideoDemographics.csv"

EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
LEVELS = ("LO", "MD", "HI", "XX", "X")  # X: the pre-2022 spelling of XX (unspecified)
SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$")


@CORPORA.register(CORPUS)
@strict_options
def load_crema_d(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
                 classes: ClassesArg = None, demographics: str | None = "VideoDemographics.csv",
                 progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load CREMA-D from ``root`` (the folder holding ``AudioWAV/``)."""
    base = corpus_root(root, CORPUS, LAYOUT)
    genders = _read_demographics(base / demographics) if demographics else None
    col = Collector(CORPUS, base)
    wav_dir = base / "AudioWAV"
    if not wav_dir.is_dir():
        col.problem("AudioWAV/", f"folder not found (expected layout: {LAYOUT})")
    else:
        for path in iter_audio(wav_dir):
            _add(col, path, genders)
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, progress=progress)


def _read_demographics(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise ManifestError(str(path), ["demographics file not found; pass demographics=None to load "
                                        "CREMA-D without speaker gender"])
    columns, rows = read_csv_rows(path)
    missing = [c for c in ("ActorID", "Sex") if c not in columns]
    if missing:
        raise ManifestError(str(path), [f"missing column {c!r}" for c in missing])
    genders, problems = {}, []
    for row in rows:
        i, actor, sex = row.line, row.values["ActorID"], row.values["Sex"].strip().lower()
        if row.problem:
            problems.append(f"line {i}: {row.problem}")
            continue
        if sex not in ("female", "male"):
            problems.append(f"line {i}: actor {actor}: unknown Sex {sex!r} (expected Female or Male)")
        genders[str(actor).strip()] = sex
    if problems:
        raise ManifestError(str(path), problems)
    return genders


def _add(col: Collector, path: Path, genders: dict[str, str] | None) -> None:
    m = NAME.match(path.stem)
    if not m:
        col.problem(path, f"file name does not follow CREMA-D's scheme ({LAYOUT})")
        return
    actor, sentence, emotion, level = m.groups()
    reasons = []
    if emotion not in EMOTIONS:
        reasons.append(f"unknown emotion label {emotion!r} (CREMA-D codes: {', '.join(EMOTIONS)})")
    if sentence not in SENTENCES:
        reasons.append(f"unknown sentence code {sentence!r} (CREMA-D sentences: {', '.join(SENTENCES)})")
    if level not in LEVELS:
        reasons.append(f"unknown level {level!r} (CREMA-D levels: {', '.join(LEVELS)})")
    if genders is not None and actor not in genders:
        reasons.append(f"actor {actor} is not in VideoDemographics.csv")
    if reasons:
        col.problem(path, "; ".join(reasons))
        return
    col.add(path.stem, path, speaker=actor, emotion=EMOTIONS[emotion], language="en", text=SENTENCES[sentence],
            gender=genders[actor] if genders is not None else None)
