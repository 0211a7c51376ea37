"""What the report shows, computed from the suite's MLflow records.

Each ``*_section`` function takes the finished cells of a suite (one row per
grid cell, from ``benchmark.results``) and returns a :class:`Section`, or None
when the suite has no data for it, so a suite without an imbalance sweep simply
has no imbalance section. Every number is recomputed here from the cells'
predictions tables and embeddings, never copied from a logged metric, except
the speaker probe, whose accuracy the runner measured on the frozen
embeddings and logged.

Aggregation (stated in the report too): for one (protocol, method), the
predictions of all folds of a seed are pooled and scored; the value shown is
the mean over seeds of those pooled scores. Its 95% CI is a bootstrap over
test utterances: each resample draws utterances with replacement and the
same draw is applied to every seed, so the CI is that of the seed mean.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from benchmark.labels import EMOTIONS, NEUTRAL
from benchmark.report import figures as F
from benchmark.report.content import (SD_MARK, SI_MARK, SYNTHETIC_NOTE, ReportFigure, ReportTable, Section,
                                      flag)

# ISO 639-1 codes of tonal languages; everything else counts as non-tonal.
TONAL_LANGUAGES = frozenset({"zh", "vi", "th", "lo", "my", "yo", "ig", "pa"})
SYNTHETIC_CORPORA = frozenset({"embedded"})
# (train meta key, test meta key, what is transferred, how the report names it)
TRANSFER_KEYS = (("train_language", "test_language", "language", "Cross-lingual"),
                 ("train_corpus", "test_corpus", "corpus", "Cross-corpus"))
TSNE_MAX_POINTS = 500   # above this the projection is PCA: t-SNE's cost grows quadratically


@dataclass
class ReportInputs:
    """The finished cells of one suite and lazy access to their artifacts."""

    cells: pd.DataFrame                                   # one row per cell run; see ``benchmark.results``
    predictions: Callable[[str], pd.DataFrame]            # run id -> predictions table
    embeddings: Callable[[str], dict[str, np.ndarray] | None]   # run id -> test embeddings, None if absent
    n_bootstrap: int = 1000
    seed: int = 0
    colors: dict[str, tuple] = field(default_factory=dict)

    _scored: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.colors:
            self.colors = F.method_colors(self.cells["method"].unique())

    def score(self, cells: pd.DataFrame) -> "Scored":
        """:func:`score` of the pooled predictions of ``cells``, computed once per set of runs."""
        key = tuple(sorted(cells["run_id"]))
        if key not in self._scored:
            self._scored[key] = score(self, pooled_predictions(self, cells))
        return self._scored[key]


# ----------------------------------------------------------------------------- cells and pooling


def _meta(cells: pd.DataFrame, key: str) -> pd.Series:
    column = f"meta.{key}"
    return cells[column] if column in cells.columns else pd.Series(np.nan, index=cells.index)


def main_protocol_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Cells of protocols that are neither an imbalance sweep nor a transfer (train A / test B) protocol."""
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


def pooled_predictions(inputs: ReportInputs, cells: pd.DataFrame) -> pd.DataFrame:
    """The predictions of ``cells`` stacked, with the cell's run id, seed and fold on every row."""
    frames = [inputs.predictions(row["run_id"]).assign(run_id=row["run_id"], seed=str(row["seed"]),
                                                       fold=str(row["fold"])) for _, row in cells.iterrows()]
    return pd.concat(frames, ignore_index=True)


def class_order(pred: pd.DataFrame) -> list[str]:
    """Classes seen in labels, predictions or probability columns, in the canonical EMOTIONS order."""
    seen = set(pred["y_true"]) | set(pred["y_pred"]) | {c[2:] for c in pred.columns if c.startswith("p_")}
    return [e for e in EMOTIONS if e in seen] + sorted(seen - set(EMOTIONS))


# ----------------------------------------------------------------------------- scores with a bootstrap


def _confusions(pred: pd.DataFrame, labels: Sequence[str], weights: np.ndarray | None = None) -> np.ndarray:
    """Confusion counts per seed, shape (n_weights, n_seeds, K, K); weights are per unique utt_id."""
    k = len(labels)
    index = {c: i for i, c in enumerate(labels)}
    code = pred["y_true"].map(index).to_numpy() * k + pred["y_pred"].map(index).to_numpy()
    utt_codes, utt = np.unique(pred["utt_id"].to_numpy(), return_inverse=True)
    weights = np.ones((1, len(utt_codes))) if weights is None else weights
    seeds = sorted(pred["seed"].unique())
    out = np.zeros((weights.shape[0], len(seeds), k * k))
    for s, seed in enumerate(seeds):
        rows = (pred["seed"] == seed).to_numpy()
        onehot = np.zeros((rows.sum(), k * k))
        onehot[np.arange(rows.sum()), code[rows]] = 1.0
        out[:, s] = weights[:, utt[rows]] @ onehot
    return out.reshape(weights.shape[0], len(seeds), k, k)


def _scores(cm: np.ndarray, minority: np.ndarray) -> dict[str, np.ndarray]:
    """UA, WA, macro-F1, per-class and minority recall from confusion counts (..., S, K, K), mean over seeds S.

    ``minority`` masks the minority classes (the non-Neutral ones); their mean
    recall is scored within each resample, so its CI is a true CI.
    """
    # A resample can miss a class entirely: its recall is NaN there and left out of the means.
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # nanmean of an all-NaN slice
        tp = np.diagonal(cm, axis1=-2, axis2=-1)
        support = cm.sum(-1)
        predicted = cm.sum(-2)
        recall = np.where(support > 0, tp / support, np.nan)
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        f1 = np.where(precision + np.nan_to_num(recall) > 0,
                      2 * precision * np.nan_to_num(recall) / (precision + np.nan_to_num(recall)), 0.0)
        present = support > 0   # like scikit-learn with labels=observed classes
        ua = np.nansum(recall, -1) / present.sum(-1)
        f1m = np.where(present, f1, 0).sum(-1) / present.sum(-1)
        wa = tp.sum(-1) / cm.sum((-2, -1))
        minority_recall = np.nanmean(np.where(minority, recall, np.nan), -1) if minority.any() else ua * np.nan
        return {"ua": ua.mean(-1), "wa": wa.mean(-1), "macro_f1": f1m.mean(-1), "recall": np.nanmean(recall, -2),
                "minority_recall": minority_recall.mean(-1)}


@dataclass
class Scored:
    """Seed-mean scores of pooled predictions with their bootstrap 95% CIs."""

    labels: list[str]
    value: dict[str, np.ndarray]       # "ua", "wa", "macro_f1" (scalars), "recall" (K,)
    low: dict[str, np.ndarray]
    high: dict[str, np.ndarray]
    n_seeds: int
    n_folds: int
    n_utterances: int


def _resample_counts(rng: np.random.Generator, n: int, n_resamples: int) -> np.ndarray:
    """How often each of ``n`` items is drawn in each of ``n_resamples`` bootstrap resamples (float matrix)."""
    draws = rng.integers(0, n, size=(n_resamples, n)) + n * np.arange(n_resamples)[:, None]
    return np.bincount(draws.ravel(), minlength=n * n_resamples).reshape(n_resamples, n).astype(float)


def score(inputs: ReportInputs, pred: pd.DataFrame, labels: Sequence[str] | None = None) -> Scored:
    """Score pooled predictions (all folds of each seed) and bootstrap the seed mean over utterances."""
    labels = list(labels or class_order(pred))
    minority = np.array([c != NEUTRAL for c in labels]) if NEUTRAL in labels else np.zeros(len(labels), bool)
    point = {k: v[0] for k, v in _scores(_confusions(pred, labels), minority).items()}
    n_utt = pred["utt_id"].nunique()
    rng = np.random.default_rng(inputs.seed)
    weights = _resample_counts(rng, n_utt, inputs.n_bootstrap)
    boot = _scores(_confusions(pred, labels, weights), minority)
    low = {k: np.nanpercentile(v, 2.5, axis=0) for k, v in boot.items()}
    high = {k: np.nanpercentile(v, 97.5, axis=0) for k, v in boot.items()}
    return Scored(labels, point, low, high, pred["seed"].nunique(), pred["fold"].nunique(), n_utt)


def fmt(value: float, low: float, high: float, mark: str) -> str:
    """A number as printed everywhere: percent, CI in brackets, the speaker-independence mark beside it."""
    return f"{100 * value:.1f} [{100 * low:.1f}, {100 * high:.1f}] {mark}"


# ----------------------------------------------------------------------------- sections


def leaderboard_section(inputs: ReportInputs) -> Section | None:
    cells = main_protocol_cells(inputs.cells)
    if cells.empty:
        return None
    section = Section("leaderboard", "Leaderboard", [
        "UA = unweighted average recall (mean of per-class recalls), WA = accuracy, macro-F1; in percent. "
        "Predictions of all folds of a seed are pooled and scored; the value is the mean over seeds and "
        f"[low, high] its bootstrap 95% CI over test utterances ({inputs.n_bootstrap} resamples, the same "
        "resample for every seed). Rows are ranked by UA."])
    for (protocol, corpus), group in cells.groupby(["protocol", "corpus"]):
        section.tables.append(_leaderboard_table(inputs, group, protocol, corpus))
    return section


def _leaderboard_table(inputs: ReportInputs, cells: pd.DataFrame, protocol: str, corpus: str) -> ReportTable:
    rows, values = [], []
    for method, group in cells.groupby("method"):
        s = inputs.score(group)
        mark = si_flag(group)
        values.append({"method": method, **{f"{k}{suffix}": d[k] for k in ("ua", "wa", "macro_f1")
                                            for suffix, d in (("", s.value), ("_low", s.low), ("_high", s.high))},
                       "speaker_independent": mark, "seeds": s.n_seeds, "folds": s.n_folds,
                       "n_test": s.n_utterances})
    values = pd.DataFrame(values).sort_values("ua", ascending=False).reset_index(drop=True)
    for v in values.itertuples():
        rows.append({"method": v.method, "UA (%)": fmt(v.ua, v.ua_low, v.ua_high, v.speaker_independent),
                     "WA (%)": fmt(v.wa, v.wa_low, v.wa_high, v.speaker_independent),
                     "macro-F1 (%)": fmt(v.macro_f1, v.macro_f1_low, v.macro_f1_high, v.speaker_independent),
                     "seeds": str(v.seeds), "folds": str(v.folds), "test utt.": str(v.n_test)})
    several_corpora = inputs.cells["corpus"].nunique() > 1
    key = f"leaderboard_{_slug(protocol)}" + (f"_{_slug(corpus)}" if several_corpora else "")
    return ReportTable(key, f"Leaderboard, protocol {protocol} on {corpus}: mean over seeds [95% CI]",
                       pd.DataFrame(rows), [_legend()], values)


def _where(cells: pd.DataFrame) -> str:
    return f"protocol {cells['protocol'].iloc[0]} on {cells['corpus'].iloc[0]}"


def confusion_section(inputs: ReportInputs, cells: pd.DataFrame) -> Section | None:
    """Row-normalised confusion matrices of the main protocol's cells, one figure per method."""
    if cells.empty:
        return None
    protocol = cells["protocol"].iloc[0]
    section = Section("confusion", "Confusion matrices", [
        f"{_where(cells).capitalize()}, predictions of all folds and seeds pooled; each row is normalised to sum "
        "to 1 (the diagonal is the per-class recall)."])
    for method, group in cells.groupby("method"):
        pred = pooled_predictions(inputs, group)
        labels = class_order(pred)
        cm = _confusions(pred.assign(seed="all"), labels)[0, 0]
        with np.errstate(invalid="ignore"):
            normalised = np.nan_to_num(cm / cm.sum(1, keepdims=True))
        mark = si_flag(group)
        section.figures.append(ReportFigure(
            f"confusion_{_slug(method)}",
            f"Confusion matrix of {method} ({protocol}, {mark}), rows normalised by the true class.",
            F.confusion_figure(normalised, labels, f"{method} [{mark}]")))
    return section


def recall_section(inputs: ReportInputs, cells: pd.DataFrame) -> Section | None:
    """Per-class recall with bootstrap CIs of the main protocol's cells."""
    if cells.empty:
        return None
    protocol = cells["protocol"].iloc[0]
    records = []
    for method, group in cells.groupby("method"):
        s = inputs.score(group)
        for i, label in enumerate(s.labels):
            records.append({"method": method, "class": label, "recall": s.value["recall"][i],
                            "low": s.low["recall"][i], "high": s.high["recall"][i], "flag": si_flag(group)})
    table = pd.DataFrame(records)
    mark = si_flag(cells)
    wide = table.assign(cell=[fmt(r.recall, r.low, r.high, r.flag) for r in table.itertuples()])
    wide = wide.pivot(index="method", columns="class", values="cell")[list(dict.fromkeys(table["class"]))]
    return Section("recall", "Per-class recall", [
        f"{_where(cells).capitalize()}: recall of each class per method (mean over seeds of the fold-pooled recall), "
        "error bars = bootstrap 95% CI over test utterances."],
        tables=[ReportTable("per_class_recall", f"Per-class recall (%), protocol {protocol} [95% CI]",
                            wide.reset_index(), [_legend()], table)],
        figures=[ReportFigure("per_class_recall", f"Per-class recall per method ({protocol}, {mark}), "
                              "95% bootstrap CI.", F.recall_bars_figure(table, inputs.colors))])


def imbalance_section(inputs: ReportInputs) -> Section | None:
    cells = inputs.cells[_meta(inputs.cells, "ratio").notna()]
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
        "classes under a Neutral-heavy ratio. Bands: bootstrap 95% CI over test utterances."],
        tables=[ReportTable("imbalance", "Imbalance sweep (%): UA and minority-class recall per Neutral:other "
                            "ratio [95% CI]", wide.reset_index(), [_legend()], table)],
        figures=[ReportFigure("imbalance_curves", f"UA (top) and minority-class recall (bottom) against the "
                              f"Neutral:other training ratio ({mark}); bands: bootstrap 95% CI.",
                              F.imbalance_figure(table, inputs.colors, "non-Neutral"))])


def transfer_section(inputs: ReportInputs) -> Section | None:
    section = Section("transfer", "Cross-lingual and cross-corpus transfer", [
        "UA of a model trained on the row language (corpus) and tested on the column one; "
        "mean over seeds of the fold-pooled UA."])
    for train_key, test_key, what, name in TRANSFER_KEYS:
        cells = inputs.cells[_meta(inputs.cells, train_key).notna() & _meta(inputs.cells, test_key).notna()]
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
                F.transfer_heatmap_figure(matrix, f"{method} [{mark}]", split_after=non_tonal)))
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
    cells = inputs.cells.assign(_other=~inputs.cells["run_id"].isin(main),
                                _seed=pd.to_numeric(inputs.cells["seed"], errors="coerce"))
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
        for pair in language_distances(emb["Z"], emb["languages"], seed=inputs.seed):
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
        "Squared MMD (RBF kernel, median-heuristic bandwidth) between the test embeddings of two languages, "
        "each embedding dimension z-scored within a run, averaged over the runs that kept embeddings; "
        "lower = the representation is more language-independent. Pairs with a tonal language (Mandarin "
        "zh) are shown apart from pairs of non-tonal languages."],
        tables=[ReportTable("language_distances", "Squared MMD between per-language embedding distributions",
                            display, [f"Tonal languages: {', '.join(sorted(TONAL_LANGUAGES))}. " + _legend()],
                            pairs)],
        figures=[ReportFigure("language_distances", "Mean squared MMD between per-language embedding "
                              "distributions by pair kind; error bars: range over the language pairs.",
                              F.distance_figure(summary.astype({"group": str}), inputs.colors, "squared MMD"))])


def _pair_group(a: str, b: str) -> str:
    tonal = (a in TONAL_LANGUAGES) + (b in TONAL_LANGUAGES)
    return ("non-tonal ↔ non-tonal", "tonal ↔ non-tonal", "tonal ↔ tonal")[tonal]


def projection_section(inputs: ReportInputs, embedded: list[tuple[pd.Series, dict]],
                       method: str = "auto") -> Section | None:
    from benchmark.report.distances import project_2d

    if not embedded:
        return None
    section = Section("projection", "Embedding projections", [])
    seen = set()
    for row, emb in embedded:
        if row["method"] in seen:   # one run per method: folds are different models, never pooled
            continue
        seen.add(row["method"])
        points, how = project_2d(emb["Z"], method=method, seed=inputs.seed, max_tsne=TSNE_MAX_POINTS)
        mark = flag(str(row["speaker_independent"]).lower() == "true")
        colourings = {"emotion": emb["y"], "speaker": emb["speakers"], "language": emb["languages"]}
        section.figures.append(ReportFigure(
            f"projection_{_slug(row['method'])}",
            f"{how} of the test embeddings of {row['method']} ({row['protocol']}, fold {row['fold']}, seed "
            f"{row['seed']}, {mark}; {len(emb['Z'])} utterances) coloured by emotion, speaker and language.",
            F.projection_figure(points, colourings, f"{row['method']} [{mark}]"), wide=True))
    section.text.append("One run per method (the first fold of the lowest seed): each fold is a different "
                        "model, so their embedding spaces are not comparable. t-SNE (scikit-learn) when the test "
                        f"set has at most {TSNE_MAX_POINTS} utterances, else PCA.")
    return section


def speaker_probe_section(inputs: ReportInputs) -> Section | None:
    cells = inputs.cells
    if "speaker_probe_acc" not in cells.columns or cells["speaker_probe_acc"].isna().all():
        return None
    cells = cells[cells["speaker_probe_acc"].notna()]
    table = cells.groupby("method", as_index=False).agg(
        accuracy=("speaker_probe_acc", "mean"), low=("speaker_probe_acc", "min"),
        high=("speaker_probe_acc", "max"), chance=("speaker_probe_chance", "mean"), runs=("run_id", "size"))
    marks = {m: si_flag(g) for m, g in cells.groupby("method")}
    display = pd.DataFrame({
        "method": table["method"],
        "probe accuracy (%)": [f"{100 * r.accuracy:.1f} [{100 * r.low:.1f}, {100 * r.high:.1f}] {marks[r.method]}"
                               for r in table.itertuples()],
        "chance (%)": [f"{100 * r.chance:.1f} {marks[r.method]}" for r in table.itertuples()],
        "accuracy / chance": [f"{r.accuracy / r.chance:.2f} {marks[r.method]}" for r in table.itertuples()],
        "runs": table["runs"].astype(str)})
    return Section("speaker_probe", "Speaker leakage", [
        "A linear probe trained to predict the speaker from each method's frozen test embeddings (speaker-"
        "disjoint from the emotion test, as logged by the runner). Accuracy near chance = little speaker "
        "identity leaks into the embedding. Mean over runs, [min, max] over folds and seeds."],
        tables=[ReportTable("speaker_probe", "Speaker-probe accuracy vs chance", display, [_legend()], table)],
        figures=[ReportFigure("speaker_probe", f"Speaker-probe accuracy per method ({si_flag(cells)}); bars: "
                              "mean, whiskers: range over runs, black tick: chance.",
                              F.speaker_probe_figure(table, inputs.colors))])


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
