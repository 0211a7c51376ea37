"""Property-based robustness (hypothesis): whatever the manifest rows and the audio bytes, the
loaders, load_audio and score-tts either give a result or raise an emobench error that names the
input (the manifest, the corpus folder or the audio file); never another exception.

Inputs: CSV manifests with random cells (commas, quotes, newlines, unicode, wrong field counts)
and random labels, languages and genders; WAV files derived from a valid one by truncation,
header corruption, random data-size fields, random format fields, NaN samples and pure noise.
"""
from __future__ import annotations

import csv
import io
import struct
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import corpus_fixtures as fx
from benchmark.audio import load_audio
from benchmark.corpora import load_corpus
from benchmark.errors import AudioError, EmobenchError
from benchmark.manifest import validate_manifest
from benchmark.tts.scoring import ScoringConfig, score_tts

SR = 16000
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW_PROPERTY = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid_wav(subtype: str = "PCM_16", seconds: float = 0.12) -> bytes:
    t = np.arange(int(seconds * SR)) / SR
    buffer = io.BytesIO()
    sf.write(buffer, (0.2 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), SR, format="WAV", subtype=subtype)
    return buffer.getvalue()


PCM16, FLOAT32 = _valid_wav(), _valid_wav("FLOAT")


@st.composite
def wav_bytes(draw) -> bytes:
    """A WAV file as a user might have it: intact, cut short, with a corrupted or lying header, ..."""
    base = bytearray(draw(st.sampled_from([PCM16, FLOAT32])))
    kind = draw(st.sampled_from(["intact", "truncate", "flip", "data_size", "format", "nan", "noise", "silent"]))
    if kind == "truncate":
        base = base[:draw(st.integers(0, len(base)))]
    elif kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            base[draw(st.integers(0, min(len(base), 80) - 1))] = draw(st.integers(0, 255))
    elif kind == "data_size":
        base[40:44] = struct.pack("<I", draw(st.integers(0, 2**32 - 1)))
    elif kind == "format":
        field, size = draw(st.sampled_from([(22, "<H"), (24, "<I"), (34, "<H"), (20, "<H")]))
        width = struct.calcsize(size)
        base[field:field + width] = struct.pack(size, draw(st.integers(0, 2 ** (8 * width) - 1)))
    elif kind == "nan" and base is not None and bytes(base) == FLOAT32:
        start = draw(st.integers(44, len(base) - 4)) // 4 * 4
        base[start:start + 4] = struct.pack("<f", float("nan"))
    elif kind == "noise":
        base = bytearray(draw(st.binary(min_size=0, max_size=400)))
    elif kind == "silent":
        base = bytearray(base[:44] + bytes(len(base) - 44))
    return bytes(base)


CELL = st.text(alphabet=st.sampled_from(list("ab ,\"\n\r;é中\t|xyz01")), max_size=8)
EMOTION = st.sampled_from(["neutral", "angry", "happiness", "Sad", " fear ", "", "grumpy", "xxx", "W"])
LANGUAGE = st.sampled_from(["en", "de", "en", "english", "", "klingon"])
GENDER = st.sampled_from(["", "F", "male", "other"])


@st.composite
def manifest_rows(draw) -> list[list[str]]:
    """Rows for the header utt_id,path,speaker,emotion,language,text,gender: mostly well formed,
    some with random cells and the wrong number of fields."""
    rows = []
    for i in range(draw(st.integers(0, 6))):
        if draw(st.booleans()):  # a clean row (its wav may still be bad)
            rows.append([f"u{i}", draw(st.sampled_from(["a0.wav", "a1.wav", "a2.wav"])), f"s{i % 2}",
                         draw(st.sampled_from(["neutral", "angry", "sad"])), "en", "", ""])
            continue
        row = [draw(st.sampled_from([f"u{i}"] * 4 + [f"u{i % 2}", "", draw(CELL)])),
               draw(st.sampled_from(["a0.wav", "a1.wav", "a2.wav"] * 2 + ["missing.wav", "", draw(CELL)])),
               draw(st.sampled_from(["s1", "s2", "", draw(CELL)])), draw(EMOTION), draw(LANGUAGE), draw(CELL),
               draw(GENDER)]
        if draw(st.integers(0, 3)) == 0:  # a stray comma or a cut line
            row = row[:draw(st.integers(1, 7))] + draw(st.lists(CELL, max_size=3))
        rows.append(row)
    return rows


@st.composite
def tts_rows(draw) -> list[list[str]]:
    """Rows for the TTS header utt_id,wav,reference,text,emotion, some with the wrong number of fields."""
    rows = []
    for i in range(draw(st.integers(0, 3))):
        row = [draw(st.sampled_from([f"v{i}", "u0", "", draw(CELL)])),
               draw(st.sampled_from(["a0.wav", "a1.wav", "missing.wav", "", draw(CELL)])),
               draw(st.sampled_from(["", "ref.wav", "a1.wav", "gone.wav"])), draw(CELL), draw(EMOTION)]
        if draw(st.booleans()):
            row = row[:draw(st.integers(1, 5))] + draw(st.lists(CELL, max_size=2))
        rows.append(row)
    return rows


def _write_csv(path: Path, rows: list[list[str]], quoted: bool) -> Path:
    header = "utt_id,path,speaker,emotion,language,text,gender\n"
    if quoted:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        body = out.getvalue()
    else:  # as a careless script writes it: no quoting at all
        body = "".join(",".join(r) + "\n" for r in rows)
    path.write_text(header + body, encoding="utf-8")
    return path


def _names_the_input(exc: BaseException, *inputs: Path) -> bool:
    text = str(exc)
    return any(str(p) in text or p.name in text for p in inputs)


@settings(PROPERTY, max_examples=80)
@given(rows=manifest_rows(), quoted=st.booleans(), wavs=st.lists(wav_bytes(), min_size=2, max_size=2),
       on_error=st.sampled_from(["raise", "skip"]))
def test_csv_loader_gives_a_manifest_or_a_named_error(rows, quoted, wavs, on_error):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i, data in enumerate([PCM16, *wavs]):  # a0.wav is a good file, a1/a2 anything
            (folder / f"a{i}.wav").write_bytes(data)
        path = _write_csv(folder / "m.csv", rows, quoted)
        try:
            df, report = load_corpus("csv", path, on_error=on_error, progress=False)
        except EmobenchError as exc:
            event(f"loader: {type(exc).__name__}")
            assert _names_the_input(exc, path, folder), str(exc)
            return
        event("loader: manifest")
        validate_manifest(df, "reloaded", check_files=True)  # what comes back is a valid manifest
        assert df["utt_id"].is_unique and len(df) + len(report) >= 1


@PROPERTY
@given(data=wav_bytes())
def test_load_audio_gives_samples_or_an_audio_error_naming_the_file(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.wav"
        path.write_bytes(data)
        try:
            samples = load_audio(path)
        except AudioError as exc:
            event(f"load_audio: {str(exc).split(': ', 1)[1].split(' (')[0]}")
            assert exc.path == str(path) and str(exc).startswith(f"{path}: ")
            return
        assert samples.dtype == np.float32 and samples.ndim == 1 and len(samples) > 0
        assert np.isfinite(samples).all() and np.abs(samples).max() >= 1e-5


@SLOW_PROPERTY
@given(data=st.lists(wav_bytes(), min_size=2, max_size=2), rows=tts_rows(), skip_bad=st.booleans())
def test_score_tts_gives_scores_or_a_named_error(data, rows, skip_bad):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fx.write_wav(folder / "ref.wav", seconds=0.12)
        for i, wav in enumerate(data):
            (folder / f"a{i}.wav").write_bytes(wav)
        table = [["u0", "a0.wav", "ref.wav", "hello there", "happy"], ["u1", "a1.wav", "", "good day", "sad"]]
        table += rows
        path = folder / "tts.csv"
        path.write_text("utt_id,wav,reference,text,emotion\n" + "".join(",".join(r) + "\n" for r in table))
        try:
            result = score_tts(path, folder / "out", ScoringConfig(asr=None), skip_bad=skip_bad, log_mlflow=False,
                               progress=False)
        except EmobenchError as exc:
            event(f"score_tts: {type(exc).__name__}")
            assert _names_the_input(exc, path), str(exc)
            return
        event("score_tts: scored")
        assert result.summary["n_utterances"] >= 1
        scored = result.per_utterance
        assert not scored["utt_id"].duplicated().any()
        if "mcd_db" in scored.columns:
            assert np.isfinite(pd.to_numeric(scored["mcd_db"], errors="coerce").dropna()).all()


def test_the_mutations_reach_every_kind_of_bad_wav(tmp_path):
    """The strategy is not vacuous: each kind of problem the loaders name occurs among its examples."""
    from hypothesis import find

    from benchmark.audio import file_problem

    kinds = set()
    for kind in ("truncated", "unreadable", "empty", "silent", "corrupt"):
        def has(data: bytes, kind=kind) -> bool:
            path = tmp_path / "probe.wav"
            path.write_bytes(data)
            problem = file_problem(path)
            return problem is not None and problem.kind == kind
        find(wav_bytes(), has, settings=settings(max_examples=500, deadline=None))
        kinds.add(kind)
    assert kinds == {"truncated", "unreadable", "empty", "silent", "corrupt"}
