"""The synthesize stage of a TTS evaluation: the held-out texts as wavs, per system.

:func:`synthesize_test` renders every synthesized row's text for its speaker with a TTS
model (conditioned on that row's reference embedding, if the model has a conditioner) and
times it; :func:`resynthesize` renders the rows' true log-mels with the vocoder alone (the
``resynthesis`` reference: the vocoder's ceiling). The report's **showcase** is one held-out
sentence of one speaker in every emotion, as log-mels (:func:`showcase_tts`,
:func:`showcase_ground_truth`, packed by :func:`showcase_arrays`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from benchmark.features.spectral import LogMelConfig

if TYPE_CHECKING:
    from benchmark.tts.synthesize import TTSModel
    from benchmark.tts.vocoder import Vocoder


@dataclass
class Rendered:
    """The wavs of one system's synthesized rows, in the rows' order, and what they took."""

    wavs: list[Path]
    synthesis_seconds: float  # acoustic model + vocoder, wall
    audio_seconds: float

    @property
    def rtf(self) -> float:
        """Real-time factor: wall seconds per second of audio."""
        return self.synthesis_seconds / self.audio_seconds if self.audio_seconds else float("nan")


def synthesize_test(tts: TTSModel, test: pd.DataFrame, embeddings: np.ndarray | None, vocoder: Vocoder,
                    folder: Path, label: str, progress: bool) -> Rendered:
    """Row ``k``'s text for its speaker (``embeddings[k]``: its reference's), written as ``<utt_id>.wav``."""
    from benchmark.tts.synthesize import write_wav

    wavs, synth_s, audio_s = [], 0.0, 0.0
    for k, r in enumerate(tqdm(list(test.itertuples()), desc=f"TTS {label}", unit="utt", disable=not progress)):
        t0 = time.perf_counter()
        wave = vocoder(tts.mel(r.text, r.language, r.speaker, None if embeddings is None else embeddings[k]))
        synth_s += time.perf_counter() - t0
        audio_s += len(wave) / vocoder.sample_rate
        wavs.append(write_wav(folder / f"{r.utt_id}.wav", wave, vocoder.sample_rate))
    return Rendered(wavs, synth_s, audio_s)


def resynthesize(test: pd.DataFrame, mel_config: LogMelConfig, vocoder: Vocoder, folder: Path,
                 progress: bool) -> list[Path]:
    """Each row's own log-mel through the vocoder (no acoustic model), written as ``<utt_id>.wav``."""
    from benchmark.features import extract_features
    from benchmark.tts.synthesize import write_wav

    mels = extract_features(test, mel_config, progress=progress)
    return [write_wav(folder / f"{u}.wav", vocoder(mels[u]), vocoder.sample_rate)
            for u in tqdm(test["utt_id"], desc="resynthesis", unit="utt", disable=not progress)]


def showcase_ground_truth(heldout: pd.DataFrame, text: str, speaker: str, mel_config: LogMelConfig,
                          emotions: list[str]) -> dict[str, np.ndarray] | None:
    """The recorded showcase sentence's log-mels, one per emotion recorded."""
    from benchmark.features import extract_features

    rows = heldout[(heldout["text"] == text) & (heldout["speaker"] == speaker)].drop_duplicates("emotion")
    mels = extract_features(rows, mel_config, progress=False)
    by_emotion = {e: mels[u] for e, u in zip(rows["emotion"], rows["utt_id"])}
    return showcase_arrays(by_emotion, text, speaker, emotions)


def showcase_tts(tts: TTSModel, train: pd.DataFrame, text: str, language: str, speaker: str,
                 emotions: list[str], vocoder: Vocoder, folder: Path,
                 seed: int) -> tuple[dict[str, np.ndarray] | None, list[str]]:
    """The showcase sentence in every emotion, each conditioned on a training recording (drawn seeded) of
    the speaker in that emotion (a model without emotion input: one rendering, shown once per emotion);
    returns the arrays and the wavs written under ``folder``."""
    from benchmark.tts.synthesize import write_wav

    mels, samples = {}, []
    rng = np.random.default_rng(seed)
    for emotion in emotions:
        if tts.conditioner is None:
            embedding = None
        else:
            pool = train[(train["speaker"] == speaker) & (train["emotion"] == emotion)]
            if pool.empty:
                continue
            ref = str(pool["path"].iloc[int(rng.integers(len(pool)))])
            embeddings = tts.embed_references([ref])
            embedding = None if embeddings is None else embeddings[0]
        mel = tts.mel(text, language, speaker, embedding)
        mels[emotion] = mel
        path = write_wav(folder / f"{emotion}.wav", vocoder(mel), vocoder.sample_rate)
        samples.append(str(path))
    return showcase_arrays(mels, text, speaker, emotions), samples


def showcase_arrays(by_emotion: dict[str, np.ndarray], text: str, speaker: str,
                    emotions: list[str]) -> dict[str, np.ndarray] | None:
    """The arrays the report's mel figure reads (text, speaker, emotions, ``mel_<emotion>``); None if empty."""
    if not by_emotion:
        return None
    present = [e for e in emotions if e in by_emotion]
    arrays = {"text": np.array(text), "speaker": np.array(speaker), "emotions": np.array(present, dtype=str)}
    arrays.update({f"mel_{e}": np.asarray(by_emotion[e], dtype=np.float32) for e in present})
    return arrays
