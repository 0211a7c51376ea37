"""Executors: where a suite's jobs run. ``local`` (this process or a process pool) or ``ray`` (a cluster).

Both take the same jobs in the same order (:class:`JobQueue`, from
:func:`benchmark.runner.schedule`) and record through the same recorder, so a suite
gives the same predictions tables whichever runs it.
"""
from __future__ import annotations

from benchmark.executors.base import Job, JobQueue, Recorder

EXECUTORS = ("local", "ray")


def make_executor(name: str, *, n_jobs: int = 1, address: str | None = None, retries: int = 1,
                  cpus_per_task: int = 1, gpus_per_task: float = 1.0, warm: bool = False,
                  warm_idle_s: float | None = None):
    """The executor ``name`` (``local`` or ``ray``) with its settings."""
    from benchmark.errors import ConfigError

    if name == "local":
        from benchmark.executors.local import LocalExecutor

        return LocalExecutor(n_jobs)
    if name == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:  # not imported here: a re-run with nothing to do never needs it
            raise ConfigError("executor ray: the `ray` package is not installed (pip install 'ray>=2.9')")
        from benchmark.executors.ray import RayExecutor

        return RayExecutor(address, retries, cpus_per_task, gpus_per_task, warm, warm_idle_s)
    raise ConfigError(f"unknown executor {name!r} (known: {', '.join(EXECUTORS)})")


__all__ = ["EXECUTORS", "Job", "JobQueue", "Recorder", "make_executor"]
