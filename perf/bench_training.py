"""Training throughput and peak memory of every registered method on this machine.

    .venv/bin/python perf/bench_training.py                       # all methods, embedded corpus
    .venv/bin/python perf/bench_training.py --methods dae,logreg --epochs 5 --max-train 1000
    .venv/bin/python perf/bench_training.py --synthetic           # no corpus/features needed
    .venv/bin/python perf/bench_training.py --baseline-ref 12dae08 --methods cnn,dae   # old vs new, one run

With ``--baseline-ref COMMIT`` the same methods are also trained by the code of that
commit (a temporary ``git worktree`` on ``PYTHONPATH``, with that commit's method
defaults, measured by this script's child), interleaved method by method with this checkout's, on the same data
files, so that old and new see the same machine load; the table gains the old
throughput and UA and the speed-up, and everything goes to
``perf/results/bench_training.json`` (``--out`` to change). ``--repeat N`` trains each
method N times per side (old, new, old, new, ...) and keeps each side's median run:
on a shared virtual machine one fit's time moved by up to 1.5x between runs.

Data: the embedded corpus (``load_corpus("embedded")``) with the suite's
cached features (``benchmark.features.feature_set``), split by speaker (20%
of speakers held out). If either is unavailable, a generated synthetic set of
the same shapes is used and the script says so.

Each method is trained in its own fresh process, so that the resident-set
peak belongs to that method alone. Printed per method:

* ``utt/s``: training utterances processed per second,
  ``n_train * epochs / fit seconds`` (epochs = 1 for the non-iterative
  scikit-learn baselines); includes the per-epoch overhead of each method
  (e.g. validation), excludes feature extraction;
* ``py-peak MiB``: peak of Python-level allocations during ``fit`` (tracemalloc;
  sees NumPy buffers, not torch's own CPU allocator), measured in a second,
  traced fit so that tracing does not slow the timed one (``--no-trace`` skips it);
* ``rss MiB``: peak resident set of the process (``ru_maxrss``), and
  ``+fit MiB``: its growth during the timed fit;
* ``UA``/``WA`` on the held-out speakers, so that a speed-up that breaks a
  method is visible next to it.

One fit's UA is one draw: on the embedded corpus a log-mel network's UA moves
by 4-6 points between training seeds. ``--ua-seeds K`` therefore also trains
each method on seeds 0..K-1 (``--ua-seed-start S``: S..S+K-1, fresh seeds to
confirm a recipe that was chosen on the first ones; each side, ``--jobs J`` fits at a time; these fits
are not timed) and prints, from the statistics engine
(``benchmark.metrics.stacked``): each side's mean UA and its spread over seeds,
new - old with Welch's 95% interval over seeds (``seed_difference``: how much a
retrained network moves) and with the 95% speaker-bootstrap interval of the
seed means' difference (``score_paired``: which speakers were tested), the
smallest difference the seeds could detect (80% power) and a verdict: *better*
or *worse* where Welch's interval excludes 0, else *no difference detected*.
``--no-timing`` skips the timed table (the UA runs alone). ``--cache DIR`` keeps
each seed fit's record under DIR, keyed by the code's commit, the method, the
seed, ``--epochs`` and a digest of the data files, and reuses it: re-running the
comparison after a change to the new side retrains only the new side. Code with
uncommitted changes is never cached.

    .venv/bin/python perf/bench_training.py --baseline-ref 12dae08 --methods cnn,emotion_extractor \\
        --ua-seeds 8 --jobs 2 --no-timing --out perf/results/bench_training_ua.json
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

CLASSES = ["angry", "happy", "neutral", "sad"]


def _rss_mib() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024 ** 2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


# ----------------------------------------------------------------------------- data


def _write(path: Path, fs) -> None:
    arrays = {"utt_ids": np.asarray(fs.utt_ids), "y": np.asarray(fs.y).astype(str),
              "speakers": np.asarray(fs.speakers).astype(str), "languages": np.asarray(fs.languages).astype(str)}
    if isinstance(fs.X, np.ndarray):
        arrays["X"] = fs.X
    else:
        arrays["frames"] = np.concatenate(fs.X)
        arrays["lengths"] = np.array([len(x) for x in fs.X])
    np.savez(path, **arrays)


def _read(path: Path):
    from benchmark.methods import FeatureSet

    with np.load(path, allow_pickle=False) as d:
        if "X" in d:
            X = d["X"]
        else:
            X = np.split(d["frames"], np.cumsum(d["lengths"])[:-1])
        return FeatureSet(list(d["utt_ids"]), X, d["y"], d["speakers"], d["languages"])


def synthetic_set(feature: str, n: int, seed: int):
    """Four classes of Gaussian features; log-mel as (100-300, 64) frames."""
    from benchmark.methods import FeatureSet

    rng = np.random.default_rng(seed)
    y = np.array([CLASSES[i % 4] for i in range(n)])
    k = np.array([CLASSES.index(c) for c in y])
    if feature == "logmel":
        X = []
        for c in k:
            x = rng.normal(size=(int(rng.integers(100, 300)), 64)).astype(np.float32)
            x[:, c * 16:(c + 1) * 16] += 0.7
            X.append(x)
    else:
        d = 88 if feature == "egemaps" else 62
        X = rng.normal(size=(n, d)) + 0.8 * np.eye(d)[k * 3]
    spk = np.array([f"spk{i % 20}" for i in range(n)])
    return FeatureSet([f"syn{seed}_{i}" for i in range(n)], X, y, spk, np.array(["en"] * n))


def corpus_sets(feature: str, max_train: int | None):
    """(train, test) of the embedded corpus split by speaker, or None when that is not possible."""
    try:
        from benchmark.corpora import load_corpus
        from benchmark.features import feature_set
    except ImportError as exc:
        print(f"note: {exc}; using synthetic data")
        return None
    manifest, _ = load_corpus("embedded")
    manifest = manifest[manifest["emotion"].isin(CLASSES)].reset_index(drop=True)
    speakers = np.array(sorted(manifest["speaker"].unique()))
    rng = np.random.default_rng(0)
    test_spk = set(rng.choice(speakers, size=max(1, len(speakers) // 5), replace=False))
    is_test = manifest["speaker"].isin(test_spk).to_numpy()
    train_rows, test_rows = manifest[~is_test], manifest[is_test]
    if max_train is not None and len(train_rows) > max_train:
        train_rows = train_rows.sample(max_train, random_state=0)
    return feature_set(train_rows, feature, progress=True), feature_set(test_rows, feature, progress=True)


def prepare_data(methods: list[str], workdir: Path, synthetic: bool, max_train: int | None,
                 n_synthetic: int) -> dict[str, str]:
    """Write one (train, test) pair per feature kind the methods need; returns feature -> source note."""
    from benchmark.methods import METHODS

    sources = {}
    for feature in sorted({METHODS.get(m)().feature for m in methods}):
        sets = None if synthetic else corpus_sets(feature, max_train)
        if sets is None:
            print(f"note: feature {feature!r}: generated synthetic data ({n_synthetic} train utterances), "
                  "not the embedded corpus")
            sets = synthetic_set(feature, n_synthetic, 0), synthetic_set(feature, n_synthetic // 4, 1)
            sources[feature] = "synthetic"
        else:
            sources[feature] = "embedded"
        _write(workdir / f"{feature}_train.npz", sets[0])
        _write(workdir / f"{feature}_test.npz", sets[1])
    return sources


# ----------------------------------------------------------------------------- one method (child process)


def warm_up() -> None:
    """Pay torch's one-time imports before the clock starts (its first optimiser imports torch._dynamo,
    ``use_deterministic_algorithms`` torch._inductor: seconds, once per process), so that ``fit s``
    is training, for the old code and the new alike."""
    import torch

    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    torch.use_deterministic_algorithms(True, warn_only=True)


def run_one(name: str, workdir: Path, epochs: int | None, trace: bool, seed: int | None = None) -> dict:
    import importlib

    import torch

    from benchmark.methods import METHODS
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    if not hasattr(METHODS, "names") or name not in METHODS.names():
        importlib.import_module("baselines")   # code before the lazy registry (a --baseline-ref) registers on import
    cls = METHODS.get(name)
    fields = cls.HParams.model_fields
    hp = {"progress": False} if "progress" in fields else {}
    if epochs is not None and "epochs" in fields:
        hp["epochs"] = epochs
    if seed is not None and "seed" in fields:
        hp["seed"] = seed
    probe = cls(**hp)
    train, test = _read(workdir / f"{probe.feature}_train.npz"), _read(workdir / f"{probe.feature}_test.npz")
    warm_up()
    rss_before = _rss_mib()
    start = time.perf_counter()
    method = cls(**hp).fit(train)
    fit_s = time.perf_counter() - start
    rss_after = _rss_mib()
    ran = len(getattr(method, "history_", []) or []) or int(getattr(method.hp, "epochs", 1))
    if "epochs" not in fields:
        ran = 1
    pred = method.predict(test)
    py_peak = float("nan")
    if trace:
        tracemalloc.start()
        cls(**hp).fit(train)
        py_peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
    device = "cpu"
    if torch.cuda.is_available() and str(getattr(method.hp, "device", "cpu")) in ("auto", "cuda"):
        device = torch.cuda.get_device_name(0)
    return {"method": name, "feature": probe.feature, "n_train": len(train), "epochs": ran, "fit_s": fit_s,
            "utt_per_s": len(train) * ran / fit_s, "py_peak_mib": py_peak, "rss_mib": _rss_mib(),
            "fit_rss_mib": rss_after - rss_before, "device": device, "threads": torch.get_num_threads(),
            "ua": balanced_accuracy_score(test.y, pred), "wa": accuracy_score(test.y, pred),
            **({"seed": seed, "y_pred": [str(p) for p in pred]} if seed is not None else {})}


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="all", help="comma-separated registry names (default: all)")
    ap.add_argument("--epochs", type=int, default=None, help="override epochs of neural methods")
    ap.add_argument("--max-train", type=int, default=None, help="subsample the training set")
    ap.add_argument("--synthetic", action="store_true", help="use generated data, not the embedded corpus")
    ap.add_argument("--n-synthetic", type=int, default=2000)
    ap.add_argument("--no-trace", action="store_true", help="skip the tracemalloc fit")
    ap.add_argument("--baseline-ref", default=None, metavar="COMMIT",
                    help="also train with the code of COMMIT (a temporary git worktree), interleaved")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="train each method N times (old, new, old, new, ...), report each side's median")
    ap.add_argument("--ua-seeds", type=int, default=0, metavar="K",
                    help="also train seeds 0..K-1 per side (untimed) and test new - old UA over them")
    ap.add_argument("--ua-seed-start", type=int, default=0, metavar="S",
                    help="the --ua-seeds are S..S+K-1: fresh seeds to confirm a recipe chosen on seeds 0..K-1")
    ap.add_argument("--jobs", type=int, default=1, metavar="J", help="fits at a time for --ua-seeds")
    ap.add_argument("--no-timing", action="store_true", help="skip the timed table (with --ua-seeds)")
    ap.add_argument("--cache", type=Path, default=None, metavar="DIR",
                    help="reuse --ua-seeds fits of committed code from DIR (and store new ones there)")
    ap.add_argument("--seed", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "bench_training.json")
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "WORKDIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        result = run_one(args.child[0], Path(args.child[1]), args.epochs, not args.no_trace, args.seed)
        print("RESULT " + json.dumps(result))
        return

    from benchmark.methods import METHODS

    methods = METHODS.names() if args.methods == "all" else [m.strip() for m in args.methods.split(",")]
    for m in methods:
        METHODS.get(m)  # unknown names fail here, listing the known ones
    if args.no_timing and args.ua_seeds < 2:
        ap.error("--no-timing leaves nothing to do without --ua-seeds K (K >= 2)")
    if args.ua_seeds == 1:
        ap.error("--ua-seeds needs at least 2 seeds (a spread over seeds)")
    if args.ua_seed_start < 0:
        ap.error(f"--ua-seed-start {args.ua_seed_start}: seeds are non-negative")
    print(f"machine: {os.cpu_count()} CPU cores visible; python {sys.version.split()[0]}")
    root = Path(__file__).resolve().parents[1]
    rows = []
    with tempfile.TemporaryDirectory() as tmp, baseline_checkout(root, args.baseline_ref, Path(tmp)) as old_root:
        sources = prepare_data(methods, Path(tmp), args.synthetic, args.max_train, args.n_synthetic)
        if not args.no_timing:
            rows = timed_table(methods, root, old_root, tmp, sources, args)
        if args.ua_seeds:
            ua_rows = ua_over_seeds(methods, root, old_root, Path(tmp), args)
            by_method = {r["method"]: r for r in rows}
            for ua_row in ua_rows:
                by_method.setdefault(ua_row["method"], {"method": ua_row["method"]})["ua_seeds"] = ua_row["ua_seeds"]
            rows = list(by_method.values())
    load = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": " ".join(["perf/bench_training.py", *sys.argv[1:]]), "git_commit": git_commit(root),
        "baseline_ref": args.baseline_ref, "cpus": os.cpu_count(), "load_avg_at_end": [round(x, 2) for x in load],
        "data": sources, "methods": rows}, indent=1) + "\n")
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; written: {args.out}")


def timed_table(methods: list[str], root: Path, old_root: Path | None, tmp: str, sources: dict[str, str],
                args) -> list[dict]:
    """The throughput table: each method trained (old, new) x ``--repeat``, each side's median run."""
    rows = []
    header = (f"{'method':<20} {'feature':<8} {'data':<9} {'n_train':>7} {'epochs':>6} "
              f"{'fit s':>7} {'utt/s':>7} {'rss MiB':>7} {'UA':>6} {'WA':>6}")
    if old_root:
        header += f" | {'old ep':>6} {'old s':>7} {'old utt/s':>9} {'old UA':>6} {'speed-up':>8}"
    print(header)
    print("-" * len(header))
    for name in methods:
        # Old first, then new, method by method (and repeat by repeat): both see the same stretch of
        # machine load. A fit is deterministic, so repeats differ only in time; each side keeps its median.
        olds, news = [], []
        for _ in range(max(1, args.repeat)):
            olds.append(run_child(old_root, name, tmp, args) if old_root else None)
            news.append(run_child(root, name, tmp, args))
        old, new = median_run(olds), median_run(news)
        if new is None:
            continue
        line = (f"{new['method']:<20} {new['feature']:<8} {sources[new['feature']]:<9} "
                f"{new['n_train']:>7} {new['epochs']:>6} {new['fit_s']:>7.2f} {new['utt_per_s']:>7.0f} "
                f"{new['rss_mib']:>7.0f} {new['ua']:>6.3f} {new['wa']:>6.3f}")
        row = {"method": name, "new": new}
        if args.repeat > 1:
            row["repeats_utt_per_s"] = {"new": [r["utt_per_s"] for r in news if r],
                                        "old": [r["utt_per_s"] for r in olds if r]}
        if old is not None:
            row["old"] = old
            row["speedup"] = new["utt_per_s"] / old["utt_per_s"]
            line += (f" | {old['epochs']:>6} {old['fit_s']:>7.2f} {old['utt_per_s']:>9.0f} {old['ua']:>6.3f} "
                     f"{row['speedup']:>7.1f}x")
        rows.append(row)
        print(line, flush=True)
    return rows


def ua_over_seeds(methods: list[str], root: Path, old_root: Path | None, workdir: Path, args) -> list[dict]:
    """Each method trained on seeds 0..K-1 by each side (``--jobs`` fits at a time), and new - old UA over
    those seeds from the statistics engine: Welch's t over the per-seed UAs and the speaker bootstrap of
    the seed means' difference."""
    from benchmark.metrics.stacked import Stacked, class_labels, score_paired, seed_difference, seed_means

    sides = {"new": root, **({"old": old_root} if old_root else {})}
    seeds = ua_seed_list(args)
    jobs = [(name, side, seed) for name in methods for seed in seeds for side in sides]
    print(f"\nUA over seeds {seeds[0]}-{seeds[-1]}: {len(jobs)} untimed fits, {args.jobs} at a time", flush=True)
    done: dict[tuple[str, str, int], dict | None] = {}

    def fit(job: tuple[str, str, int]) -> None:
        name, side, seed = job
        done[job] = result = run_child(sides[side], name, str(workdir), args, seed=seed)
        status = f"UA {result['ua']:.3f}" if result else "failed"
        print(f"  {name} {side} seed {seed}: {status} ({len(done)}/{len(jobs)})", flush=True)

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        list(pool.map(fit, jobs))
    header = f"{'method':<20} {'new UA':>13}" + (f" {'old UA':>13} {'new-old':>8} {'Welch 95% CI':>17} "
                                                 f"{'speaker 95% CI':>17} {'MDE':>6}  verdict" if old_root else "")
    print("\n" + header + "\n" + "-" * len(header))
    rows = []
    for name in methods:
        frames: dict[str, pd.DataFrame] = {}
        for side in sides:
            runs = [done[(name, side, seed)] for seed in seeds]
            if all(r is not None for r in runs):
                frames[side] = predictions_frame(runs, workdir)
        if "new" not in frames:
            continue
        paired = (score_paired(frames["old"], frames["new"], n_boot=2000, seed=0, by_speaker=True)
                  if "old" in frames else None)
        if paired is not None:      # per-seed UA from the statistics engine, as the tests below use it
            ua = {"old": paired.a.per_seed["ua"], "new": paired.b.per_seed["ua"]}
        else:
            stacked = Stacked.from_frame(frames["new"])
            ua = {"new": seed_means(stacked, class_labels(stacked.frame), "pooled")[1]["ua"][0]}
        entry: dict = {"seeds": args.ua_seeds, "seed_list": seeds,
                       **{f"{side}_ua": [float(u) for u in ua[side]] for side in ua}}
        line = f"{name:<20} {_mean_sd(ua['new']):>13}"
        if paired is not None:
            boot = paired.difference("ua")
            welch = seed_difference(ua["old"], ua["new"])
            verdict = ("better" if welch.low > 0 else "worse" if welch.high < 0 else "no difference detected")
            entry.update({"diff": welch.diff, "welch_low": welch.low, "welch_high": welch.high, "welch_p": welch.p,
                          "welch_df": welch.df, "mde": welch.mde(), "speaker_low": boot.low,
                          "speaker_high": boot.high, "speaker_p": boot.p, "verdict": verdict})
            line += (f" {_mean_sd(ua['old']):>13} {welch.diff:>+8.3f} {f'[{welch.low:+.3f}, {welch.high:+.3f}]':>17} "
                     f"{f'[{boot.low:+.3f}, {boot.high:+.3f}]':>17} {welch.mde():>6.3f}  {verdict}")
        print(line, flush=True)
        rows.append({"method": name, "ua_seeds": entry})
    return rows


def ua_seed_list(args) -> list[int]:
    """The training seeds of ``--ua-seeds K --ua-seed-start S``: S..S+K-1."""
    return list(range(args.ua_seed_start, args.ua_seed_start + args.ua_seeds))


def predictions_frame(runs: list[dict], workdir: Path) -> "pd.DataFrame":
    """The stacked test predictions (seed, fold, utt_id, speaker, y_true, y_pred) of one side's seed runs."""
    import pandas as pd

    test = _read(workdir / f"{runs[0]['feature']}_test.npz")
    return pd.concat([pd.DataFrame({"seed": r["seed"], "fold": "0", "utt_id": test.utt_ids, "speaker": test.speakers,
                                    "y_true": test.y, "y_pred": r["y_pred"]}) for r in runs], ignore_index=True)


def _mean_sd(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.3f}+-{values.std(ddof=1):.3f}"


def median_run(runs: list[dict | None]) -> dict | None:
    """The run of median throughput (the lower middle one of an even count); None if every run failed."""
    done = sorted((r for r in runs if r is not None), key=lambda r: r["utt_per_s"])
    return done[(len(done) - 1) // 2] if done else None


def git_commit(root: Path, ref: str = "HEAD") -> str:
    out = subprocess.run(["git", "-C", str(root), "rev-parse", ref], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


@contextmanager
def baseline_checkout(root: Path, ref: str | None, tmp: Path):
    """A temporary detached git worktree of ``ref`` (None: no baseline), removed afterwards."""
    if ref is None:
        yield None
        return
    path = tmp / "baseline"
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(path), ref], check=True,
                   capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(path)], capture_output=True)


def run_child(code_root: Path, name: str, workdir: str, args, seed: int | None = None) -> dict | None:
    """Train ``name`` in a fresh process running the code under ``code_root``; its RESULT record
    (with ``seed``: that training seed, untraced, and its test predictions)."""
    # This script's child (the same measurement) on the code under code_root (PYTHONPATH).
    cmd = [sys.executable, __file__, "--child", name, str(workdir)]
    if args.epochs is not None:
        cmd += ["--epochs", str(args.epochs)]
    if args.no_trace or seed is not None:
        cmd.append("--no-trace")
    if seed is not None:
        cmd += ["--seed", str(seed)]
    cached = cache_path(code_root, name, workdir, args, seed)
    if cached is not None and cached.exists():
        return json.loads(cached.read_text())
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=code_root)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if proc.returncode or line is None:
        print(f"{name:<20} FAILED ({code_root}): {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
        return None
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(line[len("RESULT "):])
    return json.loads(line[len("RESULT "):])


def cache_path(code_root: Path, name: str, workdir: str, args, seed: int | None) -> Path | None:
    """Where ``--cache`` keeps one seed fit's record; None when it must not be cached (a timed run, no
    ``--cache``, or code with uncommitted changes to tracked files)."""
    if args.cache is None or seed is None:
        return None
    dirty = subprocess.run(["git", "-C", str(code_root), "diff", "--quiet", "HEAD"], capture_output=True).returncode
    if dirty:
        return None
    from benchmark.methods import METHODS

    feature = METHODS.get(name)().feature
    data = "".join(_digest(Path(workdir) / f"{feature}_{part}.npz") for part in ("train", "test"))
    digest = hashlib.sha256(data.encode()).hexdigest()[:12]
    key = f"{git_commit(code_root)[:12]}-{name}-seed{seed}-epochs{args.epochs}-{digest}"
    return args.cache / f"{key}.json"


@functools.lru_cache(maxsize=None)
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


if __name__ == "__main__":
    main()
