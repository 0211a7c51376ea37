"""Safe save/load of scikit-learn parts of a method (no pickle).

A pickle runs arbitrary code when it is loaded, so a model file from a
colleague or from the Model Registry could take over the machine. Fitted
scikit-learn estimators are written with ``skops.io`` instead, and read back
only if every type in the file is trusted: the scikit-learn, NumPy and SciPy
types skops trusts by default, plus the short explicit list below. Anything
else fails with an error naming the file and the types.

Small arrays (normalisation statistics, class priors) go into ``.npz`` files
read with ``allow_pickle=False``; scalars and names into JSON.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.errors import EmobenchError

TRUSTED_TYPES: tuple[str, ...] = (
    # Private helpers of CalibratedClassifierCV (LinearSVC with calibrated probabilities).
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
)
"""Types trusted on top of skops' defaults (public scikit-learn estimators, NumPy, SciPy)."""


class UnsafeModelFile(EmobenchError):
    """A model file holds types that are not on the trusted list."""


def save_sklearn(obj: Any, path: str | Path) -> Path:
    """Write a fitted scikit-learn object to ``path`` with skops."""
    import skops.io as sio  # here: its import costs about a second, paid by every process that imports a method

    path = Path(path)
    sio.dump(obj, path)
    return path


def load_sklearn(path: str | Path, trusted: tuple[str, ...] = TRUSTED_TYPES) -> Any:
    """Read a skops file, refusing it if it holds any type outside skops' defaults and ``trusted``."""
    path = Path(path)
    if not path.is_file():
        raise EmobenchError(f"{path}: model file not found")
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = sorted(set(untrusted) - set(trusted))
    if refused:
        raise UnsafeModelFile(f"{path}: refusing to load untrusted type(s) {refused}")
    return sio.load(path, trusted=list(untrusted))


def save_arrays(path: str | Path, **arrays: np.ndarray) -> Path:
    path = Path(path)
    np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]  # numpy's stub
    return path


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Read an ``.npz`` without pickle (object arrays are refused by NumPy)."""
    path = Path(path)
    if not path.is_file():
        raise EmobenchError(f"{path}: array file not found")
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def write_json(path: str | Path, obj: Any) -> Path:
    path = Path(path)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True))
    return path


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise EmobenchError(f"{path}: file not found (is this a saved method directory?)")
    return json.loads(path.read_text())
