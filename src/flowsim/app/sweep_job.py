"""A what-if sweep in a worker thread: on local processes when that helps, ended at once by Stop.

A grid of several points on a machine of several cores runs on the sweep API's local process
executor (`flowsim.executors.make_executor("process")`), one worker per core: the points are
independent, so two cores finish a grid in about half the time.  Progress moves as tasks finish
(`run_sweep` packs at least eight per worker).  A process cannot be interrupted between chunks
of events the way the in-thread engine is, so Stop shuts the pool down, cancelling what has not
started, and kills its workers: the sweep ends within a second whatever a task is doing.
No Streamlit here, so the job is tested on its own.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from flowsim.api import stoppable
from flowsim.app.jobs import Job
from flowsim.executors import ExecutorKind, make_executor
from flowsim.sweep import SweepPlan, SweepResult, run_sweep


def sweep_workers(plan: SweepPlan, cores: int | None = None) -> int:
    """Worker processes for `plan`: one per core, at most one per replication; 1 (this thread)
    for a single point or a single core, where processes would only add their start-up."""
    cores = (os.cpu_count() or 1) if cores is None else cores
    if len(plan.points) <= 1 or cores <= 1:
        return 1
    return max(1, min(cores, plan.jobs))


def terminate(pool: Executor) -> None:
    """Stop a local process pool now: nothing new starts, and its workers are killed.

    SIGKILL, not SIGTERM: a worker forked from the Streamlit server inherits the server's SIGTERM
    handler, so SIGTERM does not end it, and the pool's own clean-up (which terminates and then
    joins its workers) would wait on it for ever.  A worker still starting when Stop comes is
    killed by a short-lived thread that keeps at it until every worker has ended.
    """
    ender = getattr(pool, "kill_workers", None)  # Python >= 3.14
    if callable(ender):
        ender()
        return
    processes: dict[int, Any] | None = getattr(pool, "_processes", None)  # the dict the pool's manager also holds
    if processes is None:
        pool.shutdown(wait=False, cancel_futures=True)
        return
    # the workers as they are now: once the pool shuts down its manager may empty that dict before a
    # worker has ended, and a worker left out of the kill goes on with minutes of work
    workers = dict(processes)
    _kill_alive(workers)
    pool.shutdown(wait=False, cancel_futures=True)

    def every() -> dict[int, Any]:  # and any the pool was still starting
        return {**workers, **processes}

    if _kill_alive(every()):
        threading.Thread(target=_keep_killing, args=(every,), name="flowsim-stop", daemon=True).start()


def _kill_alive(processes: dict[int, Any]) -> bool:
    """SIGKILL every worker that has not ended; whether any had not (or had not yet started)."""
    pending = False
    for process in list(processes.values()):
        if process.pid is None:  # still being started
            pending = True
        elif process.exitcode is None:
            process.kill()
            pending = True
    return pending


def _keep_killing(processes: Callable[[], dict[int, Any]], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while _kill_alive(processes()) and time.monotonic() < deadline:
        time.sleep(0.02)


@dataclass
class SweepJob(Job):
    """A `Job` whose stop also terminates the sweep's worker processes."""

    pool: Executor | None = None
    workers: int = 1

    def stop(self) -> None:
        super().stop()
        if self.pool is not None and self.workers > 1:
            terminate(self.pool)

    @property
    def stopped(self) -> bool:
        """Stopped by the page: whatever the worker raised then (a cancelled run, a broken pool) is the stop."""
        return self.stop_flag.is_set()

    @classmethod
    def of(cls, plan: SweepPlan, max_events: int, workers: int | None = None) -> SweepJob:
        """The sweep of `plan`, not started; `workers` defaults to `sweep_workers(plan)`."""
        count = sweep_workers(plan) if workers is None else workers
        job = cls(run=_unset, workers=count)

        def work(progress: Callable[[float], None], stop: Callable[[], bool]) -> Any:
            kind: ExecutorKind = "process" if count > 1 else "serial"
            with make_executor(kind, count) as pool:
                job.pool = pool
                if stop():
                    raise RuntimeError("stopped before the sweep started")
                return run_sweep(plan, executor=pool, progress=stoppable(progress, stop), max_events=max_events)

        job.run = work
        return job

    @property
    def sweep(self) -> SweepResult | None:
        """The finished sweep (None while running, or when it failed or was stopped)."""
        result: Any = self.result
        return result if isinstance(result, SweepResult) else None


def _unset(progress: Callable[[float], None], stop: Callable[[], bool]) -> Any:
    raise RuntimeError("SweepJob.of sets the work")
