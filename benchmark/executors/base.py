"""What every executor shares: the jobs of a suite run, in the order they start, and the recorder's contract.

A *job* is what one worker does at a time: a training group (cells that share one
fit, :func:`benchmark.runner.schedule`), or one cell of a *chained* group (a TTS group's
systems, ``GridCell.chained``): those run one after the other (the first trains the judge
and the base model that the next ones load), while other jobs run beside them.

An executor takes jobs from a :class:`JobQueue` in order, asks the :class:`Recorder`
(:class:`benchmark.runner.record.CellRecorder`) to claim their cells (which creates their
MLflow runs), runs them somewhere, and hands each job's outcomes back to the recorder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol


@dataclass
class Job:
    """The cells one worker runs at once, and the MLflow runs they are recorded in."""

    cells: list[Any]                         # GridCells (benchmark.runner.cells), all of one training key
    chain: str | None = None                 # a chained group's key: its jobs run one after the other
    last_in_chain: bool = False              # the chain's work folder can go after this one
    run_ids: list[str] = field(default_factory=list)
    attempt: int = 0                         # 0: first try; n: the n-th retry after a worker died

    @property
    def name(self) -> str:
        return self.cells[0].name if len(self.cells) == 1 else f"{self.cells[0].name} (+{len(self.cells) - 1})"


class JobQueue:
    """The schedule's groups as jobs, in schedule order (costliest first), keeping chains (TTS groups) serial.

    ``features`` (a :class:`benchmark.runner.features.FeaturePrep` still extracting in the background)
    holds back the jobs whose features are not there yet; an executor that finds nothing ready while
    :meth:`waiting` waits for it (:meth:`wait_for_features`) instead of ending.
    """

    def __init__(self, groups: list[list[Any]], features: Any = None):
        self._jobs: list[Job] = []
        for group in groups:
            if group[0].chained:
                key = group[0].training_key
                self._jobs += [Job([cell], chain=key, last_in_chain=i == len(group) - 1)
                               for i, cell in enumerate(group)]
            else:
                self._jobs.append(Job(list(group)))
        self._busy: set[str] = set()
        self.features = features

    def __len__(self) -> int:
        return len(self._jobs)

    def jobs(self) -> list[Job]:
        """The jobs not started yet, in order."""
        return list(self._jobs)

    def next_ready(self, accept: Callable[[Job], bool] | None = None) -> Job | None:
        """The first job that may start now and that ``accept`` (a free worker's fit) takes (None: empty, or
        only jobs of busy chains, or none that ``accept`` takes, are left)."""
        for i, job in enumerate(self._jobs):
            if ((job.chain is None or job.chain not in self._busy) and (accept is None or accept(job))
                    and (self.features is None or self.features.ready(job))):
                if job.chain is not None:
                    self._busy.add(job.chain)
                return self._jobs.pop(i)
        return None

    def extracting(self) -> int:
        """Processes extracting features in the background now (0 or 1): an executor leaves them a core."""
        return int(self.features is not None and self.features.pending)

    def waiting(self) -> bool:
        """Whether jobs are left that wait for features still being extracted."""
        return bool(self._jobs) and bool(self.extracting())

    def wait_for_features(self, timeout: float | None = None) -> None:
        """Until the next background extraction ends (or ``timeout`` seconds)."""
        if self.features is not None:
            self.features.wait(timeout)

    def done(self, job: Job) -> None:
        """``job`` ended (or was not started): the next job of its chain may start."""
        if job.chain is not None:
            self._busy.discard(job.chain)

    def retry(self, job: Job) -> None:
        """Run ``job`` again, next (a worker died under it)."""
        self.done(job)
        self._jobs.insert(0, Job(job.cells, job.chain, job.last_in_chain, attempt=job.attempt + 1))


class Recorder(Protocol):
    """What an executor calls back (implemented by :class:`benchmark.runner.record.CellRecorder`)."""

    def claim(self, job: Job) -> bool:
        """Claim the job's cells (creating their runs; cells another run holds are dropped from the job);
        False when none is left to run."""

    def finish(self, job: Job, outcomes: list[Any] | BaseException, *, retrying: bool = False) -> None:
        """Record the job's outcomes: one per cell (a CellResult to log, a LoggedCell that a worker logged,
        or an exception), or one exception for the whole job."""

    def fail_open(self) -> None:
        """Mark every run still open FAILED (the suite is being interrupted)."""
