"""What a report holds, independent of how it is written out.

``benchmark.report.sections`` fills a :class:`ReportContent` from the MLflow
records; ``html`` and ``latex`` render the same content, so the HTML page and
the LaTeX folder never disagree on a number.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from matplotlib.figure import Figure

SI_MARK = "SI"   # speaker-independent: no test speaker was seen in training
SD_MARK = "SD"   # speaker-dependent: test speakers also occur in training
FLAG_LEGEND = (f"{SI_MARK} = speaker-independent split (no test speaker in training); "
               f"{SD_MARK} = speaker-dependent split (test speakers also in training).")
SYNTHETIC_NOTE = "synthetic data: eSpeak NG renderings, not human speech"


def flag(speaker_independent: bool | None) -> str:
    """The mark printed beside a number: SI, SD, or SI/SD when the runs behind it disagree."""
    if speaker_independent is None:
        return f"{SI_MARK}/{SD_MARK}"
    return SI_MARK if speaker_independent else SD_MARK


@dataclass
class ReportFigure:
    """One figure: written as a PDF in ``latex/figures/<key>.pdf`` and embedded in the HTML."""

    key: str                 # file stem; unique within a report
    caption: str
    figure: Figure
    wide: bool = False       # spans the text width (LaTeX figure*)
    appendix: bool = False   # the full version of a crowded figure, or a method outside the main selection


@dataclass
class ReportTable:
    """One table of display strings (numbers already formatted, flags beside them)."""

    key: str                 # file stem of ``latex/tables/<key>.tex``; unique within a report
    caption: str
    frame: pd.DataFrame      # display strings; the index is not shown
    notes: list[str] = field(default_factory=list)   # printed under the table
    values: pd.DataFrame | None = None               # the unformatted numbers (kept as CSV beside it)


@dataclass
class Section:
    key: str                 # HTML anchor
    title: str
    text: list[str] = field(default_factory=list)    # paragraphs, plain text
    tables: list[ReportTable] = field(default_factory=list)
    figures: list[ReportFigure] = field(default_factory=list)


@dataclass
class ReportContent:
    suite: str
    experiment: str
    tracking_uri: str
    notes: list[str]                                  # top-of-report statements (synthetic data, ...)
    sections: list[Section]
    provenance: pd.DataFrame                          # columns: item, value

    def figures(self) -> list[ReportFigure]:
        return [f for s in self.sections for f in s.figures]

    def tables(self) -> list[ReportTable]:
        return [t for s in self.sections for t in s.tables]
