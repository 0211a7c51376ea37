"""Synthetic speakers: an eSpeak NG voice variant plus personal prosody baselines.

A speaker is a voice variant (formants, glottal source, base pitch: eSpeak's
``+m3``, ``+f2``, ``+Annie``, ...) with its own pitch level, pitch range and
speaking rate (eSpeak parameters), loudness and spectral tilt. Emotions are
rendered *relative to* these baselines (see ``prosody.py``), so a lively
speaker's neutral can sound like a calm speaker's happy: speaker identity
confounds emotion, as in real corpora. Speakers are recorded in sessions
(one female and one male per session, IEMOCAP style); a session fixes the
channel (see ``channel.py``).
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

from benchmark.espeak import ESPEAK_VOICES


# eSpeak NG variants that sound like a plausible adult voice (no robots,
# whispers or effects). Each language draws its own speakers from these pools.
MALE_VARIANTS: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "Denis", "Diogo", "Henrique",
                                  "Hugo", "michel", "miguel", "sandro", "travis", "victor", "antonio")
FEMALE_VARIANTS: tuple[str, ...] = ("f1", "f2", "f3", "f4", "f5", "Alicia", "Andrea", "Annie", "anika", "aunty",
                                    "belinda", "linda", "steph")
MAX_SPEAKERS_PER_LANGUAGE = 2 * min(len(MALE_VARIANTS), len(FEMALE_VARIANTS))

# Typical eSpeak rate (words per minute) per language. Mandarin counts
# syllables, and eSpeak's cmn default is slow, so it gets a higher base.
BASE_RATE: dict[str, float] = {"en": 175, "de": 170, "fr": 180, "es": 185, "it": 180, "zh": 235}


def rng_for(seed: int, *keys: object) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``keys`` (stable across runs and processes).

    Every random choice of the corpus (a speaker, a session, an utterance)
    has its own stream, so an utterance renders the same whatever else is in
    the corpus and in whichever process it is rendered.
    """
    digest = hashlib.sha256(repr(keys).encode()).digest()
    words = np.frombuffer(digest[:16], dtype="<u4")
    return np.random.default_rng([seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF, *words.tolist()])


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker and their personal baselines."""

    speaker_id: str
    language: str
    gender: str
    variant: str
    session: str
    pitch: float  # eSpeak pitch, 0-99 (50 = the variant's own)
    pitch_range: float  # eSpeak range, 0-99 (50 = the variant's own)
    rate: float  # words per minute
    gain_db: float  # personal loudness
    tilt_db: float  # personal voice brightness (+: tenser, -: darker)
    breath: float  # personal breathiness (aspiration noise relative to the voice)

    @property
    def voice(self) -> str:
        """The eSpeak voice name, e.g. ``"de+m3"``."""
        return f"{ESPEAK_VOICES[self.language]}+{self.variant}"

    def to_dict(self) -> dict:
        return asdict(self)


def make_speakers(language: str, n_speakers: int, n_sessions: int, seed: int) -> list[Speaker]:
    """The ``n_speakers`` speakers of ``language``, alternating female/male, grouped into sessions.

    Speaker ``i`` is the same person whatever ``n_speakers`` is (a bigger
    corpus adds speakers, it does not change the existing ones).
    """
    if not 1 <= n_speakers <= MAX_SPEAKERS_PER_LANGUAGE:
        raise ValueError(f"n_speakers must be 1..{MAX_SPEAKERS_PER_LANGUAGE}, not {n_speakers}")
    pools = rng_for(seed, "variants", language)
    female = [FEMALE_VARIANTS[i] for i in pools.permutation(len(FEMALE_VARIANTS))]
    male = [MALE_VARIANTS[i] for i in pools.permutation(len(MALE_VARIANTS))]
    per_session = -(-n_speakers // n_sessions)  # ceil: consecutive speakers share a session
    speakers = []
    for i in range(n_speakers):
        gender = "female" if i % 2 == 0 else "male"
        variant = (female if gender == "female" else male)[i // 2]
        rng = rng_for(seed, "speaker", language, i)
        speakers.append(Speaker(
            speaker_id=f"embedded_{language}_{i:02d}",
            language=language,
            gender=gender,
            variant=variant,
            session=f"embedded_{language}_session{i // per_session + 1}",
            # Kept inside 25-75 so that emotional shifts still fit eSpeak's 0-99 scales.
            pitch=float(np.clip(rng.normal(50, 6), 30, 70)),
            pitch_range=float(np.clip(rng.normal(50, 10), 25, 75)),
            rate=float(BASE_RATE[language] * np.exp(rng.normal(0, 0.08))),
            gain_db=float(rng.normal(0, 2.0)),
            tilt_db=float(rng.normal(0, 1.5)),
            breath=float(rng.uniform(0.0, 0.04)),
        ))
    return speakers
