"""EmoDB (Berlin Database of Emotional Speech; Burkhardt et al., 2005), German.

Layout (the published ``download.zip``)::

    <root>/wav/03a01Fa.wav     speaker 03, text a01, emotion F, version a
    <root>/lablaut/ ... silb/ ...   (not read)

File name: 2-digit speaker, 3-character text code, 1 emotion letter (German
initials), 1 version letter. Speakers and texts are the ten of the corpus
documentation. Emotions: W (Ärger) angry, L (Langeweile) boredom,
E (Ekel) disgust, A (Angst) fear, F (Freude) happy, T (Trauer) sad, N neutral.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora._common import ClassesArg, Collector, corpus_root, finish, iter_audio, strict_options
from benchmark.manifest import OnError, SkipReport

CORPUS = "emodb"
LAYOUT = "<root>/wav/<spk><text><emotion><version>.wav, e.g. wav/03a01Fa.wav"

EMOTIONS = {"W": "angry", "L": "boredom", "E": "disgust", "A": "fear", "F": "happy", "T": "sad", "N": "neutral"}
SPEAKER_GENDER = {
    "03": "male", "08": "female", "09": "female", "10": "male", "11": "male",
    "12": "male", "13": "female", "14": "female", "15": "male", "16": "female",
}
TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Za-z])([a-z])$")


@CORPORA.register(CORPUS)
@strict_options
def load_emodb(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
               classes: ClassesArg = None, progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load EmoDB from ``root`` (the folder holding ``wav/``)."""
    base = corpus_root(root, CORPUS, LAYOUT)
    wav_dir = base / "wav"
    col = Collector(CORPUS, base)
    if not wav_dir.is_dir():
        col.problem("wav/", f"folder not found (expected layout: {LAYOUT})")
    else:
        for path in iter_audio(wav_dir):
            _add(col, path)
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, progress=progress)


def _add(col: Collector, path: Path) -> None:
    m = NAME.match(path.stem)
    if not m:
        col.problem(path, f"file name does not follow EmoDB's <spk><text><emotion><version> scheme ({LAYOUT})")
        return
    speaker, text_code, code, _version = m.groups()
    reasons = []
    if code not in EMOTIONS:
        reasons.append(f"unknown emotion label {code!r} (EmoDB codes: {', '.join(EMOTIONS)})")
    if speaker not in SPEAKER_GENDER:
        reasons.append(f"unknown speaker {speaker!r} (EmoDB speakers: {', '.join(SPEAKER_GENDER)})")
    if text_code not in TEXTS:
        reasons.append(f"unknown text code {text_code!r} (EmoDB texts: {', '.join(TEXTS)})")
    if reasons:
        col.problem(path, "; ".join(reasons))
        return
    col.add(path.stem, path, speaker=speaker, emotion=EMOTIONS[code], language="de", text=TEXTS[text_code],
            gender=SPEAKER_GENDER[speaker])
