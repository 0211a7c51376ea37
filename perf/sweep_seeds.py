"""One method's hyperparameter variants over several training seeds, on the split of ``bench_training.py``.

    .venv/bin/python perf/sweep_seeds.py emotion_extractor --seeds 0-4 \\
        --configs '{"today": {}, "crop80": {"crop_frames": 80}, "masks4": {"time_mask_frames": 4}}'

A single fit's UA moves by several points between seeds on the embedded corpus, so a recipe knob is read
from the mean over seeds, with the per-class recall and the epochs each fit ran (a knob that only moves
early stopping shows there). Every variant trains the same seeds on the same data files: those of
``bench_training.py`` (the embedded corpus split by speaker), written once to ``--data-dir`` and reused
when they are there. Prints one JSON line per variant and writes them all to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_training as bt  # noqa: E402  (this directory's module: the data split and its files)


def parse_seeds(text: str) -> list[int]:
    """``0-4`` or ``0,2,5``; ``ValueError`` naming the text otherwise."""
    try:
        if "-" in text:
            low, high = (int(t) for t in text.split("-", 1))
            seeds = list(range(low, high + 1))
        else:
            seeds = [int(t) for t in text.split(",")]
    except ValueError:
        raise ValueError(f"--seeds {text!r}: write a range (0-4) or a list (0,2,5) of integers") from None
    if not seeds:
        raise ValueError(f"--seeds {text!r}: the range is empty")
    return seeds


def sweep(name: str, seeds: list[int], configs: dict[str, dict], data_dir: Path) -> list[dict]:
    import logging

    from benchmark.methods import METHODS

    logging.disable(logging.WARNING)
    cls = METHODS.get(name)
    feature = cls(progress=False).feature
    if not (data_dir / f"{feature}_train.npz").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        bt.prepare_data([name], data_dir, synthetic=False, max_train=None, n_synthetic=2000)
    train, test = bt._read(data_dir / f"{feature}_train.npz"), bt._read(data_dir / f"{feature}_test.npz")
    labels = sorted(set(test.y))
    bt.warm_up()
    return train_variants(cls, seeds, configs, train, test, labels)


def train_variants(cls, seeds: list[int], configs: dict[str, dict], train, test, labels: list[str],
                   val=None) -> list[dict]:
    """Fit method class ``cls`` with each variant's overrides on every seed (``val``: its validation set, else
    the method holds out its own) and score it on ``test``: one row per variant, printed as a JSON line."""
    from benchmark.metrics.ser import ser_scores

    rows = []
    for variant, hp in configs.items():
        uas, recalls, epochs, best, start = [], [], [], [], time.perf_counter()
        for seed in seeds:
            method = cls(progress=False, seed=seed, **hp).fit(train, val)
            scores = ser_scores(test.y, method.predict(test), labels)
            uas.append(scores["ua"])
            recalls.append([scores[f"recall.{c}"] for c in labels])
            epochs.append(len(getattr(method, "history_", []) or []))
            convergence = getattr(method, "convergence_", None)
            best.append(convergence.as_dict()["best_epoch"] if convergence is not None else None)
        row = {"method": cls.name, "variant": variant, "hparams": hp, "seeds": seeds, "ua": uas,
               "mean_ua": float(np.mean(uas)), "sd_ua": float(np.std(uas, ddof=1)) if len(uas) > 1 else None,
               "recall": dict(zip(labels, np.mean(recalls, axis=0).round(4).tolist())), "epochs": epochs,
               "best_epochs": best, "seconds": round(time.perf_counter() - start, 1)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def parse_configs(text: str) -> dict[str, dict]:
    """``--configs``: JSON mapping variant names to objects of overrides; ``ValueError`` saying what is wrong."""
    try:
        configs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--configs is not JSON: {exc}") from None
    if not isinstance(configs, dict) or not all(isinstance(v, dict) for v in configs.values()):
        raise ValueError('--configs must map variant names to objects of overrides, e.g. {"a": {"lr": 0.001}}')
    return configs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("method")
    ap.add_argument("--seeds", default="0-4", help="0-4 or 0,2,5")
    ap.add_argument("--configs", default='{"default": {}}', help="JSON: variant name -> hyperparameter overrides")
    ap.add_argument("--data-dir", type=Path, default=Path("/tmp/emobench_sweep_data"))
    ap.add_argument("--out", type=Path, default=None, help="write the variants' rows as JSON here")
    args = ap.parse_args()
    try:
        configs, seeds = parse_configs(args.configs), parse_seeds(args.seeds)
    except ValueError as exc:
        ap.error(str(exc))
    rows = sweep(args.method, seeds, configs, args.data_dir)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"command": " ".join(["perf/sweep_seeds.py", *sys.argv[1:]]),
                                        "git_commit": bt.git_commit(Path(__file__).resolve().parents[1]),
                                        "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
