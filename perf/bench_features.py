"""Feature extraction throughput, ours vs librosa, on the same files in one run.

Prints real-time factors (seconds of audio per wall-clock second; higher is
faster) for log-mel (ours, torch, batched) and librosa's melspectrogram with
the same settings, then MFCC, the fast functionals and eGeMAPS (openSMILE).
Audio is read once up front so that the numbers compare the extractors, and
then the full cached path (``extract_features`` on a cold cache, and warm) is
timed too.

    .venv/bin/python perf/bench_features.py            # 500 files of the embedded corpus
    .venv/bin/python perf/bench_features.py --files 3000
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from benchmark.audio import load_audio
from benchmark.corpora import load_corpus
from benchmark.features import FEATURES, extract_features, make_config


def rtf(seconds_of_audio: float, fn) -> float:
    start = time.perf_counter()
    fn()
    return seconds_of_audio / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--egemaps-files", type=int, default=100, help="eGeMAPS is slow: a smaller sample")
    args = parser.parse_args()

    manifest, _ = load_corpus("embedded", None)
    manifest = manifest.iloc[: args.files]
    waves = [load_audio(p) for p in manifest["path"]]
    audio_s = sum(len(w) for w in waves) / 16000
    print(f"{len(waves)} files, {audio_s / 60:.1f} min of audio; torch threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")

    def ours(name):
        extractor = FEATURES.get(name)(make_config(name))
        return lambda: extractor.extract_batch(waves)

    def librosa_mel():
        import librosa

        for w in waves:
            np.log(librosa.feature.melspectrogram(y=w, sr=16000, n_fft=512, win_length=400, hop_length=160,
                                                  n_mels=64, pad_mode="constant") + 1e-6)

    ours("logmel")()  # warm-up (filterbank, threads)
    rows = [
        ("log-mel, ours (torch, batched)", rtf(audio_s, ours("logmel"))),
        ("log-mel, librosa 0.11 (same settings)", rtf(audio_s, librosa_mel)),
        ("MFCC, ours", rtf(audio_s, ours("mfcc"))),
        ("functionals, ours", rtf(audio_s, ours("functionals"))),
    ]
    sample = waves[: args.egemaps_files]
    sample_s = sum(len(w) for w in sample) / 16000
    smile = FEATURES.get("egemaps")(make_config("egemaps"))
    rows.append((f"eGeMAPS, openSMILE, 1 process ({len(sample)} files)",
                 rtf(sample_s, lambda: smile.extract_batch(sample))))

    with tempfile.TemporaryDirectory() as cache:
        rows.append(("log-mel end to end, cold cache (read, hash, extract, write)",
                     rtf(audio_s, lambda: extract_features(manifest, "logmel", cache_dir=cache, progress=False))))
        import benchmark.features as f

        f._MEMORY.clear()
        rows.append(("log-mel end to end, warm cache (hash, read .npy)",
                     rtf(audio_s, lambda: extract_features(manifest, "logmel", cache_dir=cache, progress=False))))

    width = max(len(r[0]) for r in rows)
    print(f"{'extractor':<{width}}  real-time factor")
    for name, value in rows:
        print(f"{name:<{width}}  {value:10.0f}x")


if __name__ == "__main__":
    main()
