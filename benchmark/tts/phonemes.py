"""Phonemes for the TTS model: text -> eSpeak NG phoneme symbols -> ids.

The front end is eSpeak NG itself (the binding in
:mod:`benchmark.espeak`): a text is rendered once with the
language's default voice and the phoneme *events* are kept, so the symbols are
exactly those of the embedded corpus's stored timings (eSpeak mnemonics with
stress marks, e.g. ``'eI``, and pause symbols ``_``, ``_:``, ``_!``). The
canonical sequence is rendered with a word gap, which makes eSpeak emit a
pause symbol ``_`` at every word boundary; the model predicts a duration for
each, near zero for fluent speech and longer for speech with pauses between
words (the embedded corpus's sad speech). :func:`align_to_canonical` maps a
stored alignment, rendered with or without word gaps, onto that sequence.

A :class:`PhonemeInventory` maps ``language:symbol`` to ids (0 is padding,
1 and 2 the leading and trailing silence); symbols are namespaced by
language because eSpeak reuses mnemonics across languages for different
sounds. An unknown symbol raises :class:`UnknownPhonemeError` naming it:
the model has no embedding for it, and guessing would silently mispronounce.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from benchmark.errors import ConfigError, EmobenchError
from benchmark.espeak import Espeak, espeak_voice

PAD, BOS, EOS = "<pad>", "<sil:start>", "<sil:end>"
SPECIALS = (PAD, BOS, EOS)
WORD_BOUNDARY = "_"
# Settings of the canonical rendering: eSpeak's neutral rate and pitch, a word gap of 10 ms
# (the smallest), which inserts the word-boundary symbol without changing any other phoneme.
CANONICAL_RATE, CANONICAL_PITCH, CANONICAL_RANGE, CANONICAL_WORDGAP = 175, 50, 50, 1


class UnknownPhonemeError(EmobenchError):
    """A phoneme symbol that the inventory (the trained model) has never seen."""


@lru_cache(maxsize=4096)
def _canonical(text: str, voice: str) -> tuple[str, ...]:
    synth = Espeak.get().synthesize(text, voice, rate=CANONICAL_RATE, pitch=CANONICAL_PITCH,
                                    pitch_range=CANONICAL_RANGE, wordgap=CANONICAL_WORDGAP)
    return tuple(sym for sym, _ in synth.phoneme_starts)


def phonemize(text: str, language: str, voice: str | None = None) -> list[str]:
    """The canonical eSpeak phoneme symbols of ``text`` (word boundaries as ``_``), without silences."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"phonemize: empty text for language {language!r}")
    symbols = list(_canonical(text.strip(), voice or espeak_voice(language)))
    if not symbols:
        raise EmobenchError(f"eSpeak NG produced no phonemes for {text!r} ({language})")
    return symbols


def align_to_canonical(canonical: Sequence[str], stored: Sequence[tuple[str, float, float]],
                       source: str = "alignment") -> list[tuple[float, float]]:
    """(start, end) seconds for every canonical symbol, from a stored alignment of the same text.

    The stored alignment may come from a rendering with or without word gaps:
    canonical symbols missing from it (word-boundary pauses) get zero length at
    the point where they would be; stored symbols missing from the canonical
    sequence (eSpeak's linking ``r-`` and ``;``, which it drops before a pause)
    give their time to the canonical symbol before them. Anything else that
    differs means the alignment belongs to another text or eSpeak version,
    and raises an error naming ``source``.
    """
    stored_syms = [s for s, _, _ in stored]
    if not stored_syms:
        raise EmobenchError(f"{source}: the phoneme alignment is empty")
    spans: list[list[float]] = [[0.0, 0.0] for _ in canonical]
    matcher = difflib.SequenceMatcher(a=list(canonical), b=stored_syms, autojunk=False)
    cursor = stored[0][1]
    last = -1  # the canonical index that extra stored time goes to
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                _, start, end = stored[j1 + k]
                spans[i1 + k] = [start, end]
                cursor, last = end, i1 + k
            continue
        extra_canon = list(canonical[i1:i2])
        extra_stored = stored_syms[j1:j2]
        if any(s != WORD_BOUNDARY for s in extra_canon) or any(
                s not in (";", "r-", WORD_BOUNDARY) for s in extra_stored):
            raise EmobenchError(
                f"{source}: stored phonemes {extra_stored} do not match eSpeak's transcription {extra_canon} "
                f"of the text (another text, or another eSpeak NG version?)")
        for k in range(i1, i2):
            spans[k] = [cursor, cursor]
        if j2 > j1:
            end = stored[j2 - 1][2]
            if last >= 0:
                spans[last][1] = end
                for k in range(last + 1, i2):  # zero-length boundaries after it move along
                    spans[k] = [end, end]
            else:  # nothing before: the first canonical symbol after the block starts earlier
                cursor = stored[j1][1]
                for k in range(i1, i2):
                    spans[k] = [cursor, cursor]
                continue
            cursor = end
    return [(a, b) for a, b in spans]


@dataclass
class PhonemeInventory:
    """``language:symbol`` <-> id; ids 0-2 are padding and the two silences."""

    symbols: list[str] = field(default_factory=lambda: list(SPECIALS))

    def __post_init__(self) -> None:
        if tuple(self.symbols[:3]) != SPECIALS:
            raise ConfigError(f"phoneme inventory must start with {SPECIALS}, got {self.symbols[:3]}")
        self._ids = {s: i for i, s in enumerate(self.symbols)}
        if len(self._ids) != len(self.symbols):
            raise ConfigError("phoneme inventory has duplicate symbols")

    def __len__(self) -> int:
        return len(self.symbols)

    @staticmethod
    def key(language: str, symbol: str) -> str:
        return f"{language}:{symbol}"

    def add(self, language: str, symbols: Sequence[str]) -> None:
        for sym in symbols:
            k = self.key(language, sym)
            if k not in self._ids:
                self._ids[k] = len(self.symbols)
                self.symbols.append(k)

    def languages(self) -> list[str]:
        return sorted({s.split(":", 1)[0] for s in self.symbols[3:]})

    def encode(self, language: str, symbols: Sequence[str], text: str | None = None) -> list[int]:
        """Ids of ``[start silence] + symbols + [end silence]``; unknown symbols raise, naming them."""
        unknown = [s for s in symbols if self.key(language, s) not in self._ids]
        if unknown:
            where = f" in {text!r}" if text else ""
            known = sorted(s.split(":", 1)[1] for s in self.symbols[3:] if s.startswith(f"{language}:"))
            raise UnknownPhonemeError(
                f"phoneme(s) {sorted(set(unknown))} ({language}){where} are not in the model's inventory "
                f"(trained {language} symbols: {' '.join(known) or 'none: language not trained'})")
        return [self._ids[BOS]] + [self._ids[self.key(language, s)] for s in symbols] + [self._ids[EOS]]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps({"symbols": self.symbols}, ensure_ascii=False, indent=0))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "PhonemeInventory":
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict) or not isinstance(data.get("symbols"), list):
            raise ConfigError(f"{path}: not a phoneme inventory (expected {{'symbols': [...]}})")
        return cls([str(s) for s in data["symbols"]])
