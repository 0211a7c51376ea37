"""SAVEE (Surrey Audio-Visual Expressed Emotion; Haq & Jackson, 2009), British English.

Two layouts are read, both as distributed:

    <root>/AudioData/DC/a01.wav        (official: one folder per speaker)
    <root>/DC_a01.wav                  (the common flat re-packaging, e.g. ``ALL/``)

Four male speakers (DC, JE, JK, KL). Emotion prefix: a angry, d disgust,
f fear, h happy, n neutral, sa sad, su surprise; then a 2-digit sentence
number (the sentences are TIMIT prompts that differ per emotion and are not
shipped as a text file, so ``text`` is absent).
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora._common import ClassesArg, Collector, corpus_root, finish, iter_audio, strict_options
from benchmark.manifest import OnError, SkipReport

CORPUS = "savee"
LAYOUT = "<root>/AudioData/<SPK>/<emotion><NN>.wav (e.g. AudioData/DC/a01.wav) or flat <SPK>_<emotion><NN>.wav"

EMOTIONS = {"a": "angry", "d": "disgust", "f": "fear", "h": "happy", "n": "neutral", "sa": "sad", "su": "surprise"}
SPEAKERS = ("DC", "JE", "JK", "KL")
FLAT = re.compile(r"^([A-Za-z]{2})_([a-z]+)(\d\d)$")
NESTED = re.compile(r"^([a-z]+)(\d\d)$")


@CORPORA.register(CORPUS)
@strict_options
def load_savee(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
               classes: ClassesArg = None, progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load SAVEE from ``root`` (the folder holding ``AudioData/``, or the flat folder of ``DC_a01.wav`` files).

    An utterance present in both layouts is a duplicate id (an error), not silently merged.
    """
    base = corpus_root(root, CORPUS, LAYOUT)
    col = Collector(CORPUS, base)
    for path in iter_audio(base):
        _add(col, path)
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, progress=progress)


def _add(col: Collector, path: Path) -> None:
    flat = FLAT.match(path.stem)
    nested = NESTED.match(path.stem)
    if flat:
        speaker, code, number = flat.group(1).upper(), flat.group(2), flat.group(3)
    elif nested:
        speaker, (code, number) = path.parent.name.upper(), nested.groups()
    else:
        col.problem(path, f"file name does not follow SAVEE's scheme ({LAYOUT})")
        return
    reasons = []
    if speaker not in SPEAKERS:
        reasons.append(f"unknown speaker {speaker!r} (SAVEE speakers: {', '.join(SPEAKERS)})")
    if code not in EMOTIONS:
        reasons.append(f"unknown emotion label {code!r} (SAVEE codes: {', '.join(EMOTIONS)})")
    if reasons:
        col.problem(path, "; ".join(reasons))
        return
    col.add(f"{speaker}_{code}{number}", path, speaker=speaker, emotion=EMOTIONS[code], language="en", text=None,
            gender="male")
