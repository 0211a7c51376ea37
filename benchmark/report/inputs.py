"""What every report section reads: the suite's finished cells, where they came from, and cached scores.

:class:`ReportInputs` holds every finished cell of a suite (one row per grid
cell, from ``benchmark.results``) and hands each section the part it reads:
TTS cells (protocol ``tts``: corpus x system x seed, see ``benchmark.runner``)
are scored by a judge SER classifier, not by their method, so every SER
section reads :attr:`ReportInputs.ser` and only the TTS section reads
:attr:`ReportInputs.tts`.

The statistics are the leaderboards' (``benchmark.leaderboard``,
``benchmark.metrics.stacked``), so a number in the report and the same number
on a leaderboard agree: for one group of cells, the predictions of all folds
of a seed are pooled and scored; the value shown is the mean over seeds; its
95% CI is a bootstrap over test utterances (drawn within each fold, the same
draw applied to every seed). Scores are computed once per set of runs and
shared by every section.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np
import pandas as pd

from benchmark import leaderboard as LB
from benchmark import results
from benchmark.leaderboard import TTS_PROTOCOL   # the protocol tag of TTS grid cells
from benchmark.errors import EmobenchError
from benchmark.metrics import stacked as st
from benchmark.report import style as ST

# ISO 639-1 codes of tonal languages; everything else counts as non-tonal.
TONAL_LANGUAGES = frozenset({"zh", "vi", "th", "lo", "my", "yo", "ig", "pa"})
SYNTHETIC_CORPORA = frozenset({"embedded"})
# (train meta key, test meta key, what is transferred, how the report names it)
TRANSFER_KEYS = (("train_language", "test_language", "language", "Cross-lingual"),
                 ("train_corpus", "test_corpus", "corpus", "Cross-corpus"))
MIN_BOOTSTRAP = 100     # as for leaderboards: fewer resamples give no usable 95% interval
MAIN_CRITERION = "UA on the main protocol"   # ranks the members of a family for main-text figures

Embedded = list[tuple[pd.Series, dict[str, np.ndarray]]]   # (cell, its test embeddings)


@dataclass
class ReportInputs:
    """The finished cells of one suite, the report's options, and scores computed once for every section."""

    cells: pd.DataFrame                  # one row per cell run, SER and TTS; see ``benchmark.results``
    tracking_uri: str
    suite: str
    n_bootstrap: int = 1000
    seed: int = 0
    colors: dict[str, tuple] = field(default_factory=dict)
    styles: dict[str, ST.MethodStyle] = field(default_factory=dict)   # benchmark.report.style, one per method
    projection: str = "auto"             # auto, pca or tsne (benchmark.report.PROJECTIONS)
    # The shipped claims evaluated on these cells by someone else (publish's boards process evaluates them for
    # the claims board): called when the claims section is built, which is then built last. None: evaluated here.
    claims: Callable[[], list] | None = field(default=None, repr=False)
    _scored: dict = field(default_factory=dict, repr=False)
    _main_scores: dict | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.styles:
            self.styles = ST.method_styles(self.cells["method"].astype(str).unique())
        if not self.colors:
            self.colors = {m: s.colour for m, s in self.styles.items()}

    @cached_property
    def ser(self) -> pd.DataFrame:
        """The SER cells: what every section but the TTS one reads."""
        return ser_cells(self.cells)

    @cached_property
    def tts(self) -> pd.DataFrame:
        """The TTS grid cells: what the TTS section reads."""
        return tts_cells(self.cells)

    @cached_property
    def main(self) -> pd.DataFrame:
        """The cells of the main (protocol, corpus), see :func:`choose_main`."""
        return choose_main(self.cells)

    @cached_property
    def embedded(self) -> Embedded:
        """(cell, test embeddings) of every SER cell that kept embeddings, see :func:`embedding_cells`."""
        return embedding_cells(self)

    def main_scores(self) -> dict[str, float]:
        """UA per method on the main (protocol, corpus): what picks the best of each family for main-text figures."""
        if self._main_scores is None:
            self._main_scores = {}
            for method, group in self.main.groupby("method"):
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


# ----------------------------------------------------------------------------- which cells


def meta(cells: pd.DataFrame, key: str) -> pd.Series:
    """The ``meta.<key>`` tag of every cell (NaN where a cell, or the whole suite, lacks it)."""
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
    special = meta(cells, "ratio").notna()
    for train_key, *_ in TRANSFER_KEYS:
        special |= meta(cells, train_key).notna()
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


def embedding_cells(inputs: ReportInputs) -> Embedded:
    """(cell, test embeddings) of every SER cell that kept embeddings: main protocol first, then lowest seed."""
    main = set(inputs.main["run_id"])
    ser = inputs.ser
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
