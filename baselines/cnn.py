"""Neural log-mel baselines: plain CNN and CRNN with cross-entropy, class-weighted, oversampled.

The same encoder as the seed methods (``benchmark/methods/logmel_net.py``),
without any of their tricks, so differences measure the tricks.
"""
from __future__ import annotations

import numpy as np
import torch
from imblearn.over_sampling import RandomOverSampler

from benchmark.methods.logmel_net import LogMelHParams, LogMelNetMethod


class CrnnHParams(LogMelHParams):
    rnn_hidden: int = 32


class CNN(LogMelNetMethod):
    """Conv stack + attentive statistics pooling + linear head, cross-entropy."""

    name = "cnn"


class CRNN(LogMelNetMethod):
    """CNN followed by a bidirectional GRU, cross-entropy."""

    name = "crnn"
    HParams = CrnnHParams
    hp: CrnnHParams


class _ClassWeighted(LogMelNetMethod):
    """Mixin (before CNN or CRNN in the bases): the cross-entropy weighted by inverse class frequency."""

    def prepare_training(self) -> None:
        # Inverse class frequency, normalised to mean 1: every class weighs the same in the loss.
        w = self.class_counts_.sum() / np.maximum(self.class_counts_, 1) / len(self.class_counts_)
        self.class_weights_ = torch.tensor(w, dtype=torch.float32, device=self.device_)


class CNNWeighted(_ClassWeighted, CNN):
    """CNN with the cross-entropy weighted by inverse class frequency."""

    name = "cnn_weighted"


class CRNNWeighted(_ClassWeighted, CRNN):
    """CRNN with the cross-entropy weighted by inverse class frequency."""

    name = "crnn_weighted"


class CNNOversampled(CNN):
    """CNN trained on randomly oversampled epochs (imbalanced-learn's RandomOverSampler on row indices)."""

    name = "cnn_oversampled"

    def epoch_indices(self, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        sampler = RandomOverSampler(random_state=int(rng.integers(2**31 - 1)))
        rows, _ = sampler.fit_resample(np.arange(len(y)).reshape(-1, 1), y)
        return rng.permutation(rows.ravel())
