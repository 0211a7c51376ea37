"""MLflow bookkeeping: experiments, parent/child runs, resume and provenance.

MLflow is the store of record (DESIGN.md). One experiment per suite, one parent
run per suite execution, one child run per grid cell. A child run carries the
tag ``emobench.cell`` (hash of everything that determines its result); a
re-run skips cells whose hash already has a FINISHED run, so an interrupted
suite resumes without duplicates. Runs left RUNNING by a killed process are
marked FAILED the next time the suite starts.
"""
from __future__ import annotations

import os
import socket
import subprocess
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Iterator

import mlflow
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

import benchmark

CELL_TAG = "emobench.cell"
SUITE_TAG = "emobench.suite"
KIND_TAG = "emobench.kind"         # "suite" (parent) or "cell" (child)
PID_TAG = "emobench.pid"
HOST_TAG = "emobench.host"
TRACKED_PACKAGES = ("torch", "numpy", "scipy", "pandas", "scikit-learn", "imbalanced-learn", "mlflow", "opensmile")


def configure(uri: str) -> MlflowClient:
    """Point MLflow at ``uri`` (a ``sqlite:///`` file by default, or a server URL)."""
    mlflow.set_tracking_uri(uri)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=uri)


def experiment_id(client: MlflowClient, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    return exp.experiment_id if exp is not None else client.create_experiment(name)


def code_version() -> str:
    """The git commit of the emobench checkout (``+dirty`` when modified), else the package version."""
    root = Path(benchmark.__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return f"emobench-{benchmark.__version__}"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def provenance_tags() -> dict[str, str]:
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def finished_cells(client: MlflowClient, exp_id: str) -> dict[str, str]:
    """cell hash -> run id for every FINISHED child run of the experiment."""
    runs = client.search_runs([exp_id], filter_string=f"tags.`{KIND_TAG}` = 'cell' and attributes.status = 'FINISHED'",
                              max_results=50000)
    return {r.data.tags[CELL_TAG]: r.info.run_id for r in runs if CELL_TAG in r.data.tags}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_stale_runs(client: MlflowClient, exp_id: str) -> list[str]:
    """Mark FAILED every RUNNING run of this host whose process is gone (a kill -9 or a crash)."""
    host = socket.gethostname()
    stale = []
    for run in client.search_runs([exp_id], filter_string="attributes.status = 'RUNNING'", max_results=50000):
        tags = run.data.tags
        if tags.get(HOST_TAG) == host and tags.get(PID_TAG, "").isdigit() and not _pid_alive(int(tags[PID_TAG])):
            client.set_terminated(run.info.run_id, status=RunStatus.to_string(RunStatus.FAILED))
            stale.append(run.info.run_id)
    return stale


@contextmanager
def tracked_run(client: MlflowClient, exp_id: str, *, name: str, tags: dict[str, str],
                parent_id: str | None = None) -> Iterator[str]:
    """Create a run, yield its id, and end it FINISHED, or FAILED on any exception or interrupt."""
    all_tags = {**tags, **provenance_tags()}
    if parent_id:
        all_tags["mlflow.parentRunId"] = parent_id
    run = client.create_run(exp_id, run_name=name, tags=all_tags)
    run_id = run.info.run_id
    try:
        yield run_id
    except BaseException:  # KeyboardInterrupt and SystemExit too: never leave a run RUNNING
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
