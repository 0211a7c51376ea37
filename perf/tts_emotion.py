"""Does emotion survive synthesis? The default suite's TTS chain, timed per stage, with its statistics.

    .venv/bin/python perf/tts_emotion.py [--suite default] [--seed 0] [--variant NAME=JSON] [--out FILE]

Runs the suite's TTS chain for one seed the way its TTS cells do (one
:class:`benchmark.tts.evaluate.TTSBench`: judge, base acoustic model, then the
references ``ground_truth`` and ``resynthesis``, the control ``none`` and every
conditioned system of the suite's ``tts`` section, each synthesizing and
scoring every held-out utterance) on the embedded corpus, and reports

- **stage timings** (seconds): judge, base model, per system its fine-tuning
  (conditioner fit included), synthesis + scoring;
- **judge accuracy** per system with its 95% bootstrap CI over utterances,
  the paired difference of each system from ``none`` and from ``resynthesis``
  (paired bootstrap CI and p, exact McNemar p) and the minimum detectable
  difference of that comparison (McNemar, alpha 0.05, power 0.8), all from
  :mod:`benchmark.metrics.stacked`, the engine behind the leaderboards;
- **prosody per intended emotion** against the ground truth: F0 mean (Hz) and
  F0 range (5th-95th percentile of voiced frames, semitones) by WORLD DIO +
  StoneMask (10 ms, 50-800 Hz), and speech duration (seconds, leading and
  trailing silence trimmed 40 dB below the peak), each the mean over the
  emotion's held-out utterances; plus, per system, how much of the ground
  truth's between-emotion spread it reproduces (the slope of the system's
  per-emotion means on the ground truth's, per statistic: 1 = all of it,
  0 = none).

``--variant NAME=JSON`` adds the conditioned systems again with those
overrides of the suite's ``tts.config`` (e.g. ``'dec={"finetune": {"emotion_to":
"all"}}'``), reusing the same judge and base model, so what a change buys is
measured on the same utterances. Writes ``perf/results/tts_emotion.json``.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def prosody_stats(path: str) -> dict[str, float]:
    """F0 mean (Hz), F0 range (semitones, 5th-95th percentile) over voiced frames, speech seconds."""
    import librosa
    import pyworld

    from benchmark.audio import load_audio

    x = load_audio(path, 16000).astype(np.float64)
    f0, t = pyworld.dio(x, 16000, f0_floor=50.0, f0_ceil=800.0, frame_period=10.0)
    f0 = pyworld.stonemask(x, f0, t, 16000)
    voiced = f0[f0 > 0]
    trimmed, _ = librosa.effects.trim(x, top_db=40, frame_length=512, hop_length=128)
    if len(voiced) < 2:
        return {"f0_mean_hz": float("nan"), "f0_range_st": float("nan"), "speech_s": len(trimmed) / 16000}
    lo, hi = np.percentile(voiced, [5, 95])
    return {"f0_mean_hz": float(voiced.mean()), "f0_range_st": float(12 * np.log2(hi / lo)),
            "speech_s": len(trimmed) / 16000}


STATS = ("f0_mean_hz", "f0_range_st", "speech_s")


def per_emotion(table: pd.DataFrame) -> pd.DataFrame:
    """Mean prosody statistics per intended emotion of a per-utterance table (columns wav, emotion)."""
    rows = [{"emotion": e, **prosody_stats(w)} for w, e in zip(table["wav"], table["emotion"])]
    return pd.DataFrame(rows).groupby("emotion")[list(STATS)].mean()


def spread_kept(system: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Per statistic: least-squares slope of the system's per-emotion means on the ground truth's."""
    out = {}
    for s in STATS:
        x, y = truth[s].to_numpy(), system[s].reindex(truth.index).to_numpy()
        xc = x - x.mean()
        out[s] = float(np.dot(xc, y - y.mean()) / np.dot(xc, xc)) if np.dot(xc, xc) > 0 else float("nan")
    return out


def predictions_frame(result, seed: int) -> pd.DataFrame:
    p = result.predictions
    return pd.DataFrame({"seed": str(seed), "fold": "heldout", "utt_id": p["utt_id"].astype(str),
                         "y_true": p["y_true"].astype(str), "y_pred": p["y_pred"].astype(str)})


def compare(a: pd.DataFrame, b: pd.DataFrame, n_boot: int = 2000) -> dict[str, float]:
    """B - A in judge accuracy: paired bootstrap CI and p, exact McNemar p, MDD (stacked engine)."""
    from benchmark.metrics.stacked import mcnemar_seeds, paired_accuracy_mdd, score_paired

    paired = score_paired(a, b, n_boot=n_boot, seed=0)
    diff = paired.difference("wa")
    power = paired_accuracy_mdd(paired.stacked_a, paired.stacked_b)
    return {"diff": diff.diff, "low": diff.low, "high": diff.high, "p_bootstrap": diff.p,
            "p_mcnemar": mcnemar_seeds(paired.stacked_a, paired.stacked_b), "n": power.n,
            "discordance": power.discordance, "mdd": power.mdd}


def accuracy(frame: pd.DataFrame, n_boot: int = 2000) -> dict[str, float]:
    from benchmark.metrics.stacked import Stacked, class_labels, resample_weights, score_stacked

    stacked = Stacked.from_frame(frame)
    scored = score_stacked(stacked, class_labels(frame), "pooled", resample_weights(stacked.items, n_boot, 0))
    return {"wa": scored.value["wa"], "low": scored.low["wa"], "high": scored.high["wa"], "ua": scored.value["ua"],
            "n": len(stacked.items)}


def run(suite_name: str, seed: int, variants: dict[str, dict], out_json: Path) -> dict:
    import torch

    from benchmark.corpora import load_corpus
    from benchmark.suite import load_suite
    from benchmark.tts.evaluate import CONTROL_SYSTEM, TTSBench, TTSEvalConfig

    torch.set_num_threads(1)
    suite = load_suite(suite_name)
    spec = suite.tts
    manifest, _ = load_corpus("embedded")
    work = Path(tempfile.mkdtemp(prefix="emobench-tts-emotion-"))
    base_config = TTSEvalConfig(**spec.config).model_dump()
    timings: dict[str, float] = {}
    results, frames, prosody = {}, {}, {}
    load = {"start": os.getloadavg()[0]}
    chain_start = time.perf_counter()

    bench = TTSBench(manifest, work / "main", seed=seed, config=base_config, progress=False)
    t = time.perf_counter()
    _ = bench.judge   # trained (or loaded) here, so that its time is its own stage
    timings["judge"] = time.perf_counter() - t
    t = time.perf_counter()
    _ = bench.base
    timings["base_model"] = time.perf_counter() - t
    print(f"judge {timings['judge']:.1f} s, base model {timings['base_model']:.1f} s "
          f"({len(bench.train)} training, {len(bench.test)} held-out utterances)", flush=True)

    def evaluate(b: TTSBench, system: str, label: str) -> None:
        t0 = time.perf_counter()
        hparams = suite.hparams_of(system) if system in suite.methods else {}
        result = b.evaluate(system, hparams)
        total = time.perf_counter() - t0
        fit = float(result.metrics.get("finetune_seconds", 0.0))
        timings[f"{label}.fit"] = fit
        timings[f"{label}.synthesis_and_scoring"] = total - fit
        results[label] = result
        frames[label] = predictions_frame(result, seed)
        prosody[label] = per_emotion(result.per_utterance.assign(
            wav=result.per_utterance["wav"] if system != "ground_truth" else list(b.test["path"])))
        print(f"{label}: judge accuracy {np.mean(frames[label].y_true == frames[label].y_pred):.3f}, "
              f"fit {fit:.1f} s, synthesis + scoring {total - fit:.1f} s", flush=True)

    systems = [CONTROL_SYSTEM, *spec.methods]
    for system in ["ground_truth", "resynthesis", *systems]:
        evaluate(bench, system, system)
    timings["chain_total"] = time.perf_counter() - chain_start
    load["after_chain"] = os.getloadavg()[0]
    for name, overrides in variants.items():
        config = copy.deepcopy(base_config)
        for key, value in overrides.items():
            config[key] = {**config[key], **value} if isinstance(value, dict) else value
        folder = work / name
        folder.mkdir()
        for shared in ("judge", "base"):   # the same judge and base model: only the variant's change differs
            (folder / shared).symlink_to(work / "main" / shared)
        variant = TTSBench(manifest, folder, seed=seed, config=config, progress=False)
        for system in systems:
            evaluate(variant, system, f"{system}@{name}")

    report = {"suite": suite_name, "seed": seed, "n_test": len(bench.test), "n_train": len(bench.train),
              "load_average": load, "cpu_count": os.cpu_count(), "timings_s": timings, "variants": variants,
              "accuracy": {k: accuracy(f) for k, f in frames.items()},
              "vs_none": {}, "vs_resynthesis": {}, "prosody": {}, "spread_kept": {},
              "wer": {k: float(r.metrics.get("wer", float("nan"))) for k, r in results.items()}}
    for label, frame in frames.items():
        if label in ("ground_truth", "resynthesis"):
            continue
        control = CONTROL_SYSTEM if "@" not in label else f"{CONTROL_SYSTEM}@{label.split('@')[1]}"
        if not label.startswith(CONTROL_SYSTEM):
            report["vs_none"][label] = compare(frames[control], frame)
        report["vs_resynthesis"][label] = compare(frames["resynthesis"], frame)
    truth = prosody["ground_truth"]
    for label, table in prosody.items():
        report["prosody"][label] = table.round(4).to_dict(orient="index")
        report["spread_kept"][label] = spread_kept(table, truth)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(report, indent=1, default=float))
    print_report(report)
    print(f"wrote {out_json}")
    return report


def print_report(r: dict) -> None:
    print(f"\nTTS chain of suite {r['suite']}, seed {r['seed']}: {r['n_train']} training, {r['n_test']} held-out "
          f"utterances; load average {r['load_average']}")
    print("\n| stage | seconds |\n|---|---:|")
    for k, v in r["timings_s"].items():
        print(f"| {k} | {v:.1f} |")
    print("\n| system | judge accuracy [95% CI] | UA | WER | vs none: diff [95% CI], p (bootstrap / McNemar), MDD "
          "| vs resynthesis: diff [95% CI], p, MDD |\n|---|---|---:|---:|---|---|")
    for k, a in r["accuracy"].items():
        def cmp(c):
            if c is None:
                return "–"
            return (f"{100 * c['diff']:+.1f} [{100 * c['low']:+.1f}, {100 * c['high']:+.1f}], p {c['p_bootstrap']:.3f}"
                    f" / {c['p_mcnemar']:.3f}, MDD {100 * c['mdd']:.1f}")
        print(f"| {k} | {100 * a['wa']:.1f} [{100 * a['low']:.1f}, {100 * a['high']:.1f}] | {100 * a['ua']:.1f} | "
              f"{100 * r['wer'][k]:.1f} | {cmp(r['vs_none'].get(k))} | {cmp(r['vs_resynthesis'].get(k))} |")
    emotions = list(r["prosody"]["ground_truth"])
    for stat, label in (("f0_mean_hz", "F0 mean (Hz)"), ("f0_range_st", "F0 range (st, p5-p95)"),
                        ("speech_s", "speech duration (s)")):
        systems = list(r["prosody"])
        print(f"\n{label} per intended emotion\n\n| emotion | " + " | ".join(systems) + " |")
        print("|---|" + "---:|" * len(systems))
        for e in emotions:
            print(f"| {e} | " + " | ".join(f"{r['prosody'][s][e][stat]:.2f}" for s in systems) + " |")
        print("| spread kept | " + " | ".join(f"{r['spread_kept'][s][stat]:.2f}" for s in systems) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=JSON",
                        help="the conditioned systems again with these overrides of the suite's tts.config")
    parser.add_argument("--out", default=str(HERE / "results" / "tts_emotion.json"))
    args = parser.parse_args()
    variants = {v.split("=", 1)[0]: json.loads(v.split("=", 1)[1]) for v in args.variant}
    run(args.suite, args.seed, variants, Path(args.out))


if __name__ == "__main__":
    main()
