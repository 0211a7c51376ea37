"""Training of the TTS acoustic model: the base model, then its emotion fine-tuning, on the shared loop.

The targets come from :mod:`benchmark.tts.targets` (phonemes, durations, pitch, energy,
log-mel per utterance) and the batches from :mod:`benchmark.tts.batching`; every stage runs
on :class:`benchmark.training.Trainer` (the loop of the neural SER methods), with its hooks
for a learning-rate schedule, the parameters to train and AdamW's implementation. The
loop checks every loss and gradient (:class:`benchmark.training.TrainingError` names the
stage, epoch and step) and clips gradients (``grad_clip``).

Base model (:func:`train_tts`; measured on the embedded corpus's English part, one CPU
thread, see ``TTSTrainConfig``): AdamW with a linear warm-up and a cosine decay
(:func:`lr_factor`), and the decoder trained on a random window of ``crop_frames``
frames of each length-regulated utterance (VITS, EATS) while the encoder and the variance
predictors see whole utterances: each step costs less, so more of them fit the same time.
The emotion conditioning, when a conditioner is given, is the frozen method's embedding
of the utterance itself (z-scored per dimension), as FastSpeech 2 style models
conditioned on reference encoders are trained; at synthesis time the reference is
another utterance.

Emotion fine-tuning (:func:`finetune_tts`): a base model trained without a conditioner gets
an emotion projection into its duration, pitch and energy predictors only, and just those
are trained, from the frozen encoder's cached outputs (seconds on one thread); the decoder,
and so the spectral quality, stays the base's unless ``decoder_epochs`` adds the
frame-level stage. ``conditioner=None`` gives the matching no-emotion control.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field

from benchmark.errors import ConfigError, EmobenchError
from benchmark.features.spectral import LogMelConfig
from benchmark.methods.base import Method
from benchmark.training import TrainConfig, Trainer, seed_everything
from benchmark.tts.acoustic import AcousticConfig, AcousticModel, acoustic_loss, length_regulate, masked_mean
from benchmark.tts.batching import (
    Batch, CroppedBatch, DecoderBatch, Encoded, Frames, VarianceBatch, acoustic_batches, collate, decoder_windows,
    encode, length_groups, variance_batches,
)
from benchmark.tts.phonemes import PhonemeInventory
from benchmark.tts.synthesize import TTSModel, conditioner_embeddings
from benchmark.tts.targets import compute_stats, prepare


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
    patience: int = Field(10, ge=1)  # epochs without a better validation loss before stopping (with val_fraction > 0)
    grad_clip: float | None = 1.0
    val_fraction: float = Field(0.0, ge=0, lt=0.5)  # utterances held out for early stopping
    threads: int | None = 1  # torch intra-op threads while training (None: leave as set)
    device: str = "cpu"
    seed: int = 0
    progress: bool = True


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


def _scheduler(total: int, config: TTSTrainConfig):
    """The Trainer's scheduler hook: each group's peak ``lr`` times :func:`lr_factor` at every step."""
    def build(optimiser: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        return torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: lr_factor(step, total, config))
    return build


def batch_loss(model: AcousticModel, batch: Batch | CroppedBatch,
               mel_loss: Literal["l1", "l2"] = "l1") -> tuple[torch.Tensor, dict[str, float]]:
    """The acoustic loss of a teacher-forced batch (a :class:`CroppedBatch`: on its decoder windows)."""
    cropped = batch if isinstance(batch, CroppedBatch) else CroppedBatch(batch, None, batch.mel)
    b = cropped.batch
    out = model(b.phonemes, b.speakers, b.emotion, b.durations, b.pitch, b.energy, crop=cropped.crop)
    return acoustic_loss(out, cropped.mel, b.durations, b.pitch, b.energy, b.phonemes == 0, mel_loss)


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): a seeded ``fraction`` of the utterances for early stopping."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_val = int(round(n * fraction)) if n >= 20 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


# --------------------------------------------------------------------------- the base model


def train_tts(rows: pd.DataFrame, conditioner: Method | None = None, config: TTSTrainConfig | None = None,
              conditioner_name: str | None = None, mel_config: LogMelConfig | None = None,
              **overrides: Any) -> TTSModel:
    """Train the acoustic model on the manifest ``rows``, conditioned on a frozen, fitted ``conditioner``.

    ``conditioner`` None trains a speaker-only model (no emotion input).
    ``overrides`` are :class:`TTSTrainConfig` fields. Returns the trained
    :class:`TTSModel` (its ``history`` holds the per-epoch losses).
    """
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
    total = len(length_groups([len(e.mel) for e in train_items], config.batch_size,
                              np.random.default_rng(0))) * config.epochs
    n_val = sum(len(b.speakers) for b in val_batches)

    def validate(m: torch.nn.Module) -> float:
        # Early stopping watches what makes speech intelligible: the teacher-forced mel L1 and the
        # duration error. Pitch and energy errors are left out: without (or with a weak) emotion
        # input they are dominated by per-utterance prosody no model can predict from text.
        total_val = 0.0
        for b in val_batches:
            _, vlogs = batch_loss(model, b)
            total_val += (vlogs["mel_l1"] + vlogs["duration_mse"]) * len(b.speakers)
        return -total_val / n_val  # higher is better (the Trainer's "val_ua")

    # device "cpu": the batches are built on the CPU, where the model trains (config.device is recorded only)
    trainer = Trainer("tts_acoustic", TrainConfig(
        epochs=config.epochs, lr=config.lr, weight_decay=config.weight_decay, patience=config.patience,
        grad_clip=config.grad_clip, device="cpu", progress=config.progress), seed=config.seed)
    trainer.fit(model, lambda epoch, rng: acoustic_batches(train_items, config.batch_size, config.crop_frames, rng),
                lambda m, cropped, epoch: batch_loss(model, cropped, config.mel_loss),
                validate if val_batches else None,
                # fused: one kernel over all parameters per step instead of a dozen small ops per tensor
                optimiser_options={"fused": True}, scheduler=_scheduler(total, config))
    return trainer.history


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
        stats = dataclasses.replace(base.stats, emb_mean=own.emb_mean, emb_std=own.emb_std)
        items = encode(utts, base.inventory, base.speakers, stats, embeddings)
        model = _with_emotion_input(base, 0 if embeddings is None else embeddings.shape[1],
                                    decoder=bool(config.decoder_epochs and embeddings is not None))
        history = _finetune_variances(model, items, config)
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


def _with_emotion_input(base: TTSModel, emotion_dim: int, decoder: bool) -> AcousticModel:
    """A copy of the base's acoustic model with zero-initialised emotion projections (so it starts as
    the base): into the variance predictors, and with ``decoder`` into every decoder frame too."""
    acoustic_config = base.acoustic.config.model_copy(update={
        "emotion_dim": emotion_dim, "emotion_to": "variance", "emotion_decoder": decoder})
    AcousticConfig.model_validate(acoustic_config.model_dump())
    model = AcousticModel(acoustic_config)
    missing, unexpected = model.load_state_dict(base.acoustic.state_dict(), strict=False)
    if unexpected or any(not k.startswith(("emotion.", "emotion_dec.")) for k in missing):
        raise EmobenchError(f"finetune_tts: base weights do not fit (missing {missing}, unexpected {unexpected})")
    for projection in (model.emotion, model.emotion_dec):
        if projection is not None:
            torch.nn.init.zeros_(projection.weight)
            torch.nn.init.zeros_(projection.bias)
    return model


def _trained_modules(model: AcousticModel, names: tuple[str, ...]) -> list[torch.nn.Parameter]:
    """Freeze every parameter outside the top-level modules ``names``; returns those inside."""
    for name, p in model.named_parameters():
        p.requires_grad_(name.split(".")[0] in names)
    return [p for name, p in model.named_parameters() if name.split(".")[0] in names]


def _finetune_trainer(name: str, epochs: int, lr: float, config: TTSFinetuneConfig) -> Trainer:
    return Trainer(name, TrainConfig(epochs=epochs, lr=lr, weight_decay=config.weight_decay,
                                     grad_clip=config.grad_clip, device="cpu", progress=config.progress),
                   seed=config.seed)


def _finetune_variances(model: AcousticModel, items: list[Encoded],
                        config: TTSFinetuneConfig) -> list[dict[str, Any]]:
    """The phoneme-level stage of :func:`finetune_tts`: the emotion projection and the three variance
    predictors trained on the MSE of log durations, pitch and energy, from the frozen encoder's outputs."""
    trained = _trained_modules(model, FINETUNED)
    # the frozen encoder's outputs (speaker included), once, without dropout
    model.eval()
    encoded: list[torch.Tensor] = []
    with torch.inference_mode():
        for j in range(0, len(items), 32):
            b = collate(items[j:j + 32])
            x, _, _ = model.encode(b.phonemes, b.speakers)
            encoded += [x[i, : len(e.ids)].clone() for i, e in enumerate(items[j:j + 32])]

    def step(m: torch.nn.Module, b: VarianceBatch, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        log_dur, p_pred, e_pred = model.predict_variances(b.x, b.pad, b.emotion)
        keep = ~b.pad
        d_loss = masked_mean((log_dur - torch.log1p(b.durations)) ** 2, keep)
        p_loss = masked_mean((p_pred - b.pitch) ** 2, keep)
        e_loss = masked_mean((e_pred - b.energy) ** 2, keep)
        logs = {"duration_mse": float(d_loss.detach()), "pitch_mse": float(p_loss.detach()),
                "energy_mse": float(e_loss.detach())}
        return d_loss + p_loss + e_loss, logs

    total = len(length_groups([len(e.ids) for e in items], config.batch_size, np.random.default_rng(0))) * config.epochs
    trainer = _finetune_trainer("tts_finetune", config.epochs, config.lr, config)
    # warm-up + cosine as train_tts; reseed False: the stage continues finetune_tts's random streams
    trainer.fit(model, lambda epoch, rng: variance_batches(items, encoded, config.batch_size, rng), step,
                param_groups=trained, optimiser_options={},
                scheduler=_scheduler(total, TTSTrainConfig(lr=config.lr, epochs=config.epochs)), reseed=False)
    return [{"stage": "finetune", **_without_lr(r)} for r in trainer.history]


def _finetune_decoder(model: AcousticModel, items: list[Encoded], config: TTSFinetuneConfig,
                      crop: int | None) -> list[dict[str, Any]]:
    """The frame-level stage of :func:`finetune_tts`: the decoder's emotion projection (and, with
    ``decoder_modules="decoder"``, the decoder) trained on the teacher-forced mel L1 of random windows.

    Everything before the decoder is frozen, so its frame vectors (true durations, pitch and energy)
    are computed once per utterance; each step then runs the decoder only."""
    names = ("emotion_dec",) + (DECODER_MODULES if config.decoder_modules == "decoder" else ())
    if not any(name.split(".")[0] in names for name, _ in model.named_parameters()):
        return []   # the control with decoder_modules="projection": nothing to train
    trained = _trained_modules(model, names)
    model.eval()
    frames: list[Frames] = []   # (h, rel, cond) per utterance
    with torch.inference_mode():
        for j in range(0, len(items), 32):
            b = collate(items[j:j + 32])
            x, pad, cond = model.encode(b.phonemes, b.speakers)
            x = (x + model.pitch_proj(b.pitch.unsqueeze(-1)) + model.energy_proj(b.energy.unsqueeze(-1))) * (
                ~pad).unsqueeze(-1)
            h, _, rel = length_regulate(x, b.durations)
            for i, e in enumerate(items[j:j + 32]):
                frames.append((h[i, : len(e.mel)].clone(), rel[i, : len(e.mel)].clone(), cond[i].clone()))

    def batches(epoch: int, rng: np.random.Generator):
        # a stream of its own, apart from the variance stage's epochs (as the weights published were trained)
        return decoder_windows(items, frames, config.decoder_batch_size, crop,
                               np.random.default_rng([config.seed, 1000 + epoch]))

    def step(m: torch.nn.Module, b: DecoderBatch, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        out, out_pre = model.decode(b.h, b.pad, b.rel, model.decoder_condition(b.cond, b.emotion))
        keep = (~b.pad).unsqueeze(-1)
        return masked_mean((out - b.mel).abs(), keep) + masked_mean((out_pre - b.mel).abs(), keep), {}

    lengths = [len(e.mel) for e in items]
    total = len(length_groups(lengths, config.decoder_batch_size, np.random.default_rng(0))) * config.decoder_epochs
    trainer = _finetune_trainer("tts_finetune_decoder", config.decoder_epochs, config.decoder_lr, config)
    trainer.fit(model, batches, step, param_groups=trained, optimiser_options={},
                scheduler=_scheduler(total, TTSTrainConfig(lr=config.decoder_lr, epochs=config.decoder_epochs)),
                reseed=False)
    # the loss is the sum of two mel L1s (before and after the postnet): the record keeps their mean
    return [{"stage": "finetune_decoder", "epoch": r["epoch"], "mel_l1": r["loss"] / 2} for r in trainer.history]


def _without_lr(record: dict[str, Any]) -> dict[str, Any]:
    """A fine-tuning epoch's record as saved with the model (the schedule's lr is not among them)."""
    return {k: v for k, v in record.items() if k != "lr"}
