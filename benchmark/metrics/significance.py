"""Paired significance between two methods scored on the same test utterances."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import binomtest, chi2

from benchmark.metrics.bootstrap import resample_weights, weighted_confusions
from benchmark.metrics.ser import SER_METRICS


def paired_bootstrap(y_true: Sequence[str], pred_a: Sequence[str], pred_b: Sequence[str], labels: Sequence[str], *,
                     metric: str = "ua", n_boot: int = 1000, seed: int = 0,
                     speakers: Sequence[str] | None = None) -> dict[str, float | str]:
    """Paired bootstrap of ``metric(b) - metric(a)``: the same resamples score both methods.

    The two-sided p-value is twice the smaller tail of the resampled differences
    around zero (the percentile method of Koehn 2004, two-sided). With
    ``speakers`` the resampling unit is the speaker.
    """
    fn = SER_METRICS.get(metric)
    weights = resample_weights(len(y_true), n_boot, seed, speakers)
    diffs = fn(weighted_confusions(y_true, pred_b, labels, weights)) - fn(
        weighted_confusions(y_true, pred_a, labels, weights))
    ones = np.ones((1, len(y_true)))
    observed = float(fn(weighted_confusions(y_true, pred_b, labels, ones))[0]
                     - fn(weighted_confusions(y_true, pred_a, labels, ones))[0])
    p = min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    low, high = np.nanquantile(diffs, [0.025, 0.975])
    return {"test": "paired bootstrap" + (" (speakers)" if speakers is not None else ""), "metric": metric,
            "diff": observed, "ci_low": float(low), "ci_high": float(high), "p": float(p)}


def mcnemar(y_true: Sequence[str], pred_a: Sequence[str], pred_b: Sequence[str]) -> dict[str, float | str]:
    """McNemar's test on per-utterance correctness; exact binomial below 25 discordant pairs."""
    truth = np.asarray(y_true, dtype=object)
    a_ok = np.asarray(pred_a, dtype=object) == truth
    b_ok = np.asarray(pred_b, dtype=object) == truth
    n01 = int(np.sum(a_ok & ~b_ok))  # only a right
    n10 = int(np.sum(~a_ok & b_ok))  # only b right
    n = n01 + n10
    if n == 0:
        return {"test": "McNemar", "n01": 0, "n10": 0, "statistic": 0.0, "p": 1.0}
    if n < 25:
        return {"test": "McNemar (exact binomial)", "n01": n01, "n10": n10, "statistic": float(min(n01, n10)),
                "p": float(binomtest(n01, n, 0.5).pvalue)}
    stat = (abs(n01 - n10) - 1) ** 2 / n
    return {"test": "McNemar (chi-squared, continuity-corrected)", "n01": n01, "n10": n10, "statistic": float(stat),
            "p": float(chi2.sf(stat, df=1))}
