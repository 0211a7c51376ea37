"""Warm workers: long-lived Ray actors that keep torch, MLflow and emobench imported between suite runs.

A Ray worker process belongs to one job (one driver): every ``emobench run`` against a cluster
gets fresh worker processes, and each spends seconds importing torch, MLflow, scikit-learn and
emobench before its first cell (docs/scale-out.md, section 5). With ``warm`` (``--warm`` or
``executor: {warm: true}``) the Ray executor runs the jobs on detached, named actors instead, one
per ``cpus_per_task`` CPUs of the cluster (a job of a CUDA method on one that also holds
``gpus_per_task`` GPUs), which outlive the run: the next run on the same cluster finds them by
name and starts its first cell at once.

An actor's name carries a *fingerprint* of the code it runs (every source file of the
``benchmark`` and ``baselines`` packages, the Python version and every installed distribution's
version): a run whose code differs uses, and creates, other actors, and kills the stale ones
(they hold CPUs), so a code change never runs on workers that imported the old code. An actor
that has had no job for ``idle_s`` seconds ends itself; ``emobench workers release`` ends them
all at once, ``emobench workers list`` shows them.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import logging
import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

NAMESPACE = "emobench-workers"
PREFIX = "emobench-worker-"
DEFAULT_IDLE_S = 900.0

log = logging.getLogger(__name__)


def code_fingerprint(roots: list[Path] | None = None) -> str:
    """A digest of what a worker would run: the source of emobench's packages (``roots``, default the
    ``benchmark`` and ``baselines`` packages as this process imports them), the Python version and the
    installed distributions' versions."""
    if roots is None:
        import baselines
        import benchmark

        roots = [Path(str(package.__file__)).resolve().parent for package in (benchmark, baselines)]
    digest = hashlib.sha256(sys.version.encode())
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(path.read_bytes())
    for dist in installed_distributions():
        digest.update(dist.encode())
    return digest.hexdigest()[:16]


def installed_distributions() -> list[str]:
    """``name==version`` of every distribution installed in this interpreter's environment (its site-packages
    folders), whatever this process put on ``sys.path`` since it started (importing ``pkg_resources`` adds
    setuptools' vendored packages there, which a fresh worker process does not see)."""
    import site
    import sysconfig

    folders = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    if site.ENABLE_USER_SITE:
        folders.add(site.getusersitepackages())
    return sorted({f"{d.metadata['Name']}=={d.version}"
                   for d in importlib.metadata.distributions(path=sorted(folders))})


def slot_prefix(fingerprint: str, cpus: int, gpus: float) -> str:
    """The name prefix of the actors of one code fingerprint and one slot shape (CPUs, GPUs)."""
    return f"{PREFIX}{fingerprint}-c{cpus}-g{gpus:g}-"


class WarmWorker:
    """One warm worker: imports the jobs' modules when it starts, then runs jobs, one at a time."""

    def __init__(self, fingerprint: str, modules: list[str], idle_s: float):
        self.fingerprint = fingerprint  # the driver's, which named this actor
        self.own_fingerprint = code_fingerprint()  # what this process imports (another checkout: differs)
        self.preload(modules)
        self.idle_s = idle_s
        self.jobs = 0
        self._busy = False
        self._last_used = time.monotonic()
        threading.Thread(target=self._end_when_idle, name="emobench-warm-idle", daemon=True).start()

    @staticmethod
    def preload(modules: list[str]) -> None:
        for module in modules:
            importlib.import_module(module)

    def info(self, modules: tuple[str, ...] | list[str] = (), taken: bool = True) -> dict[str, Any]:
        """Where this actor runs and what it imported; imports ``modules`` first (a suite's methods). A run that
        takes this worker asks this first (``taken``): its idle time starts again (it is not to end under the
        run)."""
        import ray

        self.preload(list(modules))
        idle_s = time.monotonic() - self._last_used
        if taken:
            self._last_used = time.monotonic()
        return {"node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(), "pid": os.getpid(),
                "fingerprint": self.fingerprint, "own_fingerprint": self.own_fingerprint,
                "emobench": str(Path(str(importlib.import_module("benchmark").__file__)).resolve().parent),
                "jobs": self.jobs, "idle_s": round(idle_s, 1)}

    def run_job(self, job_name: str, *args: Any) -> tuple[str, list]:
        """:func:`benchmark.executors.ray.run_job_on_worker`, under a process title naming the job."""
        from ray import _raylet

        from benchmark.executors.ray import run_job_on_worker

        title = _raylet.setproctitle  # type: ignore[attr-defined]
        self._busy = True
        title(f"ray::emobench:{job_name}")  # as a task's process is titled (ray::emobench:<job>)
        try:
            return run_job_on_worker(*args)
        finally:
            title("ray::emobench:warm-worker (idle)")
            self.jobs += 1
            self._last_used = time.monotonic()
            self._busy = False

    def _end_when_idle(self) -> None:
        import ray

        while True:
            time.sleep(max(0.5, min(30.0, self.idle_s / 4)))
            if not self._busy and time.monotonic() - self._last_used > self.idle_s:
                log.info("warm worker idle for %.0f s: ending", self.idle_s)
                ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
                return


def named_workers() -> list[str]:
    """The names of the warm workers alive on the connected cluster."""
    import ray

    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                  if a.get("namespace") == NAMESPACE and a["name"].startswith(PREFIX))


def kill_workers(names: list[str]) -> int:
    """End the named warm workers (those already gone are skipped); returns how many were ended."""
    import ray

    ended = 0
    for name in names:
        try:
            ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
            ended += 1
        except ValueError:  # ended meanwhile
            continue
    return ended


class WarmPool:
    """The warm workers one run uses: found by name on the cluster, created where missing, replaced when
    one dies; dispatches a job to a free worker of the job's shape (CPU-only or with GPUs)."""

    def __init__(self, fingerprint: str, modules: list[str], cpus: int, gpus: float, idle_s: float):
        self.fingerprint, self.modules, self.cpus, self.gpus, self.idle_s = fingerprint, modules, cpus, gpus, idle_s
        self.free: dict[bool, list[Any]] = {False: [], True: []}  # uses a GPU -> free actor handles
        self.node: dict[Any, str] = {}           # actor -> its node id, once it answered
        self.starting: dict[Any, tuple[Any, bool]] = {}  # info() ref -> (actor, uses a GPU)
        self.replaced = 0
        self.reused = 0                          # actors found alive from an earlier run

    def prefix(self, gpu: bool) -> str:
        return slot_prefix(self.fingerprint, self.cpus, self.gpus if gpu else 0)

    def acquire(self, slots: dict[bool, int]) -> None:
        """Find (or create) ``slots[gpu]`` workers of each shape; end every other warm worker (stale code, or
        another slot shape) so that its CPUs are free."""
        import ray

        names = named_workers()
        mine = {gpu: [n for n in names if n.startswith(self.prefix(gpu))] for gpu in (False, True)}
        stale = [n for n in names if n not in mine[False] + mine[True]]
        if stale:
            log.info("ending %d warm worker(s) of other code or another slot shape: %s", len(stale), ", ".join(stale))
            kill_workers(stale)
        for gpu, wanted in slots.items():
            for name in mine[gpu][:wanted]:
                try:
                    self._watch(ray.get_actor(name, namespace=NAMESPACE), gpu)
                    self.reused += 1
                except ValueError:
                    self._create(gpu)
            for _ in range(wanted - len(mine[gpu][:wanted])):
                self._create(gpu)

    def _create(self, gpu: bool) -> None:
        import ray

        actor_class = ray.remote(WarmWorker)
        actor = actor_class.options(
            name=self.prefix(gpu) + uuid.uuid4().hex[:8], namespace=NAMESPACE, lifetime="detached",
            num_cpus=self.cpus, num_gpus=self.gpus if gpu else 0, max_restarts=0, max_task_retries=0,
        ).remote(self.fingerprint, self.modules, self.idle_s)
        self._watch(actor, gpu)

    def _watch(self, actor: Any, gpu: bool) -> None:
        self.starting[actor.info.remote(self.modules)] = (actor, gpu)

    def started(self, ref: Any) -> None:
        """An actor's info() came back: check what it runs and make it free (or replace it, if it died)."""
        import ray
        from ray.exceptions import RayActorError

        from benchmark.errors import EmobenchError

        actor, gpu = self.starting.pop(ref)
        try:
            info = ray.get(ref)
        except RayActorError as exc:
            self.replace(actor, gpu, exc)
            return
        if info["own_fingerprint"] != self.fingerprint:
            ray.kill(actor, no_restart=True)
            raise EmobenchError(f"the Ray worker on {info['host']} runs other emobench code than this driver "
                                f"(it imports {info['emobench']}, fingerprint {info['own_fingerprint']}; this "
                                f"driver's is {self.fingerprint}): install the same checkout on every node "
                                "(docs/scale-out.md)")
        self.node[actor] = info["node"]
        self.free[gpu].append(actor)

    def replace(self, actor: Any, gpu: bool, cause: BaseException) -> None:
        """A worker died (killed, its node lost, or its start failed): start another in its place."""
        self.node.pop(actor, None)  # a TTS chain whose node it was may go elsewhere (its node may be gone)
        self.replaced += 1
        if self.replaced > 2 * (len(self.node) + len(self.starting)) + 4:
            raise RuntimeError(f"warm Ray workers keep dying as they start: {cause}") from cause
        self._create(gpu)

    def _index(self, gpu: bool, node: str | None) -> int | None:
        for i, actor in enumerate(self.free[gpu]):
            if node is None or self.node.get(actor) == node:
                return i
        return None

    def available(self, gpu: bool, node: str | None) -> bool:
        """Whether a worker of the shape is free (on ``node`` if given: a TTS chain's later systems)."""
        return self._index(gpu, node) is not None

    def take(self, gpu: bool, node: str | None) -> Any:
        """A free worker of the shape (on ``node`` if given); call :meth:`available` first."""
        index = self._index(gpu, node)
        assert index is not None, "no free warm worker of this shape"
        return self.free[gpu].pop(index)

    def has_node(self, node: str) -> bool:
        return node in self.node.values()

    def give_back(self, actor: Any, gpu: bool) -> None:
        self.free[gpu].append(actor)
