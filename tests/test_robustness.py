"""Bad inputs a new user meets (issue 19): each is named (file, row or line, field), never a traceback.

score-tts on silent, NaN-carrying, truncated and empty wavs and on malformed CSV manifests; the
markdown leaderboard's escaping; a foreign model in the registry; the corpus tag of a CSV corpus;
`emobench corpus info` with loader options.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

import corpus_fixtures as fx
from benchmark.cli import app
from benchmark.errors import ManifestError
from benchmark.tts.scoring import ScoringConfig, score_tts

SR = 16000


def _voice(f0: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.exp(-k / 6) * np.sin(2 * np.pi * k * f0 * (1 + 0.05 * t) * t) for k in range(1, 12))
    return (0.2 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture()
def tts_dir(tmp_path):
    """Three good synthesized utterances with references, and the bad wavs of the issue."""
    for i, f0 in enumerate((120, 150, 180), start=1):
        sf.write(tmp_path / f"s{i}.wav", _voice(f0), SR)
        sf.write(tmp_path / f"r{i}.wav", _voice(f0 * 1.05), SR)
    sf.write(tmp_path / "silent.wav", np.zeros(SR // 2, dtype=np.float32), SR)
    nan = _voice(130)
    nan[100:110] = np.nan
    sf.write(tmp_path / "nan.wav", nan, SR, subtype="FLOAT")
    good = (tmp_path / "s1.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(good[:2000])  # header intact, samples cut short
    (tmp_path / "zero.wav").write_bytes(b"")
    return tmp_path


GOOD = [{"utt_id": f"u{i}", "wav": f"s{i}.wav", "reference": f"r{i}.wav", "text": "hello there",
         "emotion": "happy"} for i in (1, 2, 3)]


def _manifest(d, rows, name="m.csv"):
    pd.DataFrame(rows).to_csv(d / name, index=False)
    return d / name


def _score(path, out, **kw):
    return score_tts(path, out, ScoringConfig(asr=None), log_mlflow=False, progress=False, **kw)


BAD_WAVS = {
    "silent.wav": "silent audio file {} (peak below -100 dBFS)",
    "nan.wav": "corrupt audio file {} (10 of 8000 samples are NaN or infinite)",
    "cut.wav": "truncated audio file {} (the header declares 16000 bytes of sample data, the file holds 1956)",
    "zero.wav": "empty audio file {} (0 bytes)",
}


@pytest.mark.parametrize("wav", list(BAD_WAVS))
@pytest.mark.parametrize("column", ["wav", "reference"])
def test_score_tts_names_a_bad_wav_and_skip_bad_leaves_the_mean_untouched(tts_dir, wav, column):
    bad = {**GOOD[0], "utt_id": "bad", column: wav}
    path = _manifest(tts_dir, [*GOOD, bad])
    with pytest.raises(ManifestError) as err:
        _score(path, tts_dir / "o1")
    prefix = "reference: " if column == "reference" else ""
    kind = BAD_WAVS[wav].split(" {}")[0]
    assert str(err.value).startswith(f"{path}: 1 problem(s):")
    assert err.value.problems == [f"row 4 (utt_id='bad', wav={str(tts_dir / bad['wav'])!r}): "
                                  f"{prefix}{BAD_WAVS[wav].format(tts_dir / wav)}"]
    skipped = _score(path, tts_dir / "o2", skip_bad=True)
    clean = _score(_manifest(tts_dir, GOOD, "good.csv"), tts_dir / "o3")
    assert skipped.summary["n_utterances"] == 3 and skipped.summary["n_skipped"] == 1
    assert skipped.summary["mcd_db"] == pytest.approx(clean.summary["mcd_db"])  # the bad row moved nothing
    assert np.isfinite(skipped.per_utterance["f0_rmse_hz"]).all()
    listed = pd.read_csv(skipped.files["skipped_rows"])
    assert listed["entry"].tolist() == [f"row 4 (utt_id='bad', wav={str(tts_dir / bad['wav'])!r})"]
    assert kind in listed.loc[0, "reason"]


@pytest.mark.parametrize("extra, message", [
    ("u9,s1.wav,r1.wav,hello, there,happy", "line 5: 6 fields where the header has 5 (an unquoted comma in a cell?)"),
    ("u9,s1.wav", "line 5: 2 fields where the header has 5 (cells missing)"),
])
def test_score_tts_csv_line_with_the_wrong_number_of_fields(tts_dir, extra, message):
    path = _manifest(tts_dir, GOOD)
    path.write_text(path.read_text() + extra + "\n")
    with pytest.raises(ManifestError) as err:
        _score(path, tts_dir / "o1")
    assert str(err.value).startswith(f"{path}: 1 problem(s):")
    assert err.value.problems[0].startswith("row 4 (") and err.value.problems[0].endswith(message)
    result = _score(path, tts_dir / "o2", skip_bad=True)
    assert result.summary["n_utterances"] == 3 and [r for _, r in result.skipped.skipped] == [message]


def test_score_tts_jsonl_lines_that_are_not_objects(tts_dir):
    import json

    path = tts_dir / "m.jsonl"
    path.write_text("\n".join([json.dumps(GOOD[0]), "{not json", "[1, 2]", json.dumps(GOOD[1])]) + "\n")
    with pytest.raises(ManifestError) as err:
        _score(path, tts_dir / "o")
    reasons = [p.split("): ", 1)[1] for p in err.value.problems]
    assert reasons == ["line 2: not valid JSON (Expecting property name enclosed in double quotes)",
                       "line 3: not a JSON object"]


def test_score_tts_cli_names_the_file_and_skip_bad_lists_what_it_skipped(tts_dir, monkeypatch):
    monkeypatch.chdir(tts_dir)
    path = _manifest(tts_dir, [*GOOD, {**GOOD[0], "utt_id": "quiet", "wav": "silent.wav"}])
    runner = CliRunner()
    args = ["score-tts", str(path), "--no-asr", "--no-mlflow", "--no-progress", "--out", "o"]
    bad = runner.invoke(app, args)
    assert bad.exit_code == 2
    assert f"error: {path}: 1 problem(s):" in bad.output
    assert f"row 4 (utt_id='quiet', wav={str(tts_dir / 'silent.wav')!r}): silent audio file" in bad.output
    ok = runner.invoke(app, [*args, "--skip-bad"])
    assert ok.exit_code == 0, ok.output
    assert "skipped 1 bad row(s) (--skip-bad; listed in o/skipped_rows.csv):" in ok.output
    assert "  - row 4 (utt_id='quiet'" in ok.output and "silent audio file" in ok.output
    # a CSV pandas cannot tokenize: the file and line, not pandas' "Error tokenizing data"
    path.write_text(path.read_text() + "a,b,c,d,e,f,g\n")
    broken = runner.invoke(app, args)
    assert broken.exit_code == 2 and "Error tokenizing" not in broken.output
    assert "line 6: 7 fields where the header has 5" in broken.output and str(path) in broken.output
