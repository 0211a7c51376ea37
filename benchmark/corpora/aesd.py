"""AESD / AESDD (Acted Emotional Speech Dynamic Database; Vryzas et al., 2018), Greek.

Layout (the published archive)::

    <root>/anger/a01 (1).wav        emotion a, utterance 01, actor 1
    <root>/disgust/ ... fear/ ... happiness/ ... sadness/

File name: emotion letter (a angry, d disgust, f fear, h happy, s sad),
2-digit utterance number, actor number in parentheses, and sometimes a
letter for an extra take (``a06 (5)b.wav``). There is **no neutral class**.
The letter must agree with the folder. Actor genders are not published per
actor, and no transcripts ship, so ``gender`` and ``text`` are absent.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora._common import ClassesArg, Collector, corpus_root, finish, iter_audio, strict_options
from benchmark.manifest import OnError, SkipReport

CORPUS = "aesd"
LAYOUT = "<root>/{anger,disgust,fear,happiness,sadness}/<e><NN> (<actor>)[take].wav, e.g. anger/a01 (1).wav"

EMOTIONS = {"a": "angry", "d": "disgust", "f": "fear", "h": "happy", "s": "sad"}
FOLDERS = {"anger": "a", "disgust": "d", "fear": "f", "happiness": "h", "sadness": "s"}
NAME = re.compile(r"^([A-Za-z])(\d\d) ?\((\d+)\)([a-z]?)$")


@CORPORA.register(CORPUS)
@strict_options
def load_aesd(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
              classes: ClassesArg = None, progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load AESD from ``root`` (the folder holding ``anger/ disgust/ fear/ happiness/ sadness/``)."""
    base = corpus_root(root, CORPUS, LAYOUT)
    col = Collector(CORPUS, base)
    for path in iter_audio(base):
        _add(col, path)
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, progress=progress)


def _add(col: Collector, path: Path) -> None:
    m = NAME.match(path.stem)
    if not m:
        col.problem(path, f"file name does not follow AESD's scheme ({LAYOUT})")
        return
    code, number, actor, take = m.groups()
    code = code.lower()
    if code not in EMOTIONS:
        col.problem(path, f"unknown emotion label {code!r} (AESD codes: {', '.join(EMOTIONS)})")
        return
    folder_code = FOLDERS.get(path.parent.name.lower())
    if folder_code is not None and folder_code != code:
        col.problem(path, f"emotion letter {code!r} disagrees with folder {path.parent.name!r}")
        return
    # Keep the actor field as written ("01" and "1" are different files in the archive).
    col.add(f"{code}{number}_{actor}{take}", path, speaker=str(int(actor)), emotion=EMOTIONS[code], language="el",
            text=None)
