"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song; Livingstone & Russo, 2018), English.

Layout (``Audio_Speech_Actors_01-24.zip``, optionally with
``Audio_Song_Actors_01-24.zip`` unpacked beside it)::

    <root>/Actor_01/03-01-05-01-02-01-01.wav
    ...
    <root>/Actor_24/...

The 7-part file name is modality (03 = audio-only), vocal channel
(01 speech, 02 song), emotion (01 neutral, 02 calm, 03 happy, 04 sad,
05 angry, 06 fearful, 07 disgust, 08 surprised), intensity (01 normal,
02 strong), statement (01 "Kids are talking by the door", 02 "Dogs are
sitting by the door"), repetition (01, 02) and actor (01-24; odd actors are
male, even actors female).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora._common import ClassesArg, Collector, corpus_root, finish, iter_audio, strict_options
from benchmark.manifest import OnError, SkipReport

CORPUS = "ravdess"
LAYOUT = "<root>/Actor_NN/03-01-EE-II-SS-RR-NN.wav (modality-channel-emotion-intensity-statement-repetition-actor)"

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fear",
            "07": "disgust", "08": "surprise"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
CHANNELS = {"01": "speech", "02": "song"}
NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


@CORPORA.register(CORPUS)
@strict_options
def load_ravdess(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
                 classes: ClassesArg = None, vocal_channel: Literal["speech", "song", "all"] = "speech",
                 progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load RAVDESS audio-only files from ``root`` (the folder holding ``Actor_NN/``).

    ``vocal_channel`` picks speech (default), song or both; files of the other
    channel are excluded and listed in the SkipReport.
    """
    base = corpus_root(root, CORPUS, LAYOUT)
    col = Collector(CORPUS, base)
    for path in iter_audio(base):
        _add(col, path, vocal_channel)
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, progress=progress)


def _add(col: Collector, path: Path, vocal_channel: str) -> None:
    m = NAME.match(path.stem)
    if not m:
        col.problem(path, f"file name does not follow RAVDESS's 7-part scheme ({LAYOUT})")
        return
    modality, channel, emotion, intensity, statement, _rep, actor = m.groups()
    reasons = []
    if modality != "03":
        reasons.append(f"modality {modality!r} is not audio-only (03)")
    if channel not in CHANNELS:
        reasons.append(f"unknown vocal channel {channel!r} (01 speech, 02 song)")
    if emotion not in EMOTIONS:
        reasons.append(f"unknown emotion label {emotion!r} (RAVDESS codes: {', '.join(EMOTIONS)})")
    if intensity not in ("01", "02"):
        reasons.append(f"unknown intensity {intensity!r} (01 normal, 02 strong)")
    if statement not in STATEMENTS:
        reasons.append(f"unknown statement {statement!r} (01, 02)")
    if not 1 <= int(actor) <= 24:
        reasons.append(f"unknown actor {actor!r} (01-24)")
    folder = path.parent.name
    if folder.startswith("Actor_") and folder != f"Actor_{actor}":
        reasons.append(f"actor {actor} in folder {folder}")
    if reasons:
        col.problem(path, "; ".join(reasons))
        return
    if vocal_channel != "all" and CHANNELS[channel] != vocal_channel:
        col.exclude(path, f"vocal channel {CHANNELS[channel]} (vocal_channel={vocal_channel!r})")
        return
    col.add(path.stem, path, speaker=actor, emotion=EMOTIONS[emotion], language="en", text=STATEMENTS[statement],
            gender="male" if int(actor) % 2 else "female")
