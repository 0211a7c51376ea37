"""The confusion-matrix section: row-normalised confusion matrices of the main protocol, one per method."""
from __future__ import annotations


from benchmark.metrics import stacked as st
from benchmark.report import figures as F
from benchmark.report import placement as P
from benchmark.report.content import ReportFigure, Section
from benchmark.report.formatting import si_flag, slug, where
from benchmark.report.inputs import ReportInputs


def build(inputs: ReportInputs) -> Section | None:
    """One figure per method from the main protocol's predictions, all folds and seeds pooled."""
    from benchmark.metrics import row_normalised_confusion

    cells = inputs.main
    if cells.empty:
        return None
    protocol = cells["protocol"].iloc[0]
    section = Section("confusion", "Confusion matrices", [
        f"{where(cells).capitalize()}, predictions of all folds and seeds pooled; each row is normalised to sum "
        "to 1 (the diagonal is the per-class recall)."])
    for method, group in cells.groupby("method"):
        pred = inputs.predictions(group)
        labels = st.class_labels(pred)   # true and predicted classes: every error has a column
        normalised = row_normalised_confusion(pred["y_true"].astype(str), pred["y_pred"].astype(str), labels)
        mark = si_flag(group)
        section.figures.append(ReportFigure(
            f"confusion_{slug(method)}",
            f"Confusion matrix of {method} ({protocol}, {mark}), rows normalised by the true class.",
            F.confusion_figure(normalised, labels, f"{method} [{mark}]"),
            appendix=P.in_appendix(method, cells["method"].unique(), inputs.main_scores())))
    return section
