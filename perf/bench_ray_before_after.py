"""The Ray executor of an older commit against this checkout's, beside the local pool, interleaved.

    .venv/bin/python perf/bench_ray_before_after.py --before 12dae08 --repeat 3

Runs ``emobench run SUITE`` (first run, fresh folder and SQLite store, no publishing) with
three variants in a rotating order per round (A B C, B C A, C A B, ...), so that a machine
whose load changes hits all of them alike: ``local`` (this checkout, ``--jobs`` processes),
``ray-before`` (the ``--before`` commit's code, checked out into a temporary git worktree)
and ``ray-after`` (this checkout). Wall time, CPU seconds of the process tree, peak memory
and the load average come from :func:`bench_suite.timed_run`; the medians and the JSON go to
``perf/results/bench_ray_before_after_<suite>.json``.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_suite import timed_run  # noqa: E402  (the sibling script's timer)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "perf" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the commit whose Ray executor is the baseline")
    parser.add_argument("--suite", default="smoke")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="emobench-ray-ab-"))
    before = work / "before"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), args.before], check=True,
                   capture_output=True)
    variants = {"local": (ROOT, "local"), "ray-before": (before, "ray"), "ray-after": (ROOT, "ray")}
    names = list(variants)
    rows = []
    try:
        for repeat in range(args.repeat):
            for name in names[repeat % 3:] + names[:repeat % 3]:
                root, executor = variants[name]
                folder = work / f"{name}-{repeat}"
                folder.mkdir()
                cmd = [sys.executable, "-m", "benchmark.cli", "run", args.suite, "--no-progress", "--no-publish",
                       "--tracking-uri", f"sqlite:///{folder / 'mlflow.db'}", "--executor", executor]
                cmd += ["--jobs", str(args.jobs)] if executor == "local" else []
                timed = timed_run(cmd, folder, {**os.environ, "PYTHONPATH": str(root)}, folder / "run.log")
                rows.append({"variant": name, "repeat": repeat, **timed})
                print(rows[-1], flush=True)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    ok = [r for r in rows if r["exit"] == 0]
    median = {n: statistics.median(r["wall_s"] for r in ok if r["variant"] == n) for n in names}
    cpu = {n: statistics.median(r["cpu_s"] for r in ok if r["variant"] == n) for n in names}
    summary = {"suite": args.suite, "before": args.before, "after": subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "cpus": os.cpu_count(), "jobs": args.jobs, "repeat": args.repeat,
        "command": " ".join(["perf/bench_ray_before_after.py", *sys.argv[1:]]),
        "median_wall_s": median, "median_cpu_s": cpu,
        "ray_over_local_wall": {n: round(median[n] / median["local"], 3) for n in ("ray-before", "ray-after")},
        "load_1m_mean_range": [min(r["load_1m_mean"] for r in rows), max(r["load_1m_mean"] for r in rows)],
        "runs": rows}
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench_ray_before_after_{args.suite}.json"
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"written: {out}")


if __name__ == "__main__":
    main()
