"""The suite runner: expand a suite into grid cells, run them, record them in MLflow.

A grid cell is (corpus, protocol, split, method, seed). Its hash covers
everything that determines its result (data hash, split content, method,
hyperparameters, seed), so re-running a suite skips every cell that already
has a FINISHED run with the same hash and runs only what is missing.

A TTS cell (``TTSCell``: corpus, system, seed; the suite's ``tts`` section) is
logged the same way under protocol ``tts``. Each system is one job; the systems
of one (corpus, seed) run one after the other (a *chained* group), the first
training the judge and the base acoustic model into a shared work folder that
the next load. The runner asks a cell only for the members of
:class:`benchmark.runner.cells.GridCell`, so a new kind of cell is one class.

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

# The package's modules, by stage: cells (what a cell kind implements, its result), ser_cell and
# tts_cell (the two kinds), grid (suite -> cells -> training groups), pool (the local pool's
# workers), record (MLflow) and execute (run_suite). These names are the runner's public face.
from benchmark.runner.cells import CellResult, FeatureNeed, GridCell, method_feature
from benchmark.runner.execute import Terminated, prepare_features, run_job, run_suite
from benchmark.runner.grid import corpus_name, expand_cells, expand_grid, expand_tts_grid, load_manifests, schedule
from benchmark.runner.record import (CellError, CellRecorder, LoggedCell, RunSummary, convergence_metrics,
                                     convergence_tags, log_on_worker, log_stage_seconds)
from benchmark.runner.ser_cell import Cell, run_cell, run_cells
from benchmark.runner.tts_cell import TTSCell, run_tts_cells

__all__ = ["Cell", "CellError", "CellRecorder", "CellResult", "FeatureNeed", "GridCell", "LoggedCell", "RunSummary",
           "TTSCell", "Terminated", "convergence_metrics", "convergence_tags", "corpus_name", "expand_cells",
           "expand_grid", "expand_tts_grid", "load_manifests", "log_on_worker", "log_stage_seconds", "method_feature",
           "prepare_features", "run_cell", "run_cells", "run_job", "run_suite", "run_tts_cells", "schedule"]
