"""Ablation tables: each method variant against its base method, paired on the same test utterances.

A suite declares variants as ``base/variant`` methods (a registered method plus
hyperparameter overrides; their cells carry the tags ``base_method`` and
``variant``). Per base method and per (protocol, corpus, fold set) both ran,
each variant's Δ = variant - base on the ranking metric (UA) and on
minority-class recall is computed from the predictions tables: per seed over
the pooled folds, mean over the seeds both ran, with a 95% paired-bootstrap CI
(the same resample of the test utterances for both and every seed) and its p
(:mod:`benchmark.metrics.stacked`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark import leaderboard as LB
from benchmark import results
from benchmark.claims.evaluate import split_flag
from benchmark.errors import EmobenchError
from benchmark.metrics import stacked as st
from benchmark.report.content import ReportTable, Section
from benchmark.report.formatting import slug
from benchmark.report.inputs import ReportInputs

ABLATION_METRICS = (("ua", "UA"), ("minority_recall", "minority recall"))


def base_and_variant(cells: pd.DataFrame) -> pd.DataFrame:
    """``cells`` with ``_base`` and ``_variant`` columns (from the tags; from the name for older records)."""
    names = cells["method"].astype(str)
    base = cells["base_method"].astype(str) if "base_method" in cells.columns else pd.Series("nan", cells.index)
    variant = cells["variant"].astype(str) if "variant" in cells.columns else pd.Series("nan", cells.index)
    from_name = names.str.partition("/")
    base = base.where(~base.isin(["", "nan", "None"]), from_name[0])
    variant = variant.where(~variant.isin(["nan", "None"]), from_name[2])
    return cells.assign(_base=base, _variant=variant)


def _fmt(metric_diff: st.PairedDifference) -> str:
    f = lambda v: f"{100 * v:+.1f}" if np.isfinite(v) else "–"  # noqa: E731
    return f"{f(metric_diff.diff)} [{f(metric_diff.low)}, {f(metric_diff.high)}]"


def _paired_rows(cells: pd.DataFrame, base: str, variant: str, tracking_uri: str, n_bootstrap: int,
                 seed: int) -> list[dict]:
    rows = []
    key = ["corpus", "protocol", "fold", "seed"]
    group_key = ["protocol", "corpus"]
    for (protocol, corpus), group in cells.groupby(group_key):
        a = group[group["method"].astype(str) == base]
        b = group[group["method"].astype(str) == variant]
        common = set(map(tuple, a[key].astype(str).to_numpy())) & set(map(tuple, b[key].astype(str).to_numpy()))
        if not common:
            continue
        a, b = (df[[tuple(r) in common for r in df[key].astype(str).to_numpy()]] for df in (a, b))
        pa, pb = LB.stacked_predictions(a, tracking_uri), LB.stacked_predictions(b, tracking_uri)
        for fold_set, (fa, fb) in _by_fold_set(pa, pb).items():
            row = {"base": base, "variant": variant, "protocol": str(protocol), "corpus": str(corpus),
                   "split": split_flag(pd.concat([a, b])),
                   "folds": fold_set, "still_improving": results.still_improving(b),
                   "base_still_improving": results.still_improving(a)}
            try:
                scores = st.score_paired(fa, fb, n_boot=n_bootstrap, seed=seed)
            except EmobenchError as exc:
                rows.append({**row, "error": str(exc)})
                continue
            row.update(seeds=len(scores.seeds), n_test=scores.n_items)
            for metric, _ in ABLATION_METRICS:
                if metric not in scores.a.value:
                    continue
                d = scores.difference(metric)
                row.update({f"{metric}_base": scores.a.value[metric], f"{metric}_variant": scores.b.value[metric],
                            f"{metric}_diff": d.diff, f"{metric}_low": d.low, f"{metric}_high": d.high,
                            f"{metric}_p": d.p})
            rows.append(row)
    return rows


def _by_fold_set(pa: pd.DataFrame, pb: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """The imbalance protocol's folds are its ratios (each its own training set): one row per ratio;
    every other protocol's folds are pooled."""
    folds = sorted(set(pa["fold"].astype(str)), key=st.natural_key)
    if folds and all(f.startswith("ratio") for f in folds):
        return {f: (pa[pa["fold"] == f], pb[pb["fold"] == f]) for f in folds}
    return {"all": (pa, pb)}


def build(inputs: ReportInputs) -> Section | None:
    """The ablation section of the suite's SER cells."""
    return ablation_section(inputs.ser, inputs.tracking_uri, inputs.n_bootstrap, inputs.seed)


def ablation_section(cells: pd.DataFrame, tracking_uri: str, n_bootstrap: int = 1000, seed: int = 0
                     ) -> Section | None:
    """One table per base method that has variants in the suite; None when the suite has no variants."""
    if cells.empty:
        return None
    cells = base_and_variant(cells)
    variants = cells[cells["_variant"] != ""]
    if variants.empty:
        return None
    section = Section("ablations", "Ablations", [
        "Each variant (a base method with some hyperparameters overridden) against its base method on the same "
        "test utterances: Δ = variant - base in points, per seed over the pooled folds and the mean over the "
        f"seeds both ran; [low, high] = 95% paired-bootstrap CI ({n_bootstrap} resamples of the test utterances, "
        "the same for both and every seed), p = paired bootstrap. Minority recall = mean recall of the "
        "non-Neutral classes. Imbalance ratios are separate rows."])
    for base, group in variants.groupby("_base"):
        records = []
        for variant in sorted(group["method"].astype(str).unique()):
            records += _paired_rows(cells, str(base), variant, tracking_uri, n_bootstrap, seed)
        if not records:
            section.text.append(f"{base}: its variants share no cell with {base} itself, so no ablation table.")
            continue
        values = pd.DataFrame(records)
        section.tables.append(ReportTable(f"ablation_{slug(str(base))}", f"Ablation of {base}: each variant "
                                          "minus the base method (points) [95% CI], paired",
                                          _display(values), _notes(values), values))
    return section if section.tables else None


def _display(values: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in values.to_dict("records"):
        mark = LB.CONVERGENCE_MARK if r.get("still_improving") else ""
        row = {"variant": r["variant"] + mark, "protocol": r["protocol"] + ("" if r["folds"] == "all"
                                                                            else f" ({r['folds']})")}
        if r.get("error"):
            row.update({f"Δ {label}": "–" for _, label in ABLATION_METRICS})
            row["note"] = r["error"]
            rows.append(row)
            continue
        for metric, label in ABLATION_METRICS:
            if f"{metric}_diff" not in r or not np.isfinite(r[f"{metric}_diff"]):
                row[f"Δ {label}"], row[f"p ({label})"] = "–", "–"
                continue
            d = st.PairedDifference(r[f"{metric}_diff"], r[f"{metric}_low"], r[f"{metric}_high"], float("nan"),
                                    r[f"{metric}_p"])
            row[f"{label} of base"] = f"{100 * r[f'{metric}_base']:.1f}"
            row[f"Δ {label}"] = _fmt(d)
            row[f"p ({label})"] = LB.format_p(d.p).removeprefix("= ")
        row.update({"seeds": str(r.get("seeds", "–")), "test utt.": str(r.get("n_test", "–")), "split": r["split"],
                    "note": ""})
        rows.append(row)
    return pd.DataFrame(rows).fillna("–")


def _notes(values: pd.DataFrame) -> list[str]:
    notes = []
    if values["still_improving"].any() or values["base_still_improving"].any():
        notes.append(LB.CONVERGENCE_NOTE.replace("the method's cells", "the variant's cells"))
    if values["base_still_improving"].any():
        notes.append("The base method's own cells also stopped at the epoch cap while still improving.")
    return notes
