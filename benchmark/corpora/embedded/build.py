"""Build (or reuse) the embedded corpus: plan the utterances, render them, write the manifest.

Layout of one build, ``<root>/<config hash>/`` (root defaults to
``$EMOBENCH_HOME/corpora/embedded``)::

    manifest.csv            the validated Manifest (written last: its presence marks a complete build)
    corpus.json             config, versions, speakers, channels, and the note that the corpus is synthetic
    wav/<utt_id>.wav        16 kHz mono PCM-16
    wav/<utt_id>.json       text, eSpeak phonemes (mnemonics and IPA), phoneme timings in the wav, prosody, SNR

Every utterance has its own random stream (seeded by the config seed and its
``utt_id``) and renders the same in any process, so a build is reproducible
bit for bit, can run on several processes, and resumes after an interruption:
an utterance counts as done once its ``.json`` exists (written after its wav,
both atomically), and the build counts as done once ``manifest.csv`` exists.
"""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import soundfile as sf
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from tqdm import tqdm

from benchmark.corpora.embedded.channel import Channel, active_power, apply_channel, make_channel
from benchmark.corpora.embedded.prosody import PROFILES, apply_voice_quality, draw_prosody
from benchmark.corpora.embedded.speakers import MAX_SPEAKERS_PER_LANGUAGE, Speaker, make_speakers, rng_for
from benchmark.corpora.embedded.texts import TEXTS, texts_digest
from benchmark.errors import ConfigError, ManifestError
from benchmark.espeak import ESPEAK_VOICES, Espeak
from benchmark.labels import CORE4
from benchmark.manifest import validate_manifest, write_manifest
from benchmark.paths import corpora_dir

CORPUS = "embedded"
# Bump when rendering changes, so that caches built by older code are not reused.
GENERATOR_VERSION = "3"
SAMPLE_RATE = 16_000
REFERENCE_DBFS = -30.0  # active-speech level before the speaker, emotion and session gains
MANIFEST_NAME = "manifest.csv"
METADATA_NAME = "corpus.json"
SYNTHETIC_NOTE = ("SYNTHETIC speech: rendered by the eSpeak NG formant synthesizer with rule-based emotional "
                  "prosody, per-speaker baselines and simulated recording channels. It exercises the pipeline "
                  "offline; its numbers say nothing about performance on human emotional speech.")


class EmbeddedConfig(BaseModel):
    """The knobs of the embedded corpus; every value is part of the cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(3000, ge=1, le=200_000, description="number of utterances")
    seed: int = Field(0, ge=0, description="one seed, one corpus (bit-identical audio and manifest)")
    languages: tuple[str, ...] = Field(tuple(TEXTS), description="ISO 639-1 codes; zh is Mandarin (tonal)")
    speakers_per_language: int = Field(8, ge=1, le=MAX_SPEAKERS_PER_LANGUAGE)
    sentences_per_language: int = Field(30, ge=1, le=min(len(t) for t in TEXTS.values()))
    sessions_per_language: int = Field(4, ge=1, description="recording sessions (channels) per language")
    emotions: tuple[str, ...] = Field(CORE4, description="classes; must include neutral")
    imbalance: float = Field(3.0, gt=0, le=100, description="neutral count / count of each other emotion")
    difficulty: float = Field(0.5, ge=0, le=1, description="0 easy ... 1 hard (smaller, noisier emotion cues)")

    @field_validator("languages", "emotions", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        """Accept ``"en,de"`` (command line) as well as a list."""
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in TEXTS]
        if unknown or not value or len(set(value)) != len(value):
            raise ValueError(f"expected distinct codes from {', '.join(TEXTS)}; got {list(value)}")
        return value

    @field_validator("emotions")
    @classmethod
    def _known_emotions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in PROFILES]
        if unknown or len(set(value)) != len(value) or "neutral" not in value or len(value) < 2:
            raise ValueError(f"expected distinct emotions from {', '.join(PROFILES)}, including neutral; "
                             f"got {list(value)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "EmbeddedConfig":
        if self.sessions_per_language > self.speakers_per_language:
            raise ValueError(f"sessions_per_language ({self.sessions_per_language}) cannot exceed "
                             f"speakers_per_language ({self.speakers_per_language})")
        minimum = len(self.languages) * len(self.emotions)
        if self.size < minimum:
            raise ValueError(f"size ({self.size}) must be at least languages x emotions = {minimum}")
        return self

    def neutral_share(self) -> float:
        """The share of neutral utterances the ``imbalance`` ratio asks for."""
        return self.imbalance / (self.imbalance + len(self.emotions) - 1)

    def cache_key(self) -> dict[str, Any]:
        """Everything the audio depends on: the config, the generator, the texts and eSpeak NG's version."""
        return {"config": self.model_dump(mode="json"), "generator_version": GENERATOR_VERSION,
                "texts": texts_digest(), "espeak_ng": Espeak.get().version,
                "espeakng_loader": _dist_version("espeakng-loader")}

    def config_hash(self) -> str:
        import hashlib

        blob = json.dumps(self.cache_key(), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def make_config(options: dict[str, Any]) -> EmbeddedConfig:
    """An :class:`EmbeddedConfig` from keyword options; a ConfigError names every bad key."""
    try:
        return EmbeddedConfig(**options)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"][:1])
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown option {key!r}")
            elif key:
                problems.append(f"option {key!r}: {err['msg']} (got {err.get('input')!r})")
            else:
                problems.append(err["msg"].removeprefix("Value error, "))
        known = ", ".join(EmbeddedConfig.model_fields)
        raise ConfigError(f"embedded corpus: {'; '.join(problems)} (known options: {known})") from None


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:  # pragma: no cover - a declared dependency
        return "unknown"


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class UttSpec:
    """One utterance to render: who says which sentence, in which emotion, in which session."""

    utt_id: str
    speaker: Speaker
    channel: Channel
    sentence: int
    text: str
    emotion: str
    take: int


def split_counts(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder; ties go to the earlier entry)."""
    w = np.asarray(weights, dtype=float)
    exact = total * w / w.sum()
    counts = np.floor(exact).astype(int)
    order = sorted(range(len(w)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - counts.sum()]:
        counts[i] += 1
    return counts.tolist()


def plan_utterances(config: EmbeddedConfig) -> list[UttSpec]:
    """Every utterance of the corpus, in a deterministic order.

    Sizes are split evenly over languages, then over emotions with weight
    ``imbalance`` for neutral and 1 for the others. Within a language,
    each speaker reads the script in their own random order; an emotion's
    utterances fill "rounds" (one sentence per speaker, speakers in a random
    order per round), so every emotion reuses the sentences of the earlier
    rounds: the same speaker says the same sentence in several emotions
    (parallel data), and emotions are spread evenly over speakers. Past the
    end of the script a speaker records further takes.
    """
    weights = [config.imbalance if e == "neutral" else 1.0 for e in config.emotions]
    n_sent = config.sentences_per_language
    specs: list[UttSpec] = []
    for language, n_lang in zip(config.languages, split_counts(config.size, [1.0] * len(config.languages))):
        speakers = make_speakers(language, config.speakers_per_language, config.sessions_per_language, config.seed)
        channels = {s.session: make_channel(language, s.session, config.seed, config.difficulty) for s in speakers}
        orders = [rng_for(config.seed, "script order", s.speaker_id).permutation(n_sent) for s in speakers]
        for emotion, n_emotion in zip(config.emotions, split_counts(n_lang, weights)):
            rounds = rng_for(config.seed, "rounds", language, emotion)
            done, r = 0, 0
            while done < n_emotion:
                for k in rounds.permutation(len(speakers))[: n_emotion - done]:
                    spk = speakers[k]
                    sentence, take = int(orders[k][r % n_sent]), r // n_sent
                    specs.append(UttSpec(
                        utt_id=f"{spk.speaker_id}_s{sentence:02d}_{emotion}_t{take}",
                        speaker=spk, channel=channels[spk.session], sentence=sentence,
                        text=TEXTS[language][sentence], emotion=emotion, take=take))
                    done += 1
                r += 1
    return specs


# --------------------------------------------------------------------------- render


def soft_limit(x: np.ndarray, threshold: float = 0.9, ceiling: float = 0.999) -> np.ndarray:
    """Leave samples below ``threshold`` alone and squash louder ones smoothly under ``ceiling``."""
    mag = np.abs(x)
    over = mag > threshold
    if not over.any():
        return x
    y = x.copy()
    head = ceiling - threshold
    y[over] = np.sign(x[over]) * (threshold + head * np.tanh((mag[over] - threshold) / head))
    return y


def render_utterance(spec: UttSpec, config: EmbeddedConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """Render one utterance: float audio at 16 kHz and its metadata (phoneme timings in the audio)."""
    from scipy.signal import resample_poly  # imported here: scipy.signal takes ~1 s to import
    rng = rng_for(config.seed, "utterance", spec.utt_id)
    prosody = draw_prosody(spec.emotion, spec.speaker, config.difficulty, rng)
    synth = Espeak.get().synthesize(spec.text, spec.speaker.voice, rate=prosody.rate, pitch=prosody.pitch,
                                    pitch_range=prosody.pitch_range, wordgap=prosody.wordgap)
    if len(synth.audio) == 0:
        raise ManifestError(CORPUS, [f"{spec.utt_id}: eSpeak NG rendered no audio for {spec.text!r}"])
    g = np.gcd(SAMPLE_RATE, synth.sample_rate)
    x = resample_poly(synth.audio / 32768.0, SAMPLE_RATE // g, synth.sample_rate // g)  # zero-phase: no delay
    speech_end = len(synth.audio) / synth.sample_rate * SAMPLE_RATE  # in 16 kHz samples
    x *= np.sqrt(10 ** (REFERENCE_DBFS / 10) / active_power(x, SAMPLE_RATE))
    x, source_pos = apply_voice_quality(x, SAMPLE_RATE, prosody, rng)
    x *= 10 ** (prosody.gain_db / 20)
    lead = int(rng.uniform(0.10, 0.30) * SAMPLE_RATE)
    tail = int(rng.uniform(0.10, 0.25) * SAMPLE_RATE)
    x = np.concatenate([np.zeros(lead), x, np.zeros(tail)])
    snr_db = spec.channel.snr_db + rng.normal(0, 1.5)
    x = soft_limit(apply_channel(x, SAMPLE_RATE, spec.channel, snr_db, rng))

    # Phoneme timings: eSpeak's event times (ms in its own output), moved through the jitter time map
    # (output sample n was read from input position source_pos[n]) and shifted by the leading silence.
    out_index = np.arange(len(source_pos), dtype=float)
    xp = np.maximum.accumulate(source_pos)

    def to_output_s(t_s: float) -> float:
        pos = min(t_s * SAMPLE_RATE, speech_end)
        return float((np.interp(pos, xp, out_index) + lead) / SAMPLE_RATE)

    starts = [to_output_s(t) for _, t in synth.phoneme_starts]
    ends = starts[1:] + [to_output_s(len(synth.audio) / synth.sample_rate)]
    alignment = [{"phoneme": sym, "start_s": round(s, 5), "end_s": round(max(s, e), 5)}
                 for (sym, _), s, e in zip(synth.phoneme_starts, starts, ends)]
    meta = {
        "utt_id": spec.utt_id, "synthetic": True, "language": spec.speaker.language, "text": spec.text,
        "sentence": spec.sentence, "take": spec.take, "emotion": spec.emotion,
        "speaker": spec.speaker.speaker_id, "gender": spec.speaker.gender, "session": spec.channel.session,
        "voice": spec.speaker.voice, "sample_rate": SAMPLE_RATE, "duration_s": len(x) / SAMPLE_RATE,
        "phonemes": synth.phonemes, "phonemes_ipa": synth.phonemes_ipa,
        "alignment": alignment, "prosody": prosody.to_dict(), "snr_db": round(float(snr_db), 3),
    }
    return x, meta


def _write_atomic(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_json(path: Path, obj: Any) -> None:
    _write_atomic(path, lambda tmp: tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=1)))


def render_to_disk(spec: UttSpec, config: EmbeddedConfig, wav_dir: Path) -> None:
    """Render one utterance into ``wav_dir``: the wav first, then the json that marks it done."""
    audio, meta = render_utterance(spec, config)
    _write_atomic(wav_dir / f"{spec.utt_id}.wav",
                  lambda tmp: sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV"))
    _write_json(wav_dir / f"{spec.utt_id}.json", meta)


def _render_batch(specs: list[UttSpec], config: EmbeddedConfig, wav_dir: Path) -> int:
    for spec in specs:
        render_to_disk(spec, config, wav_dir)
    return len(specs)


class _Bar(tqdm):
    # No monitor thread: the in-process path forks a child per utterance, and forking a
    # process with extra threads running is asking for trouble.
    monitor_interval = 0


def _render_all(todo: list[UttSpec], config: EmbeddedConfig, wav_dir: Path, jobs: int, progress: bool) -> None:
    with _Bar(total=len(todo), desc="embedded corpus: rendering", unit="utt", disable=not progress) as bar:
        if jobs <= 1 or len(todo) < 2 * jobs:
            for spec in todo:
                render_to_disk(spec, config, wav_dir)
                bar.update()
            return
        batches = [todo[i:i + 16] for i in range(0, len(todo), 16)]
        # Fresh ("spawn") workers hold no threads of ours; each initialises eSpeak once and forks per utterance.
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_render_batch, b, config, wav_dir) for b in batches]
            for fut in as_completed(futures):
                bar.update(fut.result())


# --------------------------------------------------------------------------- build / load


@dataclass(frozen=True)
class BuildResult:
    """Where a build lives, and what this call did."""

    path: Path
    config: EmbeddedConfig
    rendered: int  # utterances rendered by this call (0: everything came from the cache)
    reused: bool  # the complete build was already on disk
    seconds: float


def default_root() -> Path:
    return corpora_dir() / CORPUS


def is_complete(path: Path) -> bool:
    """A build is complete once its manifest (written last) and metadata exist."""
    return (path / MANIFEST_NAME).is_file() and (path / METADATA_NAME).is_file()


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Exclusive lock so that two processes building the same config do not interleave."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(lock_path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Say why we wait: a silent hang here is usually a second process (or a spawned worker
            # re-running an unguarded script) building the same config.
            print(f"embedded corpus: waiting for another process building the same config (lock {lock_path})",
                  file=sys.stderr, flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_corpus(config: EmbeddedConfig | None = None, *, root: str | os.PathLike | None = None, jobs: int = 1,
                 progress: bool = True) -> BuildResult:
    """Build the corpus for ``config`` under ``root`` (default cache), or reuse a complete build."""
    config = config or EmbeddedConfig()
    start = time.perf_counter()
    base = Path(root).expanduser() if root is not None else default_root()
    out = base / config.config_hash()
    if is_complete(out):
        return BuildResult(out, config, 0, True, time.perf_counter() - start)
    base.mkdir(parents=True, exist_ok=True)
    with _locked(base / f".{out.name}.lock"):
        if is_complete(out):  # another process finished it while we waited
            return BuildResult(out, config, 0, True, time.perf_counter() - start)
        wav_dir = out / "wav"
        wav_dir.mkdir(parents=True, exist_ok=True)
        specs = plan_utterances(config)
        todo = [s for s in specs if not (wav_dir / f"{s.utt_id}.json").is_file()]
        _render_all(todo, config, wav_dir, jobs, progress)
        manifest = _manifest_from_disk(specs, wav_dir)
        _write_json(out / METADATA_NAME, _metadata(config, specs, manifest))
        write_manifest(manifest, out / MANIFEST_NAME)  # last: marks the build complete
    return BuildResult(out, config, len(todo), False, time.perf_counter() - start)


def _manifest_from_disk(specs: list[UttSpec], wav_dir: Path) -> pd.DataFrame:
    records = []
    for spec in specs:
        meta = json.loads((wav_dir / f"{spec.utt_id}.json").read_text())
        records.append({
            "utt_id": spec.utt_id, "path": str((wav_dir / f"{spec.utt_id}.wav").resolve()), "corpus": CORPUS,
            "language": spec.speaker.language, "speaker": spec.speaker.speaker_id, "emotion": spec.emotion,
            "text": spec.text, "duration_s": meta["duration_s"], "session": spec.channel.session,
            "gender": spec.speaker.gender, "synthetic": True,
        })
    df = pd.DataFrame(records).sort_values("utt_id", kind="stable")
    return validate_manifest(df, f"{CORPUS} corpus at {wav_dir.parent}")[0]


def _metadata(config: EmbeddedConfig, specs: list[UttSpec], manifest: pd.DataFrame) -> dict[str, Any]:
    speakers = {s.speaker.speaker_id: s.speaker.to_dict() for s in specs}
    channels = {s.channel.session: s.channel.to_dict() for s in specs}
    return {
        "corpus": CORPUS, "synthetic": True, "note": SYNTHETIC_NOTE, **config.cache_key(),
        "config_hash": config.config_hash(), "sample_rate": SAMPLE_RATE, "utterances": len(manifest),
        "hours": round(float(manifest["duration_s"].sum()) / 3600, 4),
        "emotions": manifest["emotion"].value_counts().sort_index().to_dict(),
        "espeak_voices": {lang: ESPEAK_VOICES[lang] for lang in config.languages},
        "speakers": [speakers[k] for k in sorted(speakers)],
        "channels": [channels[k] for k in sorted(channels)],
    }


def read_build(path: str | os.PathLike) -> pd.DataFrame:
    """The manifest of a complete build, with paths pointing into ``path`` wherever the build now lives."""
    path = Path(path)
    if not is_complete(path):
        raise ManifestError(str(path), ["not a complete embedded-corpus build (no manifest.csv/corpus.json); "
                                        "run `emobench corpus build` again to finish it"])
    df = pd.read_csv(path / MANIFEST_NAME, dtype={"text": str, "session": str})
    df["path"] = [str((path / "wav" / f"{u}.wav").resolve()) for u in df["utt_id"]]
    return validate_manifest(df, f"{CORPUS} corpus at {path}", check_files=True)[0]


def list_builds(root: str | os.PathLike | None = None) -> list[Path]:
    """Complete builds under ``root`` (default cache), oldest first."""
    base = Path(root).expanduser() if root is not None else default_root()
    if not base.is_dir():
        return []
    builds = [p for p in base.iterdir() if p.is_dir() and is_complete(p)]
    return sorted(builds, key=lambda p: (p / MANIFEST_NAME).stat().st_mtime)
