"""The latent-consistency section: distances between the per-language distributions of test embeddings."""
from __future__ import annotations

import pandas as pd

from benchmark.report import figures as F
from benchmark.report import placement as P
from benchmark.report.content import ReportTable, Section
from benchmark.report.formatting import legend, si_flag
from benchmark.report.inputs import MAIN_CRITERION, TONAL_LANGUAGES, ReportInputs

PAIR_GROUPS = ("non-tonal ↔ non-tonal", "tonal ↔ non-tonal", "tonal ↔ tonal")


def build(inputs: ReportInputs) -> Section | None:
    """Squared MMD per language pair and method, from every run that kept embeddings; None without any."""
    from benchmark.report.distances import language_distances

    records = []
    for row, emb in inputs.embedded:
        for pair in language_distances(emb["Z"], emb["languages"]):
            records.append({"method": row["method"], "run_id": row["run_id"], **pair})
    if not records:
        return None
    per_run = pd.DataFrame(records)
    pairs = per_run.groupby(["method", "a", "b"], as_index=False)["distance"].mean()
    pairs["group"] = [pair_group(a, b) for a, b in zip(pairs["a"], pairs["b"])]
    summary = pairs.groupby(["method", "group"], as_index=False).agg(distance=("distance", "mean"),
                                                                     low=("distance", "min"),
                                                                     high=("distance", "max"))
    group_order = [g for g in PAIR_GROUPS if g in set(summary["group"])]
    summary["group"] = pd.Categorical(summary["group"], group_order, ordered=True)
    summary = summary.sort_values(["method", "group"])
    pairs["pair"] = pairs["a"] + "–" + pairs["b"]
    wide = pairs.pivot(index="method", columns="pair", values="distance")
    ordered_pairs = sorted(wide.columns, key=lambda p: (group_order.index(pair_group(*p.split("–"))), p))
    marks = {m: si_flag(inputs.cells[inputs.cells["run_id"].isin(per_run.loc[per_run["method"] == m, "run_id"])])
             for m in wide.index}
    display = wide[ordered_pairs].apply(lambda col: pd.Series([f"{v:.3f} {marks[m]}" for m, v in col.items()],
                                                              index=col.index))
    display = display.reset_index()
    return Section("latent_consistency", "Latent consistency across languages", [
        "Unbiased squared MMD (RBF kernel, median-heuristic bandwidth; benchmark.metrics.mmd_rbf) between the "
        "test embeddings of two languages, "
        "each embedding dimension z-scored within a run, averaged over the runs that kept embeddings; "
        "lower = the representation is more language-independent. Pairs with a tonal language (Mandarin "
        "zh) are shown apart from pairs of non-tonal languages."],
        tables=[ReportTable("language_distances", "Squared MMD between per-language embedding distributions",
                            display, [f"Tonal languages: {', '.join(sorted(TONAL_LANGUAGES))}. " + legend()],
                            pairs)],
        figures=P.main_and_full(
            "language_distances", "Mean squared MMD between per-language embedding distributions, one panel per "
            "pair kind; whiskers: range over the language pairs.",
            lambda methods: F.distance_figure(summary[summary["method"].isin(methods)].astype({"group": str}),
                                              inputs.styles, "squared MMD"),
            summary["method"].astype(str).unique(), inputs.main_scores(), criterion=MAIN_CRITERION))


def pair_group(a: str, b: str) -> str:
    """Which kind of language pair ``a``-``b`` is: how many of the two are tonal."""
    tonal = (a in TONAL_LANGUAGES) + (b in TONAL_LANGUAGES)
    return PAIR_GROUPS[tonal]
