"""Leaderboards: ranked tables of methods, recomputed from the runs' predictions tables.

One module per stage of a board (docs/leaderboards.md):

* ``columns``: which metrics a board can show, how a column is named and printed (the metric registry's specs);
* ``definition``: ``leaderboards/<name>.yaml`` (:class:`LeaderboardDef`) and where definitions are found;
* ``build``: the cells a board scores and the ranked table (:func:`build_leaderboard`), from the statistics
  engine ``benchmark.metrics.stacked``; ``tts_columns``: the TTS columns from per-utterance tables;
* ``render``: Markdown, CSV, HTML, LaTeX, ``snapshot.json`` and the README splice (:func:`write`);
* ``model_card``: a method's entry as a Hugging Face ``model-index`` block.

The names below are re-exported so that ``from benchmark import leaderboard as lb; lb.build_leaderboard(...)``
reads as one API; the statistics themselves are imported from ``benchmark.metrics.stacked``.
"""
from __future__ import annotations

from benchmark.leaderboard.build import (
    SD_MARK,
    SI_MARK,
    Leaderboard,
    NoCellsError,
    build_leaderboard,
    complete_seeds,
    probe_scores,
    run_speaker_probe,
    select_cells,
    stacked_predictions,
)
from benchmark.leaderboard.columns import (
    PROBE_METRICS,
    TTS_PROTOCOL,
    column_header,
    format_metric,
    is_prediction_metric,
    is_probe_metric,
    is_tts_metric,
    metric_label,
    metric_unit,
    prediction_metrics,
    tts_metrics,
)
from benchmark.leaderboard.definition import (
    DEFINITIONS_DIR,
    LeaderboardDef,
    Select,
    Significance,
    definition_path,
    list_definitions,
    load_definition,
    parse_definition,
    suite_tracking_uri,
)
from benchmark.leaderboard.model_card import eval_results, model_index, model_index_yaml
from benchmark.leaderboard.render import (
    CONVERGENCE_MARK,
    CONVERGENCE_NOTE,
    HTML_STYLE,
    REFERENCE_MARK,
    TIE_MARK,
    display_table,
    embed_in_markdown,
    format_p,
    notes,
    tex_escape,
    to_html,
    to_latex,
    to_markdown,
    write,
)
from benchmark.leaderboard.tts_columns import score_tts, tts_utterances

__all__ = [
    "CONVERGENCE_MARK", "CONVERGENCE_NOTE", "DEFINITIONS_DIR", "HTML_STYLE", "PROBE_METRICS", "REFERENCE_MARK",
    "SD_MARK", "SI_MARK", "TIE_MARK", "TTS_PROTOCOL",
    "Leaderboard", "LeaderboardDef", "NoCellsError", "Select", "Significance",
    "build_leaderboard", "column_header", "complete_seeds", "definition_path", "display_table",
    "embed_in_markdown", "eval_results", "format_metric", "format_p", "is_prediction_metric", "is_probe_metric",
    "is_tts_metric", "list_definitions", "load_definition", "metric_label", "metric_unit", "model_index",
    "model_index_yaml", "notes", "parse_definition", "prediction_metrics", "probe_scores", "run_speaker_probe",
    "score_tts", "select_cells", "stacked_predictions", "suite_tracking_uri", "tex_escape", "to_html",
    "to_latex", "to_markdown", "tts_metrics", "tts_utterances", "write",
]
