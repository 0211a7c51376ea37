"""A plan before a run (``emobench plan SUITE`` / ``emobench run SUITE --dry-run``): nothing is trained.

For each (protocol, method): the grid cells, how many already have a FINISHED run in the
store, the training groups they form (cells that share one fit), and an estimated fit
time from the store's past runs of the same method: the median ``fit_seconds`` of past
cells with the same training-set size, else scaled linearly in the training-set size
from the nearest size seen, else none. From those, the remaining work's total, its
critical path (the longest chain of jobs that must run one after the other: a training
group, or a TTS group's systems) and the wall time a greedy longest-first schedule would
take on N workers: estimates, to size a cluster before a long run.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from benchmark import tracking
from benchmark.suite import SuiteConfig


@dataclass
class Plan:
    suite: str
    tracking_uri: str
    table: pd.DataFrame              # one row per (protocol, method)
    cells: int
    finished: int
    groups: int                      # training groups (and TTS systems) left to run
    chains: list[float] = field(default_factory=list)  # estimated seconds of each job chain left to run
    unknown: int = 0                 # cells left to run without a past timing

    @property
    def total_s(self) -> float:
        return float(sum(self.chains))

    @property
    def critical_path_s(self) -> float:
        return float(max(self.chains, default=0.0))

    def wall_s(self, workers: int) -> float:
        """Longest-first greedy schedule of the chains on ``workers`` workers (as the executors order them)."""
        loads = [0.0] * max(1, workers)
        for cost in sorted(self.chains, reverse=True):
            heapq.heapreplace(loads, loads[0] + cost)
        return max(loads)


def past_fit_timings(client) -> pd.DataFrame:
    """method, n_train, fit_seconds of every FINISHED cell run in the store (every experiment)."""
    exp_ids = [e.experiment_id for e in client.search_experiments()]
    rows = []
    if exp_ids:
        runs = client.search_runs(exp_ids, filter_string=f"tags.`{tracking.KIND_TAG}` = 'cell' and "
                                                         "attributes.status = 'FINISHED'", max_results=50000)
        for run in runs:
            m = run.data.metrics
            if "fit_seconds" in m and "method" in run.data.tags:
                rows.append({"method": run.data.tags["method"], "n_train": m.get("n_train", np.nan),
                             "fit_seconds": m["fit_seconds"]})
    return pd.DataFrame(rows, columns=["method", "n_train", "fit_seconds"])


def estimate_fit(timings: pd.DataFrame, method: str, n_train: int | None) -> tuple[float | None, str]:
    """(estimated fit seconds, how it was estimated) of ``method`` on ``n_train`` training utterances."""
    past = timings[timings["method"] == method]
    if past.empty:
        return None, "no past runs"
    if n_train is None or past["n_train"].isna().all():
        return float(past["fit_seconds"].median()), f"median of {len(past)} runs"
    same = past[past["n_train"] == n_train]
    if len(same):
        return float(same["fit_seconds"].median()), f"same size, {len(same)} runs"
    sized = past.dropna(subset=["n_train"])
    nearest = sized.iloc[(sized["n_train"] - n_train).abs().argsort()[:1]]["n_train"].iloc[0]
    near = sized[sized["n_train"] == nearest]
    per_utt = float((near["fit_seconds"] / near["n_train"].clip(lower=1)).median())
    return per_utt * n_train, f"scaled from n={int(nearest)}"


def make_plan(suite: SuiteConfig, tracking_uri: str | None = None) -> Plan:
    """The plan of ``suite`` against the store at ``tracking_uri`` (default: the suite's); reads only."""
    from benchmark.runner import expand_cells, load_manifests, schedule

    uri = tracking_uri or suite.tracking.uri
    manifests = load_manifests(suite, progress=False)
    cells = expand_cells(suite, manifests)
    local = tracking.local_store_path(uri)
    done: dict[str, str] = {}
    timings = pd.DataFrame(columns=["method", "n_train", "fit_seconds"])
    if local is None or local.exists():  # never create a store just to plan
        client = tracking.configure(uri)
        exp = client.get_experiment_by_name(suite.experiment_name)
        done = tracking.finished_cells(client, exp.experiment_id) if exp is not None else {}
        timings = past_fit_timings(client)
    todo = [c for c in cells if c.key not in done]
    groups = schedule(todo) if todo else []
    group_of = {c.key: i for i, g in enumerate(groups) for c in g}

    rows: dict[tuple[str, str], dict] = {}
    chains: dict[str, float] = {}
    estimates: dict[int, float | None] = {}
    unknown = 0
    for cell in cells:
        protocol = cell.protocol_label
        row = rows.setdefault((protocol, cell.method), {"protocol": protocol, "method": cell.method, "cells": 0,
                                                        "finished": 0, "groups": set(), "n_train": set(),
                                                        "est_fit_s": None, "basis": ""})
        row["cells"] += 1
        if cell.key in done:
            row["finished"] += 1
            continue
        n_train = cell.n_train
        g = group_of[cell.key]
        row["groups"].add(g)
        row["n_train"].add(n_train)
        estimate, basis = estimate_fit(timings, cell.method, n_train)
        row["est_fit_s"] = (row["est_fit_s"] or 0.0) + (estimate or 0.0) if estimate is not None else row["est_fit_s"]
        row["basis"] = basis if not row["basis"] else row["basis"]
        if cell.chained:  # a chained (TTS) group's cells run one after another: one chain
            chains[cell.training_key] = chains.get(cell.training_key, 0.0) + (estimate or 0.0)
        elif g not in estimates:  # a training group fits once
            estimates[g] = estimate
            chains[cell.training_key] = estimate or 0.0
        if estimate is None:
            unknown += 1
    table = pd.DataFrame([{
        "protocol": r["protocol"], "method": r["method"], "cells": r["cells"], "finished": r["finished"],
        "to run": r["cells"] - r["finished"], "groups": len(r["groups"]),
        "train size": "-" if not r["n_train"] or None in r["n_train"] else
        "/".join(str(n) for n in sorted(r["n_train"])[:3]) + ("/..." if len(r["n_train"]) > 3 else ""),
        "est. fit s/cell": (f"{r['est_fit_s'] / (r['cells'] - r['finished']):.1f}"
                            if r["est_fit_s"] is not None and r["cells"] > r["finished"] else "-"),
        "estimate from": r["basis"] or "-",
    } for r in rows.values()])
    return Plan(suite.name, uri, table, len(cells), len(done.keys() & {c.key for c in cells}), len(groups),
                list(chains.values()), unknown)


def format_plan(plan: Plan, workers: tuple[int, ...] = (1, 2, 4, 8, 16)) -> str:
    lines = [f"plan of suite {plan.suite} against {plan.tracking_uri} (nothing is trained)",
             plan.table.to_string(index=False) if len(plan.table) else "(no cells)", "",
             f"{plan.cells} cells: {plan.finished} already FINISHED, {plan.cells - plan.finished} to run "
             f"in {plan.groups} jobs (training groups; one TTS system each)"]
    if plan.cells > plan.finished and plan.unknown == plan.cells - plan.finished:
        lines.append("no estimate: the store has no past fit timings of these methods (run a smaller suite "
                     "against it first, e.g. `emobench run smoke`)")
    elif plan.cells > plan.finished:
        lines.append(f"estimated fit time (estimate, from the store's past fit_seconds; excludes feature "
                     f"extraction and scoring): total {plan.total_s:.0f} s, critical path {plan.critical_path_s:.0f} s")
        lines.append("estimated wall time on N workers (greedy, longest first): "
                     + ", ".join(f"N={n}: {plan.wall_s(n):.0f} s" for n in workers))
        if plan.unknown:
            lines.append(f"{plan.unknown} cell(s) to run have no past timing of their method in this store "
                         "(not counted above)")
    return "\n".join(lines)
