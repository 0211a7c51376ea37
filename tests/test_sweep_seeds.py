"""perf/sweep_seeds.py: seeds and variants parsed as written, bad --configs refused, one row per variant."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("sweep_seeds", ROOT / "perf" / "sweep_seeds.py")
sweep_seeds = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sweep_seeds)


def test_seed_ranges_and_lists():
    assert sweep_seeds.parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert sweep_seeds.parse_seeds("3,1,7") == [3, 1, 7]
    for bad in ("0-x", "a,b", "4-1"):
        with pytest.raises(ValueError, match=f"--seeds '{bad}'"):
            sweep_seeds.parse_seeds(bad)


@pytest.mark.parametrize("configs,seeds,message", [("{not json", "0-1", "not JSON"),
                                                   ('{"a": 3}', "0-1", "must map variant names"),
                                                   ("{}", "zero", "--seeds 'zero'")])
def test_bad_configs_are_refused_by_name(configs, seeds, message):
    proc = subprocess.run([sys.executable, str(ROOT / "perf" / "sweep_seeds.py"), "logreg", "--configs", configs,
                           "--seeds", seeds],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and message in proc.stderr


def test_every_variant_trains_every_seed_on_the_same_files(tmp_path):
    bt = sweep_seeds.bt
    feature = "egemaps"
    bt._write(tmp_path / f"{feature}_train.npz", bt.synthetic_set(feature, 120, 0))
    bt._write(tmp_path / f"{feature}_test.npz", bt.synthetic_set(feature, 40, 1))
    rows = sweep_seeds.sweep("dae", [0, 1], {"a": {"epochs": 2}, "b": {"epochs": 3}}, tmp_path)
    assert [r["variant"] for r in rows] == ["a", "b"] and all(r["seeds"] == [0, 1] for r in rows)
    assert rows[0]["epochs"] == [2, 2] and rows[1]["epochs"] == [3, 3]
    assert rows[0]["mean_ua"] == pytest.approx(np.mean(rows[0]["ua"]))
    assert set(rows[0]["recall"]) == {"angry", "happy", "neutral", "sad"}
    again = sweep_seeds.sweep("dae", [0, 1], {"a": {"epochs": 2}}, tmp_path)
    assert again[0]["ua"] == rows[0]["ua"]                       # deterministic for a seed
    json.dumps(rows)                                             # the rows are what --out writes


def test_bench_training_confirms_on_fresh_seeds():
    """``--ua-seed-start`` moves the --ua-seeds window, so a recipe chosen on seeds 0..K-1 is confirmed on others."""
    from argparse import Namespace

    bt = sweep_seeds.bt
    assert bt.ua_seed_list(Namespace(ua_seeds=3, ua_seed_start=0)) == [0, 1, 2]
    assert bt.ua_seed_list(Namespace(ua_seeds=3, ua_seed_start=10)) == [10, 11, 12]
    proc = subprocess.run([sys.executable, str(ROOT / "perf" / "bench_training.py"), "--methods", "logreg",
                           "--ua-seeds", "2", "--ua-seed-start", "-1", "--no-timing"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "--ua-seed-start -1" in proc.stderr
