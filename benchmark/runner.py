"""The suite runner: expand a suite into grid cells, run them, record them in MLflow.

A grid cell is (corpus, protocol, split, method, seed). Its hash covers
everything that determines its result (data hash, split content, method,
hyperparameters, seed), so re-running a suite skips every cell that already
has a FINISHED run with the same hash and runs only what is missing.

A TTS cell (``TTSCell``: corpus, system, seed; the suite's ``tts`` section) is
logged the same way under protocol ``tts``: its predictions table holds the
judge's labels of the system's audio against the intended emotions, and
``tts/per_utterance.parquet`` the Whisper WER/CER, MCD and prosody scores per
utterance. Each system is one job; the systems of one (corpus, seed) run one
after the other, the first training the judge and the base acoustic model into
a shared work folder that the next load (``benchmark.tts.evaluate.TTSBench``).

Cells run where the suite's executor puts them (``benchmark.executors``): in the
main process (``n_jobs=1``), in a local process pool, or as Ray tasks on a cluster,
in the same jobs and order. A child run is created when its cell is claimed (right
before it is submitted; a cell another run holds is left to it) and ended FINISHED
when its results are logged, or FAILED on any error or interrupt (Ctrl-C, SIGTERM);
a run orphaned by ``kill -9`` is marked FAILED when the suite next starts. With the
local executor MLflow is written only from the main process; Ray workers log their
own cells through the tracking server (``CellRecorder``, ``log_on_worker``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import yaml
from tqdm.auto import tqdm

from benchmark import tracking
from benchmark.corpora import load_corpus
from benchmark.manifest import manifest_hash
from benchmark.splits import Split
from benchmark.suite import ProtocolSpec, SuiteConfig, variant_name

log = logging.getLogger(__name__)


def _digest(payload: dict[str, Any]) -> str:
    """Short stable hash of a JSON-able payload (keys sorted; anything else by its str())."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Cell:
    """One unit of work: train ``method`` on ``split`` with ``seed`` and score it."""

    corpus: str
    data_hash: str
    protocol: ProtocolSpec
    split: Split
    method: str                      # the suite's name: a registered method or a ``base/variant``
    hparams: dict[str, Any]
    seed: int
    base_method: str | None = None   # the registered method of a variant (None: ``method`` itself)

    @property
    def registered(self) -> str:
        """The registry name of the method class this cell trains."""
        return self.base_method or self.method

    @property
    def key(self) -> str:
        payload = {
            "corpus": self.corpus,
            "data": self.data_hash,
            "protocol": self.protocol.label,
            "split": self.split.digest(),
            "method": self.method,
            "hparams": self.hparams,
            "seed": self.seed,
            "embeddings": self.protocol.keep_embeddings,
        }
        return _digest(payload)

    @property
    def training_key(self) -> str:
        """Cells with the same training key train the same model (e.g. one source language tested on
        every target language): the runner fits it once and scores it on each cell's test set."""
        s = self.split
        payload = {"corpus": self.corpus, "data": self.data_hash, "train": s.train_ids, "val": s.val_ids,
                   "labels": s.labels, "label_map": s.label_map, "method": self.method, "hparams": self.hparams,
                   "seed": self.seed}
        return _digest(payload)

    @property
    def name(self) -> str:
        return f"{self.method}/{self.protocol.label}/{self.split.fold}/seed{self.seed}"

    def tags(self, suite: str) -> dict[str, str]:
        from benchmark.features.base import feature_label

        tags = {
            tracking.KIND_TAG: "cell",
            tracking.CELL_TAG: self.key,
            tracking.SUITE_TAG: suite,
            "method": self.method,
            "base_method": self.registered,
            "variant": variant_name(self.method),
            "protocol": self.protocol.label,
            "protocol_name": self.protocol.name,
            "fold": self.split.fold,
            "seed": str(self.seed),
            "corpus": self.corpus,
            "speaker_independent": str(self.split.speaker_independent).lower(),
            "feature": feature_label(method_feature(self.registered, self.hparams)),
        }
        tags.update({f"meta.{k}": str(v) for k, v in self.split.meta.items()})
        return tags


@dataclass(frozen=True)
class TTSCell:
    """One TTS unit of work: score ``system`` (a conditioning method, ``none`` or a reference) on ``corpus``."""

    corpus: str
    data_hash: str
    system: str
    hparams: dict[str, Any]          # the conditioning method's (empty for none and the references)
    seed: int
    config: dict[str, Any]           # TTSEvalConfig fields

    protocol_label = "tts"
    fold = "heldout"

    @property
    def key(self) -> str:
        return _digest({"task": "tts", "corpus": self.corpus, "data": self.data_hash, "system": self.system,
                        "hparams": self.hparams, "seed": self.seed, "config": self.config})

    @property
    def training_key(self) -> str:
        """The systems of one (corpus, seed, config) share the split, judge, ASR and base model: one group."""
        return _digest({"task": "tts", "corpus": self.corpus, "data": self.data_hash, "seed": self.seed,
                        "config": self.config})

    @property
    def method(self) -> str:
        return self.system

    @property
    def name(self) -> str:
        return f"{self.system}/tts/seed{self.seed}"

    def tags(self, suite: str) -> dict[str, str]:
        from benchmark.tts.evaluate import REFERENCE_SYSTEMS, TTSEvalConfig

        reference = self.system in REFERENCE_SYSTEMS
        return {
            tracking.KIND_TAG: "cell",
            tracking.CELL_TAG: self.key,
            tracking.SUITE_TAG: suite,
            "method": self.system,
            "protocol": self.protocol_label,
            "protocol_name": "tts",
            "fold": self.fold,
            "seed": str(self.seed),
            "corpus": self.corpus,
            # the held-out sentences are spoken by training speakers: TTS synthesizes known voices
            "speaker_independent": "false",
            "feature": "tts",
            "meta.language": TTSEvalConfig(**self.config).language,
            "meta.system": "reference" if reference else "tts",
            "meta.conditioner": "" if reference else self.system,
        }


@dataclass
class CellResult:
    predictions: pd.DataFrame
    metrics: dict[str, float]
    embeddings: dict[str, np.ndarray] | None = None
    fit_seconds: float = 0.0
    hparams: dict[str, Any] = field(default_factory=dict)  # resolved: suite values + method defaults
    figures: dict[str, bytes] = field(default_factory=dict)  # artifact file name -> PNG bytes
    model_dir: str | None = None  # the fitted method's save() folder, when the suite registers models
    artifacts: dict[str, bytes] = field(default_factory=dict)  # artifact path -> content (TTS tables, showcase)
    history: list[dict[str, float]] = field(default_factory=list)  # per epoch: loss, val_ua, method terms
    convergence: dict[str, Any] | None = None  # benchmark.training.Convergence.as_dict() of the fit


@dataclass
class RunSummary:
    """What one ``run_suite`` call did."""

    experiment_id: str
    parent_run_id: str | None
    total: int
    skipped: int
    ran: int = 0
    failed: list[str] = field(default_factory=list)
    elsewhere: int = 0    # cells that another run, started at the same time, finished meanwhile
    retried: list[str] = field(default_factory=list)  # attempts lost with a worker and run again
    # Wall seconds of the run's stages (corpora, features, cells); logged on the parent run as stage.<name>_s.
    stage_seconds: dict[str, float] = field(default_factory=dict)


def log_stage_seconds(client, run_id: str, stages: dict[str, float]) -> None:
    """``stage.<name>_s`` metrics on the suite's parent run (perf/bench_suite.py reads them)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(f"stage.{k}_s", float(v), now, 0) for k, v in stages.items()])


# ----------------------------------------------------------------------------- grid


def method_feature(method: str, hparams: dict[str, Any]) -> Any:
    """The feature a configured method reads: its ``feature`` hyperparameter where it has one
    (log-mel networks, the VAE family, the pretrained-encoder probes), else its class's."""
    from benchmark.methods import METHODS

    return METHODS.get(method)(**hparams).feature


def load_manifests(suite: SuiteConfig, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Every corpus of the suite, keyed by the corpus's own name (its manifest's ``corpus``), which
    cells are tagged with: a ``csv`` loader's corpus is named by its file or ``corpus`` option."""
    from benchmark.errors import ConfigError

    manifests = {}
    for spec in suite.corpora:
        manifest, skipped = load_corpus(spec.name, spec.root, **spec.options)
        if len(skipped):
            log.warning("%s: %d entries skipped (see the skip report)", spec.name, len(skipped))
        key = corpus_name(spec.name, manifest)
        if key in manifests:
            raise ConfigError(f"corpora: two entries load corpus {key!r} (set a `corpus` option to tell them apart)")
        manifests[key] = manifest
    return manifests


def corpus_name(loader: str, manifest: pd.DataFrame) -> str:
    """The corpus's own name: the manifest's single ``corpus`` value, else the loader's name."""
    names = manifest["corpus"].unique()
    return str(names[0]) if len(names) == 1 else loader


def _corpus_keys(names: list[str], suite: SuiteConfig, manifests: dict[str, pd.DataFrame]) -> list[str]:
    """A protocol's ``corpora`` (the corpora's own names, or the loader names the suite lists them
    under) as keys of ``manifests``, which :func:`load_manifests` filled in the suite's order."""
    by_loader: dict[str, str] = {}
    for spec, key in zip(suite.corpora, manifests):
        by_loader.setdefault(spec.name, key)
    return [name if name in manifests else by_loader[name] for name in names]


def expand_grid(suite: SuiteConfig, manifests: dict[str, pd.DataFrame]) -> list[Cell]:
    """Every (corpus, protocol, split, method, seed) cell of the suite, in a stable order."""
    from benchmark.protocols import make_splits

    cells = []
    for proto in suite.protocols:
        corpora = list(manifests) if proto.corpora == "all" else _corpus_keys(proto.corpora, suite, manifests)
        for corpus in corpora:
            manifest = manifests[corpus]
            data_hash = manifest_hash(manifest)
            for split in make_splits(manifest, proto.name, **proto.config):
                for method in suite.methods_for(proto):
                    for seed in proto.seeds:
                        cells.append(Cell(corpus, data_hash, proto, split, method, suite.hparams_of(method), seed,
                                          suite.base_method(method)))
    return cells


def expand_tts_grid(suite: SuiteConfig, manifests: dict[str, pd.DataFrame]) -> list[TTSCell]:
    """Every (corpus, system, seed) TTS cell of the suite, in a stable order (none without a ``tts`` section)."""
    spec = suite.tts
    if spec is None:
        return []
    from benchmark.tts.evaluate import TTSEvalConfig

    config = TTSEvalConfig(**spec.config).model_dump()  # resolved: a default changed in code changes the key
    cells = []
    for corpus in (list(manifests) if spec.corpora == "all" else _corpus_keys(spec.corpora, suite, manifests)):
        data_hash = manifest_hash(manifests[corpus])
        for seed in spec.seeds:
            for system in spec.systems():
                hparams = suite.hparams_of(system) if system in spec.methods else {}
                cells.append(TTSCell(corpus, data_hash, system, hparams, seed, config))
    return cells


# ----------------------------------------------------------------------------- one cell

_WORKER_MANIFESTS: dict[str, pd.DataFrame] = {}
_WORKER_LIMITS: list[Any] = []


def _init_worker(manifests: dict[str, pd.DataFrame], threads: int, parent: int | None = None) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    _die_with_parent(parent if parent is not None else os.getppid())
    # forked after the main process installed its SIGTERM handler: a terminated worker just ends
    # (the main process sees a broken pool and marks the open runs FAILED)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # One core per worker for torch AND for NumPy/SciPy's BLAS: two workers whose BLAS each
    # spawn a thread per core fight over the cores (measured: lbfgs on oversampled functionals
    # several times slower than alone).
    torch.set_num_threads(threads)
    _WORKER_LIMITS.append(threadpool_limits(threads))  # kept referenced for the worker's lifetime
    _WORKER_MANIFESTS.update(manifests)


def _die_with_parent(parent: int) -> None:
    """End this worker when the process that started it dies, even by ``kill -9``.

    The pool's own bookkeeping cannot notice while a worker is busy on a cell: such
    workers went on for minutes at about 650 MB each. On Linux the kernel sends
    SIGKILL at the parent's death (``PR_SET_PDEATHSIG``); elsewhere, and as a
    fallback, a daemon thread checks once a second that the parent is still ours.
    """
    import threading

    if os.getppid() != parent:  # the parent died before this line ran
        os._exit(1)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # no prctl: the watchdog below still works
            pass
        if os.getppid() != parent:  # died between the check and prctl
            os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="emobench-parent-watchdog", daemon=True).start()


@contextmanager
def _worker_pool(n_jobs: int, manifests: dict[str, pd.DataFrame], threads: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers are ended, not awaited, when the run is interrupted.

    ``ProcessPoolExecutor``'s own exit waits for the cells in progress: a SIGTERM or Ctrl-C would
    then stop the run only minutes later."""
    pool = ProcessPoolExecutor(n_jobs, initializer=_init_worker, initargs=(manifests, threads, os.getpid()))
    try:
        yield pool
    except BaseException:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()  # SIGTERM: a worker's default action (see _init_worker)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def run_cell(cell: Cell, manifest: pd.DataFrame | None = None, n_bootstrap: int = 1000) -> CellResult:
    """Train and score one cell (pure: no MLflow here, so it can run in any process)."""
    result = run_cells([cell], manifest, n_bootstrap)[0]
    if isinstance(result, Exception):
        raise result
    return result


def run_cells(cells: list[Cell], manifest: pd.DataFrame | None = None,
              n_bootstrap: int = 1000, models_dir: str | None = None) -> list[CellResult | Exception]:
    """Train once and score every cell of ``cells``, which share one training key.

    A failure is returned in the failing cell's place (a failed fit fails them all), so that
    one broken cell never hides the results of the others. With ``models_dir`` the fitted method
    is saved under it (once for the group) for the main process to log and register.
    """
    from benchmark.features import feature_set
    from benchmark.methods import METHODS

    if len({c.training_key for c in cells}) != 1:
        raise ValueError("run_cells: the cells do not share one training key")
    first = cells[0]
    manifest = manifest if manifest is not None else _WORKER_MANIFESTS[first.corpus]
    method_cls = METHODS.get(first.registered)
    try:
        method = method_cls(**{**first.hparams, "seed": first.seed})
        frames = first.split.frames(manifest)
        data = {part: feature_set(rows, method.feature, progress=False)
                for part, rows in frames.items() if part != "test" and len(rows)}
        start = time.perf_counter()
        method.fit(data["train"], data.get("val"))
        fit_seconds = time.perf_counter() - start
        saved = str(method.save(Path(models_dir) / first.training_key)) if models_dir else None
    except Exception as exc:  # noqa: BLE001  (reported on every cell that needed this model)
        return [exc] * len(cells)
    results: list[CellResult | Exception] = []
    for cell in cells:
        try:
            test_rows = cell.split.frames(manifest)["test"] if cell is not first else frames["test"]
            test = feature_set(test_rows, method.feature, progress=False)
            result = _score_cell(cell, method, test, len(data["train"]), fit_seconds, n_bootstrap)
            result.model_dir = saved
            results.append(result)
        except Exception as exc:  # noqa: BLE001
            results.append(exc)
    return results


def run_tts_cells(cells: list[TTSCell], manifest: pd.DataFrame | None = None,
                  models_dir: str | None = None, progress: bool = False,
                  work_dir: str | None = None) -> list[CellResult | Exception]:
    """Score TTS systems of one (corpus, seed) group, sharing the judge, the ASR and the base model.

    ``work_dir`` keeps the judge and the base model between calls (the suite scores one system
    per call); without it they live in a temporary folder for this call. As with
    :func:`run_cells`, a failure is returned in the failing cell's place.
    """
    from benchmark.tts.evaluate import TTSBench

    if len({c.training_key for c in cells}) != 1:
        raise ValueError("run_tts_cells: the cells do not share one (corpus, seed, config) group")
    first = cells[0]
    manifest = manifest if manifest is not None else _WORKER_MANIFESTS[first.corpus]
    import torch

    # Training uses the threads this process was given (one per worker in a pool), whatever the config says.
    threads = torch.get_num_threads()
    config = {**first.config, "train": {**first.config.get("train", {}), "threads": threads},
              "finetune": {**first.config.get("finetune", {}), "threads": threads}}
    results: list[CellResult | Exception] = []
    with tempfile.TemporaryDirectory(prefix="emobench-tts-") as tmp:
        try:
            bench = TTSBench(manifest, work_dir or tmp, seed=first.seed, config=config, progress=progress)
        except Exception as exc:  # noqa: BLE001
            return [exc] * len(cells)
        for cell in cells:
            try:
                scored = bench.evaluate(cell.system, cell.hparams)
                results.append(_tts_cell_result(cell, scored, models_dir))
            except Exception as exc:  # noqa: BLE001
                log.error("TTS cell %s failed: %s", cell.name, exc)
                results.append(exc)
    return results


def _tts_cell_result(cell: TTSCell, scored, models_dir: str | None) -> CellResult:
    """A TTS system's scores as a cell result: the judge's predictions table, the per-utterance scores,
    the showcase mels and a few wavs as artifacts; the model copied out for registration."""
    import io
    import shutil

    artifacts: dict[str, bytes] = {}
    buffer = io.BytesIO()
    scored.per_utterance.to_parquet(buffer, index=False)
    artifacts["tts/per_utterance.parquet"] = buffer.getvalue()
    artifacts["tts/settings.json"] = json.dumps(scored.settings, indent=1, default=str).encode()
    if scored.showcase is not None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **scored.showcase)
        artifacts["tts/showcase.npz"] = buffer.getvalue()
    for path in scored.samples:
        artifacts[f"tts/samples/{Path(path).name}"] = Path(path).read_bytes()
    model_dir = None
    if models_dir is not None and scored.model_dir is not None:
        model_dir = shutil.copytree(scored.model_dir, Path(models_dir) / cell.key)
    return CellResult(scored.predictions, scored.metrics, None, scored.fit_seconds, scored.hparams,
                      {}, None if model_dir is None else str(model_dir), artifacts)


def _score_cell(cell: Cell, method, test, n_train: int, fit_seconds: float, n_bootstrap: int) -> CellResult:
    from benchmark.metrics import score_predictions
    from benchmark.predictions import make_predictions

    proba = method.predict_proba(test)
    predictions = make_predictions(test.utt_ids, test.y, proba, method.classes_,
                                   speakers=test.speakers, languages=test.languages)
    metrics = score_predictions(predictions, labels=list(cell.split.labels), n_bootstrap=n_bootstrap, seed=cell.seed)
    metrics.update({"fit_seconds": fit_seconds, "n_train": n_train, "n_test": len(test)})
    embeddings = None
    if cell.protocol.keep_embeddings:
        from benchmark.metrics import speaker_probe

        Z = method.embed(test)
        # Plain unicode arrays (not object arrays): readable with allow_pickle=False.
        embeddings = {"utt_ids": np.asarray(test.utt_ids, dtype=str), "Z": np.asarray(Z, dtype=np.float32),
                      "y": np.asarray(test.y, dtype=str), "speakers": np.asarray(test.speakers, dtype=str),
                      "languages": np.asarray(test.languages, dtype=str)}
        metrics.update(speaker_probe(Z, np.asarray(test.speakers), seed=cell.seed))
    figures = {"confusion.png": confusion_png(predictions, list(cell.split.labels), cell.name)}
    convergence = getattr(method, "convergence_", None)
    return CellResult(predictions, metrics, embeddings, fit_seconds, method.hparams, figures,
                      history=list(getattr(method, "history_", [])),
                      convergence=None if convergence is None else convergence.as_dict())


def confusion_png(predictions: pd.DataFrame, labels: list[str], title: str) -> bytes:
    """The cell's row-normalised confusion matrix as a small PNG.

    Drawn in the worker with bare matplotlib (imshow + text, 100 dpi, no layout engine): the
    report's seaborn figure costs about 0.7 s a cell, a tenth of a log-mel fit, for a figure
    that is only looked at when one cell is in doubt. The report draws its own, from the
    predictions, for publication.
    """
    import io

    from matplotlib.figure import Figure
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(predictions["y_true"], predictions["y_pred"], labels=labels).astype(float)
    matrix = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    fig = Figure(figsize=(1.6 + 0.55 * n, 1.2 + 0.5 * n), dpi=100)
    ax = fig.add_axes((0.3, 0.28, 0.62, 0.6))
    ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] > 0.6 else "black")
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("predicted", fontsize=7)
    ax.set_ylabel("true", fontsize=7)
    ax.set_title(title, fontsize=6)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


# ----------------------------------------------------------------------------- MLflow


def _log_cell(client, run_id: str, cell: Cell | TTSCell, result: CellResult, provenance: dict[str, str]) -> None:
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    params = {f"hp.{k}": v for k, v in result.hparams.items()}
    params.update(provenance)
    params.update({"data_hash": cell.data_hash})
    if isinstance(cell, Cell):
        params["split_digest"] = cell.split.digest()
    else:
        params.update({f"tts.{k}": json.dumps(v, sort_keys=True, default=str) if isinstance(v, (dict, list)) else v
                       for k, v in cell.config.items()})
    metrics = [Metric(k, float(v), now, 0) for k, v in result.metrics.items() if np.isfinite(v)]
    metrics += convergence_metrics(result.history, result.convergence, now)
    client.log_batch(run_id, metrics=metrics, params=[Param(k, str(v)[:6000]) for k, v in params.items()],
                     tags=[RunTag(k, v) for k, v in convergence_tags(result.convergence).items()])
    with tempfile.TemporaryDirectory() as tmp:
        pred_dir = Path(tmp) / "predictions"
        pred_dir.mkdir()
        result.predictions.to_parquet(pred_dir / "predictions.parquet", index=False)
        client.log_artifacts(run_id, str(pred_dir), "predictions")
        if result.figures:
            fig_dir = Path(tmp) / "figures"
            fig_dir.mkdir()
            for name, png in result.figures.items():
                (fig_dir / name).write_bytes(png)
            client.log_artifacts(run_id, str(fig_dir), "figures")
        if result.artifacts:
            extra = Path(tmp) / "extra"
            for name, content in result.artifacts.items():
                target = extra / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            client.log_artifacts(run_id, str(extra))
        if result.embeddings is not None:
            emb_dir = Path(tmp) / "embeddings"
            emb_dir.mkdir()
            np.savez_compressed(emb_dir / "test.npz", **result.embeddings)  # type: ignore[arg-type]  # numpy's stub
            client.log_artifacts(run_id, str(emb_dir), "embeddings")


#: Step metric names of the per-epoch history (step = epoch, from 1); other per-epoch terms get "train." prefixed.
HISTORY_METRICS = {"loss": "train_loss", "val_ua": "val_ua"}


def convergence_metrics(history: list[dict[str, float]], convergence: dict[str, Any] | None, now: int) -> list:
    """The per-epoch history as MLflow step metrics, plus epochs run, best epoch and the epoch cap."""
    from mlflow.entities import Metric

    metrics = []
    for record in history:
        step = int(record["epoch"])
        for key, value in record.items():
            if key != "epoch" and np.isfinite(value):
                metrics.append(Metric(HISTORY_METRICS.get(key, f"train.{key}"), float(value), now, step))
    if convergence is not None:
        metrics += [Metric(k, float(convergence[k]), now, 0) for k in ("epochs_run", "best_epoch", "epoch_cap")]
    return metrics


def convergence_tags(convergence: dict[str, Any] | None) -> dict[str, str]:
    """``convergence.stop_reason`` and ``convergence.still_improving`` (absent for non-iterative methods)."""
    if convergence is None:
        return {}
    return {"convergence.stop_reason": convergence["stop_reason"],
            "convergence.still_improving": str(convergence["still_improving"]).lower()}


def _register_model(run_id: str, cell: Cell | TTSCell, model_dir: str, manifest: pd.DataFrame) -> None:
    """Log the cell's fitted method to its run as a pyfunc model and register it as
    ``emobench-<method>-<corpus>`` (one version per cell, tagged with the cell)."""
    from benchmark.features import feature_set
    from benchmark.methods import METHODS
    from benchmark.model_registry import log_and_register, log_and_register_tts, registered_name

    if isinstance(cell, TTSCell):
        log_and_register_tts(model_dir, data_hash=cell.data_hash, corpus=cell.corpus, run_id=run_id,
                             tags={"cell": cell.key, "cell_name": cell.name})
        return
    method = METHODS.get(cell.registered).load(model_dir)
    example = feature_set(cell.split.frames(manifest)["test"].head(5), method.feature, progress=False)
    # A variant registers under its own name ("/" is not allowed in a registered model's name).
    log_and_register(method, data_hash=cell.data_hash, input_example=example, run_id=run_id,
                     name=registered_name(cell.method.replace("/", "."), cell.corpus),
                     tags={"cell": cell.key, "cell_name": cell.name})


def _provenance(suite: SuiteConfig) -> dict[str, str]:
    prov = {"code_version": tracking.code_version(), "config_digest": suite.digest()}
    prov.update({f"pkg.{k}": v for k, v in tracking.package_versions().items()})
    return prov


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that open runs are marked FAILED.

    A BaseException (like KeyboardInterrupt), so that the per-cell ``except Exception``
    handlers, which record one broken cell and go on, let it through: a terminated
    run stops."""


def _raise_on_sigterm(signum, frame):  # noqa: ARG001
    raise Terminated(f"terminated by signal {signum}")


def run_suite(suite: SuiteConfig, *, n_jobs: int | None = None, progress: bool = True,
              tracking_uri: str | None = None, executor: str | None = None,
              address: str | None = None) -> RunSummary:
    """Run every missing cell of ``suite`` and record it; finished cells are reused.

    ``executor`` (``local`` or ``ray``) and ``address`` (a Ray cluster's) override the suite's
    ``executor`` section; ``n_jobs`` is the local pool's size.
    """
    from benchmark.executors import make_executor

    spec = suite.executor
    name = executor or spec.name
    runner_ = make_executor(name, n_jobs=n_jobs or suite.n_jobs, address=address or spec.address,
                            retries=spec.retries, cpus_per_task=spec.cpus_per_task, gpus_per_task=spec.gpus_per_task)
    uri = tracking_uri or suite.tracking.uri
    if tracking.store_is_new(uri):
        runner_.start(suite)  # nothing in a store yet to be made can be finished: start while it is created
    try:
        return _run_missing(suite, runner_, uri, n_jobs or suite.n_jobs, progress)
    finally:
        runner_.close()


def _run_missing(suite: SuiteConfig, executor, uri: str, n_jobs: int, progress: bool) -> RunSummary:
    client = tracking.configure(uri)
    exp_id = tracking.experiment_id(client, suite.experiment_name)
    stale = tracking.fail_stale_runs(client, exp_id)
    if stale:
        log.warning("marked %d run(s) left RUNNING by a dead process as FAILED", len(stale))
    start = time.perf_counter()
    manifests = load_manifests(suite, progress)
    cells: list[Cell | TTSCell] = [*expand_grid(suite, manifests), *expand_tts_grid(suite, manifests)]
    done = tracking.finished_cells(client, exp_id)
    todo = [c for c in cells if c.key not in done]
    summary = RunSummary(exp_id, None, total=len(cells), skipped=len(cells) - len(todo))
    summary.stage_seconds["corpora"] = time.perf_counter() - start
    if not todo:
        return summary

    # Ray (when it is the executor) starts while the driver extracts features and opens the suite's run.
    executor.start(suite)
    start = time.perf_counter()
    prepare_features(todo, manifests, n_jobs, progress)
    summary.stage_seconds["features"] = time.perf_counter() - start
    previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
    parent_tags = {tracking.KIND_TAG: "suite", tracking.SUITE_TAG: suite.name, "emobench.config": suite.digest()}
    try:
        with tracking.tracked_run(client, exp_id, name=f"{suite.name}", tags=parent_tags) as parent_id:
            summary.parent_run_id = parent_id
            _log_suite(client, parent_id, suite)
            start = time.perf_counter()
            _execute(client, exp_id, parent_id, suite, todo, manifests, n_jobs, progress, summary, executor)
            summary.stage_seconds["cells"] = time.perf_counter() - start
            log_stage_seconds(client, parent_id, summary.stage_seconds)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return summary


def prepare_features(cells: list[Cell | TTSCell], manifests: dict[str, pd.DataFrame], n_jobs: int,
                     progress: bool) -> None:
    """Extract (or find cached) every feature the cells need, once, with a progress bar.

    Without this the pool's workers would each extract the same missing features at the same
    time on a fresh machine; afterwards they only read the cache.
    """
    from benchmark.features import extract_features, make_config

    needed: dict[tuple[str, str], Any] = {}
    for c in cells:
        if isinstance(c, Cell):
            config = make_config(method_feature(c.registered, c.hparams))
            needed[(c.corpus, config.digest())] = config
    for (corpus, _), config in sorted(needed.items(), key=lambda item: (item[0][0], item[1].name, item[0][1])):
        extract_features(manifests[corpus], config, n_jobs=max(1, n_jobs), progress=progress)
    from benchmark.tts.evaluate import TTSEvalConfig

    tts_configs = {(c.corpus, json.dumps(c.config, sort_keys=True)) for c in cells if isinstance(c, TTSCell)}
    for corpus, tts_json in tts_configs:
        tts = TTSEvalConfig(**json.loads(tts_json))
        rows = manifests[corpus][manifests[corpus]["language"] == tts.language]
        for feature in sorted({"logmel", tts.judge_feature}):  # the TTS targets and the judge's input
            extract_features(rows, feature, n_jobs=max(1, n_jobs), progress=progress)


def _log_suite(client, parent_id: str, suite: SuiteConfig) -> None:
    from mlflow.entities import Param

    prov = _provenance(suite)
    client.log_batch(parent_id, params=[Param(k, v) for k, v in prov.items()])
    client.log_text(parent_id, yaml.safe_dump(suite.model_dump(), sort_keys=False), "suite.yaml")


def schedule(cells: list[Cell | TTSCell]) -> list[list[Cell | TTSCell]]:
    """Cells grouped by training key (one fit each), the costliest groups first.

    Longest-first keeps both workers busy to the end instead of leaving one slow log-mel fit
    for last; within a cost class the grid order is kept, so runs appear in a readable order.
    """
    from benchmark.features import make_config

    groups: dict[str, list[Cell | TTSCell]] = {}
    for cell in cells:
        groups.setdefault(cell.training_key, []).append(cell)

    def cost(group: list[Cell | TTSCell]) -> int:
        if isinstance(group[0], TTSCell):
            return -1  # a TTS group trains a base model and scores every system: minutes on one worker
        # Networks on frames (log-mel, an encoder layer's frames) are the slow ones.
        return 0 if make_config(method_feature(group[0].registered, group[0].hparams)).frame_level else 1

    return sorted(groups.values(), key=cost)


def _run_group(group: list, manifest: pd.DataFrame | None, n_bootstrap: int,
               models_dir: str | None, tts_dir: str | None = None) -> list[CellResult | Exception]:
    if isinstance(group[0], TTSCell):
        work = None if tts_dir is None else str(Path(tts_dir) / group[0].training_key)
        return run_tts_cells(group, manifest, models_dir, work_dir=work)
    return run_cells(group, manifest, n_bootstrap, models_dir)


class CellRecorder:
    """Claims, records and ends the MLflow runs of one suite execution (the executors' :class:`Recorder`).

    A job's cells are claimed (:func:`benchmark.tracking.claim_cells`) right before it starts:
    each gets a RUNNING child run, unless another run finished it or is running it (those are
    left to that run and counted in ``elsewhere``). A job's outcomes are logged here (a
    ``CellResult`` from this machine's workers) or were logged by the worker that made them
    (``LoggedCell``); the run then ends FINISHED, or FAILED with the ``emobench.error`` tag.
    """

    def __init__(self, client, exp_id: str, parent_id: str, suite: SuiteConfig,
                 manifests: dict[str, pd.DataFrame], summary: RunSummary, bar):
        self.client, self.exp_id, self.parent_id, self.suite = client, exp_id, parent_id, suite
        self.manifests, self.summary, self.bar = manifests, summary, bar
        self.provenance = _provenance(suite)
        self.open_runs: dict[str, Cell | TTSCell] = {}
        self.elsewhere: dict[str, Cell | TTSCell] = {}   # cell key -> cell another run holds

    def _create_run(self, cell: Cell | TTSCell) -> str:
        tags = {**cell.tags(self.suite.name), **tracking.provenance_tags(), "mlflow.parentRunId": self.parent_id}
        run_id = self.client.create_run(self.exp_id, run_name=cell.name, tags=tags).info.run_id
        self.open_runs[run_id] = cell
        return run_id

    def claim(self, job) -> bool:
        by_key = {cell.key: cell for cell in job.cells}
        claimed, elsewhere = tracking.claim_cells(self.client, self.exp_id, list(by_key),
                                                  lambda key: self._create_run(by_key[key]))
        for key, state in elsewhere.items():
            if state == "finished":
                self.summary.elsewhere += 1
                self.bar.update()
            else:
                self.elsewhere[key] = by_key[key]
        job.cells = [cell for cell in job.cells if cell.key in claimed]
        job.run_ids = [claimed[cell.key] for cell in job.cells]
        return bool(job.cells)

    def finish(self, job, outcomes, *, retrying: bool = False) -> None:
        outcomes = outcomes if isinstance(outcomes, list) else [outcomes] * len(job.run_ids)
        for run_id, outcome in zip(job.run_ids, outcomes):
            self._finish_run(run_id, outcome, retrying)

    def _finish_run(self, run_id: str, outcome, retrying: bool) -> None:
        cell = self.open_runs.pop(run_id)
        if isinstance(outcome, CellResult):
            try:
                _log_cell(self.client, run_id, cell, outcome, self.provenance)
                if outcome.model_dir is not None:
                    _register_model(run_id, cell, outcome.model_dir, self.manifests[cell.corpus])
            except Exception as exc:  # noqa: BLE001  (a cell that cannot be recorded is a failed cell)
                outcome = exc
        if isinstance(outcome, BaseException):
            # One broken cell must not sink the suite: record why, mark FAILED, go on.
            log.error("cell %s failed: %s", cell.name, _error_text(outcome))
            self.client.set_tag(run_id, "emobench.error", _error_text(outcome)[:5000])
            self.client.set_terminated(run_id, status="FAILED")
            if retrying:
                self.summary.retried.append(cell.name)
                return
            self.summary.failed.append(cell.name)
        else:
            self.client.set_terminated(run_id, status="FINISHED")
            self.summary.ran += 1
            metrics = outcome.metrics
            shown = (f"emotion acc={metrics.get('emotion_accuracy', float('nan')):.3f} "
                     f"WER={metrics.get('wer', float('nan')):.3f}" if isinstance(cell, TTSCell)
                     else f"UA={metrics.get('ua', float('nan')):.3f}")
            self.bar.set_postfix_str(f"{cell.name} {shown}")
        self.bar.update()

    def fail_open(self) -> None:
        for run_id in list(self.open_runs):
            self.client.set_terminated(run_id, status="FAILED")
        self.open_runs.clear()


@dataclass
class LoggedCell:
    """A cell that a remote worker logged to the tracking store itself; the driver only ends its run."""

    metrics: dict[str, float]
    node: str = ""


class CellError(Exception):
    """A cell's failure as text (what crosses from a remote worker; its ``emobench.error`` tag as is)."""

    @classmethod
    def of(cls, exc: BaseException) -> "CellError":
        return exc if isinstance(exc, CellError) else cls(f"{type(exc).__name__}: {exc}")


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, CellError) else f"{type(exc).__name__}: {exc}"


def log_on_worker(client, run_id: str, cell: Cell | TTSCell, outcome: CellResult | Exception,
                  provenance: dict[str, str], manifest: pd.DataFrame, worker_log: str,
                  tags: dict[str, str] | None = None) -> LoggedCell | CellError:
    """Log a cell's result from the (remote) worker that made it, as the driver would (``_log_cell``,
    the model registry), with the worker's log lines and ``tags`` (where it ran); a failure comes
    back as a :class:`CellError`."""
    import socket

    try:
        for key, value in {"emobench.node": socket.gethostname(), **(tags or {})}.items():
            client.set_tag(run_id, key, value)
        if worker_log:
            client.log_text(run_id, worker_log, "logs/worker.log")
        if isinstance(outcome, Exception):
            return CellError.of(outcome)
        _log_cell(client, run_id, cell, outcome, provenance)
        if outcome.model_dir is not None:
            _register_model(run_id, cell, outcome.model_dir, manifest)
        return LoggedCell({k: float(v) for k, v in outcome.metrics.items()}, socket.gethostname())
    except Exception as exc:  # noqa: BLE001
        return CellError.of(exc)


def _execute(client, exp_id: str, parent_id: str, suite: SuiteConfig, todo: list[Cell | TTSCell],
             manifests: dict[str, pd.DataFrame], n_jobs: int, progress: bool, summary: RunSummary,
             executor=None) -> None:
    """Run ``todo`` with ``executor`` (default: the local pool of ``n_jobs``), recording every cell;
    then wait for the cells that another run claimed, and run those it gave up."""
    from benchmark.executors import JobQueue, make_executor

    executor = executor or make_executor("local", n_jobs=n_jobs)
    bar = tqdm(total=len(todo), desc=f"suite {suite.name}", unit="cell", disable=not progress)
    recorder = CellRecorder(client, exp_id, parent_id, suite, manifests, summary, bar)
    models = tempfile.TemporaryDirectory(prefix="emobench-models-") if suite.tracking.register_models else None
    models_dir = models.name if models is not None else None
    # TTS systems run one job each (each is logged as soon as it is scored), one after the other within
    # a (corpus, seed): the first trains the judge and the base model into this folder, the next load them.
    needs_tts = any(isinstance(c, TTSCell) for c in todo)
    tts_work = tempfile.TemporaryDirectory(prefix="emobench-tts-") if needs_tts else None
    tts_dir = tts_work.name if tts_work is not None else None
    try:
        while todo:
            executor.run(JobQueue(schedule(todo)), recorder, manifests, bootstrap=suite.bootstrap,
                         models_dir=models_dir, tts_dir=tts_dir, tracking_uri=client.tracking_uri,
                         provenance=recorder.provenance, run_key=parent_id)
            todo = _wait_for_other_runs(client, exp_id, recorder, bar)
    except BaseException:
        recorder.fail_open()
        raise
    finally:
        bar.close()
        for folder in (models, tts_work):
            if folder is not None:
                folder.cleanup()


def _wait_for_other_runs(client, exp_id: str, recorder: CellRecorder, bar, poll_s: float = 2.0) -> list:
    """Wait until every cell that another run claimed is FINISHED (counted in ``elsewhere``) or free
    again (its run failed or its process died); returns the freed ones, for this run to do."""
    waiting, recorder.elsewhere = dict(recorder.elsewhere), {}
    if waiting:
        log.info("waiting for %d cell(s) that another run is running", len(waiting))
    freed = []
    while waiting:
        for key, state in tracking.cell_states(client, exp_id, list(waiting)).items():
            if state == "finished":
                recorder.summary.elsewhere += 1
                bar.update()
                waiting.pop(key)
            elif state is None:
                freed.append(waiting.pop(key))
        if waiting:
            time.sleep(poll_s)
    return freed
