"""Side-by-side timing for the perf scripts: every contender warmed up, repetitions interleaved (the
order rotated each round, so a load spike hits all of them), medians with their spread, the load
average around it, a JSON record under ``perf/results/``.

On a shared machine one contender timed after another measures the load as much as the code; timed
in turns within one process, ratios of medians are stable even when absolute times are not.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def spread(times: list[float]) -> dict[str, float]:
    """Median, min, max and quartiles of a list of seconds."""
    qs = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "q1_s": qs[0], "q3_s": qs[2], "n": len(times)}


def interleaved(contenders: dict[str, Callable[[], object]], repetitions: int, *,
                setup: Callable[[str], None] | None = None, verbose: bool = True,
                warmups: dict[str, Callable[[], object]] | None = None
                ) -> tuple[dict[str, list[float]], dict[str, object]]:
    """Time every contender ``repetitions`` times, in turns, after one untimed warm-up call each
    (``warmups[name]`` instead of the contender itself where given: a smaller input).

    ``setup(name)``, if given, runs untimed before each call (e.g. emptying a cache so that every
    timed call starts cold). Returns the seconds per contender and each one's last return value.
    """
    names = list(contenders)
    last: dict[str, object] = {}
    for name in names:  # warm-up: imports, JIT compilation, model loading, first-touch allocations
        if setup:
            setup(name)
        last[name] = (warmups or {}).get(name, contenders[name])()
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repetitions):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            if setup:
                setup(name)
            start = time.perf_counter()
            last[name] = contenders[name]()
            times[name].append(time.perf_counter() - start)
        if verbose:
            print(f"    round {rep + 1}/{repetitions}: " + ", ".join(f"{n} {times[n][-1]:.2f}s" for n in names)
                  + f"  (load {load_average()[0]:.1f})", flush=True)
    return times, last


def ratio(times: dict[str, list[float]], ours: str, peer: str) -> dict[str, float]:
    """Speed of ``ours`` relative to ``peer``: the ratio of medians, and the median and range of the
    per-round ratios (each round times both under the same load)."""
    per_round = [p / o for o, p in zip(times[ours], times[peer])]
    return {"ratio_of_medians": statistics.median(times[peer]) / statistics.median(times[ours]),
            "per_round_median": statistics.median(per_round), "per_round_min": min(per_round),
            "per_round_max": max(per_round)}


def environment() -> dict[str, object]:
    import torch

    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "when_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def write(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    print(f"wrote {path}")
    return path
