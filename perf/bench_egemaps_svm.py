"""eGeMAPS + SVM end to end, emobench vs nkululeko 1.14.1, on the same speaker-disjoint split, cold
caches; writes perf/results/egemaps_svm.json.

    .venv/bin/python perf/bench_egemaps_svm.py                      # the whole embedded corpus, 3 rounds
    .venv/bin/python perf/bench_egemaps_svm.py --files 600 --repetitions 2

nkululeko's dependencies (pandas < 3 among them) do not fit emobench's environment, so it lives in
its own virtual environment that sees emobench's packages behind its own (torch, opensmile, ...
are shared, so both sides run the same openSMILE build)::

    python3.11 -m venv ~/.cache/emobench/peers/nkululeko
    echo /path/to/emobench/.venv/lib/python3.11/site-packages \\
        > ~/.cache/emobench/peers/nkululeko/lib/python3.11/site-packages/zz_emobench.pth
    ~/.cache/emobench/peers/nkululeko/bin/pip install nkululeko==1.14.1

(``--nkululeko-python`` points elsewhere). Both sides run as fresh processes (interpreter start,
imports, reading the split, eGeMAPSv02 functionals of every file through openSMILE on 2 workers, an
RBF SVM, predictions written), so each timing is what a user waits for:

- nkululeko: ``python -m nkululeko.nkululeko --config exp.ini`` (csv databases with
  ``split_strategy`` train/test, ``FEATS type = ['os']``, ``MODEL type = svm``, ``n_jobs = 2``), a new
  experiment folder every round (no stored features);
- emobench: this script with ``--side emobench``: ``benchmark.features.extract_features`` (2 worker
  processes, one ``opensmile.Smile`` each, into an empty feature cache every round) and the same
  classifier nkululeko builds (``SVC(kernel="rbf", C=1, gamma="scale", probability=True,
  random_state=42)``, no scaling, nkululeko's default).

Rounds alternate the two sides (the order rotated each round); wall and CPU seconds (the child's
user + system time, which the load on a shared machine inflates less) are recorded, with the load
average. Afterwards the features and the predictions of both are compared file by file.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interleave import load_average, spread, write  # noqa: E402

DEFAULT_NKULULEKO = Path.home() / ".cache" / "emobench" / "peers" / "nkululeko" / "bin" / "python"
SVC_ARGS = dict(kernel="rbf", C=1.0, gamma="scale", probability=True, random_state=42)

EXP_INI = """[EXP]
root = {root}
name = egemaps_svm
runs = 1
epochs = 1
[DATA]
databases = ['train', 'test']
train = {train}
train.type = csv
train.absolute_path = True
train.split_strategy = train
test = {test}
test.type = csv
test.absolute_path = True
test.split_strategy = test
target = emotion
[FEATS]
type = ['os']
[MODEL]
type = svm
n_jobs = {jobs}
"""


def make_split(folder: Path, n_files: int) -> dict:
    """Whole speakers until ``n_files`` files; every fifth speaker (sorted) held out for the test."""
    from benchmark.corpora import load_corpus

    manifest, _ = load_corpus("embedded", None, progress=False)
    speakers, rows = [], 0
    for speaker, count in manifest.groupby("speaker").size().sort_index().items():
        if rows >= n_files:
            break
        speakers.append(speaker)
        rows += count
    test_speakers = set(speakers[::5])
    chosen = manifest[manifest["speaker"].isin(speakers)]
    held_out = chosen["speaker"].isin(test_speakers)
    parts = {"train": chosen[~held_out], "test": chosen[held_out]}
    assert not set(parts["train"]["speaker"]) & set(parts["test"]["speaker"])  # speaker-disjoint
    for name, part in parts.items():
        table = part.rename(columns={"path": "file"})[["file", "speaker", "emotion"]]
        table.to_csv(folder / f"{name}.csv", index=False)
    return {"files": len(chosen), "train_files": len(parts["train"]), "test_files": len(parts["test"]),
            "speakers": len(speakers), "test_speakers": sorted(test_speakers),
            "audio_seconds": float(chosen["duration_s"].sum())}


def run_emobench_side(train_csv: str, test_csv: str, workdir: Path, jobs: int) -> None:
    """The emobench side (a child process): cached eGeMAPS features, the same SVC, predictions out."""
    from sklearn.svm import SVC

    from benchmark.features import extract_features

    parts = {name: pd.read_csv(path) for name, path in (("train", train_csv), ("test", test_csv))}
    feats = {}
    for name, part in parts.items():
        rows = pd.DataFrame({"utt_id": part["file"], "path": part["file"]})
        values = extract_features(rows, "egemaps", cache_dir=workdir / "cache", n_jobs=jobs, progress=False)
        feats[name] = np.stack([values[f] for f in part["file"]])
    clf = SVC(**SVC_ARGS).fit(feats["train"], parts["train"]["emotion"])
    pd.DataFrame({"file": parts["test"]["file"], "pred": clf.predict(feats["test"])}).to_csv(
        workdir / "predictions.csv", index=False)
    np.save(workdir / "test_features.npy", feats["test"])


def timed_child(cmd: list[str], log: Path, env: dict | None = None) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of a child process; raises with its log's tail on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{log.read_text()[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000, help="about this many files (whole speakers)")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="openSMILE workers on each side")
    parser.add_argument("--nkululeko-python", default=str(DEFAULT_NKULULEKO))
    parser.add_argument("--out", default="egemaps_svm.json", help="file name under perf/results/")
    parser.add_argument("--side", choices=["emobench"], help=argparse.SUPPRESS)
    parser.add_argument("--train", help=argparse.SUPPRESS)
    parser.add_argument("--test", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "emobench":
        run_emobench_side(args.train, args.test, Path(args.workdir), args.jobs)
        return
    if not Path(args.nkululeko_python).is_file():
        raise SystemExit(f"no nkululeko environment at {args.nkululeko_python}; see this script's docstring")

    root = Path(tempfile.mkdtemp(prefix="bench-egemaps-"))
    split = make_split(root, args.files)
    print(f"bench_egemaps_svm: {split['files']} files ({split['audio_seconds']:.0f} s), {split['speakers']} speakers "
          f"({len(split['test_speakers'])} held out), {args.jobs} workers, load average {load_average()}")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    sides = ["emobench", "nkululeko"]
    wall: dict[str, list[float]] = {s: [] for s in sides}
    cpu: dict[str, list[float]] = {s: [] for s in sides}
    for rep in range(args.repetitions):
        for side in sides[rep % 2:] + sides[:rep % 2]:
            work = root / f"{side}-{rep}"
            work.mkdir()
            if side == "emobench":
                cmd = [sys.executable, __file__, "--side", "emobench", "--train", str(root / "train.csv"),
                       "--test", str(root / "test.csv"), "--workdir", str(work), "--jobs", str(args.jobs)]
            else:
                (work / "exp.ini").write_text(EXP_INI.format(root=work / "exp", train=root / "train.csv",
                                                             test=root / "test.csv", jobs=args.jobs))
                cmd = [args.nkululeko_python, "-m", "nkululeko.nkululeko", "--config", str(work / "exp.ini")]
            w, c = timed_child(cmd, work / "log.txt", env)
            wall[side].append(w)
            cpu[side].append(c)
        done = ", ".join(f"{s} {wall[s][-1]:.1f}s wall {cpu[s][-1]:.1f}s cpu" for s in sides)
        print(f"    round {rep + 1}/{args.repetitions}: {done}  (load {load_average()[0]:.1f})")

    last = args.repetitions - 1
    ours_pred = pd.read_csv(root / f"emobench-{last}" / "predictions.csv")
    theirs_pred = pd.read_csv(next((root / f"nkululeko-{last}" / "exp").rglob("pred_emotion_svm_os.csv")))
    theirs_pred = theirs_pred.set_index(theirs_pred.columns[0])
    pred_col = next(c for c in ("predicted", "pred", "emotion_pred") if c in theirs_pred.columns) \
        if any(c in theirs_pred.columns for c in ("predicted", "pred", "emotion_pred")) else theirs_pred.columns[-1]
    same_pred = float(np.mean([theirs_pred.loc[f, pred_col] == p
                               for f, p in zip(ours_pred["file"], ours_pred["pred"], strict=True)]))
    theirs_feats = pd.read_pickle(next((root / f"nkululeko-{last}" / "exp").rglob("test_os_all.pkl")))
    theirs_feats.index = [i[0] if isinstance(i, tuple) else i for i in theirs_feats.index]
    ours_feats = np.load(root / f"emobench-{last}" / "test_features.npy")
    feat_diff = float(np.max(np.abs(theirs_feats.loc[ours_pred["file"]].to_numpy(dtype=np.float32) - ours_feats)))
    truth = pd.read_csv(root / "test.csv").set_index("file")["emotion"]
    accuracy = {"emobench": float(np.mean(truth.loc[ours_pred["file"]].to_numpy() == ours_pred["pred"].to_numpy())),
                "nkululeko": float(np.mean(truth.loc[ours_pred["file"]].to_numpy()
                                           == theirs_pred.loc[ours_pred["file"], pred_col].to_numpy()))}
    rows = {s: {"wall": spread(wall[s]), "cpu": spread(cpu[s])} for s in sides}
    ratios = {k: float(np.median(theirs) / np.median(ours)) for k, ours, theirs in
              (("wall", wall["emobench"], wall["nkululeko"]), ("cpu", cpu["emobench"], cpu["nkululeko"]))}
    per_round = [t / o for o, t in zip(wall["emobench"], wall["nkululeko"])]
    for s in sides:
        print(f"    {s:<10} wall median {rows[s]['wall']['median_s']:.1f} s [{rows[s]['wall']['min_s']:.1f}, "
              f"{rows[s]['wall']['max_s']:.1f}], cpu median {rows[s]['cpu']['median_s']:.1f} s")
    print(f"    emobench {ratios['wall']:.2f}x nkululeko wall (per round {min(per_round):.2f}-{max(per_round):.2f}x), "
          f"{ratios['cpu']:.2f}x cpu; same predictions on {same_pred:.1%} of test files, features max |diff| "
          f"{feat_diff:.1e}; accuracy {accuracy}")
    record = {"command": " ".join(["perf/bench_egemaps_svm.py", *sys.argv[1:]]), "split": split, "jobs": args.jobs,
              "results": rows, "ratio_wall": ratios["wall"], "ratio_cpu": ratios["cpu"],
              "per_round_wall_ratio": per_round, "same_predictions_fraction": same_pred,
              "features_max_abs_diff": feat_diff, "test_accuracy": accuracy, "load_average_end": load_average()}
    write(args.out, record)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
