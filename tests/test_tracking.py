"""MLflow bookkeeping: runs end FINISHED or FAILED, never RUNNING; resume by cell hash."""
from __future__ import annotations

import subprocess
import sys

import pytest

from benchmark import tracking


@pytest.fixture()
def client(tmp_path):
    return tracking.configure(f"sqlite:///{tmp_path / 'mlflow.db'}")


def test_tracked_run_finishes_and_is_found_by_cell_hash(client):
    exp = tracking.experiment_id(client, "t")
    tags = {tracking.KIND_TAG: "cell", tracking.CELL_TAG: "abc"}
    with tracking.tracked_run(client, exp, name="cell", tags=tags) as run_id:
        client.log_metric(run_id, "ua", 0.5)
    assert client.get_run(run_id).info.status == "FINISHED"
    assert tracking.finished_cells(client, exp) == {"abc": run_id}


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_interrupted_run_is_marked_failed_and_not_counted_as_finished(client, exc):
    exp = tracking.experiment_id(client, "t")
    with pytest.raises(exc):
        with tracking.tracked_run(client, exp, name="cell", tags={tracking.KIND_TAG: "cell", tracking.CELL_TAG: "x"}):
            raise exc()
    runs = client.search_runs([exp])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert tracking.finished_cells(client, exp) == {}


def test_runs_of_a_killed_process_are_marked_failed(client):
    exp = tracking.experiment_id(client, "t")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    tags = {tracking.KIND_TAG: "cell", tracking.CELL_TAG: "y", **tracking.provenance_tags()}
    tags[tracking.PID_TAG] = dead.stdout.strip()
    run = client.create_run(exp, tags=tags)  # left RUNNING, as a kill -9 would leave it
    alive = client.create_run(exp, tags={tracking.KIND_TAG: "cell", **tracking.provenance_tags()})
    assert tracking.fail_stale_runs(client, exp) == [run.info.run_id]
    assert client.get_run(run.info.run_id).info.status == "FAILED"
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"  # our own process is alive


def test_provenance_records_code_and_package_versions():
    assert tracking.code_version()
    versions = tracking.package_versions()
    assert versions["torch"].startswith("2.") and versions["mlflow"] != "absent"
