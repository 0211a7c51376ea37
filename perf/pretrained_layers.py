"""Which Whisper tiny.en layer carries emotion on the embedded corpus: logistic regression (the
``frozen_logreg`` baseline) on each layer's mean and std, speaker-independent 2-fold CV (the default
suite's main protocol, seed 0), and the SUPERB-style probe's learned layer weights on the same folds.
Backs the default layer of ``frozen_logreg``. Writes ``perf/results/pretrained_layers.json``.

    .venv/bin/python perf/pretrained_layers.py
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from benchmark.corpora import load_corpus
from benchmark.features import feature_set
from benchmark.methods import METHODS
from benchmark.protocols import make_splits

RESULTS = Path(__file__).parent / "results" / "pretrained_layers.json"
LAYERS = range(5)  # 0 = conv front end + positional embedding, 1-4 = blocks (4 after ln_post)


def main() -> None:
    manifest, _ = load_corpus("embedded", None)
    splits = make_splits(manifest, "speaker_kfold", k=2)
    per_layer: dict[int, list[float]] = {layer: [] for layer in LAYERS}
    weights = []
    for split in splits:
        parts = split.frames(manifest)
        for layer in LAYERS:
            feature = {"name": "whisper_encoder", "layers": layer, "pooling": "mean_std"}
            train, test = (feature_set(parts[p], feature, progress=False) for p in ("train", "test"))
            method = METHODS.get("frozen_logreg")(feature=feature).fit(train)
            per_layer[layer].append(balanced_accuracy_score(test.y, method.predict(test)))
        probe_data = {p: feature_set(parts[p], "whisper_encoder", progress=False) for p in ("train", "val")}
        probe = METHODS.get("superb_probe")(progress=False).fit(probe_data["train"], probe_data["val"])
        weights.append(probe.layer_weights().round(3).tolist())
    result = {"protocol": "speaker_kfold k=2, seed 0, embedded corpus (synthetic)",
              "frozen_logreg_ua_per_layer": {str(k): round(float(np.mean(v)), 4) for k, v in per_layer.items()},
              "superb_probe_layer_weights_per_fold": weights}
    print(json.dumps(result, indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
