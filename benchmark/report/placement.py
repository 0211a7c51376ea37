"""Where a figure goes: a main-text version of a crowded figure and the full one for the appendix.

A figure over every method of a 19-method suite is readable at column width
(:mod:`benchmark.report.figures` draws one named row or one styled line per
method) but too much for a paper's main text. :func:`main_and_full` draws it
twice: the main-text version shows the papers' methods against the best
method of each baseline family (:func:`benchmark.report.style.select_main`,
ranked by the report's one criterion, UA on the main protocol, so every main
figure shows the same methods), the full version every method, for an
appendix. A suite small enough that the selection is everything gets one
figure. The LaTeX folder writes both (``main.tex`` puts the full ones in its
appendix), the HTML report shows the main one first, then the full one.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

from matplotlib.figure import Figure

from benchmark.report.content import ReportFigure
from benchmark.report.style import caption_note, display_order, select_main

FULL_SUFFIX = "_full"


def main_selection(methods: Sequence[str], score: Mapping[str, float]) -> list[str]:
    """The methods of a main-text figure among ``methods`` (all of them when nothing would be left out)."""
    return select_main(methods, score)


def main_and_full(key: str, caption: str, draw: Callable[[list[str]], Figure], methods: Sequence[str],
                  score: Mapping[str, float], *, criterion: str, wide: bool = False,
                  wide_full: bool | None = None) -> list[ReportFigure]:
    """``[main, full]`` versions of one figure (or ``[full]`` under ``key`` when the selection is everything).

    ``draw(methods)`` draws the figure for a list of methods; ``score`` ranks the members of each
    baseline family (``criterion`` says by what, for the caption).
    """
    methods = display_order(methods)
    main = main_selection(methods, score)
    wide_full = wide if wide_full is None else wide_full
    if len(main) >= len(methods):
        return [ReportFigure(key, _join(caption, caption_note(methods)), draw(methods), wide=wide_full)]
    left_out = len(methods) - len(main)
    ranked = any(m in score for m in methods)
    how = f"the best method of each baseline family by {criterion}" if ranked else \
        f"one method of each baseline family (no {criterion} to rank by)"
    main_caption = _join(caption, f"Main-text version: the papers' methods and {how} ({left_out} further methods "
                                  f"in the appendix version, {key}{FULL_SUFFIX}).", caption_note(main))
    full_caption = _join(caption, f"All {len(methods)} methods (appendix version of {key}).", caption_note(methods))
    return [ReportFigure(key, main_caption, draw(main), wide=wide),
            ReportFigure(f"{key}{FULL_SUFFIX}", full_caption, draw(methods), wide=wide_full, appendix=True)]


def in_appendix(method: str, methods: Sequence[str], score: Mapping[str, float]) -> bool:
    """Whether a per-method figure (confusion matrix, projection, ...) of ``method`` belongs in the appendix."""
    return str(method) not in main_selection(list(map(str, methods)), score)


def _join(*parts: str) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())
