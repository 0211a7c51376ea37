"""The split stage of a TTS evaluation: training rows, held-out sentences, the sample synthesized.

Whole **sentences** are held out (every recording of them), so the model never hears a
test text; they are drawn (seeded) among those whose phonemes all occur in the training
sentences (:func:`split_sentences`). The judge is measured on every held-out recording
(features only, cheap), the systems on a seeded sample of at most ``max_test_utterances``
(:func:`heldout_split`). Each synthesized row is conditioned on a reference of the same
speaker and emotion but another sentence (:func:`pick_references`), and the report's
showcase sentence is chosen here too (:func:`showcase_choice`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.errors import ConfigError


@dataclass
class HeldOutSplit:
    """The rows of one (corpus, seed) TTS evaluation."""

    train: pd.DataFrame  # the training sentences' recordings
    heldout: pd.DataFrame  # every recording of the held-out sentences (the judge is measured on them)
    test: pd.DataFrame  # the held-out recordings synthesized (a seeded sample of ``heldout``)


def split_sentences(rows: pd.DataFrame, n_heldout: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) rows: ``n_heldout`` whole sentences held out, all their phonemes covered by the rest."""
    from benchmark.tts.phonemes import phonemize

    texts = sorted(rows["text"].unique())
    if len(texts) <= n_heldout:
        raise ConfigError(f"TTS evaluation: {len(texts)} distinct sentences cannot hold out {n_heldout} "
                          f"and still train on the rest")
    language = rows["language"].iloc[0]
    symbols = {t: set(phonemize(t, language)) for t in texts}
    order = np.random.default_rng(seed).permutation(len(texts))
    heldout: list[str] = []
    for i in order:
        candidate = texts[i]
        rest = set().union(*(symbols[t] for t in texts if t != candidate and t not in heldout))
        if symbols[candidate] <= rest:
            heldout.append(candidate)
        if len(heldout) == n_heldout:
            break
    if len(heldout) < n_heldout:
        raise ConfigError(f"TTS evaluation: only {len(heldout)} sentences can be held out with every phoneme "
                          f"still in training; ask for fewer")
    test = rows["text"].isin(heldout)
    return rows[~test].reset_index(drop=True), rows[test].reset_index(drop=True)


def heldout_split(manifest: pd.DataFrame, language: str, heldout_sentences: int, max_test_utterances: int | None,
                  seed: int) -> HeldOutSplit:
    """One language's rows with transcripts, split by sentence; the synthesized sample drawn from the held out."""
    rows = manifest[(manifest["language"] == language) & manifest["text"].notna()]
    rows = rows[rows["text"].astype(str).str.strip() != ""].reset_index(drop=True)
    if rows.empty:
        raise ConfigError(f"TTS evaluation: no utterances with transcripts in language {language!r}")
    train, heldout = split_sentences(rows, heldout_sentences, seed)
    test = heldout
    if max_test_utterances and len(heldout) > max_test_utterances:
        keep = np.random.default_rng(seed).choice(len(heldout), max_test_utterances, replace=False)
        test = heldout.iloc[np.sort(keep)].reset_index(drop=True)
    return HeldOutSplit(train, heldout, test)


def trained_emotions(train: pd.DataFrame) -> list[str]:
    """The emotions of the training rows, in the label set's order."""
    from benchmark.labels import EMOTIONS

    present = set(train["emotion"])
    return [e for e in EMOTIONS if e in present]


def pick_references(test: pd.DataFrame, train: pd.DataFrame, seed: int) -> tuple[list[str | None], list[str]]:
    """A conditioning reference per test row: a training recording of the same speaker and emotion.

    Returns (paths, problems); a row without any candidate gets None and a
    problem line (it is not synthesized, and the result says so).
    """
    rng = np.random.default_rng(seed)
    groups = {k: list(g["path"]) for k, g in train.groupby(["speaker", "emotion"])}
    paths: list[str | None] = []
    problems: list[str] = []
    for r in test.itertuples():
        candidates = [p for p in groups.get((r.speaker, r.emotion), []) if p != r.path]
        if not candidates:
            paths.append(None)
            problems.append(f"{r.utt_id}: no other recording of speaker {r.speaker} in emotion {r.emotion} "
                            f"to use as the reference")
        else:
            paths.append(candidates[int(rng.integers(len(candidates)))])
    return paths, problems


def showcase_choice(split: HeldOutSplit, emotions: list[str]) -> tuple[str, str]:
    """The held-out (sentence, speaker) for the mel figure: recorded in every emotion if any pair is.

    Chosen among every held-out recording (not only the synthesized sample, which rarely holds one
    sentence of one speaker in all emotions), preferring, in turn: the most emotions recorded, a
    speaker with a training recording in every emotion (each system is conditioned on one), a pair in
    the synthesized sample; ties by sentence and speaker name.
    """
    wanted = set(emotions)
    recorded = split.heldout[split.heldout["emotion"].isin(wanted)]
    counts = recorded.groupby(["text", "speaker"])["emotion"].nunique().rename("recorded").reset_index()
    trained = split.train[split.train["emotion"].isin(wanted)].groupby("speaker")["emotion"].nunique()
    counts["conditioned"] = counts["speaker"].map(trained).fillna(0).astype(int)
    sampled = set(zip(split.test["text"], split.test["speaker"]))
    counts["sampled"] = [(t, sp) in sampled for t, sp in zip(counts["text"], counts["speaker"])]
    counts = counts.sort_values(["recorded", "conditioned", "sampled", "text", "speaker"],
                                ascending=[False, False, False, True, True])
    best = counts.iloc[0]
    return str(best["text"]), str(best["speaker"])
