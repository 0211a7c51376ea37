"""The report's figures: seaborn/matplotlib, one function per figure kind.

Every function takes tidy data (already computed by ``benchmark.report.data``)
and returns a :class:`matplotlib.figure.Figure`; nothing here reads MLflow or
computes a metric. Figures are built on ``Figure`` objects directly rather
than through ``pyplot``, so no global backend or figure registry is touched
(saving goes through matplotlib's Agg/PDF/SVG canvases) and a report can be
built inside a notebook or a worker without side effects.

Sizes are for papers: single-column figures are ``COLUMN_WIDTH_IN`` (3.3 in)
wide with fonts of 7-8 pt, the 3-panel embedding projection and the mel
showcase span the text width (``TEXT_WIDTH_IN``).

Every method is drawn in its style from :mod:`benchmark.report.style` (a hue
and line style per family, a marker per member, the papers' methods on top),
given as a ``{method: MethodStyle}`` map built once per report. Figures over
many methods are dot-and-whisker panels with one *named* row per method
(:func:`per_class_recall_figure`, :func:`distance_figure`,
:func:`speaker_probe_figure`): 19 methods are 19 readable rows in a column,
where grouped bars would be 19 slivers per class under a legend as tall as the
plot. Line figures (:func:`imbalance_figure`) give each method its marker and
line style, so they read in greyscale.
"""
from __future__ import annotations

import io
import os
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from benchmark.report.style import MethodStyle, display_order, family_of, line_kwargs, method_styles

COLUMN_WIDTH_IN = 3.3
TEXT_WIDTH_IN = 6.9
MIN_FONT_PT = 7

# Fonts >= 7 pt at column width; TrueType (42) fonts in PDF so that journals'
# checkers accept them and text stays editable; a fixed SVG hash salt and no
# dates in metadata so the same data gives byte-identical files.
STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": MIN_FONT_PT,
    "figure.titlesize": 8,
    "figure.labelsize": 8,
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
    with rc_context(STYLE):  # type: ignore[arg-type]  # matplotlib types the keys as a Literal
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


class BackgroundRenderer:
    """Serialises figures in forked, low-priority processes while the caller goes on building more.

    The report's sections are built one after another in one process; rendering each section's
    figures as soon as it is built, in a process of its own at a lower priority (``nice`` 10), uses
    the core that the other work of publishing (the leaderboards' process) leaves idle, instead of
    rendering everything after the last section. At most ``n_jobs`` batches render at once; the rest
    wait for a free slot. :meth:`result` gives the same bytes as :func:`render_figures`.
    """

    def __init__(self, formats: Sequence[str], n_jobs: int = 2):
        import multiprocessing as mp

        self.formats = tuple(formats)
        self.n_jobs = max(1, n_jobs)
        self.enabled = n_jobs > 1 and "fork" in mp.get_all_start_methods()
        self._figures: list[Figure] = []
        self._queued: list[list[int]] = []          # batches not started yet (figure indices)
        self._running: list[tuple[list[int], Any, Any]] = []   # (batch, its pool, its future)
        self._rendered: dict[int, dict[str, bytes]] = {}

    def submit(self, figures: Sequence[Figure]) -> None:
        """Queue ``figures`` (in order after those submitted before) and start what a free slot allows."""
        batch = list(range(len(self._figures), len(self._figures) + len(figures)))
        self._figures.extend(figures)
        if batch:
            self._queued.append(batch)
        self._start_free()

    def _start_free(self) -> None:
        from concurrent.futures import ProcessPoolExecutor
        import multiprocessing as mp

        global _TO_RENDER
        self._reap()
        while self.enabled and self._queued and len(self._running) < self.n_jobs:
            batch = self._queued.pop(0)
            _TO_RENDER = self._figures   # the forked child inherits them: nothing is pickled
            try:
                pool = ProcessPoolExecutor(1, mp_context=mp.get_context("fork"), initializer=os.nice, initargs=(10,))
                future = pool.submit(_render_batch, batch, self.formats)   # forks now
            finally:
                _TO_RENDER = []
            self._running.append((batch, pool, future))

    def _reap(self, wait: bool = False) -> None:
        for item in list(self._running):
            batch, pool, future = item
            if wait or future.done():
                for index, data in zip(batch, future.result()):
                    self._rendered[index] = data
                pool.shutdown()
                self._running.remove(item)

    def result(self) -> list[dict[str, bytes]]:
        """Every submitted figure in every format, in submission order (renders what is left now)."""
        self._reap(wait=True)
        left = [i for batch in self._queued for i in batch]
        self._queued = []
        rest = render_figures([self._figures[i] for i in left], self.formats, n_jobs=self.n_jobs)
        self._rendered.update(zip(left, rest))
        return [self._rendered[i] for i in range(len(self._figures))]


def _render_batch(batch: list[int], formats: tuple[str, ...]) -> list[dict[str, bytes]]:
    return [{fmt: to_bytes(_TO_RENDER[i], fmt) for fmt in formats} for i in batch]


def _legend_below(fig: Figure, ax, ncol: int, handles: Sequence[Line2D] | None = None) -> None:
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    else:
        labels = [h.get_label() for h in handles]
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=max(1, ncol), frameon=False,
                   handlelength=2.2, columnspacing=1.0, handletextpad=0.4)


def _styles(styles: Mapping[str, MethodStyle] | None, methods: Sequence[str]) -> dict[str, MethodStyle]:
    """``styles`` for ``methods``, filling in any the caller's map lacks (a figure never lacks a style)."""
    given = dict(styles or {})
    missing = [m for m in methods if m not in given]
    if missing:
        given.update({m: s for m, s in method_styles(list(given) + missing).items() if m in missing})
    return given


def _rows(methods: Sequence[str], order: Sequence[str] | None) -> list[str]:
    present = set(methods)
    if order is not None:
        return [m for m in order if m in present]
    return display_order(present)


def _forest_figure(table: pd.DataFrame, *, panel: str | None, value: str, low: str, high: str,
                   styles: Mapping[str, MethodStyle] | None, xlabel: str, order: Sequence[str] | None = None,
                   names: Mapping[str, str] | None = None, xlim: tuple[float, float] | None = (0.0, 1.0),
                   reference: Mapping[str, float] | float | None = None, reference_label: str = "chance",
                   width: float = COLUMN_WIDTH_IN, ylabel: str = "method") -> Figure:
    """A dot-and-whisker plot: one row per method (named on the y axis), one panel per ``panel`` value.

    Rows run in display order from the bottom, so the papers' methods are the top rows; a thin line
    separates method families; the papers' names are bold. ``reference``: a vertical dashed line (one
    value, or one per panel), e.g. chance. No legend is needed: every row is named.
    """
    methods = _rows(table["method"].astype(str).unique(), order)
    styles = _styles(styles, methods)
    names = names or {}
    panels = (_category_order(table[panel].astype(str).unique()) if panel == "class"
              else list(dict.fromkeys(table[panel]))) if panel else [None]
    n = len(methods)
    with style():
        fig = _figure(width, 0.62 + (0.22 if panel else 0.0) + 0.15 * n + (0.18 if reference is not None else 0))
        axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True, squeeze=False)[0])
        y = np.arange(n)
        for ax, key in zip(axes, panels):
            rows = table if key is None else table[table[panel] == key]
            rows = rows.assign(method=rows["method"].astype(str)).set_index("method").reindex(methods)
            if not np.isfinite(rows[value].astype(float)).any():   # e.g. no test utterance of this class
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes,
                        fontsize=MIN_FONT_PT, color="0.4", rotation=90)
            for i, method in enumerate(methods):
                s = styles[method]
                v, lo, hi = (float(rows.loc[method, c]) for c in (value, low, high))
                if not np.isfinite(v):
                    continue
                err = np.clip(np.nan_to_num([[v - lo], [hi - v]]), 0, None)
                kwargs = line_kwargs(s)
                drawn = ax.errorbar([v], [i], xerr=err, fmt=s.marker, color=s.colour, ecolor=s.colour,
                                    markersize=kwargs["markersize"], markeredgewidth=kwargs["markeredgewidth"],
                                    markeredgecolor=kwargs["markeredgecolor"], elinewidth=0.9, capsize=0,
                                    zorder=kwargs["zorder"], clip_on=False)
                drawn.lines[0].set_gid(method)   # which method a point is, for tests and SVG readers
            families = [family_of(m).key for m in methods]
            for i in range(1, n):
                if families[i] != families[i - 1]:
                    ax.axhline(i - 0.5, color="0.85", linewidth=0.5, zorder=0)
            ref = reference.get(key) if isinstance(reference, Mapping) else reference
            if ref is not None and np.isfinite(ref):
                ax.axvline(ref, color="0.25", linestyle=(0, (2, 1.5)), linewidth=0.8, zorder=1,
                           label=f"{reference_label} ({_fmt_value(ref)})")
            if xlim is not None:   # a little room beyond the limits, so a point at 0 or 1 is not cut in half
                pad = 0.04 * (xlim[1] - xlim[0])
                ax.set_xlim(xlim[0] - pad, xlim[1] + pad)
                ax.spines["bottom"].set_bounds(*xlim)
                if xlim == (0.0, 1.0) and len(panels) > 1:
                    ax.set_xticks([0, 1], ["0", "1"])
                    ax.set_xticks([0.5], minor=True)   # a grid line at 0.5; its label would touch its neighbours
            if key is not None:
                ax.set_title(str(key))
            ax.grid(axis="x", which="both", color="0.92", linewidth=0.5)
            ax.set_axisbelow(True)
        axes[0].set_yticks(y, [names.get(m, m) for m in methods])
        for tick, method in zip(axes[0].get_yticklabels(), methods):
            if family_of(method).paper:
                tick.set_fontweight("bold")
        axes[0].set_ylim(-0.6, n - 0.4)
        axes[0].set_ylabel(ylabel)
        if len(axes) > 1:
            fig.supxlabel(xlabel)
            for ax in axes[1:]:
                ax.tick_params(axis="y", length=0)
        else:
            axes[0].set_xlabel(xlabel)
        if reference is not None:
            _legend_below(fig, axes[0], ncol=1)
    return _finish(fig)


def _fmt_value(value: float) -> str:
    return f"{100 * value:.1f}%" if 0 <= value <= 1 else f"{value:.3g}"


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


def per_class_recall_figure(table: pd.DataFrame, styles: Mapping[str, MethodStyle] | None = None, *,
                            xlabel: str = "recall", order: Sequence[str] | None = None,
                            names: Mapping[str, str] | None = None, ylabel: str = "method") -> Figure:
    """Per-class recall: a panel per class, a row per method (point = recall, whisker = 95% CI).

    ``table`` columns: method, class, recall, low, high. ``order``: the rows, bottom to top (default:
    :func:`~benchmark.report.style.display_order`, papers' methods on top); ``names``: row labels.
    Column width for any number of methods: 19 methods are 19 named rows, not 19 bars per class.
    """
    return _forest_figure(table, panel="class", value="recall", low="low", high="high", styles=styles,
                          xlabel=xlabel, order=order, names=names, ylabel=ylabel)


def imbalance_figure(table: pd.DataFrame, styles: Mapping[str, MethodStyle] | None, minority: str, *,
                     wide: bool | None = None) -> Figure:
    """UA and minority-class recall against the Neutral:other ratio, whiskers = 95% CI.

    ``table`` columns: method, ratio, metric ("ua" or "minority_recall"), value, low, high. Every method
    has its family's hue and line style and its own marker; points are dodged along the ratio axis so
    that whiskers do not hide each other. ``wide`` (default: more than 8 methods) puts the panels side
    by side at text width with a 4-column legend.
    """
    panels = [("ua", "UA"), ("minority_recall", f"minority recall ({minority})")]
    ratios = sorted(table["ratio"].unique())
    methods = _rows(table["method"].astype(str).unique(), None)
    styles = _styles(styles, methods)
    wide = len(methods) > 8 if wide is None else wide
    log_x = len(ratios) > 1 and ratios[-1] / max(ratios[0], 1e-9) >= 4
    with style():
        legend_rows = int(np.ceil(len(methods) / (4 if wide else 3)))
        if wide:
            fig = _figure(TEXT_WIDTH_IN, 2.0 + 0.16 * legend_rows)
            axes = fig.subplots(1, 2)
        else:
            fig = _figure(COLUMN_WIDTH_IN, 3.5 + 0.16 * legend_rows)
            axes = fig.subplots(2, 1, sharex=True)
        handles: list[Line2D] = []
        for ax, (metric, label) in zip(axes, panels):
            for i, method in enumerate(methods):
                rows = table[(table["method"] == method) & (table["metric"] == metric)].sort_values("ratio")
                if rows.empty:
                    continue
                offset = (i - (len(methods) - 1) / 2) * 0.025
                x = rows["ratio"] * 2 ** offset if log_x else rows["ratio"] + offset * 2
                s = styles[method]
                ax.errorbar(x, rows["value"], yerr=np.clip(np.nan_to_num(
                    np.vstack([rows["value"] - rows["low"], rows["high"] - rows["value"]])), 0, None),
                    elinewidth=0.6, capsize=0, **line_kwargs(s))
                if ax is axes[0]:
                    # A plain line + marker in the legend (an errorbar handle would add a whisker to each entry).
                    handles.append(Line2D([], [], label=method, **line_kwargs(s)))
            ax.set_ylabel(label)
            ax.set_ylim(0, 1.0)
            if log_x:
                ax.set_xscale("log", base=2)
            ax.set_xticks(ratios, [f"{r:g}" for r in ratios])
            ax.minorticks_off()
            ax.grid(axis="y", color="0.92", linewidth=0.5)
            ax.set_axisbelow(True)
            if wide or ax is axes[-1]:
                ax.set_xlabel("Neutral : other ratio in training data")
        _legend_below(fig, axes[0], ncol=min(4 if wide else 3, len(methods)), handles=handles)
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


def distance_figure(table: pd.DataFrame, styles: Mapping[str, MethodStyle] | None, measure: str, *,
                    order: Sequence[str] | None = None) -> Figure:
    """Distances between per-language embedding distributions: a panel per pair kind, a row per method.

    ``table`` columns: method, group (pair kind, e.g. "non-tonal vs non-tonal"), distance (mean over
    the pairs of that kind), low, high (range over the pairs).
    """
    finite = pd.concat([table["low"], table["high"], table["distance"]]).replace([np.inf, -np.inf], np.nan).dropna()
    top = float(finite.max()) if len(finite) else 1.0
    bottom = min(0.0, float(finite.min()) if len(finite) else 0.0)
    pad = 0.05 * (top - bottom or 1.0)
    return _forest_figure(table, panel="group", value="distance", low="low", high="high", styles=styles,
                          xlabel=measure, order=order, xlim=(bottom, top + pad))


def _category_order(values: np.ndarray) -> list[str]:
    from benchmark.labels import EMOTIONS

    present = set(values.tolist())
    known = [e for e in EMOTIONS if e in present]   # emotions keep their canonical order (and colours)
    return known + sorted(present - set(known))


_CATEGORY_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def _scatter_panel(ax, points: np.ndarray, values: np.ndarray, title: str, axis_name: str,
                   max_legend: int = 10) -> None:
    categories = _category_order(values)
    palette = sns.color_palette("colorblind" if len(categories) <= 10 else "husl", len(categories))
    # Up to ``max_legend`` categories each get a marker too, so the panel reads in greyscale.
    markers = _CATEGORY_MARKERS if len(categories) <= max_legend else ("o",)
    for i, (category, color) in enumerate(zip(categories, palette)):
        mask = values == category
        # Rasterised points keep PDF/SVG small; axes and text stay vector.
        ax.scatter(points[mask, 0], points[mask, 1], s=5, color=color, alpha=0.8, linewidths=0,
                   marker=markers[i % len(markers)], label=str(category), rasterized=True)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"{axis_name} 1")
    ax.set_ylabel(f"{axis_name} 2")
    if len(categories) <= max_legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(len(categories), 3), frameon=False,
                  markerscale=1.8, handletextpad=0.2, columnspacing=0.8)
        ax.set_title(title)
    else:
        ax.set_title(f"{title} ({len(categories)}, one colour each)")


def projection_figure(points: np.ndarray, colourings: Mapping[str, np.ndarray], title: str,
                      axis_name: str = "component") -> Figure:
    """A 2-D projection of test embeddings, one panel per colouring (emotion, speaker, language).

    ``axis_name``: what the two axes are (``t-SNE``, ``PCA``), labelled "<name> 1" and "<name> 2".
    """
    with style():
        fig = _figure(TEXT_WIDTH_IN, 2.9)
        axes = np.atleast_1d(fig.subplots(1, len(colourings)))
        for ax, (name, values) in zip(axes, colourings.items()):
            _scatter_panel(ax, points, np.asarray(values).astype(str), name, axis_name)
        fig.suptitle(title)
    return _finish(fig)


def speaker_probe_figure(table: pd.DataFrame, styles: Mapping[str, MethodStyle] | None = None, *,
                         chance: float | None = None, order: Sequence[str] | None = None) -> Figure:
    """Speaker-probe accuracy per method (point: mean, whisker: range over runs) against chance (dashed).

    One protocol per figure: ``table`` columns method, accuracy, low, high (and chance, whose mean is the
    line unless ``chance`` is given). Lower leaks less speaker identity.
    """
    chance = float(table["chance"].mean()) if chance is None else chance
    return _forest_figure(table, panel=None, value="accuracy", low="low", high="high", styles=styles,
                          xlabel="speaker-probe accuracy", order=order, reference=chance)


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
