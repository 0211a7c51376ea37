"""Read finished grid cells and their predictions tables back from MLflow.

The one place where leaderboards, the report and the regression gate meet the
store of record. A *cell* is one child run of a suite (corpus x protocol x
fold x method x seed, see ``benchmark.runner``); :func:`load_cells` returns one
row per cell, the most recent FINISHED run of each cell hash (a re-run or a
resumed suite may have left older runs of the same cell; FAILED and RUNNING
runs never count).

Columns of a cells table:

* ``run_id``, ``experiment_id``, ``status``, ``start_time``, ``end_time`` (ms);
* every tag under its own name, as a string: ``emobench.cell``, ``method``,
  ``protocol``, ``protocol_name``, ``fold``, ``seed``, ``corpus``,
  ``speaker_independent`` ("true"/"false"), ``feature``, ``meta.<key>``, ...;
* every metric under its own name (``ua``, ``recall.sad``,
  ``speaker_probe_acc``, ...), as a float;
* every param as ``params.<name>`` (``params.code_version``, ``params.hp.C``).

Artifacts are read in place when the store is local, else downloaded once per
run and process (:func:`load_predictions`, :func:`load_embeddings`, and for TTS
cells :func:`load_tts_utterances`, :func:`load_tts_showcase`,
:func:`load_tts_settings`); run ids are UUIDs, so the cache key is the run id
together with its tracking URI.
"""
from __future__ import annotations

import os
import re
import tempfile
from urllib.parse import unquote, urlparse
from contextlib import contextmanager
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from benchmark.errors import EmobenchError
from benchmark.predictions import validate_predictions
from benchmark.tracking import CELL_TAG, KIND_TAG, SUITE_TAG

PREDICTIONS_ARTIFACT = "predictions/predictions.parquet"
EMBEDDINGS_ARTIFACT = "embeddings/test.npz"
# TTS cells (protocol "tts"): per-utterance ASR/MCD/prosody scores, a mel showcase, the scoring settings.
TTS_UTTERANCES_ARTIFACT = "tts/per_utterance.parquet"
TTS_SHOWCASE_ARTIFACT = "tts/showcase.npz"
TTS_SETTINGS_ARTIFACT = "tts/settings.json"
# What identifies a cell across two stores or two suite executions (compare matches on it).
CELL_KEY = ("corpus", "protocol", "fold", "method", "seed")
BASE_COLUMNS = ["run_id", "experiment_id", "status", "start_time", "end_time", CELL_TAG, *CELL_KEY,
                "speaker_independent"]
PARENT_TAG = "mlflow.parentRunId"
MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")

# run id -> the tracking URI it was read from, so that load_predictions(run_id) needs no URI.
_RUN_URIS: dict[str, str] = {}
_ARTIFACT_ROOTS: dict[str, str] = {}   # run id -> artifact URI, as listed by load_cells


def experiment_name(suite: str) -> str:
    """The MLflow experiment of a suite (the runner's default, ``emobench-<suite>``)."""
    return f"emobench-{suite}"


@cache
def client_for(tracking_uri: str) -> MlflowClient:
    """One client per tracking URI (creating one opens the SQLite store, which is not free)."""
    check_store(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri)


def check_store(tracking_uri: str) -> None:
    """Fail on a SQLite store that does not exist (MLflow would silently create an empty one)."""
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///")).expanduser()
        if not path.is_file():
            raise EmobenchError(f"no MLflow store at {tracking_uri} ({path} does not exist); run a suite first "
                                "or pass the right --tracking-uri")


def _current_uri() -> str:
    import mlflow

    return mlflow.get_tracking_uri()


# ----------------------------------------------------------------------------- cells


def _rows(runs, tracking_uri: str) -> pd.DataFrame:
    rows = []
    for run in runs:
        info, data = run.info, run.data
        row = {"run_id": info.run_id, "experiment_id": info.experiment_id, "status": info.status,
               "start_time": info.start_time, "end_time": info.end_time}
        row.update(data.tags)
        row.update({k: float(v) for k, v in data.metrics.items()})
        row.update({f"params.{k}": v for k, v in data.params.items()})
        rows.append(row)
        _RUN_URIS[info.run_id] = tracking_uri
        _ARTIFACT_ROOTS[info.run_id] = info.artifact_uri
    frame = pd.DataFrame(rows)
    for column in BASE_COLUMNS:   # an empty result still has the columns callers select on
        if column not in frame.columns:
            frame[column] = pd.Series(dtype=object)
    return frame


def _latest_per_cell(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep the most recent FINISHED run of each cell hash (a re-run never trains twice, but a user may)."""
    frame = frame.sort_values(["start_time", "run_id"], kind="stable")
    has_key = frame[CELL_TAG].notna()
    latest = frame[has_key].drop_duplicates(CELL_TAG, keep="last")
    return pd.concat([latest, frame[~has_key]]).sort_values(list(CELL_KEY), kind="stable").reset_index(drop=True)


def _search(client: MlflowClient, experiment_ids: list[str], extra: str = "") -> list:
    query = f"tags.`{KIND_TAG}` = 'cell' and attributes.status = 'FINISHED'" + (f" and {extra}" if extra else "")
    runs: list = []
    token = None
    while True:   # paginate: a big suite has more cells than one page
        page = client.search_runs(experiment_ids, filter_string=query, max_results=5000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _suite_experiments(client: MlflowClient, suite: str) -> list[str]:
    exp = client.get_experiment_by_name(experiment_name(suite))
    if exp is not None:
        return [exp.experiment_id]
    # A suite with a custom `tracking.experiment`: find its cells by the suite tag anywhere.
    return [e.experiment_id for e in client.search_experiments()]


def load_cells(tracking_uri: str, suite: str, *, protocol: str | None = None,
               corpus: str | None = None) -> pd.DataFrame:
    """One row per finished cell of ``suite`` (latest FINISHED run per cell hash); empty if none."""
    client = client_for(tracking_uri)
    extra = [f"tags.`{SUITE_TAG}` = '{_quote(suite)}'"]
    if protocol is not None:
        extra.append(f"tags.`protocol` = '{_quote(protocol)}'")
    if corpus is not None:
        extra.append(f"tags.`corpus` = '{_quote(corpus)}'")
    runs = _search(client, _suite_experiments(client, suite), " and ".join(extra))
    return _latest_per_cell(_rows(runs, tracking_uri))


def _quote(value: str) -> str:
    return str(value).replace("'", "\\'")


def _get_run(client: MlflowClient, run_id: str, tracking_uri: str):
    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        raise EmobenchError(f"run {run_id!r}: not found at {tracking_uri} ({exc.message})") from None


def resolve_model_version(tracking_uri: str, uri: str) -> str:
    """The source run id of a registered model version, ``models:/<name>/<version>`` or ``models:/<name>@<alias>``."""
    match = MODEL_URI.match(uri)
    if match is None:
        raise EmobenchError(f"{uri!r}: expected models:/<name>/<version> or models:/<name>@<alias>")
    client = client_for(tracking_uri)
    try:
        if match["version"]:
            version = client.get_model_version(match["name"], match["version"])
        else:
            version = client.get_model_version_by_alias(match["name"], match["alias"])
    except MlflowException as exc:
        raise EmobenchError(f"{uri}: no such registered model version at {tracking_uri} ({exc.message})") from None
    if not version.run_id:
        raise EmobenchError(f"{uri}: the model version records no source run, so it has no predictions to compare")
    return version.run_id


def load_run_cells(tracking_uri: str, run_id: str) -> pd.DataFrame:
    """The cells behind one run id: a cell run itself, or every cell of a suite execution (parent run).

    A suite execution reuses cells that an earlier execution of the same
    config already finished, so its cells are not only its own children: they
    are the latest FINISHED cells of the same suite and config digest that
    started before the execution ended.
    """
    client = client_for(tracking_uri)
    run = _get_run(client, run_id, tracking_uri)
    kind = run.data.tags.get(KIND_TAG)
    if kind == "cell":
        if run.info.status != "FINISHED":
            raise EmobenchError(f"run {run_id}: cell run is {run.info.status}, not FINISHED")
        return _rows([run], tracking_uri)
    if kind != "suite":
        raise EmobenchError(f"run {run_id}: neither a suite run nor a cell run of emobench "
                            f"(tag {KIND_TAG}={kind!r})")
    suite = run.data.tags.get(SUITE_TAG, "")
    digest = run.data.tags.get("emobench.config")
    if digest:
        runs = _search(client, [run.info.experiment_id],
                       f"tags.`{SUITE_TAG}` = '{_quote(suite)}' and params.`config_digest` = '{_quote(digest)}'")
        if run.info.end_time:
            runs = [r for r in runs if r.info.start_time <= run.info.end_time]
    else:
        runs = _search(client, [run.info.experiment_id], f"tags.`{PARENT_TAG}` = '{run_id}'")
    cells = _rows(runs, tracking_uri)
    if cells.empty:
        raise EmobenchError(f"run {run_id}: suite execution of {suite!r} has no FINISHED cell runs")
    return _latest_per_cell(cells)


# ----------------------------------------------------------------------------- artifacts


@contextmanager
def _quiet_downloads():
    """Silence MLflow's per-file download bar: a leaderboard downloads hundreds of one-file artifacts."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _uri_of(run_id: str, tracking_uri: str | None) -> str:
    return tracking_uri or _RUN_URIS.get(run_id) or _current_uri()


def _local_root(run_id: str) -> Path | None:
    """The run's artifact folder when it lives on this file system (and load_cells listed the run).

    Reading artifacts in place skips MLflow's download (a ``get_run`` query and a copy per
    file), which made publishing a 400-cell suite spend half a minute in downloads."""
    root = _ARTIFACT_ROOTS.get(run_id)
    parsed = urlparse(root) if root else None
    if parsed is None or parsed.scheme not in ("", "file"):
        return None
    path = Path(unquote(parsed.path))
    return path if path.is_dir() else None


def _local_artifact(run_id: str, artifact: str) -> Path | None:
    root = _local_root(run_id)
    return root / artifact if root is not None and (root / artifact).is_file() else None


@lru_cache(maxsize=4096)
def _download_predictions(tracking_uri: str, run_id: str) -> pd.DataFrame:
    local = _local_artifact(run_id, PREDICTIONS_ARTIFACT)
    if local is not None:
        return validate_predictions(pd.read_parquet(local), f"run {run_id}: {PREDICTIONS_ARTIFACT}")
    client = client_for(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp, _quiet_downloads():
        try:
            path = client.download_artifacts(run_id, PREDICTIONS_ARTIFACT, tmp)
        except (MlflowException, OSError) as exc:
            raise EmobenchError(f"run {run_id}: no {PREDICTIONS_ARTIFACT} artifact at {tracking_uri} ({exc})") from None
        table = pd.read_parquet(path)
    # The schema check of benchmark.predictions; its errors name this run's artifact.
    return validate_predictions(table, f"run {run_id}: {PREDICTIONS_ARTIFACT}")


def load_predictions(run_id: str, tracking_uri: str | None = None) -> pd.DataFrame:
    """The predictions table of a cell run (utt_id, y_true, y_pred, speaker, language, p_<class>...).

    ``tracking_uri`` defaults to the URI the run was listed from by
    :func:`load_cells`, else MLflow's current one. Downloaded once per process;
    each call returns a fresh copy, so callers may modify it.
    """
    return _download_predictions(_uri_of(run_id, tracking_uri), run_id).copy()


@lru_cache(maxsize=512)
def _download_embeddings(tracking_uri: str, run_id: str) -> dict[str, np.ndarray] | None:
    root = _local_root(run_id)
    if root is not None:
        if not (root / EMBEDDINGS_ARTIFACT).is_file():
            return None
        with np.load(root / EMBEDDINGS_ARTIFACT, allow_pickle=False) as npz:   # never unpickle an artifact
            return {k: npz[k] for k in npz.files}
    client = client_for(tracking_uri)
    names = {f.path for f in client.list_artifacts(run_id, Path(EMBEDDINGS_ARTIFACT).parent.as_posix())}
    if EMBEDDINGS_ARTIFACT not in names:
        return None
    with tempfile.TemporaryDirectory() as tmp, _quiet_downloads():
        path = client.download_artifacts(run_id, EMBEDDINGS_ARTIFACT, tmp)
        with np.load(path, allow_pickle=False) as npz:   # never unpickle an artifact
            return {k: npz[k] for k in npz.files}


def load_embeddings(run_id: str, tracking_uri: str | None = None) -> dict[str, np.ndarray] | None:
    """The test embeddings of a cell run (utt_ids, Z, y, speakers, languages), or None if it kept none."""
    arrays = _download_embeddings(_uri_of(run_id, tracking_uri), run_id)
    return None if arrays is None else {k: v.copy() for k, v in arrays.items()}


def _artifact_path(tracking_uri: str, run_id: str, artifact: str, tmp: str, *, required: bool) -> Path | None:
    """The artifact as a local file: in place when the store is local, else downloaded into ``tmp``.

    None when the run has no such artifact and it is not ``required``; an error naming the run otherwise."""
    root = _local_root(run_id)
    if root is not None:
        path = root / artifact
        if path.is_file():
            return path
        if required:
            raise EmobenchError(f"run {run_id}: no {artifact} artifact (looked in {root})")
        return None
    client = client_for(tracking_uri)
    parent = Path(artifact).parent.as_posix()
    try:
        names = {f.path for f in client.list_artifacts(run_id, parent)}
    except (MlflowException, OSError) as exc:
        raise EmobenchError(f"run {run_id}: cannot list its {parent}/ artifacts at {tracking_uri} ({exc})") from None
    if artifact not in names:
        if required:
            raise EmobenchError(f"run {run_id}: no {artifact} artifact at {tracking_uri}")
        return None
    with _quiet_downloads():
        try:
            return Path(client.download_artifacts(run_id, artifact, tmp))
        except (MlflowException, OSError) as exc:
            raise EmobenchError(f"run {run_id}: cannot download {artifact} from {tracking_uri} ({exc})") from None


TTS_UTTERANCE_COLUMNS = ("utt_id",)


@lru_cache(maxsize=1024)
def _download_tts_utterances(tracking_uri: str, run_id: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        path = _artifact_path(tracking_uri, run_id, TTS_UTTERANCES_ARTIFACT, tmp, required=True)
        try:
            table = pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001  (pyarrow raises several types on a broken file)
            raise EmobenchError(f"run {run_id}: {TTS_UTTERANCES_ARTIFACT} is not a readable Parquet table "
                                f"({exc})") from None
    missing = [c for c in TTS_UTTERANCE_COLUMNS if c not in table.columns]
    if missing:
        raise EmobenchError(f"run {run_id}: {TTS_UTTERANCES_ARTIFACT} lacks column(s) {', '.join(missing)}")
    table["utt_id"] = table["utt_id"].astype(str)
    dupes = table["utt_id"][table["utt_id"].duplicated()].tolist()
    if dupes:
        raise EmobenchError(f"run {run_id}: {TTS_UTTERANCES_ARTIFACT} repeats utt_id(s) {dupes[:5]}")
    return table


def load_tts_utterances(run_id: str, tracking_uri: str | None = None) -> pd.DataFrame:
    """The per-utterance TTS scores of a TTS cell run (``tts/per_utterance.parquet``): utt_id, emotion,
    judge_pred, text, hypothesis, wer, cer, word_errors, ref_words, char_errors, ref_chars and, except for
    the ground truth, mcd_db, f0_rmse_hz, f0_rmse_cents, f0_corr, vuv_disagreement, duration_ratio.

    Read in place or downloaded once per process; each call returns a fresh copy. A run without the
    artifact is an error naming the run."""
    return _download_tts_utterances(_uri_of(run_id, tracking_uri), run_id).copy()


@lru_cache(maxsize=256)
def _download_tts_showcase(tracking_uri: str, run_id: str) -> dict[str, np.ndarray] | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _artifact_path(tracking_uri, run_id, TTS_SHOWCASE_ARTIFACT, tmp, required=False)
        if path is None:
            return None
        with np.load(path, allow_pickle=False) as npz:   # never unpickle an artifact
            return {k: npz[k] for k in npz.files}


def load_tts_showcase(run_id: str, tracking_uri: str | None = None) -> dict[str, np.ndarray] | None:
    """A TTS cell's showcase (``tts/showcase.npz``: text, speaker, emotions, mel_<emotion>), or None."""
    arrays = _download_tts_showcase(_uri_of(run_id, tracking_uri), run_id)
    return None if arrays is None else {k: v.copy() for k, v in arrays.items()}


@lru_cache(maxsize=256)
def _download_tts_settings(tracking_uri: str, run_id: str) -> str | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _artifact_path(tracking_uri, run_id, TTS_SETTINGS_ARTIFACT, tmp, required=False)
        return None if path is None else path.read_text(encoding="utf-8")


def load_tts_settings(run_id: str, tracking_uri: str | None = None) -> dict | None:
    """A TTS cell's scoring settings (``tts/settings.json``: asr, mcd, vocoder, judge), or None."""
    import json

    text = _download_tts_settings(_uri_of(run_id, tracking_uri), run_id)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EmobenchError(f"run {run_id}: {TTS_SETTINGS_ARTIFACT} is not valid JSON ({exc})") from None
    return data if isinstance(data, dict) else None


def clear_cache() -> None:
    """Forget downloaded artifacts and clients (tests that rebuild a store under the same path use it)."""
    _download_predictions.cache_clear()
    _download_embeddings.cache_clear()
    _download_tts_utterances.cache_clear()
    _download_tts_showcase.cache_clear()
    _download_tts_settings.cache_clear()
    client_for.cache_clear()
    _RUN_URIS.clear()
    _ARTIFACT_ROOTS.clear()


def with_predictions(cells: pd.DataFrame, tracking_uri: str | None = None) -> pd.DataFrame:
    """The predictions of ``cells`` stacked, each row carrying its cell's run id and key columns."""
    if cells.empty:
        raise EmobenchError("no cells to read predictions from")
    frames = [load_predictions(row["run_id"], tracking_uri).assign(
        run_id=row["run_id"], **{k: str(row[k]) for k in CELL_KEY}) for _, row in cells.iterrows()]
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- convergence


STILL_IMPROVING_TAG = "convergence.still_improving"
STOP_REASON_TAG = "convergence.stop_reason"


def still_improving(cells: pd.DataFrame) -> bool:
    """True when any of ``cells`` stopped at its epoch cap while validation UA was still improving
    (the training loop's ``convergence.still_improving`` tag; absent for non-iterative methods)."""
    if cells.empty or STILL_IMPROVING_TAG not in cells.columns:
        return False
    return bool((cells[STILL_IMPROVING_TAG].astype(str).str.lower() == "true").any())


def load_metric_history(run_id: str, key: str, tracking_uri: str | None = None) -> pd.DataFrame:
    """A run's step metric ``key`` (e.g. ``train_loss``, ``val_ua``; step = epoch): columns step, value,
    sorted by step; empty when the run logged none."""
    client = client_for(_uri_of(run_id, tracking_uri))
    try:
        history = client.get_metric_history(run_id, key)
    except MlflowException as exc:
        raise EmobenchError(f"run {run_id}: cannot read metric history {key!r} ({exc.message})") from None
    frame = pd.DataFrame({"step": [m.step for m in history], "value": [m.value for m in history]})
    return frame.sort_values("step", kind="stable").drop_duplicates("step", keep="last").reset_index(drop=True)
