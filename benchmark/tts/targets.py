"""Training targets of the TTS acoustic model, per utterance of a manifest (the log-mel of
:mod:`benchmark.features`, 10 ms hop):

- **phonemes**: eSpeak NG's canonical transcription of the text
  (:func:`benchmark.tts.phonemes.phonemize`) between a leading and a trailing
  silence token.
- **durations** (frames per phoneme): from phoneme timings. ``alignment="stored"``
  reads the timings stored beside each wav (:mod:`benchmark.phoneme_timings`: the
  embedded corpus writes them; any corpus may, in the same ``<wav>.json``
  ``alignment`` format) and maps them onto the canonical sequence. Frame ``t``
  (centred at ``t * 10 ms``) belongs to the phoneme whose interval holds its centre,
  so the durations, silences included, sum exactly to the utterance's mel frame count.
  ``alignment="espeak_scaled"`` is the fallback for corpora without
  alignments: eSpeak's own timings of the text, stretched linearly onto the
  span of speech found in the recording (energy above ``trim_top_db`` below
  the peak). It knows nothing about the speaker's actual rhythm, so phoneme
  boundaries are only roughly right. ``alignment="pocketsphinx"`` (English)
  force-aligns the transcript with PocketSphinx (:mod:`benchmark.tts.alignment`);
  docs/tts-metrics.md compares both with the true timings.
- **pitch**: WORLD F0 (DIO + StoneMask, 10 ms, cached per file) -> log F0,
  averaged over each phoneme's voiced frames; phonemes without a voiced frame
  (silences, unvoiced consonants) take the value interpolated between their
  neighbours. **energy**: log of the frame's mel power, averaged per phoneme.
  Both are z-scored with training statistics (:func:`compute_stats`; the
  z-scoring itself is :func:`benchmark.tts.batching.encode`).

:func:`prepare` builds the raw targets (:class:`Utterance`) of every row and
names each row it cannot build them for.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from benchmark.errors import ConfigError, EmobenchError, ManifestError
from benchmark.espeak import Espeak, espeak_voice
from benchmark.features.base import FeatureConfig
from benchmark.features.spectral import LogMelConfig
from benchmark.phoneme_timings import phoneme_timings
from benchmark.tts.phonemes import (
    CANONICAL_PITCH, CANONICAL_RANGE, CANONICAL_RATE, CANONICAL_WORDGAP, align_to_canonical, phonemize,
)
from benchmark.tts.synthesize import Stats


class WorldF0Config(FeatureConfig):
    """Cache key of the per-frame WORLD F0 (cached with the features, by file content)."""

    name: Literal["world_f0"] = "world_f0"
    frame_period_ms: float = 10.0
    # DIO's voicing decision depends on its range: at 60-600 Hz it misses whole utterances of the
    # embedded corpus that 50-800 Hz tracks (the range the TTS prosody scoring uses too).
    f0_floor: float = 50.0
    f0_ceil: float = 800.0


def world_f0(path: str, config: WorldF0Config | None = None) -> np.ndarray:
    """Per-frame F0 in Hz (0 = unvoiced) by DIO + StoneMask, cached by file content."""
    import pyworld

    from benchmark.audio import load_audio
    from benchmark.features.cache import cached_for_file

    config = config or WorldF0Config()

    def compute() -> np.ndarray:
        x = load_audio(path, config.sample_rate).astype(np.float64)
        raw, t = pyworld.dio(x, config.sample_rate, f0_floor=config.f0_floor, f0_ceil=config.f0_ceil,
                             frame_period=config.frame_period_ms)
        return pyworld.stonemask(x, raw, t, config.sample_rate).astype(np.float32)

    return cached_for_file(path, config, compute)


def frame_boundary(t_s: float, hop_s: float) -> int:
    """Index of the first frame whose centre (``index * hop``) is at or after ``t_s``."""
    return max(0, math.ceil(t_s / hop_s - 1e-6))


def durations_from_spans(spans: list[tuple[float, float]], n_frames: int, hop_s: float) -> np.ndarray:
    """Frames per token of ``[start silence] + spans + [end silence]``, summing to ``n_frames``.

    Token ``i`` owns the frames from its start to the next token's start (the
    last phoneme: to its end); gaps between stored intervals go to the token
    before them.
    """
    starts = [frame_boundary(s, hop_s) for s, _ in spans]
    end = frame_boundary(spans[-1][1], hop_s)
    bounds = np.minimum(np.array([0] + starts + [end, n_frames]), n_frames)
    bounds = np.maximum.accumulate(bounds)
    return np.diff(bounds).astype(np.int64)


def stored_spans(path: str, symbols: list[str]) -> list[tuple[float, float]]:
    """Canonical-symbol spans from the timings stored beside the audio (ManifestError if none)."""
    timings = phoneme_timings(path)
    if timings.empty:
        raise ManifestError(str(path), ["the stored phoneme alignment is empty"])
    stored = [(str(p), float(s), float(e)) for p, s, e in timings[["phoneme", "start_s", "end_s"]].itertuples(
        index=False)]
    return align_to_canonical(symbols, stored, source=str(path))


def espeak_scaled_spans(text: str, language: str, mel: np.ndarray, hop_s: float,
                        trim_top_db: float) -> list[tuple[float, float]]:
    """eSpeak's own timings of ``text`` stretched onto the speech span of the recording."""
    synth = Espeak.get().synthesize(text, espeak_voice(language), rate=CANONICAL_RATE, pitch=CANONICAL_PITCH,
                                    pitch_range=CANONICAL_RANGE, wordgap=CANONICAL_WORDGAP)
    starts = np.array([t for _, t in synth.phoneme_starts])
    total = len(synth.audio) / synth.sample_rate
    ends = np.append(starts[1:], total)
    energy = np.log(np.exp(mel).sum(axis=1) + 1e-10)
    speech = np.flatnonzero(energy > energy.max() - trim_top_db / (10 / np.log(10)))
    t0, t1 = speech[0] * hop_s, speech[-1] * hop_s + hop_s
    first, last = starts[0], ends[-1]
    scale = (t1 - t0) / max(last - first, 1e-6)
    return [(float(t0 + (s - first) * scale), float(t0 + (e - first) * scale)) for s, e in zip(starts, ends)]


def per_token_mean(values: np.ndarray, durations: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Mean of frame ``values`` per token (only ``valid`` frames); tokens without any are interpolated."""
    valid = np.ones(len(values), bool) if valid is None else valid
    bounds = np.concatenate([[0], np.cumsum(durations)])
    out = np.full(len(durations), np.nan)
    for i in range(len(durations)):
        seg = slice(bounds[i], bounds[i + 1])
        ok = valid[seg]
        if ok.any():
            out[i] = values[seg][ok].mean()
    have = np.flatnonzero(~np.isnan(out))
    if len(have) == 0:
        return out
    return np.interp(np.arange(len(out)), have, out[have])


@dataclass
class Utterance:
    """Training targets of one utterance (raw, not yet normalised)."""

    utt_id: str
    speaker: str
    language: str
    symbols: list[str]  # canonical phonemes, without the two silences
    durations: np.ndarray  # (N + 2,) frames, silences included
    log_f0: np.ndarray  # (N + 2,)
    energy: np.ndarray  # (N + 2,)
    mel: np.ndarray  # (frames, n_mels) raw log-mel


def prepare(rows: pd.DataFrame, alignment: str = "stored", mel_config: LogMelConfig | None = None,
            trim_top_db: float = 35.0, progress: bool = True) -> list[Utterance]:
    """Targets of every manifest row. Rows without text, timings or voiced frames raise, naming the row."""
    from benchmark.features import extract_features

    mel_config = mel_config or LogMelConfig()
    if mel_config.hop_length * 1000 % mel_config.sample_rate:
        raise ConfigError("the TTS model needs a log-mel hop of a whole number of milliseconds")
    hop_s = mel_config.hop_length / mel_config.sample_rate
    f0_config = WorldF0Config(sample_rate=mel_config.sample_rate, frame_period_ms=hop_s * 1000)
    problems = [f"row {i + 1} ({r.utt_id}): no transcript (text is empty or missing)"
                for i, r in enumerate(rows.itertuples()) if not isinstance(r.text, str) or not r.text.strip()]
    if problems:
        raise ManifestError("TTS training manifest", problems)
    mels = extract_features(rows, mel_config, progress=progress)
    out, problems = [], []
    for i, r in enumerate(tqdm(list(rows.itertuples()), desc="TTS targets", unit="utt", disable=not progress)):
        try:
            symbols = phonemize(r.text, r.language)
            mel = mels[r.utt_id]
            if alignment == "stored":
                spans = stored_spans(r.path, symbols)
            elif alignment == "pocketsphinx":   # English forced alignment (benchmark.tts.alignment)
                from benchmark.tts.alignment import pocketsphinx_spans

                spans = pocketsphinx_spans(r.path, r.text, symbols, r.language)
            else:
                spans = espeak_scaled_spans(r.text, r.language, mel, hop_s, trim_top_db)
            durations = durations_from_spans(spans, len(mel), hop_s)
            f0 = world_f0(r.path, f0_config)
            f0 = np.pad(f0, (0, max(0, len(mel) - len(f0))))[: len(mel)]
            voiced = f0 > 0
            if not voiced.any():
                raise EmobenchError("no voiced frame (WORLD F0), so no pitch target")
            log_f0 = per_token_mean(np.log(np.where(voiced, f0, 1.0)), durations, voiced)
            energy = per_token_mean(np.log(np.exp(mel).sum(axis=1) + 1e-6), durations)
            out.append(Utterance(r.utt_id, r.speaker, r.language, symbols, durations, log_f0, energy, mel))
        except ManifestError as exc:
            problems += [f"row {i + 1} ({r.utt_id}): {p}" for p in exc.problems]
        except EmobenchError as exc:
            problems.append(f"row {i + 1} ({r.utt_id}, {r.path}): {exc}")
    if problems:
        raise ManifestError("TTS training manifest", problems)
    return out


def compute_stats(utts: list[Utterance], embeddings: np.ndarray | None) -> Stats:
    mel = np.concatenate([u.mel for u in utts])
    pitch = np.concatenate([u.log_f0[1:-1] for u in utts])
    energy = np.concatenate([u.energy for u in utts])
    emb = embeddings if embeddings is not None else np.zeros((1, 0))
    return Stats(mel.mean(0), np.maximum(mel.std(0), 1e-3), float(pitch.mean()), max(float(pitch.std()), 1e-3),
                 float(energy.mean()), max(float(energy.std()), 1e-3), emb.mean(0),
                 np.maximum(emb.std(0), 1e-6) if len(emb) > 1 else np.ones(emb.shape[1]))
