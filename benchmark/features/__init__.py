"""Features: computed once per (audio file, feature config), cached, shared by every method.

Registered extractors: ``logmel`` and ``mfcc`` (torch, batched, GPU when
present), ``functionals`` (fast torch functional set), ``egemaps``
(eGeMAPSv02 through openSMILE, in parallel processes), and the pretrained
encoders ``whisper_encoder`` (Whisper tiny.en, packaged weights) and ``ssl``
(a HuggingFace WavLM / HuBERT / wav2vec 2.0 / data2vec-audio folder)::

    feats = extract_features(manifest, "logmel")            # utt_id -> (frames, 64)
    feats = extract_features(manifest, {"name": "mfcc", "n_mfcc": 13})
    feats = extract_features(manifest, {"name": "whisper_encoder", "layers": 3, "pooling": "mean_std"})
    train = feature_set(rows, "functionals")                 # a FeatureSet for a method

A config with a :meth:`~FeatureConfig.source` (a pretrained encoder's layer
pick or pooling) is a view: its source (every layer's frames) is computed and
cached once per file, and each view is derived from it and cached too.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from benchmark.audio import load_audio
from benchmark.features import egemaps, functionals, spectral  # noqa: F401  (register extractors)
from benchmark.features import ssl, whisper_encoder  # noqa: F401,E402  (register the pretrained encoders)
from benchmark.features.base import FEATURES, Extractor, FeatureConfig, make_config
from benchmark.features.cache import FeatureCache, file_digest
from benchmark.featureset import FeatureSet
from benchmark.paths import feature_cache_dir

__all__ = ["FEATURES", "Extractor", "FeatureConfig", "make_config", "extract_features", "feature_set"]

CHUNK_FILES = 64  # files per extraction call: large enough to batch, small enough to save progress often
_MEMORY: dict[tuple[str, str], np.ndarray] = {}  # loaded cache entries, per process


def _extract_chunk(config: FeatureConfig, paths: list[str]) -> list[np.ndarray]:
    extractor = FEATURES.get(config.name)(config)
    return extractor.extract_batch([load_audio(p, config.sample_rate) for p in paths])


def extract_features(
    manifest: pd.DataFrame,
    feature: str | dict[str, Any] | FeatureConfig,
    *,
    cache_dir: str | Path | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Features of every manifest row, ``utt_id -> array``, from the cache where possible.

    A bad audio file raises :class:`~benchmark.errors.AudioError` naming it;
    every entry finished before it stays cached.
    """
    config = make_config(feature)
    root = cache_dir or feature_cache_dir()
    cache = FeatureCache(root, config)
    digests = {utt: file_digest(path) for utt, path in zip(manifest["utt_id"], manifest["path"])}
    paths = dict(zip(digests.values(), manifest["path"]))  # one path per distinct content

    found: dict[str, np.ndarray] = {}
    todo = []
    for digest in dict.fromkeys(digests.values()):
        value = _MEMORY.get((str(cache.dir), digest))
        if value is None:
            value = cache.get(digest)
        if value is None:
            todo.append(digest)
        else:
            found[digest] = value
    if todo:
        source = config.source()
        if source is None:
            found.update(_compute(config, cache, todo, paths, n_jobs, progress))
        else:
            found.update(_compute_view(config, source, cache, FeatureCache(root, source), todo, paths, n_jobs,
                                       progress))
    for digest, value in found.items():
        _MEMORY[(str(cache.dir), digest)] = value
    return {utt: found[digest] for utt, digest in digests.items()}


def _compute_view(config: FeatureConfig, source: FeatureConfig, cache: FeatureCache, source_cache: FeatureCache,
                  todo: list[str], paths: dict[str, str], n_jobs: int | None,
                  progress: bool) -> dict[str, np.ndarray]:
    """``config``'s view of each file, from its source's cache entry or, where that is missing, from
    extracting the source (cached for the next view). Source arrays are never held all at once: an
    encoder's every-layer frames are a hundred times the size of a pooled view."""
    out: dict[str, np.ndarray] = {}
    missing = []
    for digest in todo:
        stored = source_cache.get(digest)
        if stored is None:
            missing.append(digest)
        else:
            out[digest] = config.view(stored)
            cache.put(digest, out[digest])
    if missing:
        out.update(_compute(source, source_cache, missing, paths, n_jobs, progress, view=config, view_cache=cache))
    return out


def _compute(config: FeatureConfig, cache: FeatureCache, todo: list[str], paths: dict[str, str],
             n_jobs: int | None, progress: bool, view: FeatureConfig | None = None,
             view_cache: FeatureCache | None = None) -> dict[str, np.ndarray]:
    """Extract ``config`` for ``todo`` and cache it; with ``view``, return (and cache) that view of it instead."""
    chunks = [todo[i : i + CHUNK_FILES] for i in range(0, len(todo), CHUNK_FILES)]
    jobs = n_jobs or os.cpu_count() or 1
    use_pool = FEATURES.get(config.name).parallel == "processes" and jobs > 1 and len(chunks) > 1
    out: dict[str, np.ndarray] = {}
    bar = tqdm(total=len(todo), desc=f"features {config.name}", unit="file", disable=not progress)
    try:
        if use_pool:
            with ProcessPoolExecutor(jobs) as pool:
                results = pool.map(_extract_chunk, [config] * len(chunks), [[paths[d] for d in c] for c in chunks])
                for chunk, values in zip(chunks, results):
                    _store(cache, chunk, values, out, bar, view, view_cache)
        else:
            for chunk in chunks:
                _store(cache, chunk, _extract_chunk(config, [paths[d] for d in chunk]), out, bar, view, view_cache)
    finally:
        bar.close()
    return out


def _store(cache: FeatureCache, chunk: list[str], values: list[np.ndarray], out: dict, bar,
           view: FeatureConfig | None = None, view_cache: FeatureCache | None = None) -> None:
    for digest, value in zip(chunk, values):
        cache.put(digest, value)
        if view is not None:
            assert view_cache is not None   # given with the view
            value = view.view(value)
            view_cache.put(digest, value)
        out[digest] = value
    bar.update(len(chunk))


def feature_set(rows: pd.DataFrame, feature: str | dict[str, Any] | FeatureConfig, **kwargs: Any) -> FeatureSet:
    """A :class:`FeatureSet` of ``rows`` (in row order) for a method to fit or score."""
    config = make_config(feature)
    feats = extract_features(rows, config, **kwargs)
    values = [feats[u] for u in rows["utt_id"]]
    frame_level = config.frame_level
    return FeatureSet(
        utt_ids=list(rows["utt_id"]),
        X=values if frame_level else np.stack(values).astype(np.float32),
        y=rows["emotion"].to_numpy(dtype=object),
        speakers=rows["speaker"].to_numpy(dtype=object),
        languages=rows["language"].to_numpy(dtype=object),
    )
