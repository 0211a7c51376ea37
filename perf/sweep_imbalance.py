"""One method's hyperparameter variants over training seeds on the suite's imbalance split at one ratio.

    .venv/bin/python perf/sweep_imbalance.py cnn_oversampled --ratio 8 --seeds 0-9 \\
        --configs '{"oversampled": {"min_epochs_unit": "oversampled"}, "training_set": {}}'

``perf/sweep_seeds.py`` reads a knob on the bench split (the whole embedded corpus, held-out speakers);
a knob that depends on the class ratio (an oversampled epoch's length) is read here instead, on the
default suite's ``imbalance`` protocol at ``--ratio`` (its training set, validation set and held-out test
speakers, as a suite cell gets them). Prints one JSON line per variant (``perf/sweep_seeds.py``'s rows:
per-seed UA, mean per-class recall, epochs run, best epochs, seconds) and, from the statistics engine, the
last variant's UA against the first's over seeds (``seed_difference``, with the per-seed differences);
writes them to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_seeds import parse_configs, parse_seeds, train_variants  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("method")
    ap.add_argument("--ratio", type=float, default=8.0)
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--configs", default='{"default": {}}')
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    try:
        configs, seeds = parse_configs(args.configs), parse_seeds(args.seeds)
    except ValueError as exc:
        ap.error(str(exc))

    import logging

    import torch

    from benchmark.features import feature_set
    from benchmark.methods import METHODS
    from benchmark.metrics.stacked import seed_difference
    from benchmark.protocols import make_splits
    from benchmark.runner.grid import load_manifests
    from benchmark.suite import load_suite

    logging.disable(logging.WARNING)
    torch.set_num_threads(1)
    suite = load_suite("default")
    manifest = next(iter(load_manifests(suite, progress=False).values()))
    spec = next(p for p in suite.protocols if p.name == "imbalance")
    split = make_splits(manifest, "imbalance", **{**spec.config, "ratios": [args.ratio]})[0]
    cls = METHODS.get(args.method)
    feature = cls(progress=False).feature
    data = {part: feature_set(rows, feature, progress=False) for part, rows in split.frames(manifest).items()}
    rows = train_variants(cls, seeds, configs, data["train"], data["test"], list(split.labels), val=data["val"])
    record: dict = {"command": " ".join(["perf/sweep_imbalance.py", *sys.argv[1:]]), "ratio": args.ratio, "rows": rows}
    if len(rows) > 1:
        first, last = rows[0]["ua"], rows[-1]["ua"]
        diff = seed_difference(first, last)
        record["last_vs_first"] = {"per_seed": [round(b - a, 4) for a, b in zip(first, last)],
                                   "difference": round(diff.diff, 4), "ci95": [round(diff.low, 4), round(diff.high, 4)],
                                   "p": round(diff.p, 4)}
        print(json.dumps(record["last_vs_first"]))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
