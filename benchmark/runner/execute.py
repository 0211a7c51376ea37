"""Running a suite: the missing cells' groups on an executor, resumed by cell hash, recorded, interruptible."""
from __future__ import annotations

import logging
import signal
import tempfile
import time
from typing import Sequence

import pandas as pd
from tqdm.auto import tqdm

from benchmark import tracking
from benchmark.executors.base import JobQueue
from benchmark.runner.cells import CellResult, GridCell
from benchmark.runner.features import FeaturePrep
from benchmark.runner.grid import expand_cells, load_manifests, schedule
from benchmark.runner.record import CellRecorder, RunSummary, _log_suite, log_stage_seconds
from benchmark.suite import SuiteConfig

log = logging.getLogger(__name__)


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that open runs are marked FAILED.

    A BaseException (like KeyboardInterrupt), so that the per-cell ``except Exception``
    handlers, which record one broken cell and go on, let it through: a terminated
    run stops."""


def _raise_on_sigterm(signum, frame):  # noqa: ARG001
    raise Terminated(f"terminated by signal {signum}")


def run_suite(suite: SuiteConfig, *, n_jobs: int | None = None, progress: bool = True,
              tracking_uri: str | None = None, executor: str | None = None,
              address: str | None = None, warm: bool | None = None) -> RunSummary:
    """Run every missing cell of ``suite`` and record it; finished cells are reused.

    ``executor`` (``local`` or ``ray``), ``address`` (a Ray cluster's) and ``warm`` (Ray's warm workers)
    override the suite's ``executor`` section; ``n_jobs`` is the local pool's size.
    """
    from benchmark.executors import make_executor

    spec = suite.executor
    name = executor or spec.name
    runner_ = make_executor(name, n_jobs=n_jobs or suite.n_jobs, address=address or spec.address,
                            retries=spec.retries, cpus_per_task=spec.cpus_per_task, gpus_per_task=spec.gpus_per_task,
                            warm=spec.warm if warm is None else warm, warm_idle_s=spec.warm_idle_s)
    uri = tracking_uri or suite.tracking.uri
    if tracking.store_is_new(uri):
        runner_.start(suite)  # nothing in a store yet to be made can be finished: start while it is created
    try:
        return _run_missing(suite, runner_, uri, n_jobs or suite.n_jobs, progress)
    finally:
        runner_.close()


def _run_missing(suite: SuiteConfig, executor, uri: str, n_jobs: int, progress: bool) -> RunSummary:
    client = tracking.configure(uri)
    exp_id = tracking.experiment_id(client, suite.experiment_name)
    stale = tracking.fail_stale_runs(client, exp_id)
    if stale:
        log.warning("marked %d run(s) left RUNNING by a dead process as FAILED", len(stale))
    start = time.perf_counter()
    manifests = load_manifests(suite, progress)
    cells = expand_cells(suite, manifests)
    done = tracking.finished_cells(client, exp_id)
    todo = [c for c in cells if c.key not in done]
    summary = RunSummary(exp_id, None, total=len(cells), skipped=len(cells) - len(todo))
    summary.stage_seconds["corpora"] = time.perf_counter() - start
    if not todo:
        return summary

    # Ray (when it is the executor) starts while the driver extracts features and opens the suite's run.
    executor.start(suite)
    start = time.perf_counter()
    # a pool starts the first jobs (the TTS chain) while the rest of the features are extracted beside them
    features = FeaturePrep(JobQueue(schedule(todo)).jobs(), manifests, n_jobs=n_jobs, progress=progress,
                           background=getattr(executor, "overlaps_features", False))
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    parent_tags = {tracking.KIND_TAG: "suite", tracking.SUITE_TAG: suite.name, "emobench.config": suite.digest()}
    try:
        with tracking.tracked_run(client, exp_id, name=f"{suite.name}", tags=parent_tags) as parent_id:
            summary.parent_run_id = parent_id
            _log_suite(client, parent_id, suite)
            # placed before "cells" (the stages' order); in the background its time is known only at the end
            summary.stage_seconds["features"] = features.seconds
            start = time.perf_counter()
            _execute(client, exp_id, parent_id, suite, todo, manifests, n_jobs, progress, summary, executor,
                     features)
            summary.stage_seconds["cells"] = time.perf_counter() - start
            # the features' wall time, from the start of their extraction to its end (in the background,
            # it overlaps the cells' stage)
            summary.stage_seconds["features"] = features.seconds
            log_stage_seconds(client, parent_id, summary.stage_seconds)
    finally:
        features.close()
        signal.signal(signal.SIGTERM, previous)
    return summary


def prepare_features(cells: Sequence[GridCell], manifests: dict[str, pd.DataFrame], n_jobs: int,
                     progress: bool) -> None:
    """Extract (or find cached) every feature the cells need (``feature_needs``), once, now."""
    FeaturePrep(JobQueue(schedule(cells)).jobs(), manifests, n_jobs=n_jobs, progress=progress)


def run_job(cells: Sequence[GridCell], manifest: pd.DataFrame | None, n_bootstrap: int,
            models_dir: str | None, work_dir: str | None = None) -> list[CellResult | Exception]:
    """Run one job's cells (one kind, one training key) in this process: what every executor's worker calls."""
    return type(cells[0]).run_group(cells, manifest, n_bootstrap=n_bootstrap, models_dir=models_dir,
                                    work_dir=work_dir)


def _execute(client, exp_id: str, parent_id: str, suite: SuiteConfig, todo: list[GridCell],
             manifests: dict[str, pd.DataFrame], n_jobs: int, progress: bool, summary: RunSummary,
             executor=None, features: FeaturePrep | None = None) -> None:
    """Run ``todo`` with ``executor`` (default: the local pool of ``n_jobs``), recording every cell;
    then wait for the cells that another run claimed, and run those it gave up. ``features`` holds back
    the jobs whose features it is still extracting (a failed extraction is raised once nothing else runs)."""
    from benchmark.executors import make_executor

    executor = executor or make_executor("local", n_jobs=n_jobs)
    bar = tqdm(total=len(todo), desc=f"suite {suite.name}", unit="cell", disable=not progress)
    recorder = CellRecorder(client, exp_id, parent_id, suite, manifests, summary, bar)
    models = tempfile.TemporaryDirectory(prefix="emobench-models-") if suite.tracking.register_models else None
    models_dir = models.name if models is not None else None
    # A chained group's cells (TTS systems) run one job each (each is logged as soon as it is scored), one
    # after the other: the first builds what they share (the judge, the base model) into <work>/<training key>.
    needs_work = any(c.chained for c in todo)
    work = tempfile.TemporaryDirectory(prefix="emobench-work-") if needs_work else None
    work_dir = work.name if work is not None else None
    try:
        while todo:
            executor.run(JobQueue(schedule(todo), features=features), recorder, manifests, bootstrap=suite.bootstrap,
                         models_dir=models_dir, work_dir=work_dir, tracking_uri=client.tracking_uri,
                         provenance=recorder.provenance, run_key=parent_id)
            if features is not None:
                features.check()   # jobs held back by a failed extraction were not run: say why
            todo = _wait_for_other_runs(client, exp_id, recorder, bar)
    except BaseException:
        recorder.fail_open()
        raise
    finally:
        bar.close()
        for folder in (models, work):
            if folder is not None:
                folder.cleanup()


def _wait_for_other_runs(client, exp_id: str, recorder: CellRecorder, bar, poll_s: float = 2.0) -> list:
    """Wait until every cell that another run claimed is FINISHED (counted in ``elsewhere``) or free
    again (its run failed or its process died); returns the freed ones, for this run to do."""
    waiting, recorder.elsewhere = dict(recorder.elsewhere), {}
    if waiting:
        log.info("waiting for %d cell(s) that another run is running", len(waiting))
    freed = []
    while waiting:
        for key, state in tracking.cell_states(client, exp_id, list(waiting)).items():
            if state == "finished":
                recorder.summary.elsewhere += 1
                bar.update()
                waiting.pop(key)
            elif state is None:
                freed.append(waiting.pop(key))
        if waiting:
            time.sleep(poll_s)
    return freed
