"""ESD (Emotional Speech Dataset; Zhou et al., 2021), Mandarin and English, parallel.

Layout (the published archive; the per-emotion ``train/evaluation/test``
sub-folders of the first release are optional)::

    <root>/0001/0001.txt                        "0001_000001<TAB>text<TAB>emotion" per line
    <root>/0001/Neutral/0001_000001.wav         (or Neutral/train/0001_000001.wav)
    <root>/0001/Angry/ ... Happy/ ... Sad/ ... Surprise/
    ...
    <root>/0020/

Speakers 0001-0010 speak Mandarin (``zh``), 0011-0020 English (``en``);
genders as in the corpus README. The emotion column of the transcript is
English for English speakers and Chinese (中立 生气 快乐 伤心 惊喜) for
Mandarin ones; it must agree with the folder. When the split sub-folders
exist, ``split`` is train / val (from ``evaluation``) / test.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora._common import (ClassesArg, Collector, corpus_root, finish, iter_audio, read_text,
                                       strict_options)
from benchmark.manifest import OnError, SkipReport

CORPUS = "esd"
LAYOUT = "<root>/<spk 0001-0020>/<spk>.txt and <root>/<spk>/<Emotion>/[train|evaluation|test/]<spk>_<nnnnnn>.wav"

FOLDER_EMOTIONS = {"Neutral": "neutral", "Angry": "angry", "Happy": "happy", "Sad": "sad", "Surprise": "surprise"}
TEXT_EMOTIONS = {**{k: v for k, v in FOLDER_EMOTIONS.items()},
                 "中立": "neutral", "生气": "angry", "快乐": "happy", "伤心": "sad", "惊喜": "surprise"}
SPLITS = {"train": "train", "evaluation": "val", "test": "test"}
SPEAKER_GENDER = {
    "0001": "female", "0002": "female", "0003": "female", "0004": "male", "0005": "male",
    "0006": "male", "0007": "female", "0008": "male", "0009": "female", "0010": "male",
    "0011": "male", "0012": "male", "0013": "male", "0014": "male", "0015": "female",
    "0016": "female", "0017": "female", "0018": "female", "0019": "female", "0020": "male",
}
UTT = re.compile(r"^(\d{4})_(\d{6})$")


@CORPORA.register(CORPUS)
@strict_options
def load_esd(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
             classes: ClassesArg = None, progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load ESD from ``root`` (the folder holding ``0001/ ... 0020/``)."""
    base = corpus_root(root, CORPUS, LAYOUT)
    col = Collector(CORPUS, base)
    speakers = sorted(p.name for p in base.iterdir() if p.is_dir() and p.name in SPEAKER_GENDER)
    for spk in speakers:
        _load_speaker(col, base / spk)
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, progress=progress)


def _load_speaker(col: Collector, spk_dir: Path) -> None:
    spk = spk_dir.name
    transcript = spk_dir / f"{spk}.txt"
    wavs = {p.stem: p for p in iter_audio(spk_dir)}
    listed: set[str] = set()
    if not transcript.is_file():
        col.problem(transcript, "transcript file not found")
        return
    # Mandarin transcripts are UTF-8 in current releases; older copies carry GB18030.
    lines = read_text(transcript, ("utf-8-sig", "gb18030")).splitlines()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        entry = f"{spk}/{transcript.name} line {lineno}"
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) != 3 or not UTT.match(parts[0].strip()) or not parts[0].startswith(spk):
            col.problem(entry, f"expected '<{spk}_nnnnnn><TAB>text<TAB>emotion', got {line.strip()[:80]!r}")
            continue
        utt, text, label = (p.strip() for p in parts)
        listed.add(utt)
        emotion = TEXT_EMOTIONS.get(label)
        if emotion is None:
            col.problem(entry, f"unknown emotion label {label!r} (ESD labels: {', '.join(TEXT_EMOTIONS)})")
            continue
        path = wavs.get(utt)
        split = None
        if path is None:
            folder = next(k for k, v in FOLDER_EMOTIONS.items() if v == emotion)
            path = spk_dir / folder / f"{utt}.wav"  # validation reports it missing, naming this path
        else:
            folder, split = _folder_and_split(path, spk_dir)
            if FOLDER_EMOTIONS.get(folder) != emotion:
                col.problem(path, f"transcript says {label!r} but the file is in folder {folder!r}")
                continue
        language = str(speaker_language(spk))   # spk is one of the 20 speakers: never None
        col.add(utt, path, speaker=spk, emotion=emotion, language=language, text=text,
                gender=SPEAKER_GENDER[spk], split=split)
    for stem, path in wavs.items():
        if stem not in listed:
            col.exclude(path, f"no line in {spk}/{transcript.name}")


def speaker_language(speaker: str) -> str | None:
    """ESD's language of a speaker id: 0001-0010 Mandarin, 0011-0020 English (None for any other id)."""
    if not speaker.isdigit():
        return None
    number = int(speaker)
    return "zh" if 1 <= number <= 10 else "en" if 11 <= number <= 20 else None


def _folder_and_split(path: Path, spk_dir: Path) -> tuple[str, str | None]:
    parts = path.relative_to(spk_dir).parts
    if len(parts) == 3 and parts[1] in SPLITS:
        return parts[0], SPLITS[parts[1]]
    return parts[0], None
