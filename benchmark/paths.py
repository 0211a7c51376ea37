"""Where emobench keeps built corpora and caches (``$EMOBENCH_HOME``)."""
from __future__ import annotations

import os
from pathlib import Path


def emobench_home() -> Path:
    """Root of built corpora and feature caches; ``$EMOBENCH_HOME`` overrides it."""
    return Path(os.environ.get("EMOBENCH_HOME", Path.home() / ".cache" / "emobench")).expanduser()


def corpora_dir() -> Path:
    return emobench_home() / "corpora"


def feature_cache_dir() -> Path:
    return emobench_home() / "features"
