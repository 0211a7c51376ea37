"""Wall time and peak memory of a whole suite run, then of a re-run on the finished store.

    .venv/bin/python perf/bench_suite.py --cold-features  # the default suite (targets: < 10 min, < 4 GB)
    .venv/bin/python perf/bench_suite.py --suite smoke    # a one-minute check of the script itself
    .venv/bin/python perf/bench_suite.py --workdir /tmp/suite-bench --keep
    .venv/bin/python perf/bench_suite.py --suite smoke --executor local,ray   # Ray's overhead on one node

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

Memory is the peak of the summed resident set of the whole process tree (the
CLI, its worker pool and their children), sampled every 0.2 s with psutil,
since the workers' memory adds up while they run side by side.

With ``--executor local,ray`` both executors run the suite, one after the other,
each in its own working folder and store, with ``--jobs`` processes for the local
pool and a single-node Ray of as many CPUs (the CLI starts it: ``ray.init``), and
without publishing (the same work for both); the table gives Ray's wall time
and memory against the pool's, and the numbers go to
``perf/results/bench_suite_<suite>_executors.json``. Ray's processes (raylet,
GCS, workers) are children of the CLI, so they are in the memory figure.

With the suite's own executor (no ``--executor``) the first run's record goes to
``perf/results/bench_suite.json`` (``--out``): wall seconds and peak memory of both
runs, the number of cells, the cells whose fit stopped at its epoch cap (the
``convergence.stop_reason`` tag of every cell run; target 0) by method, the
per-stage seconds (``stage.*_s`` on the suite's parent run: corpora, features,
cells, publish; and, from the cell runs, the summed fit seconds of the SER cells
by method and the summed run time of the TTS cells), the load average, the git commit.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "perf" / "results"
EMOBENCH = [sys.executable, "-m", "benchmark.cli"]  # this checkout's CLI (PYTHONPATH below), as `emobench` runs it


def tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of ``proc`` and all its descendants (processes that vanish are skipped)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def timed_run(cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """(wall seconds, peak tree RSS in GiB, exit code) of ``cmd``; its output goes to ``log``."""
    peak = 0
    with open(log, "w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        watched = psutil.Process(proc.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                try:
                    peak = max(peak, tree_rss(watched))
                except psutil.NoSuchProcess:
                    return
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
    return wall, peak / 2**30, code


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="default")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a fresh temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the working folder (MLflow store, report)")
    parser.add_argument("--cold-features", action="store_true", help="start from an empty feature cache")
    parser.add_argument("--executor", default=None, help="local, ray, or local,ray to compare them "
                        "(default: the suite's executor, the command exactly as the README runs it)")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_suite.json")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="local pool processes when comparing executors (default: the CPU count)")
    args = parser.parse_args()

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
    print(f"machine: {os.cpu_count()} CPU cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"suite {args.suite!r}; working folder {workdir}", flush=True)
    executors = args.executor.split(",") if args.executor else [None]
    rows = []
    for executor in executors:
        folder = workdir / executor if executor else workdir
        folder.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        cmd = [*EMOBENCH, "run", args.suite, "--tracking-uri", uri, "--no-progress"]
        if executor:
            cmd += ["--executor", executor, "--no-publish"] + (["--jobs", str(args.jobs)] if executor == "local"
                                                                else [])
        for label in ("first run", "re-run"):
            before = cell_runs(uri, args.suite)
            log = folder / f"{label.replace(' ', '-')}.log"
            wall, peak, code = timed_run(cmd, folder, env, log)
            after = cell_runs(uri, args.suite)
            rows.append({"executor": executor or "suite's", "run": label, "wall_s": round(wall, 2),
                         "peak_gib": round(peak, 3), "cell_runs_added": after - before, "exit": code})
            print(f"{executor or ''} {label}: {wall:.1f} s, peak {peak:.2f} GiB, {after - before} new cell runs, "
                  f"exit {code}", flush=True)
            if code != 0:
                print(log.read_text()[-3000:])
                break

    print()
    print("| executor | run | wall time | peak memory (process tree) | cell runs added | target |")
    print("|---|---|---:|---:|---:|---|")
    targets = {"first run": "< 15 min, < 4 GB", "re-run": "< 1 min, nothing retrained"}
    for row in rows:
        print(f"| {row['executor']} | {row['run']} | {row['wall_s'] / 60:.1f} min ({row['wall_s']:.0f} s) | "
              f"{row['peak_gib']:.2f} GiB | {row['cell_runs_added']} | {targets[row['run']]} |")
    first = {r["executor"]: r for r in rows if r["run"] == "first run" and r["exit"] == 0}
    if {"local", "ray"} <= first.keys():
        ratio = first["ray"]["wall_s"] / first["local"]["wall_s"]
        print(f"\nRay / local pool, first run: wall time x{ratio:.2f} ({100 * (ratio - 1):+.0f}%), peak memory "
              f"{first['ray']['peak_gib']:.2f} vs {first['local']['peak_gib']:.2f} GiB "
              "(target: within 10% on one node)")
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"bench_suite_{args.suite}_executors.json"
        out.write_text(json.dumps({
            "suite": args.suite, "cpus": os.cpu_count(), "jobs": args.jobs,
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "load_avg_1m_at_end": round(os.getloadavg()[0], 2), "runs": rows,
            "ray_over_local_wall": round(ratio, 3),
        }, indent=1) + "\n")
        print(f"written: {out}")
    if executors == [None]:
        first_ok = next((r for r in rows if r["run"] == "first run"), None)
        record = {"suite": args.suite, "cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
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
