"""URDU (Latif et al., 2018), Urdu; spontaneous speech from talk shows.

Layout (the published repository)::

    <root>/Angry/SM1_F1_A01.wav     speaker SM1 (male 1), file F1, emotion A, number 01
    <root>/Happy/ ... Neutral/ ... Sad/

Speaker code ``S`` + ``M``/``F`` (gender) + number, so ``SM1`` and ``SF1``
are different people. Emotions: A angry, H happy, N neutral, S sad; the
letter in the name must agree with the folder. No transcripts.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora._common import ClassesArg, Collector, corpus_root, finish, iter_audio, strict_options
from benchmark.manifest import OnError, SkipReport

CORPUS = "urdu"
LAYOUT = "<root>/{Angry,Happy,Neutral,Sad}/S<M|F><n>_F<n>_<A|H|N|S><nn>.wav, e.g. Angry/SM1_F1_A01.wav"

EMOTIONS = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"}
FOLDERS = {"angry": "A", "happy": "H", "neutral": "N", "sad": "S"}
NAME = re.compile(r"^S([MF])(\d+)_F(\d+)_([A-Za-z])(\d+)$")


@CORPORA.register(CORPUS)
@strict_options
def load_urdu(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
              classes: ClassesArg = None, progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load URDU from ``root`` (the folder holding ``Angry/ Happy/ Neutral/ Sad/``)."""
    base = corpus_root(root, CORPUS, LAYOUT)
    col = Collector(CORPUS, base)
    for path in iter_audio(base):
        _add(col, path)
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, progress=progress)


def _add(col: Collector, path: Path) -> None:
    m = NAME.match(path.stem)
    if not m:
        col.problem(path, f"file name does not follow URDU's scheme ({LAYOUT})")
        return
    gender, number, _file, code, _n = m.groups()
    code = code.upper()
    folder_code = FOLDERS.get(path.parent.name.lower())
    if code not in EMOTIONS:
        col.problem(path, f"unknown emotion label {code!r} (URDU codes: {', '.join(EMOTIONS)})")
        return
    if folder_code is not None and folder_code != code:
        col.problem(path, f"emotion letter {code!r} disagrees with folder {path.parent.name!r}")
        return
    col.add(path.stem, path, speaker=f"S{gender}{int(number)}", emotion=EMOTIONS[code], language="ur", text=None,
            gender="male" if gender == "M" else "female")
