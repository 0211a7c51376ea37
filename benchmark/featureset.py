"""The hand-over between the features stage and the methods stage: features and labels of a set of
utterances, aligned by position. ``benchmark.features`` builds it, every method fits on it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class FeatureSet:
    """Features and labels of a set of utterances, aligned by position.

    ``X`` is a 2-D array (utterance-level functionals) or a list of
    ``(frames, dims)`` arrays (frame-level features such as log-mel).
    ``y`` holds class names (strings) or is None for unlabelled data.
    """

    utt_ids: list[str]
    X: np.ndarray | list[np.ndarray]
    y: np.ndarray | None
    speakers: np.ndarray
    languages: np.ndarray

    def __len__(self) -> int:
        return len(self.utt_ids)

    def subset(self, index: Sequence[int] | np.ndarray) -> "FeatureSet":
        index = np.asarray(index, dtype=int)
        X = self.X[index] if isinstance(self.X, np.ndarray) else [self.X[i] for i in index]
        return FeatureSet(
            utt_ids=[self.utt_ids[i] for i in index],
            X=X,
            y=None if self.y is None else self.y[index],
            speakers=self.speakers[index],
            languages=self.languages[index],
        )
