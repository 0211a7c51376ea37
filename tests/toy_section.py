"""A report section that lives outside ``benchmark/``: tests/test_report.py registers it with one line.

It counts the predictions behind each method on the main protocol (every fold and seed), so a test can
check the number against the predictions tables themselves.
"""
from __future__ import annotations

import pandas as pd

from benchmark.report.content import ReportTable, Section
from benchmark.report.inputs import ReportInputs


def build(inputs: ReportInputs) -> Section | None:
    cells = inputs.main
    if cells.empty:
        return None
    counts = {str(m): len(inputs.predictions(g)) for m, g in cells.groupby("method")}
    values = pd.DataFrame({"method": list(counts), "predictions": list(counts.values())})
    return Section("toy", "Toy: predictions per method", ["How many test predictions each method made."],
                   tables=[ReportTable("toy_predictions", "Predictions per method on the main protocol",
                                       values.astype(str), [], values)])
