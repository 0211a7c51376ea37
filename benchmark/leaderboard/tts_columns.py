"""The TTS columns of a leaderboard (``wer``, ``cer``, ``mcd_db``, ``f0_rmse_hz``, ... of TTS cells, protocol ``tts``).

They are recomputed from each cell's ``tts/per_utterance.parquet``: WER/CER corpus-level (summed errors
over summed reference words/characters per seed), the others means over utterances; mean over seeds, sd
over seeds, and a 95% CI from the very resamples of test utterances the prediction metrics use. They are
shown, never ranked on (lower is better for most of them). What a column sums is its registered spec's
``numerator`` / ``denominator`` (``benchmark.metrics.registry``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark import results
from benchmark.errors import EmobenchError
from benchmark.metrics.registry import METRICS
from benchmark.metrics.stacked import Scored, Stacked, nan_quiet


def tts_utterances(cells: pd.DataFrame, tracking_uri: str | None = None) -> pd.DataFrame:
    """The per-utterance TTS tables (``tts/per_utterance.parquet``) of ``cells`` stacked, with seed, fold,
    method and run id on every row. A cell without the artifact is an error naming its run."""
    frames = []
    for row in cells.to_dict("records"):
        table = results.load_tts_utterances(row["run_id"], tracking_uri)
        frames.append(table.assign(seed=str(row["seed"]), fold=str(row["fold"]), method=str(row["method"]),
                                   run_id=row["run_id"]))
    return pd.concat(frames, ignore_index=True)


def _tts_per_seed(stacked: Stacked, utterances: pd.DataFrame, metrics: list[str], aggregate: str,
                  weights: np.ndarray) -> np.ndarray:
    """(W, seeds, metrics) per-seed values of TTS ``metrics`` under each row of ``weights`` (W, items)."""
    index = pd.MultiIndex.from_frame(stacked.items[["fold", "utt_id"]])
    item = index.get_indexer(pd.MultiIndex.from_arrays([utterances["fold"].astype(str),
                                                        utterances["utt_id"].astype(str)]))
    n, k = len(utterances), len(metrics)
    num, den = np.zeros((n, k)), np.zeros((n, k))
    for j, name in enumerate(metrics):
        spec = METRICS.get(name)
        top = (pd.to_numeric(utterances[spec.numerator], errors="coerce").to_numpy(float)
               if spec.numerator in utterances.columns else np.full(n, np.nan))
        if spec.denominator is None:
            bottom = np.ones(n)
        elif spec.denominator in utterances.columns:
            bottom = pd.to_numeric(utterances[spec.denominator], errors="coerce").to_numpy(float)
        else:
            bottom = np.full(n, np.nan)
        valid = np.isfinite(top) & np.isfinite(bottom) & (item >= 0)
        num[:, j], den[:, j] = np.where(valid, top, 0.0), np.where(valid, bottom, 0.0)
    seed_pos = {s: i for i, s in enumerate(stacked.seeds)}
    fold_pos = {f: i for i, f in enumerate(stacked.folds)}
    sums = np.zeros((2, weights.shape[0], len(stacked.seeds), len(stacked.folds), k))
    safe_item = np.where(item >= 0, item, 0)
    for (seed, fold), idx in utterances.groupby(["seed", "fold"]).indices.items():
        w = weights[:, safe_item[idx]]                       # (W, rows)
        sums[0, :, seed_pos[seed], fold_pos[fold]] = w @ num[idx]
        sums[1, :, seed_pos[seed], fold_pos[fold]] = w @ den[idx]
    with nan_quiet():
        if aggregate == "pooled":
            top, bottom = sums[0].sum(2), sums[1].sum(2)       # (W, S, K)
            return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)
        per_fold = np.where(sums[1] > 0, sums[0] / np.where(sums[1] > 0, sums[1], 1), np.nan)
        return np.nanmean(per_fold, 2)


def score_tts(stacked: Stacked, utterances: pd.DataFrame, metrics: list[str], aggregate: str,
              weights: np.ndarray) -> Scored:
    """TTS ``metrics`` of one method (registered TTS-table specs): the seed mean, sd over seeds, and the 95% CI
    of the seed mean over the resamples ``weights`` (the same draw counts over test items the board's
    prediction metrics use, so that both are resampled together).

    ``utterances``: the method's stacked per-utterance tables (:func:`tts_utterances`). A row whose
    (fold, utt_id) is no test utterance of its cell's predictions table is an error naming the run.
    """
    known = stacked.frame.groupby("run_id")["utt_id"].agg(lambda u: set(u.astype(str)))
    for run_id, group in utterances.groupby("run_id"):
        extra = sorted(set(group["utt_id"].astype(str)) - known.get(run_id, set()))
        if extra:
            raise EmobenchError(f"run {run_id}: {results.TTS_UTTERANCES_ARTIFACT} holds utterance(s) {extra[:5]} "
                                f"that are not in its {results.PREDICTIONS_ARTIFACT}")
    point = _tts_per_seed(stacked, utterances, metrics, aggregate, np.ones((1, len(stacked.items))))[0]   # (S, K)
    boot_seeds = _tts_per_seed(stacked, utterances, metrics, aggregate, weights)                        # (W, S, K)
    value, sd, low, high, boot, per_seed = {}, {}, {}, {}, {}, {}
    with nan_quiet():
        for j, name in enumerate(metrics):
            seeds = point[:, j]
            value[name] = float(np.nanmean(seeds)) if np.isfinite(seeds).any() else float("nan")
            sd[name] = float(np.nanstd(seeds, ddof=1)) if np.isfinite(seeds).sum() > 1 else float("nan")
            b = np.nanmean(boot_seeds[:, :, j], -1)
            boot[name], per_seed[name] = b, seeds
            finite = np.isfinite(b).any()
            low[name] = float(np.nanpercentile(b, 2.5)) if finite else float("nan")
            high[name] = float(np.nanpercentile(b, 97.5)) if finite else float("nan")
    return Scored(value, sd, low, high, boot, per_seed)

