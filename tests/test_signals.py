"""Signals and orphans with real processes (issue 19): `emobench run` in a subprocess, signalled
mid-cell; the process table (psutil) and the MLflow store are checked afterwards.

The suite trains a denoising autoencoder for many epochs on a CSV corpus of tones, so that a
cell lasts seconds (SIGTERM test) or most of a minute (kill -9 test): a process that is still
there after the signal is then one that ignored it, not one that happened to finish.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from mlflow.tracking import MlflowClient

import corpus_fixtures as fx

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _suite(tmp_path: Path, epochs: int, seeds: int) -> tuple[Path, str]:
    csv = fx.tone_corpus(tmp_path / "corpus")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = {"name": "sigtest", "corpora": [{"name": "csv", "root": str(csv)}],
            "methods": {"dae": {"epochs": epochs, "feature": "functionals", "early_stopping": False,
                                "progress": False}},
            "protocols": [{"name": "speaker_kfold", "config": {"k": 2}, "seeds": list(range(seeds))}],
            "bootstrap": 20, "tracking": {"uri": uri}}
    path = tmp_path / "sigtest.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path, uri


def _start(tmp_path: Path, suite: Path, jobs: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "EMOBENCH_HOME": str(tmp_path / "home")}
    return subprocess.Popen([sys.executable, "-m", "benchmark.cli", "run", str(suite), "--jobs", str(jobs),
                             "--no-progress", "--no-publish"], cwd=tmp_path, env=env,
                            stdout=open(tmp_path / "out.txt", "w"), stderr=open(tmp_path / "err.txt", "w"))


def _cell_runs(uri: str) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("emobench-sigtest")
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], filter_string="tags.`emobench.kind` = 'cell'")


def _wait_for_running_cell(proc: subprocess.Popen, uri: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"emobench run exited early ({proc.returncode})"
        try:
            if any(r.info.status == "RUNNING" for r in _cell_runs(uri)):
                return
        except Exception:  # noqa: BLE001  (the store is being created by the child)
            pass
        time.sleep(0.3)
    proc.kill()
    raise AssertionError("no cell started within the timeout")


def _gone(pids: list[int], timeout: float) -> list[int]:
    """The pids still alive (zombies count as gone: they run nothing) after up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in alive if _alive(p)]
    return alive


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigterm_with_one_job_stops_the_run_and_marks_open_runs_failed(tmp_path):
    suite, uri = _suite(tmp_path, epochs=2000, seeds=5)  # 10 cells of a few seconds each
    proc = _start(tmp_path, suite, jobs=1)
    try:
        _wait_for_running_cell(proc, uri)
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = (tmp_path / "err.txt").read_text()
    assert returncode == 128 + signal.SIGTERM, err
    assert "terminated by signal 15; the open runs are marked FAILED" in err
    runs = _cell_runs(uri)
    statuses = [r.info.status for r in runs]
    assert "RUNNING" not in statuses
    assert "FAILED" in statuses            # the cell the signal interrupted
    assert len(runs) < 10                  # the remaining cells were not run
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("emobench-sigtest")
    [parent] = client.search_runs([exp.experiment_id], filter_string="tags.`emobench.kind` = 'suite'")
    assert parent.info.status == "FAILED"


def test_kill_9_of_the_main_process_ends_the_pool_workers(tmp_path):
    suite, uri = _suite(tmp_path, epochs=30000, seeds=2)  # cells of most of a minute
    proc = _start(tmp_path, suite, jobs=2)
    try:
        _wait_for_running_cell(proc, uri)
        main = psutil.Process(proc.pid)
        deadline = time.monotonic() + 30
        while len(main.children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = [c.pid for c in main.children(recursive=True)]
        assert len(workers) >= 2, "the pool's workers did not start"
        time.sleep(1.0)  # the workers are training now
        assert all(_alive(p) for p in workers)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        still = _gone(workers, timeout=5.0)
    finally:
        for pid in [p for p in locals().get("workers", []) if _alive(p)]:
            os.kill(pid, signal.SIGKILL)
    assert still == [], f"workers {still} outlived their parent"
    # the runs the dead process left RUNNING are marked FAILED when the suite next starts
    assert any(r.info.status == "RUNNING" for r in _cell_runs(uri))
    from benchmark import tracking

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("emobench-sigtest")
    assert tracking.fail_stale_runs(client, exp.experiment_id)
    assert not any(r.info.status == "RUNNING" for r in _cell_runs(uri))


def test_sigterm_with_two_jobs_stops_without_waiting_for_the_cells_in_progress(tmp_path):
    suite, uri = _suite(tmp_path, epochs=30000, seeds=2)  # cells of most of a minute
    proc = _start(tmp_path, suite, jobs=2)
    try:
        _wait_for_running_cell(proc, uri)
        main = psutil.Process(proc.pid)
        deadline = time.monotonic() + 30
        while len(main.children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = [c.pid for c in main.children(recursive=True)]
        time.sleep(1.0)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        returncode = proc.wait(timeout=30)
        took = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in [p for p in locals().get("workers", []) if _alive(p)]:
            os.kill(pid, signal.SIGKILL)
    assert returncode == 128 + signal.SIGTERM, (tmp_path / "err.txt").read_text()
    assert took < 15, f"took {took:.1f} s to stop"
    assert _gone(workers, timeout=5.0) == []
    statuses = [r.info.status for r in _cell_runs(uri)]
    assert "RUNNING" not in statuses and "FINISHED" not in statuses and "FAILED" in statuses
