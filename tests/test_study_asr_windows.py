"""perf/study_asr_windows.py: packed windows hold every utterance once, in order, within the window length."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("study_asr_windows", ROOT / "perf" / "study_asr_windows.py")
study = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(study)


def test_windows_cover_every_utterance_once_in_order_and_stay_within_the_limit():
    rng = np.random.default_rng(0)
    waves = [np.zeros(int(rng.uniform(1.5, 4.0) * study.SR), np.float32) for _ in range(40)]
    windows = list(study._windows(waves, gap_s=1.0, limit_s=28.0))
    assert [i for window in windows for i in window] == list(range(40))
    for window in windows:
        length = 0.5 + sum(len(waves[i]) / study.SR + 1.0 for i in window)
        assert length <= 28.0
    assert len(windows) < 40 / 4       # 2-4 s utterances: several to a window


def test_an_utterance_longer_than_the_window_gets_a_window_of_its_own():
    waves = [np.zeros(2 * study.SR), np.zeros(40 * study.SR), np.zeros(2 * study.SR)]
    assert list(study._windows(waves, gap_s=1.0, limit_s=28.0)) == [[0], [1], [2]]
