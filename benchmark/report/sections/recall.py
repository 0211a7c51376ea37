"""The per-class recall section: each class's recall per method on the main protocol, with bootstrap CIs."""
from __future__ import annotations

import pandas as pd

from benchmark.report import figures as F
from benchmark.report import placement as P
from benchmark.report.content import ReportTable, Section
from benchmark.report.formatting import fmt, legend, si_flag, where
from benchmark.report.inputs import MAIN_CRITERION, ReportInputs


def build(inputs: ReportInputs) -> Section | None:
    """A table (method x class) and a figure (one panel per class) of the main protocol's cells."""
    cells = inputs.main
    if cells.empty:
        return None
    protocol = cells["protocol"].iloc[0]
    records = []
    for method, group in cells.groupby("method"):
        s = inputs.score(group)
        for key in [k for k in s.value if k.startswith("recall.")]:
            records.append({"method": method, "class": key.removeprefix("recall."), "recall": s.value[key],
                            "low": s.low[key], "high": s.high[key], "flag": si_flag(group)})
    table = pd.DataFrame(records)
    mark = si_flag(cells)
    wide = table.assign(cell=[fmt(r.recall, r.low, r.high, r.flag) for r in table.itertuples()])
    wide = wide.pivot(index="method", columns="class", values="cell")[list(dict.fromkeys(table["class"]))]
    return Section("recall", "Per-class recall", [
        f"{where(cells).capitalize()}: recall of each class per method (mean over seeds of the fold-pooled "
        "recall), whiskers = bootstrap 95% CI over test utterances."],
        tables=[ReportTable("per_class_recall", f"Per-class recall (%), protocol {protocol} [95% CI]",
                            wide.fillna("–").reset_index(), [legend()], table)],
        figures=P.main_and_full(
            "per_class_recall", f"Per-class recall per method ({protocol}, {mark}): point = recall, whisker = "
            "95% bootstrap CI; one panel per class.",
            lambda methods: F.per_class_recall_figure(table[table["method"].isin(methods)], inputs.styles),
            table["method"].unique(), inputs.main_scores(), criterion=MAIN_CRITERION))
