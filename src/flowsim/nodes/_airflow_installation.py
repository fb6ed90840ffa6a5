"""The Airflow installation every `airflow_dag` of an architecture runs in: pools, slots, datasets.

In Airflow, pools are installation-wide (Admin -> Pools), `[core] parallelism` (default 32)
caps the task instances running at once across the installation, and a task without a pool
takes a slot of `default_pool` (128 slots by default).  Per DAG, `max_active_tasks` (default 16,
`[core] max_active_tasks_per_dag`) caps its running task instances over all its runs.  So two
DAGs that name the same pool share its slots, and a wide fan-out waits for these limits.

The executor's worker slots (Celery `worker_concurrency` x workers, a Kubernetes pod quota)
cap running tries too.  The scheduler queues ready tries (and fills freed slots) only at its
loop ticks, every `scheduler_loop`; a try holds its slots from the moment it is queued, and
`task_startup` (a worker or pod start) passes before its work begins.

The architecture's optional `airflow:` block declares the installation; a pool a DAG declares
under its own `pools:` is an installation pool too (shared by name).  At run time the DAGs of a
replication share one `Installation` (kept in the context's `shared` state): one line of ready
task tries, ordered as the scheduler's `_executable_task_instances_to_queued` query orders them
(priority_weight descending, then the run's logical date, then readiness), each started when
its DAG's scheduler is up and every limit allows; and the datasets DAGs update and wait for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Protocol

import simpy
from pydantic import Field, field_validator

from flowsim.engine.context import SimContext
from flowsim.specmodel import SpecModel
from flowsim.units import Count, Duration

DEFAULT_POOL = "default_pool"
#: a fault's `node` that names the installation: its scheduler, so every DAG of it stops
INSTALLATION = "airflow"


class AirflowSettings(SpecModel):
    """The installation's shared limits (Airflow 2's defaults)."""

    pools: dict[str, Count] = Field(default={}, description="pool name -> slots, shared by every DAG")
    parallelism: Count = Field(32, ge=1, description="task tries running at once across the installation")
    default_pool_slots: Count = Field(128, ge=1, description="slots of default_pool (tasks that name no pool)")
    worker_slots: Count | None = Field(
        None, ge=1, description="executor slots (Celery worker_concurrency x workers, a pod quota); none = unbounded"
    )
    scheduler_loop: Duration = Field(
        0.0, ge=0, description="the scheduler queues ready tries at multiples of this (its loop time); 0 = at once"
    )
    task_startup: Duration = Field(
        0.0, ge=0, description="from queued to running: scheduler loop + worker or pod start (slots held meanwhile)"
    )

    @field_validator("pools")
    @classmethod
    def _slots(cls, pools: dict[str, int]) -> dict[str, int]:
        for pool, slots in pools.items():
            if slots < 1:
                raise ValueError(f"pool '{pool}' needs at least 1 slot")
        return pools

    def all_pools(self) -> dict[str, int]:
        return {DEFAULT_POOL: self.default_pool_slots} | self.pools


def merged_settings(settings: AirflowSettings, dag_pools: Iterable[dict[str, int]]) -> AirflowSettings:
    """The installation with every DAG's own pools added (the first size given for a name wins;
    `pool_conflicts` reports a name given two sizes)."""
    pools = dict(settings.pools)
    for declared in dag_pools:
        for name, slots in declared.items():
            pools.setdefault(name, slots)
    return settings.model_copy(update={"pools": pools})


def pool_conflicts(settings: AirflowSettings, dag_pools: dict[str, dict[str, int]]) -> list[tuple[str, str, str]]:
    """(dag, pool, message) for each pool a DAG sizes differently from the installation or an earlier DAG."""
    known = {name: ("the airflow block", slots) for name, slots in settings.all_pools().items()}
    problems = []
    for dag, pools in dag_pools.items():
        for name, slots in pools.items():
            where, size = known.setdefault(name, (f"DAG '{dag}'", slots))
            if size != slots:
                message = (
                    f"pool '{name}' has {slots} slots here but {size} in {where}; pools are installation-wide, "
                    "so give every DAG the same size (or declare it once under the architecture's airflow.pools)"
                )
                problems.append((dag, name, message))
    return problems


class TaskRunner(Protocol):
    """What the installation asks of a DAG about one of its ready tries."""

    name: str
    max_active_tasks: int
    running_tasks: int

    @property
    def down(self) -> bool: ...

    def still_wanted(self, entry: Ready) -> bool: ...

    def start_try(self, entry: Ready) -> None: ...


class Ready:
    """A task try waiting to start: its DAG, its run, the task, the pool and slots it needs, and
    its place in the queue: (-effective priority_weight, the run's logical date, readiness)."""

    __slots__ = ("attempt", "dag", "order", "pool", "run", "since", "slots", "task")

    def __init__(self, dag: TaskRunner, run: object, task: str, pool: str, slots: int, attempt: int = 0) -> None:
        self.dag, self.run, self.task, self.pool, self.slots = dag, run, task, pool, slots
        self.attempt = attempt  # the run's attempt it belongs to (a cleared run begins again)
        self.since = 0.0  # when it took its slots
        self.order: tuple[float, float, int] = (0.0, 0.0, 0)


class Installation:
    """One replication's scheduler limits, shared by its DAGs."""

    def __init__(self, settings: AirflowSettings, env: simpy.Environment) -> None:
        self.env = env
        self._loop_due = False
        self.parallelism = settings.parallelism
        self.workers = settings.worker_slots if settings.worker_slots is not None else settings.parallelism
        self.startup = float(settings.task_startup)
        self.loop = float(settings.scheduler_loop)
        self.slots = settings.all_pools()
        self.free = dict(self.slots)
        self.running = 0
        self.ready: list[Ready] = []
        self._seq = 0
        self._dispatching = False
        self._again = False
        self.subscribers: dict[str, list[Callable[[str, float, float], None]]] = {}
        self.updated_to: dict[str, float] = {}  # dataset -> the latest interval end its updates reached

    @classmethod
    def of(cls, ctx: SimContext, settings: AirflowSettings) -> Installation:
        """The replication's installation, made by the first DAG that asks."""
        found = ctx.shared.get("airflow")
        if not isinstance(found, Installation):
            found = ctx.shared["airflow"] = cls(settings, ctx.env)
        return found

    def submit(self, entry: Ready, weight: float, logical: float) -> None:
        """Queue a ready try: higher effective weight first, then the older run, then the earlier."""
        self._seq += 1
        entry.order = (-weight, logical, self._seq)
        self.ready.append(entry)
        self.wake()

    def wake(self) -> None:
        """Something may start: the scheduler's next loop queues it, after everything else due at
        this instant (so one loop sees all of it), at the next multiple of `scheduler_loop`."""
        if self._loop_due:
            return
        self._loop_due = True
        now, loop = self.env.now, self.loop
        wait = 0.0 if loop <= 0 else math.ceil(now / loop - 1e-9) * loop - now
        self.env.timeout(max(wait, 0.0)).callbacks.append(self._loop)

    def _loop(self, _event: object) -> None:
        self._loop_due = False
        self.dispatch()

    # ---- datasets (Airflow 2.4+): a DAG run that succeeds updates its outlets ----------------
    def subscribe(self, dataset: str, hear: Callable[[str, float, float], None]) -> None:
        self.subscribers.setdefault(dataset, []).append(hear)

    def dataset_updated(self, dataset: str, start: float, end: float) -> None:
        """A producing run of data interval [start, end) succeeded: every consumer hears of it."""
        self.updated_to[dataset] = max(end, self.updated_to.get(dataset, -math.inf))
        for hear in self.subscribers.get(dataset, []):
            hear(dataset, start, end)

    def release(self, entry: Ready) -> None:
        """A try ended (or was killed): its slots, its parallelism slot and its DAG's task slot free."""
        self.free[entry.pool] += entry.slots
        self.running -= 1
        entry.dag.running_tasks -= 1

    def dispatch(self) -> None:
        """Start ready tries oldest first, each when its DAG is up and every limit has room."""
        if self._dispatching:
            self._again = True  # the loop further up the stack passes again
            return
        self._dispatching = True
        try:
            self._again = True
            while self._again:
                self._again = False
                self._pass()
        finally:
            self._dispatching = False

    def _pass(self) -> None:
        waiting: list[Ready] = []
        limit = min(self.parallelism, self.workers)
        for entry in sorted(self.ready, key=_order):
            dag = entry.dag
            if not dag.still_wanted(entry):
                continue
            if (
                dag.down
                or self.running >= limit
                or dag.running_tasks >= dag.max_active_tasks
                or self.free[entry.pool] < entry.slots
            ):
                waiting.append(entry)
                continue
            self.free[entry.pool] -= entry.slots
            self.running += 1
            dag.running_tasks += 1
            dag.start_try(entry)
        self.ready = waiting


def _order(entry: Ready) -> tuple[float, float, int]:
    return entry.order
