"""Predicted MOS (DistillMOS) per utterance: emobench's scorer beside the model's own forward pass, in one run.

The peer is what the scorer did before: every utterance zero-padded to DistillMOS's 7.68-s window and the
whole window through the model (batched, ``model(batch)``). emobench's scorer runs the CNN only over the
speech and fills the padding's columns from one all-zero window (benchmark/tts/mos.py). Both see the same
held-out English recordings of the embedded corpus (the TTS grid's split), one torch thread each (as in the
suite's worker processes), in interleaved rounds; the script also reports the largest difference between
their scores, which must be float noise.

    python perf/bench_mos.py                # 48 utterances, 3 rounds -> perf/results/mos_speed.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from interleave import environment, interleaved, load_average, ratio, spread, write  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    import numpy as np
    import torch

    from benchmark.corpora.embedded import load_embedded
    from benchmark.tts.split import split_sentences
    from benchmark.tts.mos import MosScorer, load_audio

    torch.set_num_threads(1)
    manifest, _ = load_embedded(progress=False)
    _, test = split_sentences(manifest[manifest["language"] == "en"].reset_index(drop=True), 5, 0)
    waves = [load_audio(p) for p in test["path"].iloc[: args.n]]
    scorer = MosScorer({"batch_size": args.batch_size, "threads": 1})
    seq_len = 122880   # distillmos.sqa.SEQ_LEN

    def padded_window() -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(waves), args.batch_size):
                chunk = waves[start:start + args.batch_size]
                batch = np.zeros((len(chunk), seq_len), dtype=np.float32)
                for row, wave in enumerate(chunk):
                    batch[row, :len(wave)] = wave
                out.append(scorer.model(torch.from_numpy(batch)).reshape(-1).numpy())
        return np.concatenate(out)

    load_start = load_average()
    times, last = interleaved({"emobench": lambda: scorer.predict(waves), "padded_window": padded_window},
                              args.rounds)
    seconds = [len(w) / 16000 for w in waves]
    payload = {
        "n_utterances": len(waves), "rounds": args.rounds, "batch_size": args.batch_size,
        "utterance_s": {"median": float(np.median(seconds)), "max": float(max(seconds))},
        "per_utterance_s": {k: spread(v)["median_s"] / len(waves) for k, v in times.items()},
        "times": {k: spread(v) for k, v in times.items()},
        "speedup": ratio(times, "emobench", "padded_window"),
        "max_abs_score_difference": float(np.abs(np.asarray(last["emobench"]) - last["padded_window"]).max()),
        "load_average_start": load_start, "load_average_end": load_average(), **environment(),
    }
    print(f"per utterance: emobench {payload['per_utterance_s']['emobench']:.3f} s, padded window "
          f"{payload['per_utterance_s']['padded_window']:.3f} s ({payload['speedup']['ratio_of_medians']:.2f}x); "
          f"largest score difference {payload['max_abs_score_difference']:.2e}")
    write("mos_speed.json", payload)


if __name__ == "__main__":
    main()
