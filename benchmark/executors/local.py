"""The local executor: jobs in this process (``n_jobs=1``) or in a process pool on this machine.

MLflow is written only from the main process: a worker returns its cells' results and
the recorder logs them (one writer for an SQLite store).
"""
from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

import pandas as pd

from benchmark.executors.base import Job, JobQueue, Recorder


class LocalExecutor:
    name = "local"

    def __init__(self, n_jobs: int = 1):
        self.n_jobs = max(1, n_jobs)

    @property
    def overlaps_features(self) -> bool:
        """A pool can start jobs while the driver extracts the features of later ones; one process cannot."""
        return self.n_jobs > 1

    def start(self, suite: Any = None) -> None:
        """Nothing to start ahead: the pool is forked in :meth:`run`, after the driver has loaded what the
        workers then inherit (modules, manifests, the features it extracted)."""

    def close(self) -> None:
        """Nothing to stop: :meth:`run` ends its pool."""

    def run(self, queue: JobQueue, recorder: Recorder, manifests: dict[str, pd.DataFrame], *,
            bootstrap: int, models_dir: str | None, work_dir: str | None, **_: Any) -> None:
        from benchmark.runner.execute import run_job

        if self.n_jobs == 1:
            while (job := queue.next_ready()) is not None:
                if recorder.claim(job):
                    outcome: list[Any] | BaseException
                    try:
                        outcome = run_job(job.cells, manifests[job.cells[0].corpus], bootstrap, models_dir, work_dir)
                    except Exception as exc:  # noqa: BLE001  (recorded on the runs, reported at the end)
                        outcome = exc
                    recorder.finish(job, outcome)
                queue.done(job)
            return
        from benchmark.runner.pool import _worker_pool

        threads = max(1, (os.cpu_count() or 1) // self.n_jobs)
        with _worker_pool(self.n_jobs, manifests, threads) as pool:  # interrupted: workers ended, not awaited
            pending: dict[Future, Job] = {}
            ended: list[tuple[Job, Any]] = []   # jobs whose outcomes are not recorded yet
            while len(queue) or pending or ended:
                # a background feature extraction has a core of its own: one worker fewer meanwhile
                try:
                    while (len(pending) < self.n_jobs - queue.extracting()
                           and (job := queue.next_ready()) is not None):
                        if not recorder.claim(job):
                            queue.done(job)
                            continue
                        pending[pool.submit(run_job, job.cells, None, bootstrap, models_dir, work_dir)] = job
                finally:
                    # Recorded after the free workers got their next jobs (logging a job's runs takes the driver
                    # about 0.1 s a cell, which a worker would otherwise spend waiting for work), and also when
                    # interrupted while starting them: what already ended is never lost.
                    for job, outcome in ended:
                        recorder.finish(job, outcome)
                    ended.clear()
                if not pending:
                    if queue.waiting():   # the jobs left wait for features the driver still extracts
                        queue.wait_for_features()
                        continue
                    break  # nothing running and nothing left to start (no chain is busy without a pending job)
                # while features are extracted, look again every half second: a worker may be free for them
                finished, _running = wait(pending, timeout=0.5 if queue.waiting() else None,
                                          return_when=FIRST_COMPLETED)
                for future in finished:
                    job = pending.pop(future)
                    error = future.exception()
                    ended.append((job, error if error is not None else future.result()))
                    queue.done(job)   # the next job of its chain may start: it reads the chain's files, not its runs
