"""A leaderboard entry as a Hugging Face ``model-index`` block, the evaluation results of a model card.

The block is built with ``huggingface_hub``'s own helpers (``EvalResult``, ``eval_results_to_model_index``),
so it is what the Hub's model-card parser reads back: ``huggingface_hub.ModelCard`` loads a card carrying it.
Each metric's type, display name and arguments are its registered spec's ``hf_type`` / ``hf_name`` /
``hf_args`` (``benchmark.metrics.registry``).

No ``source`` is written: the model-card spec requires a URL for a source (``EvalResult`` refuses a source
name without one), and a board built from a local MLflow store has none; the dataset split names the
protocol, folds and seeds the numbers come from.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import yaml
from huggingface_hub import EvalResult
from huggingface_hub.repocard_data import eval_results_to_model_index

from benchmark.leaderboard.build import SI_MARK, Leaderboard
from benchmark.leaderboard.columns import TTS_PROTOCOL, is_tts_metric
from benchmark.leaderboard.definition import LeaderboardDef
from benchmark.metrics.registry import METRICS


def _is_tts_board(d: LeaderboardDef) -> bool:
    return d.protocol == TTS_PROTOCOL or any(is_tts_metric(c) for c in d.columns)


def _split(board: Leaderboard, entry: pd.Series) -> str:
    """What the numbers are computed on, in words: protocol, folds, seeds, speaker independence."""
    d = board.definition
    seeds = int(entry["seeds"])
    over_seeds = f"mean over {seeds} seed{'s' if seeds != 1 else ''}"
    if _is_tts_board(d):
        return f"held-out sentences ({d.protocol}, {over_seeds})"
    folds = int(entry["folds"])
    return (f"test ({d.protocol}, {'pooled over' if d.aggregate == 'pooled' else 'mean over'} {folds} fold"
            f"{'s' if folds != 1 else ''}, {over_seeds}, "
            f"{'speaker-independent' if entry['speaker_independent'] == SI_MARK else 'speaker-dependent'})")


def eval_results(board: Leaderboard, method: str) -> list[EvalResult]:
    """One ``EvalResult`` per column of ``method``'s entry that has a value (seed means; SER metrics, WER and
    CER in percent, the other TTS metrics in their own unit). An unknown method is an error naming the board's."""
    entry = board.entry(method)
    d = board.definition
    corpus = d.corpus or "mixed"
    described = "emobench embedded, synthetic eSpeak NG speech" if corpus == "embedded" else corpus
    task_type, task_name = (("text-to-speech", "Emotional Text-to-Speech") if _is_tts_board(d)
                            else ("speech-emotion-recognition", "Speech Emotion Recognition"))
    found = []
    for m in d.columns:
        value = entry[m]
        if value is None or not np.isfinite(value):   # e.g. a reference system without a judge: left out
            continue
        spec = METRICS.get(m)
        found.append(EvalResult(
            task_type=task_type, task_name=task_name,
            dataset_type=f"emobench/{corpus}", dataset_name=f"{corpus} ({described})",
            dataset_split=_split(board, entry),
            metric_type=spec.hf_type or m, metric_value=round(spec.scale * float(value), 2),
            metric_name=spec.header(d.labels[m]) if m in d.labels else spec.hf_name or spec.header(),
            metric_args=dict(spec.hf_args) if spec.hf_args else None))
    return found


def model_index(board: Leaderboard, method: str) -> dict[str, Any]:
    """A Hugging Face ``model-index`` block for ``method``'s entry: ``{"model-index": [...]}``."""
    return {"model-index": eval_results_to_model_index(method, eval_results(board, method))}


def model_index_yaml(board: Leaderboard, method: str) -> str:
    """:func:`model_index` as the YAML a model card's front matter carries."""
    return yaml.safe_dump(model_index(board, method), sort_keys=False, allow_unicode=True)
