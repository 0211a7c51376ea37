"""On-disk feature cache keyed by (audio content, feature config).

Keys hash the file's bytes, not its path, so a moved or renamed corpus still
hits the cache and an edited file never returns stale features. Each entry is
one ``.npy`` file written atomically, so an interrupted extraction keeps every
entry it finished and never leaves a half-written one.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmark.errors import AudioError
from benchmark.features.base import FeatureConfig

# (path, size, mtime_ns) -> sha1: hashing a corpus once per process is enough.
_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """SHA-1 of a file's bytes, memoised per (path, size, mtime) within the process."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AudioError(str(path), "file not found") from None
    key = (str(path), st.st_size, st.st_mtime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha1").hexdigest()
        _DIGESTS[key] = digest
    return digest


class FeatureCache:
    """``<root>/<feature name>-<config digest>/<sha[:2]>/<sha>.npy``."""

    def __init__(self, root: str | Path, config: FeatureConfig):
        self.dir = Path(root) / f"{config.name}-{config.digest()}"

    def path(self, digest: str) -> Path:
        return self.dir / digest[:2] / f"{digest}.npy"

    def get(self, digest: str) -> np.ndarray | None:
        path = self.path(digest)
        try:
            return np.load(path, allow_pickle=False)
        except (FileNotFoundError, ValueError, EOFError):
            return None  # absent, or damaged by something outside emobench: recompute

    def put(self, digest: str, value: np.ndarray) -> None:
        path = self.path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, np.ascontiguousarray(value), allow_pickle=False)
        tmp.replace(path)


def cached_for_file(path: str | Path, config: FeatureConfig, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()`` for the audio file ``path`` under ``config``, cached by the file's content in the
    shared feature cache (``$EMOBENCH_HOME/features``): computed once, reused across runs and processes."""
    from benchmark.paths import feature_cache_dir

    cache = FeatureCache(feature_cache_dir(), config)
    digest = file_digest(path)
    value = cache.get(digest)
    if value is None:
        value = compute()
        cache.put(digest, value)
    return value
