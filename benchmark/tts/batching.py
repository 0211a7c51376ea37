"""Batches of the TTS acoustic model's training: targets -> normalised arrays -> padded tensors.

:func:`encode` z-scores an utterance's targets (:mod:`benchmark.tts.targets`) with the
training statistics and maps its phonemes to ids; :func:`collate` pads a list of them
into a :class:`Batch`. Batches group utterances of similar length (less padding):
:func:`length_groups` shuffles, sorts chunks of eight batches by length, cuts and
shuffles again, all from the epoch's random generator, so an epoch's batches are a
function of the seed and the epoch. The training loops' batch makers draw in one fixed
order per epoch (every group first, then each batch's random windows), which is what
keeps the trained weights those of earlier versions for a seed:

- :func:`acoustic_batches`: whole-model batches, each with the random decoder windows
  of its utterances (``crop_frames``);
- :func:`variance_batches`: the emotion fine-tuning's phoneme-level batches, built from
  the frozen encoder's cached outputs;
- :func:`decoder_windows`: the decoder fine-tuning's frame-level batches, random windows
  of the cached frame vectors and of the target mel.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from benchmark.tts.acoustic import crop_frames as crop_frames_fn
from benchmark.tts.phonemes import PhonemeInventory
from benchmark.tts.synthesize import Stats
from benchmark.tts.targets import Utterance


@dataclass
class Batch:
    """Padded tensors of a list of :class:`Encoded` utterances."""

    phonemes: torch.Tensor  # (B, N) ids, 0 = padding
    speakers: torch.Tensor  # (B,)
    emotion: torch.Tensor | None  # (B, emotion_dim)
    durations: torch.Tensor  # (B, N)
    pitch: torch.Tensor  # (B, N) normalised
    energy: torch.Tensor  # (B, N) normalised
    mel: torch.Tensor  # (B, T, n_mels) normalised, zero-padded


@dataclass
class Encoded:
    """One utterance's model inputs and normalised targets (numpy; :func:`collate` makes tensors)."""

    ids: np.ndarray
    speaker: int
    emotion: np.ndarray | None
    durations: np.ndarray
    pitch: np.ndarray
    energy: np.ndarray
    mel: np.ndarray


def encode(utts: list[Utterance], inventory: PhonemeInventory, speakers: list[str], stats: Stats,
           embeddings: np.ndarray | None) -> list[Encoded]:
    """Phoneme ids, speaker index and targets z-scored with ``stats`` (``embeddings[k]``: utterance k's)."""
    out = []
    for k, u in enumerate(utts):
        ids = np.asarray(inventory.encode(u.language, u.symbols), dtype=np.int64)
        emo = None if embeddings is None else ((embeddings[k] - stats.emb_mean) / stats.emb_std).astype(np.float32)
        out.append(Encoded(ids, speakers.index(u.speaker), emo, u.durations,
                           ((u.log_f0 - stats.pitch_mean) / stats.pitch_std).astype(np.float32),
                           ((u.energy - stats.energy_mean) / stats.energy_std).astype(np.float32),
                           ((u.mel - stats.mel_mean) / stats.mel_std).astype(np.float32)))
    return out


def collate(items: list[Encoded]) -> Batch:
    """The items zero-padded to the longest phoneme sequence and the longest mel."""
    n = max(len(e.ids) for e in items)
    t = max(len(e.mel) for e in items)
    b = len(items)
    ids = torch.zeros(b, n, dtype=torch.long)
    dur = torch.zeros(b, n, dtype=torch.long)
    pitch, energy = torch.zeros(b, n), torch.zeros(b, n)
    mel = torch.zeros(b, t, items[0].mel.shape[1])
    for i, e in enumerate(items):
        k = len(e.ids)
        ids[i, :k] = torch.from_numpy(e.ids)
        dur[i, :k] = torch.from_numpy(e.durations)
        pitch[i, :k] = torch.from_numpy(e.pitch)
        energy[i, :k] = torch.from_numpy(e.energy)
        mel[i, : len(e.mel)] = torch.from_numpy(e.mel)
    return Batch(ids, torch.tensor([e.speaker for e in items]), _stacked_emotions(items), dur, pitch, energy, mel)


def length_groups(lengths: list[int], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """Shuffled index groups of similar lengths (less padding): sort shuffled chunks by length, cut, shuffle."""
    order = rng.permutation(len(lengths))
    chunk = batch_size * 8
    groups = []
    for c in range(0, len(order), chunk):
        part = sorted(order[c:c + chunk], key=lambda i: lengths[i])
        groups += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [groups[j] for j in rng.permutation(len(groups))]


def length_batches(items: list[Encoded], batch_size: int, rng: np.random.Generator) -> list[Batch]:
    """Shuffled batches of similar lengths (less padding): sort shuffled chunks by length, cut, shuffle."""
    return [collate([items[i] for i in g]) for g in length_groups([len(e.mel) for e in items], batch_size, rng)]


Crop = tuple[torch.Tensor, int]  # (start frame per utterance, window length): the decoder's windows


@dataclass
class CroppedBatch:
    """A batch and its decoder windows (None: whole utterances) with the target mel cut to them."""

    batch: Batch
    crop: Crop | None
    mel: torch.Tensor  # (B, window or T, n_mels)


def crop_windows(batch: Batch, crop_frames: int | None, rng: np.random.Generator) -> CroppedBatch:
    """One random window of ``crop_frames`` frames per utterance (none when the batch is shorter)."""
    mel = batch.mel
    if crop_frames is None or crop_frames >= mel.shape[1]:
        return CroppedBatch(batch, None, mel)
    totals = batch.durations.sum(dim=1)
    starts = torch.from_numpy(np.array([rng.integers(0, max(int(t) - crop_frames, 0) + 1)
                                        for t in totals.numpy()]))
    mel, _, _ = crop_frames_fn(mel, totals[:, None] <= torch.arange(mel.shape[1])[None, :],
                               torch.zeros(mel.shape[:2]), starts, crop_frames)
    return CroppedBatch(batch, (starts, crop_frames), mel)


def acoustic_batches(items: list[Encoded], batch_size: int, crop_frames: int | None,
                     rng: np.random.Generator) -> Iterator[CroppedBatch]:
    """An epoch of the acoustic model's training: every group drawn first, then each batch's windows."""
    for batch in length_batches(items, batch_size, rng):
        yield crop_windows(batch, crop_frames, rng)


@dataclass
class VarianceBatch:
    """Phoneme-level targets of the variance predictors, over the frozen encoder's outputs."""

    x: torch.Tensor  # (B, N, d_model) encoder outputs
    pad: torch.Tensor  # (B, N) True on padding
    durations: torch.Tensor  # (B, N) frames (float)
    pitch: torch.Tensor  # (B, N)
    energy: torch.Tensor  # (B, N)
    emotion: torch.Tensor | None  # (B, emotion_dim)


def variance_batches(items: list[Encoded], encoded: list[torch.Tensor], batch_size: int,
                     rng: np.random.Generator) -> Iterator[VarianceBatch]:
    """An epoch of the emotion fine-tuning: groups of similar phoneme counts, padded."""
    for idx in length_groups([len(e.ids) for e in items], batch_size, rng):
        n = max(len(items[i].ids) for i in idx)
        x = torch.zeros(len(idx), n, encoded[0].shape[1])
        dur, pitch, energy = torch.zeros(len(idx), n), torch.zeros(len(idx), n), torch.zeros(len(idx), n)
        pad = torch.ones(len(idx), n, dtype=torch.bool)
        for r, i in enumerate(idx):
            k = len(items[i].ids)
            x[r, :k], pad[r, :k] = encoded[i], False
            dur[r, :k] = torch.from_numpy(items[i].durations).float()
            pitch[r, :k] = torch.from_numpy(items[i].pitch)
            energy[r, :k] = torch.from_numpy(items[i].energy)
        emotion = _stacked_emotions([items[i] for i in idx])
        yield VarianceBatch(x, pad, dur, pitch, energy, emotion)


Frames = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # per utterance: frame vectors, relative position, condition


@dataclass
class DecoderBatch:
    """Random windows of the decoder's inputs (frame vectors) and of the target mel."""

    h: torch.Tensor  # (B, W, d_model)
    pad: torch.Tensor  # (B, W) True on padding
    rel: torch.Tensor  # (B, W) relative position within the phoneme
    mel: torch.Tensor  # (B, W, n_mels) normalised target
    cond: torch.Tensor  # (B, d_model) the speaker's (and base emotion's) condition
    emotion: torch.Tensor | None  # (B, emotion_dim)


def decoder_windows(items: list[Encoded], frames: list[Frames], batch_size: int, crop: int | None,
                    rng: np.random.Generator) -> Iterator[DecoderBatch]:
    """An epoch of the decoder fine-tuning: groups of similar frame counts, one random window each."""
    lengths = [len(e.mel) for e in items]
    d = frames[0][0].shape[1]
    for idx in length_groups(lengths, batch_size, rng):
        window = min(crop or max(lengths[i] for i in idx), max(lengths[i] for i in idx))
        h = torch.zeros(len(idx), window, d)
        rel = torch.zeros(len(idx), window)
        mel = torch.zeros(len(idx), window, items[0].mel.shape[1])
        pad = torch.ones(len(idx), window, dtype=torch.bool)
        for r, i in enumerate(idx):
            start = int(rng.integers(0, max(lengths[i] - window, 0) + 1))
            k = min(window, lengths[i] - start)
            h[r, :k], rel[r, :k] = frames[i][0][start:start + k], frames[i][1][start:start + k]
            mel[r, :k], pad[r, :k] = torch.from_numpy(items[i].mel[start:start + k]), False
        cond = torch.stack([frames[i][2] for i in idx])
        yield DecoderBatch(h, pad, rel, mel, cond, _stacked_emotions([items[i] for i in idx]))


def _stacked_emotions(items: list[Encoded]) -> torch.Tensor | None:
    """The batch's normalised emotion embeddings (None when the model has no emotion input)."""
    emotions = [e.emotion for e in items if e.emotion is not None]
    return torch.from_numpy(np.stack(emotions)) if emotions else None
