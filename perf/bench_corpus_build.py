"""Embedded corpus build time: a cold build of the default corpus, then a warm (cached) rebuild.

Targets (issue 2): cold build of the default corpus under 3 minutes on 2 cores,
warm-cache rebuild in seconds. The cold build goes into a fresh temporary
folder (nothing reused); the warm rebuild is ``load_corpus("embedded", ...)``
on the same folder (cache check, manifest read, every file checked).

    .venv/bin/python perf/bench_corpus_build.py            # default corpus, 2 processes
    .venv/bin/python perf/bench_corpus_build.py --jobs 1 --size 500
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=None, help="utterances (default: the default corpus's)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", default=None, help="keep the build in this folder instead of a temporary one")
    args = parser.parse_args()

    from benchmark.corpora import load_corpus
    from benchmark.corpora.embedded import build_corpus, make_config

    options = {} if args.size is None else {"size": args.size}
    config = make_config(options)
    root = args.keep or tempfile.mkdtemp(prefix="emobench_bench_corpus_")
    try:
        cold = build_corpus(config, root=root, jobs=args.jobs, progress=True)
        assert not cold.reused and cold.rendered == config.size
        start = time.perf_counter()
        manifest, _ = load_corpus("embedded", root, progress=False, **options)
        warm_s = time.perf_counter() - start
        audio_s = float(manifest["duration_s"].sum())
        print(f"embedded corpus: {len(manifest)} utterances, {audio_s / 3600:.2f} h of audio, "
              f"{manifest['speaker'].nunique()} speakers, {manifest['language'].nunique()} languages "
              f"(cpu cores visible: {os.cpu_count()}, jobs: {args.jobs})")
        print(f"cold build : {cold.seconds:7.1f} s   ({audio_s / cold.seconds:6.1f}x real time, "
              f"{1000 * cold.seconds / len(manifest):.1f} ms/utt)   target < 180 s on 2 cores")
        print(f"warm reload: {warm_s:7.2f} s   (cache hit, manifest read and every file checked)   "
              f"target: seconds")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
