"""perf/bench_suite.py's memory figure: the summed PSS counts a page shared by two processes once, the summed RSS
twice; and perf/machine_probe.py's timings are positive and finite (the record's machine-speed fields)."""
from __future__ import annotations

import importlib.util
import math
import os
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
