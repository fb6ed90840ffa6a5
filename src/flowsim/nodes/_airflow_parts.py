"""Parts of the `airflow_dag` kind: a task's settings (retry waits as Airflow draws them, priority
weights as Airflow sums them, branching, sensors) and a run's state."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from flowsim.distributions import Constant, Distribution
from flowsim.engine.item import Item
from flowsim.nodes._airflow_installation import AirflowSettings
from flowsim.nodes._airflow_sensors import SensorSpec
from flowsim.specmodel import SpecModel
from flowsim.units import Count, Duration, Number

#: Airflow's `[core] max_task_retry_delay` default (24 h): no backoff wait is longer
MAX_TASK_RETRY_DELAY = 86400.0

TriggerRule = Literal[
    "all_success", "all_done", "one_failed", "one_success", "none_failed", "none_failed_min_one_success"
]
FAILED_STATES = frozenset({"failed", "upstream_failed"})  # Airflow's State.failed_states
PAST_OK = frozenset({"success", "skipped"})  # what depends_on_past accepts of the previous run's task


class TaskSpec(SpecModel):
    """One task of the DAG (an Airflow operator instance)."""

    depends_on: list[str] = Field(default=[], description="upstream tasks (see trigger_rule)")
    trigger_rule: TriggerRule = Field("all_success", description="when the upstream states let it run (Airflow's)")
    duration: Distribution = Field(
        default_factory=lambda: Constant(value=300.0), description="time of one try, before per-message work"
    )
    per_message: Duration = Field(0.0, ge=0, description="time added per message of the run's data interval")
    retries: Count = Field(0, ge=0, description="tries after the first before the task fails the run")
    retry_delay: Duration = Field(300.0, ge=0, description="wait before a retry (Airflow default 5m)")
    retry_exponential_backoff: bool = Field(
        False, description="wait after try k drawn in [d 2^(k-1), d 2^k), as Airflow's hash jitter"
    )
    max_retry_delay: Duration | None = Field(None, gt=0, description="longest backoff wait between tries")
    execution_timeout: Duration | None = Field(None, gt=0, description="a try running longer is killed and fails")
    failure_rate: Number = Field(0.0, ge=0, le=1, description="probability that a try fails (at its end)")
    pool: str | None = Field(None, description="pool whose slots limit concurrent tries; none = default_pool")
    pool_slots: Count = Field(1, ge=1, description="slots of its pool one try holds (Airflow default 1)")
    priority_weight: Count = Field(1, description="queue priority among ready tries (Airflow default 1)")
    weight_rule: Literal["downstream", "upstream", "absolute"] = Field(
        "downstream", description="effective weight: own plus all downstream (default), all upstream, or own only"
    )
    branch: dict[str, Number] | None = Field(
        None, description="a branch task: downstream task -> probability it is followed; the others are skipped"
    )
    depends_on_past: bool = Field(False, description="wait until this task succeeded (or skipped) in the previous run")
    wait_for_downstream: bool = Field(
        False, description="depends_on_past, and the previous run's direct downstream tasks of it done too"
    )
    sensor: SensorSpec | None = Field(None, description="a sensor: pokes until its data lands (poke or reschedule)")

    def _backoff_cap(self) -> float:
        cap = float(self.max_retry_delay) if self.max_retry_delay is not None else math.inf
        return min(cap, MAX_TASK_RETRY_DELAY)

    def retry_wait(self, try_number: int, draw: float = 0.0) -> float:
        """Wait after failed try `try_number` (1-based), as Airflow 2's TaskInstance.next_retry_datetime.

        Fixed: `retry_delay` (Airflow applies `max_retry_delay` only with backoff).  Exponential:
        m = ceil(retry_delay x 2^(k-1)) whole seconds (at least 1), the wait is m + (hash mod m),
        an integer in [m, 2m), then capped at 24 h and at `max_retry_delay`.  The hash of (DAG,
        task, date, try) is uniform over the residues, so `draw` (uniform in [0, 1), from the run's
        random stream) stands for it: m + floor(draw x m).
        """
        delay = float(self.retry_delay)
        if not self.retry_exponential_backoff:
            return delay
        m = max(1, math.ceil(delay * 2.0 ** (try_number - 1)))
        return min(float(m + math.floor(draw * m)), self._backoff_cap())

    def mean_retry_wait(self, try_number: int) -> float:
        """The mean of `retry_wait` over the draw: the integers m..2m-1, each capped."""
        delay = float(self.retry_delay)
        if not self.retry_exponential_backoff:
            return delay
        m, cap = max(1, math.ceil(delay * 2.0 ** (try_number - 1))), self._backoff_cap()
        below = min(max(math.ceil(cap) - m, 0), m)  # draws m..m+below-1 lie under the cap
        return (below * m + below * (below - 1) / 2 + (m - below) * cap) / m


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
    tries: dict[str, int] = field(default_factory=dict)
    #: task -> none, ready, running, up_for_retry, success, failed, upstream_failed (Airflow's states)
    states: dict[str, str] = field(default_factory=dict)
    finished: int = 0  # tasks in a final state: success, failed or upstream_failed
    running: list[Any] = field(default_factory=list)  # the tries running now (installation entries)
    cut: float = 0.0  # messages that landed before this time are the run's data
    logical: float | None = None  # logical date: the interval start, or when datasets queued it
    previous: Run | None = None  # the run begun before it (depends_on_past looks at it)
    attempt: int = 0  # how many times it began (a cleared run begins again)
    sensing: dict[str, tuple[float, float]] = field(default_factory=dict)  # sensor -> (data lands, first poke)


def check_dag(tasks: dict[str, TaskSpec], pools: dict[str, int]) -> None:
    """Refuse a DAG the scheduler could not run: no tasks, unknown tasks, empty pools, cycles.

    A task's pool may be the DAG's own or the installation's: the architecture checks the names."""
    if not tasks:
        raise ValueError("an airflow_dag needs at least one task")
    for name, task in tasks.items():
        for dep in task.depends_on:
            if dep not in tasks:
                raise ValueError(f"task '{name}' depends on unknown task '{dep}'")
        if task.branch is not None:
            _check_branch(name, task.branch, [c for c, t in tasks.items() if name in t.depends_on])
        if task.sensor is not None:
            chosen = sorted(SENSOR_REFUSES & task.model_fields_set)
            if chosen:
                raise ValueError(
                    f"sensor task '{name}' sets {', '.join(chosen)}: a sensor's pokes take no time and its "
                    "timeout fails it without retries (as AirflowSensorTimeout); remove them"
                )
    for pool, slots in pools.items():
        if slots < 1:
            raise ValueError(f"pool '{pool}' needs at least 1 slot")
    topological_order(tasks)


#: task settings a sensor does not take: it waits for data, it does no work of its own
SENSOR_REFUSES = frozenset(
    {"duration", "per_message", "failure_rate", "retries", "execution_timeout", "retry_exponential_backoff"}
)


def _check_branch(name: str, branch: dict[str, float], children: list[str]) -> None:
    for target in branch:
        if target not in children:
            raise ValueError(
                f"branch task '{name}' names '{target}', which is not downstream of it; "
                f"its downstream tasks: {', '.join(sorted(children)) or 'none'}"
            )
    if any(p < 0 for p in branch.values()) or abs(sum(branch.values()) - 1.0) > 1e-9:
        raise ValueError(f"branch task '{name}': the probabilities must be >= 0 and sum to 1")


def effective_weights(tasks: dict[str, TaskSpec]) -> dict[str, int]:
    """Airflow's priority_weight_total: own weight plus the weights of every task downstream
    (weight_rule downstream), upstream (upstream), or none (absolute); each relative counted once."""
    children = {n: [c for c, t in tasks.items() if n in t.depends_on] for n in tasks}
    parents = {n: list(t.depends_on) for n, t in tasks.items()}

    def reach(start: str, edges: dict[str, list[str]]) -> set[str]:
        seen: set[str] = set()
        stack = list(edges[start])
        while stack:
            name = stack.pop()
            if name not in seen:
                seen.add(name)
                stack += edges[name]
        return seen

    weights = {}
    for name, task in tasks.items():
        if task.weight_rule == "absolute":
            relatives: set[str] = set()
        else:
            relatives = reach(name, children if task.weight_rule == "downstream" else parents)
        weights[name] = task.priority_weight + sum(tasks[r].priority_weight for r in relatives)
    return weights


def trigger_verdict(rule: TriggerRule, upstream: list[str]) -> str | None:
    """What a task whose upstream tasks are in the states `upstream` becomes: "run", "skipped",
    "upstream_failed", or None (wait), as Airflow 2's TriggerRuleDep decides (flag_upstream_failed)."""
    total = len(upstream)
    success = upstream.count("success")
    skipped = upstream.count("skipped")
    failed = sum(state in FAILED_STATES for state in upstream)
    done = success + skipped + failed
    all_done = done >= total
    if rule == "all_success":
        return "upstream_failed" if failed else "skipped" if skipped else "run" if success == total else None
    if rule == "all_done":
        return "run" if all_done else None
    if rule == "one_failed":
        return "run" if failed else "skipped" if all_done else None
    if rule == "one_success":
        if success:
            return "run"
        return None if not all_done else "skipped" if skipped == total else "upstream_failed"
    if failed:  # none_failed, none_failed_min_one_success
        return "upstream_failed"
    if rule == "none_failed_min_one_success" and total and skipped == total:
        return "skipped"
    return "run" if all_done else None


def run_outcome(states: dict[str, str], leaves: list[str]) -> str:
    """A run whose tasks are all final fails when a leaf failed or is upstream_failed (DagRun.update_state)."""
    return "failed" if any(states[leaf] in FAILED_STATES for leaf in leaves) else "success"


def topological_order(tasks: dict[str, TaskSpec]) -> list[str]:
    """Task names in an order that respects depends_on (raises on a cycle or an unknown upstream).

    Kahn's algorithm level by level, each level in the order the tasks are written: linear in
    tasks and dependencies (a 5,000-task chain orders in milliseconds, not minutes).
    """
    position = {name: index for index, name in enumerate(tasks)}
    pending = {name: len(set(task.depends_on)) for name, task in tasks.items()}
    dependents: dict[str, list[str]] = {name: [] for name in tasks}
    for name, task in tasks.items():
        for upstream in dict.fromkeys(task.depends_on):
            if upstream in dependents:
                dependents[upstream].append(name)
    done: list[str] = []
    level = [name for name in tasks if pending[name] == 0]
    while level:
        done += level
        ready = set()
        for name in level:
            for dependent in dependents[name]:
                pending[dependent] -= 1
                if pending[dependent] == 0:
                    ready.add(dependent)
        level = sorted(ready, key=position.__getitem__)
    if len(done) < len(tasks):
        left = set(tasks) - set(done)
        raise ValueError("the tasks' depends_on form a cycle: " + ", ".join(sorted(left)))
    return done


# ---- the flow law's parts ---------------------------------------------------------------------
def task_costs(tasks: dict[str, TaskSpec], settings: AirflowSettings) -> dict[str, tuple[float, float, float]]:
    """Per task: expected fixed seconds on its path (tries and retry waits), per-message seconds
    (all tries), fixed seconds holding a pool slot (tries only).  A try waits half a
    scheduler loop on average to be queued, then holds its slot through its start-up."""
    costs = {}
    for name, task in tasks.items():
        f = task.failure_rate
        tries = sum(f**k for k in range(task.retries + 1))
        waits = sum(f**k * task.mean_retry_wait(k) for k in range(1, task.retries + 1))
        work = task.sensor.data_late_by.mean() if task.sensor is not None else task.duration.mean()
        held = tries * (work + float(settings.task_startup))
        costs[name] = (held + waits + tries * float(settings.scheduler_loop) / 2, tries * task.per_message, held)
    return costs


def task_paths(tasks: dict[str, TaskSpec]) -> list[list[str]]:
    """Every path from a task with no dependencies to a task nothing depends on."""
    children = {n: [c for c, t in tasks.items() if n in t.depends_on] for n in tasks}

    def walk(name: str) -> list[list[str]]:
        return [[name, *rest] for child in children[name] for rest in walk(child)] or [[name]]

    return [p for root, task in tasks.items() if not task.depends_on for p in walk(root)]
