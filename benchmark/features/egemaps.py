"""eGeMAPS v02 functionals (88 dims) through the ``opensmile`` package.

openSMILE takes about 0.08 s per file on one core, so extraction runs in a
process pool (``n_jobs``) and is cached like every feature.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from benchmark.features.base import FEATURES, Extractor, FeatureConfig

_SMILE = None  # one openSMILE instance per process


def _smile():
    global _SMILE
    if _SMILE is None:
        import opensmile

        _SMILE = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                 feature_level=opensmile.FeatureLevel.Functionals)
    return _SMILE


class EgemapsConfig(FeatureConfig):
    name: Literal["egemaps"] = "egemaps"


@FEATURES.register("egemaps")
class Egemaps(Extractor):
    """eGeMAPSv02 functionals, 88 float32 values per utterance (names: :meth:`feature_names`)."""

    Config = EgemapsConfig
    frame_level = False
    parallel = "processes"

    def feature_names(self) -> list[str]:
        return list(_smile().feature_names)

    def extract_batch(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        smile = _smile()
        return [smile.process_signal(w, self.config.sample_rate).to_numpy()[0].astype(np.float32) for w in waves]
