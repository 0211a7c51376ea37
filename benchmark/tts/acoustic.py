"""A compact FastSpeech 2 acoustic model: phonemes + speaker + emotion embedding -> log-mel.

Architecture (Ren et al., "FastSpeech 2", 2021, scaled down to train on two
CPU cores in minutes)::

    phoneme ids -> embedding + sinusoidal positions -> encoder (FFT blocks:
    self-attention + 1-D conv feed-forward) -> + speaker embedding (lookup)
    + projected emotion embedding (a frozen method's vector of a reference
    utterance) -> variance adaptor: duration, pitch and energy predictors
    (two convs each, per phoneme); the pitch and energy values (ground truth
    in training, predicted at inference) are projected and added; the length
    regulator repeats each phoneme vector for its duration in frames ->
    + position of the frame inside its phoneme -> decoder (FFT blocks, conv
    only by default) -> linear -> log-mel (normalised) -> residual conv
    postnet.

Choices where FastSpeech 2 leaves room, and why:
- pitch and energy are predicted **per phoneme** (as in FastPitch and the
  FastSpeech 2 implementations that average targets over each phoneme's
  frames): one value per phoneme is all that rule-based eSpeak prosody has,
  and it keeps the predictors cheap. Pitch is log F0 with unvoiced frames
  interpolated, energy is the log of the frame's mel power; both z-scored.
- values are added through a linear projection (FastPitch) rather than
  FastSpeech 2's quantised bin embeddings: fewer parameters, same effect.
- the decoder sees each frame's relative position inside its phoneme
  (0 at the start, 1 at the end). A conv decoder otherwise only learns where
  it is inside a long phoneme from the edges of its receptive field; with it,
  a 4-block conv decoder trains in minutes.
- the conditioning vectors (speaker, emotion) are added to every encoder
  output and again to the decoder input, so that both the variance adaptor
  and the spectra depend on them. With ``emotion_to="variance"`` (the models
  :func:`benchmark.tts.train.finetune_tts` makes) the projected emotion goes
  only into the input of the duration, pitch and energy predictors: emotion
  then acts through prosody alone.
- ``forward(..., crop=(starts, length))`` decodes only a window of each
  utterance's frames (training on random windows is cheaper per step).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from benchmark.errors import EmobenchError


class AcousticConfig(BaseModel):
    """Sizes of the acoustic model (every field is saved with the weights)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_phonemes: int = Field(ge=4)
    n_speakers: int = Field(ge=1)
    emotion_dim: int = Field(ge=0, description="size of the conditioning method's embedding (0: none)")
    n_mels: int = 64
    d_model: int = 128
    encoder_layers: int = 3
    decoder_layers: int = 4
    heads: int = 2
    kernel_size: int = 5
    ffn_mult: int = 2
    decoder_kernel: int = 9
    # frames the decoder handles per step (Tacotron's reduction factor): 2 halves the frame-level cost
    reduction: int = Field(2, ge=1, le=4)
    # False: separable conv blocks (fast on CPU); True: FFT blocks (self-attention, O(frames^2))
    decoder_attention: bool = False
    variance_channels: int = 128
    variance_kernel: int = 3
    postnet_layers: int = 0  # residual postnet of separable convs at the full frame rate; 0: none
    postnet_channels: int = 128
    dropout: float = 0.1  # phoneme-level layers (encoder, variance predictors)
    decoder_dropout: float = 0.0  # frame-level layers: dropout costs as much as a layer there on a CPU
    max_frames_per_phoneme: int = 100  # inference guard against a runaway duration prediction
    # where the projected emotion embedding enters: "all" (every encoder output, so the variance
    # predictors and the decoder) or "variance" (only the duration, pitch and energy predictors' input:
    # the fine-tuned models of benchmark.tts.train.finetune_tts)
    emotion_to: Literal["all", "variance"] = "all"
    # a second projection of the emotion embedding added to the decoder's input (every frame), so the
    # emotion also shapes the spectra (loudness, spectral tilt, voice quality), not only the prosody;
    # benchmark.tts.train.finetune_tts trains it (decoder_epochs > 0)
    emotion_decoder: bool = False


def sinusoid(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """(length, dim) sinusoidal position encoding (Vaswani et al.)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return pe


def _channels_first(x: torch.Tensor) -> torch.Tensor:
    """(B, T, C) -> contiguous (B, C, T) for Conv1d: mkldnn's convolutions (and their backward
    passes) run several times slower on the strided view a bare transpose gives."""
    return x.transpose(1, 2).contiguous()


class FFTBlock(nn.Module):
    """FastSpeech's feed-forward Transformer block: [self-attention] + conv feed-forward, post-norm."""

    def __init__(self, d: int, heads: int, kernel: int, mult: int, dropout: float, attention: bool = True):
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True) if attention else None
        self.norm1 = nn.LayerNorm(d) if attention else None
        self.conv1 = nn.Conv1d(d, d * mult, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(d * mult, d, 1)
        self.norm2 = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        """``x`` (B, T, d); ``pad`` (B, T) True at padding positions."""
        keep = (~pad).unsqueeze(-1).to(x.dtype)
        if self.attn is not None and self.norm1 is not None:   # both exist exactly when attention is on
            a, _ = self.attn(x, x, x, key_padding_mask=pad, need_weights=False)
            x = self.norm1(x + self.drop(a)) * keep
        h = self.conv2(F.relu(self.conv1(_channels_first(x * keep)))).transpose(1, 2)
        return self.norm2(x + self.drop(h)) * keep


class SeparableConvBlock(nn.Module):
    """Frame-level decoder block: depthwise conv (wide, cheap) -> LayerNorm -> pointwise feed-forward, residual.

    A full ``d x d x k`` convolution per frame is what makes a FastSpeech
    decoder slow on a CPU; the depthwise conv mixes time at ``d * k`` cost and
    the pointwise layers mix channels (ConvNeXt-style), about a fifth of the
    multiply-adds of the FFT block's conv feed-forward at the same width.
    """

    def __init__(self, d: int, kernel: int, mult: int, dropout: float):
        super().__init__()
        self.depthwise = nn.Conv1d(d, d, kernel, padding=kernel // 2, groups=d)
        self.norm = nn.LayerNorm(d)
        self.pw1 = nn.Linear(d, d * mult)
        self.pw2 = nn.Linear(d * mult, d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        keep = (~pad).unsqueeze(-1).to(x.dtype)
        h = self.depthwise(_channels_first(x * keep)).transpose(1, 2)
        h = self.pw2(F.gelu(self.pw1(self.norm(h))))
        return (x + self.drop(h)) * keep


class VariancePredictor(nn.Module):
    """Two conv + ReLU + LayerNorm + dropout layers and a linear output, one value per position."""

    def __init__(self, d: int, channels: int, kernel: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Conv1d(d, channels, kernel, padding=kernel // 2)
        self.norm1 = nn.LayerNorm(channels)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=kernel // 2)
        self.norm2 = nn.LayerNorm(channels)
        self.out = nn.Linear(channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        keep = (~pad).unsqueeze(-1).to(x.dtype)
        h = self.drop(self.norm1(F.relu(self.conv1(_channels_first(x * keep)).transpose(1, 2))))
        h = self.drop(self.norm2(F.relu(self.conv2(_channels_first(h * keep)).transpose(1, 2))))
        return self.out(h).squeeze(-1) * keep.squeeze(-1)


def length_regulate(x: torch.Tensor, durations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Repeat each phoneme vector for its duration.

    ``x`` (B, N, d), ``durations`` (B, N) non-negative integers. Returns the
    frame vectors (B, T, d) with T the longest total, zero-padded; the
    padding mask (B, T), True at padding; and each frame's relative position
    inside its phoneme, (k + 0.5) / duration for the k-th frame (B, T).

    Done as a batched product with the 0/1 alignment matrix (frame t, phoneme
    n) = [start_n <= t < end_n]: on a CPU its backward pass is a second matmul,
    far faster than the scatter-add behind ``repeat_interleave``'s.
    """
    if durations.dtype.is_floating_point or (durations < 0).any():
        raise EmobenchError("length_regulate: durations must be non-negative integers")
    ends = torch.cumsum(durations, dim=1)  # (B, N)
    starts = ends - durations
    totals = ends[:, -1]
    t_max = max(int(totals.max()), 1)
    t = torch.arange(t_max, device=x.device)[None, :, None]  # (1, T, 1)
    align = (t >= starts[:, None, :]) & (t < ends[:, None, :])  # (B, T, N)
    a = align.to(x.dtype)
    out = torch.bmm(a, x)
    pad = torch.arange(t_max, device=x.device)[None, :] >= totals[:, None]
    offset = t[..., 0] - torch.bmm(a, starts.unsqueeze(-1).to(x.dtype))[..., 0]  # frames since phoneme start
    length = torch.bmm(a, durations.unsqueeze(-1).to(x.dtype))[..., 0]
    rel = torch.where(pad, torch.zeros_like(offset), (offset + 0.5) / length.clamp_min(1.0))
    return out, pad, rel


@dataclass
class AcousticOutput:
    mel: torch.Tensor  # (B, T, n_mels) after the postnet (normalised log-mel)
    mel_pre: torch.Tensor  # before the postnet
    frame_pad: torch.Tensor  # (B, T) True at padding
    log_duration: torch.Tensor  # (B, N) predicted log(1 + frames)
    pitch: torch.Tensor  # (B, N) predicted (normalised)
    energy: torch.Tensor  # (B, N) predicted (normalised)
    durations: torch.Tensor  # (B, N) the durations used by the length regulator


class AcousticModel(nn.Module):
    """FastSpeech 2 family acoustic model (see the module docstring)."""

    def __init__(self, config: AcousticConfig):
        super().__init__()
        c = self.config = config
        d = c.d_model
        self.embed = nn.Embedding(c.n_phonemes, d, padding_idx=0)
        self.encoder = nn.ModuleList(FFTBlock(d, c.heads, c.kernel_size, c.ffn_mult, c.dropout)
                                     for _ in range(c.encoder_layers))
        self.speaker = nn.Embedding(c.n_speakers, d)
        self.emotion = nn.Linear(c.emotion_dim, d) if c.emotion_dim else None
        self.emotion_dec = nn.Linear(c.emotion_dim, d) if c.emotion_dim and c.emotion_decoder else None
        self.duration = VariancePredictor(d, c.variance_channels, c.variance_kernel, c.dropout)
        self.pitch = VariancePredictor(d, c.variance_channels, c.variance_kernel, c.dropout)
        self.energy = VariancePredictor(d, c.variance_channels, c.variance_kernel, c.dropout)
        self.pitch_proj = nn.Linear(1, d)
        self.energy_proj = nn.Linear(1, d)
        self.position_proj = nn.Linear(2, d)
        self.frame_pool = nn.Linear(c.reduction * d, d) if c.reduction > 1 else None
        self.decoder = nn.ModuleList(
            FFTBlock(d, c.heads, c.decoder_kernel, c.ffn_mult, c.decoder_dropout) if c.decoder_attention
            else SeparableConvBlock(d, c.decoder_kernel, c.ffn_mult, c.decoder_dropout)
            for _ in range(c.decoder_layers))
        self.mel_out = nn.Linear(d, c.reduction * c.n_mels)
        post: list[nn.Module] = []
        for i in range(c.postnet_layers):
            cin = c.n_mels if i == 0 else c.postnet_channels
            cout = c.n_mels if i == c.postnet_layers - 1 else c.postnet_channels
            post += [nn.Conv1d(cin, cin, 5, padding=2, groups=cin), nn.Conv1d(cin, cout, 1)]  # separable
            if i < c.postnet_layers - 1:
                post += [nn.Tanh()]
        self.postnet = nn.Sequential(*post) if post else None

    def condition(self, speakers: torch.Tensor, emotion: torch.Tensor | None) -> torch.Tensor:
        """(B, d): speaker embedding + projected emotion embedding (``emotion_to="all"``)."""
        cond = self.speaker(speakers)
        if self.emotion is not None and self.config.emotion_to == "all":
            cond = cond + self.emotion(self._check_emotion(emotion))
        return cond

    def _check_emotion(self, emotion: torch.Tensor | None) -> torch.Tensor:
        if emotion is None or emotion.shape[-1] != self.config.emotion_dim:
            got = None if emotion is None else tuple(emotion.shape)
            raise EmobenchError(f"acoustic model expects emotion embeddings of size {self.config.emotion_dim}, "
                                f"got {got}")
        return emotion

    def _pool(self, h: torch.Tensor, pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Group ``reduction`` consecutive frames into one decoder step (B, T/r, d) and its padding mask."""
        r = self.config.reduction
        if r == 1 or self.frame_pool is None:   # the pooling layer exists exactly when r > 1
            return h, pad
        b, t, d = h.shape
        extra = (-t) % r
        if extra:
            h = F.pad(h, (0, 0, 0, extra))
            pad = F.pad(pad, (0, extra), value=True)
        return self.frame_pool(h.reshape(b, (t + extra) // r, r * d)), pad[:, ::r]

    def encode(self, phonemes: torch.Tensor, speakers: torch.Tensor,
               emotion: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Phoneme encoder + conditioning: (x (B, N, d), phoneme padding mask (B, N), cond (B, 1, d)).

        ``x`` already holds ``cond`` (speaker, and emotion where ``emotion_to="all"``).
        """
        if phonemes.dim() != 2:
            raise EmobenchError(f"phonemes must be (batch, length), got shape {tuple(phonemes.shape)}")
        if int(phonemes.max()) >= self.config.n_phonemes or int(phonemes.min()) < 0:
            raise EmobenchError(f"phoneme id out of range 0..{self.config.n_phonemes - 1}")
        if int(speakers.max()) >= self.config.n_speakers or int(speakers.min()) < 0:
            raise EmobenchError(f"speaker id out of range 0..{self.config.n_speakers - 1}")
        pad = phonemes == 0
        keep = (~pad).unsqueeze(-1).float()
        x = (self.embed(phonemes) + sinusoid(phonemes.shape[1], self.config.d_model, phonemes.device)) * keep
        for block in self.encoder:
            x = block(x, pad)
        cond = self.condition(speakers, emotion)[:, None, :]
        return (x + cond) * keep, pad, cond

    def predict_variances(self, x: torch.Tensor, pad: torch.Tensor,
                          emotion: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log(1 + duration), pitch, energy) predictions (B, N) from the encoder output ``x``.

        With ``emotion_to="variance"`` the projected emotion embedding is added here, to the
        predictors' input only (the decoder never sees it).
        """
        if self.emotion is not None and self.config.emotion_to == "variance":
            x = (x + self.emotion(self._check_emotion(emotion))[:, None, :]) * (~pad).unsqueeze(-1).to(x.dtype)
        return self.duration(x, pad), self.pitch(x, pad), self.energy(x, pad)

    def forward(self, phonemes: torch.Tensor, speakers: torch.Tensor, emotion: torch.Tensor | None = None,
                durations: torch.Tensor | None = None, pitch: torch.Tensor | None = None,
                energy: torch.Tensor | None = None, pace: float = 1.0,
                crop: tuple[torch.Tensor, int] | None = None) -> AcousticOutput:
        """``phonemes`` (B, N) ids (0 = padding), ``speakers`` (B,), ``emotion`` (B, emotion_dim).

        Give ground-truth ``durations`` (B, N) frames, ``pitch`` and ``energy``
        (B, N, normalised) in training; leave them None to use the predictions.
        ``pace`` > 1 speaks slower (durations are multiplied by it).
        ``crop`` ``(starts (B,), length)``: decode only the frames ``starts[b] .. starts[b] + length``
        of each length-regulated utterance (training on random windows, as VITS and EATS do);
        ``mel``/``frame_pad`` then cover those windows (frames past an utterance's end are padding).
        """
        x, pad, cond = self.encode(phonemes, speakers, emotion)
        keep = (~pad).unsqueeze(-1).float()
        log_dur, p_pred, e_pred = self.predict_variances(x, pad, emotion)
        if durations is None:
            frames = torch.clamp(torch.round((torch.exp(log_dur) - 1.0) * pace), 0,
                                 self.config.max_frames_per_phoneme)
            durations = (frames * (~pad)).long()
            empty = durations.sum(dim=1) == 0
            if empty.any():  # an utterance must have at least one frame
                durations[empty, 0] = 1
        p_val = p_pred if pitch is None else pitch
        e_val = e_pred if energy is None else energy
        x = x + self.pitch_proj(p_val.unsqueeze(-1)) + self.energy_proj(e_val.unsqueeze(-1))
        x = x * keep

        h, frame_pad, rel = length_regulate(x, durations)
        if crop is not None:
            h, frame_pad, rel = crop_frames(h, frame_pad, rel, crop[0], crop[1])
        mel, mel_pre = self.decode(h, frame_pad, rel, self.decoder_condition(cond, emotion))
        return AcousticOutput(mel, mel_pre, frame_pad, log_dur, p_pred, e_pred, durations)

    def decoder_condition(self, cond: torch.Tensor, emotion: torch.Tensor | None) -> torch.Tensor:
        """(B, 1, d): what the decoder input gets added: ``cond`` + the decoder's emotion projection (if any)."""
        if self.emotion_dec is None:
            return cond
        return cond + self.emotion_dec(self._check_emotion(emotion))[:, None, :]

    def decode(self, h: torch.Tensor, frame_pad: torch.Tensor, rel: torch.Tensor,
               cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame vectors (B, T, d) -> (mel after the postnet, mel before it), both (B, T, n_mels), masked."""
        pos = torch.stack([rel, torch.ones_like(rel)], dim=-1) * (~frame_pad).unsqueeze(-1)
        h = (h + self.position_proj(pos) + cond) * (~frame_pad).unsqueeze(-1)
        h, step_pad = self._pool(h, frame_pad)
        for block in self.decoder:
            h = block(h, step_pad)
        b, steps = h.shape[:2]
        mel_pre = self.mel_out(h).reshape(b, steps * self.config.reduction, -1)[:, : frame_pad.shape[1]]
        mel = mel_pre
        if self.postnet is not None:
            mel = mel_pre + self.postnet(_channels_first(mel_pre)).transpose(1, 2)
        mask = (~frame_pad).unsqueeze(-1)
        return mel * mask, mel_pre * mask


def crop_frames(h: torch.Tensor, pad: torch.Tensor, rel: torch.Tensor, starts: torch.Tensor,
                length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Windows ``starts[b] .. starts[b] + length`` of frame tensors (B, T, ...); frames past T are padding."""
    b, t = pad.shape
    idx = starts.long()[:, None] + torch.arange(length, device=h.device)[None, :]  # (B, L)
    outside = idx >= t
    idx = idx.clamp_max(t - 1)
    rows = torch.arange(b, device=h.device)[:, None]
    new_pad = pad[rows, idx] | outside
    keep = (~new_pad).to(h.dtype)
    return h[rows, idx] * keep.unsqueeze(-1), new_pad, rel[rows, idx] * keep


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over positions where ``mask`` (broadcastable) is True."""
    mask = mask.expand_as(x).to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp_min(1.0)


def acoustic_loss(out: AcousticOutput, mel: torch.Tensor, durations: torch.Tensor, pitch: torch.Tensor,
                  energy: torch.Tensor, phoneme_pad: torch.Tensor,
                  mel_loss: Literal["l1", "l2"] = "l1") -> tuple[torch.Tensor, dict[str, float]]:
    """FastSpeech 2 loss: mel L1 (before and after the postnet) + MSE of log durations, pitch, energy.

    ``mel`` (B, T, n_mels) normalised targets with the model output's padding;
    the variance terms run over non-padding phonemes. ``mel_loss="l2"`` trains the
    mel with the squared error instead (the logged ``mel_l1`` stays the L1).
    """
    if mel.shape != out.mel.shape:
        raise EmobenchError(f"target mel shape {tuple(mel.shape)} != model output {tuple(out.mel.shape)} "
                            f"(durations must sum to the frame count of each utterance)")
    frames = (~out.frame_pad).unsqueeze(-1)
    keep = ~phoneme_pad
    mel_l1 = masked_mean((out.mel - mel).abs(), frames)
    pre_l1 = masked_mean((out.mel_pre - mel).abs(), frames)
    dur = masked_mean((out.log_duration - torch.log1p(durations.float())) ** 2, keep)
    pit = masked_mean((out.pitch - pitch) ** 2, keep)
    ene = masked_mean((out.energy - energy) ** 2, keep)
    if mel_loss == "l2":
        mel_term = masked_mean((out.mel - mel) ** 2, frames) + masked_mean((out.mel_pre - mel) ** 2, frames)
    else:
        mel_term = mel_l1 + pre_l1
    loss = mel_term + dur + pit + ene
    logs = {k: float(v.detach()) for k, v in
            (("mel_l1", mel_l1), ("duration_mse", dur), ("pitch_mse", pit), ("energy_mse", ene))}
    return loss, logs
