"""Are the suite's networks converged? Retrain a sample of cells with 3x the epoch cap and 3x the patience.

    .venv/bin/python perf/check_convergence.py                      # default suite, one cell per neural method
    .venv/bin/python perf/check_convergence.py --per-method 2 --methods cnn,dae
    .venv/bin/python perf/check_convergence.py --suite smoke --tolerance 0.01

A cell counts as converged when its fit ended by early stopping (not at its epoch cap)
and the same cell (same split, seed and hyperparameters) trained with ``factor`` (3)
times the epoch cap and the patience reaches a test UA within ``tolerance`` (1 point)
of it. The sample is, per neural method (one whose hyperparameters have ``epochs``
and ``patience``), the first ``--per-method`` cells of the main protocol (the suite's
first) in grid order: fold 0 of seed 0 first. Cells run here, in this process, one
after the other (nothing goes to MLflow); the record goes to
``perf/results/convergence_check.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "perf" / "results"


def extended_hparams(registered: str, hparams: dict[str, Any], factor: int = 3) -> dict[str, Any] | None:
    """``hparams`` with ``factor`` times the resolved epoch cap and patience; None for a method without them."""
    import baselines  # noqa: F401
    from benchmark.methods import METHODS

    hp = METHODS.get(registered)(**hparams).hp
    if not (hasattr(hp, "epochs") and hasattr(hp, "patience")):
        return None
    if hasattr(hp, "early_stopping") and not hp.early_stopping:
        return None   # a fixed schedule: nothing to converge to
    return {**hparams, "epochs": hp.epochs * factor, "patience": hp.patience * factor}


def verdict(base: dict[str, Any], longer: dict[str, Any], tolerance: float) -> dict[str, Any]:
    """Compare one cell's fit with its longer retraining: UA difference and whether it is converged."""
    diff = longer["ua"] - base["ua"]
    early = base.get("stop_reason") == "early_stop"
    return {"ua": base["ua"], "ua_longer": longer["ua"], "ua_diff": diff, "early_stopped": early,
            "within_tolerance": abs(diff) <= tolerance, "converged": early and abs(diff) <= tolerance}


def sample_cells(cells: list, per_method: int, methods: set[str] | None) -> list:
    """The first ``per_method`` cells of each neural method on the first protocol of the grid."""
    if not cells:
        return []
    main = cells[0].protocol.label
    chosen: dict[str, list] = {}
    for cell in cells:
        if cell.protocol.label != main or (methods and cell.method not in methods):
            continue
        if extended_hparams(cell.registered, cell.hparams) is None:
            continue
        chosen.setdefault(cell.method, [])
        if len(chosen[cell.method]) < per_method:
            chosen[cell.method].append(cell)
    return [c for group in chosen.values() for c in group]


def fit_and_score(cell, manifest) -> dict[str, Any]:
    from benchmark.runner import run_cell

    start = time.perf_counter()
    result = run_cell(cell, manifest, n_bootstrap=100)
    conv = result.convergence or {}
    return {"ua": float(result.metrics["ua"]), "stop_reason": conv.get("stop_reason"),
            "epochs_run": conv.get("epochs_run"), "best_epoch": conv.get("best_epoch"),
            "epoch_cap": conv.get("epoch_cap"), "wall_s": round(time.perf_counter() - start, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="default")
    parser.add_argument("--methods", default=None,
                        help="comma-separated suite method names (default: every neural one)")
    parser.add_argument("--per-method", type=int, default=1)
    parser.add_argument("--factor", type=int, default=3, help="multiplier of the epoch cap and the patience")
    parser.add_argument("--tolerance", type=float, default=0.01, help="largest |UA difference| (0.01 = 1 point)")
    parser.add_argument("--out", type=Path, default=RESULTS / "convergence_check.json")
    args = parser.parse_args()

    from benchmark.runner import expand_grid, load_manifests
    from benchmark.suite import load_suite

    suite = load_suite(args.suite)
    manifests = load_manifests(suite, progress=False)
    methods = set(args.methods.split(",")) if args.methods else None
    cells = sample_cells(expand_grid(suite, manifests), args.per_method, methods)
    print(f"{len(cells)} cells: retrained with {args.factor}x the epoch cap and patience; tolerance "
          f"{100 * args.tolerance:.1f} UA points", flush=True)
    rows = []
    for cell in cells:
        manifest = manifests[cell.corpus]
        base = fit_and_score(cell, manifest)
        longer_cell = dataclasses.replace(cell, hparams=extended_hparams(cell.registered, cell.hparams, args.factor))
        longer = fit_and_score(longer_cell, manifest)
        row = {"cell": cell.name, "method": cell.method, "base": base, "longer": longer,
               **verdict(base, longer, args.tolerance)}
        rows.append(row)
        print(f"{cell.name:<50} UA {base['ua']:.3f} ({base['stop_reason']}, {base['epochs_run']} ep)  "
              f"x{args.factor}: {longer['ua']:.3f} ({longer['stop_reason']}, {longer['epochs_run']} ep)  "
              f"diff {100 * row['ua_diff']:+.1f}  {'ok' if row['converged'] else 'NOT CONVERGED'}", flush=True)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    record = {"suite": args.suite, "factor": args.factor, "tolerance": args.tolerance, "git_commit": commit,
              "cpus": os.cpu_count(), "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
              "cells": rows, "all_converged": all(r["converged"] for r in rows)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{sum(r['converged'] for r in rows)}/{len(rows)} converged; written: {args.out}")
    sys.exit(0 if record["all_converged"] else 1)


if __name__ == "__main__":
    main()
