"""EmoBox-style JSONL metadata (EmoBox, Ma et al., Interspeech 2024), any corpus EmoBox prepares.

EmoBox keeps one folder per corpus, its ``wav`` paths relative to the
EmoBox checkout (``downloads/<corpus>/...``)::

    <EmoBox>/data/<corpus>/<corpus>.jsonl   one JSON object per line:
        {"key": "cafe-01-C-1-1", "dataset": "cafe", "wav": "downloads/cafe/.../01-C-1-1.wav",
         "type": "raw", "sample_rate": 48000, "num_frame": ..., "task": "category",
         "length": 4.2, "emo": "c", "channel": 1}
    <EmoBox>/data/<corpus>/label_map.json   emo code -> emotion name ("c": "Angry"; EMOVO: label_dict.json)
    <EmoBox>/data/<corpus>/data.seg.wrd.stm "<key> <channel> <speaker> <start> <end> <meta> <emo>" per line
    <EmoBox>/data/<corpus>/corpus.cfg       "language = french" under [Corpus]
    <EmoBox>/data/<corpus>/fold_<n>/<corpus>_{train,test}_fold_<n>.jsonl

``root`` is the corpus folder (``data/<corpus>``) or a ``.jsonl`` file.
Relative ``wav`` paths resolve against ``audio_root`` (default: the EmoBox
checkout, two levels above the corpus folder). Per-line fields override the
side files when present: ``spk`` (speaker), ``lang`` (language), ``text``,
``gender``; ``path`` and ``dur``/``duration`` are read as synonyms of ``wav`` and
``length``. The emotion is ``emo`` through ``label_map.json`` when present,
then mapped to the canonical names (Angry -> angry, Happy -> happy, ...);
"No-agreement" is excluded and reported. A label that ``label_map.json``
defines but emobench has no name for (EmoV-DB's Amused, Sleepy) is an error
without ``classes`` and, like any class outside ``classes``, excluded with it.

Language, first found: the ``language`` option (a code for the whole corpus,
or a ``{speaker: code}`` mapping), the line's ``lang``, the corpus's own
speaker rule where ``corpus.cfg`` says ``language = mix`` (ESD: speakers
0001-0010 Mandarin, 0011-0020 English; EmoBox's stm files tag every ESD line
``lang=en``, so they are not read), then ``corpus.cfg``. ``fold=n`` loads that fold's train
and test files with ``split`` set accordingly.
"""
from __future__ import annotations

import configparser
import json
from pathlib import Path
from typing import Callable

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora._common import (NO_AGREEMENT, ClassesArg, Collector, canonical_emotion, finish, language_code,
                                       read_text, resolve_classes, strict_options)
from benchmark.corpora.esd import speaker_language as esd_speaker_language
from benchmark.errors import ConfigError, ManifestError
from benchmark.manifest import OnError, SkipReport

LAYOUT = "<EmoBox>/data/<corpus>/<corpus>.jsonl (+ label_map.json, data.seg.wrd.stm, corpus.cfg)"
GENDERS = {"f": "female", "female": "female", "m": "male", "male": "male"}
MIXED = "mix"  # corpus.cfg's "language = mix": one language per speaker, not per corpus


@CORPORA.register("emobox")
@strict_options
def load_emobox(root: str | Path | None, *, on_error: OnError = "raise", check_files: bool = True,
                classes: ClassesArg = None, audio_root: str | Path | None = None, fold: int | None = None,
                corpus: str | None = None, language: str | dict[str, str] | None = None,
                progress: bool = True) -> tuple[pd.DataFrame, SkipReport]:
    """Load an EmoBox corpus folder (or one ``.jsonl`` file) into a manifest.

    ``corpus`` names it in the manifest (default: the ``dataset`` field);
    ``language`` overrides every other language source (ISO 639-1), for the
    whole corpus or per speaker (``{"0001": "zh", ...}``).
    """
    if root is None:
        raise ConfigError(f"corpus 'emobox' needs root= (expected layout: {LAYOUT})")
    root = Path(root).expanduser().resolve()
    meta_dir = root.parent if root.is_file() else root
    files = _jsonl_files(root, fold)
    base_audio = Path(audio_root).expanduser().resolve() if audio_root is not None else meta_dir.parent.parent
    label_map = _label_map(meta_dir)
    speakers = _stm_speakers(meta_dir / "data.seg.wrd.stm")
    default_lang = _cfg_language(meta_dir / "corpus.cfg")
    languages = _language_option(language)
    wanted = resolve_classes(classes)

    entries = [(path, split, lineno, line) for path, split in files
               for lineno, line in enumerate(read_text(path).splitlines(), start=1) if line.strip()]
    name = corpus or _dataset_name(entries) or meta_dir.name
    dataset = _dataset_name(entries) or meta_dir.name
    col = Collector(name, meta_dir)
    for path, split, lineno, line in entries:
        _add(col, f"{path.name} line {lineno}", line, split, base_audio, label_map, speakers, languages,
             default_lang, SPEAKER_LANGUAGE.get(dataset.lower()), wanted)
    return finish(col, on_error=on_error, check_files=check_files, classes=classes, progress=progress)


def _jsonl_files(root: Path, fold: int | None) -> list[tuple[Path, str | None]]:
    if root.is_file():
        if fold is not None:
            raise ConfigError("fold= needs the corpus folder as root, not a single .jsonl file")
        return [(root, None)]
    files: list[tuple[Path, str | None]]
    if not root.is_dir():
        raise ConfigError(f"corpus 'emobox': root {str(root)!r} is neither a folder nor a .jsonl file ({LAYOUT})")
    if fold is not None:
        fold_dir = root / f"fold_{fold}"
        files = [(fold_dir / f"{root.name}_{part}_fold_{fold}.jsonl", part) for part in ("train", "test")]
        missing = [str(p) for p, _ in files if not p.is_file()]
        if missing:
            raise ManifestError(str(fold_dir), [f"fold file not found: {m}" for m in missing])
        return files
    main = root / f"{root.name}.jsonl"
    if main.is_file():
        return [(main, None)]
    found = sorted(p for p in root.glob("*.jsonl") if not p.name.startswith("."))
    if len(found) != 1:
        raise ManifestError(str(root), [f"expected {main.name} (or exactly one .jsonl file), found "
                                        f"{[p.name for p in found] or 'none'}"])
    return [(found[0], None)]


def _label_map(meta_dir: Path) -> dict[str, str]:
    for name in ("label_map.json", "label_dict.json"):
        path = meta_dir / name
        if path.is_file():
            return {str(k): str(v) for k, v in json.loads(read_text(path)).items()}
    return {}


def _stm_speakers(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    speakers = {}
    for line in read_text(path).splitlines():
        fields = line.split()
        if len(fields) >= 3:
            speakers[fields[0]] = fields[2]
    return speakers


# Corpora whose corpus.cfg says "language = mix": the language follows from the speaker.
SPEAKER_LANGUAGE: dict[str, Callable[[str], str | None]] = {"esd": esd_speaker_language}


def _language_option(language: str | dict[str, str] | None) -> str | dict[str, str] | None:
    """The ``language`` option checked: every code (one, or one per speaker) a known language."""
    codes = language.values() if isinstance(language, dict) else [] if language is None else [language]
    bad = [c for c in codes if language_code(c) is None]
    if bad:
        raise ConfigError(f"language: unknown language(s) {bad!r} (use ISO 639-1 codes such as 'en')")
    if isinstance(language, dict):
        return {str(spk): str(language_code(code)) for spk, code in language.items()}   # all known: checked above
    return language_code(language) if language is not None else None


def _cfg_language(path: Path) -> str | None:
    """corpus.cfg's language as a code; ``MIXED`` when it says the corpus mixes languages."""
    if not path.is_file():
        return None
    cfg = configparser.ConfigParser(inline_comment_prefixes=("#",), interpolation=None)
    try:
        cfg.read_string(read_text(path))
        name = cfg.get("Corpus", "language", fallback=None)
    except configparser.Error:
        return None
    if name and name.strip().lower() in ("mix", "mixed", "multi", "multilingual"):
        return MIXED
    return language_code(name) if name else None


def _dataset_name(entries: list) -> str | None:
    for *_, line in entries:
        try:
            value = json.loads(line).get("dataset")
        except (json.JSONDecodeError, AttributeError):
            continue
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _add(col: Collector, entry: str, line: str, split: str | None, base_audio: Path, label_map: dict[str, str],
         speakers: dict[str, str], forced_lang: str | dict[str, str] | None, cfg_lang: str | None,
         speaker_rule: Callable[[str], str | None] | None, wanted: tuple[str, ...] | None) -> None:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        col.problem(entry, f"not valid JSON ({exc.msg})")
        return
    if not isinstance(item, dict):
        col.problem(entry, "not a JSON object")
        return
    key, wav = item.get("key"), item.get("wav", item.get("path"))
    if not isinstance(key, str) or not key or not isinstance(wav, str) or not wav:
        col.problem(entry, "needs non-empty 'key' and 'wav' (or 'path') fields")
        return
    entry = f"{entry} ({key})"
    # EmoBox keys repeat the corpus name ("cafe-01-C-1-1"); the manifest adds its own prefix.
    native = key[len(col.corpus) + 1:] if key.startswith(f"{col.corpus}-") else key
    raw = str(item.get("emo", ""))
    name = label_map.get(raw, raw)
    if name.strip().lower() in NO_AGREEMENT:
        col.exclude_utt(native, f"no agreed label ({raw!r} -> {name!r})")
        return
    reasons = []
    emotion = canonical_emotion(name)
    if emotion is None and wanted is not None and raw in label_map:
        # the corpus defines this class; emobench has no name for it, so it cannot be one of `classes`
        col.exclude_utt(native, f"label {name!r} has no emobench name and is not in classes ({', '.join(wanted)})")
        return
    if emotion is None:
        known = ", ".join(sorted(label_map)) if label_map else "canonical emotion names"
        hint = "; pass classes= to leave out labels emobench has no name for" if raw in label_map else ""
        reasons.append(f"unknown emotion label {raw!r}" + (f" -> {name!r}" if name != raw else "") +
                       f" (label_map: {known}{hint})")
    speaker = item.get("spk", speakers.get(key))
    if speaker is None or not str(speaker).strip():
        reasons.append("no speaker (no 'spk' field and no data.seg.wrd.stm line)")
        speaker = ""
    speaker = str(speaker).strip()
    lang = _line_language(item, speaker, forced_lang, cfg_lang, speaker_rule)
    if lang is None:
        if cfg_lang == MIXED:
            reasons.append(f"no language for speaker {speaker!r}: corpus.cfg says the corpus mixes languages and "
                           "the line has no 'lang' field; pass language={speaker: code}")
        else:
            reasons.append("no language (no 'lang' field, no usable corpus.cfg language; pass language=)")
    if reasons:
        col.problem(entry, "; ".join(reasons))
        return
    assert emotion is not None and lang is not None   # reported above otherwise
    path = Path(wav) if Path(wav).is_absolute() else base_audio / wav
    text = item.get("text", item.get("transcript"))
    gender = GENDERS.get(str(item.get("gender", item.get("gd", ""))).strip().lower())
    duration = item.get("length", item.get("dur", item.get("duration")))
    col.add(native, path, speaker=speaker, emotion=emotion, language=lang,
            text=text if isinstance(text, str) else None, gender=gender, split=split,
            duration_s=float(duration) if isinstance(duration, int | float) else None)


def _line_language(item: dict, speaker: str, forced: str | dict[str, str] | None, cfg_lang: str | None,
                   speaker_rule: Callable[[str], str | None] | None) -> str | None:
    """The line's language: the option, the line's ``lang``, the corpus's speaker rule, corpus.cfg."""
    if isinstance(forced, str):
        return forced
    if isinstance(forced, dict) and speaker in forced:
        return forced[speaker]
    if item.get("lang"):
        code = language_code(str(item["lang"]))
        if code:
            return code
    if cfg_lang == MIXED:
        return speaker_rule(speaker) if speaker_rule is not None else None
    return cfg_lang
