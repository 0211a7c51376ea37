"""Corpus loaders: each reads one corpus in its published layout into a Manifest.

Add a corpus by writing ``benchmark/corpora/<name>.py`` with a function
decorated ``@CORPORA.register("<name>")`` taking ``(root, **options)`` and
returning ``(manifest, skip_report)``, then importing it below.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pandas as pd

from benchmark.manifest import SkipReport
from benchmark.registry import Registry

Loader = Callable[..., tuple[pd.DataFrame, SkipReport]]
CORPORA: Registry[Loader] = Registry("corpus")


def load_corpus(name: str, root: str | Path | None = None, **options: Any) -> tuple[pd.DataFrame, SkipReport]:
    """Load corpus ``name`` from ``root`` (the embedded corpus needs no root)."""
    return CORPORA.get(name)(root, **options)


# Loader modules register themselves on import.
from benchmark.corpora import _register_all  # noqa: E402,F401
