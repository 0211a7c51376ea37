"""The imbalance section: UA and minority-class recall against the Neutral:other ratio of the training data."""
from __future__ import annotations

import pandas as pd

from benchmark.report import figures as F
from benchmark.report import placement as P
from benchmark.report.content import ReportTable, Section
from benchmark.report.formatting import fmt, legend, si_flag
from benchmark.report.inputs import MAIN_CRITERION, ReportInputs, meta


def build(inputs: ReportInputs) -> Section | None:
    """A table and a curve figure of the imbalance-sweep cells (tag ``meta.ratio``); None without a sweep."""
    cells = inputs.ser
    cells = cells[meta(cells, "ratio").notna()]
    if cells.empty:
        return None
    cells = cells.assign(ratio=pd.to_numeric(meta(cells, "ratio")))
    records = []
    for (method, ratio), group in cells.groupby(["method", "ratio"]):
        s = inputs.score(group)
        for metric in ("ua", "minority_recall"):
            value, low, high = s.value[metric], s.low[metric], s.high[metric]
            records.append({"method": method, "ratio": float(ratio), "metric": metric, "value": float(value),
                            "low": float(low), "high": float(high), "flag": si_flag(group)})
    table = pd.DataFrame(records)
    mark = si_flag(cells)
    display = table.assign(cell=[fmt(r.value, r.low, r.high, r.flag) for r in table.itertuples()],
                           column=[f"{'UA' if r.metric == 'ua' else 'minority recall'} @ {r.ratio:g}:1"
                                   for r in table.itertuples()])
    wide = display.pivot(index="method", columns="column", values="cell")
    wide = wide[[c for m in ("UA", "minority recall") for r in sorted(table["ratio"].unique())
                 for c in [f"{m} @ {r:g}:1"]]]
    return Section("imbalance", "Imbalance", [
        "UA and minority-class recall as the Neutral:other ratio of the training data grows (test data "
        "untouched). Minority-class recall = mean recall of the non-Neutral classes, which are all minority "
        "classes under a Neutral-heavy ratio. Whiskers: bootstrap 95% CI over test utterances."],
        tables=[ReportTable("imbalance", "Imbalance sweep (%): UA and minority-class recall per Neutral:other "
                            "ratio [95% CI]", wide.reset_index(), [legend()], table)],
        figures=P.main_and_full(
            "imbalance_curves", f"UA and minority-class recall against the Neutral:other training ratio ({mark}); "
            "whiskers: bootstrap 95% CI (points dodged along the ratio axis).",
            lambda methods: F.imbalance_figure(table[table["method"].isin(methods)], inputs.styles, "non-Neutral"),
            table["method"].unique(), inputs.main_scores(), criterion=MAIN_CRITERION,
            wide_full=table["method"].nunique() > 8))
