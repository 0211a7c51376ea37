"""The speaker-leakage section: a linear speaker probe on each method's frozen test embeddings, vs chance."""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd

from benchmark.report import figures as F
from benchmark.report import placement as P
from benchmark.report.content import ReportTable, Section
from benchmark.report.formatting import legend, pct, si_flag, slug
from benchmark.report.inputs import MAIN_CRITERION, ReportInputs


def build(inputs: ReportInputs) -> Section | None:
    """Speaker-probe accuracy vs chance per protocol and method, recomputed from each cell's test embeddings.

    One chart per protocol: protocols test on different speakers (a cross-lingual cell on one language's
    speakers), so their chance levels differ and pooling them would compare nothing.
    """
    from benchmark.leaderboard.build import run_speaker_probe

    records = []
    for row, _emb in inputs.embedded:
        probe = run_speaker_probe(row["run_id"], int(row["seed"]), inputs.tracking_uri)
        if probe is None:
            continue
        if np.isfinite(probe["speaker_probe_acc"]):
            records.append({"protocol": str(row["protocol"]), "method": row["method"], "run_id": row["run_id"],
                            **probe})
    if not records:
        return None
    per_run = pd.DataFrame(records)
    table = per_run.groupby(["protocol", "method"], as_index=False).agg(
        accuracy=("speaker_probe_acc", "mean"), low=("speaker_probe_acc", "min"),
        high=("speaker_probe_acc", "max"), chance=("speaker_probe_chance", "mean"),
        chance_low=("speaker_probe_chance", "min"), chance_high=("speaker_probe_chance", "max"),
        runs=("run_id", "size"))
    main_protocol = str(inputs.main["protocol"].iloc[0]) if not inputs.main.empty else ""
    protocols = sorted(table["protocol"].unique(), key=lambda p: (p != main_protocol, p))
    table["protocol"] = pd.Categorical(table["protocol"], protocols, ordered=True)
    table = table.sort_values(["protocol", "method"]).astype({"protocol": str}).reset_index(drop=True)
    cells = inputs.cells[inputs.cells["run_id"].isin(per_run["run_id"])]
    marks = {(str(p), m): si_flag(g) for (p, m), g in cells.groupby(["protocol", "method"])}
    mark = [marks.get((r.protocol, r.method), "") for r in table.itertuples()]
    display = pd.DataFrame({
        "protocol": table["protocol"], "method": table["method"],
        "probe accuracy (%)": [f"{pct(r.accuracy)} [{pct(r.low)}, {pct(r.high)}] {m}"
                               for r, m in zip(table.itertuples(), mark)],
        "chance (%)": [f"{pct(r.chance)} {m}" for r, m in zip(table.itertuples(), mark)],
        "accuracy / chance": [f"{r.accuracy / r.chance:.2f} {m}" for r, m in zip(table.itertuples(), mark)],
        "runs": table["runs"].astype(str)})
    section = Section("speaker_probe", "Speaker leakage", [
        "A linear probe (z-scored logistic regression, benchmark.metrics.speaker_probe) predicts the speaker "
        "from each method's frozen test embeddings, on test speakers the method never saw when the split is "
        "speaker-independent; it trains on half of each speaker's utterances and is scored on the other half. "
        "Chance = the majority-speaker rate. Accuracy near chance = little speaker identity leaks into the "
        "embedding. Mean over runs, [min, max] over folds and seeds. One chart per protocol: each protocol "
        "tests on its own speakers, so each has its own chance level."],
        tables=[ReportTable("speaker_probe", "Speaker-probe accuracy vs chance, per protocol", display, [legend()],
                            table)])
    for protocol, rows in table.groupby("protocol", sort=False):
        chance = float(rows["chance"].mean())
        spread = (f", {pct(rows['chance_low'].min())}–{pct(rows['chance_high'].max())}% over its runs"
                  if rows["chance_high"].max() - rows["chance_low"].min() > 0.005 else "")
        flag_ = si_flag(cells[cells["protocol"].astype(str) == protocol])
        section.figures += P.main_and_full(
            f"speaker_probe_{slug(protocol)}",
            f"Speaker-probe accuracy per method, protocol {protocol} ({flag_}): point = mean over runs, whisker = "
            f"range over runs, dashed line = chance, {pct(chance)}% (majority-speaker rate of this protocol's "
            f"test speakers{spread}). Lower = less speaker identity in the embedding.",
            functools.partial(_probe_figure, rows, inputs.styles, chance),
            rows["method"].astype(str).unique(), inputs.main_scores(), criterion=MAIN_CRITERION)
    return section


def _probe_figure(rows: pd.DataFrame, styles: Any, chance: float, methods: Any) -> Any:
    """The speaker-probe figure of ``methods`` (the main or the full set of a figure pair)."""
    return F.speaker_probe_figure(rows[rows["method"].isin(methods)], styles, chance=chance)
