"""The report's figures: method families and styles, and every figure checked as a reviewer would read it."""
from __future__ import annotations


import numpy as np
import pytest
from test_report import report, store  # noqa: F401  (the fake suite's report, shared with test_report.py)

from benchmark.report import style as ST


def _registered() -> list[str]:
    from benchmark.methods import METHODS

    return METHODS.names()


# ----------------------------------------------------------------------------- styles


def test_every_registered_method_has_a_known_family():
    names = _registered()
    assert len(names) >= 19
    assert [n for n in names if ST.family_of(n) is ST.OTHER] == []
    assert {ST.family_of(n).key for n in ST.PAPER_METHODS} == {"emotion_extractor", "speaker_adversarial", "vae"}


def test_a_family_shares_a_hue_and_line_style_and_members_differ_in_greyscale():
    styles = ST.method_styles(_registered())
    by_family = {}
    for name, s in styles.items():
        by_family.setdefault(s.family, []).append((name, s))
    assert len(by_family) == len({ST.family_of(n).key for n in _registered()}) >= 8
    for family, members in by_family.items():
        assert len({s.linestyle for _, s in members}) == 1, family
        assert len({s.marker for _, s in members}) == len(members), family    # markers tell members apart
        assert len({s.hatch for _, s in members}) == len(members), family     # so do bar hatches
    # Across the whole set, no two methods look alike without colour: (marker, line style) pairs are unique.
    signatures = [(s.marker, s.linestyle) for s in styles.values()]
    assert len(set(signatures)) == len(signatures)
    # Papers' methods: solid lines; baselines: dashed patterns.
    assert all((s.linestyle == "-") == s.paper for s in styles.values())


def test_family_hues_differ_between_families():
    hues = {f.key: f.colour for f in ST.FAMILIES}
    assert len(set(hues.values())) == len(hues)


def test_styles_are_stable_whatever_else_is_shown():
    alone = ST.method_style("logreg_smote")
    assert ST.method_styles(["logreg_smote"])["logreg_smote"] == alone
    assert ST.method_styles(_registered())["logreg_smote"] == alone
    assert ST.method_style("my_method") == ST.method_style("my_method")   # hash-based, not order-based


def test_unknown_methods_and_variants_get_distinct_styles():
    names = _registered() + [f"user_method_{i}" for i in range(12)] + ["ssvae/no_kl", "ssvae/beta4", "logreg/C10"]
    styles = ST.method_styles(names)
    pairs = [(s.colour, s.marker) for s in styles.values()]
    assert len(set(pairs)) == len(pairs)
    assert {styles[f"user_method_{i}"].family for i in range(12)} == {"other"}
    # A variant inherits its base's family and shade but has its own marker and a dotted line.
    base, variant = styles["ssvae"], styles["ssvae/no_kl"]
    assert (variant.family, variant.colour, variant.paper) == ("vae", base.colour, True)
    assert variant.marker != base.marker and variant.linestyle != base.linestyle
    assert ST.family_of("logreg/C10").key == "linear"
    assert ST.split_variant("a/b") == ("a", "b") and ST.split_variant("plain") == ("plain", None)


def test_display_order_draws_papers_last():
    order = ST.display_order(["ssvae", "majority", "mine", "emotion_extractor", "logreg"])
    assert order == ["majority", "logreg", "mine", "emotion_extractor", "ssvae"]


def test_main_selection_is_papers_plus_the_best_of_each_baseline_family():
    names = _registered()
    score = {n: 0.5 for n in names} | {"linear_svm": 0.7, "cnn_oversampled": 0.8, "crnn": 0.6, "dae_conv": 0.1}
    main = ST.select_main(names, score)
    assert set(main) == {*ST.PAPER_METHODS, "majority", "linear_svm", "cnn_oversampled", "crnn", "dae",
                         "frozen_logreg"}
    assert ST.select_main(names + ["mine"], score)[-5] == "mine"     # a user's method is always shown
    # lower is better (e.g. leakage) flips the choice; unscored families keep their first member
    main = ST.select_main(["logreg", "linear_svm", "cnn", "crnn"], {"logreg": 0.9, "linear_svm": 0.2},
                          higher_is_better=False)
    assert main == ["linear_svm", "cnn"]


# ----------------------------------------------------------------------------- every figure, as a reviewer reads it

EMOTIONS = ["neutral", "happy", "angry", "sad"]
EXTRA = ["my_method", "ssvae/no_kl"]     # a user's method and a variant still get their own style


def _methods() -> list[str]:
    return _registered() + EXTRA


def _recall_table(methods, rng):
    import pandas as pd

    rows = []
    for m in methods:
        for c in EMOTIONS:
            r = rng.uniform(0.1, 0.9)
            rows.append({"method": m, "class": c, "recall": r, "low": r - 0.05, "high": min(1.0, r + 0.05)})
    return pd.DataFrame(rows)


def _figures() -> dict[str, object]:
    """One of every figure the report draws, over every registered method plus a user's method and a variant."""
    import pandas as pd

    from benchmark.report import figures as F

    rng = np.random.default_rng(0)
    methods = _methods()
    styles = ST.method_styles(methods)
    imbalance = pd.DataFrame([{"method": m, "ratio": r, "metric": k, "value": v, "low": v - 0.05, "high": v + 0.05}
                              for m in methods[:12] for r in (1, 4, 8) for k in ("ua", "minority_recall")
                              for v in [rng.uniform(0.2, 0.8)]])
    distances = pd.DataFrame([{"method": m, "group": g, "distance": d, "low": d * 0.8, "high": d * 1.2}
                              for m in methods for g in ("non-tonal ↔ non-tonal", "tonal ↔ non-tonal")
                              for d in [rng.uniform(0, 0.3)]])
    probe = pd.DataFrame([{"method": m, "accuracy": a, "low": a - 0.05, "high": a + 0.05, "chance": 0.086}
                          for m in methods for a in [rng.uniform(0.1, 0.9)]])
    points = rng.normal(size=(60, 2))
    colourings = {"emotion": np.array(EMOTIONS * 15), "speaker": np.array([f"s{i % 12}" for i in range(60)]),
                  "language": np.array(["en", "zh"] * 30)}
    mel = {"text": np.array("a sentence"), "speaker": np.array("s1"), "emotions": np.array(EMOTIONS)}
    mel |= {f"mel_{e}": rng.normal(size=(40 + 5 * i, 16)).astype(np.float32) for i, e in enumerate(EMOTIONS)}
    tts = _recall_table(["ground_truth", "resynthesis", "none", "emotion_extractor"], rng)
    return {
        "confusion": F.confusion_figure(rng.dirichlet(np.ones(4), size=4), EMOTIONS, "logreg [SI]"),
        "per_class_recall_full": F.per_class_recall_figure(_recall_table(methods, rng), styles),
        "per_class_recall_main": F.per_class_recall_figure(
            _recall_table(ST.select_main(methods, {}), rng), styles),
        "imbalance_full": F.imbalance_figure(imbalance, styles, "non-Neutral"),
        "imbalance_main": F.imbalance_figure(imbalance[imbalance["method"].isin(ST.select_main(methods, {}))],
                                             styles, "non-Neutral"),
        "transfer": F.transfer_heatmap_figure(pd.DataFrame(rng.uniform(size=(3, 3)), index=["de", "en", "zh"],
                                                           columns=["de", "en", "zh"]), "logreg [SI]", 2),
        "distances": F.distance_figure(distances, styles, "squared MMD"),
        "projection": F.projection_figure(points, colourings, "ssvae [SI]", axis_name="t-SNE"),
        "speaker_probe": F.speaker_probe_figure(probe, styles, chance=0.086),
        "tts_emotion_accuracy": F.per_class_recall_figure(tts, styles, xlabel="judge recall"),
        "tts_mel_showcase": F.mel_showcase_figure([("ground_truth", mel), ("emotion_extractor", mel)]),
    }


@pytest.fixture(scope="module")
def figures():
    return _figures()


def _legends(fig) -> list:
    return list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]


def _legend_entries(fig, legends: list | None = None) -> list[tuple[str, object, object]]:
    """(label, colour, marker or hatch) of every legend entry of ``fig`` (figure and axes legends)."""
    from matplotlib.colors import to_rgba
    from matplotlib.container import ErrorbarContainer
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    legends = _legends(fig) if legends is None else legends
    entries = []
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            if isinstance(handle, ErrorbarContainer):
                handle = handle.lines[0]
            if isinstance(handle, Line2D):
                entries.append((text.get_text(), to_rgba(handle.get_color()), (handle.get_marker(),
                                                                               str(handle.get_linestyle()))))
            elif isinstance(handle, Patch):
                entries.append((text.get_text(), to_rgba(handle.get_facecolor()), handle.get_hatch()))
            else:   # a scatter's PathCollection
                entries.append((text.get_text(), tuple(np.round(handle.get_facecolor()[0], 3)),
                                handle.get_paths()[0].vertices.round(2).tobytes()))
    return entries


def test_figures_are_a_papers_width(figures):
    from benchmark.report.figures import COLUMN_WIDTH_IN, TEXT_WIDTH_IN

    for key, fig in figures.items():
        assert fig.get_size_inches()[0] in (pytest.approx(COLUMN_WIDTH_IN), pytest.approx(TEXT_WIDTH_IN)), key
    for key in ("per_class_recall_full", "per_class_recall_main", "imbalance_main", "speaker_probe", "distances"):
        assert figures[key].get_size_inches()[0] == pytest.approx(COLUMN_WIDTH_IN), key
        assert figures[key].get_size_inches()[1] < 4.5, key    # 21 methods still fit in a column


def test_no_text_is_smaller_than_the_stated_minimum(figures):
    from matplotlib.text import Text

    from benchmark.report.figures import MIN_FONT_PT

    for key, fig in figures.items():
        texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
        assert texts, key
        small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() < MIN_FONT_PT]
        assert not small, (key, small)


def test_no_two_legend_entries_look_alike(figures):
    for key, fig in figures.items():
        for legend in _legends(fig):
            entries = _legend_entries(fig, [legend])
            looks = [(colour, mark) for _, colour, mark in entries]
            assert len(set(looks)) == len(looks), (key, entries)
    labels = [label for label, *_ in _legend_entries(figures["imbalance_full"])]
    assert labels == ST.display_order(_methods()[:12])          # papers last: drawn on top


def test_line_figures_read_in_greyscale(figures):
    """Without colour, every legend entry still differs: by marker or by line style."""
    for key in ("imbalance_full", "imbalance_main"):
        entries = _legend_entries(figures[key])
        marks = [mark for _, _, mark in entries]
        assert len(set(marks)) == len(marks), key


def _labelled(fig, ax, which: str) -> bool:
    axis = ax.xaxis if which == "x" else ax.yaxis
    if axis.get_label().get_text().strip():
        return True
    sup = getattr(fig, f"_sup{which}label", None)
    if sup is not None and sup.get_text().strip():
        return True
    shared = (ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()).get_siblings(ax)
    return any((o.xaxis if which == "x" else o.yaxis).get_label().get_text().strip() for o in shared)


def test_every_axis_with_values_is_labelled(figures):
    for key, fig in figures.items():
        for ax in fig.axes:
            for which in ("x", "y"):
                axis = ax.xaxis if which == "x" else ax.yaxis
                ticks = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text().strip()]
                if ticks and axis.get_visible():
                    assert _labelled(fig, ax, which), (key, ax.get_title(), which)


def test_forest_rows_name_every_method_once_with_its_style(figures):
    from matplotlib.colors import to_rgb

    fig = figures["per_class_recall_full"]
    styles = ST.method_styles(_methods())
    names = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(names) == sorted(_methods()) and names == ST.display_order(_methods())
    bold = {t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_fontweight() == "bold"}
    assert bold == {n for n in _methods() if ST.family_of(n).paper}
    for ax in fig.axes:
        points = {line.get_gid(): line for line in ax.get_lines() if line.get_gid()}
        assert set(points) == set(_methods())
        for name, line in points.items():
            assert np.allclose(to_rgb(line.get_color()), styles[name].colour), name
            assert line.get_marker() == styles[name].marker, name


def test_speaker_probe_draws_the_chance_it_is_given(figures):
    fig = figures["speaker_probe"]
    (entry,) = _legend_entries(fig)
    assert entry[0] == "chance (8.6%)"
    chance = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("chance")]
    assert chance and np.allclose(chance[0].get_xdata(), 0.086)


# ----------------------------------------------------------------------------- main text and appendix


def _content(figures):
    import pandas as pd

    from benchmark.report.content import ReportContent, Section

    return ReportContent(suite="s", experiment="e", tracking_uri="sqlite://", notes=[],
                         sections=[Section("recall", "Per-class recall", figures=figures)],
                         provenance=pd.DataFrame({"item": ["x"], "value": ["y"]}))


def test_a_crowded_figure_comes_as_a_main_and_an_appendix_version():
    from benchmark.report import figures as F
    from benchmark.report.placement import main_and_full

    rng = np.random.default_rng(1)
    methods = _registered()
    table = _recall_table(methods, rng)
    score = {m: float(table[table["method"] == m]["recall"].mean()) for m in methods}
    drawn = []

    def draw(shown):
        drawn.append(list(shown))
        return F.per_class_recall_figure(table[table["method"].isin(shown)])

    main, full = main_and_full("per_class_recall", "Per-class recall.", draw, methods, score, criterion="UA")
    assert (main.key, main.appendix, full.key, full.appendix) == ("per_class_recall", False,
                                                                  "per_class_recall_full", True)
    assert drawn[0] == ST.select_main(methods, score) and sorted(drawn[1]) == sorted(methods)
    n_baseline_families = len({ST.family_of(m).key for m in methods} - {"emotion_extractor", "speaker_adversarial",
                                                                         "vae"})
    assert len(drawn[0]) == 4 + n_baseline_families    # the 4 papers' methods + the best of each baseline family
    best_linear = max(["logreg", "linear_svm"], key=score.get)
    assert best_linear in drawn[0] and ({"logreg", "linear_svm"} - {best_linear}).isdisjoint(drawn[0])
    for fig in (main, full):   # the papers' methods are named in both captions
        assert all(m in fig.caption for m in ST.PAPER_METHODS), fig.caption
    assert "per_class_recall_full" in main.caption and f"{len(methods)} methods" in full.caption
    unranked, _ = main_and_full("per_class_recall", "c", draw, methods, {}, criterion="UA")
    assert "no UA to rank by" in unranked.caption and "best method" not in unranked.caption
    # A suite whose selection is every method gets one figure, under the plain key.
    (only,) = main_and_full("per_class_recall", "c", draw, ["logreg", "ssvae"], score, criterion="UA")
    assert (only.key, only.appendix) == ("per_class_recall", False)


def test_latex_puts_full_versions_in_the_appendix_and_html_shows_main_first(tmp_path):
    from benchmark.report import figures as F
    from benchmark.report.html import render_html
    from benchmark.report.latex import main_tex
    from benchmark.report.placement import main_and_full

    table = _recall_table(_registered(), np.random.default_rng(2))
    pair = main_and_full("per_class_recall", "c", lambda shown: F.per_class_recall_figure(
        table[table["method"].isin(shown)]), _registered(), {}, criterion="UA")
    content = _content(pair)
    tex = main_tex(content)
    body, appendix = tex.split(r"\appendix")
    assert r"\input{\emobenchdir/figures/per_class_recall.tex}" in body
    assert "per_class_recall_full" not in body and r"\input{\emobenchdir/figures/per_class_recall_full.tex}" in appendix
    html = render_html(content, {f.key: F.to_bytes(f.figure, "svg") for f in pair})
    assert html.index('id="figure-per_class_recall"') < html.index('id="figure-per_class_recall_full"')
    assert html.count("appendix version</span>") == 1


# ----------------------------------------------------------------------------- TTS showcase


def test_tts_showcase_takes_a_heldout_pair_recorded_in_every_emotion():
    """The synthesized sample rarely holds one sentence of one speaker in all emotions; every held-out
    recording does: the showcase is chosen there, for a speaker the systems can be conditioned on."""
    import pandas as pd

    from benchmark.tts.split import HeldOutSplit, showcase_choice, trained_emotions

    def rows(items):
        return pd.DataFrame([{"text": t, "speaker": sp, "emotion": e} for t, sp, es in items for e in es])

    every = ["neutral", "happy", "angry", "sad"]
    split = HeldOutSplit(
        train=rows([("train text", "s1", every), ("train text", "s2", every), ("train text", "s3", ["neutral"])]),
        heldout=rows([("a", "s1", ["neutral", "sad"]), ("b", "s2", every), ("b", "s3", every),
                      ("c", "s1", ["angry", "happy", "sad"])]),
        test=rows([("a", "s1", ["neutral", "sad"]), ("c", "s1", ["angry"])]))    # the synthesized sample
    emotions = trained_emotions(split.train)
    # b/s3 is recorded in every emotion too, but s3 has no training recording in most of them.
    assert showcase_choice(split, emotions) == ("b", "s2")
    split.heldout = split.heldout[split.heldout["text"] != "b"]
    assert showcase_choice(split, emotions) == ("c", "s1")     # none complete: the most emotions


# ----------------------------------------------------------------------------- a whole report's figures


def test_every_figure_of_a_built_report_passes_the_same_checks(report):  # noqa: F811 (the fixture imported above)
    """The checks above, on every figure a report builds from a suite store (tests/test_report.py's fake
    suite: speaker k-fold with embeddings, imbalance and cross-lingual protocols; built once per session)."""
    from matplotlib.text import Text

    from benchmark.report.figures import COLUMN_WIDTH_IN, MIN_FONT_PT, TEXT_WIDTH_IN

    figures = report.content.figures()
    assert len(figures) >= 10
    for fig in figures:
        f = fig.figure
        assert f.get_size_inches()[0] == pytest.approx(TEXT_WIDTH_IN if fig.wide else COLUMN_WIDTH_IN), fig.key
        texts = [t for t in f.findobj(Text) if t.get_visible() and t.get_text().strip()]
        assert min(t.get_fontsize() for t in texts) >= MIN_FONT_PT, fig.key
        for legend in _legends(f):
            looks = [(colour, mark) for _, colour, mark in _legend_entries(f, [legend])]
            assert len(set(looks)) == len(looks), fig.key
        for ax in f.axes:
            for which in ("x", "y"):
                axis = ax.xaxis if which == "x" else ax.yaxis
                if ax.get_visible() and any(t.get_visible() and t.get_text().strip() for t in axis.get_ticklabels()):
                    assert _labelled(f, ax, which), (fig.key, ax.get_title(), which)


# ----------------------------------------------------------------------------- the per-cell confusion PNG


def _cell_predictions(labels: list[str], n: int = 400, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    y_true = rng.choice(labels[:-1], n)           # the last class never occurs: a row of zeros
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.choice(labels, n))
    return pd.DataFrame({"y_true": y_true, "y_pred": y_pred})


def test_the_cell_confusion_png_shows_sklearns_normalised_matrix_in_the_reports_colours():
    import io

    from matplotlib import colormaps
    from PIL import Image
    from sklearn.metrics import confusion_matrix

    from benchmark.report.cell_figure import confusion_png

    labels = ["neutral", "happy", "angry", "sad"]
    predictions = _cell_predictions(labels)
    png = confusion_png(predictions, labels, "cnn/speaker_kfold/fold0/seed1")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    expected = confusion_matrix(predictions["y_true"], predictions["y_pred"], labels=labels, normalize="true")
    expected = np.nan_to_num(expected)              # sklearn's 0/0 for the class that never occurs
    pixels = np.asarray(image).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    found = {tuple(int(v) for v in c): int(k) for c, k in zip(colours, counts)}
    for value in expected.ravel():
        rgb = tuple(int(v) for v in (np.array(colormaps["Blues"](value)[:3]) * 255).round())
        assert found.get(rgb, 0) >= 300, f"no cell painted {rgb} for the value {value:.2f}"   # a cell's area
    assert confusion_png(predictions, labels, "cnn/speaker_kfold/fold0/seed1") == png   # same input, same bytes


def test_the_cell_confusion_png_grows_with_the_label_set_and_the_title():
    import io

    from PIL import Image

    from benchmark.report.cell_figure import confusion_png

    four = ["neutral", "happy", "angry", "sad"]
    seven = four + ["fear", "disgust", "surprise"]
    small = Image.open(io.BytesIO(confusion_png(_cell_predictions(four), four, "t"))).size
    large = Image.open(io.BytesIO(confusion_png(_cell_predictions(seven), seven, "t"))).size
    assert large[0] > small[0] and large[1] > small[1]
    long_title = "speaker_adversarial/cross_lingual/source=de,en,es,fr,it/target=zh/seed2"
    titled = Image.open(io.BytesIO(confusion_png(_cell_predictions(four), four, long_title))).size
    assert titled[0] > small[0]
