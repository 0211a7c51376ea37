"""The report's TTS section, and SER sections that leave TTS cells out.

Uses the fake store of test_tts_leaderboard.py: TTS cells (2 seeds x 5
systems, protocol ``tts``) beside SER cells of speaker_kfold (2 methods x 2
seeds, one of them named like a TTS system). The TTS protocol has more cells
than the SER one, so a report that let TTS cells into the SER sections would
pick it as the main protocol.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from test_tts_leaderboard import SHOWCASE_TEXT, SUITE, SYSTEMS, build_tts_store

from benchmark import leaderboard as lb
from benchmark import results

N_BOOTSTRAP = 150


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_tts_store(tmp_path_factory.mktemp("tts_report"))


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):
    from benchmark.report import build_report

    return build_report(SUITE, store[0], tmp_path_factory.mktemp("out") / SUITE, n_bootstrap=N_BOOTSTRAP,
                        projection="pca", progress=False)


@pytest.fixture(scope="module")
def html(report) -> str:
    return report.html.read_text(encoding="utf-8")


def _section(report, key: str):
    found = [s for s in report.content.sections if s.key == key]
    return found[0] if found else None


def test_the_tts_section_has_its_table_and_figures(report, html):
    tts = _section(report, "tts")
    assert tts is not None and tts.title == "Emotional TTS"
    assert [t.key for t in tts.tables] == ["tts"]
    assert [f.key for f in tts.figures] == ["tts_emotion_accuracy", "tts_mel_showcase"]
    assert '<section id="tts">' in html and 'id="table-tts"' in html
    assert 'id="figure-tts_emotion_accuracy"' in html and 'id="figure-tts_mel_showcase"' in html
    assert "synthetic" in " ".join(tts.text)


def test_one_row_per_system_references_marked(report):
    frame = _section(report, "tts").tables[0].frame
    assert list(frame["system"]) == ["emotion_extractor", "ssvae", "none", "ground_truth (reference)",
                                     "resynthesis (reference)"]
    assert list(frame["rank"]) == ["1", "2", "3", "ref.", "ref."]
    assert list(frame["vs leader"].iloc[[0, 3, 4]]) == ["leader", "reference", "reference"]
    # judge accuracy, UA and recall per class, then the registered TTS metrics the cells carry (registry order)
    assert list(frame.columns[2:13]) == ["emotion accuracy (%)", "Emotion UA (%)", "Recall neutral (%)",
                                         "Recall happy (%)", "Recall angry (%)", "Recall sad (%)", "WER (%)",
                                         "CER (%)", "MCD (dB)", "F0 RMSE (Hz)", "conditioning"]
    assert frame.set_index("rank").loc["1", "conditioning"] == "emotion_extractor"
    assert frame["MCD (dB)"].iloc[3] == "– [–, –]"   # the ground truth against itself: not shown


def test_table_numbers_equal_independent_computations(report, store):
    table = _section(report, "tts").tables[0]
    values = table.values.set_index("method")
    shown = table.frame.assign(method=[s.removesuffix(" (reference)") for s in table.frame["system"]]).set_index(
        "method")
    for system in SYSTEMS:
        accuracy = np.mean([(p["y_true"] == p["y_pred"]).mean() for p in (store[1][(system, s)][1] for s in (0, 1))])
        wer = np.mean([u["word_errors"].sum() / u["ref_words"].sum() for u in (store[1][(system, s)][2]
                                                                                for s in (0, 1))])
        assert values.loc[system, "wa"] == pytest.approx(accuracy, abs=1e-12)
        assert values.loc[system, "wer"] == pytest.approx(wer, abs=1e-12)
        assert values.loc[system, "wa_low"] <= accuracy <= values.loc[system, "wa_high"]
        assert shown.loc[system, "emotion accuracy (%)"].startswith(f"{100 * accuracy:.1f} ± ")
        assert shown.loc[system, "WER (%)"].startswith(f"{100 * wer:.1f} [")


def test_notes_name_the_judge_asr_and_mcd_settings(report):
    notes = " ".join(_section(report, "tts").tables[0].notes)
    assert "Judge: logreg(egemaps) (LogisticRegression; ground-truth recordings only)" in notes
    assert "held-out ground-truth recordings: 89.0% (range 88.0–90.0 over 2 seeds)" in notes
    assert "backend openai-whisper, model tiny.en, beam 5" in notes
    assert "alpha 0.42" in notes and "c0 excluded" in notes
    assert "Vocoder: vocoder griffin_lim, n_iter 32" in notes


def test_per_emotion_figure_and_mel_showcase(report, store):
    tts = _section(report, "tts")
    recall, mels = tts.figures
    axes = recall.figure.axes
    assert [a.get_title() for a in axes] == ["neutral", "happy", "angry", "sad"]   # a panel per emotion
    rows = [t.get_text() for t in axes[0].get_yticklabels()]   # a named row per system, references on top
    assert rows == ["ssvae", "emotion_extractor", "none", "resynthesis (ref.)", "ground_truth (ref.)"]
    # The points are the judge's recall per intended emotion (mean over seeds).
    pred = [store[1][("none", s)][1] for s in (0, 1)]
    recall_sad = np.mean([(p["y_pred"][p["y_true"] == "sad"] == "sad").mean() for p in pred])
    (none_sad,) = [line for line in axes[3].get_lines() if line.get_gid() == "none"]
    assert none_sad.get_xdata()[0] == pytest.approx(recall_sad, abs=1e-12)
    # Rows: the ground truth and every TTS system (no resynthesis showcase); columns: emotions.
    assert SHOWCASE_TEXT in mels.caption and "embedded_en_1" in mels.caption and mels.wide
    panels = [a for a in mels.figure.axes if a.get_label() != "<colorbar>"]
    assert len(panels) == 4 * 4
    assert [a.get_title() for a in panels[:4]] == ["neutral", "happy", "angry", "sad"]
    assert [panels[4 * i].get_ylabel() for i in range(4)] == ["ground_truth", "none", "emotion_extractor", "ssvae"]
    assert any(t.get_text() == "no recording" for t in panels[3].texts)   # no real "sad" recording
    assert len(panels[3].images) == 0 and all(len(p.images) == 1 for p in panels[4:])


def test_ser_sections_leave_the_tts_cells_out(report, store, html):
    from benchmark.report.inputs import choose_main, main_protocol_cells

    cells = results.load_cells(store[0], SUITE)
    assert set(choose_main(cells)["protocol"]) == {"speaker_kfold"}
    assert set(main_protocol_cells(cells)["protocol"]) == {"speaker_kfold"}
    board = _section(report, "leaderboard")
    assert [t.key for t in board.tables] == ["leaderboard_speaker_kfold"]
    assert set(board.tables[0].frame["method"]) == {"emotion_extractor", "linear_svm"}
    recall = _section(report, "recall").tables[0].frame
    assert set(recall["method"]) == {"emotion_extractor", "linear_svm"}
    confusion = [f.key for f in _section(report, "confusion").figures]
    assert confusion == ["confusion_emotion_extractor", "confusion_linear_svm"]
    # The SER leaderboard's emotion_extractor is the SER cells' (its TTS namesake is another thing).
    ser_pred = pd.concat([store[1][("ser:emotion_extractor", s)][1] for s in (0, 1)])
    value = board.tables[0].values.set_index("method").loc["emotion_extractor", "wa"]
    assert value == pytest.approx((ser_pred["y_true"] == ser_pred["y_pred"]).mean(), abs=1e-12)
    prov = re.search(r'<section id="provenance">.*?</section>', html, re.S).group(0)
    assert "speaker_kfold, tts" in prov


def test_latex_and_html_render_the_tts_parts(report):
    latex = report.latex
    assert (latex / "tables" / "tts.tex").is_file() and (latex / "tables" / "tts.csv").is_file()
    for key in ("tts_emotion_accuracy", "tts_mel_showcase"):
        assert (latex / "figures" / f"{key}.pdf").read_bytes().startswith(b"%PDF")
    tex = (latex / "tables" / "tts.tex").read_text()
    assert r"\toprule" in tex and r"ground\_truth (reference)" in tex and r"WER (\%)" in tex
    main = (latex / "main.tex").read_text()
    assert r"\section*{Emotional TTS}" in main and r"\input{\emobenchdir/figures/tts_mel_showcase.tex}" in main
    fig = (latex / "figures" / "tts_mel_showcase.tex").read_text()
    assert r"\begin{figure*}" in fig and "kite" in fig


def test_a_suite_of_tts_cells_only(tmp_path_factory):
    from benchmark.report import build_report

    uri, _ = build_tts_store(tmp_path_factory.mktemp("tts_only"), with_ser=False)
    result = build_report(SUITE, uri, tmp_path_factory.mktemp("out_only"), n_bootstrap=100, progress=False)
    assert [s.key for s in result.content.sections] == ["tts"]
    assert lb.build_leaderboard(lb.load_definition("tts").model_copy(update={"suite": SUITE, "n_bootstrap": 100}),
                                uri, progress=False).leader == "emotion_extractor"


def test_the_tts_figures_load_in_chromium(html, tmp_path):
    from test_report_browser import CHROMIUM, _check, _with_check_script

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (test_report_browser.py says how)")
    result = _check(CHROMIUM, tmp_path, _with_check_script(html))
    assert result["broken"] == [] and result["images"] == html.count('<img src="data:image/svg+xml;base64,')
    assert all(w > 0 for w in result["widths"])
