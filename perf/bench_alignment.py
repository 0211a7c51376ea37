"""Phoneme alignment against the embedded corpus's true timings: PocketSphinx forced alignment vs espeak_scaled.

For English utterances of the embedded corpus (whose renderer stores every phoneme's true start and end), the
mean absolute boundary error in ms of each alignment the TTS targets can use (benchmark.tts.targets: ``stored`` is
the truth itself): ``espeak_scaled`` (eSpeak's own timings stretched over the speech span) and ``pocketsphinx``
(benchmark.tts.alignment). Boundaries: every phoneme's start (word-boundary symbols left out) and the last end.

    python perf/bench_alignment.py                     # 120 English utterances of the default corpus
    python perf/bench_alignment.py --n 40 --out perf/results/alignment.json

Writes the JSON (per-method mean/median/p90 error, share within 20 ms and 50 ms, per emotion, seconds per
utterance) and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=120, help="English utterances (seeded sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("perf/results/alignment.json"))
    args = parser.parse_args()

    from benchmark.corpora.embedded import load_embedded
    from benchmark.features import extract_features
    from benchmark.features.spectral import LogMelConfig
    from benchmark.tts.alignment import PocketsphinxAligner, boundary_errors_ms, map_to_symbols
    from benchmark.tts.phonemes import phonemize
    from benchmark.tts.targets import espeak_scaled_spans, stored_spans

    manifest, _ = load_embedded(progress=False)
    english = manifest[manifest["language"] == "en"]
    rows = english.sample(min(args.n, len(english)), random_state=args.seed).reset_index(drop=True)
    mel_config = LogMelConfig()
    hop_s = mel_config.hop_length / mel_config.sample_rate
    mels = extract_features(rows, mel_config, progress=False)
    aligner = PocketsphinxAligner()
    _ = aligner.decoder
    errors: dict[str, list[np.ndarray]] = {"espeak_scaled": [], "pocketsphinx": []}
    seconds = {"espeak_scaled": 0.0, "pocketsphinx": 0.0}
    per_utt, failures = [], []
    for r in rows.itertuples():
        symbols = phonemize(r.text, r.language)
        truth = stored_spans(r.path, symbols)
        t0 = time.perf_counter()
        scaled = espeak_scaled_spans(r.text, r.language, mels[r.utt_id], hop_s, 35.0)
        t1 = time.perf_counter()
        try:
            sphinx = map_to_symbols(aligner.align(r.path, r.text), symbols)
        except Exception as exc:  # noqa: BLE001  (reported: an utterance PocketSphinx cannot align)
            failures.append({"utt_id": r.utt_id, "error": str(exc)})
            continue
        t2 = time.perf_counter()
        seconds["espeak_scaled"] += t1 - t0
        seconds["pocketsphinx"] += t2 - t1
        for name, spans in (("espeak_scaled", scaled), ("pocketsphinx", sphinx)):
            e = boundary_errors_ms(spans, truth, symbols)
            errors[name].append(e)
            per_utt.append({"utt_id": r.utt_id, "emotion": r.emotion, "method": name, "mean_ms": float(e.mean())})
    n_ok = len(errors["pocketsphinx"])
    table = pd.DataFrame(per_utt)
    result = {"what": "mean absolute phoneme-boundary error against the embedded corpus's true timings (ms)",
              "n_utterances": n_ok, "n_failed": len(failures), "failures": failures[:20], "seed": args.seed,
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "load_average": os.getloadavg()}, "methods": {}}
    for name, parts in errors.items():
        allb = np.concatenate(parts) if parts else np.array([np.nan])
        result["methods"][name] = {
            "n_boundaries": int(allb.size), "mean_ms": float(allb.mean()), "median_ms": float(np.median(allb)),
            "p90_ms": float(np.percentile(allb, 90)), "within_20ms": float((allb <= 20).mean()),
            "within_50ms": float((allb <= 50).mean()),
            "mean_of_utterance_means_ms": float(np.mean([p.mean() for p in parts])) if parts else np.nan,
            "seconds_per_utterance": seconds[name] / max(n_ok, 1),
            "per_emotion_mean_ms": table[table["method"] == name].groupby("emotion")["mean_ms"].mean().round(2)
            .to_dict()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{n_ok} English utterances ({len(failures)} PocketSphinx could not align); load {os.getloadavg()[0]:.1f}")
    print("| alignment | mean (ms) | median (ms) | p90 (ms) | within 20 ms | within 50 ms | s/utt |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, m in result["methods"].items():
        print(f"| {name} | {m['mean_ms']:.1f} | {m['median_ms']:.1f} | {m['p90_ms']:.1f} | "
              f"{100 * m['within_20ms']:.0f}% | {100 * m['within_50ms']:.0f}% | {m['seconds_per_utterance']:.2f} |")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
