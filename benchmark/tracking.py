"""MLflow bookkeeping: experiments, parent/child runs, resume and provenance.

MLflow is the store of record (DESIGN.md). One experiment per suite, one parent
run per suite execution, one child run per grid cell. A child run carries the
tag ``emobench.cell`` (hash of everything that determines its result); a
re-run skips cells whose hash already has a FINISHED run, so an interrupted
suite resumes without duplicates. Runs left RUNNING by a killed process are
marked FAILED the next time the suite starts.

Concurrency: a cell is *claimed* before it runs, by creating its RUNNING run while
holding the store's lock (:func:`store_lock`) after checking that no FINISHED run
and no live RUNNING run of the same cell exists (:func:`claim_cells`), so two suites
started at once against one store never run a cell twice. The lock is an ``fcntl``
lock on a file beside an SQLite (or file) store, and a lock row (a registered model
named ``emobench.lock.<experiment id>``, whose name the store keeps unique) on a
tracking server. A SQLite store is created (schema and migrations) under the same
file lock, so two runs in an empty folder do not both migrate it.
"""
from __future__ import annotations

import fcntl
import logging
import os
import random
import socket
import subprocess
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator

import mlflow
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

import benchmark

CELL_TAG = "emobench.cell"
SUITE_TAG = "emobench.suite"
KIND_TAG = "emobench.kind"         # "suite" (parent) or "cell" (child)
PID_TAG = "emobench.pid"
HOST_TAG = "emobench.host"
LOCK_PREFIX = "emobench.lock."    # registered-model name of a tracking server's lock row
LOCK_STALE_S = 60.0                # a lock row seen unchanged this long is left by a dead process
TRACKED_PACKAGES = ("torch", "numpy", "scipy", "pandas", "scikit-learn", "imbalanced-learn", "mlflow", "opensmile")


log = logging.getLogger(__name__)


def local_store_path(uri: str) -> Path | None:
    """The file or folder of a local store (``sqlite:///``, ``file:`` or a bare path); None for a server."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).expanduser()
    if uri.startswith("file:"):
        return Path(uri.removeprefix("file://").removeprefix("file:")).expanduser()
    if "://" not in uri:
        return Path(uri).expanduser()
    return None


@contextmanager
def _file_lock(store: Path) -> Iterator[None]:
    """An exclusive ``fcntl`` lock on ``<store>.lock`` (processes of one host; an SQLite store is on one host)."""
    lock_path = store.with_name(store.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def store_is_new(uri: str) -> bool:
    """True when ``uri`` is a local store that does not exist yet (so it holds no finished cell)."""
    path = local_store_path(uri)
    return path is not None and not path.exists()


def configure(uri: str) -> MlflowClient:
    """Point MLflow at ``uri`` (a ``sqlite:///`` file by default, or a server URL).

    A SQLite store is created here, under the store's file lock: MLflow creates the schema
    and runs its migrations on first use, and two processes doing that at once on an empty
    file both fail and leave it unusable.
    """
    mlflow.set_tracking_uri(uri)
    if not uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri=uri)
    path = local_store_path(uri)
    assert path is not None   # a sqlite:/// URI names a file
    path.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(path):
        client = MlflowClient(tracking_uri=uri)  # opens the tracking store: creates/migrates the schema
        client._get_registry_client().store  # noqa: B018  (and the registry's, same file)
    return client


def experiment_id(client: MlflowClient, name: str) -> str:
    """The id of experiment ``name``, created if missing (a concurrent creation by another run is fine)."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        created = client.get_experiment_by_name(name)
        assert created is not None   # another run created it
        return created.experiment_id


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


# ----------------------------------------------------------------------------- claims


@contextmanager
def store_lock(client: MlflowClient, exp_id: str, timeout: float = 300.0) -> Iterator[None]:
    """Hold the store's lock for ``exp_id``: a file lock for a local store, a lock row on a server.

    The lock row is a registered model: creating one whose name exists fails atomically in
    every store MLflow supports (a primary key), which is the test-and-set a claim needs.
    It is held for a few requests; one that stays unchanged for ``LOCK_STALE_S`` of our own
    clock (no clock comparison with the server) was left by a dead process and is broken.
    """
    local = local_store_path(client.tracking_uri)
    if local is not None:
        with _file_lock(local):
            yield
        return
    name = f"{LOCK_PREFIX}{exp_id}"
    deadline = time.monotonic() + timeout
    seen: tuple[int | None, float] | None = None  # (lock's creation time, when we first saw it)
    while True:
        try:
            client.create_registered_model(name, tags={"emobench.lock": "claims", **provenance_tags()},
                                           description="emobench: held for a moment while cells are claimed")
            break
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                continue  # the store found the name taken, then gone when it looked it up: released; again
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        try:
            stamp = client.get_registered_model(name).creation_timestamp
        except MlflowException:
            continue  # released meanwhile
        now = time.monotonic()
        if seen is None or seen[0] != stamp:
            seen = (stamp, now)
        elif now - seen[1] > LOCK_STALE_S:
            log.warning("breaking the claim lock %s, unchanged for %.0f s", name, now - seen[1])
            _delete_lock(client, name)
            continue
        if now > deadline:
            raise TimeoutError(f"could not take the claim lock {name} on {client.tracking_uri} in {timeout:.0f} s")
        time.sleep(random.uniform(0.05, 0.25))
    try:
        yield
    finally:
        _delete_lock(client, name)


def _delete_lock(client: MlflowClient, name: str) -> None:
    try:
        client.delete_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise


def _claim_of(client: MlflowClient, exp_id: str, key: str) -> str | None:
    """"finished" or "running" when the cell ``key`` has a FINISHED run or a live RUNNING run, else None.

    A RUNNING run of this host whose process is gone is marked FAILED here (it claims nothing).
    """
    runs = client.search_runs([exp_id], filter_string=f"tags.`{CELL_TAG}` = '{key}'", max_results=1000)
    state = None
    host = socket.gethostname()
    for run in runs:
        if run.info.status == "FINISHED":
            return "finished"
        if run.info.status == "RUNNING":
            tags = run.data.tags
            if tags.get(HOST_TAG) == host and tags.get(PID_TAG, "").isdigit() and not _pid_alive(int(tags[PID_TAG])):
                client.set_terminated(run.info.run_id, status="FAILED")
                continue
            state = "running"
    return state


def claim_cells(client: MlflowClient, exp_id: str, keys: list[str],
                create: Callable[[str], str]) -> tuple[dict[str, str], dict[str, str]]:
    """Claim the cells ``keys``: ``create(key)`` makes the RUNNING run of each cell no other run holds.

    Returns ``(claimed, elsewhere)``: key -> new run id, and key -> "finished" / "running" for
    the cells that another run finished or is running. Check and creation happen under
    :func:`store_lock`, so of two suites claiming one cell exactly one gets it.
    """
    claimed: dict[str, str] = {}
    elsewhere: dict[str, str] = {}
    with store_lock(client, exp_id):
        for key in keys:
            state = _claim_of(client, exp_id, key)
            if state is None:
                claimed[key] = create(key)
            else:
                elsewhere[key] = state
    return claimed, elsewhere


def cell_states(client: MlflowClient, exp_id: str, keys: list[str]) -> dict[str, str | None]:
    """key -> "finished", "running" (a live claim) or None (free to claim) for each cell."""
    return {key: _claim_of(client, exp_id, key) for key in keys}
