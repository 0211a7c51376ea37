"""`emobench report`: a self-contained HTML file and a LaTeX folder, built from an MLflow store.

The store is faked in ``tmp_path`` exactly as /tmp/run_schema.md (the runner's
contract) describes it: a parent run, FINISHED cell runs with predictions
tables and test embeddings, an imbalance protocol with two ratios and a
cross-lingual protocol over en/de/zh, plus a FAILED run and a superseded
older run of the same cell that the report must ignore.
"""
from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric, Param
from sklearn.metrics import accuracy_score, f1_score, recall_score

from benchmark import tracking
from benchmark.metrics import speaker_probe

CLASSES = ["neutral", "happy", "angry", "sad"]
SUITE = "fake"
METHOD_SKILL = {"linear_svm": 0.55, "emotion_extractor": 0.75, "speaker_invariant": 0.68}
SPEAKER_LEAK = {"linear_svm": 1.5, "emotion_extractor": 1.0, "speaker_invariant": 0.2}
LANGUAGES = ["en", "de", "zh"]


# ----------------------------------------------------------------------------- the fake store


def _test_set(rng: np.random.Generator, name: str, n: int, languages: list[str],
              neutral_share: float = 0.4) -> pd.DataFrame:
    """A test set; every method of a protocol is tested on the same one, as the runner does."""
    other = (1 - neutral_share) / (len(CLASSES) - 1)
    y = rng.choice(CLASSES, size=n, p=[neutral_share] + [other] * (len(CLASSES) - 1))
    language = rng.choice(languages, size=n)
    speaker = np.array([f"embedded_{lang}_{rng.integers(4)}" for lang in language])
    return pd.DataFrame({"utt_id": [f"embedded_{name}_{i:04d}" for i in range(n)],
                         "y_true": y, "speaker": speaker, "language": language})


def _predictions(rng: np.random.Generator, test: pd.DataFrame, skill: float) -> pd.DataFrame:
    correct = rng.random(len(test)) < skill
    wrong = np.array([rng.choice([c for c in CLASSES if c != t]) for t in test["y_true"]])
    y_pred = np.where(correct, test["y_true"], wrong)
    proba = np.full((len(test), len(CLASSES)), 0.4 / (len(CLASSES) - 1))
    proba[np.arange(len(test)), [CLASSES.index(p) for p in y_pred]] = 0.6
    table = test[["utt_id", "y_true"]].assign(y_pred=y_pred, speaker=test["speaker"], language=test["language"])
    for j, c in enumerate(CLASSES):
        table[f"p_{c}"] = proba[:, j]
    return table


def _embeddings(rng: np.random.Generator, test: pd.DataFrame, method: str) -> dict[str, np.ndarray]:
    dim = 8
    class_means = {c: rng.normal(0, 2.0, dim) for c in CLASSES}
    lang_shift = {"en": np.zeros(dim), "de": np.full(dim, 0.3), "zh": np.full(dim, 1.5)}
    spk_means = {s: rng.normal(0, SPEAKER_LEAK[method], dim) for s in sorted(set(test["speaker"]))}
    Z = np.stack([class_means[y] + lang_shift[lang] + spk_means[s] + rng.normal(0, 1, dim)
                  for y, lang, s in zip(test["y_true"], test["language"], test["speaker"])])
    return {"utt_ids": test["utt_id"].to_numpy(str), "Z": Z, "y": test["y_true"].to_numpy(str),
            "speakers": test["speaker"].to_numpy(str), "languages": test["language"].to_numpy(str)}


def _metrics(pred: pd.DataFrame, rng: np.random.Generator) -> dict[str, float]:
    y, p = pred["y_true"], pred["y_pred"]
    out = {"ua": recall_score(y, p, labels=CLASSES, average="macro", zero_division=0),
           "wa": accuracy_score(y, p), "macro_f1": f1_score(y, p, labels=CLASSES, average="macro", zero_division=0)}
    out.update({f"recall.{c}": r for c, r in zip(CLASSES, recall_score(y, p, labels=CLASSES, average=None,
                                                                         zero_division=0))})
    # The runner's bootstrap CIs, cheaply (the report recomputes its own from the predictions).
    hit, yt = (y == p).to_numpy(), y.to_numpy()
    boots = []
    for i in (rng.integers(0, len(y), len(y)) for _ in range(50)):
        boots.append(np.mean([hit[i][yt[i] == c].mean() for c in CLASSES if (yt[i] == c).any()]))
    out.update(ua_ci_low=float(np.percentile(boots, 2.5)), ua_ci_high=float(np.percentile(boots, 97.5)),
               ua_spk_ci_low=float(np.percentile(boots, 1)), ua_spk_ci_high=float(np.percentile(boots, 99)),
               fit_seconds=0.1, n_train=500.0, n_test=float(len(y)))
    return out


def _log_cell(client, exp_id: str, parent: str, *, method: str, protocol: str, protocol_name: str, fold: str,
              seed: int, meta: dict[str, str], pred: pd.DataFrame, emb: dict | None, rng: np.random.Generator,
              status: str = "FINISHED", cell_key: str | None = None, speaker_independent: bool = True) -> str:
    tags = {tracking.KIND_TAG: "cell", tracking.CELL_TAG: cell_key or f"{method}-{protocol}-{fold}-{seed}",
            tracking.SUITE_TAG: SUITE, "method": method, "protocol": protocol, "protocol_name": protocol_name,
            "fold": fold, "seed": str(seed), "corpus": "embedded",
            "speaker_independent": str(speaker_independent).lower(), "feature": "functionals",
            "mlflow.parentRunId": parent, **{f"meta.{k}": v for k, v in meta.items()}}
    run_id = client.create_run(exp_id, run_name=f"{method}/{protocol}/{fold}/seed{seed}", tags=tags).info.run_id
    metrics = _metrics(pred, rng)
    if emb is not None:   # as the runner logs it
        metrics.update(speaker_probe(emb["Z"], emb["speakers"], seed=seed))
    params = {"hp.C": "1.0", "data_hash": "d4t4h45h", "split_digest": f"split-{fold}", "code_version": "abc123",
              "config_digest": "c0nf1g", "pkg.numpy": np.__version__, "pkg.scikit-learn": "1.9.1"}
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
                     params=[Param(k, v) for k, v in params.items()])
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "predictions").mkdir()
        pred.to_parquet(Path(tmp) / "predictions" / "predictions.parquet", index=False)
        client.log_artifacts(run_id, str(Path(tmp) / "predictions"), "predictions")
        if emb is not None:
            (Path(tmp) / "embeddings").mkdir()
            np.savez_compressed(Path(tmp) / "embeddings" / "test.npz", **emb)
            client.log_artifacts(run_id, str(Path(tmp) / "embeddings"), "embeddings")
    client.set_terminated(run_id, status=status)
    return run_id


def build_fake_store(root: Path) -> tuple[str, dict[str, list[str]]]:
    """A suite's MLflow store under ``root``; returns (tracking URI, run ids per protocol)."""
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = tracking.configure(uri)
    exp_id = client.create_experiment(f"emobench-{SUITE}", artifact_location=(root / "artifacts").as_uri())
    parent = client.create_run(exp_id, run_name=SUITE, tags={tracking.KIND_TAG: "suite", tracking.SUITE_TAG: SUITE,
                                                             "emobench.config": "c0nf1g"}).info.run_id
    client.log_text(parent, "name: fake\n", "suite.yaml")
    rng = np.random.default_rng(0)
    runs: dict[str, list[str]] = {"speaker_kfold": [], "imbalance": [], "cross_lingual": []}
    # An older run of a cell that is re-run below: the report must take the newer one.
    junk = _predictions(rng, _test_set(rng, "old", 30, ["en"]), 0.0)
    _log_cell(client, exp_id, parent, method="linear_svm", protocol="speaker_kfold", protocol_name="speaker_kfold",
              fold="fold0", seed=0, meta={}, pred=junk, emb=None, rng=rng)
    time.sleep(0.01)
    folds = {fold: _test_set(rng, fold, 90, LANGUAGES) for fold in ("fold0", "fold1")}   # speaker-disjoint folds
    imbalance_test = _test_set(rng, "imb", 100, ["en"], neutral_share=0.25)
    language_tests = {lang: _test_set(rng, f"lang_{lang}", 60, [lang]) for lang in LANGUAGES}
    for method, skill in METHOD_SKILL.items():
        for fold, test in folds.items():
            for seed in (0, 1):
                pred = _predictions(rng, test, skill + 0.02 * seed)
                runs["speaker_kfold"].append(_log_cell(
                    client, exp_id, parent, method=method, protocol="speaker_kfold", protocol_name="speaker_kfold",
                    fold=fold, seed=seed, meta={}, pred=pred, emb=_embeddings(rng, test, method), rng=rng))
        for ratio in (1, 4):
            pred = _predictions(rng, imbalance_test, skill - 0.05 * np.log2(ratio))
            runs["imbalance"].append(_log_cell(
                client, exp_id, parent, method=method, protocol="imbalance", protocol_name="imbalance",
                fold=f"ratio{ratio}", seed=0, meta={"ratio": str(ratio)}, pred=pred, emb=None, rng=rng))
        for train in LANGUAGES:
            for test_lang in LANGUAGES:
                if train == test_lang:
                    continue
                test = language_tests[test_lang]
                drop = 0.25 if "zh" in (train, test_lang) else 0.1
                runs["cross_lingual"].append(_log_cell(
                    client, exp_id, parent, method=method, protocol="cross_lingual", protocol_name="cross_lingual",
                    fold=f"{train}->{test_lang}", seed=0,
                    meta={"train_language": train, "test_language": test_lang},
                    pred=_predictions(rng, test, skill - drop), emb=None, rng=rng))
    # A FAILED cell the report must ignore.
    junk = _predictions(rng, _test_set(rng, "failed", 30, ["en"]), 0.0)
    _log_cell(client, exp_id, parent, method="linear_svm", protocol="speaker_kfold", protocol_name="speaker_kfold",
              fold="fold0", seed=7, meta={}, pred=junk, emb=None, rng=rng, status="FAILED")
    client.set_terminated(parent, status="FINISHED")
    return uri, runs


# ----------------------------------------------------------------------------- fixtures

N_BOOTSTRAP = 200


# Built once per session and shared with tests/test_report_browser.py, which
# imports these fixtures (an imported fixture is a second definition, so the
# sharing goes through this module's cache rather than the fixture scope).
_SHARED: dict[str, object] = {}


def _shared(name: str, build):
    if name not in _SHARED:
        _SHARED[name] = build()
    return _SHARED[name]


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> tuple[str, dict[str, list[str]]]:
    return _shared("store", lambda: build_fake_store(tmp_path_factory.mktemp("store")))


@pytest.fixture(scope="session")
def report(store, tmp_path_factory):
    from benchmark.report import build_report

    return _shared("report", lambda: build_report(SUITE, store[0], tmp_path_factory.mktemp("out") / SUITE,
                                                  n_bootstrap=N_BOOTSTRAP, progress=False))


@pytest.fixture(scope="module")
def html(report) -> str:
    return report.html.read_text(encoding="utf-8")


def _predictions_of(uri: str, run_ids: list[str]) -> pd.DataFrame:
    """The predictions tables straight from the MLflow artifact store, tagged with their runs' tags."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    frames = []
    with tempfile.TemporaryDirectory() as tmp:
        for run_id in run_ids:
            tags = client.get_run(run_id).data.tags
            path = client.download_artifacts(run_id, "predictions/predictions.parquet", tmp)
            frames.append(pd.read_parquet(path).assign(method=tags["method"], seed=tags["seed"], fold=tags["fold"],
                                                      **{k: v for k, v in tags.items() if k.startswith("meta.")}))
    return pd.concat(frames, ignore_index=True)


def _html_table(html: str, table_id: str) -> pd.DataFrame:
    body = re.search(rf'<table id="{table_id}".*?</table>', html, re.S).group(0)
    head = re.findall(r"<th>(.*?)</th>", body)
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", body, re.S)[1:]]
    return pd.DataFrame(rows, columns=head)


# ----------------------------------------------------------------------------- the HTML file


def test_html_is_one_self_contained_file_with_no_external_reference(html):
    refs = re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)', html)
    assert refs, "the report should reference its embedded figures"
    assert all(r.startswith(("data:", "#")) for r in refs), [r for r in refs if not r.startswith(("data:", "#"))]
    assert not re.search(r"https?://", html), "no URL at all: the page must open offline"
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert "default-src 'none'" in html   # the browser itself refuses any fetch


def test_html_has_every_section_figure_and_the_synthetic_statement(html):
    for section in ("leaderboard", "confusion", "recall", "imbalance", "transfer", "latent_consistency",
                    "projection", "speaker_probe", "provenance"):
        assert f'<section id="{section}">' in html, section
    for method in METHOD_SKILL:
        for kind in ("confusion", "transfer_language", "projection"):
            assert f'id="figure-{kind}_{method}"' in html, (kind, method)
    for fig in ("per_class_recall", "imbalance_curves", "language_distances", "speaker_probe_speaker_kfold"):
        assert f'id="figure-{fig}"' in html
    assert html.count('<img src="data:image/svg+xml;base64,') == 4 + 3 * len(METHOD_SKILL)
    assert "synthetic data: eSpeak NG renderings, not human speech" in html


def test_provenance_lists_code_data_config_and_package_versions(html):
    prov = re.search(r'<section id="provenance">.*?</section>', html, re.S).group(0)
    for item, value in (("code_version", "abc123"), ("data_hash", "d4t4h45h"), ("config_digest", "c0nf1g"),
                        ("pkg.numpy", np.__version__), ("pkg.scikit-learn", "1.9.1")):
        assert re.search(rf"<td>{re.escape(item)}</td><td><code>{re.escape(value)}</code>", prov), item


def test_speaker_independence_flag_is_beside_every_number(html):
    tables = re.findall(r'<table id="(table-[^"]+)" class="results">', html)
    assert len(tables) >= 6
    checked = 0
    for table_id in tables:
        if table_id in ("table-claims", "table-claim_comparisons", "table-convergence"):
            continue   # differences between two methods of one split (a Split column) and epoch counts
        frame = _html_table(html, table_id)
        for column in frame.columns:
            if column in ("rank", "method", "protocol", "vs leader", "seeds", "folds", "test utt.", "runs") \
                    or column.startswith("train "):
                continue
            for cell in frame[column]:
                if cell == "–":
                    continue
                assert re.fullmatch(r"-?[\d.]+( ± [\d.]+)?( \[[\d.]+, [\d.]+\])? (SI|SD|SI/SD)", cell), \
                    (table_id, column, cell)
                checked += 1
    assert checked > 50


# ----------------------------------------------------------------------------- numbers against scikit-learn


def _sklearn_seed_mean(pred: pd.DataFrame, labels: list[str]) -> dict[str, float]:
    """Mean over seeds of UA/WA/macro-F1 on each seed's fold-pooled predictions."""
    per_seed = []
    for _, p in pred.groupby("seed"):
        per_seed.append({"ua": recall_score(p["y_true"], p["y_pred"], labels=labels, average="macro"),
                         "wa": accuracy_score(p["y_true"], p["y_pred"]),
                         "macro_f1": f1_score(p["y_true"], p["y_pred"], labels=labels, average="macro")})
    return pd.DataFrame(per_seed).mean().to_dict()


def test_leaderboard_numbers_equal_sklearn_on_the_predictions(store, report, html):
    uri, runs = store
    pred = _predictions_of(uri, runs["speaker_kfold"])
    values = pd.read_csv(report.latex / "tables" / "leaderboard_speaker_kfold.csv").set_index("method")
    shown = _html_table(html, "table-leaderboard_speaker_kfold").set_index("method")
    assert list(shown.index) == sorted(METHOD_SKILL, key=lambda m: -values.loc[m, "ua"])   # ranked by UA
    for method, p in pred.groupby("method"):
        expected = _sklearn_seed_mean(p, CLASSES)
        for metric, column in (("ua", "UA (%)"), ("wa", "WA (%)"), ("macro_f1", "macro-F1 (%)")):
            assert values.loc[method, metric] == pytest.approx(expected[metric], abs=1e-12)
            assert values.loc[method, f"{metric}_low"] <= expected[metric] <= values.loc[method, f"{metric}_high"]
            assert shown.loc[method, column].startswith(f"{100 * expected[metric]:.1f} ± ")
            assert shown.loc[method, column].endswith(" SI")
        assert values.loc[method, "seeds"] == 2 and values.loc[method, "folds"] == 2
        assert values.loc[method, "n_test"] == 180   # the superseded 30-utterance run is not counted


def test_per_class_recall_and_confusion_matrices_equal_sklearn(store, report):
    from sklearn.metrics import confusion_matrix

    uri, runs = store
    pred = _predictions_of(uri, runs["speaker_kfold"])
    values = pd.read_csv(report.latex / "tables" / "per_class_recall.csv")
    figures = {f.key: f.figure for f in report.content.figures()}
    for method, p in pred.groupby("method"):
        per_seed = np.mean([recall_score(q["y_true"], q["y_pred"], labels=CLASSES, average=None)
                            for _, q in p.groupby("seed")], axis=0)
        got = values[values["method"] == method].set_index("class").loc[CLASSES, "recall"].to_numpy()
        np.testing.assert_allclose(got, per_seed, atol=1e-12)
        cm = confusion_matrix(p["y_true"], p["y_pred"], labels=CLASSES, normalize="true")
        annotations = [t.get_text() for t in figures[f"confusion_{method}"].axes[0].texts]
        assert annotations == [f"{v:.2f}" for v in cm.ravel()]


def test_imbalance_and_transfer_numbers_equal_sklearn(store, report):
    uri, runs = store
    imbalance = pd.read_csv(report.latex / "tables" / "imbalance.csv")
    pred = _predictions_of(uri, runs["imbalance"])
    assert sorted(imbalance["ratio"].unique()) == [1.0, 4.0]
    for (method, ratio), p in pred.groupby(["method", "meta.ratio"]):
        rows = imbalance[(imbalance["method"] == method) & (imbalance["ratio"] == float(ratio))].set_index("metric")
        recall = recall_score(p["y_true"], p["y_pred"], labels=CLASSES, average=None)
        assert rows.loc["ua", "value"] == pytest.approx(recall.mean(), abs=1e-12)
        assert rows.loc["minority_recall", "value"] == pytest.approx(recall[1:].mean(), abs=1e-12)  # non-neutral
        assert rows.loc["ua", "low"] <= rows.loc["ua", "value"] <= rows.loc["ua", "high"]
    transfer = pd.read_csv(report.latex / "tables" / "transfer_language.csv")
    pred = _predictions_of(uri, runs["cross_lingual"])
    assert len(transfer) == len(METHOD_SKILL) * 6
    for (method, train, test), p in pred.groupby(["method", "meta.train_language", "meta.test_language"]):
        row = transfer[(transfer["method"] == method) & (transfer["train"] == train) & (transfer["test"] == test)]
        assert row["ua"].item() == pytest.approx(recall_score(p["y_true"], p["y_pred"], labels=CLASSES,
                                                              average="macro"), abs=1e-12)


def test_language_distances_keep_tonal_pairs_apart(report):
    pairs = pd.read_csv(report.latex / "tables" / "language_distances.csv")
    assert set(pairs["group"]) == {"non-tonal ↔ non-tonal", "tonal ↔ non-tonal"}
    assert set(pairs.loc[pairs["group"] == "tonal ↔ non-tonal", "b"]) == {"zh"}
    # The fake embeddings shift Mandarin far more than German: zh pairs must come out farther apart.
    for _, rows in pairs.groupby("method"):
        by = rows.set_index(["a", "b"])["distance"]
        assert by[("en", "zh")] > by[("de", "en")]


def test_speaker_probe_is_recomputed_from_the_embeddings(store, report):
    from mlflow.tracking import MlflowClient

    uri, runs = store
    client = MlflowClient(tracking_uri=uri)
    expected: dict[str, list[float]] = {m: [] for m in METHOD_SKILL}
    with tempfile.TemporaryDirectory() as tmp:
        for run_id in runs["speaker_kfold"]:
            run = client.get_run(run_id)
            with np.load(client.download_artifacts(run_id, "embeddings/test.npz", tmp)) as npz:
                probe = speaker_probe(npz["Z"], npz["speakers"], seed=int(run.data.tags["seed"]))
            expected[run.data.tags["method"]].append(probe["speaker_probe_acc"])
    table = pd.read_csv(report.latex / "tables" / "speaker_probe.csv")
    assert set(table["protocol"]) == {"speaker_kfold"}    # the only protocol that kept embeddings
    table = table.set_index("method")
    for method, values in expected.items():
        assert table.loc[method, "accuracy"] == pytest.approx(np.mean(values))
        assert table.loc[method, "runs"] == 4
    # The fake embeddings leak speaker identity in proportion to SPEAKER_LEAK.
    assert list(table["accuracy"].sort_values().index) == sorted(SPEAKER_LEAK, key=SPEAKER_LEAK.get)
    assert (table["chance"] < table["accuracy"]).all()


# ----------------------------------------------------------------------------- LaTeX and figures


def test_latex_tables_use_booktabs_and_every_figure_is_a_pdf(report):
    latex = report.latex
    tables = sorted((latex / "tables").glob("*.tex"))
    assert {t.stem for t in tables} >= {"leaderboard_speaker_kfold", "per_class_recall", "imbalance",
                                        "transfer_language", "language_distances", "speaker_probe"}
    for table in tables:
        text = table.read_text()
        assert text.count(r"\toprule") == text.count(r"\midrule") == text.count(r"\bottomrule") == 1, table
        assert r"\_" in text or "_" not in text.split(r"\label")[0].split(r"\caption")[-1]
        assert "±" not in text and "↔" not in text       # unicode symbols become LaTeX math
    main = (latex / "main.tex").read_text()
    assert r"\usepackage{booktabs}" in main
    for fig in report.content.figures():
        pdf = latex / "figures" / f"{fig.key}.pdf"
        assert pdf.read_bytes()[:5] == b"%PDF-"
        assert rf"\input{{\emobenchdir/figures/{fig.key}.tex}}" in main
        assert f"{fig.key}.pdf" in (latex / "figures" / f"{fig.key}.tex").read_text()
    for table in tables:
        assert rf"\input{{\emobenchdir/tables/{table.stem}.tex}}" in main


def test_figures_are_column_width_with_readable_fonts_and_one_style_per_method(report):
    from matplotlib.colors import to_rgb
    from matplotlib.text import Text

    from benchmark.report.figures import COLUMN_WIDTH_IN, TEXT_WIDTH_IN
    from benchmark.report.style import method_styles

    styles = method_styles(METHOD_SKILL)
    for fig in report.content.figures():
        width = fig.figure.get_size_inches()[0]
        assert width == pytest.approx(TEXT_WIDTH_IN if fig.wide else COLUMN_WIDTH_IN), fig.key
        sizes = [t.get_fontsize() for t in fig.figure.findobj(Text) if t.get_text().strip() and t.get_visible()]
        assert min(sizes) >= 7, fig.key
    figures = {f.key: f.figure for f in report.content.figures()}
    points = {line.get_gid(): line for line in figures["per_class_recall"].axes[0].get_lines() if line.get_gid()}
    lines = figures["imbalance_curves"].axes[0].get_lines()
    for method in METHOD_SKILL:
        line = next(line for line in lines if np.allclose(to_rgb(line.get_color()), styles[method].colour))
        assert line.get_marker() == points[method].get_marker() == styles[method].marker
        assert np.allclose(to_rgb(points[method].get_color()), styles[method].colour)


def test_every_figure_saves_the_same_bytes_every_time(report):
    """A figure is laid out once: its bytes do not depend on how often, or in which order, it was saved
    (the learning curves' constrained layout once ran again at each save and moved the axes)."""
    from benchmark.report.figures import to_bytes

    for report_figure in report.content.figures():
        fig = report_figure.figure
        first = (to_bytes(fig, "svg"), to_bytes(fig, "pdf"))
        assert (to_bytes(fig, "svg"), to_bytes(fig, "pdf")) == first, report_figure.key
        assert (report.latex / "figures" / f"{report_figure.key}.pdf").read_bytes() == first[1], report_figure.key


def test_background_renderer_gives_the_bytes_of_a_serial_render(report):
    from benchmark.report.figures import BackgroundRenderer, render_figures

    figures = [f.figure for f in report.content.figures()]
    renderer = BackgroundRenderer(("svg", "pdf"), n_jobs=2)
    assert renderer.enabled
    for start in range(0, len(figures), 3):   # a section's worth at a time, more batches than slots
        renderer.submit(figures[start:start + 3])
    renderer.submit([])
    assert renderer.result() == render_figures(figures, ("svg", "pdf"), n_jobs=1)


def test_figures_rendered_by_two_processes_are_the_files_the_report_wrote(report):
    from benchmark.report.figures import render_figures

    figures = report.content.figures()[:4]
    parallel = render_figures([f.figure for f in figures], ("svg", "pdf"), n_jobs=2)
    serial = render_figures([f.figure for f in figures], ("svg", "pdf"), n_jobs=1)
    assert parallel == serial
    for fig, rendered in zip(figures, parallel):   # build_report wrote these very bytes
        assert (report.latex / "figures" / f"{fig.key}.pdf").read_bytes() == rendered["pdf"]


# ----------------------------------------------------------------------------- data-dependent sections, CLI


def test_sections_without_data_are_left_out(store):
    from benchmark import results
    from benchmark.report.inputs import ReportInputs
    from benchmark.report.provenance import synthetic_notes
    from benchmark.report.sections import (imbalance, language_distances, leaderboard, projections, speaker_probe,
                                           transfer, tts)

    cells = results.load_cells(store[0], SUITE)
    main_only = cells[cells["protocol"] == "speaker_kfold"].copy()
    inputs = ReportInputs(main_only, store[0], SUITE, n_bootstrap=100)
    assert imbalance.build(inputs) is None
    assert transfer.build(inputs) is None
    assert tts.build(inputs) is None
    assert inputs.embedded   # the main protocol's cells kept embeddings: without them, no embedding section
    inputs.embedded = []
    assert projections.build(inputs) is None
    assert language_distances.build(inputs) is None
    assert speaker_probe.build(inputs) is None
    assert synthetic_notes(main_only.assign(corpus="emodb")) == []
    imbalance_only = ReportInputs(cells[cells["protocol"] == "imbalance"], store[0], SUITE, n_bootstrap=100)
    assert leaderboard.build(imbalance_only) is None and imbalance_only.main.empty


def test_a_section_is_one_module_plus_one_registration(store, tmp_path, monkeypatch):
    from benchmark.report import build_report, sections

    leaderboard = dict(sections.SECTIONS)["leaderboard"]
    # the toy section (tests/toy_section.py) registered first, the leaderboard after it: the report follows
    monkeypatch.setattr(sections, "SECTIONS", (("toy", "toy_section:build"), ("leaderboard", leaderboard)))
    result = build_report(SUITE, store[0], tmp_path / "out", n_bootstrap=100, progress=False)
    assert [s.key for s in result.content.sections] == ["toy", "leaderboard"]
    uri, runs = store
    expected = _predictions_of(uri, runs["speaker_kfold"]).groupby("method").size()
    csv = pd.read_csv(result.latex / "tables" / "toy_predictions.csv").set_index("method")["predictions"]
    assert csv.to_dict() == expected.to_dict()
    html = result.html.read_text(encoding="utf-8")
    assert html.index('<section id="toy">') < html.index('<section id="leaderboard">')
    shown = _html_table(html, "table-toy_predictions").set_index("method")["predictions"]
    assert shown.astype(int).to_dict() == expected.to_dict()
    main = (result.latex / "main.tex").read_text()
    assert main.index(r"\input{\emobenchdir/tables/toy_predictions.tex}") < main.index("leaderboard_speaker_kfold")


def test_a_bad_section_registration_names_the_entry():
    from benchmark.errors import ConfigError
    from benchmark.report.sections import section_builders

    with pytest.raises(ConfigError, match=r"report section 'toy': cannot load toy_section:nothing"):
        section_builders([("toy", "toy_section:nothing")])
    with pytest.raises(ValueError, match=r"report section 'toy': a lazy entry is 'module:attribute'"):
        section_builders([("toy", "toy_section.build")])
    with pytest.raises(ValueError, match=r"report section 'toy' is registered twice"):
        section_builders([("toy", "toy_section:build"), ("toy", "toy_section:build")])


def test_bootstrap_is_deterministic_for_a_seed_and_moves_with_it(store):
    from benchmark import results
    from benchmark.report.inputs import ReportInputs

    cells = results.load_cells(store[0], SUITE)
    group = cells[(cells["protocol"] == "speaker_kfold") & (cells["method"] == "linear_svm")]
    a, b, c = (ReportInputs(group, store[0], SUITE, n_bootstrap=100, seed=seed).score(group) for seed in (3, 3, 4))
    assert (a.low["ua"], a.high["ua"]) == (b.low["ua"], b.high["ua"])
    assert (c.low["ua"], c.high["ua"]) != (a.low["ua"], a.high["ua"])
    assert c.value["ua"] == a.value["ua"]


def test_cli_writes_the_report_and_rejects_a_bad_option(store, tmp_path):
    from typer.testing import CliRunner

    from benchmark.cli import app

    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["report", SUITE, "--tracking-uri", store[0], "--out", str(out),
                                      "--bootstrap", "100", "--projection", "pca", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file() and (out / "latex" / "main.tex").is_file()
    assert "PCA of the test embeddings" in (out / "report.html").read_text()
    for option, value in (("--projection", "umap"), ("--bootstrap", "10")):
        bad = CliRunner().invoke(app, ["report", SUITE, "--tracking-uri", store[0], "--out", str(out), option, value])
        assert bad.exit_code == 2 and option.strip("-") in bad.output, bad.output


def test_a_suite_without_runs_is_a_clear_error(store, tmp_path):
    from benchmark.errors import EmobenchError
    from benchmark.report import build_report

    with pytest.raises(EmobenchError,
                       match=r"suite .nothing_ran.: no finished cell runs .*`emobench run nothing_ran`"):
        build_report("nothing_ran", store[0], tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_a_suite_yaml_names_the_suite_and_its_tracking_uri(tmp_path):
    from benchmark.errors import ConfigError
    from benchmark.report import resolve_suite

    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\ntracking: {uri: 'sqlite:///elsewhere.db'}\ncorpora: []\n")
    assert resolve_suite(str(path)) == ("mine", "sqlite:///elsewhere.db")
    assert resolve_suite(str(path), "http://mlflow:5000") == ("mine", "http://mlflow:5000")
    assert resolve_suite("mine") == ("mine", "sqlite:///mlflow.db")
    path.write_text("corpora: []\n")
    with pytest.raises(ConfigError, match="needs a `name`"):
        resolve_suite(str(path))


def test_publish_with_two_processes_writes_the_same_board_and_report_as_one(store, tmp_path, monkeypatch):
    import yaml

    from benchmark import publish

    definition = {"title": "fake board", "description": "the fake suite's k-fold cells", "suite": SUITE,
                  "protocol": "speaker_kfold", "rank_by": "ua", "columns": ["ua", "wa"]}
    written = {}
    for n_jobs in (1, 2):
        folder = tmp_path / f"jobs{n_jobs}"
        folder.mkdir()
        (folder / "fakeboard.yaml").write_text(yaml.safe_dump({"name": "fakeboard", **definition}))
        # with two processes the claims board's verdicts are handed to the report's claims section
        (folder / "fakeclaims.yaml").write_text(yaml.safe_dump({"kind": "claims", "name": "fakeclaims",
                                                                "suite": SUITE, "claims": "all"}))
        boards = [str(folder / "fakeboard.yaml"), str(folder / "fakeclaims.yaml")]
        monkeypatch.chdir(folder)   # the report goes to reports/out/<suite> under the working directory
        monkeypatch.setattr(publish, "suite_boards", lambda suite, b=boards: b)
        assert publish.all_claims_board(boards) == boards[1]
        assert publish.publish(SUITE, store[0], False, n_jobs=n_jobs).boards == boards
        board = (folder / "fakeboard" / "leaderboard.csv").read_text()
        claims_board = (folder / "fakeclaims" / "leaderboard.csv").read_text()
        latex = folder / "reports" / "out" / SUITE / "latex"
        pdfs = {p.name: p.read_bytes() for p in (latex / "figures").glob("*.pdf")}
        tables = {p.name: p.read_text() for p in (latex / "tables").glob("*.csv")}
        html = (folder / "reports" / "out" / SUITE / "report.html").read_text()
        written[n_jobs] = (board, pdfs, claims_board, tables, html)
    assert written[1][0] == written[2][0] and "linear_svm" in written[1][0]
    assert written[1][1] and written[1][1] == written[2][1]
    assert written[1][2] == written[2][2] and "supported" in written[1][2]
    assert written[1][3] == written[2][3] and "claims.csv" in written[1][3]
    for html in (written[1][4], written[2][4]):   # the claims section still opens the report
        assert html.index('id="claims"') < html.index('id="leaderboard"')
