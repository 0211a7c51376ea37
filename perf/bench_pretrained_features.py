"""Extraction speed of the pretrained-encoder features beside log-mel, functionals and eGeMAPS, and how
closely Whisper on the utterance's own length (``context: trimmed``) matches Whisper on its 30-s window.

Real-time factor here is seconds of audio per wall-clock second (higher is faster), as in
``perf/bench_features.py``; its inverse (wall seconds per audio second) is in the JSON too. Audio is
read once up front, so the numbers compare the extractors. Every extractor runs as it does in a
suite: Whisper on one torch thread (the extractor's setting), log-mel batched, eGeMAPS in one
process. Writes ``perf/results/pretrained_features.json``.

    .venv/bin/python perf/bench_pretrained_features.py                 # 100 files of the embedded corpus
    .venv/bin/python perf/bench_pretrained_features.py --files 300 --padded-files 30
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from benchmark.audio import load_audio
from benchmark.corpora import load_corpus
from benchmark.features import FEATURES, make_config

RESULTS = Path(__file__).parent / "results" / "pretrained_features.json"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def speed_row(label: str, config: dict | str, waves: list[np.ndarray]) -> dict:
    extractor = FEATURES.get(make_config(config).name)(make_config(config))
    extractor.extract_batch(waves[:2])  # warm-up: model load, filterbanks, threads
    audio_s = sum(len(w) for w in waves) / 16000
    wall = timed(lambda: extractor.extract_batch(waves))
    return {"extractor": label, "files": len(waves), "audio_s": round(audio_s, 2), "wall_s": round(wall, 3),
            "rtf_audio_per_wall": round(audio_s / wall, 2), "wall_per_audio": round(wall / audio_s, 5),
            "ms_per_file": round(1000 * wall / len(waves), 2)}


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


def trimmed_vs_padded(waves: list[np.ndarray]) -> dict:
    """Per layer: mean and worst-case agreement of trimmed against padded hidden states."""
    from benchmark.features.whisper_encoder import load_encoder, window_states

    encoder = load_encoder("tiny.en")
    frame_rel, frame_cos, mean_cos, mean_rel, max_abs0 = [], [], [], [], []
    with torch.inference_mode():
        for wave in waves:
            t = window_states(encoder, wave, "trimmed").astype(np.float64)
            p = window_states(encoder, wave, "padded").astype(np.float64)
            frame_rel.append((np.linalg.norm(t - p, axis=-1) / np.linalg.norm(p, axis=-1)).mean(axis=0))
            frame_cos.append(cosine(t, p).mean(axis=0))
            mean_cos.append(cosine(t.mean(axis=0), p.mean(axis=0)))
            mean_rel.append(np.linalg.norm(t.mean(0) - p.mean(0), axis=-1) / np.linalg.norm(p.mean(0), axis=-1))
            max_abs0.append(np.abs(t[:, 0] - p[:, 0]).max())

    def summary(values: list[np.ndarray], worst: str) -> dict:
        v = np.array(values)
        return {"mean": v.mean(axis=0).round(4).tolist(),
                "worst": (v.max(axis=0) if worst == "max" else v.min(axis=0)).round(4).tolist()}

    return {"utterances": len(waves), "layers": "0 = conv front end + positional embedding .. 4 = last block + ln_post",
            "frame_relative_l2_difference": summary(frame_rel, "max"),
            "frame_cosine_similarity": summary(frame_cos, "min"),
            "utterance_mean_cosine_similarity": summary(mean_cos, "min"),
            "utterance_mean_relative_l2_difference": summary(mean_rel, "max"),
            "layer0_max_abs_difference": float(np.max(max_abs0))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--padded-files", type=int, default=20, help="Whisper on 30-s windows is slow: fewer files")
    parser.add_argument("--agreement-files", type=int, default=30)
    args = parser.parse_args()

    manifest, _ = load_corpus("embedded", None)
    manifest = manifest.sample(args.files, random_state=0)  # all languages and emotions
    waves = [load_audio(p) for p in manifest["path"]]
    machine = {"cpus": os.cpu_count(), "torch_threads_default": torch.get_num_threads(),
               "load_average_1min_at_start": round(os.getloadavg()[0], 2), "platform": platform.platform(),
               "torch": torch.__version__, "gpu": torch.cuda.is_available(),
               "note": "a 2-core machine shared with other engineers' jobs: absolute numbers vary with the load; "
                       "the rows were measured in one run, one after the other"}
    print(f"{len(waves)} files, {sum(len(w) for w in waves) / 16000 / 60:.1f} min of audio; {machine}")

    rows = [
        speed_row("whisper_encoder (tiny.en, trimmed: the utterance's own length)", "whisper_encoder", waves),
        speed_row(f"whisper_encoder (tiny.en, padded to 30 s; {args.padded_files} files)",
                  {"name": "whisper_encoder", "context": "padded"}, waves[: args.padded_files]),
        speed_row("logmel (torch, batched)", "logmel", waves),
        speed_row("functionals (torch)", "functionals", waves),
        speed_row("egemaps (openSMILE, 1 process)", "egemaps", waves),
    ]
    machine["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
    agreement = trimmed_vs_padded(waves[: args.agreement_files])

    width = max(len(r["extractor"]) for r in rows)
    print(f"{'extractor':<{width}}  audio s / wall s   ms / file")
    for r in rows:
        print(f"{r['extractor']:<{width}}  {r['rtf_audio_per_wall']:>16.1f}   {r['ms_per_file']:>9.1f}")
    print(json.dumps(agreement, indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine, "speed": rows, "trimmed_vs_padded": agreement}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
