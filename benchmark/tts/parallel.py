"""Per-utterance TTS scoring over a process pool, results in input order whatever the pool size.

The analyses behind MCD and prosody (WORLD F0 and envelope, mel-cepstra, DTW)
are single-threaded C and numba code that take 0.1-0.5 s per utterance, so
one process per core is where the speed is. Every item is computed by the same
function with the same inputs in whichever process runs it, so ``jobs=1`` and
``jobs=N`` give identical numbers (tested).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Failure:
    """An item whose function raised: the exception's type name and message (exceptions themselves do not
    always survive pickling)."""

    error_type: str
    message: str
    known: bool  # an EmobenchError or ValueError: a message meant for the user

    def __str__(self) -> str:
        return self.message if self.known else f"{self.error_type}: {self.message}"


def resolve_jobs(jobs: int | None) -> int:
    """``jobs`` processes; 0 or None: one per CPU core. Raises ValueError on a negative number."""
    if jobs is None or jobs == 0:
        return os.cpu_count() or 1
    if jobs < 0:
        raise ValueError(f"jobs must be >= 0 (0: one per CPU core), got {jobs}")
    return jobs


def _guarded(fn: Callable[[T], R], item: T) -> R | Failure:
    from benchmark.errors import EmobenchError

    try:
        return fn(item)
    except Exception as exc:  # noqa: BLE001  (reported per item, in order)
        return Failure(type(exc).__name__, str(exc), isinstance(exc, (EmobenchError, ValueError)))


# The task of the pool being forked: workers inherit it, so ``fn`` may be any callable (a closure, a bound
# method) and the items are never pickled; only results travel back.
_TASK: tuple[Callable, Sequence] | None = None


def _run_slice(start: int, stop: int) -> list:
    fn, items = _TASK  # type: ignore[misc]
    return [_guarded(fn, items[i]) for i in range(start, stop)]


def map_items(fn: Callable[[T], R], items: Sequence[T], *, jobs: int | None = 1, progress: bool = False,
              desc: str = "", unit: str = "utt") -> list[R | Failure]:
    """``fn(item)`` for every item, in order, over ``jobs`` processes (1: in this process; 0: one per core).

    Results must be picklable. An item whose ``fn`` raises gets a :class:`Failure` in its place, so
    one bad file never hides the others' results. Workers are forked: whatever the parent has loaded
    or compiled (numba functions, models, ``fn``'s closure) they have too.
    """
    global _TASK
    jobs = min(resolve_jobs(jobs), max(len(items), 1))
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress)
    try:
        if jobs <= 1:
            out = []
            for item in items:
                out.append(_guarded(fn, item))
                bar.update()
            return out
        # Small slices (about 4 per worker) keep the workers evenly loaded when items differ in length,
        # while sending few enough messages that the pool's overhead stays in the milliseconds.
        size = max(1, min(8, len(items) // (4 * jobs)))
        starts = list(range(0, len(items), size))
        out = []
        _TASK = (fn, items)
        try:
            with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
                for values in pool.map(_run_slice, starts, [min(s + size, len(items)) for s in starts]):
                    out.extend(values)
                    bar.update(len(values))
        finally:
            _TASK = None
        return out
    finally:
        bar.close()


def unique(values: Iterable[T]) -> list[T]:
    """Distinct values in first-seen order."""
    return list(dict.fromkeys(values))
