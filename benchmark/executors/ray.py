"""The Ray executor: the suite's jobs as Ray tasks on a cluster (``--executor ray [--address ADDR]``).

The driver (``emobench run``) claims each job's cells, creating their RUNNING runs, and
submits the job as a task with ``cpus_per_task`` CPUs (and ``gpus_per_task`` GPUs when
a method's ``device`` asks for CUDA), in schedule order, no more at once than the
cluster has CPUs for: so a run's start time is when its cell started, and the
costliest jobs start first. The corpus manifests travel through Ray's object store;
the audio files they name must be at the same path on every node (a shared
filesystem), as must be ``$EMOBENCH_HOME`` if the feature cache is to be shared.

A worker logs its cells itself, through the tracking URI (a tracking server when the
cluster has more than one node, so that no node needs another's disk), together with
the log lines it wrote for them (``logs/worker.log``), and returns only small
summaries; the driver then ends the runs FINISHED. A task whose worker process or node
dies is retried ``retries`` times (its runs are marked FAILED and the job is claimed
again) and then FAILED; the rest of the suite goes on, and a re-run resumes.

Start-up is most of Ray's cost on one node (measured, perf/results/bench_suite_smoke_executors.json):
starting Ray and, above all, each fresh worker process importing torch, MLflow and emobench (a
pool's workers are forked from a driver that has them already). So the driver starts Ray early
(:meth:`RayExecutor.start`, in the background while it creates the store and prepares the cells),
and every worker process imports those modules as soon as Ray starts it, before it is given a task
(Ray's ``preload_python_modules``; on an existing cluster, ``RAY_preload_python_modules`` at
``ray start``, docs/scale-out.md). On a cluster that outlives the run, ``warm`` removes that cost
from every run but the first: the jobs go to long-lived actors that keep the modules imported
(:mod:`benchmark.executors.warm`).
"""
from __future__ import annotations

import io
import logging
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.executors.base import Job, JobQueue, Recorder

_THREADS: list[Any] = []  # (threads, threadpool limiter) of this worker process, set once

# What a job imports: each worker process imports these when Ray starts it, before its first task (a
# pool's workers inherit them from the driver), and the modules of the suite's methods. Measured on the
# smoke suite's first cells: without the last five a worker's first cell took seconds more (its
# confusion figure, its SQLite store, its metrics, the optimizer's first step, which imports torch._dynamo).
WORKER_MODULES = ("torch", "mlflow", "benchmark.tracking", "benchmark.runner", "benchmark.executors.ray",
                  "matplotlib.figure", "mlflow.store.tracking.sqlalchemy_store", "benchmark.predictions",
                  "benchmark.metrics", "benchmark.training", "torch._dynamo")
TTS_WORKER_MODULES = ("benchmark.tts.evaluate",)


def worker_modules(suite: Any) -> list[str]:
    """The modules a worker of ``suite`` imports before its first task: the jobs' own, its methods' modules
    (from the lazy method registry) and, for a suite with TTS cells, the TTS evaluation's."""
    from benchmark.methods import METHOD_MODULES

    methods = {suite.base_method(name) for name in suite.methods}
    own = sorted({METHOD_MODULES[m].split(":")[0] for m in methods if m in METHOD_MODULES})
    return [*WORKER_MODULES, *own, *(TTS_WORKER_MODULES if suite.tts is not None else ())]


def _setup_worker(threads: int) -> None:
    """One torch and one BLAS thread pool of ``threads`` per worker process (as the local pool does)."""
    if _THREADS and _THREADS[0][0] == threads:
        return
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    _THREADS[:] = [(threads, threadpool_limits(threads))]


def _check_corpus_visible(manifest: pd.DataFrame) -> None:
    from benchmark.errors import EmobenchError

    if len(manifest) and "path" in manifest and not Path(str(manifest["path"].iloc[0])).exists():
        raise EmobenchError(f"node {socket.gethostname()} cannot read the corpus: {manifest['path'].iloc[0]} "
                            "does not exist here; put the corpus on a path every node sees (docs/scale-out.md)")


def run_job_on_worker(cells: list, run_ids: list[str], manifest: pd.DataFrame, tracking_uri: str,
                      provenance: dict[str, str], bootstrap: int, register: bool, work_dir: str,
                      last_in_chain: bool, threads: int) -> tuple[str, list]:
    """Run one job on a Ray worker and log its cells to ``tracking_uri``; returns (node id, outcomes)."""
    import ray

    from benchmark import runner, tracking
    from benchmark.runner.execute import run_job

    _setup_worker(threads)
    node = ray.get_runtime_context().get_node_id()
    worker = f"{socket.gethostname()}:{os.getpid()}"  # the process (a warm worker runs many runs' jobs)
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    try:
        logging.getLogger(__name__).info("job %s on %s (pid %d)", cells[0].name, socket.gethostname(), os.getpid())
        _check_corpus_visible(manifest)
        with tempfile.TemporaryDirectory(prefix="emobench-models-") as models:
            outcomes = run_job(cells, manifest, bootstrap, models if register else None, work_dir)
            client = tracking.configure(tracking_uri)
            return node, [runner.log_on_worker(client, run_id, cell, outcome, provenance, manifest,
                                               captured.getvalue(), {"emobench.ray_node": node,
                                                                         "emobench.ray_worker": worker})
                          for cell, run_id, outcome in zip(cells, run_ids, outcomes)]
    except Exception as exc:  # noqa: BLE001  (every cell of the job failed with it)
        return node, [runner.CellError.of(exc)] * len(cells)
    finally:
        root.removeHandler(handler)
        if last_in_chain and cells[0].chained:  # the chain's shared work folder is no longer needed
            shutil.rmtree(Path(work_dir) / cells[0].training_key, ignore_errors=True)


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, retries: int = 1, cpus_per_task: int = 1,
                 gpus_per_task: float = 1.0, warm: bool = False, warm_idle_s: float | None = None):
        self.address = address
        self.retries = retries
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task
        self.warm = warm
        self.warm_idle_s = 900.0 if warm_idle_s is None else warm_idle_s  # warm.DEFAULT_IDLE_S
        self.fingerprint: str | None = None  # of the code, for warm workers (computed while Ray starts)
        self.pool: Any = None  # the last run's WarmPool (warm workers only)
        self._modules: list[str] = list(WORKER_MODULES)
        self._starting: threading.Thread | None = None
        self._ready = threading.Event()     # the start thread has connected (or failed)
        self._release = threading.Event()   # the start thread may end (after ray.shutdown)
        self._start_error: BaseException | None = None
        self._started_ray = False  # we connected this process to Ray: we disconnect it at close()
        self._own_cluster = False  # the Ray we connected to is a new one of ours, which ends with the run

    def start(self, suite: Any = None) -> None:
        """Connect to Ray in the background (the driver goes on preparing the run); idempotent.

        A Ray started here has its workers import what ``suite``'s jobs need (:func:`worker_modules`)."""
        if self._starting is not None:
            return
        modules = worker_modules(suite) if suite is not None else list(WORKER_MODULES)
        self._modules = modules

        def connect() -> None:
            try:
                self._started_ray = self._connect(modules)
                if self.warm and not self._own_cluster:
                    from benchmark.executors.warm import code_fingerprint

                    self.fingerprint = code_fingerprint()
            except BaseException as exc:  # noqa: BLE001  (raised in the driver's thread by run())
                self._start_error = exc
            finally:
                self._ready.set()
            # Ray's processes are killed when the thread that started them ends (Linux's parent-death
            # signal is per thread): this one stays until close() has stopped them.
            self._release.wait()

        self._starting = threading.Thread(target=connect, name="emobench-ray-start", daemon=True)
        self._starting.start()

    def _wait_started(self) -> None:
        self.start()
        self._ready.wait()
        if self._start_error is not None:
            raise self._start_error

    def close(self) -> None:
        """Disconnect from Ray if :meth:`start` connected, which stops a Ray that it started (a cluster that was
        already running is left alone)."""
        if self._starting is None:
            return
        self._ready.wait()
        try:
            if self._started_ray:
                import ray

                ray.shutdown()
                self._started_ray = False
        finally:
            self._release.set()
            self._starting.join()
            self._starting = None

    @staticmethod
    def _quiet_thread_note(record: logging.LogRecord) -> bool:
        # Ray's driver SIGTERM handler is set only from the main thread; emobench sets its own (runner).
        return "SIGTERM handler is not set" not in record.getMessage()

    def _connect(self, modules: list[str]) -> bool:
        """Join the cluster (``address``, else ``$RAY_ADDRESS``, else a new local one); True if we connected.

        A local Ray that we start has its worker processes import ``modules`` as soon as they start."""
        import ray

        if ray.is_initialized():
            return False
        logging.getLogger("ray._private.worker").addFilter(self._quiet_thread_note)
        if self.address or os.environ.get("RAY_ADDRESS"):
            ray.init(address=self.address, log_to_driver=True)
        else:
            ray.init(include_dashboard=False, log_to_driver=True,
                     _system_config={"preload_python_modules": list(modules)})
            self._own_cluster = True
        return True

    def _capacity(self) -> int:
        import ray

        return max(1, int(ray.cluster_resources().get("CPU", 1) // self.cpus_per_task))

    def _gpus(self, job: Job) -> float:
        device = str(getattr(job.cells[0], "hparams", {}).get("device", ""))
        return self.gpus_per_task if device.startswith("cuda") else 0

    def _warm_slots(self, queue: JobQueue) -> dict[bool, int]:
        """How many warm workers of each shape (False: CPUs only, True: with GPUs) the run's jobs use."""
        import ray

        capacity = self._capacity()
        gpu_jobs = sum(1 for job in queue.jobs() if self._gpus(job))
        gpu_slots = 0
        if gpu_jobs and self.gpus_per_task:
            gpu_slots = min(gpu_jobs, capacity, int(ray.cluster_resources().get("GPU", 0) // self.gpus_per_task))
            gpu_slots = max(gpu_slots, 1)  # no GPU in the cluster: its jobs wait for one, as tasks do
        cpu_jobs = len(queue) - gpu_jobs
        cpu_slots = min(cpu_jobs, max(capacity - gpu_slots, 1)) if cpu_jobs else 0
        return {False: cpu_slots, True: gpu_slots}

    def run(self, queue: JobQueue, recorder: Recorder, manifests: dict[str, pd.DataFrame], *,
            bootstrap: int, models_dir: str | None, work_dir: str | None, tracking_uri: str,
            provenance: dict[str, str], run_key: str, **_: Any) -> None:
        import ray
        from ray.exceptions import RayActorError, RayError, RayTaskError
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from benchmark.runner import CellError

        self._wait_started()
        pool = None
        if self.warm and self.fingerprint is not None:  # a cluster that outlives the run: warm workers
            from benchmark.executors.warm import WarmPool

            pool = self.pool = WarmPool(self.fingerprint, self._modules, self.cpus_per_task, self.gpus_per_task,
                                        self.warm_idle_s)
            pool.acquire(self._warm_slots(queue))
        elif self.warm:
            logging.getLogger(__name__).info("warm workers need a Ray cluster that outlives the run (--address): "
                                             "this run's own Ray runs tasks on fresh workers")
        pending: dict[Any, tuple[Job, Any]] = {}  # job's ref -> (job, its warm worker or None)
        try:
            refs = {name: ray.put(manifest) for name, manifest in manifests.items()}
            remote = ray.remote(run_job_on_worker)
            chain_nodes: dict[str, str] = {}  # a TTS chain's next systems go where its judge and base model are
            worker_work = str(Path(tempfile.gettempdir()) / f"emobench-work-{run_key}")

            def args(job: Job) -> tuple:
                return (job.cells, job.run_ids, refs[job.cells[0].corpus], tracking_uri, provenance, bootstrap,
                        models_dir is not None, worker_work, job.last_in_chain, self.cpus_per_task)

            def chain_node(job: Job) -> str | None:
                """The node a later system of a TTS chain must run on (where its judge and base model are)."""
                node = chain_nodes.get(job.chain) if job.chain is not None else None
                return node if pool is not None and node is not None and pool.has_node(node) else None

            def fits_a_free_worker(job: Job) -> bool:
                assert pool is not None
                return pool.available(bool(self._gpus(job)), chain_node(job))

            def submit_ready() -> None:
                capacity = self._capacity()
                while True:
                    if pool is None:
                        if len(pending) >= capacity or (job := queue.next_ready()) is None:
                            return
                    elif (job := queue.next_ready(fits_a_free_worker)) is None:
                        return
                    if not recorder.claim(job):
                        queue.done(job)
                        continue
                    if pool is not None:
                        actor = pool.take(bool(self._gpus(job)), chain_node(job))
                        pending[actor.run_job.remote(job.name, *args(job))] = (job, actor)
                        continue
                    options: dict[str, Any] = {"num_cpus": self.cpus_per_task, "num_gpus": self._gpus(job),
                                               "max_retries": 0, "name": f"emobench:{job.name}"}
                    if job.chain in chain_nodes:
                        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(chain_nodes[job.chain],
                                                                                        soft=True)
                    pending[remote.options(**options).remote(*args(job))] = (job, None)

            while len(queue) or pending:
                submit_ready()
                starting = list(pool.starting) if pool is not None else []
                if not pending and not starting:
                    break
                ready, _running = ray.wait(list(pending) + starting, num_returns=1)
                for ref in ready:
                    if pool is not None and ref in pool.starting:
                        pool.started(ref)
                        continue
                    job, actor = pending.pop(ref)
                    try:
                        node, outcomes = ray.get(ref)
                    except RayTaskError as exc:  # the task itself raised (not a cell: those come back as values)
                        recorder.finish(job, CellError.of(exc))
                    except RayError as exc:  # the worker process or its node died under the job
                        if pool is not None and actor is not None and isinstance(exc, RayActorError):
                            pool.replace(actor, bool(self._gpus(job)), exc)
                            actor = None
                        retry = job.attempt < self.retries
                        recorder.finish(job, CellError(f"{type(exc).__name__}: the Ray worker died "
                                                       f"({str(exc).splitlines()[0][:300]})"
                                                       + ("; retrying" if retry else "")), retrying=retry)
                        if retry:
                            queue.retry(job)
                            continue
                    else:
                        if job.chain is not None:
                            chain_nodes[job.chain] = node
                        recorder.finish(job, outcomes)
                    finally:
                        if pool is not None and actor is not None:
                            pool.give_back(actor, bool(self._gpus(job)))
                    queue.done(job)
        except BaseException:
            for ref, (_job, actor) in pending.items():
                ray.cancel(ref, force=actor is None)  # an actor's job is interrupted, the actor stays
            raise
