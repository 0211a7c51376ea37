"""The report's figures: seaborn/matplotlib, one function per figure kind.

Every function takes tidy data (already computed by ``benchmark.report.data``)
and returns a :class:`matplotlib.figure.Figure`; nothing here reads MLflow or
computes a metric. Figures are built on ``Figure`` objects directly rather
than through ``pyplot``, so no global backend or figure registry is touched
(saving goes through matplotlib's Agg/PDF/SVG canvases) and a report can be
built inside a notebook or a worker without side effects.

Sizes are for papers: single-column figures are ``COLUMN_WIDTH_IN`` (3.3 in)
wide with fonts of 7-8 pt, the 3-panel embedding projection spans the text
width (``TEXT_WIDTH_IN``). Each method keeps one colour in every figure of a
report (:func:`method_colors`).
"""
from __future__ import annotations

import io
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import rc_context
from matplotlib.figure import Figure

from benchmark.report.style import display_order, method_styles

COLUMN_WIDTH_IN = 3.3
TEXT_WIDTH_IN = 6.9
MIN_FONT_PT = 7

# Fonts >= 7 pt at column width; TrueType (42) fonts in PDF so that journals'
# checkers accept them and text stays editable; a fixed SVG hash salt and no
# dates in metadata so the same data gives byte-identical files.
STYLE: dict[str, object] = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.2,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "path",   # glyphs as paths: the HTML needs no font files
    "svg.hashsalt": "emobench",
    "figure.dpi": 150,
}

_SAVE_METADATA = {
    "pdf": {"CreationDate": None, "ModDate": None, "Producer": None},
    "svg": {"Date": None},
    "png": {},
}


@contextmanager
def style() -> Iterator[None]:
    """The report's matplotlib settings, applied only inside the block."""
    with rc_context(STYLE):
        yield


def method_colors(methods: Sequence[str]) -> dict[str, tuple[float, float, float]]:
    """A fixed method -> colour map: the family hue and member shade of :mod:`benchmark.report.style`.

    In display order (baseline families first, the papers' methods last, so that they are drawn on
    top); the same method has the same colour in every figure of every report.
    """
    styles = method_styles(methods)
    return {name: styles[name].colour for name in display_order(styles)}


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _finish(fig: Figure) -> Figure:
    """Lay the figure out once and freeze it, so every later save (PDF, SVG) gives the same bytes."""
    with style():
        fig.draw_without_rendering()
    fig.set_layout_engine("none")
    return fig


def to_bytes(fig: Figure, fmt: str) -> bytes:
    """Serialise ``fig`` as ``pdf``, ``svg`` or ``png`` (deterministic for the same figure)."""
    buffer = io.BytesIO()
    with style():
        fig.savefig(buffer, format=fmt, metadata=_SAVE_METADATA[fmt], dpi=200 if fmt == "png" else None)
    return buffer.getvalue()


# The figures a forked render worker serialises: set just before the pool forks, so the children
# inherit them instead of receiving pickled figures.
_TO_RENDER: list[Figure] = []


def _render_one(job: tuple[int, str]) -> bytes:
    index, fmt = job
    return to_bytes(_TO_RENDER[index], fmt)


def render_figures(figures: Sequence[Figure], formats: Sequence[str], n_jobs: int = 1) -> list[dict[str, bytes]]:
    """Every figure in every format, ``[{fmt: bytes}, ...]`` in figure order.

    Saving is most of a report's writing time (PDF font subsetting above all) and each figure
    is independent, so with ``n_jobs`` > 1 forked processes share the work; the bytes are the
    same as a serial :func:`to_bytes` gives. Serial where ``fork`` is unavailable.
    """
    import multiprocessing as mp

    jobs = [(i, fmt) for i in range(len(figures)) for fmt in formats]
    out: list[dict[str, bytes]] = [{} for _ in figures]
    if n_jobs > 1 and len(jobs) > 1 and "fork" in mp.get_all_start_methods():
        global _TO_RENDER
        _TO_RENDER = list(figures)
        try:
            with mp.get_context("fork").Pool(min(n_jobs, len(jobs))) as pool:
                rendered = pool.map(_render_one, jobs, chunksize=1)
        finally:
            _TO_RENDER = []
    else:
        rendered = [to_bytes(figures[i], fmt) for i, fmt in jobs]
    for (i, fmt), data in zip(jobs, rendered):
        out[i][fmt] = data
    return out


def _legend_below(fig: Figure, ax, ncol: int) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=max(1, ncol), frameon=False,
                   handlelength=1.2, columnspacing=1.0)


# ----------------------------------------------------------------------------- SER


def confusion_figure(matrix: np.ndarray, labels: Sequence[str], title: str) -> Figure:
    """Row-normalised confusion matrix (rows: true class, each row sums to 1)."""
    n = len(labels)
    with style():
        fig = _figure(COLUMN_WIDTH_IN, 0.9 + 0.42 * n)
        ax = fig.add_subplot()
        sns.heatmap(pd.DataFrame(matrix, index=labels, columns=labels), ax=ax, vmin=0.0, vmax=1.0,
                    cmap="Blues", annot=True, fmt=".2f", annot_kws={"size": MIN_FONT_PT}, square=True,
                    cbar_kws={"label": "fraction of true class", "shrink": 0.8}, linewidths=0.4, linecolor="white")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=45)
        ax.tick_params(axis="y", rotation=0)
    return _finish(fig)


def recall_bars_figure(table: pd.DataFrame, colors: Mapping[str, tuple], *, ylabel: str = "recall",
                       order: Sequence[str] | None = None, names: Mapping[str, str] | None = None,
                       ncol: int | None = None, hatched: Sequence[str] = ()) -> Figure:
    """Per-class recall, one bar per method in each class group, with CI error bars.

    ``table`` columns: method, class, recall, low, high. ``order``: the methods' order (default: the
    colour map's); ``names``: legend labels (default: the method names); ``hatched``: methods whose
    bars are hatched (reference systems).
    """
    classes = list(dict.fromkeys(table["class"]))
    methods = [m for m in (order if order is not None else colors) if m in set(table["method"])]
    names = names or {}
    width = 0.8 / max(1, len(methods))
    with style():
        fig = _figure(COLUMN_WIDTH_IN, 2.5)
        ax = fig.add_subplot()
        for i, method in enumerate(methods):
            rows = table[table["method"] == method].set_index("class").reindex(classes)
            x = np.arange(len(classes)) + (i - (len(methods) - 1) / 2) * width
            err = np.vstack([rows["recall"] - rows["low"], rows["high"] - rows["recall"]])
            hatch = {"hatch": "////", "edgecolor": "white", "linewidth": 0} if method in hatched else {}
            ax.bar(x, rows["recall"], width, color=colors[method], label=names.get(method, method), **hatch,
                   yerr=np.clip(np.nan_to_num(err), 0, None), error_kw={"elinewidth": 0.7, "capsize": 1.5})
        ax.set_xticks(np.arange(len(classes)), classes)
        ax.set_ylim(0, 1.0)
        ax.set_ylabel(ylabel)
        _legend_below(fig, ax, ncol=ncol or min(3, len(methods)))
    return _finish(fig)


def imbalance_figure(table: pd.DataFrame, colors: Mapping[str, tuple], minority: str) -> Figure:
    """UA and minority-class recall against the Neutral:other ratio, with CI bands.

    ``table`` columns: method, ratio, metric ("ua" or "minority_recall"), value, low, high.
    """
    panels = [("ua", "UA"), ("minority_recall", f"minority recall ({minority})")]
    ratios = sorted(table["ratio"].unique())
    with style():
        fig = _figure(COLUMN_WIDTH_IN, 3.9)
        axes = fig.subplots(2, 1, sharex=True)
        for ax, (metric, label) in zip(axes, panels):
            for method in [m for m in colors if m in set(table["method"])]:
                rows = table[(table["method"] == method) & (table["metric"] == metric)].sort_values("ratio")
                if rows.empty:
                    continue
                ax.plot(rows["ratio"], rows["value"], marker="o", markersize=3, color=colors[method], label=method)
                ax.fill_between(rows["ratio"], rows["low"], rows["high"], color=colors[method], alpha=0.18,
                                linewidth=0)
            ax.set_ylabel(label)
            ax.set_ylim(0, 1.0)
        if len(ratios) > 1 and ratios[-1] / max(ratios[0], 1e-9) >= 8:
            axes[-1].set_xscale("log", base=2)
        axes[-1].set_xticks(ratios, [f"{r:g}" for r in ratios])
        axes[-1].minorticks_off()
        axes[-1].set_xlabel("Neutral : other ratio in training data")
        _legend_below(fig, axes[0], ncol=min(3, table["method"].nunique()))
    return _finish(fig)


def transfer_heatmap_figure(matrix: pd.DataFrame, title: str, split_after: int | None = None) -> Figure:
    """UA of a model trained on the row language/corpus and tested on the column one.

    ``split_after``: rows/columns before this index form one group (the
    non-tonal languages) and get a separating line from the rest (tonal).
    """
    n_rows, n_cols = matrix.shape
    with style():
        fig = _figure(COLUMN_WIDTH_IN, 0.9 + 0.4 * n_rows)
        ax = fig.add_subplot()
        sns.heatmap(matrix.astype(float), ax=ax, vmin=0.0, vmax=1.0, cmap="viridis", annot=True, fmt=".2f",
                    annot_kws={"size": MIN_FONT_PT}, cbar_kws={"label": "UA", "shrink": 0.8},
                    linewidths=0.4, linecolor="white", square=n_rows == n_cols)
        if split_after is not None and 0 < split_after < max(n_rows, n_cols):
            ax.axhline(split_after, color="white", linewidth=2.5)
            ax.axvline(split_after, color="white", linewidth=2.5)
        ax.set_xlabel("test on")
        ax.set_ylabel("train on")
        ax.set_title(title)
        ax.tick_params(axis="y", rotation=0)
    return _finish(fig)


def distance_figure(table: pd.DataFrame, colors: Mapping[str, tuple], measure: str) -> Figure:
    """Distances between per-language embedding distributions, tonal pairs shown apart.

    ``table`` columns: method, group (pair kind, e.g. "non-tonal vs non-tonal"),
    distance (mean over the pairs of that kind), low, high (range over the pairs).
    """
    groups = list(dict.fromkeys(table["group"]))
    methods = [m for m in colors if m in set(table["method"])]
    width = 0.8 / max(1, len(methods))
    with style():
        fig = _figure(COLUMN_WIDTH_IN, 2.4)
        ax = fig.add_subplot()
        for i, method in enumerate(methods):
            rows = table[table["method"] == method].set_index("group").reindex(groups)
            x = np.arange(len(groups)) + (i - (len(methods) - 1) / 2) * width
            err = np.vstack([rows["distance"] - rows["low"], rows["high"] - rows["distance"]])
            ax.bar(x, rows["distance"], width, color=colors[method], label=method,
                   yerr=np.clip(np.nan_to_num(err), 0, None), error_kw={"elinewidth": 0.7, "capsize": 1.5})
        ax.set_xticks(np.arange(len(groups)), groups)
        ax.set_ylabel(measure)
        _legend_below(fig, ax, ncol=min(3, len(methods)))
    return _finish(fig)


def _category_order(values: np.ndarray) -> list[str]:
    from benchmark.labels import EMOTIONS

    present = set(values.tolist())
    known = [e for e in EMOTIONS if e in present]   # emotions keep their canonical order (and colours)
    return known + sorted(present - set(known))


def _scatter_panel(ax, points: np.ndarray, values: np.ndarray, title: str, max_legend: int = 10) -> None:
    categories = _category_order(values)
    palette = sns.color_palette("colorblind" if len(categories) <= 10 else "husl", len(categories))
    for category, color in zip(categories, palette):
        mask = values == category
        # Rasterised points keep PDF/SVG small; axes and text stay vector.
        ax.scatter(points[mask, 0], points[mask, 1], s=4, color=color, alpha=0.75, linewidths=0,
                   label=str(category), rasterized=True)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(categories) <= max_legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=min(len(categories), 3), frameon=False,
                  markerscale=2.0, handletextpad=0.2, columnspacing=0.8)
        ax.set_title(title)
    else:
        ax.set_title(f"{title} ({len(categories)}, one colour each)")


def projection_figure(points: np.ndarray, colourings: Mapping[str, np.ndarray], title: str) -> Figure:
    """A 2-D projection of test embeddings, one panel per colouring (emotion, speaker, language)."""
    with style():
        fig = _figure(TEXT_WIDTH_IN, 2.7)
        axes = np.atleast_1d(fig.subplots(1, len(colourings)))
        for ax, (name, values) in zip(axes, colourings.items()):
            _scatter_panel(ax, points, np.asarray(values).astype(str), name)
        fig.suptitle(title)
    return _finish(fig)


def speaker_probe_figure(table: pd.DataFrame, colors: Mapping[str, tuple]) -> Figure:
    """Speaker-probe accuracy per method (bar, CI) against chance (black tick): lower leaks less.

    ``table`` columns: method, accuracy, low, high, chance.
    """
    rows = table.set_index("method").reindex([m for m in colors if m in set(table["method"])])
    y = np.arange(len(rows))
    with style():
        fig = _figure(COLUMN_WIDTH_IN, 0.8 + 0.28 * len(rows))
        ax = fig.add_subplot()
        err = np.vstack([rows["accuracy"] - rows["low"], rows["high"] - rows["accuracy"]])
        ax.barh(y, rows["accuracy"], 0.7, color=[colors[m] for m in rows.index],
                xerr=np.clip(np.nan_to_num(err), 0, None), error_kw={"elinewidth": 0.7, "capsize": 1.5})
        ax.scatter(rows["chance"], y, marker="|", s=140, color="black", linewidths=1.4, label="chance", zorder=3)
        ax.set_yticks(y, rows.index)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.0)
        ax.set_xlabel("speaker-probe accuracy")
        _legend_below(fig, ax, ncol=1)
    return _finish(fig)


# ----------------------------------------------------------------------------- TTS


def mel_showcase_figure(rows: Sequence[tuple[str, Mapping[str, np.ndarray]]]) -> Figure:
    """Log-mel spectrograms of one sentence: a row per system, a column per emotion.

    ``rows``: (system name, showcase) pairs; a showcase holds ``emotions`` (1-d str array) and
    ``mel_<emotion>`` (frames, n_mels) arrays. A panel without a spectrogram (the corpus lacks that
    recording) says so. All panels share one colour scale and one time axis, so durations compare.
    """
    emotions = _category_order(np.asarray([str(e) for _, show in rows for e in np.atleast_1d(show["emotions"])]))
    mels = {(name, e): np.asarray(show[f"mel_{e}"], dtype=float) for name, show in rows
            for e in (str(x) for x in np.atleast_1d(show["emotions"])) if f"mel_{e}" in show}
    values = np.concatenate([m.ravel() for m in mels.values()]) if mels else np.zeros(1)
    values = values[np.isfinite(values)] if np.isfinite(values).any() else np.zeros(1)
    vmin, vmax = np.percentile(values, [1, 99.5])
    frames = max((m.shape[0] for m in mels.values()), default=1)
    n_rows, n_cols = len(rows), max(1, len(emotions))
    with style():
        fig = _figure(TEXT_WIDTH_IN, 0.45 + 0.75 * n_rows)
        axes = np.atleast_2d(fig.subplots(n_rows, n_cols, sharex=True, sharey=True, squeeze=False))
        image = None
        for i, (name, _) in enumerate(rows):
            for j, emotion in enumerate(emotions):
                ax = axes[i, j]
                mel = mels.get((name, emotion))
                if mel is None:
                    ax.text(0.5, 0.5, "no recording", ha="center", va="center", transform=ax.transAxes,
                            fontsize=MIN_FONT_PT, color="0.4")
                    ax.set_facecolor("0.95")
                else:
                    image = ax.imshow(mel.T, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
                                      interpolation="nearest", extent=(0, mel.shape[0], 0, mel.shape[1]),
                                      rasterized=True)
                ax.set_xlim(0, frames)
                if i == 0:
                    ax.set_title(emotion)
                if j == 0:
                    ax.set_ylabel(name, rotation=0, ha="right", va="center")
                ax.set_yticks([])
                if i == n_rows - 1:
                    ax.set_xlabel("frame")
                else:
                    ax.tick_params(axis="x", length=0)
        if image is not None:
            fig.colorbar(image, ax=axes, shrink=0.8, pad=0.01, label="log-mel")
    return _finish(fig)
