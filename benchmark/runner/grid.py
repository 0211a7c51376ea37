"""From a suite to work: its corpora's manifests, its cells, and the training groups they are run in.

A cell kind's cells come from one expand function here (:func:`expand_grid` for the SER grid,
:func:`expand_tts_grid` for the TTS systems), listed in :func:`expand_cells`.
"""
from __future__ import annotations

import logging
from typing import Sequence, TypeVar

import pandas as pd

from benchmark.corpora import load_corpus
from benchmark.manifest import manifest_hash
from benchmark.runner.cells import GridCell
from benchmark.runner.ser_cell import Cell
from benchmark.runner.tts_cell import TTSCell
from benchmark.suite import SuiteConfig

log = logging.getLogger(__name__)

C = TypeVar("C", bound=GridCell)


def load_manifests(suite: SuiteConfig, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Every corpus of the suite, keyed by the corpus's own name (its manifest's ``corpus``), which
    cells are tagged with: a ``csv`` loader's corpus is named by its file or ``corpus`` option."""
    from benchmark.errors import ConfigError

    manifests = {}
    for spec in suite.corpora:
        manifest, skipped = load_corpus(spec.name, spec.root, **spec.options)
        if len(skipped):
            log.warning("%s: %d entries skipped (see the skip report)", spec.name, len(skipped))
        key = corpus_name(spec.name, manifest)
        if key in manifests:
            raise ConfigError(f"corpora: two entries load corpus {key!r} (set a `corpus` option to tell them apart)")
        manifests[key] = manifest
    return manifests


def corpus_name(loader: str, manifest: pd.DataFrame) -> str:
    """The corpus's own name: the manifest's single ``corpus`` value, else the loader's name."""
    names = manifest["corpus"].unique()
    return str(names[0]) if len(names) == 1 else loader


def _corpus_keys(names: list[str], suite: SuiteConfig, manifests: dict[str, pd.DataFrame]) -> list[str]:
    """A protocol's ``corpora`` (the corpora's own names, or the loader names the suite lists them
    under) as keys of ``manifests``, which :func:`load_manifests` filled in the suite's order."""
    by_loader: dict[str, str] = {}
    for spec, key in zip(suite.corpora, manifests):
        by_loader.setdefault(spec.name, key)
    return [name if name in manifests else by_loader[name] for name in names]


def expand_grid(suite: SuiteConfig, manifests: dict[str, pd.DataFrame]) -> list[Cell]:
    """Every (corpus, protocol, split, method, seed) cell of the suite, in a stable order."""
    from benchmark.protocols import make_splits

    cells = []
    for proto in suite.protocols:
        corpora = list(manifests) if proto.corpora == "all" else _corpus_keys(proto.corpora, suite, manifests)
        for corpus in corpora:
            manifest = manifests[corpus]
            data_hash = manifest_hash(manifest)
            for split in make_splits(manifest, proto.name, **proto.config):
                for method in suite.methods_for(proto):
                    for seed in proto.seeds:
                        cells.append(Cell(corpus, data_hash, proto, split, method, suite.hparams_of(method), seed,
                                          suite.base_method(method)))
    return cells


def expand_tts_grid(suite: SuiteConfig, manifests: dict[str, pd.DataFrame]) -> list[TTSCell]:
    """Every (corpus, system, seed) TTS cell of the suite, in a stable order (none without a ``tts`` section)."""
    spec = suite.tts
    if spec is None:
        return []
    from benchmark.tts.evaluate import TTSEvalConfig

    config = TTSEvalConfig(**spec.config).model_dump()  # resolved: a default changed in code changes the key
    cells = []
    for corpus in (list(manifests) if spec.corpora == "all" else _corpus_keys(spec.corpora, suite, manifests)):
        data_hash = manifest_hash(manifests[corpus])
        for seed in spec.seeds:
            for system in spec.systems():
                hparams = suite.hparams_of(system) if system in spec.methods else {}
                cells.append(TTSCell(corpus, data_hash, system, hparams, seed, config))
    return cells


def expand_cells(suite: SuiteConfig, manifests: dict[str, pd.DataFrame]) -> list[GridCell]:
    """Every cell of the suite, of every kind (the SER grid, then the TTS systems), in a stable order."""
    return [*expand_grid(suite, manifests), *expand_tts_grid(suite, manifests)]


def schedule(cells: Sequence[C]) -> list[list[C]]:
    """Cells grouped by training key (one fit each), the costliest groups first (``schedule_rank``).

    Longest-first keeps both workers busy to the end instead of leaving one slow log-mel fit
    for last; within a cost class the grid order is kept, so runs appear in a readable order.
    """
    groups: dict[str, list[C]] = {}
    for cell in cells:
        groups.setdefault(cell.training_key, []).append(cell)
    return sorted(groups.values(), key=lambda group: group[0].schedule_rank)
