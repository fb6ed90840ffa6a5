"""Parts of the `airflow_dag` kind: a task's settings, a run's state, and the data-interval payload."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import Field

from flowsim.distributions import Constant, Distribution
from flowsim.engine.item import Item
from flowsim.specmodel import SpecModel
from flowsim.units import Count, Duration, Number


class TaskSpec(SpecModel):
    """One task of the DAG (an Airflow operator instance)."""

    depends_on: list[str] = Field(default_factory=list, description="tasks that must succeed before this one")
    duration: Distribution = Field(
        default_factory=lambda: Constant(value=300.0), description="time of one try, before per-message work"
    )
    per_message: Duration = Field(0.0, ge=0, description="time added per message of the run's data interval")
    retries: Count = Field(0, ge=0, description="tries after the first before the task fails the run")
    retry_delay: Duration = Field(300.0, ge=0, description="wait before a retry (Airflow default 5m)")
    retry_exponential_backoff: bool = Field(False, description="double the wait on every further retry")
    max_retry_delay: Duration | None = Field(None, gt=0, description="longest wait between tries")
    execution_timeout: Duration | None = Field(None, gt=0, description="a try running longer is killed and fails")
    failure_rate: Number = Field(0.0, ge=0, le=1, description="probability that a try fails (at its end)")
    pool: str | None = Field(None, description="pool whose slots limit concurrent tries; none = unlimited")

    def retry_wait(self, try_number: int) -> float:
        """Wait after failed try `try_number` (1-based); Airflow's hash jitter is left out."""
        wait = self.retry_delay * (2 ** (try_number - 1) if self.retry_exponential_backoff else 1)
        return min(wait, self.max_retry_delay) if self.max_retry_delay is not None else wait


@dataclass(eq=False)
class Run:
    """One DAG run: its data interval, its messages and the state of its tasks."""

    rid: int
    start: float
    end: float
    item: Item
    state: str = "scheduled"
    started: float = 0.0
    n: int = 0
    deps_left: dict[str, int] = field(default_factory=dict)
    tries: dict[str, int] = field(default_factory=dict)
    busy: int = 0  # tasks ready, running or waiting for a retry
    succeeded: int = 0


def check_dag(tasks: dict[str, TaskSpec], pools: dict[str, int]) -> None:
    """Refuse a DAG the scheduler could not run: no tasks, unknown names, empty pools, cycles."""
    if not tasks:
        raise ValueError("an airflow_dag needs at least one task")
    for name, task in tasks.items():
        for dep in task.depends_on:
            if dep not in tasks:
                raise ValueError(f"task '{name}' depends on unknown task '{dep}'")
        if task.pool is not None and task.pool not in pools:
            raise ValueError(f"task '{name}' uses unknown pool '{task.pool}'; declare it under 'pools'")
    for pool, slots in pools.items():
        if slots < 1:
            raise ValueError(f"pool '{pool}' needs at least 1 slot")
    topological_order(tasks)


def topological_order(tasks: dict[str, TaskSpec]) -> list[str]:
    """Task names in an order that respects depends_on (raises on a cycle)."""
    done: list[str] = []
    left = dict(tasks)
    while left:
        ready = [n for n, t in left.items() if all(d in done for d in t.depends_on)]
        if not ready:
            raise ValueError("the tasks' depends_on form a cycle: " + ", ".join(sorted(left)))
        for name in ready:
            done.append(name)
            del left[name]
    return done
