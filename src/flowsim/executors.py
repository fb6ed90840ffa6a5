"""Where replications run: one `concurrent.futures.Executor` seam for in-thread, local and Dask runs.

Work travels as tasks of whole replications, `(scenario, replication indices)`, run by the
top-level function `run_chunks`.  A replication's random numbers depend only on the scenario's
seed and its index (`engine.model.replication_seed`), so the same numbers come back whether a
replication runs here, in a local process, or on a Dask worker, and however runs are batched.
Short replications are packed into larger tasks so that per-task overhead (pickling, scheduling,
a round trip to a Dask scheduler) stays small next to the simulation itself.

Which executor to use for a piece of work is decided here and only here (`choose_executor`,
`open_executor`): `simulate`, `sweep`, `compare` and the command line all ask this module.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar

from flowsim.build import run_replication
from flowsim.engine.model import ReplicationOutput
from flowsim.errors import FlowsimError
from flowsim.spec.scenario import Scenario

ExecutorKind = Literal["serial", "process", "dask"]
EngineName = Literal["per_message", "fluid"]
EXECUTOR_KINDS: tuple[ExecutorKind, ...] = ("serial", "process", "dask")
Progress = Callable[[float], None]
P = ParamSpec("P")
T = TypeVar("T")

#: a task holds about this many (estimated) simulation events: ~1 s of work, so overhead is noise
TASK_EVENTS = 200_000.0
#: fixed cost of one replication (building the model, collecting results) in event equivalents
REPLICATION_OVERHEAD_EVENTS = 2_000.0
#: tasks per worker when the work is small, so that workers finishing early find more to do
TASKS_PER_WORKER = 8
DASK_HINT = 'the dask executor needs Dask: pip install "dask[distributed]"'


class SerialExecutor(Executor):
    """Runs each task in the calling thread at submit time: no processes, easy to debug."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future, as any executor does
            future.set_exception(exc)
        return future


@dataclass(frozen=True)
class ExecutorChoice:
    """Where a piece of work will run: what `make_executor` needs to open it."""

    kind: ExecutorKind
    workers: int | None = None
    scheduler_address: str | None = None


def choose_executor(
    jobs: int,
    kind: ExecutorKind | None = None,
    workers: int | None = None,
    scheduler_address: str | None = None,
) -> ExecutorChoice:
    """The one rule for where `jobs` replications run.

    A scheduler address means Dask.  Otherwise the default is a local process pool of `workers`
    (default: all cores) but never larger than the work; one worker or one job runs in this
    thread, where there is nothing to gain from processes and tracebacks stay readable.
    """
    if kind is not None and kind not in EXECUTOR_KINDS:
        raise FlowsimError(f"unknown executor '{kind}'; choose serial, process or dask")
    if scheduler_address is not None:
        if kind not in (None, "dask"):
            raise FlowsimError(f"a scheduler address sends runs to Dask; it cannot go with the {kind} executor")
        return ExecutorChoice("dask", workers, scheduler_address)
    kind = kind or "process"
    if kind == "serial" or (kind == "process" and (jobs <= 1 or (workers is not None and workers <= 1))):
        return ExecutorChoice("serial")
    if kind == "process":
        return ExecutorChoice("process", min(workers or os.cpu_count() or 1, jobs))
    return ExecutorChoice(kind, workers)


@contextmanager
def open_executor(
    jobs: int,
    executor: Executor | None = None,
    *,
    kind: ExecutorKind | None = None,
    workers: int | None = None,
    scheduler_address: str | None = None,
) -> Iterator[Executor]:
    """The caller's `executor` as it is, or the one `choose_executor` picks, opened here and shut down on exit."""
    if executor is not None:
        yield executor
        return
    choice = choose_executor(jobs, kind, workers, scheduler_address)
    with make_executor(choice.kind, choice.workers, choice.scheduler_address) as made:
        yield made


@contextmanager
def make_executor(
    kind: ExecutorKind = "process", workers: int | None = None, scheduler_address: str | None = None
) -> Iterator[Executor]:
    """An executor of the given kind, shut down on exit.

    process: a local process pool (`workers`, default all cores).  dask: a client of the Dask
    cluster at `scheduler_address` (e.g. tcp://10.0.0.5:8786), or of a new local cluster of
    `workers` single-threaded processes when no address is given.
    """
    if kind == "serial":
        yield SerialExecutor()
    elif kind == "process":
        from concurrent.futures import ProcessPoolExecutor  # multiprocessing loads only when used

        with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            yield pool
    elif kind == "dask":
        with _dask_executor(workers, scheduler_address) as executor:
            yield executor
    else:
        raise FlowsimError(f"unknown executor '{kind}'; choose serial, process or dask")


@contextmanager
def _dask_executor(workers: int | None, address: str | None) -> Iterator[Executor]:
    """Dask is optional and heavy: imported only when asked for."""
    try:
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise FlowsimError(DASK_HINT) from None
    cluster: Any = None
    try:
        if address is None:
            n = workers or os.cpu_count() or 1
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, dashboard_address=":0")
        client: Any = distributed.Client(cluster if cluster is not None else address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise FlowsimError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    executor: Executor = client.get_executor()
    try:
        yield executor
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def parallelism(executor: Executor) -> int:
    """How many tasks the executor runs at once (used to size tasks); a guess for unknown kinds."""
    if isinstance(executor, SerialExecutor):
        return 1
    pool_size = getattr(executor, "_max_workers", None)  # a local process or thread pool
    if isinstance(pool_size, int):
        return pool_size
    client = getattr(executor, "_client", None)  # a Dask ClientExecutor
    if client is not None:
        try:
            return max(1, int(sum(client.nthreads().values())))
        except Exception:  # a sizing hint only: never fail a run over it
            pass
    return os.cpu_count() or 1


# ---- tasks ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chunk:
    """Replications of one scenario (one grid point) that travel together; the seed is in the scenario."""

    point: int
    scenario: Scenario
    replications: tuple[int, ...]
    engine: EngineName = "per_message"


def run_chunks(chunks: Sequence[Chunk]) -> list[tuple[int, ReplicationOutput]]:
    """The task every executor runs: each replication, tagged with its grid point, by its engine."""
    done = []
    for chunk in chunks:
        if chunk.engine == "fluid":
            from flowsim.fluid import run_fluid_replication  # loaded only where a fluid point runs

            done += [(chunk.point, run_fluid_replication(chunk.scenario, r)) for r in chunk.replications]
        else:
            done += [(chunk.point, run_replication(chunk.scenario, r)) for r in chunk.replications]
    return done


def plan_tasks(
    scenarios: Sequence[Scenario],
    events: Sequence[float],
    workers: int,
    engines: Sequence[EngineName] | None = None,
) -> list[list[Chunk]]:
    """Pack replications into tasks of about equal work (`events`: each point's cost), in grid order.

    In-thread (`workers == 1`) every replication is its own task, so progress moves smoothly.
    """
    engine_of: list[EngineName] = list(engines) if engines is not None else ["per_message"] * len(scenarios)
    costs = [e + REPLICATION_OVERHEAD_EVENTS for e in events]
    total = sum(c * s.replications for c, s in zip(costs, scenarios, strict=True))
    target = 0.0 if workers <= 1 else min(TASK_EVENTS, total / (workers * TASKS_PER_WORKER))
    tasks: list[list[Chunk]] = []
    current: list[Chunk] = []
    load = 0.0
    for point, (scenario, cost) in enumerate(zip(scenarios, costs, strict=True)):
        start = 0
        for r in range(scenario.replications):
            load += cost
            if load >= target:
                current.append(Chunk(point, scenario, tuple(range(start, r + 1)), engine_of[point]))
                tasks.append(current)
                current, load, start = [], 0.0, r + 1
        if start < scenario.replications:
            current.append(Chunk(point, scenario, tuple(range(start, scenario.replications)), engine_of[point]))
    if current:
        tasks.append(current)
    return tasks


def run_tasks(executor: Executor, tasks: list[list[Chunk]]) -> Iterator[list[tuple[int, ReplicationOutput]]]:
    """Task results as they finish, with at most two tasks per worker in flight (bounded memory)."""
    window = 2 * parallelism(executor)
    pending = iter(tasks)
    running: set[Future[list[tuple[int, ReplicationOutput]]]] = set()
    try:
        while True:
            for task in pending:
                running.add(executor.submit(run_chunks, task))
                if len(running) >= window:
                    break
            if not running:
                return
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
    finally:
        for future in running:
            future.cancel()
