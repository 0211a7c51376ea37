"""The judge SER classifier: trains on ground truth, labels wav paths, reports held-out accuracy, plugs into
score_tts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from benchmark.errors import ConfigError
from benchmark.tts.judge import EmotionJudge, JudgeConfig, train_judge

TINY = dict(size=32, languages="en", speakers_per_language=2, sessions_per_language=1, sentences_per_language=6,
            imbalance=1.0)  # same corpus as test_tts_model.py: built once per session


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    from benchmark.corpora import load_corpus
    import benchmark.corpora._register_all  # noqa: F401

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMOBENCH_HOME", str(tmp_path_factory.getbasetemp() / "tts_home"))
        manifest, _ = load_corpus("embedded", None, progress=False, **TINY)
    return manifest


@pytest.fixture()
def split(corpus, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("EMOBENCH_HOME", str(tmp_path_factory.getbasetemp() / "tts_home"))
    texts = sorted(corpus["text"].unique())
    test = corpus["text"].isin(texts[:2])  # two held-out sentences
    return corpus[~test].reset_index(drop=True), corpus[test].reset_index(drop=True)


@pytest.fixture()
def judge(split) -> EmotionJudge:
    train, heldout = split
    return train_judge(train, heldout, feature="functionals")


def test_judge_labels_wavs_and_reports_its_heldout_accuracy(judge, split):
    train, heldout = split
    labels = judge(list(heldout["path"]))
    assert len(labels) == len(heldout) and set(labels) <= set(judge.classes)
    assert judge.classes == sorted(train["emotion"].unique())
    # the recorded held-out accuracy is the accuracy of what the callable says on those files
    y = heldout["emotion"].to_numpy()
    assert judge.info["heldout_accuracy"] == pytest.approx(accuracy_score(y, labels))
    assert judge.info["heldout_ua"] == pytest.approx(balanced_accuracy_score(y, labels))
    assert judge.info["n_train"] == len(train) and judge.info["n_heldout"] == len(heldout)
    assert np.sum(judge.info["heldout_confusion"]) == len(heldout)
    assert judge([]) == []


def test_judge_learns_its_training_set(judge, split):
    train, _ = split
    # functionals of eSpeak emotions separate well on the utterances it was fitted on
    assert accuracy_score(train["emotion"], judge(list(train["path"]))) > 0.8


def test_save_load_round_trip_predicts_the_same(judge, split, tmp_path):
    _, heldout = split
    loaded = EmotionJudge.load(judge.save(tmp_path / "judge"))
    assert loaded(list(heldout["path"])) == judge(list(heldout["path"]))
    assert loaded.info == judge.info


def test_bad_training_inputs_raise(split):
    train, heldout = split
    with pytest.raises(ConfigError, match="at least two emotions"):
        train_judge(train[train["emotion"] == "sad"], feature="functionals")
    with pytest.raises(ConfigError, match="frame-level"):
        train_judge(train, feature="logmel")
    with pytest.raises(ConfigError, match="unknown feature"):
        train_judge(train, feature="nope")
    with pytest.raises(ConfigError, match="not trained on"):
        train_judge(train[train["emotion"] != "sad"], heldout, feature="functionals")
    with pytest.raises(Exception, match="extra"):
        JudgeConfig(features="egemaps")


def test_score_tts_uses_the_judge_and_reports_its_accuracy_beside(judge, split, tmp_path):
    from benchmark.tts.scoring import ScoringConfig, score_tts

    _, heldout = split
    table = pd.DataFrame({"utt_id": heldout["utt_id"], "wav": heldout["path"], "text": heldout["text"],
                          "emotion": heldout["emotion"], "reference": "", "language": "en"})
    result = score_tts(table, tmp_path / "scores", ScoringConfig(asr=None), judge=judge, judge_info=judge.info,
                       log_mlflow=False, progress=False)
    expected = float(np.mean(np.array(judge(list(heldout["path"]))) == heldout["emotion"].to_numpy()))
    assert result.summary["emotion_accuracy"] == pytest.approx(expected)
    assert result.summary["judge_heldout_accuracy"] == pytest.approx(judge.info["heldout_accuracy"])
    # the judge scored ground truth here, so its TTS accuracy is its own held-out accuracy
    assert result.summary["emotion_accuracy"] == pytest.approx(judge.info["heldout_accuracy"])


def test_default_judge_labels_griffin_lim_resyntheses_like_the_recordings(split, tmp_path):
    """The judge must hear emotion, not the vocoder: on Griffin-Lim resyntheses of held-out recordings
    (from their true log-mel) the default judge mostly gives the labels it gives the recordings, and
    agrees with itself more often than an eGeMAPS judge, whose voice-quality features Griffin-Lim upsets."""
    from benchmark.features import extract_features
    from benchmark.features.spectral import LogMelConfig
    from benchmark.tts.synthesize import write_wav
    from benchmark.tts.vocoder import make_vocoder

    train, heldout = split
    judge = train_judge(train)
    assert judge.config.feature == "functionals"
    vocoder = make_vocoder("griffin_lim", LogMelConfig())
    mels = extract_features(heldout, LogMelConfig(), progress=False)
    resynth = [str(write_wav(tmp_path / f"{u}.wav", vocoder(mels[u]), 16000)) for u in heldout["utt_id"]]

    def agreement(j: EmotionJudge) -> float:
        return float(np.mean(np.array(j(resynth)) == np.array(j(list(heldout["path"])))))

    assert agreement(judge) >= 0.75
    assert agreement(train_judge(train, feature="egemaps")) < agreement(judge)


def test_score_tts_cli_trains_saves_and_reuses_a_judge(split, tmp_path):
    """`score-tts --judge MANIFEST` trains a judge on ground truth (speakers held out for its own accuracy),
    scores emotion accuracy, saves the judge; `--judge OUT/judge` reuses it with the same labels."""
    import json

    from typer.testing import CliRunner

    from benchmark.cli import app
    from benchmark.manifest import write_manifest

    train, heldout = split
    write_manifest(train, tmp_path / "gt.csv")
    pd.DataFrame({"utt_id": heldout["utt_id"], "wav": heldout["path"], "text": heldout["text"],
                  "emotion": heldout["emotion"]}).to_csv(tmp_path / "tts.csv", index=False)
    runner = CliRunner()
    common = ["--no-asr", "--no-mlflow", "--no-progress"]
    first = runner.invoke(app, ["score-tts", str(tmp_path / "tts.csv"), "--out", str(tmp_path / "o1"),
                                "--judge", str(tmp_path / "gt.csv"), *common])
    assert first.exit_code == 0, first.output
    table = pd.read_csv(tmp_path / "o1" / "per_utterance.csv")
    summary = json.loads((tmp_path / "o1" / "summary.json").read_text())["summary"]
    assert summary["emotion_accuracy"] == pytest.approx(float((table["judge_pred"] == table["emotion"]).mean()))
    saved = EmotionJudge.load(tmp_path / "o1" / "judge")
    assert saved.info["n_train"] + saved.info["n_heldout"] == len(train)  # a held-out speaker measures it
    assert summary["judge_heldout_accuracy"] == pytest.approx(saved.info["heldout_accuracy"])
    again = runner.invoke(app, ["score-tts", str(tmp_path / "tts.csv"), "--out", str(tmp_path / "o2"),
                                "--judge", str(tmp_path / "o1" / "judge"), *common])
    assert again.exit_code == 0, again.output
    assert list(pd.read_csv(tmp_path / "o2" / "per_utterance.csv")["judge_pred"]) == list(table["judge_pred"])
    missing = runner.invoke(app, ["score-tts", str(tmp_path / "tts.csv"), "--judge", str(tmp_path / "nope.csv"),
                                  *common])
    assert missing.exit_code == 2 and "nope.csv does not exist" in missing.output
