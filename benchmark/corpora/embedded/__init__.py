"""The embedded default corpus: SYNTHETIC multilingual emotional speech rendered offline by eSpeak NG.

It lets the whole suite run on a fresh machine with no corpus download:
six languages (en, de, fr, es, it and tonal Mandarin ``zh``), eight voices
per language with personal prosody baselines, four emotions (neutral,
happy, angry, sad; fear and surprise on request) rendered as distributions
over pitch, range, rate, pauses, loudness and voice quality, per-session
recording channels, a Neutral-heavy class balance, phoneme timings for TTS
work, and parallel sentences (the same speaker says a sentence in several
emotions). Being synthetic, it is a test bed, not evidence about human
speech; its manifest carries ``synthetic=True`` and its ``corpus.json`` says so.

``load_corpus("embedded", None, **config)`` builds it on first use (cached
under ``$EMOBENCH_HOME/corpora/embedded/<config hash>``) and loads it after.
Modules: ``texts`` (the sentences), ``speakers``, ``prosody`` (emotion
profiles, voice quality), ``channel`` (sessions), ``build`` (plan, render, cache);
the eSpeak NG binding is :mod:`benchmark.espeak` and the timings' format
:mod:`benchmark.phoneme_timings` (both shared with the TTS code).
"""
from __future__ import annotations

import os
from typing import Any

import pandas as pd

from benchmark.corpora import CORPORA
from benchmark.corpora.embedded.build import (
    CORPUS, SYNTHETIC_NOTE, BuildResult, EmbeddedConfig, build_corpus, list_builds, make_config, read_build,
)
from benchmark.errors import ConfigError
from benchmark.manifest import SkipReport
from benchmark.phoneme_timings import phoneme_timings  # written beside every wav by build

__all__ = ["EmbeddedConfig", "BuildResult", "build_corpus", "load_embedded", "list_builds", "make_config",
           "phoneme_timings", "read_build", "SYNTHETIC_NOTE"]


@CORPORA.register(CORPUS)
def load_embedded(root: str | os.PathLike | None = None, *, jobs: int = 1, progress: bool = True,
                  **options: Any) -> tuple[pd.DataFrame, SkipReport]:
    """Build (first call) or load (later calls) the embedded corpus for the config in ``options``.

    ``root`` is the folder that holds builds (default ``$EMOBENCH_HOME/corpora/embedded``);
    ``options`` are :class:`EmbeddedConfig` fields (``size``, ``seed``, ``imbalance``,
    ``difficulty``, ``languages``, ...); an unknown one raises a ConfigError naming it.
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"embedded corpus: option 'jobs' must be a positive integer, not {jobs!r}")
    config = make_config(options)
    result = build_corpus(config, root=root, jobs=jobs, progress=progress)
    manifest = read_build(result.path)
    return manifest, SkipReport(f"{CORPUS} corpus at {result.path}")
