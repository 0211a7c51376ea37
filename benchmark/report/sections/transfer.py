"""The transfer section: train-on-row / test-on-column UA matrices, cross-lingual and cross-corpus."""
from __future__ import annotations

import pandas as pd

from benchmark.report import figures as F
from benchmark.report import placement as P
from benchmark.report.content import ReportFigure, ReportTable, Section
from benchmark.report.formatting import fmt, legend, si_flag, slug
from benchmark.report.inputs import TONAL_LANGUAGES, TRANSFER_KEYS, ReportInputs, meta


def build(inputs: ReportInputs) -> Section | None:
    """Per transfer kind, a heatmap per method and one table; None when the suite has no transfer protocol."""
    section = Section("transfer", "Cross-lingual and cross-corpus transfer", [
        "UA of a model trained on the row language (corpus) and tested on the column one; "
        "mean over seeds of the fold-pooled UA."])
    ser = inputs.ser
    for train_key, test_key, what, name in TRANSFER_KEYS:
        cells = ser[meta(ser, train_key).notna() & meta(ser, test_key).notna()]
        if cells.empty:
            continue
        cells = cells.assign(train=meta(cells, train_key).astype(str), test=meta(cells, test_key).astype(str))
        records = []
        for (method, train, test), group in cells.groupby(["method", "train", "test"]):
            s = inputs.score(group)
            records.append({"method": method, "train": train, "test": test, "ua": float(s.value["ua"]),
                            "ua_low": float(s.low["ua"]), "ua_high": float(s.high["ua"]), "flag": si_flag(group)})
        values = pd.DataFrame(records)
        order = language_order(set(values["train"]) | set(values["test"])) if what == "language" else \
            sorted(set(values["train"]) | set(values["test"]))
        for method, rows in values.groupby("method"):
            matrix = rows.pivot(index="train", columns="test", values="ua").reindex(index=order, columns=order)
            matrix = matrix.dropna(how="all").dropna(axis=1, how="all")
            mark = si_flag(cells[cells["method"] == method])
            non_tonal = sum(lang not in TONAL_LANGUAGES for lang in matrix.index) if what == "language" else None
            tonal_note = " Tonal languages sit below/right of the white line." \
                if non_tonal and non_tonal < len(matrix.index) else ""
            section.figures.append(ReportFigure(
                f"transfer_{what}_{slug(method)}",
                f"{name} transfer of {method} ({mark}): UA, train on row / test on column.{tonal_note}",
                F.transfer_heatmap_figure(matrix, f"{method} [{mark}]", split_after=non_tonal),
                appendix=P.in_appendix(method, values["method"].unique(), inputs.main_scores())))
        display = values.assign(cell=[fmt(r.ua, r.ua_low, r.ua_high, r.flag) for r in values.itertuples()])
        wide = display.pivot(index=["method", "train"], columns="test", values="cell")
        wide = wide[[c for c in order if c in wide.columns]].fillna("–").reset_index()
        wide.columns = ["method", f"train {what}"] + [f"test {c}" for c in wide.columns[2:]]
        section.tables.append(ReportTable(f"transfer_{what}", f"{name} transfer: UA (%) [95% CI]",
                                          wide, [legend()], values))
    return section if section.figures else None


def language_order(languages: set[str]) -> list[str]:
    """Non-tonal languages first, then tonal ones, so tonal rows/columns sit together."""
    return sorted(languages, key=lambda lang: (lang in TONAL_LANGUAGES, lang))
