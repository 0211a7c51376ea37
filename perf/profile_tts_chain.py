"""Where the default suite's TTS cells spend their time: the TTS section of a suite alone, one process, one thread.

    .venv/bin/python perf/profile_tts_chain.py                  # the default suite's TTS section (~8 min)
    .venv/bin/python perf/profile_tts_chain.py --suite full     # another suite's TTS section

Runs ``emobench run`` on a suite made of the named suite's corpora, methods and ``tts`` section only (no
SER protocol), in a temporary folder with a fresh store, in this process with one torch thread (as a
pool worker of the suite has), and times every stage of every system by wrapping the functions that do
them: each registered TTS scorer's ``score``, the Griffin-Lim vocoder, the judge, the base model, the
fine-tuning, the conditioner's fit. Prints a table and writes ``perf/results/tts_chain_profile.json``.
The features are read from ``$EMOBENCH_HOME``'s cache (extract them first, e.g. by a suite run).
"""
from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")   # a pool worker's one thread, before torch loads

ROOT = Path(__file__).resolve().parents[1]
SECONDS: dict[str, float] = collections.defaultdict(float)
CALLS: collections.Counter[str] = collections.Counter()


def _timed(owner: object, name: str, label: str) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SECONDS[label] += time.perf_counter() - start
            CALLS[label] += 1

    setattr(owner, name, wrapper)


def _instrument() -> None:
    import benchmark.tts.emotion_similarity as emotion_similarity
    import benchmark.tts.evaluate as evaluate
    import benchmark.tts.fit as fit
    import benchmark.tts.mos as mos
    import benchmark.tts.scorers as scorers
    import benchmark.tts.speaker_similarity as speaker_similarity
    import benchmark.tts.train as train
    import benchmark.tts.vocoder as vocoder

    for module in (scorers, mos, speaker_similarity, emotion_similarity):
        for attr, value in vars(module).items():
            if (isinstance(value, type) and issubclass(value, scorers.TTSScorer) and value is not scorers.TTSScorer
                    and "score" in vars(value)):
                _timed(value, "score", f"scorer {attr}")
    _timed(vocoder.GriffinLimVocoder, "vocode", "Griffin-Lim vocoding")
    for name in ("cached_judge", "cached_base", "fit_conditioner", "make_transcriber"):
        _timed(fit, name, name)
    _timed(train, "finetune_tts", "finetune_tts")
    for name in ("_ground_truth", "_resynthesis", "_tts"):
        _timed(evaluate.TTSBench, name, f"system {name.lstrip('_')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="default")
    parser.add_argument("--out", default=str(ROOT / "perf" / "results" / "tts_chain_profile.json"))
    args = parser.parse_args()

    import torch
    import yaml

    from benchmark.suite import load_suite

    torch.set_num_threads(1)
    suite = load_suite(args.suite)
    if suite.tts is None:
        sys.exit(f"suite {args.suite} has no tts section")
    spec = {"name": f"{suite.name}-tts-profile", "corpora": [c.model_dump() for c in suite.corpora],
            "methods": {m: suite.hparams_of(m) for m in suite.tts.methods}, "protocols": [], "n_jobs": 1,
            "tts": suite.tts.model_dump(exclude_defaults=True)}
    _instrument()
    from benchmark.cli import app

    with tempfile.TemporaryDirectory(prefix="tts-profile-") as tmp:
        path = Path(tmp) / "suite.yaml"
        path.write_text(yaml.safe_dump(spec))
        start = time.perf_counter()
        try:
            app(["run", str(path), "--jobs", "1", "--no-publish", "--no-progress",
                 "--tracking-uri", f"sqlite:///{tmp}/mlflow.db"], standalone_mode=False)
        finally:
            wall = time.perf_counter() - start
    rows = sorted(SECONDS.items(), key=lambda item: -item[1])
    print(f"TTS section of suite {args.suite!r}: {wall:.0f} s wall, one process, one thread")
    print("| stage | seconds | calls |\n|---|---:|---:|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.1f} | {CALLS[label]} |")
    record = {"suite": args.suite, "wall_s": round(wall, 1), "load_avg_at_end": list(os.getloadavg()),
              "stages": {label: {"seconds": round(seconds, 1), "calls": CALLS[label]} for label, seconds in rows}}
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
