"""The embedded (synthetic, eSpeak NG) corpus: determinism, manifest, phoneme timings, knobs, cache, CLI.

Every build here is tiny (2 languages x 2 speakers x 3 sentences, 16
utterances, well under a second to render); the default corpus's properties
that need no audio (class shares, parallel sentences, speakers) are checked
on its plan.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.corpora import load_corpus
from benchmark.corpora.embedded import build as build_mod
from benchmark.corpora.embedded import build_corpus, make_config, phoneme_timings, read_build
from benchmark.corpora.embedded.build import EmbeddedConfig, is_complete, plan_utterances
from benchmark.espeak import Espeak
from benchmark.corpora.embedded.prosody import draw_prosody
from benchmark.corpora.embedded.speakers import make_speakers
from benchmark.corpora.embedded.texts import TEXTS
from benchmark.errors import ConfigError
from benchmark.labels import CORE4
from benchmark.manifest import manifest_hash, validate_manifest

TINY = dict(size=16, languages="en,zh", speakers_per_language=2, sessions_per_language=1, sentences_per_language=3)


def corpus_digest(path: Path) -> str:
    """Hash of every wav and json of a build plus its manifest content (paths excluded)."""
    h = hashlib.sha256()
    for f in sorted((path / "wav").iterdir()):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    h.update(manifest_hash(read_build(path)).encode())
    return h.hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("embedded")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMOBENCH_HOME", str(root / "home"))
        manifest, report = load_corpus("embedded", None, progress=False, **TINY)
    assert len(report) == 0
    build = Path(manifest["path"].iloc[0]).parent.parent
    assert build.parent == root / "home" / "corpora" / "embedded"  # the cache lives under $EMOBENCH_HOME
    return build, manifest


def test_manifest_is_valid_and_says_synthetic(tiny):
    build, manifest = tiny
    validate_manifest(manifest, "tiny", check_files=True, require_text=True)
    assert len(manifest) == 16 and manifest["utt_id"].is_unique
    assert set(manifest["corpus"]) == {"embedded"} and manifest["synthetic"].all()
    assert set(manifest["language"]) == {"en", "zh"}
    assert set(manifest["gender"]) == {"female", "male"}
    assert manifest["session"].notna().all() and manifest["session"].str.startswith("embedded_").all()
    assert set(manifest["emotion"]) == set(CORE4)
    for row in manifest.itertuples():
        info = sf.info(row.path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert row.duration_s == pytest.approx(info.frames / 16000)
        assert row.text in TEXTS[row.language]
    meta = json.loads((build / "corpus.json").read_text())
    assert meta["synthetic"] is True and "SYNTHETIC" in meta["note"]
    assert meta["config"]["size"] == 16 and len(meta["speakers"]) == 4


def test_same_seed_same_corpus_other_seed_other_audio(tiny, tmp_path):
    build, _ = tiny
    again = build_corpus(make_config(TINY), root=tmp_path / "again", progress=False)
    assert not again.reused and again.rendered == 16
    assert corpus_digest(again.path) == corpus_digest(build)
    other = build_corpus(make_config({**TINY, "seed": 1}), root=tmp_path / "other", progress=False)
    assert other.path.name != build.name
    assert corpus_digest(other.path) != corpus_digest(build)


def test_parallel_build_renders_the_same_audio(tiny, tmp_path):
    build, _ = tiny
    par = build_corpus(make_config(TINY), root=tmp_path, jobs=2, progress=False)
    assert par.rendered == 16 and corpus_digest(par.path) == corpus_digest(build)


def test_espeak_renders_the_same_audio_twice_in_one_process():
    # eSpeak NG keeps state between syntheses; the binding isolates each one (fork), so repeats are identical.
    es = Espeak.get()
    first = es.synthesize("The bus was full this afternoon.", "en-us+f2", rate=170, pitch=50, pitch_range=50)
    es.synthesize("Der Bus war voll.", "de+m3", rate=200, pitch=30, pitch_range=70)
    second = es.synthesize("The bus was full this afternoon.", "en-us+f2", rate=170, pitch=50, pitch_range=50)
    assert len(first.audio) > 16000 and np.array_equal(first.audio, second.audio)
    assert first.phoneme_starts == second.phoneme_starts


def test_a_child_that_crashes_is_rendered_again_in_a_clean_process(monkeypatch):
    # After some native libraries ran in a process (seen with CTranslate2), a forked eSpeak child can
    # die with SIGSEGV; the utterance must then come from a clean spawned renderer, with the same audio.
    import os
    import signal

    from benchmark import espeak as espeak_module

    es = Espeak.get()
    args = ("The bus was full this afternoon.", "en-us+f2")
    expected = es.synthesize(*args, rate=170, pitch=50, pitch_range=50)
    def crash(*_args, **_kwargs):
        import faulthandler

        faulthandler.disable()  # the child dies quietly, as a real crash would leave no Python trace
        os.kill(os.getpid(), signal.SIGSEGV)

    monkeypatch.setattr(Espeak, "_synthesize_here", crash)
    try:
        again = es.synthesize(*args, rate=170, pitch=50, pitch_range=50)
    finally:
        monkeypatch.undo()
        # later renders of this process go to the clean renderer too, with the same audio
        later = es.synthesize(*args, rate=170, pitch=50, pitch_range=50)
        for _, pool in espeak_module._CLEAN_RENDERER:
            pool.shutdown()
        espeak_module._CLEAN_RENDERER.clear()
    assert np.array_equal(again.audio, expected.audio) and again.phoneme_starts == expected.phoneme_starts
    assert np.array_equal(later.audio, expected.audio)


def test_a_child_that_returns_no_phonemes_is_rendered_again_in_a_clean_process(monkeypatch):
    from benchmark import espeak as espeak_module

    es = Espeak.get()
    args = ("The bus was full this afternoon.", "en-us+f2")
    expected = es.synthesize(*args, rate=170, pitch=50, pitch_range=50)
    real = Espeak._synthesize_here

    def no_events(self, *a, **k):
        out = real(self, *a, **k)
        return type(out)(out.audio, out.sample_rate, (), out.phonemes, out.phonemes_ipa)

    monkeypatch.setattr(Espeak, "_synthesize_here", no_events)
    try:
        again = es.synthesize(*args, rate=170, pitch=50, pitch_range=50)
    finally:
        for _, pool in espeak_module._CLEAN_RENDERER:
            pool.shutdown()
        espeak_module._CLEAN_RENDERER.clear()
    assert again.phoneme_starts == expected.phoneme_starts and np.array_equal(again.audio, expected.audio)


def test_phoneme_timings_lie_in_the_audio_and_follow_the_speech(tiny):
    _, manifest = tiny
    for row in manifest.itertuples():
        t = phoneme_timings(row.path)
        assert len(t) >= 5
        starts, ends = t["start_s"].to_numpy(), t["end_s"].to_numpy()
        assert (np.diff(starts) >= 0).all() and (ends >= starts).all()
        assert (ends[:-1] == starts[1:]).all()  # contiguous: each phoneme ends where the next starts
        assert starts[0] > 0.05 and ends[-1] <= row.duration_s  # after the leading silence, inside the file
        # Independent check that the timings are in the final audio's time (padding accounted for):
        # the padded lead before the first phoneme holds only channel noise, far below the speech.
        x, sr = sf.read(row.path)
        lead = x[: int((starts[0] - 0.01) * sr)]
        speech = x[int(starts[0] * sr): int(ends[-1] * sr)]
        assert 10 * np.log10(np.mean(speech ** 2) / np.mean(lead ** 2)) > 6
        meta = json.loads(Path(row.path).with_suffix(".json").read_text())
        assert meta["phonemes"] and meta["phonemes_ipa"] and meta["text"] == row.text
    zh = json.loads(Path(manifest.query("language == 'zh'")["path"].iloc[0]).with_suffix(".json").read_text())
    assert any(ch.isdigit() for ch in zh["phonemes"])  # Mandarin phonemes carry tone numbers


def test_cache_is_reused_without_rendering(tiny, monkeypatch):
    build, manifest = tiny
    mtimes = {p: p.stat().st_mtime_ns for p in (build / "wav").iterdir()}

    def no_render(*args, **kwargs):
        raise AssertionError("rendered although the build is cached")

    monkeypatch.setattr(build_mod, "render_to_disk", no_render)
    result = build_corpus(make_config(TINY), root=build.parent, progress=False)
    assert result.reused and result.rendered == 0 and result.path == build
    monkeypatch.setenv("EMOBENCH_HOME", str(build.parent.parent.parent))
    again, _ = load_corpus("embedded", None, progress=False, **TINY)
    pd.testing.assert_frame_equal(again, manifest)
    assert {p: p.stat().st_mtime_ns for p in (build / "wav").iterdir()} == mtimes


def test_interrupted_build_is_not_complete_and_resumes_to_the_same_corpus(tiny, tmp_path, monkeypatch):
    build, _ = tiny
    real = build_mod.render_to_disk
    calls = []

    def dies_after_five(spec, config, wav_dir):
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(spec.utt_id)
        real(spec, config, wav_dir)

    monkeypatch.setattr(build_mod, "render_to_disk", dies_after_five)
    with pytest.raises(KeyboardInterrupt):
        build_corpus(make_config(TINY), root=tmp_path, progress=False)
    partial = tmp_path / build.name
    assert partial.is_dir() and not is_complete(partial) and not (partial / "manifest.csv").exists()
    monkeypatch.setattr(build_mod, "render_to_disk", real)
    resumed = build_corpus(make_config(TINY), root=tmp_path, progress=False)
    assert resumed.rendered == 16 - 5 and is_complete(resumed.path)
    assert corpus_digest(resumed.path) == corpus_digest(build)


def test_imbalance_knob_sets_the_neutral_share():
    for imbalance, share in ((1.0, 0.25), (3.0, 0.5), (9.0, 0.75)):
        config = EmbeddedConfig(imbalance=imbalance)
        assert config.neutral_share() == pytest.approx(share)
        emotions = pd.Series([s.emotion for s in plan_utterances(config)])
        assert len(emotions) == config.size == 3000
        assert (emotions == "neutral").mean() == pytest.approx(share, abs=1e-3)
        others = emotions[emotions != "neutral"].value_counts()
        assert others.max() - others.min() <= len(config.languages)  # the other emotions share the rest evenly


def test_tiny_build_has_the_planned_emotions(tiny):
    _, manifest = tiny
    planned = pd.Series([s.emotion for s in plan_utterances(make_config(TINY))], name="emotion").value_counts()
    planned = planned.sort_index()
    pd.testing.assert_series_equal(manifest["emotion"].value_counts().sort_index(), planned)
    assert planned["neutral"] == 8  # imbalance 3 with 4 classes: half the corpus


def test_default_plan_languages_speakers_and_parallel_sentences():
    specs = plan_utterances(EmbeddedConfig())
    plan = pd.DataFrame([{"language": s.speaker.language, "speaker": s.speaker.speaker_id, "gender": s.speaker.gender,
                          "variant": s.speaker.variant, "sentence": s.sentence, "emotion": s.emotion} for s in specs])
    assert {"zh", "en", "de", "fr", "es", "it"} <= set(plan["language"])
    per_lang = plan.groupby("language")
    assert (per_lang["speaker"].nunique() >= 8).all() and (per_lang["gender"].nunique() == 2).all()
    assert (per_lang["variant"].nunique() >= 8).all()
    assert (per_lang["sentence"].nunique() >= 20).all()
    assert (plan.groupby("speaker")["emotion"].nunique() == 4).all()
    # Parallel data: an emotional utterance's sentence is also spoken neutrally by the same speaker.
    neutral = set(map(tuple, plan.loc[plan.emotion == "neutral", ["speaker", "sentence"]].to_numpy()))
    emotional = plan.loc[plan.emotion != "neutral", ["speaker", "sentence"]].to_numpy()
    assert np.mean([tuple(r) in neutral for r in emotional]) > 0.95
    assert plan.groupby(["speaker", "sentence"])["emotion"].nunique().max() == 4
    assert 2000 <= len(plan) <= 5000


def test_speakers_have_their_own_baselines():
    speakers = make_speakers("de", 8, 4, seed=0)
    assert len({s.variant for s in speakers}) == 8 and {s.gender for s in speakers} == {"female", "male"}
    for attr in ("pitch", "pitch_range", "rate"):
        assert len({round(getattr(s, attr), 3) for s in speakers}) == 8
    assert len({s.session for s in speakers}) == 4
    assert make_speakers("de", 4, 2, seed=0)[:4][1].variant == speakers[1].variant  # growing keeps speakers


def test_emotions_shift_prosody_and_difficulty_blurs_them():
    speaker = make_speakers("en", 1, 1, seed=0)[0]

    def draws(emotion, difficulty):
        rng = np.random.default_rng(0)
        return pd.DataFrame([draw_prosody(emotion, speaker, difficulty, rng).to_dict() for _ in range(400)])

    easy = {e: draws(e, 0.0) for e in CORE4}
    assert easy["happy"].pitch.mean() > easy["neutral"].pitch.mean() > easy["sad"].pitch.mean()
    assert easy["sad"].rate.mean() < easy["neutral"].rate.mean() < easy["angry"].rate.mean()
    assert easy["angry"].gain_db.mean() > easy["neutral"].gain_db.mean() > easy["sad"].gain_db.mean()
    assert easy["angry"].tilt_db.mean() > easy["neutral"].tilt_db.mean() > easy["sad"].tilt_db.mean()
    assert easy["sad"].breath.mean() > easy["neutral"].breath.mean()

    def separation(table):  # pitch-range gap between happy and sad in units of their spread
        a, b = table["happy"].pitch_range, table["sad"].pitch_range
        return (a.mean() - b.mean()) / np.sqrt((a.var() + b.var()) / 2)

    hard = {e: draws(e, 1.0) for e in ("happy", "sad")}
    assert separation(easy) > 2 * separation(hard) > 0


def test_bad_options_raise_config_errors_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="sizee"):
        load_corpus("embedded", tmp_path, sizee=10)
    with pytest.raises(ConfigError, match="'difficulty'"):
        load_corpus("embedded", tmp_path, difficulty=2.0)
    with pytest.raises(ConfigError, match="'languages'.*xx"):
        load_corpus("embedded", tmp_path, languages="en,xx")
    with pytest.raises(ConfigError, match="'emotions'"):
        load_corpus("embedded", tmp_path, emotions="happy,sad")  # neutral is required
    with pytest.raises(ConfigError, match="sessions_per_language"):
        load_corpus("embedded", tmp_path, speakers_per_language=2, sessions_per_language=3)
    assert not any(tmp_path.iterdir())  # nothing built on a bad config


def test_cli_build_and_info(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["corpus", "build", "--size", "16", "--languages", "en,zh", "--jobs", "1",
                                 "--no-progress", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output and "built 16 utterances" in result.output
    again = runner.invoke(app, ["corpus", "build", "--size", "16", "--languages", "en,zh", "--no-progress",
                                "--root", str(tmp_path)])
    assert again.exit_code == 0 and "reused the cached build" in again.output
    info = runner.invoke(app, ["corpus", "info", "--root", str(tmp_path)])
    assert info.exit_code == 0, info.output
    line = next(ln for ln in info.output.splitlines() if "SYNTHETIC" in ln)
    assert " 16 " in line and "en,zh" in line and "n_neutral" in info.output
    bad = runner.invoke(app, ["corpus", "build", "--difficulty", "3", "--root", str(tmp_path)])
    assert bad.exit_code == 2 and "difficulty" in bad.output
    missing = runner.invoke(app, ["corpus", "info", "emodb", "--root", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "emodb" in missing.output
