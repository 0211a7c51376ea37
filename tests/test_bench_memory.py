"""perf/bench_suite.py's memory figure: the summed PSS counts a page shared by two processes once, the summed RSS
twice; and perf/machine_probe.py's timings are positive and finite (the record's machine-speed fields)."""
from __future__ import annotations

import importlib.util
import math
import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

PERF = Path(__file__).resolve().parents[1] / "perf"


def _load(name: str):
    sys.path.insert(0, str(PERF))
    try:
        spec = importlib.util.spec_from_file_location(f"perf_{name}", PERF / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(PERF))


@pytest.mark.skipif(not hasattr(os, "fork") or not Path("/proc/self/smaps_rollup").exists(),
                    reason="needs fork and Linux's smaps_rollup")
def test_summed_pss_counts_a_shared_page_once_and_summed_rss_twice() -> None:
    bench = _load("bench_suite")
    size = 256 * 2**20
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a holder whose child shares its touched pages copy-on-write
        os.close(read)
        held = [bytearray(os.urandom(1024)) * (size // 1024)]  # every page written, so resident
        child = os.fork()
        if child == 0:
            os.write(write, b"x")
            time.sleep(60)
            os._exit(0)
        time.sleep(60)  # holding the block (os._exit below, never a return that would free it)
        held.clear()
        os._exit(0)
    os.close(write)
    try:
        os.read(read, 1)  # the grandchild is up, sharing the block
        time.sleep(0.2)
        holder = psutil.Process(pid)
        per_process: dict[int, dict] = {}
        rss, pss = bench.tree_rss(holder, per_process=per_process)
        assert len(per_process) == 2 and all(p["pss"] > 0 and p["rss"] >= p["pss"] for p in per_process.values())
        assert rss > 1.8 * size              # the shared block in both processes' RSS
        assert size * 0.9 < pss < 1.4 * size  # and once in the PSS
    finally:
        for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
            proc.send_signal(signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)


def test_machine_probe_times_each_part() -> None:
    probe = _load("machine_probe")
    result = probe.probe()
    parts = ["torch_conv_steps_s", "numpy_stft_s", "python_loop_s"]
    assert all(math.isfinite(result[k]) and result[k] > 0 for k in parts)
    assert result["total_s"] == pytest.approx(sum(result[k] for k in parts), abs=2e-3)
