"""perf/bench_suite.py's memory figure: the summed PSS counts a page shared by two processes once, the summed RSS
twice; and perf/machine_probe.py's timings are positive and finite (the record's machine-speed fields)."""
from __future__ import annotations

import importlib.util
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

PERF = Path(__file__).resolve().parents[1] / "perf"


def _load(name: str):
    """perf/NAME.py as a module (perf/ is scripts, not a package; bench_suite finds machine_probe itself)."""
    spec = importlib.util.spec_from_file_location(f"perf_{name}", PERF / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# A fresh interpreter (a few MB, so that the block dominates) writes every page of a block, forks a child that
# shares those pages copy-on-write, and says when both are up.
_HOLDER = """
import os, sys, time
held = [bytearray(os.urandom(1024)) * (int(sys.argv[1]) // 1024)]
if os.fork() == 0:
    print("ready", flush=True)
time.sleep(60)
held.clear()
"""


@pytest.mark.skipif(not hasattr(os, "fork") or not Path("/proc/self/smaps_rollup").exists(),
                    reason="needs fork and Linux's smaps_rollup")
def test_summed_pss_counts_a_shared_page_once_and_summed_rss_twice() -> None:
    bench = _load("bench_suite")
    size = 256 * 2**20
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(size)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        per_process: dict[int, dict] = {}
        rss, pss = bench.tree_memory(psutil.Process(holder.pid), per_process=per_process)
        assert len(per_process) == 2 and all(p["pss"] > 0 and p["rss"] >= p["pss"] for p in per_process.values())
        assert rss > 1.8 * size              # the shared block in both processes' RSS
        assert size * 0.9 < pss < 1.3 * size  # and once in their PSS
    finally:
        for proc in [*psutil.Process(holder.pid).children(recursive=True), psutil.Process(holder.pid)]:
            proc.kill()
        holder.wait()


def test_machine_probe_times_each_part() -> None:
    probe = _load("machine_probe")
    result = probe.probe()
    parts = ["torch_conv_steps_s", "numpy_stft_s", "python_loop_s"]
    assert all(math.isfinite(result[k]) and result[k] > 0 for k in parts)
    assert result["total_s"] == pytest.approx(sum(result[k] for k in parts), abs=2e-3)


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="needs Linux's smaps_rollup")
def test_timed_run_reads_pss_less_often_than_rss_and_still_finds_the_peak(tmp_path: Path) -> None:
    # a process that holds 128 MB for 1.5 s: the run's PSS peak must see it although PSS is read at most
    # every PSS_EVERY_S (reading it at every 0.2-s sample cost a quarter of a core on the suite's tree)
    bench = _load("bench_suite")
    size = 128 * 2**20
    script = f"import os, time; held = bytearray(os.urandom(1024)) * ({size} // 1024); time.sleep(1.5)"
    timed = bench.timed_run([sys.executable, "-c", script], tmp_path, dict(os.environ), tmp_path / "run.log")
    assert timed["exit"] == 0
    assert timed["samples"]["rss"] >= 5 and 1 <= timed["samples"]["pss"] < timed["samples"]["rss"]
    assert timed["peak_pss_gib"] * 2**30 > 0.9 * size and timed["peak_gib"] >= timed["peak_pss_gib"]
    assert 0 <= timed["sampler_cpu_s"] < timed["wall_s"]


def test_tree_memory_without_pss_reads_rss_only() -> None:
    bench = _load("bench_suite")
    per_process: dict[int, dict] = {}
    rss, pss = bench.tree_memory(psutil.Process(), per_process=per_process, pss=False)
    assert rss > 0 and pss == 0
    assert all(p["pss"] == 0 and p["rss"] > 0 for p in per_process.values())


def test_timed_run_busy_cores_follow_the_trees_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # one busy core for 2.5 s, then 1 s asleep: the timeline says about 1 core busy, then none, and the
    # idle core-seconds are the machine's cores x wall minus the tree's CPU
    bench = _load("bench_suite")
    monkeypatch.setattr(bench, "BUSY_EVERY_S", 0.5)
    script = "import time\nend = time.perf_counter() + 2.5\nwhile time.perf_counter() < end: pass\ntime.sleep(1.0)"
    timed = bench.timed_run([sys.executable, "-c", script], tmp_path, dict(os.environ), tmp_path / "run.log")
    values = timed["busy_cores"]["values"]
    assert timed["busy_cores"]["every_s"] == 0.5 and len(values) >= 6
    assert 0.7 <= statistics.median(values[1:4]) <= 1.1   # the busy loop (the first window holds the start-up)
    assert values[-1] <= 0.2                              # asleep
    assert timed["idle_core_s"] == pytest.approx((os.cpu_count() or 1) * timed["wall_s"] - timed["cpu_s"], abs=0.2)
