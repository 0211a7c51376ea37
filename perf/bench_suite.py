"""Wall time and peak memory of a whole suite run, then of a re-run on the finished store.

    .venv/bin/python perf/bench_suite.py --cold-features  # the default suite (targets: < 10 min, < 4 GB)
    .venv/bin/python perf/bench_suite.py --suite smoke    # a one-minute check of the script itself
    .venv/bin/python perf/bench_suite.py --workdir /tmp/suite-bench --keep
    .venv/bin/python perf/bench_suite.py --suite smoke --executor local,ray   # Ray's overhead on one node
    .venv/bin/python perf/bench_suite.py --suite smoke --executor local,ray --repeat 3   # interleaved
    .venv/bin/python perf/bench_suite.py --suite default --executor ray,local            # the target's real test
    .venv/bin/python perf/bench_suite.py --suite smoke --executor local,ray,ray-cluster,ray-warm --repeat 3

It runs ``emobench run SUITE`` exactly as the README's main command does
(train + score every cell, then publish the leaderboards and the report)
in a fresh working directory with a fresh SQLite MLflow store, twice:

1. ``first run``: everything is trained; the embedded corpus and the feature
   cache are used from ``$EMOBENCH_HOME`` if present (say ``--cold-features``
   to give the run an empty feature cache, as on a fresh machine; the corpus
   itself is ``emobench corpus build``'s job and is timed by
   ``perf/bench_corpus_build.py``);
2. ``re-run``: the same command on the finished store; nothing may be
   retrained (checked: the number of cell runs in MLflow must not change).

Memory is sampled every 0.2 s with psutil over the whole process tree (the
CLI, its worker pool and their children), since the workers' memory adds up
while they run side by side, two ways: the peak of the summed proportional set
size (PSS: each shared page divided among the processes that map it, so the
memory the run occupies; the < 4 GB target is read on it) and the peak of the
summed resident set (RSS: every shared page, torch's libraries first, counted
once per process; the figure of the earlier rounds, kept beside it). The six
processes with the largest PSS peaks are recorded with their command lines.

Before the runs, ``perf/machine_probe.py``'s fixed workload (a conv net's training
steps, an STFT, a Python loop, on one core) is timed and recorded, so that a wall
time can be read against the machine it was measured on.

With ``--executor local,ray`` both executors run the suite, one after the other,
each in its own working folder and store, with ``--jobs`` processes for the local
pool and a single-node Ray of as many CPUs (the CLI starts it: ``ray.init``), and
without publishing (the same work for both); the table gives Ray's wall time
and memory against the pool's, and the numbers go to
``perf/results/bench_suite_<suite>_executors.json``. Ray's processes (raylet,
GCS, workers) are children of the CLI, so they are in the memory figure.
``ray-cluster`` and ``ray-warm`` run against a single-node cluster of ``--jobs`` CPUs that the
script starts with ``ray start --head`` before the timed runs (one per kind, stopped at the end),
as a lab's cluster is up before ``emobench run --address``; its processes (GCS, raylet, workers)
count in those runs' memory peak and CPU seconds. ``ray-warm`` adds ``--warm``: the first run
on its fresh cluster starts the warm workers (reported as ``warm-up``, not compared), the timed
runs then find them.

With the suite's own executor (no ``--executor``) the first run's record goes to
``perf/results/bench_suite.json`` (``--out``): wall seconds and peak memory of both
runs, the number of cells, the cells whose fit stopped at its epoch cap (the
``convergence.stop_reason`` tag of every cell run; target 0) by method, the
per-stage seconds (``stage.*_s`` on the suite's parent run: corpora, features,
cells, publish; and, from the cell runs, the summed fit seconds of the SER cells
by method and the summed run time of the TTS cells), the load average, the git commit.

``--repeat N`` runs the pair N times, interleaved and in alternating order
(A B, B A, A B, ...), so that a load that changes over time hits both alike;
the ratio is of the median first runs. Each run records the machine's load
average (1 min) at its start, at its end and its mean while it ran: on a shared
machine quote them with the numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine_probe  # noqa: E402  (perf/machine_probe.py, beside this script)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "perf" / "results"
PSS_EVERY_S = 5.0  # timed_run's PSS interval: a PSS read costs the kernel ~15 ms of CPU per process of the suite
BUSY_EVERY_S = 10.0  # timed_run's busy-cores timeline: the tree's CPU seconds per this many wall seconds
EMOBENCH = [sys.executable, "-m", "benchmark.cli"]  # this checkout's CLI (PYTHONPATH below), as `emobench` runs it


def tree_memory(proc: psutil.Process, cpu: dict[int, float] | None = None,
                per_process: dict[int, dict] | None = None, *, pss: bool = True) -> tuple[int, int]:
    """Resident and proportional (PSS) bytes of ``proc`` and all its descendants (processes that vanish are
    skipped); with ``cpu``, each one's CPU seconds so far (user + system) are recorded in it by pid; with
    ``per_process``, each one's peak RSS and PSS and its command line. ``pss=False`` reads the RSS only
    (PSS comes back 0): PSS costs the kernel a walk of every page table, about 14 ms of CPU a process of the
    suite's size against well under 1 ms for RSS, so :func:`timed_run` reads it far less often.

    RSS counts a page once in every process that maps it, so the summed RSS of processes that load the same
    libraries (torch's are ~300 MB) counts those libraries once per process; PSS divides each shared page
    among the processes that map it, so the summed PSS is the memory the tree occupies."""
    rss = pss_total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            info = p.memory_full_info() if pss else p.memory_info()
            rss += info.rss
            pss_total += info.pss if pss else 0
            if cpu is not None:
                times = p.cpu_times()
                cpu[p.pid] = max(cpu.get(p.pid, 0.0), times.user + times.system)
            if per_process is not None:
                seen = per_process.setdefault(p.pid, {"cmd": " ".join(p.cmdline())[:160], "rss": 0, "pss": 0})
                seen["rss"] = max(seen["rss"], info.rss)
                if pss:
                    seen["pss"] = max(seen["pss"], info.pss)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return rss, pss_total


def timed_run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path,
              cluster: list[psutil.Process] = ()) -> dict[str, float]:
    """Wall seconds, CPU seconds of the process tree (sampled, so a process's last 0.2 s may be missed),
    peak tree RSS and peak tree PSS (GiB; the memory target is read on the PSS), the processes with the
    largest peaks, exit code and the load average around and during ``cmd``, whose output goes to
    ``log``. On a machine that others load, the CPU seconds compare executors better than the wall time.

    The sampler shares the machine with ``cmd``, so it is kept cheap: RSS and CPU times every 0.2 s, PSS at most
    every ``PSS_EVERY_S`` (sooner when the summed RSS grew by 5% since the last read) and only while the summed RSS
    exceeds the PSS peak so far (a tree's PSS is at most its RSS, so no other sample can raise that peak). Reading
    PSS at every sample, as the ninth and tenth rounds did, cost about 56 ms of CPU a sample with four processes: a
    quarter of one of the two cores, taken from the run it timed. ``sampler_cpu_s`` records what the sampling cost
    this time.

    ``cluster``: the processes of a Ray cluster that was up before ``cmd`` (its GCS and raylet): their trees
    (the workers too) count in the memory peak and, for the CPU seconds they spent while ``cmd`` ran, in the
    CPU time.

    ``busy_cores``: the tree's CPU seconds in each ``BUSY_EVERY_S`` of wall time, divided by it (how many cores
    the run kept busy, from the same samples); with ``idle_core_s`` (cores x wall - CPU) it says whether a wall
    time is the run's work or its waiting."""
    peak, peak_at = 0, 0.0  # summed RSS
    peak_pss, peak_pss_at = 0, 0.0  # summed PSS
    per_process: dict[int, dict] = {}
    loads: list[float] = []
    cpu: dict[int, float] = {}  # pid -> CPU seconds, as last sampled
    before: dict[int, float] = {}  # the cluster's CPU seconds before the run
    samples = {"rss": 0, "pss": 0}
    busy: list[float] = []   # CPU seconds summed at the end of each BUSY_EVERY_S window
    me = psutil.Process()

    def run_cpu() -> float:
        """The tree's CPU seconds since the run started (a cluster's counted from before it)."""
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in cpu.items())

    for root in cluster:
        tree_memory(root, before)
    with open(log, "w") as out:
        load_start = os.getloadavg()[0]
        own_start = sum(me.cpu_times()[:2])
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        watched = psutil.Process(proc.pid)
        done = threading.Event()

        def summed(pss: bool) -> int:
            """RSS (with the CPU seconds) or PSS summed over the run's tree and the cluster's; a cluster
            process that vanished counts 0, the run's own ending raises NoSuchProcess."""
            total = 0
            for root in (watched, *cluster):
                try:
                    total += tree_memory(root, None if pss else cpu, per_process, pss=pss)[1 if pss else 0]
                except psutil.NoSuchProcess:
                    if root is watched:
                        raise
            return total

        def sample() -> None:
            nonlocal peak, peak_at, peak_pss, peak_pss_at
            next_pss, rss_at_pss = 0.0, 0
            while not done.is_set():
                now = time.perf_counter() - start
                total_pss = 0
                try:
                    total = summed(pss=False)
                    # only a sample whose RSS exceeds the PSS peak can raise it; read it every PSS_EVERY_S, or
                    # at once when the tree's RSS grew by 5% since the last read (a peak shorter than that)
                    if total > peak_pss and (now >= next_pss or total > 1.05 * rss_at_pss):
                        next_pss, rss_at_pss = now + PSS_EVERY_S, total
                        samples["pss"] += 1
                        total_pss = summed(pss=True)
                except psutil.NoSuchProcess:
                    return
                samples["rss"] += 1
                if now >= BUSY_EVERY_S * (len(busy) + 1):
                    busy.append(run_cpu())
                if total > peak:   # when: the extraction beside the first jobs, or two workers' fits
                    peak, peak_at = total, now
                if total_pss > peak_pss:
                    peak_pss, peak_pss_at = total_pss, now
                loads.append(os.getloadavg()[0])
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        sampler_cpu = sum(me.cpu_times()[:2]) - own_start
    for root in cluster:  # the cluster's processes outlive the run: their last CPU seconds
        tree_memory(root, cpu)
    cpu_s = run_cpu()
    largest = sorted(per_process.values(), key=lambda p: -p["pss"])[:6]
    busy_cores = [round((b - a) / BUSY_EVERY_S, 2) for a, b in zip([0.0, *busy], busy)]
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu_s, 1), "peak_gib": round(peak / 2**30, 3),
            "peak_at_s": round(peak_at, 1), "peak_pss_gib": round(peak_pss / 2**30, 3),
            "peak_pss_at_s": round(peak_pss_at, 1),
            "largest_processes": [{"cmd": p["cmd"], "peak_rss_mib": round(p["rss"] / 2**20),
                                   "peak_pss_mib": round(p["pss"] / 2**20)} for p in largest],
            "exit": code, "sampler_cpu_s": round(sampler_cpu, 1),
            "samples": {"rss": samples["rss"], "pss": samples["pss"], "pss_every_s": PSS_EVERY_S},
            "load_1m_start": round(load_start, 2), "load_1m_end": round(os.getloadavg()[0], 2),
            "load_1m_mean": round(statistics.fmean(loads), 2) if loads else round(load_start, 2),
            "idle_core_s": round((os.cpu_count() or 1) * wall - cpu_s, 1),
            "busy_cores": {"every_s": BUSY_EVERY_S, "values": busy_cores}}


class RayHead:
    """A single-node Ray cluster started by ``ray start --head`` before the timed runs (as a lab's cluster is
    up before ``emobench run --address``), stopped at the end by its own processes' ids (never `ray stop`,
    which would stop every Ray on the machine). Its node imports the suite's worker modules as Ray starts
    each worker process (``RAY_preload_python_modules``, docs/scale-out.md)."""

    def __init__(self, cpus: int, suite: str, env: dict[str, str]):
        import socket

        from benchmark.executors.ray import worker_modules
        from benchmark.suite import load_suite

        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            self.port = free.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.temp = Path(tempfile.mkdtemp(prefix="ebray"))  # short: Ray's socket paths must stay < 108 chars
        head_env = {**env, "RAY_preload_python_modules": ",".join(worker_modules(load_suite(suite)))}
        ray = str(Path(sys.executable).with_name("ray"))
        started = time.perf_counter()
        subprocess.run([ray, "start", "--head", "--num-cpus", str(cpus), "--port", str(self.port),
                        "--node-ip-address", "127.0.0.1", "--include-dashboard=false", "--disable-usage-stats",
                        "--temp-dir", str(self.temp)], env=head_env, check=True, capture_output=True)
        self.start_s = round(time.perf_counter() - started, 2)
        self.processes = [p for p in psutil.process_iter() if self._ours(p)]  # GCS, raylet, their helpers
        # A driver given an explicit address must say that the cluster wants its token (~/.ray/auth_token).
        self.env = {**env, "RAY_AUTH_MODE": "token"}

    def _ours(self, proc: psutil.Process) -> bool:
        try:
            return proc.pid != os.getpid() and any(str(self.temp) in arg for arg in proc.cmdline())
        except psutil.Error:
            return False

    def roots(self) -> list[psutil.Process]:
        return [p for p in self.processes if p.is_running()]

    def stop(self) -> None:
        procs = []
        for root in self.roots():
            try:
                procs += [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
        for proc in procs:
            try:
                proc.terminate()
            except psutil.Error:
                pass
        _gone, alive = psutil.wait_procs(procs, timeout=10)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass
        shutil.rmtree(self.temp, ignore_errors=True)


def cell_runs(uri: str, suite: str) -> int:
    from benchmark import tracking
    from benchmark.suite import load_suite

    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        return 0  # do not create the store: creating it is part of the first run's time
    client = tracking.configure(uri)
    exp = client.get_experiment_by_name(load_suite(suite).experiment_name)
    if exp is None:
        return 0
    return len(client.search_runs([exp.experiment_id], filter_string=f"tags.`{tracking.KIND_TAG}` = 'cell'",
                                  max_results=50000))


def run_phases(uri: str, suite: str) -> dict[str, float]:
    """Where a first run's time went, from its store: the suite run's stages (``stage.*_s``: corpora,
    features, cells), its own duration, and how long after it started the first cell did (the executor's
    start-up: Ray's, its workers')."""
    from benchmark import tracking
    from benchmark.suite import load_suite

    client = tracking.configure(uri)
    exp = client.get_experiment_by_name(load_suite(suite).experiment_name)
    runs = client.search_runs([exp.experiment_id], max_results=50000)
    parents = [r for r in runs if r.data.tags.get(tracking.KIND_TAG) == "suite"]
    cells = [r for r in runs if r.data.tags.get(tracking.KIND_TAG) == "cell"]
    if len(parents) != 1 or not cells:
        return {}
    parent = parents[0]
    phases = {k[len("stage."):]: round(v, 2) for k, v in parent.data.metrics.items() if k.startswith("stage.")}
    phases["suite_run_s"] = round((parent.info.end_time - parent.info.start_time) / 1000, 2)
    phases["first_cell_after_s"] = round((min(r.info.start_time for r in cells) - parent.info.start_time) / 1000, 2)
    return phases


def cpu_model() -> str:
    """The CPU's model name as Linux reports it (cloud machines of one name differ in speed: see the probe)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def git_commit() -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def store_summary(uri: str, suite: str) -> dict:
    """What the store says about the run: cells, convergence stops, per-stage and per-method seconds."""
    from benchmark import tracking
    from benchmark.suite import load_suite

    client = tracking.configure(uri)
    exp = client.get_experiment_by_name(load_suite(suite).experiment_name)
    runs = client.search_runs([exp.experiment_id], max_results=50000)
    cells = [r for r in runs if r.data.tags.get(tracking.KIND_TAG) == "cell"]
    parents = [r for r in runs if r.data.tags.get(tracking.KIND_TAG) == "suite"]
    stages = {k[len("stage."):-2]: round(v, 2) for p in parents for k, v in p.data.metrics.items()
              if k.startswith("stage.")}
    by_method: dict[str, dict] = {}
    capped, stops = [], {}
    tts_run_s = 0.0
    for r in cells:
        tags, metrics = r.data.tags, r.data.metrics
        if tags.get("protocol_name") == "tts":
            tts_run_s += ((r.info.end_time or r.info.start_time) - r.info.start_time) / 1000
            continue
        m = by_method.setdefault(tags.get("method", "?"), {"cells": 0, "fit_s": 0.0, "epochs_run": []})
        m["cells"] += 1
        m["fit_s"] += metrics.get("fit_seconds", 0.0)
        if "epochs_run" in metrics:
            m["epochs_run"].append(int(metrics["epochs_run"]))
        reason = tags.get("convergence.stop_reason")
        if reason:
            stops[reason] = stops.get(reason, 0) + 1
        if reason == "epoch_cap":
            capped.append(f"{tags.get('method')}/{tags.get('protocol')}/{tags.get('fold')}/seed{tags.get('seed')}")
    for m in by_method.values():
        epochs = m.pop("epochs_run")
        m["fit_s"] = round(m["fit_s"], 2)
        if epochs:
            m["epochs_run"] = {"min": min(epochs), "median": sorted(epochs)[len(epochs) // 2], "max": max(epochs)}
    stages["ser_fits_summed"] = round(sum(m["fit_s"] for m in by_method.values()), 2)
    stages["tts_cells_summed"] = round(tts_run_s, 2)
    neural = sum(stops.values())
    return {"cells": len(cells), "cells_stopped_by_cap": len(capped), "capped_cells": capped,
            "neural_cells": neural, "neural_cells_not_early_stopped": neural - stops.get("early_stop", 0),
            "stop_reasons": stops, "stage_seconds": stages, "methods": by_method}


EXECUTORS = {  # --executor name -> (emobench's executor, the cluster it runs on, warm workers)
    "local": ("local", None, False),
    "ray": ("ray", None, False),               # a single-node Ray that the CLI starts and stops (a laptop)
    "ray-cluster": ("ray", "cluster", False),  # a cluster up before the run (RayHead), fresh workers each run
    "ray-warm": ("ray", "warm", True),         # the same with --warm: workers kept from an earlier run
}


def bench_executor(args: argparse.Namespace, executor: str | None, folder: Path, env: dict[str, str],
                   repeat: int, head: RayHead | None = None) -> list[dict]:
    """The first run and the re-run of the suite with ``executor`` in a fresh ``folder`` and store."""
    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    cmd = [*EMOBENCH, "run", args.suite, "--tracking-uri", uri, "--no-progress"]
    if executor:
        name, _cluster, warm = EXECUTORS[executor]
        cmd += ["--executor", name, "--no-publish"] + (["--jobs", str(args.jobs)] if name == "local" else [])
        cmd += ["--address", head.address] if head is not None else []
        cmd += ["--warm"] if warm else []
        env = head.env if head is not None else env
    rows = []
    for label in ("first run", "re-run"):
        before = cell_runs(uri, args.suite)
        log = folder / f"{label.replace(' ', '-')}.log"
        timed = timed_run(cmd, folder, env, log, head.roots() if head is not None else [])
        after = cell_runs(uri, args.suite)
        rows.append({"executor": executor or "suite's", "repeat": repeat, "run": label, **timed,
                     "cell_runs_added": after - before})
        if label == "first run" and timed["exit"] == 0:
            rows[-1]["phases"] = run_phases(uri, args.suite)
        print(f"{executor or ''} {label}: {timed['wall_s']:.1f} s ({timed['cpu_s']:.0f} CPU s, "
              f"{timed['idle_core_s']:.0f} core-seconds idle), "
              f"peak {timed['peak_pss_gib']:.2f} GiB PSS ({timed['peak_gib']:.2f} GiB RSS), "
              f"{after - before} new cell runs, exit {timed['exit']}, "
              f"load {timed['load_1m_mean']:.1f}", flush=True)
        if timed["exit"] != 0:
            print(log.read_text()[-3000:])
            break
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="default")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a fresh temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (MLflow store, report)")
    parser.add_argument("--cold-features", action="store_true", help="start from an empty feature cache")
    parser.add_argument("--executor", default=None, help="a comma-separated list of local, ray (a single-node "
                        "Ray that the CLI starts), ray-cluster (a single-node cluster started by `ray start` "
                        "before the timed runs, fresh workers each run) and ray-warm (that cluster with "
                        "--warm workers, warmed by one untimed run), e.g. local,ray,ray-warm to compare them "
                        "(default: the suite's executor, the command exactly as the README runs it)")
    parser.add_argument("--out", type=Path, default=None, help="the suite's own executor's record (default: "
                        "perf/results/bench_suite.json for the default suite, bench_suite_SUITE.json otherwise)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="local pool processes when comparing executors (default: the CPU count)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the executors this many times, interleaved in alternating order")
    args = parser.parse_args()
    if args.out is None:  # a smoke check of the script must not overwrite the default suite's record
        args.out = RESULTS / ("bench_suite.json" if args.suite == "default" else f"bench_suite_{args.suite}.json")

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="emobench-suite-"))
    workdir.mkdir(parents=True, exist_ok=True)
    pythonpath = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**os.environ, "PYTHONPATH": pythonpath}
    if args.cold_features:
        # A fresh EMOBENCH_HOME that shares the built corpora but not the feature cache.
        from benchmark.paths import emobench_home

        home = workdir / "home"
        home.mkdir(exist_ok=True)
        if not (home / "corpora").exists():
            (home / "corpora").symlink_to(emobench_home() / "corpora")
        env["EMOBENCH_HOME"] = str(home)
    print(f"machine: {os.cpu_count()} CPU cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"{cpu_model()}; suite {args.suite!r}; working folder {workdir}", flush=True)
    speed = machine_probe.probe()
    print(f"machine probe (perf/machine_probe.py, seconds, lower is faster): {speed}", flush=True)
    executors = args.executor.split(",") if args.executor else [None]
    unknown = [e for e in executors if e is not None and e not in EXECUTORS]
    if unknown:
        parser.error(f"unknown executor(s) {unknown} (known: {', '.join(EXECUTORS)})")
    heads: dict[str, RayHead] = {}
    warm_up: dict = {}
    rows = []
    try:
        for executor in executors:  # the clusters are up before any timed run, as a lab's cluster is
            kind = EXECUTORS[executor][1] if executor else None
            if kind is not None:
                heads[kind] = RayHead(args.jobs, args.suite, env)
                print(f"{executor}: `ray start --head --num-cpus {args.jobs}` took {heads[kind].start_s} s "
                      f"(not timed); {heads[kind].address}", flush=True)
            if kind == "warm":  # the warm workers start in a first run on a fresh cluster: timed, not compared
                warm_up = bench_executor(args, executor, workdir / "warm-up", env, -1, heads[kind])[0]
                warm_up["run"] = "warm-up (first run on the fresh cluster)"
                rows.append(warm_up)
        for repeat in range(max(1, args.repeat)):
            for executor in executors if repeat % 2 == 0 else executors[::-1]:
                if executor is None:  # the suite's own executor, the command as the README runs it
                    folder = workdir if args.repeat <= 1 else workdir / f"suite-{repeat}"
                else:
                    folder = workdir / executor if args.repeat <= 1 else workdir / f"{executor}-{repeat}"
                head = heads.get(EXECUTORS[executor][1]) if executor else None
                rows += bench_executor(args, executor, folder, env, repeat, head)
    finally:
        for head in heads.values():
            head.stop()

    print()
    print("| executor | run | wall time | CPU time (process tree) | peak memory (process tree, PSS) "
          "| peak summed RSS | cell runs added | load (1 min) | target |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    targets = {"first run": "< 10 min, < 4 GB, 0 cells stopped by a cap", "re-run": "< 1 min, nothing retrained",
               "warm-up (first run on the fresh cluster)": "(starts the warm workers; not compared)"}
    for row in rows:
        print(f"| {row['executor']} | {row['run']} | {row['wall_s'] / 60:.1f} min ({row['wall_s']:.0f} s) | "
              f"{row['cpu_s']:.0f} s | {row['peak_pss_gib']:.2f} GiB | {row['peak_gib']:.2f} GiB | "
              f"{row['cell_runs_added']} | "
              f"{row['load_1m_mean']:.1f} ({row['load_1m_start']:.1f} -> {row['load_1m_end']:.1f}) | "
              f"{targets[row['run']]} |")
    first = {}
    for row in rows:
        if row["run"] == "first run" and row["exit"] == 0:
            first.setdefault(row["executor"], []).append(row)
    ray_kinds = [e for e in EXECUTORS if e != "local" and e in first]
    if "local" in first and ray_kinds:
        median = {name: statistics.median(r["wall_s"] for r in runs) for name, runs in first.items()}
        peak = {name: max(r["peak_pss_gib"] for r in runs) for name, runs in first.items()}
        cpu = {name: statistics.median(r["cpu_s"] for r in runs) for name, runs in first.items()}
        ratios, per_repeat = {}, {}
        for kind in ray_kinds:
            ratios[kind] = round(median[kind] / median["local"], 3)
            per_repeat[kind] = [round(on_ray["wall_s"] / pool["wall_s"], 3)
                                for on_ray, pool in zip(first[kind], first["local"])]
            print(f"\n{kind} / local pool, first run (median of {len(first[kind])}): wall time x{ratios[kind]:.2f} "
                  f"({100 * (ratios[kind] - 1):+.0f}%; per repeat {per_repeat[kind]}), peak memory "
                  f"{peak[kind]:.2f} vs {peak['local']:.2f} GiB PSS, CPU time {cpu[kind]:.0f} vs {cpu['local']:.0f} s "
                  "(target: within 10% on one node)")
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"bench_suite_{args.suite}_executors.json"
        record = {
            "suite": args.suite, "cpus": os.cpu_count(), "jobs": args.jobs, "repeat": args.repeat,
            "command": " ".join(["perf/bench_suite.py", *sys.argv[1:]]), "git_commit": git_commit(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2), "runs": rows,
            "median_first_run_s": median, "median_first_run_cpu_s": cpu, "peak_first_run_pss_gib": peak,
            "cpu_model": cpu_model(), "machine_probe": speed,
            "over_local_wall": ratios, "over_local_wall_per_repeat": per_repeat,
            "ray_cluster_start_s": {kind: head.start_s for kind, head in heads.items()},
        }
        if "ray" in ratios:  # the keys of earlier records
            record["ray_over_local_wall"], record["ray_over_local_wall_per_repeat"] = ratios["ray"], per_repeat["ray"]
        out.write_text(json.dumps(record, indent=1) + "\n")
        print(f"written: {out}")
    if executors == [None]:
        first_ok = next((r for r in rows if r["run"] == "first run"), None)
        record = {"suite": args.suite, "cpus": os.cpu_count(),
                  "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                  "cpu_model": cpu_model(), "machine_probe": speed,
                  "cold_features": args.cold_features, "git_commit": git_commit(),
                  "load_avg_at_end": [round(x, 2) for x in os.getloadavg()], "runs": rows}
        if first_ok is not None:
            record.update(store_summary(f"sqlite:///{workdir / 'mlflow.db'}", args.suite))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")
        print(f"cells {record.get('cells')}, stopped by the epoch cap: {record.get('cells_stopped_by_cap')}; "
              f"stages (s): {record.get('stage_seconds')}")
        print(f"written: {args.out}")
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
