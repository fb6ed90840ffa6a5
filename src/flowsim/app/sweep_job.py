"""A what-if sweep in a worker thread: on local processes when that helps, ended at once by Stop.

A grid of several points on a machine of several cores runs on the sweep API's local process
executor (`flowsim.executors.make_executor("process")`), one worker per core: the points are
independent, so two cores finish a grid in about half the time.  Progress moves as tasks finish
(`run_sweep` packs at least eight per worker).  A process cannot be interrupted between chunks
of events the way the in-thread engine is, so Stop shuts the pool down, cancelling what has not
started, and terminates its workers: the sweep ends within a second whatever a task is doing.
No Streamlit here, so the job is tested on its own.
"""

from __future__ import annotations

import os
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
    """Stop a local process pool now: nothing new starts, and running workers are terminated."""
    ender = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if callable(ender):
        ender()
        return
    processes = dict(getattr(pool, "_processes", None) or {})  # ProcessPoolExecutor's workers; shutdown clears it
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes.values():
        if process.is_alive():
            process.terminate()


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
