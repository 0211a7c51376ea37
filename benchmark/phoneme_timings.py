"""Phoneme timings stored beside a recording: the ``<wav>.json`` sidecar's ``alignment`` list.

The format belongs to no corpus in particular: the embedded corpus writes it for every
utterance (``{"alignment": [{"phoneme": ..., "start_s": ..., "end_s": ...}, ...]}``, in the
wav's time), and any corpus may write the same file; the TTS targets read it
(``alignment="stored"``, :mod:`benchmark.tts.targets`). It sits outside both so that
neither imports the other.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from benchmark.errors import ManifestError


def phoneme_timings(wav_path: str | os.PathLike) -> pd.DataFrame:
    """The stored phoneme timings of one utterance (``phoneme, start_s, end_s`` in its wav's time)."""
    meta_path = Path(wav_path).with_suffix(".json")
    if not meta_path.is_file():
        raise ManifestError(str(wav_path), [f"no phoneme timings beside the audio ({meta_path.name} missing)"])
    return pd.DataFrame(json.loads(meta_path.read_text())["alignment"], columns=["phoneme", "start_s", "end_s"])
