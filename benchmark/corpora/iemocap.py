"""IEMOCAP (Busso et al., 2008), English dyadic sessions.

Layout (``IEMOCAP_full_release``)::

    <root>/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt
        "[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]"
    <root>/Session1/dialog/transcriptions/Ses01F_impro01.txt
        "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me."
    <root>/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav
    ... Session2 .. Session5

Labels (majority vote of the evaluators): neu neutral, hap happy, exc excited,
ang angry, sad sad, fru frustrated, sur surprise, fea fear, dis disgust,
oth other; ``xxx`` (no majority) is never a class and is always excluded.

Speaker: the utterance's last id field starts with the speaker's gender, so
``Ses01F_impro01_M003`` is the *male* actor of Session 1 (``iemocap_Ses01M``),
whoever leads the dialog. ``session`` is ``Session1`` .. ``Session5``.

Class sets: by default every majority-labelled utterance is kept.
``classes="core4"`` keeps neutral/happy/angry/sad (4,490 utterances);
with ``merge_excited=True`` excited counts as happy first (the common
5,531-utterance setup). Utterances outside ``classes`` are excluded and listed
in the SkipReport with their label, never dropped silently.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora._common import ClassesArg, Collector, corpus_root, finish, iter_audio, read_text, strict_options
from benchmark.manifest import OnError, SkipReport

CORPUS = "iemocap"
LAYOUT = ("<root>/Session1..5/dialog/EmoEvaluation/*.txt, dialog/transcriptions/*.txt and "
          "sentences/wav/<dialog>/<utterance>.wav")

LABELS = {"neu": "neutral", "hap": "happy", "exc": "excited", "ang": "angry", "sad": "sad",
          "fru": "frustrated", "sur": "surprise", "fea": "fear", "dis": "disgust", "oth": "other"}
NO_MAJORITY = "xxx"
EVAL_LINE = re.compile(r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\t(\S+)\t(\S+)\t\[.*\]\s*$")
TRANSCRIPT_LINE = re.compile(r"^(Ses\d\d[FM]_\S+) \[[\d.]+-[\d.]+\]:(.*)$")
UTT = re.compile(r"^Ses(\d\d)([FM])_(.+)_([FM])\w*$")


@CORPORA.register(CORPUS)
@strict_options
def load_iemocap(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
                 classes: ClassesArg = None, merge_excited: bool = False,
                 dialogs: Literal["all", "improvised", "scripted"] = "all",
                 progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load IEMOCAP from ``root`` (the folder holding ``Session1 .. Session5``).

    ``merge_excited`` relabels excited as happy before ``classes`` applies;
    ``dialogs`` keeps improvised or scripted dialogs only (others are excluded
    and reported).
    """
    base = corpus_root(root, CORPUS, LAYOUT)
    col = Collector(CORPUS, base)
    sessions = sorted(p for p in base.glob("Session[1-5]") if p.is_dir())
    if not sessions:
        col.problem(str(base), f"no Session1..Session5 folders (expected layout: {LAYOUT})")
    for session in sessions:
        _load_session(col, session, merge_excited, dialogs)
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, require_text=True,
                  progress=progress)


def _load_session(col: Collector, session: Path, merge_excited: bool, dialogs: str) -> None:
    eval_dir = session / "dialog" / "EmoEvaluation"
    wav_dir = session / "sentences" / "wav"
    if not eval_dir.is_dir():
        col.problem(eval_dir, "EmoEvaluation folder not found")
        return
    labelled: set[str] = set()
    for eval_file in sorted(p for p in eval_dir.glob("*.txt") if not p.name.startswith(".")):
        dialog = eval_file.stem
        texts = _read_transcripts(col, session / "dialog" / "transcriptions" / f"{dialog}.txt")
        for lineno, line in enumerate(read_text(eval_file).splitlines(), start=1):
            if not line.startswith("["):
                continue  # header, blank and per-evaluator ("C-E2: ...") lines
            entry = f"{col.name(eval_file)} line {lineno}"
            m = EVAL_LINE.match(line)
            if not m:
                col.problem(entry, f"cannot parse {line.strip()[:80]!r}")
                continue
            start, end, utt, label = m.groups()
            labelled.add(utt)
            _add(col, entry, session, wav_dir, utt, label, float(end) - float(start), texts, merge_excited,
                 dialogs)
    if wav_dir.is_dir():
        for path in iter_audio(wav_dir):
            if path.stem not in labelled:
                col.exclude(path, "no EmoEvaluation entry for this wav")


def _add(col: Collector, entry: str, session: Path, wav_dir: Path, utt: str, label: str, duration: float,
         texts: dict[str, str], merge_excited: bool, dialogs: str) -> None:
    m = UTT.match(utt)
    if not m:
        col.problem(entry, f"utterance id {utt!r} does not follow Ses<NN><F|M>_<dialog>_<F|M><NNN>")
        return
    number, _lead, _rest, gender = m.groups()
    if label == NO_MAJORITY:
        col.exclude_utt(utt, "no majority label (xxx)")
        return
    if label not in LABELS:
        col.problem(entry, f"{utt}: unknown emotion label {label!r} (IEMOCAP labels: {', '.join(LABELS)}, xxx)")
        return
    kind = "improvised" if "_impro" in utt else "scripted"
    if dialogs != "all" and kind != dialogs:
        col.exclude_utt(utt, f"{kind} dialog (dialogs={dialogs!r})")
        return
    emotion = LABELS[label]
    if merge_excited and emotion == "excited":
        emotion = "happy"
    dialog = utt.rsplit("_", 1)[0]
    col.add(utt, wav_dir / dialog / f"{utt}.wav", speaker=f"Ses{number}{gender}", emotion=emotion, language="en",
            text=texts.get(utt), duration_s=duration, session=session.name,
            gender="female" if gender == "F" else "male")


def _read_transcripts(col: Collector, path: Path) -> dict[str, str]:
    """Utterance id -> transcript; a missing file leaves its utterances without text (reported by validation)."""
    if not path.is_file():
        col.problem(path, "transcription file not found")
        return {}
    texts = {}
    for line in read_text(path).splitlines():
        m = TRANSCRIPT_LINE.match(line.strip())
        if m:
            texts[m.group(1)] = m.group(2).strip()
    return texts
