"""eGeMAPS v02 functionals (88 dims) through the ``opensmile`` package.

openSMILE takes about 0.08 s per file on one core, so extraction runs in a
process pool (``n_jobs``) and is cached like every feature. Each worker keeps
one ``opensmile.Smile`` and streams its files' samples to openSMILE's
extraction directly (``Smile._extract``, what ``process_signal`` runs inside
audinterface's per-call wrapping: index building, a DataFrame per file, 7% of
the time per file); the values are ``process_signal``'s (tested). openSMILE
itself still parses its configuration for every file (16%): its API has no way
to restart a finished run.
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
    config: EgemapsConfig
    frame_level = False
    parallel = "processes"

    def feature_names(self) -> list[str]:
        return list(_smile().feature_names)

    def extract_batch(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        smile = _smile()
        out = []
        for w in waves:
            # (1, samples) in, (starts, ends, (1, 88) functionals) out: process_signal without the wrapping
            _, _, values = smile._extract(np.asarray(w, dtype=np.float32)[None, :], self.config.sample_rate)
            out.append(values[0].astype(np.float32))
        return out
