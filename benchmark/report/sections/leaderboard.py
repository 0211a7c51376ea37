"""The leaderboard section: one leaderboard per (protocol, corpus) of the main protocols.

The tables are built by ``benchmark.leaderboard`` from the same definition
machinery as the committed leaderboards, so both show the same numbers.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark import leaderboard as LB
from benchmark.errors import EmobenchError
from benchmark.metrics.registry import METRICS
from benchmark.report.content import ReportTable, Section
from benchmark.report.formatting import fmt, legend, slug
from benchmark.report.inputs import ReportInputs, main_protocol_cells


def build(inputs: ReportInputs) -> Section | None:
    """One leaderboard per (protocol, corpus) of the main protocols; None when the suite has none."""
    cells = main_protocol_cells(inputs.cells)
    if cells.empty:
        return None
    section = Section("leaderboard", "Leaderboard", [
        "UA = unweighted average recall (mean of per-class recalls), WA = accuracy, macro-F1; in percent. "
        "Predictions of all folds of a seed are pooled and scored; the value is the mean over seeds "
        "(± standard deviation over seeds) and [low, high] its bootstrap 95% CI over test utterances "
        f"({inputs.n_bootstrap} resamples, the same resample for every seed). Rows are ranked by UA; "
        f"{LB.TIE_MARK} = not significantly different from the leader (paired bootstrap, alpha = 0.05)."])
    for (protocol, corpus), group in cells.groupby(["protocol", "corpus"]):
        try:
            section.tables.append(_leaderboard_table(inputs, group, str(protocol), str(corpus)))
        except EmobenchError as exc:   # e.g. no seed covers every fold: say so, keep the rest of the report
            section.text.append(f"No leaderboard for protocol {protocol} on {corpus}: {exc}")
    return section


def ser_columns() -> list[str]:
    """The SER leaderboard tables' metrics: every registered confusion metric shown in reports (``in_report``:
    UA, WA, macro-F1 and any added one; minority recall and per-class recall have sections of their own)."""
    return [s.name for s in METRICS if s.reads == "confusion" and s.in_report]


def _leaderboard_table(inputs: ReportInputs, cells: pd.DataFrame, protocol: str, corpus: str) -> ReportTable:
    columns = ser_columns()
    definition = LB.LeaderboardDef(name=f"report-{protocol}-{corpus}", suite=inputs.suite, protocol=protocol,
                                   corpus=corpus, columns=columns, labels={"macro_f1": "macro-F1"},
                                   n_bootstrap=inputs.n_bootstrap, seed=inputs.seed)
    board = LB.build_leaderboard(definition, inputs.tracking_uri, progress=False)
    rows = []
    for e in board.entries.to_dict("records"):
        mark = e["speaker_independent"]
        converged = LB.CONVERGENCE_MARK if e["still_improving"] else ""
        row = {"rank": str(e["rank"]), "method": e["method"] + converged}
        for metric in columns:
            row[definition.header(metric)] = fmt(e[metric], e[f"{metric}_low"], e[f"{metric}_high"], mark,
                                                 e[f"{metric}_sd"])
        if e["rank"] == 1 and e["method"] == board.entries["method"].iloc[0]:
            versus = "leader"
        elif np.isfinite(e["p_vs_leader"]):
            versus = f"{LB.TIE_MARK + ' ' if e['tied_with_leader'] else ''}p {LB.format_p(e['p_vs_leader'])}"
        else:
            versus = "n/a"
        row.update({"vs leader": versus, "seeds": str(e["seeds"]), "folds": str(e["folds"]),
                    "test utt.": str(e["n_test"])})
        rows.append(row)
    several_corpora = inputs.ser["corpus"].nunique() > 1
    key = f"leaderboard_{slug(protocol)}" + (f"_{slug(corpus)}" if several_corpora else "")
    values = board.entries.drop(columns=["run_ids"]).assign(protocol=protocol, corpus=corpus)
    convergence = [LB.CONVERGENCE_NOTE] if board.entries["still_improving"].any() else []
    return ReportTable(key, f"Leaderboard, protocol {protocol} on {corpus}: mean ± sd over seeds [95% CI]",
                       pd.DataFrame(rows), [legend(), *convergence, *board.notes], values)
