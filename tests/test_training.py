"""The training loop's early-stopping score against scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from benchmark.training import validation_ua


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", range(5))
def test_validation_ua_is_balanced_accuracy(seed):
    rng = np.random.default_rng(seed)
    n_classes = 5
    y_true = rng.integers(0, n_classes - 1, size=200)       # class 4 never true: left out of UA
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, n_classes, size=200))
    assert validation_ua(y_true, y_pred, n_classes) == pytest.approx(balanced_accuracy_score(y_true, y_pred),
                                                                     abs=1e-12)


def test_validation_ua_of_nothing_is_nan():
    assert np.isnan(validation_ua(np.array([], dtype=int), np.array([], dtype=int), 3))
