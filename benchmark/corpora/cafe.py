"""CaFE (Canadian French Emotional speech dataset; Gournay, Lahaie & Lefebvre, 2018), Canadian French.

Layout (the published ``CaFE_48k`` or ``CaFE_192k`` archive; folder names are
the French emotions and intensities, often mangled by the zip encoding, so
only the file names are trusted)::

    <root>/Colère/Faible/01-C-1-1.wav     actor 01, emotion C, intensity 1, sentence 1
    <root>/Colère/Fort/01-C-2-1.wav
    <root>/Neutre/01-N-1-1.wav

Twelve actors (odd numbers male, even female), six sentences, emotions:
C (colère) angry, D (dégoût) disgust, J (joie) happy, N (neutre) neutral,
P (peur) fear, S surprise, T (tristesse) sad; intensity 1 weak (faible),
2 strong (fort). Point ``root`` at one of the two sample-rate folders: both
together give duplicate ids.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora._common import ClassesArg, Collector, corpus_root, finish, iter_audio, strict_options
from benchmark.manifest import OnError, SkipReport

CORPUS = "cafe"
LAYOUT = ("<root>/<Émotion>/[Faible|Fort/]<actor>-<emotion>-<intensity>-<sentence>.wav, "
          "e.g. Colère/Faible/01-C-1-1.wav")

EMOTIONS = {"C": "angry", "D": "disgust", "J": "happy", "N": "neutral", "P": "fear", "S": "surprise", "T": "sad"}
SENTENCES = {
    "1": "Un cheval fou dans mon jardin",
    "2": "Deux ânes aigris au pelage brun",
    "3": "Trois cygnes aveugles au bord du lac",
    "4": "Quatre vieilles truies éléphantesques",
    "5": "Cinq pumas fiers et passionnés",
    "6": "Six ours aimants domestiqués",
}
NAME = re.compile(r"^(\d\d)-([A-Za-z])-(\d)-(\d)$")


@CORPORA.register(CORPUS)
@strict_options
def load_cafe(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
              classes: ClassesArg = None, progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load CaFE from ``root`` (``CaFE_48k/`` or ``CaFE_192k/``)."""
    base = corpus_root(root, CORPUS, LAYOUT)
    col = Collector(CORPUS, base)
    for path in iter_audio(base, (".wav", ".aiff", ".aif")):
        _add(col, path)
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, progress=progress)


def _add(col: Collector, path: Path) -> None:
    m = NAME.match(path.stem)
    if not m:
        col.problem(path, f"file name does not follow CaFE's scheme ({LAYOUT})")
        return
    actor, code, intensity, sentence = m.groups()
    code = code.upper()
    reasons = []
    if code not in EMOTIONS:
        reasons.append(f"unknown emotion label {code!r} (CaFE codes: {', '.join(EMOTIONS)})")
    if not 1 <= int(actor) <= 12:
        reasons.append(f"unknown actor {actor!r} (01-12)")
    if intensity not in ("1", "2"):
        reasons.append(f"unknown intensity {intensity!r} (1 weak, 2 strong)")
    if sentence not in SENTENCES:
        reasons.append(f"unknown sentence {sentence!r} (1-6)")
    if reasons:
        col.problem(path, "; ".join(reasons))
        return
    col.add(f"{actor}-{code}-{intensity}-{sentence}", path, speaker=actor, emotion=EMOTIONS[code], language="fr",
            text=SENTENCES[sentence], gender="male" if int(actor) % 2 else "female")
