"""EMOVO (Costantini et al., LREC 2014), Italian.

Layout (the published archive)::

    <root>/f1/dis-f1-b1.wav      emotion dis, actor f1, sentence b1
    <root>/f2/ ... f3/ ... m1/ ... m2/ ... m3/

Six actors (f1-f3 female, m1-m3 male), fourteen sentences (b1-b3, l1-l4,
n1-n5 nonsense, d1-d2 questions; texts from the corpus documentation),
seven emotions: dis disgust, gio (gioia) happy, neu neutral, pau (paura) fear,
rab (rabbia) angry, sor (sorpresa) surprise, tri (tristezza) sad.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora._common import ClassesArg, Collector, corpus_root, finish, iter_audio, strict_options
from benchmark.manifest import OnError, SkipReport

CORPUS = "emovo"
LAYOUT = "<root>/<actor>/<emotion>-<actor>-<sentence>.wav, e.g. f1/dis-f1-b1.wav"

EMOTIONS = {"dis": "disgust", "gio": "happy", "neu": "neutral", "pau": "fear", "rab": "angry",
            "sor": "surprise", "tri": "sad"}
ACTOR_GENDER = {"f1": "female", "f2": "female", "f3": "female", "m1": "male", "m2": "male", "m3": "male"}
SENTENCES = {
    "b1": "Gli operai si alzano presto.",
    "b2": "I vigili sono muniti di pistola.",
    "b3": "La cascata fa molto rumore.",
    "l1": "L'autunno prossimo Tony partirà per la Spagna nella prima metà di ottobre.",
    "l2": "Ora prendo la felpa di là ed esco per fare una passeggiata.",
    "l3": "Un attimo dopo s'è incamminato... ed è inciampato.",
    "l4": "Vorrei il numero telefonico del Signor Piatti.",
    "n1": "La casa forte vuole col pane.",
    "n2": "La forza trova il passo e l'aglio rosso.",
    "n3": "Il gatto sta scorrendo nella pera.",
    "n4": "Insalata pastasciutta coscia d'agnello limoncello.",
    "n5": "Uno quarantatré dieci mille cinquantasette venti.",
    "d1": "Sabato sera cosa farà?",
    "d2": "Porti con te quella cosa?",
}
NAME = re.compile(r"^([a-z]+)-([a-z]\d)-([a-z]\d)$")


@CORPORA.register(CORPUS)
@strict_options
def load_emovo(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
               classes: ClassesArg = None, progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load EMOVO from ``root`` (the folder holding ``f1/ ... m3/``)."""
    base = corpus_root(root, CORPUS, LAYOUT)
    col = Collector(CORPUS, base)
    for path in iter_audio(base):
        _add(col, path)
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, progress=progress)


def _add(col: Collector, path: Path) -> None:
    stem = path.stem.lower()  # a few copies carry upper-case names
    m = NAME.match(stem)
    if not m:
        col.problem(path, f"file name does not follow EMOVO's scheme ({LAYOUT})")
        return
    emotion, actor, sentence = m.groups()
    reasons = []
    if emotion not in EMOTIONS:
        reasons.append(f"unknown emotion label {emotion!r} (EMOVO codes: {', '.join(EMOTIONS)})")
    if actor not in ACTOR_GENDER:
        reasons.append(f"unknown actor {actor!r} (EMOVO actors: {', '.join(ACTOR_GENDER)})")
    if sentence not in SENTENCES:
        reasons.append(f"unknown sentence code {sentence!r} (EMOVO sentences: {', '.join(SENTENCES)})")
    if reasons:
        col.problem(path, "; ".join(reasons))
        return
    col.add(stem, path, speaker=actor, emotion=EMOTIONS[emotion], language="it", text=SENTENCES[sentence],
            gender=ACTOR_GENDER[actor])
