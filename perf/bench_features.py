"""Feature extraction throughput, emobench vs librosa 0.11, side by side on the same files; writes
perf/results/features.json.

    .venv/bin/python perf/bench_features.py                  # 200 embedded files, 10 interleaved rounds
    .venv/bin/python perf/bench_features.py --files 500 --repetitions 5

Log-mel with identical settings on both sides (16 kHz, 512-point FFT, 25 ms Hann window, 10 ms
hop, zero-padded centred frames, 64 Slaney mels, ``log(mel + 1e-6)``), timed two ways, each the
same for both:

- ``arrays``: the waveforms already in memory (decoded once up front), features out as float32
  arrays: emobench's ``LogMel.extract_batch`` (torch, batched STFT) against
  ``librosa.feature.melspectrogram`` + ``np.log`` per file;
- ``files``: reading the files inside the timing, both with the same reader
  (``benchmark.audio.load_audio``: soundfile), then the same extraction.

Both run on one core: emobench's extractor uses one torch thread on a CPU by design
(``benchmark.features.spectral.feature_threads``), and librosa's BLAS is limited to one thread.

Every contender gets one untimed warm-up call, then the rounds run interleaved (the order rotated
each round); medians, min/max/quartiles and the load average are printed and written. The
outputs are compared too (max |difference|). Also printed, not compared with a peer: MFCC and the
functionals (emobench only, arrays), and the cached end-to-end path (``extract_features``, cold
and warm cache). eGeMAPS + SVM against nkululeko has its own script, ``perf/bench_egemaps_svm.py``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interleave import environment, interleaved, load_average, ratio, spread, write  # noqa: E402

from benchmark.audio import load_audio  # noqa: E402
from benchmark.corpora import load_corpus  # noqa: E402
from benchmark.features import FEATURES, extract_features, make_config  # noqa: E402

SR = 16000


def librosa_logmel(waves: list[np.ndarray]) -> list[np.ndarray]:
    import librosa
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # one core, as emobench's extractor (its filterbank product is a BLAS call)
        return [np.log(librosa.feature.melspectrogram(y=w, sr=SR, n_fft=512, win_length=400, hop_length=160, n_mels=64,
                                                      pad_mode="constant") + 1e-6).T.astype(np.float32)
                for w in waves]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--out", default="features.json", help="file name under perf/results/")
    args = parser.parse_args()

    manifest, _ = load_corpus("embedded", None, progress=False)
    manifest = manifest.iloc[: args.files]
    paths = list(manifest["path"])
    waves = [load_audio(p) for p in paths]
    audio_s = sum(len(w) for w in waves) / SR
    print(f"bench_features: {len(waves)} embedded files, {audio_s:.0f} s of audio; load average {load_average()}")
    record: dict = {"command": " ".join(["perf/bench_features.py", *sys.argv[1:]]), "environment": environment(),
                    "files": len(waves), "audio_seconds": audio_s, "load_average_start": load_average()}

    logmel = FEATURES.get("logmel")(make_config("logmel"))
    contenders = {
        "emobench logmel, arrays": lambda: logmel.extract_batch(waves),
        "librosa 0.11 logmel, arrays": lambda: librosa_logmel(waves),
        "emobench logmel, files": lambda: logmel.extract_batch([load_audio(p) for p in paths]),
        "librosa 0.11 logmel, files": lambda: librosa_logmel([load_audio(p) for p in paths]),
    }
    print(f"\nlog-mel, {args.repetitions} interleaved rounds")
    times, outputs = interleaved(contenders, args.repetitions)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(outputs["emobench logmel, arrays"],
                                                             outputs["librosa 0.11 logmel, arrays"]))
    rows = {n: {**spread(t), "realtime_factor": audio_s / spread(t)["median_s"]} for n, t in times.items()}
    print(f"    {'extractor':<32} {'median s':>9} {'[min, max]':>16} {'x real time':>11}")
    for n, r in rows.items():
        print(f"    {n:<32} {r['median_s']:9.3f} [{r['min_s']:6.3f}, {r['max_s']:6.3f}] {r['realtime_factor']:11.0f}")
    ratios = {"arrays": ratio(times, "emobench logmel, arrays", "librosa 0.11 logmel, arrays"),
              "files": ratio(times, "emobench logmel, files", "librosa 0.11 logmel, files")}
    for n, r in ratios.items():
        print(f"    {n}: emobench {r['ratio_of_medians']:.2f}x librosa (per round {r['per_round_min']:.2f}-"
              f"{r['per_round_max']:.2f}x)")
    print(f"    max |emobench - librosa| over all frames: {diff:.1e} (log units)")
    record["logmel"] = {"results": rows, "ratios_vs_librosa": ratios, "max_abs_diff": diff}

    others = {name: (lambda ex=FEATURES.get(name)(make_config(name)): ex.extract_batch(waves))
              for name in ("mfcc", "functionals")}
    print(f"\nemobench only, arrays, {max(3, args.repetitions // 3)} rounds")
    times, _ = interleaved(others, max(3, args.repetitions // 3))
    record["emobench_only"] = {n: {**spread(t), "realtime_factor": audio_s / spread(t)["median_s"]}
                               for n, t in times.items()}

    import benchmark.features as features

    with tempfile.TemporaryDirectory() as cache:
        cold, _ = interleaved({"cold": lambda: extract_features(manifest, "logmel", cache_dir=cache, progress=False)},
                              1, setup=lambda _: (features._MEMORY.clear(), _empty(cache)), verbose=False)
        features._MEMORY.clear()
        warm, _ = interleaved({"warm": lambda: extract_features(manifest, "logmel", cache_dir=cache, progress=False)},
                              3, setup=lambda _: features._MEMORY.clear(), verbose=False)
    record["logmel_cached_path"] = {"cold_cache": spread(cold["cold"]), "warm_cache": spread(warm["warm"])}
    print(f"    extract_features logmel: cold cache {audio_s / spread(cold['cold'])['median_s']:.0f}x real time "
          f"(read, hash, extract, write), warm {audio_s / spread(warm['warm'])['median_s']:.0f}x (hash, read .npy)")
    record["load_average_end"] = load_average()
    print(f"load average at the end {record['load_average_end']}")
    write(args.out, record)


def _empty(folder: str) -> None:
    import shutil

    for child in Path(folder).iterdir():
        shutil.rmtree(child)


if __name__ == "__main__":
    main()
