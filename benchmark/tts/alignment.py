"""Forced alignment of English recordings with PocketSphinx, and the boundary error of any alignment.

Real corpora ship no phoneme timings, so the TTS model's duration targets need
an aligner. ``alignment="pocketsphinx"`` (:class:`benchmark.tts.train.TTSTrainConfig`)
force-aligns the transcript with PocketSphinx (``pocketsphinx`` package: its
US-English acoustic model and CMU dictionary ship in the wheel, nothing is
downloaded): a first pass decodes the recording constrained to the
transcript's words, a second (``set_alignment``) gives word and ARPAbet phone
boundaries at 10 ms resolution.

The TTS model's symbols are eSpeak NG's canonical phonemes, words separated by
the boundary symbol ``_`` (:func:`benchmark.tts.phonemes.phonemize`), not
ARPAbet. They are mapped word by word: each word's eSpeak phonemes share the
word's aligned span, split at the aligned phone boundaries (exactly, where the
two transcriptions have as many phonemes; otherwise at the same relative
positions along the word's phone boundaries); a ``_`` spans the gap between
its two words (zero where they touch). When eSpeak and the transcript disagree
on the number of words (numbers, abbreviations), the whole utterance is mapped
that way as one word.

:func:`boundary_errors_ms` compares an alignment with the true timings
(the embedded corpus stores them): perf/bench_alignment.py measures
PocketSphinx against ``espeak_scaled`` with it.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.errors import ConfigError, EmobenchError
from benchmark.tts.phonemes import WORD_BOUNDARY

SAMPLE_RATE = 16000
FRAME_S = 0.01           # PocketSphinx's frame rate: 100 frames per second
SILENCES = {"SIL", "<sil>", "[NOISE]", "+SPN+", "+NSN+"}
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class AlignedWord:
    word: str
    start_s: float
    end_s: float
    phones: tuple[tuple[str, float, float], ...]   # ARPAbet phone, start, end


def transcript_words(text: str) -> list[str]:
    """The words PocketSphinx aligns: lower case, punctuation dropped (apostrophes kept)."""
    return _WORD.findall(text.lower().replace("’", "'"))


# Search beams of the decoder: PocketSphinx's defaults first; a recording whose constrained search loses the
# transcript's path (fast, expressive speech) is aligned again with wide beams (slower, same model).
BEAMS: tuple[dict[str, float], ...] = ({}, {"beam": 1e-100, "wbeam": 1e-80, "pbeam": 1e-100})


class PocketsphinxAligner:
    """PocketSphinx decoders (US-English model from the wheel), reused for every recording."""

    def __init__(self) -> None:
        self._decoders: dict[int, Any] = {}

    def _decoder(self, level: int) -> Any:
        if level not in self._decoders:
            try:
                from pocketsphinx import Decoder
            except ImportError as exc:
                raise ConfigError(f"alignment 'pocketsphinx' needs the pocketsphinx package ({exc}); run ./setup.sh"
                                  ) from None
            self._decoders[level] = Decoder(samprate=SAMPLE_RATE, bestpath=False, loglevel="FATAL", **BEAMS[level])
        return self._decoders[level]

    @property
    def decoder(self) -> Any:
        return self._decoder(0)

    def align(self, path: str, text: str) -> list[AlignedWord]:
        """Word and phone boundaries of ``text`` in the recording ``path`` (silences left out)."""
        from benchmark.audio import load_audio

        words = transcript_words(text)
        if not words:
            raise EmobenchError(f"{path}: transcript {text!r} has no words to align")
        unknown = [w for w in words if self.decoder.lookup_word(w) is None]
        if unknown:
            raise EmobenchError(f"{path}: word(s) {unknown} are not in PocketSphinx's English dictionary, so "
                                "the transcript cannot be force-aligned")
        audio = load_audio(path, SAMPLE_RATE)
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16).tobytes()
        problem = ""
        for level in range(len(BEAMS)):
            try:
                out = self._align_once(self._decoder(level), pcm, words)
            except RuntimeError as exc:   # the constrained search lost the transcript's path
                problem = str(exc)
                continue
            if [w.word for w in out] == words:
                return out
            problem = f"aligned {[w.word for w in out]}, not the transcript {words}"
        raise EmobenchError(f"{path}: PocketSphinx could not align {text!r} ({problem})")

    @staticmethod
    def _align_once(d: Any, pcm: bytes, words: list[str]) -> list[AlignedWord]:
        d.set_align_text(" ".join(words))
        for second_pass in (False, True):   # words first, then phones within them
            if second_pass:
                d.set_alignment()
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
        alignment = d.get_alignment()
        if alignment is None:
            raise RuntimeError("no alignment found")
        out = []
        for w in alignment:
            if w.name in SILENCES:
                continue
            phones = tuple((p.name, p.start * FRAME_S, (p.start + p.duration) * FRAME_S) for p in w)
            word = re.sub(r"\(\d+\)$", "", w.name)   # an alternative pronunciation: every(2) -> every
            out.append(AlignedWord(word, w.start * FRAME_S, (w.start + w.duration) * FRAME_S, phones))
        return out


def _split(start: float, bounds: Sequence[float], n: int) -> list[tuple[float, float]]:
    """``n`` consecutive spans over ``[start] + bounds`` (phone ends): at the phone boundaries when there are
    as many phones as spans, else at the same relative positions along them."""
    edges = np.array([start, *bounds], dtype=float)
    cuts = np.interp(np.linspace(0, len(edges) - 1, n + 1), np.arange(len(edges)), edges)
    return [(float(a), float(b)) for a, b in zip(cuts[:-1], cuts[1:])]


def map_to_symbols(words: Sequence[AlignedWord], symbols: Sequence[str]) -> list[tuple[float, float]]:
    """Spans of the canonical eSpeak ``symbols`` (``_`` between words) from PocketSphinx's words and phones."""
    groups: list[list[int]] = [[]]
    for i, s in enumerate(symbols):
        if s == WORD_BOUNDARY:
            groups.append([])
        else:
            groups[-1].append(i)
    groups = [g for g in groups if g]
    if not groups:
        raise EmobenchError("no phonemes to align")
    if len(groups) != len(words):   # eSpeak's words are not the transcript's: one word over the utterance
        phones = [p for w in words for p in w.phones]
        merged = AlignedWord(" ".join(w.word for w in words), words[0].start_s, words[-1].end_s, tuple(phones))
        groups, words = [[i for g in groups for i in g]], [merged]
    spans: list[tuple[float, float] | None] = [None] * len(symbols)
    for group, word in zip(groups, words):
        for i, span in zip(group, _split(word.start_s, [end for _, _, end in word.phones], len(group))):
            spans[i] = span
    for i in range(len(symbols)):   # a word boundary spans the gap between its neighbours
        if spans[i] is None:
            ends = [s[1] for s in spans[:i] if s is not None]
            starts = [s[0] for j, s in enumerate(spans[i + 1:], i + 1) if s is not None and symbols[j] != WORD_BOUNDARY]
            before = ends[-1] if ends else words[0].start_s
            spans[i] = (before, max(before, starts[0] if starts else before))
    return [s for s in spans if s is not None]


_ALIGNER: PocketsphinxAligner | None = None


def pocketsphinx_spans(path: str, text: str, symbols: Sequence[str], language: str = "en") -> list[tuple[float, float]]:
    """Spans of the canonical ``symbols`` of ``text`` in the recording ``path``, by PocketSphinx (English only)."""
    global _ALIGNER
    if language != "en":
        raise ConfigError(f"alignment 'pocketsphinx' has an English model only; {path} is {language!r} "
                          "(use alignment 'espeak_scaled' or stored timings)")
    if _ALIGNER is None:
        _ALIGNER = PocketsphinxAligner()
    return map_to_symbols(_ALIGNER.align(path, text), symbols)


def boundary_errors_ms(predicted: Sequence[tuple[float, float]], true: Sequence[tuple[float, float]],
                       symbols: Sequence[str]) -> np.ndarray:
    """|predicted - true| in ms of every phoneme boundary: each phoneme's start (word-boundary symbols left out:
    they last ~0 s in fluent speech) and the last phoneme's end."""
    if not (len(predicted) == len(true) == len(symbols)):
        raise EmobenchError(f"alignments of different lengths: {len(predicted)} predicted, {len(true)} true, "
                            f"{len(symbols)} symbols")
    keep = [i for i, s in enumerate(symbols) if s != WORD_BOUNDARY]
    pred = np.array([predicted[i][0] for i in keep] + [predicted[keep[-1]][1]])
    ref = np.array([true[i][0] for i in keep] + [true[keep[-1]][1]])
    return 1000 * np.abs(pred - ref)
