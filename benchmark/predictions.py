"""Predictions tables: the data every SER number is recomputed from.

One row per test utterance: ``utt_id, y_true, y_pred, speaker, language`` and
one probability column ``p_<class>`` per class. The runner writes one per grid
cell as an MLflow artifact (Parquet); metrics, confidence intervals,
significance tests, leaderboards and regression verdicts all read these
tables, never hand-copied numbers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from benchmark.errors import ManifestError

BASE_COLUMNS = ("utt_id", "y_true", "y_pred", "speaker", "language")
PROB_PREFIX = "p_"


def make_predictions(utt_ids: Sequence[str], y_true: Sequence[str], proba: np.ndarray, classes: Sequence[str], *,
                     speakers: Sequence[str] | None = None, languages: Sequence[str] | None = None) -> pd.DataFrame:
    """Build a predictions table; ``y_pred`` is the arg-max class of ``proba``."""
    proba = np.asarray(proba, dtype=float)
    n = len(utt_ids)
    if proba.shape != (n, len(classes)):
        raise ValueError(f"proba has shape {proba.shape}, expected ({n}, {len(classes)})")
    table = pd.DataFrame({
        "utt_id": list(utt_ids),
        "y_true": list(y_true),
        "y_pred": np.asarray(classes, dtype=object)[proba.argmax(axis=1)],
        "speaker": list(speakers) if speakers is not None else [""] * n,
        "language": list(languages) if languages is not None else [""] * n,
    })
    for j, c in enumerate(classes):
        table[f"{PROB_PREFIX}{c}"] = proba[:, j]
    return validate_predictions(table)


def classes_of(table: pd.DataFrame) -> list[str]:
    """Class names, in the order of the probability columns."""
    return [c[len(PROB_PREFIX):] for c in table.columns if c.startswith(PROB_PREFIX)]


def validate_predictions(table: pd.DataFrame, source: str = "predictions") -> pd.DataFrame:
    """Check the schema; errors name the column or the rows at fault."""
    problems = [f"missing column {c!r}" for c in ("utt_id", "y_true", "y_pred") if c not in table.columns]
    if problems:
        raise ManifestError(source, problems)
    classes = classes_of(table)
    dupes = table["utt_id"][table["utt_id"].duplicated()].tolist()
    if dupes:
        problems.append(f"duplicate utt_id(s): {dupes[:5]}")
    if classes:
        known = set(classes)
        for col in ("y_pred",):
            bad = table.index[~table[col].isin(known)].tolist()
            if bad:
                problems.append(f"rows {bad[:5]}: {col} not among the probability columns {classes}")
        proba = table[[PROB_PREFIX + c for c in classes]].to_numpy(dtype=float)
        bad_rows = np.flatnonzero(~np.isfinite(proba).all(axis=1) | (np.abs(proba.sum(axis=1) - 1) > 1e-4))
        if len(bad_rows):
            problems.append(f"rows {bad_rows[:5].tolist()}: probabilities are not finite or do not sum to 1")
    if problems:
        raise ManifestError(source, problems)
    return table


def write_predictions(table: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(path, index=False)
    return path


def read_predictions(path: str | Path) -> pd.DataFrame:
    return validate_predictions(pd.read_parquet(path), str(path))
