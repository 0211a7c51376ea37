"""The minimum detectable difference of a paired accuracy comparison (benchmark.metrics.stacked.mcnemar_mdd).

Checked against independent computations: a Monte-Carlo simulation of the asymptotic McNemar test on
paired binary outcomes drawn at the computed difference (its power must be the requested one), the
textbook sample-size formula inverted (Connor 1987, as in Lachin's "Power and sample size evaluation
for the McNemar test"), and the observed discordance of stacked predictions counted by hand.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2, norm

from benchmark.metrics.stacked import Stacked, mcnemar_mdd, paired_accuracy_mdd


def simulated_power(n: int, discordance: float, delta: float, alpha: float, reps: int, seed: int) -> float:
    """Share of ``reps`` simulated studies in which the uncorrected McNemar chi-square rejects at ``alpha``."""
    rng = np.random.default_rng(seed)
    p10, p01 = (discordance + delta) / 2, (discordance - delta) / 2
    counts = rng.multinomial(n, [p10, p01, 1 - p10 - p01], size=reps)
    n10, n01 = counts[:, 0].astype(float), counts[:, 1].astype(float)
    disc = n10 + n01
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.where(disc > 0, (n10 - n01) ** 2 / disc, 0.0)
    return float(np.mean(stat > chi2.ppf(1 - alpha, 1)))


@pytest.mark.parametrize("n, discordance", [(86, 0.45), (258, 0.30), (400, 0.6)])
def test_the_power_at_the_mdd_is_the_requested_power_by_simulation(n, discordance):
    delta = mcnemar_mdd(n, discordance, alpha=0.05, power=0.8)
    assert 0 < delta < discordance
    power = simulated_power(n, discordance, delta, 0.05, reps=40_000, seed=1)
    assert power == pytest.approx(0.80, abs=0.025)       # the normal approximation, at n = 86 already
    # a difference of two thirds of it is detected clearly less often, 1.5 times it clearly more
    assert simulated_power(n, discordance, 2 * delta / 3, 0.05, 40_000, 2) < 0.6
    assert simulated_power(n, discordance, min(1.5 * delta, discordance), 0.05, 40_000, 3) > 0.95


def test_it_inverts_the_sample_size_formula():
    # Connor (1987): n = (z_a sqrt(psi) + z_b sqrt(psi - delta^2))^2 / delta^2
    for psi, delta in [(0.4, 0.15), (0.25, 0.1), (0.7, 0.3)]:
        z_a, z_b = norm.ppf(0.975), norm.ppf(0.9)
        n = (z_a * math.sqrt(psi) + z_b * math.sqrt(psi - delta ** 2)) ** 2 / delta ** 2
        assert mcnemar_mdd(math.ceil(n), psi, 0.05, 0.9) == pytest.approx(delta, rel=0.01)
        assert mcnemar_mdd(math.ceil(n), psi, 0.05, 0.9) <= delta


def test_more_utterances_or_fewer_disagreements_detect_smaller_differences():
    assert mcnemar_mdd(344, 0.4) < mcnemar_mdd(86, 0.4) < mcnemar_mdd(16, 0.4)
    assert mcnemar_mdd(86, 0.2) < mcnemar_mdd(86, 0.5)
    assert math.isnan(mcnemar_mdd(86, 0.0))               # never disagreeing: no difference to detect
    assert mcnemar_mdd(3, 0.1) == math.inf                # not even delta = psi reaches the power
    with pytest.raises(ValueError, match="discordance"):
        mcnemar_mdd(10, 1.5)
    with pytest.raises(ValueError, match="n must be"):
        mcnemar_mdd(0, 0.3)


def _stack(y_true, y_pred, seed="0"):
    return pd.DataFrame({"seed": seed, "fold": "heldout", "utt_id": [f"u{i}" for i in range(len(y_true))],
                         "y_true": y_true, "y_pred": y_pred})


def test_paired_accuracy_mdd_counts_the_discordant_pairs_of_every_seed():
    rng = np.random.default_rng(0)
    labels = np.array(["neutral", "happy", "angry", "sad"])
    truth = rng.choice(labels, 86)
    frames_a, frames_b, shares = [], [], []
    for seed, (skill_a, skill_b) in enumerate([(0.6, 0.3), (0.5, 0.4), (0.7, 0.2)]):
        ok_a, ok_b = rng.random(86) < skill_a, rng.random(86) < skill_b
        wrong = np.roll(truth, 1)
        assert (wrong != truth).any()
        wrong = np.where(wrong == truth, np.where(truth == "sad", "happy", "sad"), wrong)
        frames_a.append(_stack(truth, np.where(ok_a, truth, wrong), str(seed)))
        frames_b.append(_stack(truth, np.where(ok_b, truth, wrong), str(seed)))
        shares.append(np.mean(ok_a != ok_b))
    a = Stacked.from_frame(pd.concat(frames_a, ignore_index=True))
    b = Stacked.from_frame(pd.concat(frames_b, ignore_index=True), items=a.items)
    power = paired_accuracy_mdd(a, b)
    assert power.n == 86          # the seeds share their utterances: counted once
    assert power.discordance == pytest.approx(np.mean(shares))
    assert power.mdd == pytest.approx(mcnemar_mdd(86, float(np.mean(shares))))


def test_seeds_with_their_own_utterances_add_them_and_unpaired_sets_raise():
    from benchmark.errors import EmobenchError

    truth = np.array(["happy", "sad"] * 20)
    a = Stacked.from_frame(pd.concat([_stack(truth, truth, "0").assign(utt_id=lambda f: "s0" + f.utt_id),
                                      _stack(truth, truth, "1").assign(utt_id=lambda f: "s1" + f.utt_id)]))
    flipped = np.where(np.arange(40) < 10, np.where(truth == "sad", "happy", "sad"), truth)
    b = Stacked.from_frame(pd.concat([_stack(truth, flipped, "0").assign(utt_id=lambda f: "s0" + f.utt_id),
                                      _stack(truth, truth, "1").assign(utt_id=lambda f: "s1" + f.utt_id)]),
                           items=a.items)
    power = paired_accuracy_mdd(a, b)
    assert power.n == 80 and power.discordance == pytest.approx(10 / 80)
    with pytest.raises(EmobenchError, match="differ"):
        paired_accuracy_mdd(a, Stacked.from_frame(_stack(truth, truth, "0")))
