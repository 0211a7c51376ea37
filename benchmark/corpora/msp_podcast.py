"""MSP-Podcast (Lotfian & Busso, 2019), English podcast segments.

Layout (releases 1.x)::

    <root>/Labels/labels_consensus.csv   FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set
    <root>/Audios/MSP-PODCAST_0001_0008.wav      (``Audio/`` in older releases)
    <root>/Transcripts/MSP-PODCAST_0001_0008.txt (optional)

``labels_concensus.csv`` (the older spelling) and ``labels_consensus.json``
are read too. EmoClass: A angry, S sad, H happy, U surprise, F fear,
D disgust, C contempt, N neutral, O other; X (no consensus) is never a class
and is always excluded. ``split`` from Split_Set: Train -> train,
Development -> val, Test1 -> test1, Test2 -> test2, Test3 -> test3.
SpkrID ``Unknown`` becomes the single pseudo-speaker ``msp_podcast_unknown``
(conservative for speaker-disjoint protocols: those segments stay together).
With ``Transcripts/`` present every segment needs a non-empty transcript
(``use_transcripts=False`` ignores them).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora._common import ClassesArg, Collector, corpus_root, finish, iter_audio, read_text, strict_options
from benchmark.errors import ManifestError
from benchmark.manifest import OnError, SkipReport

CORPUS = "msp_podcast"
LAYOUT = "<root>/Labels/labels_consensus.csv, <root>/Audios/*.wav, optional <root>/Transcripts/*.txt"

EMOTIONS = {"A": "angry", "S": "sad", "H": "happy", "U": "surprise", "F": "fear", "D": "disgust",
            "C": "contempt", "N": "neutral", "O": "other"}
NO_CONSENSUS = "X"
SPLITS = {"Train": "train", "Development": "val", "Test1": "test1", "Test2": "test2", "Test3": "test3"}
COLUMNS = ("FileName", "EmoClass", "SpkrID", "Gender", "Split_Set")
LABEL_FILES = ("labels_consensus.csv", "labels_concensus.csv", "labels_consensus.json", "labels_concensus.json")


@CORPORA.register(CORPUS)
@strict_options
def load_msp_podcast(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
                     classes: ClassesArg = None, use_transcripts: bool = True,
                     progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load MSP-Podcast from ``root`` (the folder holding ``Labels/`` and ``Audios/``)."""
    base = corpus_root(root, CORPUS, LAYOUT)
    col = Collector(CORPUS, base)
    labels = _read_labels(base)
    audio_dir = next((base / d for d in ("Audios", "Audio") if (base / d).is_dir()), base / "Audios")
    transcript_dir = base / "Transcripts"
    with_text = use_transcripts and transcript_dir.is_dir()
    for i, row in enumerate(labels.to_dict("records"), start=2):  # line 1 is the header
        _add(col, row, f"Labels line {i}", audio_dir, transcript_dir if with_text else None)
    listed = set(labels["FileName"])
    if audio_dir.is_dir():
        for path in iter_audio(audio_dir):
            if path.name not in listed:
                col.exclude(path, "not listed in the labels file")
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, require_text=with_text,
                  progress=progress)


def _read_labels(base: Path) -> pd.DataFrame:
    path = next((base / "Labels" / n for n in LABEL_FILES if (base / "Labels" / n).is_file()), None)
    if path is None:
        raise ManifestError(str(base / "Labels"), [f"none of {', '.join(LABEL_FILES)} found (layout: {LAYOUT})"])
    if path.suffix == ".json":
        data = json.loads(read_text(path))
        table = pd.DataFrame([{"FileName": name, **fields} for name, fields in data.items()])
    else:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ManifestError(str(path), [f"missing column {c!r}" for c in missing])
    return table.astype({c: str for c in COLUMNS})


def _add(col: Collector, row: dict, entry: str, audio_dir: Path, transcript_dir: Path | None) -> None:
    name, label = row["FileName"].strip(), row["EmoClass"].strip()
    entry = f"{entry} ({name})"
    if label == NO_CONSENSUS:
        col.exclude_utt(Path(name).stem, "no consensus label (X)")
        return
    reasons = []
    if label not in EMOTIONS:
        reasons.append(f"unknown emotion label {label!r} (MSP-Podcast EmoClass: {', '.join(EMOTIONS)}, X)")
    split = SPLITS.get(row["Split_Set"].strip())
    if split is None:
        reasons.append(f"unknown Split_Set {row['Split_Set']!r} (expected {', '.join(SPLITS)})")
    if reasons:
        col.problem(entry, "; ".join(reasons))
        return
    speaker = row["SpkrID"].strip()
    speaker = "unknown" if speaker.lower() in ("unknown", "", "nan") else speaker
    gender = row["Gender"].strip().lower()
    stem = Path(name).stem
    text = None
    if transcript_dir is not None:
        transcript = transcript_dir / f"{stem}.txt"
        # A missing transcript stays None: validation then reports "missing transcript" for this row.
        text = " ".join(read_text(transcript).split()) if transcript.is_file() else None
    col.add(stem, audio_dir / name, speaker=speaker, emotion=EMOTIONS[label], language="en", text=text,
            gender=gender if gender in ("female", "male") else None, split=split)
