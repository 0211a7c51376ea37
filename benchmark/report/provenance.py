"""What the report says about where its numbers came from: the top-of-report notes and the provenance table."""
from __future__ import annotations

import pandas as pd

from benchmark.report.content import SYNTHETIC_NOTE
from benchmark.report.inputs import SYNTHETIC_CORPORA, TRANSFER_KEYS, meta

PROVENANCE_PARAMS = ("code_version", "data_hash", "config_digest", "split_digest")


def synthetic_notes(cells: pd.DataFrame) -> list[str]:
    """The synthetic-data note when any cell trained or tested on a synthetic corpus."""
    corpora = set(cells["corpus"].astype(str))
    for train_key, test_key, what, _ in TRANSFER_KEYS:
        if what == "corpus":
            corpora |= set(meta(cells, train_key).dropna().astype(str)) | set(meta(cells, test_key).dropna()
                                                                             .astype(str))
    return [SYNTHETIC_NOTE] if corpora & SYNTHETIC_CORPORA else []


def provenance(cells: pd.DataFrame) -> pd.DataFrame:
    """code version, data hash, config digest and package versions, with run counts where runs differ."""
    rows = [{"item": "finished cell runs", "value": str(len(cells))},
            {"item": "corpora", "value": ", ".join(sorted(cells["corpus"].astype(str).unique()))},
            {"item": "methods", "value": ", ".join(sorted(cells["method"].astype(str).unique()))},
            {"item": "protocols", "value": ", ".join(sorted(cells["protocol"].astype(str).unique()))}]
    columns = [f"params.{p}" for p in PROVENANCE_PARAMS if p != "split_digest"]
    columns += sorted(c for c in cells.columns if c.startswith("params.pkg."))
    for column in columns:
        if column not in cells.columns:
            continue
        counts = cells[column].fillna("(not logged)").astype(str).value_counts()
        value = counts.index[0] if len(counts) == 1 else "; ".join(f"{v} ({n} runs)" for v, n in counts.items())
        rows.append({"item": column.removeprefix("params."), "value": value})
    return pd.DataFrame(rows)
