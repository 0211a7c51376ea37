"""Start-up cost of the command line: `emobench corpus info` on a two-utterance CSV corpus.

The work itself (reading a CSV and two wav headers) takes a few hundredths of a
second; everything else is importing. Prints the wall time of each of N runs of
``python -m benchmark.cli corpus info csv --root <tiny.csv>`` in a fresh
interpreter, their median, and the modules over 50 ms cumulative from
``-X importtime``; writes perf/results/cli_startup.json.

    .venv/bin/python perf/bench_cli_startup.py            # 7 runs of this checkout
    .venv/bin/python perf/bench_cli_startup.py --runs 15
    .venv/bin/python perf/bench_cli_startup.py --code /tmp/old --label before   # another tree of the code
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("scipy.signal", "scipy.stats", "torch", "sklearn", "mlflow", "librosa", "matplotlib")


def tiny_corpus(folder: Path) -> Path:
    t = np.arange(8000) / 16000
    for name in ("u1", "u2"):
        sf.write(folder / f"{name}.wav", 0.1 * np.sin(2 * np.pi * 220 * t), 16000)
    path = folder / "tiny.csv"
    path.write_text("utt_id,path,speaker,emotion,language\nu1,u1.wav,s1,angry,en\nu2,u2.wav,s2,neutral,en\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--code", type=Path, default=REPO, help="the tree whose benchmark package is timed")
    parser.add_argument("--label", default="current", help="the key of this measurement in the JSON file")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(args.code.resolve())}
    with tempfile.TemporaryDirectory() as tmp:
        csv = tiny_corpus(Path(tmp))
        command = [sys.executable, "-m", "benchmark.cli", "corpus", "info", "csv", "--root", str(csv)]
        walls = []
        for _ in range(args.runs):
            start = time.perf_counter()
            # cwd: the temporary folder, since `python -m` puts the working directory before PYTHONPATH
            subprocess.run(command, check=True, capture_output=True, env=env, cwd=tmp)
            walls.append(time.perf_counter() - start)
        trace = subprocess.run([sys.executable, "-X", "importtime", *command[1:]], check=True, capture_output=True,
                               text=True, env=env, cwd=tmp).stderr
    cumulative = {}
    for line in trace.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cum, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            if cum.isdigit():
                cumulative[name] = int(cum) / 1e6
    heavy = sorted(m for m in HEAVY if m in cumulative)
    code_used = subprocess.run([sys.executable, "-c", "import benchmark; print(benchmark.__file__)"], check=True,
                               capture_output=True, text=True, env=env, cwd="/").stdout.strip()
    top = dict(sorted(((n, s) for n, s in cumulative.items() if s > 0.05 and "." not in n),
                      key=lambda kv: -kv[1]))
    result = {"code": code_used, "command": "python -m benchmark.cli corpus info csv --root <two-utterance csv>",
              "runs": args.runs,
              "wall_s": [round(w, 3) for w in walls], "median_s": round(statistics.median(walls), 3),
              "top_level_imports_over_50ms_s": {k: round(v, 3) for k, v in top.items()},
              "heavy_modules_imported": heavy, "cpu_count": os.cpu_count()}
    print(json.dumps(result, indent=1))
    out = REPO / "perf" / "results" / "cli_startup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    everything = json.loads(out.read_text()) if out.is_file() else {}
    everything[args.label] = result
    out.write_text(json.dumps(everything, indent=1) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
