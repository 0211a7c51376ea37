"""The local process pool's workers: one thread each, the corpus manifests inherited, ended with their parent."""
from __future__ import annotations

import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Iterator

import pandas as pd

_WORKER_MANIFESTS: dict[str, pd.DataFrame] = {}
_WORKER_LIMITS: list[Any] = []


def _init_worker(manifests: dict[str, pd.DataFrame], threads: int, parent: int | None = None) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    _die_with_parent(parent if parent is not None else os.getppid())
    # forked after the main process installed its SIGTERM handler: a terminated worker just ends
    # (the main process sees a broken pool and marks the open runs FAILED)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # One core per worker for torch AND for NumPy/SciPy's BLAS: two workers whose BLAS each
    # spawn a thread per core fight over the cores (measured: lbfgs on oversampled functionals
    # several times slower than alone).
    torch.set_num_threads(threads)
    _WORKER_LIMITS.append(threadpool_limits(threads))  # kept referenced for the worker's lifetime
    _WORKER_MANIFESTS.update(manifests)


def _die_with_parent(parent: int) -> None:
    """End this worker when the process that started it dies, even by ``kill -9``.

    The pool's own bookkeeping cannot notice while a worker is busy on a cell: such
    workers went on for minutes at about 650 MB each. On Linux the kernel sends
    SIGKILL at the parent's death (``PR_SET_PDEATHSIG``); elsewhere, and as a
    fallback, a daemon thread checks once a second that the parent is still ours.
    """
    import threading

    if os.getppid() != parent:  # the parent died before this line ran
        os._exit(1)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # no prctl: the watchdog below still works
            pass
        if os.getppid() != parent:  # died between the check and prctl
            os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="emobench-parent-watchdog", daemon=True).start()


@contextmanager
def _worker_pool(n_jobs: int, manifests: dict[str, pd.DataFrame], threads: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers are ended, not awaited, when the run is interrupted.

    ``ProcessPoolExecutor``'s own exit waits for the cells in progress: a SIGTERM or Ctrl-C would
    then stop the run only minutes later."""
    pool = ProcessPoolExecutor(n_jobs, initializer=_init_worker, initargs=(manifests, threads, os.getpid()))
    try:
        yield pool
    except BaseException:
        end_pool(pool)
        raise
    pool.shutdown(wait=True)


def end_pool(pool: ProcessPoolExecutor) -> None:
    """End a process pool's workers now (SIGTERM) instead of waiting for their tasks, and drop what is queued."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()  # SIGTERM: a worker's default action (see _init_worker)
    pool.shutdown(wait=True, cancel_futures=True)


def worker_manifest(corpus: str) -> pd.DataFrame:
    """The manifest of ``corpus`` that this pool worker was started with."""
    return _WORKER_MANIFESTS[corpus]
