"""``ssl``: hidden states of a self-supervised speech encoder from a local HuggingFace folder.

``{"name": "ssl", "model": "/models/wavlm-base-plus", "layers": "all"}``:
``model`` is a directory written by ``save_pretrained`` (``config.json`` and
``model.safetensors`` or ``pytorch_model.bin``, optionally
``preprocessor_config.json``) of a WavLM, HuBERT, wav2vec 2.0 or
data2vec-audio model (a fine-tuned checkpoint's head is ignored). It is only
ever read from disk: emobench sets ``HF_HUB_OFFLINE=1`` before transformers
loads, and loads with ``local_files_only=True``; a missing folder is an error
naming it. The cache key includes a content hash of the weights, so another
model saved to the same folder is never served stale features.

Every layer's hidden states (``hidden_states`` of the HuggingFace model:
index 0 is the CNN front end after projection, the last the top layer) are
cached once per file as ``(frames, layers, dims)``; ``layers`` and
``pooling`` pick and pool views of it (see :mod:`benchmark.features.pretrained`).
Each utterance runs alone (no padding, no attention mask: models with group
norm in the front end, e.g. wav2vec 2.0 base, are not padding-invariant), at
16 kHz, z-normalised first when the folder's preprocessor config says
``do_normalize`` (HuggingFace's default when there is none). Audio shorter than
the front end's receptive field (400 samples, 25 ms) is zero-padded to it.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from benchmark.errors import ConfigError
from benchmark.features.base import FEATURES, Extractor
from benchmark.features.pretrained import EncoderFeatureConfig, file_fingerprint
from benchmark.features.spectral import torch_threads

# Never the hub: set before transformers (or huggingface_hub) is imported by anything of emobench's.
os.environ["HF_HUB_OFFLINE"] = "1"


ARCHITECTURES = ("wavlm", "hubert", "wav2vec2", "data2vec-audio")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
MIN_SAMPLES = 400


class SSLConfig(EncoderFeatureConfig):
    name: Literal["ssl"] = "ssl"
    model: str  # a local folder written by save_pretrained

    def weights_id(self) -> str:
        folder = model_dir(self.model)
        files = [folder / "config.json", *[folder / f for f in WEIGHT_FILES if (folder / f).is_file()]]
        return ",".join(file_fingerprint(f) for f in files)


def model_dir(model: str) -> Path:
    """The model folder, or a ConfigError naming it and what is missing."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"feature 'ssl': model folder {folder} does not exist; emobench never downloads models: "
                          f"save one there first (e.g. huggingface-cli download microsoft/wavlm-base-plus "
                          f"--local-dir {folder}, on a machine with network)")
    if not (folder / "config.json").is_file():
        raise ConfigError(f"feature 'ssl': model folder {folder} has no config.json (a save_pretrained folder "
                          f"is expected)")
    if not any((folder / f).is_file() for f in WEIGHT_FILES):
        raise ConfigError(f"feature 'ssl': model folder {folder} has no weights ({' or '.join(WEIGHT_FILES)})")
    return folder


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise ConfigError("feature 'ssl' needs the transformers package (pip install 'emobench[ssl]')") from None
    return transformers


@lru_cache(maxsize=2)
def load_model(model: str) -> tuple[Any, bool]:
    """The encoder in eval mode on the feature device, and whether its input is z-normalised."""
    from benchmark.features.spectral import pick_feature_device

    folder = model_dir(model)
    transformers = _transformers()
    config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    if config.model_type not in ARCHITECTURES:
        raise ConfigError(f"feature 'ssl': {folder} holds a {config.model_type!r} model; supported: "
                          f"{', '.join(ARCHITECTURES)}")
    encoder = transformers.AutoModel.from_pretrained(folder, local_files_only=True)
    preprocessor = folder / "preprocessor_config.json"
    normalise = json.loads(preprocessor.read_text()).get("do_normalize", True) if preprocessor.is_file() else True
    return encoder.float().eval().to(pick_feature_device()), bool(normalise)


@FEATURES.register("ssl")
class SSLEncoder(Extractor):
    """Every layer's hidden states of a local HuggingFace speech encoder, ``(frames, layers, dims)``."""

    Config = SSLConfig
    config: SSLConfig
    frame_level = True  # the stored array; a pooled view is utterance-level (see its config)

    def extract_batch(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        if self.config.sample_rate != 16000:
            raise ConfigError("feature 'ssl': the supported encoders take 16 kHz audio (sample_rate: 16000)")
        encoder, normalise = load_model(self.config.model)
        device = next(encoder.parameters()).device
        out = []
        # One thread, as for Whisper (several times faster than two on a busy 2-core machine).
        with torch.inference_mode(), torch_threads(1):
            for wave in waves:
                wave = np.asarray(wave, dtype=np.float32)
                if normalise:  # as Wav2Vec2FeatureExtractor does: zero mean, unit variance, before padding
                    wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)
                x = np.zeros(max(len(wave), MIN_SAMPLES), dtype=np.float32)
                x[: len(wave)] = wave
                states = encoder(torch.from_numpy(x)[None].to(device), output_hidden_states=True).hidden_states
                out.append(self.config.encoder_output(torch.stack(states, dim=2)[0].cpu().numpy()))
        return out
