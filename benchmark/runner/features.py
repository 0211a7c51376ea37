"""The features a run's cells need: extracted once, in the order the schedule first needs them.

Without this the pool's workers would each extract the same missing features at the same time on a
fresh machine; with it they only read the feature cache. :class:`FeaturePrep` lists the extractions
(corpus, language, feature config) the jobs need and, where the executor can run jobs meanwhile
(``background``), extracts only what the first job needs in the driver and, started before it so
that both cores work from the start, the rest in one background process, in the order of the first
job that needs each, while the executor already runs the jobs whose features are there
(:meth:`ready`). The TTS chain, the suite's longest sequence of jobs, needs one language's log-mels
and functionals (seconds) and so starts at once instead of after minutes of eGeMAPS. The extracted
values are the same either way: they come from the same extractor and go to the same cache, and a
job that found its features missing would extract them itself (the gate saves the duplicate work, it
is not needed for correctness).
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

log = logging.getLogger(__name__)

# (corpus, language or "", feature config digest)
FeatureKey = tuple[str, str, str]


@dataclass(frozen=True)
class Extraction:
    """One feature of one corpus (or of its rows in one language)."""

    corpus: str
    language: str | None
    config: Any   # a FeatureConfig

    @property
    def key(self) -> FeatureKey:
        return (self.corpus, self.language or "", self.config.digest())

    def rows(self, manifests: dict[str, pd.DataFrame]) -> pd.DataFrame:
        manifest = manifests[self.corpus]
        return manifest if self.language is None else manifest[manifest["language"] == self.language]


def cell_needs(cells: Sequence[Any]) -> dict[FeatureKey, Extraction]:
    """The extractions ``cells`` need (``GridCell.feature_needs``), by key, in the cells' order."""
    from benchmark.features import make_config

    needed: dict[FeatureKey, Extraction] = {}
    for cell in cells:
        for need in cell.feature_needs():
            extraction = Extraction(cell.corpus, need.language, make_config(need.feature))
            needed.setdefault(extraction.key, extraction)
    return needed


def _job_key(job: Any) -> tuple[str, ...]:
    return tuple(cell.key for cell in job.cells)


def _extract(extraction: Extraction, rows: pd.DataFrame, n_jobs: int, progress: bool,
             keep: bool = True) -> float:
    """Extract (or find cached) one extraction's features; its wall seconds (the values go to the feature
    cache, where the workers read them). ``keep=False`` (the background
    process) drops them from this process's memory afterwards: nothing here reads them again, and a
    corpus's log-mels are hundreds of MB beside the workers' own copies."""
    import benchmark.features as features

    start = time.perf_counter()
    features.extract_features(rows, extraction.config, n_jobs=max(1, n_jobs), progress=progress)
    if not keep:
        features._MEMORY.clear()
    return time.perf_counter() - start


def _init_background() -> None:
    """One core for the background extractor: the executor's workers have the others."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    _LIMITS.append(threadpool_limits(1))


_LIMITS: list[Any] = []


class FeaturePrep:
    """Every feature that ``jobs`` need, extracted in the order the jobs first need them.

    ``background=False``: all of it now, in this process, with ``n_jobs`` processes per extraction (for
    an executor that cannot start jobs before every feature is there). ``background=True``: what the
    first job needs now, the rest in one spawned process (a fresh interpreter: this one has threads,
    and the executor's workers are forked from it) while the executor runs the jobs that are
    :meth:`ready`. A failed extraction is raised by :meth:`check` once no job can run without it.
    """

    def __init__(self, jobs: Sequence[Any], manifests: dict[str, pd.DataFrame], *, n_jobs: int = 1,
                 progress: bool = True, background: bool = False):
        self._start = time.perf_counter()
        self.manifests = manifests
        self._job_needs = {_job_key(job): set(cell_needs(job.cells)) for job in jobs}
        self.order: list[Extraction] = list(cell_needs([c for job in jobs for c in job.cells]).values())
        self._done: set[FeatureKey] = set()
        self._futures: dict[FeatureKey, Future] = {}
        self._failed: dict[FeatureKey, BaseException] = {}
        self._pool: ProcessPoolExecutor | None = None
        self.seconds = 0.0   # until the last extraction ended
        first = self._job_needs[_job_key(jobs[0])] if jobs and background else {e.key for e in self.order}
        later = [e for e in self.order if e.key not in first]
        if later:   # started first: the extractor's interpreter starts while this one extracts the first job's
            self._submit(later)
        for extraction in (e for e in self.order if e.key in first):
            _extract(extraction, extraction.rows(manifests), n_jobs, progress)
            self._done.add(extraction.key)
        self._collect()   # nothing left in the background: the features' time is known now

    def _submit(self, extractions: list[Extraction]) -> None:
        from multiprocessing import get_context

        self._pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_init_background)
        for extraction in extractions:   # one worker: they run in this order
            self._futures[extraction.key] = self._pool.submit(_extract, extraction,
                                                              extraction.rows(self.manifests), 1, False, False)
        log.info("extracting %d feature set(s) in the background: %s", len(extractions),
                 ", ".join(f"{e.config.name}" + (f" ({e.language})" if e.language else "") for e in extractions))

    # ------------------------------------------------------------------ the executor's view

    def _collect(self) -> None:
        for key, future in list(self._futures.items()):
            if future.done():
                del self._futures[key]
                error = future.exception()
                if error is None:
                    self._done.add(key)
                    log.info("features %s ready (%.0f s in the background)", key, future.result())
                else:
                    self._failed[key] = error
        if not self._futures and self.seconds == 0.0:
            self.seconds = time.perf_counter() - self._start
        if not self._futures and self._pool is not None:   # done: the extractor's process and memory go
            self._pool.shutdown(wait=False)
            self._pool = None

    def _has(self, key: FeatureKey) -> bool:
        # the whole corpus's extraction holds every language's rows
        return key in self._done or (key[0], "", key[2]) in self._done

    def ready(self, job: Any) -> bool:
        """Whether every feature ``job`` needs is extracted."""
        self._collect()
        if not self._futures and not self._failed:
            return True   # everything is extracted
        needs = self._job_needs.get(_job_key(job))
        if needs is None:   # a job made after the prep (a retry, or cells another run gave up)
            needs = self._job_needs[_job_key(job)] = set(cell_needs(job.cells))
        return all(self._has(key) for key in needs)

    @property
    def pending(self) -> bool:
        """Whether extractions are still running or queued."""
        self._collect()
        return bool(self._futures)

    def wait(self, timeout: float | None = None) -> None:
        """Until the next extraction ends (or ``timeout`` seconds)."""
        if self._futures:
            wait(list(self._futures.values()), timeout=timeout, return_when="FIRST_COMPLETED")
        self._collect()

    def check(self) -> None:
        """Raise the first failed extraction's error (a bad audio file names itself)."""
        self._collect()
        if self._failed:
            raise next(iter(self._failed.values()))

    def finish(self) -> None:
        """Wait for every extraction, then raise a failure (for executors that need every feature first)."""
        while self.pending:
            self.wait()
        self.check()

    def close(self) -> None:
        """Stop the background extraction (the run was interrupted; a finished one has ended already)."""
        if self._pool is not None:
            from benchmark.runner.pool import end_pool

            end_pool(self._pool)
            self._pool = None
