"""What the report shows, computed from the suite's MLflow records.

Each ``*_section`` function takes the finished cells of a suite (one row per
grid cell, from ``benchmark.results``) and returns a :class:`Section`, or None
when the suite has no data for it, so a suite without an imbalance sweep simply
has no imbalance section. Every number is recomputed from the cells'
predictions tables (and, for the speaker probe and the language distances,
their test embeddings), never copied from a logged metric.

TTS cells (protocol ``tts``: corpus x system x seed, see ``benchmark.runner``)
are scored by a judge SER classifier, not by the method itself, so every SER
section leaves them out (:func:`ser_cells`); they get a section of their own
(:func:`tts_section`), built from their predictions tables (the judge's labels
against the intended emotions), ``tts/per_utterance.parquet`` (Whisper
WER/CER, MCD, F0), ``tts/showcase.npz`` and ``tts/settings.json``.

The statistics are the leaderboards' (``benchmark.leaderboard``), so a number
in the report and the same number on a leaderboard agree: for one group of
cells, the predictions of all folds of a seed are pooled and scored; the value
shown is the mean over seeds; its 95% CI is a bootstrap over test utterances
(drawn within each fold, the same draw applied to every seed). The metrics
and distances come from ``benchmark.metrics``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from benchmark import leaderboard as LB
from benchmark import results
from benchmark.metrics import stacked as st
from benchmark.metrics.registry import METRICS
from benchmark.errors import EmobenchError
from benchmark.report import figures as F
from benchmark.report import placement as P
from benchmark.report import style as ST
from benchmark.report.content import (SD_MARK, SI_MARK, SYNTHETIC_NOTE, ReportFigure, ReportTable, Section,
                                      flag)

# ISO 639-1 codes of tonal languages; everything else counts as non-tonal.
TONAL_LANGUAGES = frozenset({"zh", "vi", "th", "lo", "my", "yo", "ig", "pa"})
SYNTHETIC_CORPORA = frozenset({"embedded"})
# (train meta key, test meta key, what is transferred, how the report names it)
TRANSFER_KEYS = (("train_language", "test_language", "language", "Cross-lingual"),
                 ("train_corpus", "test_corpus", "corpus", "Cross-corpus"))
TTS_PROTOCOL = "tts"    # the protocol tag of TTS grid cells
TSNE_MAX_POINTS = 500   # above this the projection is PCA: t-SNE's cost grows quadratically
MIN_BOOTSTRAP = 100     # as for leaderboards: fewer resamples give no usable 95% interval
MAIN_CRITERION = "UA on the main protocol"   # ranks the members of a family for main-text figures


@dataclass
class ReportInputs:
    """The finished cells of one suite, where they came from, and cached scores."""

    cells: pd.DataFrame                  # one row per cell run; see ``benchmark.results``
    tracking_uri: str
    suite: str
    n_bootstrap: int = 1000
    seed: int = 0
    colors: dict[str, tuple] = field(default_factory=dict)
    styles: dict[str, ST.MethodStyle] = field(default_factory=dict)   # benchmark.report.style, one per method
    _scored: dict = field(default_factory=dict, repr=False)
    _main_scores: dict | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.styles:
            self.styles = ST.method_styles(self.cells["method"].astype(str).unique())
        if not self.colors:
            self.colors = {m: s.colour for m, s in self.styles.items()}

    def main_scores(self) -> dict[str, float]:
        """UA per method on the main (protocol, corpus): what picks the best of each family for main-text figures."""
        if self._main_scores is None:
            main = choose_main(self.cells)
            self._main_scores = {}
            for method, group in main.groupby("method"):
                try:
                    self._main_scores[str(method)] = float(self.score(group).value["ua"])
                except EmobenchError:   # e.g. predictions missing: the family falls back to display order
                    continue
        return self._main_scores

    def predictions(self, cells: pd.DataFrame) -> pd.DataFrame:
        """The predictions tables of ``cells`` stacked (utt_id, y_true, y_pred, seed, fold, method, run_id)."""
        return LB.stacked_predictions(cells, self.tracking_uri)

    def embeddings(self, run_id: str) -> dict[str, np.ndarray] | None:
        return results.load_embeddings(run_id, self.tracking_uri)

    def score(self, cells: pd.DataFrame) -> st.Scored:
        """Seed-mean scores and bootstrap CIs of ``cells`` (one method), computed once per set of runs."""
        key = tuple(sorted(cells["run_id"]))
        if key not in self._scored:
            stacked = st.Stacked.from_frame(self.predictions(cells))
            labels = st.class_labels(stacked.frame)
            weights = st.resample_weights(stacked.items, self.n_bootstrap, self.seed)
            self._scored[key] = st.score_stacked(stacked, labels, "pooled", weights)
        return self._scored[key]


# ----------------------------------------------------------------------------- cells


def _meta(cells: pd.DataFrame, key: str) -> pd.Series:
    column = f"meta.{key}"
    return cells[column] if column in cells.columns else pd.Series(np.nan, index=cells.index)


def is_tts(cells: pd.DataFrame) -> pd.Series:
    """Which cells are TTS grid cells (protocol ``tts``), scored by a judge rather than by their method."""
    return cells["protocol"].astype(str) == TTS_PROTOCOL


def ser_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The SER cells of a suite: everything but TTS cells."""
    return cells[~is_tts(cells)]


def tts_cells(cells: pd.DataFrame) -> pd.DataFrame:
    return cells[is_tts(cells)]


def main_protocol_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """SER cells of protocols that are neither an imbalance sweep nor a transfer (train A / test B) protocol."""
    cells = ser_cells(cells)
    special = _meta(cells, "ratio").notna()
    for train_key, *_ in TRANSFER_KEYS:
        special |= _meta(cells, train_key).notna()
    return cells[~special]


def choose_main(cells: pd.DataFrame) -> pd.DataFrame:
    """Cells of the main (protocol, corpus): most seeds, then most cells, then name (suites run >= 3 seeds on it).

    Empty when the suite has no protocol other than imbalance and transfer ones.
    """
    main = main_protocol_cells(cells)
    if main.empty:
        return main
    stats = main.groupby(["protocol", "corpus"]).agg(seeds=("seed", "nunique"), cells=("run_id", "size"))
    stats = stats.reset_index().sort_values(["seeds", "cells", "protocol", "corpus"],
                                            ascending=[False, False, True, True])
    protocol, corpus = stats.iloc[0][["protocol", "corpus"]]
    return main[(main["protocol"] == protocol) & (main["corpus"] == corpus)]


def si_flag(cells: pd.DataFrame) -> str:
    values = set(cells["speaker_independent"].astype(str).str.lower())
    return flag(True if values == {"true"} else False if values == {"false"} else None)


def fmt(value: float, low: float, high: float, mark: str, sd: float | None = None) -> str:
    """A number as printed everywhere: percent, [CI], the speaker-independence mark beside it."""
    spread = f" ± {_pct(sd)}" if sd is not None and np.isfinite(sd) else ""
    return f"{_pct(value)}{spread} [{_pct(low)}, {_pct(high)}] {mark}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}" if value is not None and np.isfinite(value) else "–"


# ----------------------------------------------------------------------------- sections


def leaderboard_section(inputs: ReportInputs) -> Section | None:
    """One leaderboard per (protocol, corpus) of the main protocols, built by ``benchmark.leaderboard``."""
    cells = main_protocol_cells(inputs.cells)
    if cells.empty:
        return None
    section = Section("leaderboard", "Leaderboard", [
        "UA = unweighted average recall (mean of per-class recalls), WA = accuracy, macro-F1; in percent. "
        "Predictions of all folds of a seed are pooled and scored; the value is the mean over seeds "
        "(± standard deviation over seeds) and [low, high] its bootstrap 95% CI over test utterances "
        f"({inputs.n_bootstrap} resamples, the same resample for every seed). Rows are ranked by UA; "
        f"{LB.TIE_MARK} = not significantly different from the leader (paired bootstrap, alpha = 0.05)."])
    for (protocol, corpus), group in cells.groupby(["protocol", "corpus"]):
        try:
            section.tables.append(_leaderboard_table(inputs, group, str(protocol), str(corpus)))
        except EmobenchError as exc:   # e.g. no seed covers every fold: say so, keep the rest of the report
            section.text.append(f"No leaderboard for protocol {protocol} on {corpus}: {exc}")
    return section


def ser_columns() -> list[str]:
    """The SER leaderboard tables' metrics: every registered confusion metric shown in reports (``in_report``:
    UA, WA, macro-F1 and any added one; minority recall and per-class recall have sections of their own)."""
    return [s.name for s in METRICS if s.reads == "confusion" and s.in_report]


def _leaderboard_table(inputs: ReportInputs, cells: pd.DataFrame, protocol: str, corpus: str) -> ReportTable:
    columns = ser_columns()
    definition = LB.LeaderboardDef(name=f"report-{protocol}-{corpus}", suite=inputs.suite, protocol=protocol,
                                   corpus=corpus, columns=columns, labels={"macro_f1": "macro-F1"},
                                   n_bootstrap=inputs.n_bootstrap, seed=inputs.seed)
    board = LB.build_leaderboard(definition, inputs.tracking_uri, progress=False)
    rows = []
    for e in board.entries.to_dict("records"):
        mark = e["speaker_independent"]
        converged = LB.CONVERGENCE_MARK if e["still_improving"] else ""
        row = {"rank": str(e["rank"]), "method": e["method"] + converged}
        for metric in columns:
            row[definition.header(metric)] = fmt(e[metric], e[f"{metric}_low"], e[f"{metric}_high"], mark,
                                                 e[f"{metric}_sd"])
        if e["rank"] == 1 and e["method"] == board.entries["method"].iloc[0]:
            versus = "leader"
        elif np.isfinite(e["p_vs_leader"]):
            versus = f"{LB.TIE_MARK + ' ' if e['tied_with_leader'] else ''}p {LB.format_p(e['p_vs_leader'])}"
        else:
            versus = "n/a"
        row.update({"vs leader": versus, "seeds": str(e["seeds"]), "folds": str(e["folds"]),
                    "test utt.": str(e["n_test"])})
        rows.append(row)
    several_corpora = inputs.cells["corpus"].nunique() > 1
    key = f"leaderboard_{_slug(protocol)}" + (f"_{_slug(corpus)}" if several_corpora else "")
    values = board.entries.drop(columns=["run_ids"]).assign(protocol=protocol, corpus=corpus)
    convergence = [LB.CONVERGENCE_NOTE] if board.entries["still_improving"].any() else []
    return ReportTable(key, f"Leaderboard, protocol {protocol} on {corpus}: mean ± sd over seeds [95% CI]",
                       pd.DataFrame(rows), [_legend(), *convergence, *board.notes], values)


def _where(cells: pd.DataFrame) -> str:
    return f"protocol {cells['protocol'].iloc[0]} on {cells['corpus'].iloc[0]}"


def confusion_section(inputs: ReportInputs, cells: pd.DataFrame) -> Section | None:
    """Row-normalised confusion matrices of the main protocol's cells, one figure per method."""
    from benchmark.metrics import confusion

    if cells.empty:
        return None
    protocol = cells["protocol"].iloc[0]
    section = Section("confusion", "Confusion matrices", [
        f"{_where(cells).capitalize()}, predictions of all folds and seeds pooled; each row is normalised to sum "
        "to 1 (the diagonal is the per-class recall)."])
    for method, group in cells.groupby("method"):
        pred = inputs.predictions(group)
        labels = st.class_labels(pred)   # true and predicted classes: every error has a column
        cm = confusion(pred["y_true"].astype(str), pred["y_pred"].astype(str), labels).astype(float)
        support = cm.sum(1, keepdims=True)
        normalised = np.divide(cm, support, out=np.zeros_like(cm), where=support > 0)
        mark = si_flag(group)
        section.figures.append(ReportFigure(
            f"confusion_{_slug(method)}",
            f"Confusion matrix of {method} ({protocol}, {mark}), rows normalised by the true class.",
            F.confusion_figure(normalised, labels, f"{method} [{mark}]"),
            appendix=P.in_appendix(method, cells["method"].unique(), inputs.main_scores())))
    return section


def recall_section(inputs: ReportInputs, cells: pd.DataFrame) -> Section | None:
    """Per-class recall with bootstrap CIs of the main protocol's cells."""
    if cells.empty:
        return None
    protocol = cells["protocol"].iloc[0]
    records = []
    for method, group in cells.groupby("method"):
        s = inputs.score(group)
        for key in [k for k in s.value if k.startswith("recall.")]:
            records.append({"method": method, "class": key.removeprefix("recall."), "recall": s.value[key],
                            "low": s.low[key], "high": s.high[key], "flag": si_flag(group)})
    table = pd.DataFrame(records)
    mark = si_flag(cells)
    wide = table.assign(cell=[fmt(r.recall, r.low, r.high, r.flag) for r in table.itertuples()])
    wide = wide.pivot(index="method", columns="class", values="cell")[list(dict.fromkeys(table["class"]))]
    return Section("recall", "Per-class recall", [
        f"{_where(cells).capitalize()}: recall of each class per method (mean over seeds of the fold-pooled "
        "recall), whiskers = bootstrap 95% CI over test utterances."],
        tables=[ReportTable("per_class_recall", f"Per-class recall (%), protocol {protocol} [95% CI]",
                            wide.fillna("–").reset_index(), [_legend()], table)],
        figures=P.main_and_full(
            "per_class_recall", f"Per-class recall per method ({protocol}, {mark}): point = recall, whisker = "
            "95% bootstrap CI; one panel per class.",
            lambda methods: F.per_class_recall_figure(table[table["method"].isin(methods)], inputs.styles),
            table["method"].unique(), inputs.main_scores(), criterion=MAIN_CRITERION))


def imbalance_section(inputs: ReportInputs) -> Section | None:
    cells = ser_cells(inputs.cells)
    cells = cells[_meta(cells, "ratio").notna()]
    if cells.empty:
        return None
    cells = cells.assign(ratio=pd.to_numeric(_meta(cells, "ratio")))
    records = []
    for (method, ratio), group in cells.groupby(["method", "ratio"]):
        s = inputs.score(group)
        for metric in ("ua", "minority_recall"):
            value, low, high = s.value[metric], s.low[metric], s.high[metric]
            records.append({"method": method, "ratio": float(ratio), "metric": metric, "value": float(value),
                            "low": float(low), "high": float(high), "flag": si_flag(group)})
    table = pd.DataFrame(records)
    mark = si_flag(cells)
    display = table.assign(cell=[fmt(r.value, r.low, r.high, r.flag) for r in table.itertuples()],
                           column=[f"{'UA' if r.metric == 'ua' else 'minority recall'} @ {r.ratio:g}:1"
                                   for r in table.itertuples()])
    wide = display.pivot(index="method", columns="column", values="cell")
    wide = wide[[c for m in ("UA", "minority recall") for r in sorted(table["ratio"].unique())
                 for c in [f"{m} @ {r:g}:1"]]]
    return Section("imbalance", "Imbalance", [
        "UA and minority-class recall as the Neutral:other ratio of the training data grows (test data "
        "untouched). Minority-class recall = mean recall of the non-Neutral classes, which are all minority "
        "classes under a Neutral-heavy ratio. Whiskers: bootstrap 95% CI over test utterances."],
        tables=[ReportTable("imbalance", "Imbalance sweep (%): UA and minority-class recall per Neutral:other "
                            "ratio [95% CI]", wide.reset_index(), [_legend()], table)],
        figures=P.main_and_full(
            "imbalance_curves", f"UA and minority-class recall against the Neutral:other training ratio ({mark}); "
            "whiskers: bootstrap 95% CI (points dodged along the ratio axis).",
            lambda methods: F.imbalance_figure(table[table["method"].isin(methods)], inputs.styles, "non-Neutral"),
            table["method"].unique(), inputs.main_scores(), criterion=MAIN_CRITERION,
            wide_full=table["method"].nunique() > 8))


def transfer_section(inputs: ReportInputs) -> Section | None:
    section = Section("transfer", "Cross-lingual and cross-corpus transfer", [
        "UA of a model trained on the row language (corpus) and tested on the column one; "
        "mean over seeds of the fold-pooled UA."])
    ser = ser_cells(inputs.cells)
    for train_key, test_key, what, name in TRANSFER_KEYS:
        cells = ser[_meta(ser, train_key).notna() & _meta(ser, test_key).notna()]
        if cells.empty:
            continue
        cells = cells.assign(train=_meta(cells, train_key).astype(str), test=_meta(cells, test_key).astype(str))
        records = []
        for (method, train, test), group in cells.groupby(["method", "train", "test"]):
            s = inputs.score(group)
            records.append({"method": method, "train": train, "test": test, "ua": float(s.value["ua"]),
                            "ua_low": float(s.low["ua"]), "ua_high": float(s.high["ua"]), "flag": si_flag(group)})
        values = pd.DataFrame(records)
        order = _language_order(set(values["train"]) | set(values["test"])) if what == "language" else \
            sorted(set(values["train"]) | set(values["test"]))
        for method, rows in values.groupby("method"):
            matrix = rows.pivot(index="train", columns="test", values="ua").reindex(index=order, columns=order)
            matrix = matrix.dropna(how="all").dropna(axis=1, how="all")
            mark = si_flag(cells[cells["method"] == method])
            non_tonal = sum(lang not in TONAL_LANGUAGES for lang in matrix.index) if what == "language" else None
            tonal_note = " Tonal languages sit below/right of the white line." \
                if non_tonal and non_tonal < len(matrix.index) else ""
            section.figures.append(ReportFigure(
                f"transfer_{what}_{_slug(method)}",
                f"{name} transfer of {method} ({mark}): UA, train on row / test on column.{tonal_note}",
                F.transfer_heatmap_figure(matrix, f"{method} [{mark}]", split_after=non_tonal),
                appendix=P.in_appendix(method, values["method"].unique(), inputs.main_scores())))
        display = values.assign(cell=[fmt(r.ua, r.ua_low, r.ua_high, r.flag) for r in values.itertuples()])
        wide = display.pivot(index=["method", "train"], columns="test", values="cell")
        wide = wide[[c for c in order if c in wide.columns]].fillna("–").reset_index()
        wide.columns = ["method", f"train {what}"] + [f"test {c}" for c in wide.columns[2:]]
        section.tables.append(ReportTable(f"transfer_{what}", f"{name} transfer: UA (%) [95% CI]",
                                          wide, [_legend()], values))
    return section if section.figures else None


def _language_order(languages: set[str]) -> list[str]:
    """Non-tonal languages first, then tonal ones, so tonal rows/columns sit together."""
    return sorted(languages, key=lambda lang: (lang in TONAL_LANGUAGES, lang))


def embedding_cells(inputs: ReportInputs) -> list[tuple[pd.Series, dict[str, np.ndarray]]]:
    """(cell, test embeddings) of every cell that kept embeddings: main protocol first, then lowest seed."""
    main = set(choose_main(inputs.cells)["run_id"])
    ser = ser_cells(inputs.cells)
    cells = ser.assign(_other=~ser["run_id"].isin(main), _seed=pd.to_numeric(ser["seed"], errors="coerce"))
    if "speaker_probe_acc" in cells.columns:
        # The runner logs a speaker probe exactly for the cells whose embeddings it keeps: asking the
        # artifact store only about those saves one listing per cell on a suite of hundreds.
        cells = cells[cells["speaker_probe_acc"].notna()]
    out = []
    for _, row in cells.sort_values(["_other", "protocol", "method", "_seed", "fold"]).iterrows():
        emb = inputs.embeddings(row["run_id"])
        if emb is not None:
            out.append((row, emb))
    return out


def language_distance_section(inputs: ReportInputs, embedded: list[tuple[pd.Series, dict]]) -> Section | None:
    from benchmark.report.distances import language_distances

    records = []
    for row, emb in embedded:
        for pair in language_distances(emb["Z"], emb["languages"]):
            records.append({"method": row["method"], "run_id": row["run_id"], **pair})
    if not records:
        return None
    per_run = pd.DataFrame(records)
    pairs = per_run.groupby(["method", "a", "b"], as_index=False)["distance"].mean()
    pairs["group"] = [_pair_group(a, b) for a, b in zip(pairs["a"], pairs["b"])]
    summary = pairs.groupby(["method", "group"], as_index=False).agg(distance=("distance", "mean"),
                                                                     low=("distance", "min"),
                                                                     high=("distance", "max"))
    group_order = [g for g in ("non-tonal ↔ non-tonal", "tonal ↔ non-tonal", "tonal ↔ tonal")
                   if g in set(summary["group"])]
    summary["group"] = pd.Categorical(summary["group"], group_order, ordered=True)
    summary = summary.sort_values(["method", "group"])
    pairs["pair"] = pairs["a"] + "–" + pairs["b"]
    wide = pairs.pivot(index="method", columns="pair", values="distance")
    ordered_pairs = sorted(wide.columns, key=lambda p: (group_order.index(_pair_group(*p.split("–"))), p))
    marks = {m: si_flag(inputs.cells[inputs.cells["run_id"].isin(per_run.loc[per_run["method"] == m, "run_id"])])
             for m in wide.index}
    display = wide[ordered_pairs].apply(lambda col: pd.Series([f"{v:.3f} {marks[m]}" for m, v in col.items()],
                                                              index=col.index))
    display = display.reset_index()
    return Section("latent_consistency", "Latent consistency across languages", [
        "Unbiased squared MMD (RBF kernel, median-heuristic bandwidth; benchmark.metrics.mmd_rbf) between the "
        "test embeddings of two languages, "
        "each embedding dimension z-scored within a run, averaged over the runs that kept embeddings; "
        "lower = the representation is more language-independent. Pairs with a tonal language (Mandarin "
        "zh) are shown apart from pairs of non-tonal languages."],
        tables=[ReportTable("language_distances", "Squared MMD between per-language embedding distributions",
                            display, [f"Tonal languages: {', '.join(sorted(TONAL_LANGUAGES))}. " + _legend()],
                            pairs)],
        figures=P.main_and_full(
            "language_distances", "Mean squared MMD between per-language embedding distributions, one panel per "
            "pair kind; whiskers: range over the language pairs.",
            lambda methods: F.distance_figure(summary[summary["method"].isin(methods)].astype({"group": str}),
                                              inputs.styles, "squared MMD"),
            summary["method"].astype(str).unique(), inputs.main_scores(), criterion=MAIN_CRITERION))


def _pair_group(a: str, b: str) -> str:
    tonal = (a in TONAL_LANGUAGES) + (b in TONAL_LANGUAGES)
    return ("non-tonal ↔ non-tonal", "tonal ↔ non-tonal", "tonal ↔ tonal")[tonal]


def _richest(embedded: list[tuple[pd.Series, dict]]) -> dict[str, tuple[pd.Series, dict]]:
    """Per method, the run whose test set spans the most languages, speakers and utterances.

    Ties go to the earliest in ``embedded`` (main protocol, lowest seed, first fold).
    """
    best: dict[str, tuple[tuple, tuple[pd.Series, dict]]] = {}
    for order, (row, emb) in enumerate(embedded):
        rank = (len(set(emb["languages"].tolist())), len(set(emb["speakers"].tolist())), len(emb["Z"]), -order)
        if row["method"] not in best or rank > best[row["method"]][0]:
            best[row["method"]] = (rank, (row, emb))
    return {method: pick for method, (_, pick) in sorted(best.items())}


def projection_section(inputs: ReportInputs, embedded: list[tuple[pd.Series, dict]],
                       method: str = "auto") -> Section | None:
    """A 2-D projection of one run's test embeddings per method, coloured by emotion, speaker and language."""
    from benchmark.report.distances import project_2d

    if not embedded:
        return None
    section = Section("projection", "Embedding projections", [
        "One run per method, the one whose test set spans the most languages and speakers: each fold and seed "
        "is a different model, so their embedding spaces are never pooled. t-SNE (scikit-learn, exact "
        f"gradients) when the test set has at most {TSNE_MAX_POINTS} utterances, else PCA; embedding "
        "dimensions z-scored first."])
    for name, (row, emb) in _richest(embedded).items():
        points, how = project_2d(emb["Z"], method=method, seed=inputs.seed, max_tsne=TSNE_MAX_POINTS)
        mark = flag(str(row["speaker_independent"]).lower() == "true")
        colourings = {"emotion": emb["y"], "speaker": emb["speakers"], "language": emb["languages"]}
        section.figures.append(ReportFigure(
            f"projection_{_slug(name)}",
            f"{how} of the test embeddings of {name} ({row['protocol']}, fold {row['fold']}, seed "
            f"{row['seed']}, {mark}; {len(emb['Z'])} utterances) coloured by emotion, speaker and language.",
            F.projection_figure(points, colourings, f"{name} [{mark}]", axis_name=how), wide=True,
            appendix=P.in_appendix(name, list(_richest(embedded)), inputs.main_scores())))
    return section


def speaker_probe_section(inputs: ReportInputs, embedded: list[tuple[pd.Series, dict]]) -> Section | None:
    """Speaker-probe accuracy vs chance per protocol and method, recomputed from each cell's test embeddings.

    One chart per protocol: protocols test on different speakers (a cross-lingual cell on one language's
    speakers), so their chance levels differ and pooling them would compare nothing.
    """
    from benchmark.leaderboard import run_speaker_probe

    records = []
    for row, _emb in embedded:
        probe = run_speaker_probe(row["run_id"], int(row["seed"]), inputs.tracking_uri)
        if probe is None:
            continue
        if np.isfinite(probe["speaker_probe_acc"]):
            records.append({"protocol": str(row["protocol"]), "method": row["method"], "run_id": row["run_id"],
                            **probe})
    if not records:
        return None
    per_run = pd.DataFrame(records)
    table = per_run.groupby(["protocol", "method"], as_index=False).agg(
        accuracy=("speaker_probe_acc", "mean"), low=("speaker_probe_acc", "min"),
        high=("speaker_probe_acc", "max"), chance=("speaker_probe_chance", "mean"),
        chance_low=("speaker_probe_chance", "min"), chance_high=("speaker_probe_chance", "max"),
        runs=("run_id", "size"))
    main_protocol = str(choose_main(inputs.cells)["protocol"].iloc[0]) if not choose_main(inputs.cells).empty else ""
    protocols = sorted(table["protocol"].unique(), key=lambda p: (p != main_protocol, p))
    table["protocol"] = pd.Categorical(table["protocol"], protocols, ordered=True)
    table = table.sort_values(["protocol", "method"]).astype({"protocol": str}).reset_index(drop=True)
    cells = inputs.cells[inputs.cells["run_id"].isin(per_run["run_id"])]
    marks = {(str(p), m): si_flag(g) for (p, m), g in cells.groupby(["protocol", "method"])}
    mark = [marks.get((r.protocol, r.method), "") for r in table.itertuples()]
    display = pd.DataFrame({
        "protocol": table["protocol"], "method": table["method"],
        "probe accuracy (%)": [f"{_pct(r.accuracy)} [{_pct(r.low)}, {_pct(r.high)}] {m}"
                               for r, m in zip(table.itertuples(), mark)],
        "chance (%)": [f"{_pct(r.chance)} {m}" for r, m in zip(table.itertuples(), mark)],
        "accuracy / chance": [f"{r.accuracy / r.chance:.2f} {m}" for r, m in zip(table.itertuples(), mark)],
        "runs": table["runs"].astype(str)})
    section = Section("speaker_probe", "Speaker leakage", [
        "A linear probe (z-scored logistic regression, benchmark.metrics.speaker_probe) predicts the speaker "
        "from each method's frozen test embeddings, on test speakers the method never saw when the split is "
        "speaker-independent; it trains on half of each speaker's utterances and is scored on the other half. "
        "Chance = the majority-speaker rate. Accuracy near chance = little speaker identity leaks into the "
        "embedding. Mean over runs, [min, max] over folds and seeds. One chart per protocol: each protocol "
        "tests on its own speakers, so each has its own chance level."],
        tables=[ReportTable("speaker_probe", "Speaker-probe accuracy vs chance, per protocol", display, [_legend()],
                            table)])
    for protocol, rows in table.groupby("protocol", sort=False):
        chance = float(rows["chance"].mean())
        spread = (f", {_pct(rows['chance_low'].min())}–{_pct(rows['chance_high'].max())}% over its runs"
                  if rows["chance_high"].max() - rows["chance_low"].min() > 0.005 else "")
        flag_ = si_flag(cells[cells["protocol"].astype(str) == protocol])
        section.figures += P.main_and_full(
            f"speaker_probe_{_slug(protocol)}",
            f"Speaker-probe accuracy per method, protocol {protocol} ({flag_}): point = mean over runs, whisker = "
            f"range over runs, dashed line = chance, {_pct(chance)}% (majority-speaker rate of this protocol's "
            f"test speakers{spread}). Lower = less speaker identity in the embedding.",
            functools.partial(_speaker_probe_for, rows, inputs.styles, chance),
            rows["method"].astype(str).unique(), inputs.main_scores(), criterion=MAIN_CRITERION)
    return section


# ----------------------------------------------------------------------------- TTS


def _tts_references(cells: pd.DataFrame) -> list[str]:
    """The reference systems among TTS cells (tag ``meta.system`` = reference: ground truth, resynthesis)."""
    refs = cells[_meta(cells, "system").astype(str) == "reference"]["method"].astype(str).unique()
    return sorted(refs, key=lambda m: (m != "ground_truth", m))


def _tts_system_order(cells: pd.DataFrame) -> list[str]:
    """References first (ground truth, then resynthesis), then the control "none", then the methods."""
    refs = _tts_references(cells)
    others = sorted(set(cells["method"].astype(str)) - set(refs), key=lambda m: (m != "none", m))
    return refs + others


def _settings_notes(inputs: ReportInputs, cells: pd.DataFrame) -> list[str]:
    """What judged and transcribed the speech, and how MCD was computed, from the cells' tts/settings.json."""
    judges, accuracy, asr, mcd, vocoder = set(), {}, set(), set(), set()
    scorers: dict[str, set[str]] = {}
    for row in cells.to_dict("records"):
        settings = results.load_tts_settings(row["run_id"], inputs.tracking_uri) or {}
        for name, record in (settings.get("scorers") or {}).items():   # the other registered scorers' settings
            scorers.setdefault(name, set()).add(_describe(record))
        judge = settings.get("judge") or {}
        if judge.get("name"):
            how = "; ".join(str(judge[k]) for k in ("classifier", "trained_on") if judge.get(k))
            judges.add(f"{judge['name']} ({how})" if how else str(judge["name"]))
        acc = judge.get("heldout_accuracy", row.get("judge_heldout_accuracy"))
        if acc is not None and np.isfinite(float(acc)):
            accuracy[str(row["seed"])] = float(acc)   # one judge per seed, shared by the seed's systems
        a = settings.get("asr") or {}
        if a:
            beam = a.get("beam_size", a.get("beam"))
            asr.add(", ".join(f"{k} {v}" for k, v in (("backend", a.get("backend")), ("model", a.get("model")),
                                                     ("beam", beam)) if v is not None))
        if settings.get("mcd"):
            mcd.add(_describe(settings["mcd"]))
        if settings.get("vocoder"):
            vocoder.add(_describe(settings["vocoder"]))
    notes = []
    judge_text = f"Judge: {'; '.join(sorted(judges)) or 'not recorded'}"
    if accuracy:
        values = np.array(list(accuracy.values()))
        spread = (f" (range {_pct(values.min())}–{_pct(values.max())} over {len(values)} seeds)"
                  if len(values) > 1 else "")
        judge_text += f"; its accuracy on the held-out ground-truth recordings: {_pct(values.mean())}%{spread}"
    notes.append(judge_text + ". Emotion accuracy = the judge's accuracy against the intended emotion.")
    notes.append(f"ASR (WER, CER): {'; '.join(sorted(asr)) or 'not recorded'}; text normalised with Whisper's "
                 "normaliser; corpus-level rates (summed errors / summed reference words or characters).")
    notes.append(f"MCD: {'; '.join(sorted(mcd)) or 'not recorded'}. F0 RMSE over DTW-aligned frames voiced in both.")
    if vocoder:
        notes.append(f"Vocoder: {'; '.join(sorted(vocoder))}.")
    notes += [f"Scorer {name}: {'; '.join(sorted(records))}." for name, records in sorted(scorers.items())]
    return notes


def _describe(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_describe(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    return str(value)


def tts_columns(inputs: ReportInputs, cells: pd.DataFrame) -> list[str]:
    """The TTS table's metric columns: judge accuracy and UA, the judge's recall of each class, then every
    registered TTS-table metric shown in reports (``in_report``) whose column the cells' per-utterance
    tables carry, in registration order (``benchmark.metrics.registry``)."""
    classes = st.class_labels(inputs.predictions(cells))
    present: set[str] = set()
    for run_id in cells["run_id"]:
        present |= set(results.load_tts_utterances(run_id, inputs.tracking_uri).columns)
    tts = [s.name for s in METRICS if s.reads == "tts_table" and s.in_report and s.numerator in present]
    return ["wa", "ua", *[f"recall.{c}" for c in classes], *tts]


def _tts_table(inputs: ReportInputs, cells: pd.DataFrame, corpus: str, references: list[str],
               several: bool) -> ReportTable:
    columns = tts_columns(inputs, cells)
    definition = LB.LeaderboardDef(name=f"report-tts-{corpus}", suite=inputs.suite, protocol=TTS_PROTOCOL,
                                   corpus=corpus, rank_by="wa", columns=columns,
                                   labels={"wa": "Emotion accuracy", "ua": "Emotion UA"}, references=references,
                                   n_bootstrap=inputs.n_bootstrap, seed=inputs.seed)
    board = LB.build_leaderboard(definition, inputs.tracking_uri, progress=False)
    conditioner = {str(m): str(g.iloc[0]) for m, g in _meta(cells, "conditioner").groupby(cells["method"])}
    rows = []
    for e in board.entries.to_dict("records"):
        ref = bool(e.get("reference"))
        row = {"rank": LB.REFERENCE_MARK if ref else str(e["rank"]),
               "system": f"{e['method']} (reference)" if ref else e["method"],
               "emotion accuracy (%)": fmt(e["wa"], e["wa_low"], e["wa_high"], "", e["wa_sd"]).strip()}
        for metric in columns[1:]:
            f = functools.partial(LB.format_metric, metric)
            row[definition.header(metric)] = f"{f(e[metric])} [{f(e[f'{metric}_low'])}, {f(e[f'{metric}_high'])}]"
        if ref:
            versus = "reference"
        elif e["method"] == board.leader:
            versus = "leader"
        elif np.isfinite(e["p_vs_leader"]):
            floor = 2 / (inputs.n_bootstrap + 1)   # the smallest p a paired bootstrap can give
            versus = f"{LB.TIE_MARK + ' ' if e['tied_with_leader'] else ''}p {LB.format_p(e['p_vs_leader'], floor)}"
        else:
            versus = "n/a"
        cond = conditioner.get(e["method"], "")
        row.update({"conditioning": cond if cond not in ("", "nan") else "–", "vs leader": versus,
                    "seeds": str(e["seeds"]), "test utt.": str(e["n_test"])})
        rows.append(row)
    values = board.entries.drop(columns=["run_ids"]).assign(corpus=corpus)
    notes = [
        "Each column in the unit its header names; mean over seeds (± sd over seeds for "
        f"emotion accuracy) [bootstrap 95% CI over the held-out utterances, {inputs.n_bootstrap} resamples, the "
        "same resamples for every column and seed]. Ranked by emotion accuracy; "
        f"{LB.TIE_MARK} = not significantly different from the leader (paired bootstrap, alpha = 0.05). "
        "Emotion UA and Recall <class> are the judge's, against the intended emotion. "
        + "; ".join(f"{METRICS.get(c).label}: {METRICS.get(c).description}, {METRICS.get(c).better}"
                    for c in columns if LB.is_tts_metric(c)) + ".",
        "Reference rows are not ranked or tested: ground_truth = the held-out recordings themselves (MCD and F0 "
        "are against themselves, so not shown), resynthesis = Griffin-Lim from their true log-mel (the "
        "vocoder's ceiling); none = the TTS model without emotion conditioning (the control).",
        *_settings_notes(inputs, cells), *board.notes]
    key = "tts" + (f"_{_slug(corpus)}" if several else "")
    return ReportTable(key, f"Emotional TTS on {corpus}: judge emotion accuracy, UA and per-class recall, "
                            "intelligibility (Whisper WER/CER), distance and similarity to the ground truth and "
                            "predicted quality, per system", pd.DataFrame(rows),
                       notes, values)


def _showcase_rows(inputs: ReportInputs, cells: pd.DataFrame, order: list[str]
                   ) -> tuple[list[tuple[str, dict[str, np.ndarray]]], str, str, str]:
    """(system, showcase) rows of one seed: the ground truth, then every system that logged one for the
    same sentence and speaker. Returns the rows, the sentence, the speaker and the seed."""
    seeds = sorted(cells["seed"].astype(str).unique(), key=st.natural_key)
    for seed in seeds:
        at_seed = cells[cells["seed"].astype(str) == seed]
        shows = []
        for system in order:
            group = at_seed[at_seed["method"].astype(str) == system]
            if group.empty:
                continue
            show = results.load_tts_showcase(group.iloc[0]["run_id"], inputs.tracking_uri)
            if show is not None and len(show.get("emotions", [])) > 0:
                shows.append((system, show))
        if not shows:
            continue
        text, speaker = str(shows[0][1]["text"]), str(shows[0][1]["speaker"])
        same = [(m, s) for m, s in shows if str(s["text"]) == text and str(s["speaker"]) == speaker]
        if len(same) > 1 or seed == seeds[-1]:
            return same, text, speaker, seed
    return [], "", "", ""


def tts_section(inputs: ReportInputs) -> Section | None:
    """Emotional TTS: one row per system (judge emotion accuracy with CI, WER, CER, MCD, F0 RMSE), the
    judge's recall per intended emotion, and log-mel spectrograms of one sentence in every emotion."""
    cells = tts_cells(inputs.cells)
    if cells.empty:
        return None
    section = Section("tts", "Emotional TTS", [
        "Each system synthesizes the held-out sentences of the corpus (never seen in TTS training) for their "
        "speakers, conditioned on a reference utterance of the same speaker and emotion but another sentence. "
        "A judge SER classifier that is none of the compared methods labels the synthesized audio (emotion "
        "accuracy: how often it recognises the intended emotion); Whisper transcribes it (WER, CER: "
        "intelligibility); MCD and F0 RMSE measure the distance to the ground-truth recording of the same "
        "sentence, speaker and emotion. Every number is recomputed from the cells' predictions tables and "
        "per-utterance tables."])
    corpora = sorted(cells["corpus"].astype(str).unique())
    if set(corpora) & SYNTHETIC_CORPORA:
        section.text.append(f"The embedded corpus is synthetic ({SYNTHETIC_NOTE}): its ground truth is eSpeak NG "
                            "speech, so these numbers say how well each system reproduces it, not how natural "
                            "its speech would be on human recordings.")
    for corpus in corpora:
        group = cells[cells["corpus"].astype(str) == corpus]
        references = _tts_references(group)
        order = _tts_system_order(group)
        where = f" on {corpus}" if len(corpora) > 1 else ""
        slug = f"_{_slug(corpus)}" if len(corpora) > 1 else ""
        try:
            section.tables.append(_tts_table(inputs, group, corpus, references, len(corpora) > 1))
        except EmobenchError as exc:   # e.g. only reference systems finished: say so, keep the rest
            section.text.append(f"No TTS table for {corpus}: {exc}")
        records = []
        for system in order:
            s = inputs.score(group[group["method"].astype(str) == system])
            for key in [k for k in s.value if k.startswith("recall.")]:
                records.append({"method": system, "class": key.removeprefix("recall."), "recall": s.value[key],
                                "low": s.low[key], "high": s.high[key]})
        if records:
            names = {m: f"{m} (ref.)" if m in references else m for m in order}
            section.figures.append(ReportFigure(
                f"tts_emotion_accuracy{slug}",
                f"Emotion accuracy per intended emotion{where}: the judge's recall of each emotion in each system's "
                "speech (mean over seeds), one panel per emotion; point = recall, whisker = bootstrap 95% CI "
                "over held-out utterances. (ref.) = reference system. "
                + ST.caption_note([m for m in order if m not in references]),
                F.per_class_recall_figure(pd.DataFrame(records), inputs.styles, xlabel="judge recall",
                                          order=list(reversed(order)), names=names, ylabel="system")))
        shows, text, speaker, seed = _showcase_rows(inputs, group, [m for m in order if m != "resynthesis"])
        if shows:
            section.figures.append(ReportFigure(
                f"tts_mel_showcase{slug}",
                f"Log-mel spectrograms of one held-out sentence, \"{text}\", for speaker {speaker}{where} (seed "
                f"{seed}) in each emotion: rows = systems (ground_truth = the real recordings, where the corpus has "
                "that sentence in that emotion), columns = intended emotion; one colour scale for all panels.",
                F.mel_showcase_figure(shows), wide=True))
    return section


# ----------------------------------------------------------------------------- notes and provenance


def synthetic_notes(cells: pd.DataFrame) -> list[str]:
    corpora = set(cells["corpus"].astype(str))
    for train_key, test_key, what, _ in TRANSFER_KEYS:
        if what == "corpus":
            corpora |= set(_meta(cells, train_key).dropna().astype(str)) | set(_meta(cells, test_key).dropna()
                                                                              .astype(str))
    return [SYNTHETIC_NOTE] if corpora & SYNTHETIC_CORPORA else []


PROVENANCE_PARAMS = ("code_version", "data_hash", "config_digest", "split_digest")


def provenance(cells: pd.DataFrame) -> pd.DataFrame:
    """code version, data hash, config digest and package versions, with run counts where runs differ."""
    rows = [{"item": "finished cell runs", "value": str(len(cells))},
            {"item": "corpora", "value": ", ".join(sorted(cells["corpus"].astype(str).unique()))},
            {"item": "methods", "value": ", ".join(sorted(cells["method"].astype(str).unique()))},
            {"item": "protocols", "value": ", ".join(sorted(cells["protocol"].astype(str).unique()))}]
    columns = [f"params.{p}" for p in PROVENANCE_PARAMS if p != "split_digest"]
    columns += sorted(c for c in cells.columns if c.startswith("params.pkg."))
    for column in columns:
        if column not in cells.columns:
            continue
        counts = cells[column].fillna("(not logged)").astype(str).value_counts()
        value = counts.index[0] if len(counts) == 1 else "; ".join(f"{v} ({n} runs)" for v, n in counts.items())
        rows.append({"item": column.removeprefix("params."), "value": value})
    return pd.DataFrame(rows)


def _legend() -> str:
    return f"{SI_MARK} = speaker-independent, {SD_MARK} = speaker-dependent split."


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(text)).strip("_").lower()


def _speaker_probe_for(rows: pd.DataFrame, styles: Any, chance: float, methods: Any) -> Any:
    """The speaker-probe figure of ``methods`` (the main or the full set of a figure pair)."""
    return F.speaker_probe_figure(rows[rows["method"].isin(methods)], styles, chance=chance)
