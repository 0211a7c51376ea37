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


# ---------------------------------------------------------------------------- leaderboard.md escaping

def test_leaderboard_markdown_escapes_the_title_and_description_like_the_html(tmp_path):
    from test_results import FakeSuite, make_test_set, new_store, predictions

    from benchmark import leaderboard as lb

    uri = new_store(tmp_path)
    rng = np.random.default_rng(0)
    suite = FakeSuite(uri, "esc").start()
    test = make_test_set(rng, "fold0")
    for method, skill in (("a", 0.8), ("b", 0.5)):
        for seed in (0, 1):
            suite.cell(method=method, fold="fold0", seed=seed, pred=predictions(rng, test, skill))
    suite.finish()
    definition = lb.parse_definition({
        "title": "<script>alert('t')</script> & co", "description": "<img src=x onerror=alert(1)>\n*bold* stays",
        "suite": "esc", "protocol": "speaker_kfold", "rank_by": "ua", "columns": ["ua"], "n_bootstrap": 100}, "esc")
    board = lb.build_leaderboard(definition, uri, progress=False)
    md, page = lb.to_markdown(board), lb.to_html(board)
    assert "<script>" not in md and "<img" not in md
    assert md.startswith("# &lt;script&gt;alert('t')&lt;/script&gt; &amp; co\n\n"
                         "&lt;img src=x onerror=alert(1)&gt;\n*bold* stays\n")
    assert "<h1>&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt; &amp; co</h1>" in page  # the HTML output's escaping


# ---------------------------------------------------------------------------- load_registered on a foreign model

def test_load_registered_refuses_a_foreign_model_before_running_any_of_its_code(tmp_path, monkeypatch):
    import mlflow

    from benchmark.errors import EmobenchError
    from benchmark.model_registry import load_registered

    marker = tmp_path / "model code ran"
    code = tmp_path / "foreign_model.py"
    code.write_text("import pathlib\n"
                    f"pathlib.Path({str(marker)!r}).write_text('imported')\n"
                    "import mlflow.pyfunc\n"
                    "class Foreign(mlflow.pyfunc.PythonModel):\n"
                    "    def predict(self, context, model_input, params=None):\n"
                    "        return model_input\n"
                    "mlflow.models.set_model(Foreign())\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        exp = mlflow.create_experiment("foreign", artifact_location=str(tmp_path / "artifacts"))
        with mlflow.start_run(experiment_id=exp):
            mlflow.pyfunc.log_model("model", python_model=str(code), registered_model_name="someone-elses-model")
        marker.unlink()  # logging a model from code runs it once; loading must not
        with pytest.raises(EmobenchError, match=r"registered model 'someone-elses-model' \(models:/someone-elses-"
                                                r"model/1\) is not an emobench model .*nothing was loaded"):
            load_registered("someone-elses-model")
        assert not marker.exists()
    finally:
        mlflow.set_tracking_uri(None)


# ---------------------------------------------------------------------------- a suite on a CSV corpus

@pytest.fixture()
def csv_suite(tmp_path, monkeypatch):
    """A one-protocol suite on a CSV corpus of tones, run from a scratch working directory that holds a
    leaderboard definition for it (leaderboards/tones.yaml), as a user's checkout would."""
    import yaml

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMOBENCH_HOME", str(tmp_path / "home"))
    csv = fx.tone_corpus(tmp_path / "corpus")
    spec = {"name": "csvsuite", "corpora": [{"name": "csv", "root": str(csv)}], "methods": {"majority": {}},
            "protocols": [{"name": "speaker_kfold", "config": {"k": 2}}], "bootstrap": 20,
            "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}}
    (tmp_path / "csvsuite.yaml").write_text(yaml.safe_dump(spec))
    (tmp_path / "leaderboards").mkdir()
    (tmp_path / "leaderboards" / "tones.yaml").write_text(yaml.safe_dump(
        {"title": "Tones", "suite": "csvsuite", "protocol": "speaker_kfold", "corpus": "tones", "rank_by": "ua",
         "columns": ["ua"], "n_bootstrap": 100}))
    return tmp_path, spec


def test_a_csv_corpus_cell_is_tagged_with_the_corpus_own_name(csv_suite):
    from benchmark import leaderboard as lb
    from benchmark import runner, tracking
    from benchmark.suite import parse_suite

    tmp_path, spec = csv_suite
    suite = parse_suite(spec)
    summary = runner.run_suite(suite, progress=False)
    assert summary.ran == 2 and not summary.failed
    client = tracking.configure(suite.tracking.uri)
    exp = client.get_experiment_by_name(suite.experiment_name)
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`emobench.kind` = 'cell'")
    assert {r.data.tags["corpus"] for r in runs} == {"tones"}  # the CSV's own name, not the loader's ("csv")
    board = lb.build_leaderboard(lb.load_definition("tones"), suite.tracking.uri, progress=False)
    assert board.n_cells == 2  # a board that asks for `corpus: tones` finds the cells
    # a protocol may name the corpus by its loader or by its own name
    again = parse_suite({**spec, "protocols": [{**spec["protocols"][0], "corpora": ["csv"]}]})
    assert {c.corpus for c in runner.expand_grid(again, runner.load_manifests(again, progress=False))} == {"tones"}
    named = {**spec, "corpora": [{**spec["corpora"][0], "options": {"corpus": "mycorp"}}],
             "protocols": [{**spec["protocols"][0], "corpora": ["mycorp"]}]}
    cells = runner.expand_grid(parse_suite(named), runner.load_manifests(parse_suite(named), progress=False))
    assert {c.corpus for c in cells} == {"mycorp"} and {c.tags("x")["corpus"] for c in cells} == {"mycorp"}


@pytest.mark.slow
def test_run_publishes_outside_the_committed_snapshots_unless_asked(csv_suite):
    tmp_path, _ = csv_suite
    runner = CliRunner()
    committed = tmp_path / "leaderboards" / "tones"
    plain = runner.invoke(app, ["run", "csvsuite.yaml", "--no-progress"])
    assert plain.exit_code == 0, plain.output
    published = tmp_path / "reports" / "out" / "csvsuite" / "leaderboards" / "tones" / "leaderboard.md"
    assert published.is_file() and "leaderboard tones: reports/out/csvsuite/leaderboards/tones/leaderboard.md" \
        in plain.output
    assert not committed.exists()  # a plain run leaves the definitions' folder (the checkout) alone
    chosen = runner.invoke(app, ["run", "csvsuite.yaml", "--no-progress", "--publish-dir", "boards"])
    assert chosen.exit_code == 0 and (tmp_path / "boards" / "tones" / "leaderboard.md").is_file()
    assert not committed.exists()
    snapshots = runner.invoke(app, ["run", "csvsuite.yaml", "--no-progress", "--update-snapshots"])
    assert snapshots.exit_code == 0, snapshots.output
    assert (committed / "leaderboard.md").read_text() .startswith("# Tones\n")
    both = runner.invoke(app, ["run", "csvsuite.yaml", "--publish-dir", "x", "--update-snapshots"])
    assert both.exit_code == 2 and "not both" in both.output


def test_the_default_publish_folder_is_ignored_by_git():
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    probe = "reports/out/default/leaderboards/speaker_independent/leaderboard.md"
    assert subprocess.run(["git", "check-ignore", "-q", probe], cwd=repo).returncode == 0


# ---------------------------------------------------------------------------- corpus info

def test_corpus_info_takes_loader_options_and_lists_what_it_left_out(tmp_path):
    root = fx.csv_manifest(tmp_path)
    runner = CliRunner()
    base = ["corpus", "info", "csv", "--root", str(root / "mycorpus.csv")]
    listed = runner.invoke(app, [*base, "--option", "classes=neutral", "--show-excluded"])
    assert listed.exit_code == 0, listed.output
    assert "mycorpus           1" in listed.output and "n_neutral" in listed.output
    assert "1 entries left out:" in listed.output
    assert "mycorpus_u1 excluded: emotion 'angry' not in classes (neutral)" in listed.output
    counted = runner.invoke(app, [*base, "-o", "classes=neutral"])
    assert "1 entries left out (--show-excluded lists them)" in counted.output
    # validated like the Python API: unknown options and ill-typed values name the option
    unknown = runner.invoke(app, [*base, "--option", "clases=core4"])
    assert unknown.exit_code == 2 and "unknown option(s) 'clases'; known options: on_error" in unknown.output
    typed = runner.invoke(app, [*base, "--option", "check_files=maybe"])
    assert typed.exit_code == 2 and "option 'check_files'" in typed.output and "got 'maybe'" in typed.output
    malformed = runner.invoke(app, [*base, "--option", "classes"])
    assert malformed.exit_code == 2 and "expected KEY=VALUE" in malformed.output
    # mappings and None: a CSV whose codes need label_map=, CREMA-D without its demographics file
    (root / "coded.csv").write_text("utt_id,path,speaker,emotion,language\nu1,audio/u1.wav,s1,W,de\n")
    coded = runner.invoke(app, ["corpus", "info", "csv", "--root", str(root / "coded.csv"),
                                "--option", "label_map={W: angry}"])
    assert coded.exit_code == 0 and "n_angry" in coded.output, coded.output
    crema = fx.crema_d(tmp_path / "crema")
    (crema / "VideoDemographics.csv").unlink()
    assert runner.invoke(app, ["corpus", "info", "crema_d", "--root", str(crema)]).exit_code == 2
    declined = runner.invoke(app, ["corpus", "info", "crema_d", "--root", str(crema), "-o", "demographics=None"])
    assert declined.exit_code == 0 and "crema_d           4" in declined.output, declined.output


def test_corpus_info_imports_no_scipy_signal_or_torch(tmp_path):
    """`emobench corpus info` on a small corpus used to spend ~3 s importing scipy.signal (and more)."""
    import subprocess
    import sys
    from pathlib import Path

    root = fx.csv_manifest(tmp_path)
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom benchmark.cli import app\n"
            f"r = CliRunner().invoke(app, ['corpus', 'info', 'csv', '--root', {str(root / 'mycorpus.csv')!r}])\n"
            "assert r.exit_code == 0, r.output\n"
            "print(sorted(m for m in ('scipy.signal', 'scipy.stats', 'torch', 'sklearn', 'mlflow', 'librosa') "
            "if m in sys.modules))\n")
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(repo), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_run_on_a_csv_corpus_with_a_broken_line_names_the_file_and_line(tmp_path, monkeypatch):
    """`emobench run` used to exit 1 with pandas' ParserError traceback."""
    import yaml

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMOBENCH_HOME", str(tmp_path / "home"))
    csv = fx.tone_corpus(tmp_path / "corpus", speakers=2, per_emotion=1)
    csv.write_text(csv.read_text() + "extra,wav/s0_neutral_0.wav,spk0,neutral,en,male,one too many\n")
    spec = {"name": "broken", "corpora": [{"name": "csv", "root": str(csv)}], "methods": {"majority": {}},
            "protocols": [{"name": "speaker_kfold", "config": {"k": 2}}],
            "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}}
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(app, ["run", "broken.yaml", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert (f"error: tones corpus at {csv.parent}: 1 problem(s):\n"
            "  - tones.csv line 6: 7 fields where the header has 6 (an unquoted comma in a cell?)") in result.output


def test_truncation_check_walks_past_long_chunks_and_ignores_streaming_placeholders(tmp_path):
    """A LIST chunk longer than the first read before the data; a data size of 0 / 0xFFFFFFFF
    (recorders that never patched the header) is not a truncation."""
    import io
    import struct

    from benchmark.audio import header_problem

    buffer = io.BytesIO()
    sf.write(buffer, _voice(150, 0.1), SR, format="WAV", subtype="PCM_16")
    wav = buffer.getvalue()
    fmt_end = 12 + 8 + 16
    info = b"LIST" + struct.pack("<I", 10001) + b"x" * 10001 + b"\0"
    full = wav[:4] + struct.pack("<I", len(wav) - 8 + len(info)) + wav[8:fmt_end] + info + wav[fmt_end:]
    (tmp_path / "long.wav").write_bytes(full)
    assert header_problem(tmp_path / "long.wav") is None and sf.info(str(tmp_path / "long.wav")).frames == 1600
    (tmp_path / "cut.wav").write_bytes(full[:-100])
    assert str(header_problem(tmp_path / "cut.wav")) == ("truncated audio (the header declares 3200 bytes of sample "
                                                         "data, the file holds 3100)")
    for placeholder in (0, 0xFFFFFFFF):
        data = wav.index(b"data")
        patched = wav[:data + 4] + struct.pack("<I", placeholder) + wav[data + 8:]
        (tmp_path / "stream.wav").write_bytes(patched)
        problem = header_problem(tmp_path / "stream.wav")
        assert problem is None or problem.kind != "truncated"
