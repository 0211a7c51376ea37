"""Training recipe of the TTS acoustic model: targets from a manifest, then AdamW with a schedule.

Targets per utterance (the log-mel of :mod:`benchmark.features`, 10 ms hop):

- **phonemes**: eSpeak NG's canonical transcription of the text
  (:func:`benchmark.tts.phonemes.phonemize`) between a leading and a trailing
  silence token.
- **durations** (frames per phoneme): from phoneme timings. ``alignment="stored"``
  reads the timings stored beside each wav (the embedded corpus writes them;
  any corpus may, in the same ``<wav>.json`` ``alignment`` format) and maps
  them onto the canonical sequence. Frame ``t`` (centred at ``t * 10 ms``)
  belongs to the phoneme whose interval holds its centre, so the durations,
  silences included, sum exactly to the utterance's mel frame count.
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
  Both are z-scored with training statistics.
- **emotion conditioning**: the frozen method's embedding of the utterance
  itself (z-scored per dimension), as FastSpeech 2 style models conditioned
  on reference encoders are trained; at synthesis time the reference is
  another utterance.

Optimisation (measured on the embedded corpus's English part, one CPU thread, see
``TTSTrainConfig``): AdamW with a linear warm-up and a cosine decay, and the decoder
trained on a random window of ``crop_frames`` frames of each length-regulated utterance
(VITS, EATS) while the encoder and the variance predictors see whole utterances: each step
costs less, so more of them fit the same time.

Emotion fine-tuning (:func:`finetune_tts`): a base model trained without a conditioner gets
an emotion projection into its duration, pitch and energy predictors only, and just those
are trained, from the frozen encoder's cached outputs (seconds on one thread); the decoder,
and so the spectral quality, stays the base's. ``conditioner=None`` gives the matching
no-emotion control.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from benchmark.errors import ConfigError, EmobenchError, ManifestError
from benchmark.features.base import FeatureConfig
from benchmark.features.spectral import LogMelConfig
from benchmark.methods.base import Method
from benchmark.tts.acoustic import AcousticConfig, AcousticModel, acoustic_loss, length_regulate
from benchmark.tts.acoustic import crop_frames as crop_frames_fn
from benchmark.tts.phonemes import PhonemeInventory, align_to_canonical, espeak_voice, phonemize
from benchmark.tts.synthesize import Stats, TTSModel, conditioner_embeddings


class TTSTrainConfig(BaseModel):
    """How the acoustic model is trained (every field is saved with the model)."""

    model_config = ConfigDict(extra="forbid")

    alignment: Literal["stored", "espeak_scaled", "pocketsphinx"] = "stored"
    trim_top_db: float = 35.0  # espeak_scaled: speech is where energy is within this of the peak
    # model size (AcousticConfig fields). The phoneme encoder is 2 FFT blocks with kernel 3 (FastSpeech 2:
    # 4 blocks, kernel 9): on the embedded corpus 3 blocks with kernel 5 gave the same Whisper WER at 60
    # epochs (mean of 3 seeds 0.672 either way) for a third more training time; the decoder is where
    # intelligibility is decided (README, Emotional TTS).
    d_model: int = 128
    encoder_layers: int = 2
    decoder_layers: int = 4
    kernel_size: int = 3
    decoder_kernel: int = 9
    reduction: int = 2
    # width of the duration, pitch and energy predictors (64: finetune_tts trains them in seconds)
    variance_channels: int = 64
    postnet_layers: int = 0
    dropout: float = 0.1
    decoder_dropout: float = 0.0
    mel_loss: Literal["l1", "l2"] = "l1"
    # optimisation
    # 20 epochs: Whisper WER of the held-out check equal to 60 epochs' (perf/diagnose_tts.py train-speed,
    # docs/tts.md) in a third of the time (~100 s on one quiet CPU thread for the 414 English utterances of
    # "embedded"); the learning rate is what limits fewer epochs (4e-3 was worse at 20 epochs and at 35)
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = 2e-3  # peak learning rate (AdamW)
    # "warmup_cosine": linear warm-up over warmup_fraction of the steps, then cosine decay to lr * final_lr_ratio
    lr_schedule: Literal["constant", "warmup_cosine"] = "warmup_cosine"
    warmup_fraction: float = Field(0.05, ge=0, lt=1)
    final_lr_ratio: float = Field(0.02, gt=0, le=1)
    # decode only a random window of this many frames of each length-regulated utterance per step
    # (the encoder and variance predictors still see whole utterances); None: whole utterances
    crop_frames: int | None = Field(96, ge=8)
    weight_decay: float = 0.0
    patience: int = 10  # epochs without a better validation loss before stopping (with val_fraction > 0)
    grad_clip: float | None = 1.0
    val_fraction: float = Field(0.0, ge=0, lt=0.5)  # utterances held out for early stopping
    threads: int | None = 1  # torch intra-op threads while training (None: leave as set)
    device: str = "cpu"
    seed: int = 0
    progress: bool = True


# --------------------------------------------------------------------------- targets


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
    from benchmark.corpora.embedded import phoneme_timings

    timings = phoneme_timings(path)
    if timings.empty:
        raise ManifestError(str(path), ["the stored phoneme alignment is empty"])
    stored = [(str(p), float(s), float(e)) for p, s, e in timings[["phoneme", "start_s", "end_s"]].itertuples(
        index=False)]
    return align_to_canonical(symbols, stored, source=str(path))


def espeak_scaled_spans(text: str, language: str, mel: np.ndarray, hop_s: float,
                        trim_top_db: float) -> list[tuple[float, float]]:
    """eSpeak's own timings of ``text`` stretched onto the speech span of the recording."""
    from benchmark.corpora.embedded.espeak import Espeak
    from benchmark.tts.phonemes import CANONICAL_PITCH, CANONICAL_RANGE, CANONICAL_RATE, CANONICAL_WORDGAP

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


# --------------------------------------------------------------------------- batches


@dataclass
class Batch:
    phonemes: torch.Tensor  # (B, N) ids, 0 = padding
    speakers: torch.Tensor  # (B,)
    emotion: torch.Tensor | None  # (B, emotion_dim)
    durations: torch.Tensor  # (B, N)
    pitch: torch.Tensor  # (B, N) normalised
    energy: torch.Tensor  # (B, N) normalised
    mel: torch.Tensor  # (B, T, n_mels) normalised, zero-padded


@dataclass
class Encoded:
    ids: np.ndarray
    speaker: int
    emotion: np.ndarray | None
    durations: np.ndarray
    pitch: np.ndarray
    energy: np.ndarray
    mel: np.ndarray


def encode(utts: list[Utterance], inventory: PhonemeInventory, speakers: list[str], stats: Stats,
           embeddings: np.ndarray | None) -> list[Encoded]:
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
    emo = None if items[0].emotion is None else torch.from_numpy(np.stack([e.emotion for e in items]))
    return Batch(ids, torch.tensor([e.speaker for e in items]), emo, dur, pitch, energy, mel)


def _length_groups(lengths: list[int], batch_size: int, rng: np.random.Generator) -> list[list[int]]:
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
    return [collate([items[i] for i in g]) for g in _length_groups([len(e.mel) for e in items], batch_size, rng)]


def batch_loss(model: AcousticModel, batch: Batch, crop_frames: int | None = None,
               rng: np.random.Generator | None = None,
               mel_loss: Literal["l1", "l2"] = "l1") -> tuple[torch.Tensor, dict[str, float]]:
    """The acoustic loss of a teacher-forced batch; ``crop_frames``: on one random window per utterance."""
    crop = None
    mel = batch.mel
    if crop_frames is not None and crop_frames < mel.shape[1]:
        totals = batch.durations.sum(dim=1).numpy()
        rng = rng or np.random.default_rng(0)
        starts = torch.from_numpy(np.array([rng.integers(0, max(int(t) - crop_frames, 0) + 1) for t in totals]))
        crop = (starts, crop_frames)
        mel, _, _ = crop_frames_fn(mel, batch.durations.sum(dim=1)[:, None] <= torch.arange(mel.shape[1])[None, :],
                                   torch.zeros(mel.shape[:2]), starts, crop_frames)
    out = model(batch.phonemes, batch.speakers, batch.emotion, batch.durations, batch.pitch, batch.energy,
                crop=crop)
    return acoustic_loss(out, mel, batch.durations, batch.pitch, batch.energy, batch.phonemes == 0, mel_loss)


def lr_factor(step: int, total: int, config: TTSTrainConfig) -> float:
    """Multiplier of the peak learning rate at optimiser step ``step`` (0-based) of ``total``."""
    if config.lr_schedule == "constant":
        return 1.0
    warm = int(round(config.warmup_fraction * total))
    if step < warm:
        return (step + 1) / warm
    progress = (step - warm) / max(total - warm, 1)
    lo = config.final_lr_ratio
    return lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


# --------------------------------------------------------------------------- training


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): a seeded ``fraction`` of the utterances for early stopping."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_val = int(round(n * fraction)) if n >= 20 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train_tts(rows: pd.DataFrame, conditioner: Method | None = None, config: TTSTrainConfig | None = None,
              conditioner_name: str | None = None, mel_config: LogMelConfig | None = None,
              **overrides: Any) -> TTSModel:
    """Train the acoustic model on the manifest ``rows``, conditioned on a frozen, fitted ``conditioner``.

    ``conditioner`` None trains a speaker-only model (no emotion input).
    ``overrides`` are :class:`TTSTrainConfig` fields. Returns the trained
    :class:`TTSModel` (its ``history`` holds the per-epoch losses).
    """
    from benchmark.training import seed_everything

    config = TTSTrainConfig(**{**(config or TTSTrainConfig()).model_dump(), **overrides})  # overrides validated
    if len(rows) == 0:
        raise ConfigError("train_tts: no training utterances")
    mel_config = mel_config or LogMelConfig()
    if conditioner is not None and conditioner.classes_ is None:
        raise ConfigError(f"train_tts: the conditioner {conditioner.name} must be fitted (frozen) first")
    rows = rows.reset_index(drop=True)
    seed_everything(config.seed)
    previous_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        utts = prepare(rows, config.alignment, mel_config, config.trim_top_db, config.progress)
        embeddings = None
        if conditioner is not None:
            embeddings = conditioner_embeddings(conditioner, list(rows["path"]), progress=config.progress)
        inventory = PhonemeInventory()
        for u in utts:
            inventory.add(u.language, u.symbols)
        speakers = sorted({u.speaker for u in utts})
        stats = compute_stats(utts, embeddings)
        items = encode(utts, inventory, speakers, stats, embeddings)
        train_idx, val_idx = split_validation(len(items), config.val_fraction, config.seed)
        train_items = [items[i] for i in train_idx]
        val_batches = [collate([items[i] for i in val_idx[j:j + config.batch_size]])
                       for j in range(0, len(val_idx), config.batch_size)]

        acoustic = AcousticModel(AcousticConfig(
            n_phonemes=len(inventory), n_speakers=len(speakers),
            emotion_dim=0 if embeddings is None else embeddings.shape[1], n_mels=mel_config.n_mels,
            d_model=config.d_model, encoder_layers=config.encoder_layers, decoder_layers=config.decoder_layers,
            kernel_size=config.kernel_size, decoder_kernel=config.decoder_kernel, reduction=config.reduction,
            postnet_layers=config.postnet_layers, dropout=config.dropout, decoder_dropout=config.decoder_dropout,
            variance_channels=config.variance_channels))
        history = _fit(acoustic, train_items, val_batches, config)
    finally:
        torch.set_num_threads(previous_threads)
    return TTSModel(acoustic.cpu().eval(), inventory, speakers, stats, conditioner,
                    conditioner_name or (conditioner.name if conditioner is not None else None), mel_config,
                    config.model_dump(), history)


def _fit(model: AcousticModel, train_items: list[Encoded], val_batches: list[Batch],
         config: TTSTrainConfig) -> list[dict[str, Any]]:
    """AdamW with the configured schedule; with validation batches, early stopping on the teacher-forced
    mel L1 + duration error (the best epoch's weights are kept). Returns one record per epoch."""
    from benchmark.training import TrainingError, seed_everything

    seed_everything(config.seed)
    # fused: one kernel over all parameters per step instead of a dozen small ops per tensor (CPU supports it)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    per_epoch = len(length_batches(train_items, config.batch_size, np.random.default_rng(0)))
    total = per_epoch * config.epochs
    history: list[dict[str, Any]] = []
    best_state, best, stale, step = None, -np.inf, 0, 0
    n_val = sum(len(b.speakers) for b in val_batches)
    for epoch in tqdm(range(1, config.epochs + 1), desc="tts_acoustic", unit="epoch", disable=not config.progress,
                      leave=False):
        rng = np.random.default_rng([config.seed, epoch])
        model.train()
        losses, logs = [], {}
        for batch in length_batches(train_items, config.batch_size, rng):
            for group in optimiser.param_groups:
                group["lr"] = config.lr * lr_factor(step, total, config)
            loss, step_logs = batch_loss(model, batch, config.crop_frames, rng, config.mel_loss)
            if not torch.isfinite(loss):
                raise TrainingError(f"tts_acoustic: loss is {float(loss.detach())} at epoch {epoch}, step {step}")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip:
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip, foreach=True)
                if not torch.isfinite(norm):
                    raise TrainingError(f"tts_acoustic: non-finite gradient at epoch {epoch}, step {step}")
            optimiser.step()
            step += 1
            losses.append(float(loss.detach()))
            for k, v in step_logs.items():
                logs.setdefault(k, []).append(v)
        record = {"epoch": epoch, "loss": float(np.mean(losses)), **{k: float(np.mean(v)) for k, v in logs.items()},
                  "lr": optimiser.param_groups[0]["lr"]}
        if val_batches:
            # Early stopping watches what makes speech intelligible: the teacher-forced mel L1 and the
            # duration error. Pitch and energy errors are left out: without (or with a weak) emotion
            # input they are dominated by per-utterance prosody no model can predict from text.
            model.eval()
            total_val = 0.0
            with torch.inference_mode():
                for b in val_batches:
                    _, vlogs = batch_loss(model, b)
                    total_val += (vlogs["mel_l1"] + vlogs["duration_mse"]) * len(b.speakers)
            record["val_ua"] = -total_val / n_val  # higher is better (the Trainer's name for it)
            if record["val_ua"] > best:
                best, stale = record["val_ua"], 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
        history.append(record)
        if val_batches and stale >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


# --------------------------------------------------------------------------- fine-tuning for emotion


class TTSFinetuneConfig(BaseModel):
    """How :func:`finetune_tts` adapts a base model's variance predictors (saved with the model)."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(30, ge=1)
    # large batches: the steps are cheap (phoneme level only), so fewer of them is what saves time
    batch_size: int = Field(64, ge=1)
    lr: float = Field(3e-3, gt=0)  # peak; warm-up over the first 5 % of the steps, then cosine decay
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float | None = 1.0
    seed: int = 0
    threads: int | None = 1  # torch intra-op threads while fine-tuning (None: leave as set)
    progress: bool = True
    # > 0: after the variance predictors, a frame-level stage of this many epochs lets the emotion reach
    # the decoder: a second emotion projection added to every decoder frame (AcousticConfig.emotion_decoder),
    # trained teacher-forced on random windows of the mel, together with the decoder itself when
    # decoder_modules is "decoder" (the control `none` then gets the same decoder fine-tuning without emotion)
    decoder_epochs: int = Field(0, ge=0)
    decoder_modules: Literal["projection", "decoder"] = "decoder"
    decoder_lr: float = Field(1e-3, gt=0)  # peak (warm-up + cosine as above)
    decoder_batch_size: int = Field(32, ge=1)


FINETUNED = ("emotion", "duration", "pitch", "energy")  # the modules finetune_tts trains
DECODER_MODULES = ("decoder", "mel_out", "frame_pool", "postnet")  # and, with decoder_modules="decoder", these



def _finetune_step(optimiser: torch.optim.Optimizer, loss: torch.Tensor, trained: list, grad_clip: float,
                   error: str) -> None:
    """One update of a fine-tuning loop; a non-finite loss raises ``error`` (its ``{}`` = the loss)."""
    from benchmark.training import TrainingError

    if not torch.isfinite(loss):
        raise TrainingError(error.format(float(loss.detach())))
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(trained, grad_clip)
    optimiser.step()

def finetune_tts(base: TTSModel, rows: pd.DataFrame, conditioner: Method | None,
                 config: TTSFinetuneConfig | None = None, conditioner_name: str | None = None,
                 **overrides: Any) -> TTSModel:
    """A new model: ``base`` whose duration, pitch and energy predictors also see a frozen method's embedding.

    ``base`` must have been trained without a conditioner; it is left untouched. The new model
    has an emotion projection (embedding -> d_model, zero-initialised, so it starts as ``base``)
    added to the input of the three variance predictors only (``emotion_to="variance"``: the
    decoder, and so the spectral detail, is the base's). Only that projection and the three
    predictors are trained, on the phoneme-level losses (MSE of log durations, pitch, energy)
    of ``rows``, from the base's frozen encoder outputs computed once: no frame-level pass.
    ``conditioner`` None fine-tunes the predictors the same way without emotion input (the
    matching control). The embeddings are the utterances' own (as :func:`train_tts` uses
    them), z-scored with statistics of ``rows``. ``overrides`` are
    :class:`TTSFinetuneConfig` fields.
    """
    from benchmark.tts.acoustic import masked_mean
    from benchmark.training import seed_everything

    config = TTSFinetuneConfig(**{**(config or TTSFinetuneConfig()).model_dump(), **overrides})
    if base.conditioner is not None or base.acoustic.config.emotion_dim:
        raise ConfigError(f"finetune_tts: the base model must be trained without a conditioner "
                          f"(it has {base.conditioner_name or 'an emotion input'})")
    if len(rows) == 0:
        raise ConfigError("finetune_tts: no training utterances")
    if conditioner is not None and conditioner.classes_ is None:
        raise ConfigError(f"finetune_tts: the conditioner {conditioner.name} must be fitted (frozen) first")
    unknown = sorted(set(rows["speaker"]) - set(base.speakers))
    if unknown:
        raise ConfigError(f"finetune_tts: speakers {', '.join(map(str, unknown))} are not the base model's")
    rows = rows.reset_index(drop=True)
    previous_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        seed_everything(config.seed)
        tc = base.train_config
        utts = prepare(rows, tc.get("alignment", "stored"), base.mel_config, tc.get("trim_top_db", 35.0),
                       config.progress)
        embeddings = None
        if conditioner is not None:
            embeddings = conditioner_embeddings(conditioner, list(rows["path"]), progress=config.progress)
        own = compute_stats(utts[:1], embeddings)  # only its embedding statistics are used
        stats = Stats(**{**base.stats.__dict__, "emb_mean": own.emb_mean, "emb_std": own.emb_std})
        items = encode(utts, base.inventory, base.speakers, stats, embeddings)

        acoustic_config = base.acoustic.config.model_copy(update={
            "emotion_dim": 0 if embeddings is None else embeddings.shape[1], "emotion_to": "variance",
            "emotion_decoder": bool(config.decoder_epochs and embeddings is not None)})
        AcousticConfig.model_validate(acoustic_config.model_dump())
        model = AcousticModel(acoustic_config)
        missing, unexpected = model.load_state_dict(base.acoustic.state_dict(), strict=False)
        if unexpected or any(not k.startswith(("emotion.", "emotion_dec.")) for k in missing):
            raise EmobenchError(f"finetune_tts: base weights do not fit (missing {missing}, unexpected {unexpected})")
        for projection in (model.emotion, model.emotion_dec):   # zero: the new model starts as the base
            if projection is not None:
                torch.nn.init.zeros_(projection.weight)
                torch.nn.init.zeros_(projection.bias)
        trained = [p for name, p in model.named_parameters() if name.split(".")[0] in FINETUNED]
        for name, p in model.named_parameters():
            p.requires_grad_(name.split(".")[0] in FINETUNED)

        # the frozen encoder's outputs (speaker included), once, without dropout
        model.eval()
        cached: list[torch.Tensor] = []
        with torch.inference_mode():
            for j in range(0, len(items), 32):
                b = collate(items[j:j + 32])
                x, _, _ = model.encode(b.phonemes, b.speakers)
                cached += [x[i, : len(e.ids)].clone() for i, e in enumerate(items[j:j + 32])]

        optimiser = torch.optim.AdamW(trained, lr=config.lr, weight_decay=config.weight_decay)
        schedule = TTSTrainConfig(lr=config.lr, epochs=config.epochs)  # warm-up + cosine, as train_tts
        per_epoch = len(_length_groups([len(e.ids) for e in items], config.batch_size, np.random.default_rng(0)))
        total, step, history = per_epoch * config.epochs, 0, []
        for epoch in tqdm(range(1, config.epochs + 1), desc="tts_finetune", unit="epoch",
                          disable=not config.progress, leave=False):
            rng = np.random.default_rng([config.seed, epoch])
            model.train()
            logs: dict[str, list[float]] = {}
            for idx in _length_groups([len(e.ids) for e in items], config.batch_size, rng):
                n = max(len(items[i].ids) for i in idx)
                x = torch.zeros(len(idx), n, cached[0].shape[1])
                dur, pitch, energy = torch.zeros(len(idx), n), torch.zeros(len(idx), n), torch.zeros(len(idx), n)
                pad = torch.ones(len(idx), n, dtype=torch.bool)
                for r, i in enumerate(idx):
                    k = len(items[i].ids)
                    x[r, :k], pad[r, :k] = cached[i], False
                    dur[r, :k] = torch.from_numpy(items[i].durations).float()
                    pitch[r, :k] = torch.from_numpy(items[i].pitch)
                    energy[r, :k] = torch.from_numpy(items[i].energy)
                emo = None if embeddings is None else torch.from_numpy(np.stack([items[i].emotion for i in idx]))
                for group in optimiser.param_groups:
                    group["lr"] = config.lr * lr_factor(step, total, schedule)
                log_dur, p_pred, e_pred = model.predict_variances(x, pad, emo)
                keep = ~pad
                d_loss = masked_mean((log_dur - torch.log1p(dur)) ** 2, keep)
                p_loss = masked_mean((p_pred - pitch) ** 2, keep)
                e_loss = masked_mean((e_pred - energy) ** 2, keep)
                loss = d_loss + p_loss + e_loss
                _finetune_step(optimiser, loss, trained, config.grad_clip,
                               f"tts_finetune: loss is {{}} at epoch {epoch}")
                step += 1
                for k, v in (("loss", loss), ("duration_mse", d_loss), ("pitch_mse", p_loss), ("energy_mse", e_loss)):
                    logs.setdefault(k, []).append(float(v.detach()))
            history.append({"stage": "finetune", "epoch": epoch, **{k: float(np.mean(v)) for k, v in logs.items()}})
        if config.decoder_epochs:
            history += _finetune_decoder(model, items, config, tc.get("crop_frames", 96))
        for p in model.parameters():
            p.requires_grad_(True)
        model.eval()
    finally:
        torch.set_num_threads(previous_threads)
    name = conditioner_name or (conditioner.name if conditioner is not None else None)
    train_config = {**base.train_config, "finetune": {**config.model_dump(), "conditioner": name,
                                                      "utterances": len(rows)}}
    return TTSModel(model, copy.deepcopy(base.inventory), list(base.speakers), stats, conditioner, name,
                    base.mel_config, train_config, [*base.history, *history])


def _finetune_decoder(model: AcousticModel, items: list[Encoded], config: TTSFinetuneConfig,
                      crop: int | None) -> list[dict[str, Any]]:
    """The frame-level stage of :func:`finetune_tts`: the decoder's emotion projection (and, with
    ``decoder_modules="decoder"``, the decoder) trained on the teacher-forced mel L1 of random windows.

    Everything before the decoder is frozen, so its frame vectors (true durations, pitch and energy)
    are computed once per utterance; each step then runs the decoder only."""
    from benchmark.tts.acoustic import masked_mean

    names = ("emotion_dec",) + (DECODER_MODULES if config.decoder_modules == "decoder" else ())
    trained = [p for name, p in model.named_parameters() if name.split(".")[0] in names]
    if not trained:   # the control with decoder_modules="projection": nothing to train
        return []
    for name, p in model.named_parameters():
        p.requires_grad_(name.split(".")[0] in names)
    model.eval()
    frames: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []   # (h, rel, cond) per utterance
    with torch.inference_mode():
        for j in range(0, len(items), 32):
            b = collate(items[j:j + 32])
            x, pad, cond = model.encode(b.phonemes, b.speakers)
            x = (x + model.pitch_proj(b.pitch.unsqueeze(-1)) + model.energy_proj(b.energy.unsqueeze(-1))) * (
                ~pad).unsqueeze(-1)
            h, _, rel = length_regulate(x, b.durations)
            for i, e in enumerate(items[j:j + 32]):
                frames.append((h[i, : len(e.mel)].clone(), rel[i, : len(e.mel)].clone(), cond[i].clone()))
    optimiser = torch.optim.AdamW(trained, lr=config.decoder_lr, weight_decay=config.weight_decay)
    schedule = TTSTrainConfig(lr=config.decoder_lr, epochs=config.decoder_epochs)
    lengths = [len(e.mel) for e in items]
    per_epoch = len(_length_groups(lengths, config.decoder_batch_size, np.random.default_rng(0)))
    total, step, history = per_epoch * config.decoder_epochs, 0, []
    d = frames[0][0].shape[1]
    for epoch in tqdm(range(1, config.decoder_epochs + 1), desc="tts_finetune_decoder", unit="epoch",
                      disable=not config.progress, leave=False):
        rng = np.random.default_rng([config.seed, 1000 + epoch])
        model.train()
        losses = []
        for idx in _length_groups(lengths, config.decoder_batch_size, rng):
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
            emotions = [items[i].emotion for i in idx]
            emo = None if emotions[0] is None else torch.from_numpy(np.stack([e for e in emotions if e is not None]))
            for group in optimiser.param_groups:
                group["lr"] = config.decoder_lr * lr_factor(step, total, schedule)
            out, out_pre = model.decode(h, pad, rel, model.decoder_condition(cond, emo))
            keep = (~pad).unsqueeze(-1)
            loss = masked_mean((out - mel).abs(), keep) + masked_mean((out_pre - mel).abs(), keep)
            _finetune_step(optimiser, loss, trained, config.grad_clip,
                           f"tts_finetune_decoder: loss is {{}} at epoch {epoch}")
            step += 1
            losses.append(float(loss.detach()))
        history.append({"stage": "finetune_decoder", "epoch": epoch, "mel_l1": float(np.mean(losses)) / 2})
    return history
