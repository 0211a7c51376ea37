"""Recording cells in MLflow: claiming their runs, their params, metrics and artifacts, their end state."""
from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from benchmark import tracking
from benchmark.runner.cells import CellResult, GridCell
from benchmark.suite import SuiteConfig

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What one ``run_suite`` call did."""

    experiment_id: str
    parent_run_id: str | None
    total: int
    skipped: int
    ran: int = 0
    failed: list[str] = field(default_factory=list)
    elsewhere: int = 0    # cells that another run, started at the same time, finished meanwhile
    retried: list[str] = field(default_factory=list)  # attempts lost with a worker and run again
    # Wall seconds of the run's stages (corpora, features, cells); logged on the parent run as stage.<name>_s.
    stage_seconds: dict[str, float] = field(default_factory=dict)


def log_stage_seconds(client, run_id: str, stages: dict[str, float]) -> None:
    """``stage.<name>_s`` metrics on the suite's parent run (perf/bench_suite.py reads them)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(f"stage.{k}_s", float(v), now, 0) for k, v in stages.items()])


def _log_suite(client, parent_id: str, suite: SuiteConfig) -> None:
    from mlflow.entities import Param

    prov = _provenance(suite)
    client.log_batch(parent_id, params=[Param(k, v) for k, v in prov.items()])
    client.log_text(parent_id, yaml.safe_dump(suite.model_dump(), sort_keys=False), "suite.yaml")


def _provenance(suite: SuiteConfig) -> dict[str, str]:
    prov = {"code_version": tracking.code_version(), "config_digest": suite.digest()}
    prov.update({f"pkg.{k}": v for k, v in tracking.package_versions().items()})
    return prov


def _log_cell(client, run_id: str, cell: GridCell, result: CellResult, provenance: dict[str, str]) -> None:
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    params = {f"hp.{k}": v for k, v in result.hparams.items()}
    params.update(provenance)
    params.update(cell.params())
    metrics = [Metric(k, float(v), now, 0) for k, v in result.metrics.items() if np.isfinite(v)]
    metrics += convergence_metrics(result.history, result.convergence, now)
    client.log_batch(run_id, metrics=metrics, params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                     tags=[RunTag(k, v) for k, v in convergence_tags(result.convergence).items()])
    # One folder in the run's artifact layout, logged in one call: MLflow's overhead is per call
    # (about 5 ms each), and the driver logs every cell of the run while the workers train.
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "predictions").mkdir()
        result.predictions.to_parquet(root / "predictions" / "predictions.parquet", index=False)
        for name, png in (result.figures or {}).items():
            (root / "figures").mkdir(exist_ok=True)
            (root / "figures" / name).write_bytes(png)
        for name, content in (result.artifacts or {}).items():   # at the artifact root
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        if result.embeddings is not None:
            (root / "embeddings").mkdir(exist_ok=True)
            np.savez_compressed(root / "embeddings" / "test.npz", **result.embeddings)  # type: ignore[arg-type]  # numpy's stub
        client.log_artifacts(run_id, tmp)


HISTORY_METRICS = {"loss": "train_loss", "val_ua": "val_ua"}


def convergence_metrics(history: list[dict[str, float]], convergence: dict[str, Any] | None, now: int) -> list:
    """The per-epoch history as MLflow step metrics, plus epochs run, best epoch and the epoch cap."""
    from mlflow.entities import Metric

    metrics = []
    for record in history:
        step = int(record["epoch"])
        for key, value in record.items():
            if key != "epoch" and np.isfinite(value):
                metrics.append(Metric(HISTORY_METRICS.get(key, f"train.{key}"), float(value), now, step))
    if convergence is not None:
        metrics += [Metric(k, float(convergence[k]), now, 0) for k in ("epochs_run", "best_epoch", "epoch_cap")]
    return metrics


def convergence_tags(convergence: dict[str, Any] | None) -> dict[str, str]:
    """``convergence.stop_reason`` and ``convergence.still_improving`` (absent for non-iterative methods)."""
    if convergence is None:
        return {}
    return {"convergence.stop_reason": convergence["stop_reason"],
            "convergence.still_improving": str(convergence["still_improving"]).lower()}


class CellRecorder:
    """Claims, records and ends the MLflow runs of one suite execution (the executors' :class:`Recorder`).

    A job's cells are claimed (:func:`benchmark.tracking.claim_cells`) right before it starts:
    each gets a RUNNING child run, unless another run finished it or is running it (those are
    left to that run and counted in ``elsewhere``). A job's outcomes are logged here (a
    ``CellResult`` from this machine's workers) or were logged by the worker that made them
    (``LoggedCell``); the run then ends FINISHED, or FAILED with the ``emobench.error`` tag.
    """

    def __init__(self, client, exp_id: str, parent_id: str, suite: SuiteConfig,
                 manifests: dict[str, pd.DataFrame], summary: RunSummary, bar):
        self.client, self.exp_id, self.parent_id, self.suite = client, exp_id, parent_id, suite
        self.manifests, self.summary, self.bar = manifests, summary, bar
        self.provenance = _provenance(suite)
        self.open_runs: dict[str, GridCell] = {}
        self.elsewhere: dict[str, GridCell] = {}   # cell key -> cell another run holds

    def _create_run(self, cell: GridCell) -> str:
        tags = {**cell.tags(self.suite.name), **tracking.provenance_tags(), "mlflow.parentRunId": self.parent_id}
        run_id = self.client.create_run(self.exp_id, run_name=cell.name, tags=tags).info.run_id
        self.open_runs[run_id] = cell
        return run_id

    def claim(self, job) -> bool:
        by_key = {cell.key: cell for cell in job.cells}
        claimed, elsewhere = tracking.claim_cells(self.client, self.exp_id, list(by_key),
                                                  lambda key: self._create_run(by_key[key]))
        for key, state in elsewhere.items():
            if state == "finished":
                self.summary.elsewhere += 1
                self.bar.update()
            else:
                self.elsewhere[key] = by_key[key]
        job.cells = [cell for cell in job.cells if cell.key in claimed]
        job.run_ids = [claimed[cell.key] for cell in job.cells]
        return bool(job.cells)

    def finish(self, job, outcomes, *, retrying: bool = False) -> None:
        outcomes = outcomes if isinstance(outcomes, list) else [outcomes] * len(job.run_ids)
        for run_id, outcome in zip(job.run_ids, outcomes):
            self._finish_run(run_id, outcome, retrying)

    def _finish_run(self, run_id: str, outcome, retrying: bool) -> None:
        cell = self.open_runs.pop(run_id)
        if isinstance(outcome, CellResult):
            try:
                _log_cell(self.client, run_id, cell, outcome, self.provenance)
                if outcome.model_dir is not None:
                    cell.register_model(run_id, outcome.model_dir, self.manifests[cell.corpus])
            except Exception as exc:  # noqa: BLE001  (a cell that cannot be recorded is a failed cell)
                outcome = exc
        if isinstance(outcome, BaseException):
            # One broken cell must not sink the suite: record why, mark FAILED, go on.
            log.error("cell %s failed: %s", cell.name, _error_text(outcome))
            self.client.set_tag(run_id, "emobench.error", _error_text(outcome)[:5000])
            self.client.set_terminated(run_id, status="FAILED")
            if retrying:
                self.summary.retried.append(cell.name)
                return
            self.summary.failed.append(cell.name)
        else:
            self.client.set_terminated(run_id, status="FINISHED")
            self.summary.ran += 1
            self.bar.set_postfix_str(f"{cell.name} {cell.summary_line(outcome.metrics)}")
        self.bar.update()

    def fail_open(self) -> None:
        for run_id in list(self.open_runs):
            self.client.set_terminated(run_id, status="FAILED")
        self.open_runs.clear()


@dataclass
class LoggedCell:
    """A cell that a remote worker logged to the tracking store itself; the driver only ends its run."""

    metrics: dict[str, float]
    node: str = ""


class CellError(Exception):
    """A cell's failure as text (what crosses from a remote worker; its ``emobench.error`` tag as is)."""

    @classmethod
    def of(cls, exc: BaseException) -> "CellError":
        return exc if isinstance(exc, CellError) else cls(f"{type(exc).__name__}: {exc}")


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, CellError) else f"{type(exc).__name__}: {exc}"


def log_on_worker(client, run_id: str, cell: GridCell, outcome: CellResult | Exception,
                  provenance: dict[str, str], manifest: pd.DataFrame, worker_log: str,
                  tags: dict[str, str] | None = None) -> LoggedCell | CellError:
    """Log a cell's result from the (remote) worker that made it, as the driver would (``_log_cell``,
    the model registry), with the worker's log lines and ``tags`` (where it ran); a failure comes
    back as a :class:`CellError`."""
    import socket

    try:
        for key, value in {"emobench.node": socket.gethostname(), **(tags or {})}.items():
            client.set_tag(run_id, key, value)
        if worker_log:
            client.log_text(run_id, worker_log, "logs/worker.log")
        if isinstance(outcome, Exception):
            return CellError.of(outcome)
        _log_cell(client, run_id, cell, outcome, provenance)
        if outcome.model_dir is not None:
            cell.register_model(run_id, outcome.model_dir, manifest)
        return LoggedCell({k: float(v) for k, v in outcome.metrics.items()}, socket.gethostname())
    except Exception as exc:  # noqa: BLE001
        return CellError.of(exc)
