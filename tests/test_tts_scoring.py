"""score-tts: manifest validation by row, metrics per utterance, summary, judge hook, MLflow, CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.errors import ManifestError
from benchmark.tts.mcd import mcd_settings
from benchmark.tts.scoring import ScoringConfig, read_tts_manifest, score_tts

SR = 16000


def _voice(f0: float, seconds: float = 0.5, bright: float = 1.0) -> np.ndarray:
    n = int(seconds * SR)
    u = np.arange(n) / n
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * u)) / SR
    cutoff = bright * (500 + 2000 * u)
    x = sum(np.exp(-k * f0 / cutoff) * np.sin(k * phase) for k in range(1, 25))
    return 0.2 * x / np.abs(x).max()


class ScriptedAsr:
    """A transcriber double: returns fixed transcripts per file name, records like a real one."""

    def __init__(self, transcripts: dict[str, str]):
        self.transcripts = transcripts
        self.languages: list = []

    def transcribe_files(self, paths, languages=None, *, progress=True):
        self.languages = list(languages)
        return [self.transcripts[str(p).rsplit("/", 1)[-1]] for p in paths]

    def record(self):
        return {"backend": "scripted", "model": "none", "model_sha256": "n/a", "compute_type": "n/a",
                "beam_size": 1, "temperature": 0.0, "language": "per-utterance"}


@pytest.fixture()
def corpus(tmp_path):
    """Three synthesized utterances; two with references (one identical to its synthesis)."""
    files = {"s1.wav": _voice(120), "s2.wav": _voice(180, 0.6), "s3.wav": _voice(150),
             "r1.wav": _voice(120), "r2.wav": _voice(200, 0.5, bright=0.7)}
    for name, wave in files.items():
        sf.write(tmp_path / name, wave, SR)
    rows = [
        {"utt_id": "u1", "wav": "s1.wav", "reference": "r1.wav", "text": "The cat sat.", "emotion": "happy"},
        {"utt_id": "u2", "wav": "s2.wav", "reference": "r2.wav", "text": "Hello world", "emotion": "sad"},
        {"utt_id": "u3", "wav": "s3.wav", "reference": "", "text": "Good morning to you", "emotion": "happy",
         "language": "en"},
    ]
    asr = ScriptedAsr({"s1.wav": "the cat sat", "s2.wav": "hello word", "s3.wav": "good morning you"})
    return tmp_path, rows, asr


def _write_csv(path, rows):
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_bad_rows_are_all_reported_by_row(corpus):
    d, rows, _ = corpus
    (d / "garbage.wav").write_bytes(b"RIFF but not really")
    bad = rows + [
        {"utt_id": "b1", "wav": "missing.wav", "text": "x y", "emotion": "sad"},
        {"utt_id": "b2", "wav": "garbage.wav", "text": "x y", "emotion": "sad"},
        {"utt_id": "b3", "wav": "s1.wav", "text": "   ", "emotion": "sad"},
        {"utt_id": "b4", "wav": "s1.wav", "text": "ok", "emotion": "grumpy"},
        {"utt_id": "b5", "wav": "s1.wav", "reference": "gone.wav", "text": "ok", "emotion": "sad"},
        {"utt_id": "b6", "wav": "s1.wav", "text": "?!", "emotion": "sad"},
        {"utt_id": "u1", "wav": "s2.wav", "text": "dup", "emotion": "sad"},
    ]
    man = _write_csv(d / "bad.csv", bad)
    with pytest.raises(ManifestError) as err:
        score_tts(man, d / "out", ScoringConfig(), transcriber=ScriptedAsr({}), log_mlflow=False, progress=False)
    msg = str(err.value)
    assert "8 problem(s)" in msg  # 7 bad rows + the first u1, which the duplicate makes ambiguous
    for expected in ["row 4 (utt_id='b1'", "missing audio file", "row 5 (utt_id='b2'", "unreadable audio file",
                     "row 6 (utt_id='b3'", "empty text", "unknown emotion 'grumpy'", "reference: missing audio",
                     "'?!' is empty after whisper_english normalisation", "duplicate utt_id 'u1'", "row 1 "]:
        assert expected in msg
    assert not (d / "out" / "per_utterance.csv").exists()


def test_skip_bad_writes_the_skipped_rows_and_scores_the_rest(corpus):
    d, rows, asr = corpus
    man = _write_csv(d / "m.csv", rows + [{"utt_id": "b1", "wav": "missing.wav", "text": "x", "emotion": "sad"}])
    res = score_tts(man, d / "out", ScoringConfig(), transcriber=asr, skip_bad=True, log_mlflow=False,
                    progress=False)
    skipped = pd.read_csv(res.files["skipped_rows"])
    assert len(skipped) == 1 and "b1" in skipped.loc[0, "entry"] and "missing audio file" in skipped.loc[0, "reason"]
    assert res.summary["n_skipped"] == 1 and res.summary["n_utterances"] == 3


def test_metrics_summary_judge_and_files(corpus):
    d, rows, asr = corpus
    man = _write_csv(d / "m.csv", rows)
    judge_calls = []

    def judge(paths):
        judge_calls.append(paths)
        return ["happy", "happy", "sad"]  # u1 right, u2 wrong (sad), u3 wrong (happy)

    res = score_tts(man, d / "out", ScoringConfig(), transcriber=asr, judge=judge,
                    judge_info={"name": "svm-judge", "heldout_accuracy": 0.81}, log_mlflow=False, progress=False)
    t = res.per_utterance.set_index("utt_id")
    s = res.summary
    # WER: u1 0/3, u2 1 sub/2, u3 1 del/4 -> corpus 2/9; mean (0 + 1/2 + 1/4) / 3
    assert s["wer"] == pytest.approx(2 / 9)
    assert s["wer_mean"] == pytest.approx((0 + 0.5 + 0.25) / 3)
    assert s["wer.en"] == pytest.approx(2 / 9)
    assert asr.languages == ["en", "en", "en"]
    # MCD: identical synthesis/reference -> 0; a different voice -> clearly > 0; no reference -> NaN
    assert t.loc["u1", "mcd_db"] == pytest.approx(0.0, abs=1e-9)
    assert t.loc["u2", "mcd_db"] > 1.0
    assert np.isnan(t.loc["u3", "mcd_db"])
    assert s["mcd_db"] == pytest.approx(t.loc["u2", "mcd_db"] / 2)
    assert t.loc["u1", "f0_rmse_cents"] == pytest.approx(0.0, abs=1e-6)
    assert t.loc["u2", "duration_ratio"] == pytest.approx(1.2, abs=1e-3)
    assert t.loc["u2", "f0_rmse_cents"] > 100  # 180 vs 200 Hz is ~182 cents
    # judge: accuracy 1/3; recall happy 1/2, sad 0/1
    assert judge_calls == [[str(d / "s1.wav"), str(d / "s2.wav"), str(d / "s3.wav")]]
    assert s["emotion_accuracy"] == pytest.approx(1 / 3)
    assert (s["emotion_recall.happy"], s["emotion_recall.sad"]) == (0.5, 0.0)
    assert s["judge_heldout_accuracy"] == 0.81
    # files
    table = pd.read_csv(res.files["per_utterance"])
    assert list(table["utt_id"]) == ["u1", "u2", "u3"] and "hypothesis" in table.columns
    payload = json.loads(res.files["summary_json"].read_text())
    assert payload["summary"]["wer"] == pytest.approx(2 / 9)
    assert payload["settings"]["mcd"]["preset"] == "default" and payload["settings"]["asr"]["backend"] == "scripted"
    assert payload["settings"]["judge"]["name"] == "svm-judge"
    md = res.files["summary_md"].read_text()
    assert "| wer | 0.2222 |" in md and "c0 excluded" in md and "corpus-level" in md


def test_jsonl_manifest_with_aliases_and_defaults(corpus):
    d, rows, _ = corpus
    lines = [{"path": "s1.wav", "ref_wav": "r1.wav", "text": "a b", "emotion": "Happy"},
             {"path": str(d / "s3.wav"), "text": "c", "emotion": "sad", "ref_wav": None}]
    (d / "m.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    df = read_tts_manifest(d / "m.jsonl")
    assert list(df["wav"]) == [str(d / "s1.wav"), str(d / "s3.wav")]
    assert list(df["reference"]) == [str(d / "r1.wav"), ""]
    assert list(df["utt_id"]) == ["s1", "s3"] and list(df["language"]) == ["en", "en"]
    assert list(df["emotion"]) == ["happy", "sad"]


def test_mlflow_run_holds_settings_metrics_and_tables(corpus, tmp_path):
    from mlflow.tracking import MlflowClient

    d, rows, asr = corpus
    man = _write_csv(d / "m.csv", rows)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    res = score_tts(man, d / "out", ScoringConfig(), transcriber=asr, log_mlflow=True, tracking_uri=uri,
                    progress=False)
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(res.run_id)
    assert client.get_experiment(run.info.experiment_id).name == "tts-scoring"
    assert run.info.status == "FINISHED"
    assert run.data.metrics["wer"] == pytest.approx(2 / 9)
    assert run.data.params["mcd.preset"] == "default" and run.data.params["asr.backend"] == "scripted"
    assert run.data.params["mcd.include_c0"] == "False"
    artifacts = {a.path for a in client.list_artifacts(res.run_id)}
    assert {"per_utterance.csv", "summary.json", "summary.md"} <= artifacts


def test_cli_scores_without_asr_and_reports_bad_rows(corpus, monkeypatch):
    d, rows, _ = corpus
    monkeypatch.chdir(d)
    _write_csv(d / "m.csv", rows)
    runner = CliRunner()
    ok = runner.invoke(app, ["score-tts", "m.csv", "--out", "o", "--no-asr", "--no-mlflow", "--no-progress",
                             "--mcd-preset", "pymcd"])
    assert ok.exit_code == 0, ok.output
    assert "MCD[pymcd]" in ok.output and (d / "o" / "per_utterance.csv").exists()
    assert "wer" not in pd.read_csv(d / "o" / "per_utterance.csv").columns
    _write_csv(d / "bad.csv", rows + [{"utt_id": "x", "wav": "nope.wav", "text": "t", "emotion": "sad"}])
    bad = runner.invoke(app, ["score-tts", "bad.csv", "--no-asr", "--no-mlflow", "--no-progress"])
    assert bad.exit_code == 2 and "row 4 (utt_id='x'" in bad.output and "missing audio file" in bad.output
    unknown = runner.invoke(app, ["score-tts", "m.csv", "--no-asr", "--no-mlflow", "--mcd-preset", "htk"])
    assert unknown.exit_code == 2 and "unknown MCD preset 'htk'" in unknown.output


def test_analysis_failures_are_reported_by_their_manifest_row(corpus):
    d, rows, asr = corpus
    sf.write(d / "tiny.wav", 0.1 * np.ones(50), SR)  # shorter than one ESPnet analysis frame
    bad = [{"utt_id": "b0", "wav": "missing.wav", "text": "x", "emotion": "sad"}] + rows + [
        {"utt_id": "b4", "wav": "s3.wav", "reference": "tiny.wav", "text": "good morning", "emotion": "sad"}]
    man = _write_csv(d / "m.csv", bad)
    config = ScoringConfig(mcd=mcd_settings("espnet"))
    with pytest.raises(ManifestError, match=r"row 1 \(utt_id='b0'"):
        score_tts(man, d / "o1", config, transcriber=asr, log_mlflow=False, progress=False)
    res = score_tts(man, d / "o2", config, transcriber=asr, skip_bad=True, log_mlflow=False, progress=False)
    entries = [e for e, _ in res.skipped.skipped]
    assert entries[0].startswith("row 1 (utt_id='b0'")
    assert entries[1].startswith("row 5 (utt_id='b4'")  # its row in the file, not after dropping row 1
    assert "shorter than one 1024-sample frame" in res.skipped.skipped[1][1]
    assert list(res.per_utterance["utt_id"]) == ["u1", "u2", "u3"]
    assert list(res.per_utterance["manifest_row"]) == [2, 3, 4]


def test_jobs_give_identical_results(corpus, monkeypatch):
    """--jobs N spreads MCD and prosody over processes: the same tables, summary and failures as --jobs 1."""
    d, rows, asr = corpus
    sf.write(d / "tiny.wav", 0.1 * np.ones(50), SR)
    more = rows + [
        {"utt_id": "u4", "wav": "s2.wav", "reference": "r1.wav", "text": "Hello there", "emotion": "angry"},
        {"utt_id": "u5", "wav": "s3.wav", "reference": "r2.wav", "text": "Good night", "emotion": "sad"},
        {"utt_id": "b6", "wav": "s1.wav", "reference": "tiny.wav", "text": "good morning", "emotion": "sad"}]
    man = _write_csv(d / "m.csv", more)
    asr.transcripts.update({"s2.wav": "hello word"})
    config = ScoringConfig(mcd=mcd_settings("espnet"))
    results = []
    for jobs in (1, 3):
        monkeypatch.setenv("EMOBENCH_HOME", str(d / f"home{jobs}"))  # cold reference caches for both
        results.append(score_tts(man, d / f"o{jobs}", config, transcriber=asr, skip_bad=True, log_mlflow=False,
                                 progress=False, jobs=jobs))
    one, three = results
    pd.testing.assert_frame_equal(one.per_utterance, three.per_utterance)
    assert one.summary == three.summary and one.skipped.skipped == three.skipped.skipped
    assert one.per_utterance["mcd_db"].notna().sum() == 4 and len(one.skipped.skipped) == 1
    assert (d / "o1" / "summary.md").read_text() == (d / "o3" / "summary.md").read_text()


def test_cli_jobs_option(corpus, monkeypatch):
    d, rows, _ = corpus
    monkeypatch.chdir(d)
    _write_csv(d / "m.csv", rows)
    runner = CliRunner()
    outputs = []
    for jobs in ("1", "2"):
        res = runner.invoke(app, ["score-tts", "m.csv", "--out", f"o{jobs}", "--no-asr", "--no-mlflow",
                                  "--no-progress", "--jobs", jobs])
        assert res.exit_code == 0, res.output
        outputs.append(pd.read_csv(d / f"o{jobs}" / "per_utterance.csv"))
    pd.testing.assert_frame_equal(*outputs)
    bad = runner.invoke(app, ["score-tts", "m.csv", "--no-asr", "--no-mlflow", "--jobs", "-1"])
    assert bad.exit_code == 2 and "Invalid value for '--jobs'" in bad.output
