"""One method's hyperparameter variants over training seeds on the suite's imbalance split at one ratio.

    .venv/bin/python perf/sweep_imbalance.py cnn_oversampled --ratio 8 --seeds 0-9 \\
        --configs '{"oversampled": {"min_epochs_unit": "oversampled"}, "training_set": {}}'

``perf/sweep_seeds.py`` reads a knob on the bench split (the whole embedded corpus, held-out speakers);
a knob that depends on the class ratio (an oversampled epoch's length) is read here instead, on the
default suite's ``imbalance`` protocol at ``--ratio`` (its training set, validation set and held-out test
speakers, as a suite cell gets them). Prints one JSON line per variant (UA, per-seed UA and happy
recall, epochs run, best epochs, seconds) and the per-seed paired difference of the last variant
against the first; writes them to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_seeds import parse_seeds  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("method")
    ap.add_argument("--ratio", type=float, default=8.0)
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--configs", default='{"default": {}}')
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import logging

    import torch

    from benchmark.features import feature_set
    from benchmark.methods import METHODS
    from benchmark.metrics.ser import ser_scores
    from benchmark.protocols import make_splits
    from benchmark.suite import load_suite
    from benchmark.runner.grid import load_manifests

    logging.disable(logging.WARNING)
    torch.set_num_threads(1)
    suite = load_suite("default")
    manifest = next(iter(load_manifests(suite, progress=False).values()))
    spec = next(p for p in suite.protocols if p.name == "imbalance")
    split = next(s for s in make_splits(manifest, "imbalance", **{**spec.config, "ratios": [args.ratio]}))
    cls = METHODS.get(args.method)
    frames = split.frames(manifest)
    data = {part: feature_set(rows, cls(progress=False).feature, progress=False) for part, rows in frames.items()}
    rows = []
    for variant, hp in json.loads(args.configs).items():
        uas, happy, epochs, best, start = [], [], [], [], time.perf_counter()
        for seed in parse_seeds(args.seeds):
            method = cls(progress=False, seed=seed, **hp).fit(data["train"], data["val"])
            pred = np.asarray(method.classes_)[method.predict_proba(data["test"]).argmax(axis=1)]
            scores = ser_scores(np.asarray(data["test"].y), pred, labels=list(split.labels))
            uas.append(round(float(scores["ua"]), 4))
            happy.append(round(float(scores.get("recall.happy", float("nan"))), 4))
            conv = method.convergence_.as_dict()
            epochs.append(int(conv["epochs_run"]))
            best.append(int(conv["best_epoch"]))
        row = {"method": args.method, "ratio": args.ratio, "variant": variant, "hparams": hp, "ua": uas,
               "mean_ua": round(float(np.mean(uas)), 4), "sd_ua": round(float(np.std(uas, ddof=1)), 4),
               "happy_recall": happy, "epochs": epochs, "best_epochs": best,
               "seconds": round(time.perf_counter() - start, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    record = {"command": " ".join(sys.argv), "rows": rows}
    if len(rows) > 1:
        d = np.asarray(rows[-1]["ua"]) - np.asarray(rows[0]["ua"])
        record["paired"] = {"last_minus_first": [round(float(x), 4) for x in d], "mean": round(float(d.mean()), 4),
                            "se": round(float(d.std(ddof=1) / np.sqrt(len(d))), 4)}
        print(json.dumps(record["paired"]))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
