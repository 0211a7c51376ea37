"""Synthesis: text + speaker + reference utterance -> frozen method embedding -> acoustic model -> vocoder -> wav.

A :class:`TTSModel` bundles everything a synthesis needs and saves it as one
self-contained directory (nothing is unpickled on load)::

    <dir>/tts.json          acoustic config, training config, speakers, conditioner name, versions
    <dir>/phonemes.json     the phoneme inventory
    <dir>/stats.npz         normalisation statistics (mel per bin, pitch, energy, emotion embedding)
    <dir>/acoustic.pt       the acoustic model's state_dict (torch.load(weights_only=True))
    <dir>/conditioner/      the frozen method's own save() directory (absent without conditioner)

Usage::

    tts = TTSModel.load("runs/tts_emotion_extractor")
    wave = tts.synthesize("The river was very cold.", "en", "embedded_en_03", reference="sad_take.wav")
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from benchmark.errors import ConfigError, EmobenchError
from benchmark.features.spectral import LogMelConfig
from benchmark.methods.base import Method
from benchmark.tts.acoustic import AcousticConfig, AcousticModel
from benchmark.tts.phonemes import PhonemeInventory, phonemize
from benchmark.tts.vocoder import Vocoder, make_vocoder

FORMAT_VERSION = 1


@dataclass
class Stats:
    """Normalisation statistics from the training set (targets are z-scored with them)."""

    mel_mean: np.ndarray  # (n_mels,)
    mel_std: np.ndarray
    pitch_mean: float  # log F0 per phoneme
    pitch_std: float
    energy_mean: float  # log mel power per phoneme
    energy_std: float
    emb_mean: np.ndarray  # (emotion_dim,) the conditioner's embedding
    emb_std: np.ndarray

    def to_arrays(self) -> dict[str, np.ndarray]:
        # dtypes kept as they are: a float32 statistic saved as float64 would round differently on load
        return {k: np.asarray(v) for k, v in self.__dict__.items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Stats":
        a = {k: np.asarray(v) for k, v in arrays.items()}
        return cls(a["mel_mean"], a["mel_std"], float(a["pitch_mean"]), float(a["pitch_std"]),
                   float(a["energy_mean"]), float(a["energy_std"]), a["emb_mean"], a["emb_std"])


@dataclass
class TTSModel:
    """A trained acoustic model with its inventory, speakers, statistics and frozen conditioner."""

    acoustic: AcousticModel
    inventory: PhonemeInventory
    speakers: list[str]
    stats: Stats
    conditioner: Method | None
    conditioner_name: str | None
    mel_config: LogMelConfig = field(default_factory=LogMelConfig)
    train_config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------------ conditioning

    def speaker_id(self, speaker: str) -> int:
        try:
            return self.speakers.index(speaker)
        except ValueError:
            raise ConfigError(f"speaker {speaker!r} is not one of the model's training speakers "
                              f"({', '.join(self.speakers)})") from None

    def embed_references(self, paths: Sequence[str | Path], progress: bool = False) -> np.ndarray | None:
        """Normalised conditioner embeddings (n, emotion_dim) of reference recordings; None without conditioner."""
        if self.conditioner is None:
            return None
        raw = conditioner_embeddings(self.conditioner, [str(p) for p in paths], progress=progress)
        return self.normalise_embeddings(raw)

    def normalise_embeddings(self, raw: np.ndarray) -> np.ndarray:
        return ((raw - self.stats.emb_mean) / self.stats.emb_std).astype(np.float32)

    # ------------------------------------------------------------------ synthesis

    def mel(self, text: str, language: str, speaker: str, embedding: np.ndarray | None = None,
            pace: float = 1.0) -> np.ndarray:
        """Log-mel (frames, n_mels) of ``text``; ``embedding`` is a normalised conditioner vector."""
        ids = self.inventory.encode(language, phonemize(text, language), text)
        if (embedding is None) != (self.conditioner is None):
            raise EmobenchError("give a reference embedding exactly when the model has a conditioner "
                                f"({self.conditioner_name or 'none'})")
        model = self.acoustic.eval()
        with torch.inference_mode():
            emo = None if embedding is None else torch.as_tensor(np.asarray(embedding, np.float32)).reshape(1, -1)
            out = model(torch.tensor([ids]), torch.tensor([self.speaker_id(speaker)]), emo, pace=pace)
        mel = out.mel[0].numpy() * self.stats.mel_std + self.stats.mel_mean
        return mel.astype(np.float32)

    def synthesize(self, text: str, language: str, speaker: str, reference: str | Path | None = None,
                   vocoder: Vocoder | None = None, pace: float = 1.0) -> np.ndarray:
        """Waveform (float32 at the mel config's sample rate) of ``text`` in the style of ``reference``."""
        if (reference is None) != (self.conditioner is None):
            raise ConfigError(f"this model's conditioner is {self.conditioner_name or 'none'}: "
                              + ("give a reference recording" if self.conditioner else "it takes no reference"))
        embeddings = None if reference is None else self.embed_references([reference])
        emb = None if embeddings is None else embeddings[0]
        vocoder = vocoder or make_vocoder("griffin_lim", self.mel_config)
        return vocoder(self.mel(text, language, speaker, emb, pace))

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {
            "format_version": FORMAT_VERSION,
            "acoustic": self.acoustic.config.model_dump(),
            "mel_config": self.mel_config.model_dump(),
            "speakers": self.speakers,
            "conditioner": self.conditioner_name,
            "train_config": self.train_config,
            "history": self.history,
        }
        (path / "tts.json").write_text(json.dumps(meta, indent=1, default=_json_default))
        self.inventory.save(path / "phonemes.json")
        np.savez(path / "stats.npz", allow_pickle=False, **self.stats.to_arrays())  # numbers only
        torch.save(self.acoustic.state_dict(), path / "acoustic.pt")
        if self.conditioner is not None:
            self.conditioner.save(path / "conditioner")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "TTSModel":
        from benchmark.methods import METHODS

        path = Path(path)
        meta_path = path / "tts.json"
        if not meta_path.is_file():
            raise EmobenchError(f"{path}: not a saved TTS model (tts.json missing)")
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise EmobenchError(f"{meta_path}: format version {meta.get('format_version')} is not "
                                f"{FORMAT_VERSION}")
        acoustic = AcousticModel(AcousticConfig(**meta["acoustic"]))
        acoustic.load_state_dict(torch.load(path / "acoustic.pt", map_location="cpu", weights_only=True))
        with np.load(path / "stats.npz", allow_pickle=False) as data:
            stats = Stats.from_arrays({k: data[k] for k in data.files})
        conditioner = None
        if meta["conditioner"] is not None:
            conditioner = METHODS.get(meta["conditioner"]).load(path / "conditioner")
        return cls(acoustic.eval(), PhonemeInventory.load(path / "phonemes.json"), list(meta["speakers"]), stats,
                   conditioner, meta["conditioner"], LogMelConfig(**meta["mel_config"]), meta["train_config"],
                   meta.get("history", []))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def conditioner_embeddings(method: Method, paths: list[str], progress: bool = False) -> np.ndarray:
    """The frozen method's embeddings (n, d) of audio files, through the shared feature cache."""
    from benchmark.features import feature_set

    if not paths:
        raise EmobenchError("no reference recordings to embed")
    rows = pd.DataFrame({"utt_id": [f"ref{i}" for i in range(len(paths))], "path": paths,
                         "emotion": [None] * len(paths), "speaker": ["ref"] * len(paths),
                         "language": ["und"] * len(paths)})
    batch = feature_set(rows, method.feature, progress=progress)
    batch.y = None  # references are unlabelled: the frozen method only embeds them
    z = np.asarray(method.embed(batch), dtype=np.float64)
    if z.ndim != 2 or z.shape[0] != len(paths):
        raise EmobenchError(f"method {method.name}: embed returned shape {z.shape} for {len(paths)} utterances")
    if not np.isfinite(z).all():
        raise EmobenchError(f"method {method.name}: embed returned NaN or infinite values")
    return z


def write_wav(path: str | Path, wave: np.ndarray, sample_rate: int) -> Path:
    """Write float audio as 16-bit PCM, peak-limited to [-1, 1] (Griffin-Lim can overshoot slightly)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    peak = float(np.abs(wave).max()) if len(wave) else 0.0
    if peak > 0.99:
        wave = wave * (0.99 / peak)
    sf.write(path, np.asarray(wave, dtype=np.float32), sample_rate, subtype="PCM_16")
    return path
