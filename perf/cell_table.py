"""Per-class recall and convergence of every method of a suite's store: the table an ablation study reads.

    .venv/bin/python perf/cell_table.py SUITE [--tracking-uri URI] [--json perf/results/NAME.json]

One row per (protocol, fold, method): the mean over seeds of UA, WA, every
class's recall and the minority recall (mean recall of the non-Neutral
classes), the seed spread of UA, epochs run, best epoch, how many seeds were
stopped by the epoch cap, fit seconds, and the best validation UA of the fit
(``val_ua_best``: what the recipe can be chosen by without looking at the test
set). Numbers are the cells' own logged
metrics (the runner computes them from each predictions table), so the table
matches the leaderboards' per-seed values; it adds no statistics of its own
(paired tests: ``emobench claims`` / the leaderboards).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.labels import NEUTRAL
from benchmark.results import load_cells


def cell_table(cells: pd.DataFrame) -> pd.DataFrame:
    recalls = sorted(c for c in cells.columns if c.startswith("recall."))
    minority = [c for c in recalls if c != f"recall.{NEUTRAL}"]
    cells = cells.assign(minority_recall=cells[minority].mean(axis=1))
    stop = cells.get("convergence.stop_reason", pd.Series("", index=cells.index)).fillna("")
    cells = cells.assign(capped=(stop == "epoch_cap").astype(int))
    values = ["ua", "wa", *recalls, "minority_recall", "val_ua_best", "epochs_run", "best_epoch", "fit_seconds"]
    values = [v for v in values if v in cells]
    groups = cells.groupby(["protocol", "fold", "method"])
    table = groups[values].mean()
    table.insert(1, "ua_sd", groups["ua"].std(ddof=1))
    table["seeds"] = groups.size()
    table["capped"] = groups["capped"].sum()
    return table


def best_val_ua(cells: pd.DataFrame, tracking_uri: str) -> pd.Series:
    """Per cell, the highest validation UA of its learning curve (NaN for a method without one)."""
    from benchmark.results import client_for

    client = client_for(tracking_uri)
    best = [max((m.value for m in client.get_metric_history(run_id, "val_ua")), default=np.nan)
            for run_id in cells["run_id"]]
    return pd.Series(best, index=cells.index)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    parser.add_argument("--json", type=Path, help="also write the table here (records, one per row)")
    args = parser.parse_args()
    cells = load_cells(args.tracking_uri, args.suite)
    table = cell_table(cells.assign(val_ua_best=best_val_ua(cells, args.tracking_uri)))
    with pd.option_context("display.width", 250, "display.max_rows", 500, "display.max_columns", 50):
        print(table.round(3).to_string())
    if args.json:
        records = table.reset_index().replace({np.nan: None}).to_dict(orient="records")
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"suite": args.suite, "rows": records}, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
