"""Learning curves: training loss and validation UA per epoch, per method, from the MLflow step metrics.

Every iterative cell logs ``train_loss`` and ``val_ua`` with step = epoch, plus
``epochs_run``, ``best_epoch`` and the tags ``convergence.stop_reason`` and
``convergence.still_improving`` (benchmark.runner). The report draws the
curves of the main protocol's cells (one thin line per cell, every fold and
seed), one panel per method, and tabulates how each method's fits stopped. A
method with a cell that stopped at the epoch cap while validation UA was still
improving is marked with a dagger.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from benchmark import leaderboard as LB
from benchmark import results
from benchmark.report.content import ReportFigure, ReportTable, Section
from benchmark.report.inputs import ReportInputs

CURVES = (("train_loss", "training loss"), ("val_ua", "validation UA"))


def iterative_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells of iterative methods (they logged ``epochs_run``)."""
    if "epochs_run" not in cells.columns:
        return cells.iloc[0:0]
    return cells[pd.to_numeric(cells["epochs_run"], errors="coerce").notna()]


def learning_curves(cells: pd.DataFrame, tracking_uri: str) -> pd.DataFrame:
    """Tidy per-epoch values: method, run_id, fold, seed, curve, epoch, value."""
    frames = []
    for row in iterative_cells(cells).to_dict("records"):
        for key, _ in CURVES:
            history = results.load_metric_history(row["run_id"], key, tracking_uri)
            if not history.empty:
                frames.append(history.rename(columns={"step": "epoch"}).assign(
                    method=str(row["method"]), run_id=row["run_id"], fold=str(row["fold"]), seed=str(row["seed"]),
                    curve=key))
    columns = ["method", "run_id", "fold", "seed", "curve", "epoch", "value"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def stop_summary(cells: pd.DataFrame) -> pd.DataFrame:
    """Per method: cells, median epochs run and best epoch, epoch cap, stop reasons, still improving."""
    cells = iterative_cells(cells)
    rows = []
    for method, group in cells.groupby("method"):
        reasons = group.get(results.STOP_REASON_TAG, pd.Series("not logged", index=group.index))
        counts = reasons.fillna("not logged").astype(str).value_counts()
        improving = group.get(results.STILL_IMPROVING_TAG, pd.Series("false", index=group.index))
        rows.append({"method": str(method), "cells": len(group),
                     "epochs_run": float(pd.to_numeric(group["epochs_run"], errors="coerce").median()),
                     "best_epoch": float(pd.to_numeric(group.get("best_epoch"), errors="coerce").median())
                     if "best_epoch" in group.columns else float("nan"),
                     "epoch_cap": float(pd.to_numeric(group.get("epoch_cap"), errors="coerce").max())
                     if "epoch_cap" in group.columns else float("nan"),
                     "stop_reasons": ", ".join(f"{k} {v}" for k, v in counts.items()),
                     "still_improving": int((improving.astype(str).str.lower() == "true").sum())})
    return pd.DataFrame(rows)


def learning_curve_figure(curves: pd.DataFrame, colors: Mapping[str, tuple], marked: set[str],
                          per_row: int = 2) -> Figure:
    """Two panels (training loss, validation UA) per method, ``per_row`` methods a row; one line per cell."""
    from benchmark.report.figures import TEXT_WIDTH_IN, _finish, style

    methods = sorted(curves["method"].unique())
    n_rows = int(np.ceil(len(methods) / per_row))
    with style():
        fig = Figure(figsize=(TEXT_WIDTH_IN, 1.35 * n_rows + 0.3), constrained_layout=True)
        axes = fig.subplots(n_rows, 2 * per_row, squeeze=False)
        for ax in axes.ravel()[2 * len(methods):]:
            ax.set_visible(False)
        for i, method in enumerate(methods):
            part = curves[curves["method"] == method]
            colour = colors.get(method, (0.2, 0.2, 0.2))
            for j, (key, label) in enumerate(CURVES):
                ax = axes[i // per_row, 2 * (i % per_row) + j]
                runs = part[part["curve"] == key]
                # drawn in the cells' order (fold, seed), not the stores' random run ids: the same results
                # give the same figure, whichever store they were logged to
                for _, run in runs.groupby(["fold", "seed", "run_id"], sort=True):
                    ax.plot(run["epoch"], run["value"] * (100 if key == "val_ua" else 1), color=colour,
                            linewidth=0.9, alpha=0.8, marker="o", markersize=2)
                if runs.empty:   # e.g. a fixed schedule without a validation pass
                    ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
                    ax.set_xticks([])
                    ax.set_yticks([])
                ax.set_ylabel(f"{label}{' (%)' if key == 'val_ua' else ''}")
                ax.set_xlabel("epoch")
                ax.set_title(method + (f" {LB.CONVERGENCE_MARK}" if method in marked else "") if j == 0 else "",
                             loc="left")
    # laid out once and frozen, as every report figure: a constrained layout that ran again at each save
    # moved the axes by hundredths of a point between the SVG and the PDF (and between two saves)
    return _finish(fig)


def build(inputs: ReportInputs) -> Section | None:
    """The learning curves of the main protocol's cells."""
    return learning_curve_section(inputs.main, inputs.tracking_uri, inputs.colors)


def learning_curve_section(cells: pd.DataFrame, tracking_uri: str, colors: Mapping[str, tuple]) -> Section | None:
    """Learning curves of the main protocol's iterative cells and a table of how their fits stopped."""
    cells = iterative_cells(cells)
    if cells.empty:
        return None
    curves = learning_curves(cells, tracking_uri)
    summary = stop_summary(cells)
    marked = set(summary.loc[summary["still_improving"] > 0, "method"])
    display = summary.assign(
        method=[m + (LB.CONVERGENCE_MARK if m in marked else "") for m in summary["method"]],
        epochs_run=[f"{v:g}" for v in summary["epochs_run"]], best_epoch=[f"{v:g}" for v in summary["best_epoch"]],
        epoch_cap=[f"{v:g}" for v in summary["epoch_cap"]]).rename(columns={
            "epochs_run": "epochs run (median)", "best_epoch": "best epoch (median)", "epoch_cap": "epoch cap",
            "stop_reasons": "stop reasons (cells)", "still_improving": "still improving at the cap (cells)"})
    where = f"protocol {cells['protocol'].iloc[0]} on {cells['corpus'].iloc[0]}"
    section = Section("learning_curves", "Convergence and learning curves", [
        f"Training loss and validation UA per epoch of every iterative cell of the {where} (MLflow step "
        "metrics train_loss and val_ua; one line per fold and seed). Stop reasons: early_stop = validation UA "
        "stopped improving for `patience` epochs, epoch_cap = the epoch budget ran out, fixed_schedule = a "
        f"method without early stopping ran its schedule. {LB.CONVERGENCE_MARK} = a cell stopped at the cap "
        "while validation UA was still improving."],
        tables=[ReportTable("convergence", f"How the fits stopped ({where})", display,
                            [LB.CONVERGENCE_NOTE] if marked else [], summary)])
    if not curves.empty:
        section.figures.append(ReportFigure(
            "learning_curves", f"Learning curves ({where}): training loss (left) and validation UA (right) per "
            f"epoch, one line per cell. {LB.CONVERGENCE_MARK} = stopped at the epoch cap while still improving.",
            learning_curve_figure(curves, colors, marked), wide=True))
    return section
