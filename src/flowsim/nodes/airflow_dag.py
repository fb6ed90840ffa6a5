"""`airflow_dag`: a scheduled batch DAG over a landing zone (the batch layer of a lambda design).

Items arriving on data edges land in the DAG's landing zone.  Every schedule tick T closes the
data interval [previous tick, T) and schedules a run for it; a run starts when fewer than
`max_active_runs` runs are active and the scheduler is up, takes the messages that arrived in
its interval, runs its tasks in `depends_on` order by their trigger rules (`_airflow_tasks`:
pools, retries, timeouts), and when the run succeeds forwards ONE item carrying n = the
interval's messages.  That item's `born` is the data-interval start (per-message birth times are
not kept), so end-to-end latency downstream is the age of the run's oldest data when it lands.
Tries start through the architecture's Airflow installation (`_airflow_installation`): pools,
`parallelism` and worker slots are shared by every DAG, `max_active_tasks` is per DAG.  A DAG
with `schedule_on` is scheduled by datasets instead (Airflow 2.4+): a run is created once every
dataset it names has been updated (a run of a DAG listing it in `outlets` succeeded) since its
last run, for the data interval spanning those producing runs' intervals, and its data is what
landed until then.  `dagrun_timeout` fails a run still going at that age (its tries killed);
`clear_failed_after` clears a failed run that long after it failed (manual recovery): it runs
again, its data landing late instead of being dead-lettered.

Counting: messages.  arrivals + inside_at_start == completed + dropped + dead_lettered +
inside_at_end, where completed = messages forwarded by successful runs (one item per run),
dropped = messages of intervals skipped with `catchup: false`, dead_lettered = messages of
failed runs, inside = messages in the landing zone, in active runs or in runs waiting to be
cleared.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, PrivateAttr, model_validator

from flowsim.engine.context import SimContext
from flowsim.engine.flow import Delay, FlowLaw, bulk
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.engine.payloads import DataInterval
from flowsim.engine.sampling import block_sampler
from flowsim.nodes._airflow_installation import AirflowSettings, Installation
from flowsim.nodes._airflow_parts import (
    Run,
    TaskSpec,
    check_dag,
    effective_weights,
    task_costs,
    task_paths,
    topological_order,
)
from flowsim.nodes._airflow_records import DAG_FIGURES, Staleness
from flowsim.nodes._airflow_runs import DagRuns
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import register
from flowsim.schedule import ScheduleText, parse_schedule
from flowsim.units import Count, Duration, format_duration


def _default_tasks() -> dict[str, TaskSpec]:
    return {"extract": TaskSpec(), "load": TaskSpec(depends_on=["extract"])}


@register
class AirflowDagConfig(NodeConfig):
    """A scheduled DAG of tasks that processes each data interval of a landing zone in one run.

    Models: cron/`@hourly` schedules and data intervals; task order by `depends_on`; per-try
    duration growing with the interval's messages; retries with a fixed delay or Airflow's jittered
    exponential backoff (capped); `execution_timeout`; random try failures; trigger rules
    (all_success, all_done, one_failed, one_success, none_failed, none_failed_min_one_success): a
    failed task fails only the tasks its rules reach, the others run on, and the run fails when
    a leaf failed (or `fail_fast` stops it at the first failure);
    installation-wide pools, `parallelism`, worker slots and task start-up latency,
    `max_active_tasks` and `max_active_runs` per DAG; `priority_weight` with its weight rules;
    branching by probabilities; sensors (poke or reschedule, timeout, soft_fail) waiting on late
    data; `depends_on_past`, `wait_for_downstream`, `dagrun_timeout`, clearing failed runs;
    data-aware scheduling by datasets; `catchup` (missed or queued intervals run one after
    another, or all but the newest are skipped and their data dropped); SLA misses (late, failed
    or skipped runs); freshness of landed data; scheduler outages (a fault on the DAG, or on
    `airflow` for the whole installation: no run or task starts while down).

    Leaves out: deferrable tasks and triggerers, the time a poke takes, backfills triggered by
    hand, and partial reprocessing (a failed run's data is dead-lettered or re-run whole).
    """

    summary = "scheduled batch DAG: data intervals, task deps, retries, pools, catchup, SLA, freshness"
    kind_figures = DAG_FIGURES
    can_fail = True
    reference_kinds: ClassVar[dict[str, tuple[str, ...]]] = {"dead_letter": ("sink",)}

    kind: Literal["airflow_dag"]
    schedule: ScheduleText = Field("@hourly", description="when data intervals close: cron, @hourly, every 15m")
    tasks: dict[str, TaskSpec] = Field(default_factory=_default_tasks, description="task name -> task")
    pools: dict[str, Count] = Field(
        default={}, description="pool name -> slots; installation-wide, shared by name with other DAGs"
    )
    max_active_runs: Count = Field(16, ge=1, description="runs active at once (Airflow default 16)")
    max_active_tasks: Count = Field(16, ge=1, description="task tries of this DAG running at once (Airflow default 16)")
    fail_fast: bool = Field(False, description="a task out of retries kills the run's other tries and fails it")
    catchup: bool = Field(
        True,
        description="run every missed interval, oldest first, up to max_active_runs at once (true), or only "
        "the newest (false); true is Airflow 2's default, Airflow 3 defaults to false",
    )
    sla: Duration | None = Field(
        None, gt=0, description="a run must finish this long after its interval ends (Airflow 2's SLA misses)"
    )
    dagrun_timeout: Duration | None = Field(None, gt=0, description="a run still going this long after it began fails")
    clear_failed_after: Duration | None = Field(
        None, ge=0, description="clear a failed run this long after it failed, so it runs again (manual recovery)"
    )
    max_clears: Count = Field(1, ge=1, description="times one run is cleared before its data is dead-lettered")
    outlets: list[str] = Field(default=[], description="datasets a successful run updates (Airflow 2.4+)")
    schedule_on: list[str] = Field(
        default=[], description="datasets that schedule it: a run once each was updated (replaces schedule)"
    )
    dead_letter: str | None = Field(None, description="node that receives the data of failed runs")

    _installation: AirflowSettings | None = PrivateAttr(default=None)
    _dataset_period: float | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _valid_dag(self) -> AirflowDagConfig:
        check_dag(self.tasks, self.pools)
        ruled = sorted(name for name, task in self.tasks.items() if task.trigger_rule != "all_success")
        if self.fail_fast and ruled:
            raise ValueError(
                f"fail_fast works only with all_success tasks (as Airflow's fail_stop); "
                f"{', '.join(ruled)} set another trigger_rule"
            )
        if self.schedule_on and "schedule" in self.model_fields_set:
            raise ValueError("give either 'schedule' or 'schedule_on' (datasets), not both")
        if self.schedule_on and self.sla is not None:  # "tasks in event-driven DAGs will not be checked"
            raise ValueError("Airflow checks no SLA on a dataset-triggered DAG (schedule_on): remove 'sla'")
        return self

    def join(self, settings: AirflowSettings, dataset_periods: dict[str, float] | None = None) -> None:
        """The architecture hands every DAG its installation (its `airflow:` block, all DAGs' pools)
        and, for a dataset-scheduled one, the producers' mean periods (it runs as often as the slowest)."""
        self._installation = settings
        periods = dataset_periods or {}
        if self.schedule_on and all(d in periods for d in self.schedule_on):
            self._dataset_period = max(periods[d] for d in self.schedule_on)

    def mean_period(self) -> float:
        """Mean time between runs: the schedule's, or a dataset-scheduled DAG's slowest producer's."""
        if self.schedule_on:
            return self._dataset_period if self._dataset_period is not None else math.inf
        return parse_schedule(self.schedule).mean_period()

    def horizon_warnings(self, name: str, horizon: float) -> list[str]:
        schedule = None if self.schedule_on else parse_schedule(self.schedule)
        first_run = schedule.next_after(schedule.first_from(0.0)) if schedule and not schedule.once else 0.0
        doomed = [
            f"'{name}': task '{task_name}' never succeeds: its shortest try "
            f"({format_duration(task.duration.lowest())}) is at least its execution_timeout "
            f"({format_duration(task.execution_timeout)}), so every try is killed and every run fails; "
            "lengthen the timeout"
            for task_name, task in self.tasks.items()
            if task.execution_timeout is not None and task.duration.lowest() >= task.execution_timeout
        ]  # fmt: skip
        return doomed if first_run < horizon else [*doomed,
            f"'{name}' runs no DAG run: its first data interval closes at {format_duration(first_run)}, after the run "
            f"ends ({format_duration(horizon)}); lengthen 'duration' or schedule it more often"]  # fmt: skip

    def installation(self) -> AirflowSettings:
        """The installation this DAG runs in (alone: Airflow's defaults with its own pools)."""
        return self._installation if self._installation is not None else AirflowSettings(pools=self.pools)

    def order(self) -> list[str]:
        return topological_order(self.tasks)

    def runtime_class(self) -> type[NodeRuntime]:
        return AirflowDagNode

    def external_rate(self) -> float:
        """One item per run, on the DAG's own schedule, whatever the input rate."""
        return 1.0 / self.mean_period()

    def pass_fraction(self) -> float:
        return 0.0  # arriving items are merged; the runs' items are counted by external_rate

    def events_per_item(self) -> float:
        return 0.0  # landing is a synchronous append; runs cost a few events per interval

    def node_references(self) -> dict[str, str]:
        return {"dead_letter": self.dead_letter} if self.dead_letter else {}

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """The scheduled bulk law: not a per-message server, but runs that must keep pace with ticks.

        A run of an interval P with m x P messages lasts A + B m P along its critical path (A:
        expected fixed time of the path's tries and retry waits, B: their per-message time), and
        `max_active_runs` R runs may overlap, so the DAG keeps up while A/P + B m <= R:
        m <= (R - A/P) / B.  The path giving the least m binds.  Pools give the same law over the
        tries that hold their slots.  Left out: execution timeouts and the scheduler's own delays.
        """
        period, cost = self.mean_period(), self.task_costs()
        passes = math.prod(1 - t.failure_rate ** (t.retries + 1) for t in self.tasks.values())
        if math.isinf(period):
            return FlowLaw(passes=passes, note="a single run (@once) or no producer: no steady flow")
        active, catchup = self.max_active_runs, self.catchup
        candidates = [
            bulk(
                "runs", active, sum(cost[t][0] for t in path) / period, sum(cost[t][1] for t in path),
                unit_name="active runs", slows=False, on_full="queue" if catchup else "drop",
                note=f"critical path {' -> '.join(path)}; "
                + ("pending runs pile up and land ever later" if catchup else "pending intervals are skipped"),
            )
            for path in self.task_paths()
        ]  # fmt: skip
        runs = min(candidates, key=lambda stage: stage.capacity())
        stages = [runs]
        for pool, slots in self.pools.items():
            tries = [name for name, task in self.tasks.items() if task.pool == pool]
            held, per = sum(cost[t][2] for t in tries) / period, sum(cost[t][1] for t in tries)
            note = "tries wait for a slot and runs last longer"
            stages.append(bulk(f"pool '{pool}'", slots, held, per, unit_name="slots", slows=False, note=note))
        per_message = 1 / runs.rate if runs.rate > 0 else 0.0
        delay = Delay(hold_s=period / 2 + runs.reserved * period, hold_per_rate_s=per_message * period)
        return FlowLaw(tuple(stages), delay, passes=passes)

    def task_costs(self) -> dict[str, tuple[float, float, float]]:
        """Per task: fixed seconds on its path, per-message seconds, fixed seconds holding a slot."""
        return task_costs(self.tasks, self.installation())

    def task_paths(self) -> list[list[str]]:
        return task_paths(self.tasks)


class AirflowDagNode(DagRuns):
    """Runtime of `airflow_dag`; see the module docstring for the counting."""

    config: AirflowDagConfig

    def __init__(self, name: str, config: AirflowDagConfig, ctx: SimContext) -> None:
        self._landing: deque[tuple[float, int]] = deque()
        self._landed_n = 0
        self._active: list[Run] = []
        self._pending: deque[Run] = deque()
        self._cleared: list[Run] = []  # failed runs waiting to be cleared, then due again
        super().__init__(name, config, ctx)
        self.staleness = Staleness()
        self.schedule = parse_schedule(config.schedule)
        self.tasks = config.tasks
        self.order = config.order()
        self.children = {n: [c for c, t in self.tasks.items() if n in t.depends_on] for n in self.tasks}
        self.leaves = [n for n in self.tasks if not self.children[n]]
        self.samplers = {n: t.duration.sampler(ctx.rng(name, f"task {n}")) for n, t in self.tasks.items()}
        self._uniform = block_sampler(ctx.rng(name, "failures").random)
        self._jitter = block_sampler(ctx.rng(name, "retry jitter").random)
        self._branch = block_sampler(ctx.rng(name, "branch").random)
        self.late = {
            n: t.sensor.data_late_by.sampler(ctx.rng(name, f"sensor {n}")) for n, t in self.tasks.items() if t.sensor
        }
        self.weights = effective_weights(self.tasks)
        self.blocked: list[tuple[Run, str]] = []
        self._previous: Run | None = None
        self._heard: dict[str, tuple[float, float]] = {}  # dataset -> interval spanned by its updates
        self.installation = Installation.of(ctx, config.installation())
        self.max_active_tasks = config.max_active_tasks
        self.running_tasks = 0
        self._last_tick = 0.0
        self._runs = 0

    # ---- data path -----------------------------------------------------------------------
    def try_put(self, item: Item) -> bool:
        self.arrivals += item.n
        self._landing.append((self.env.now, item.n))
        self._landed_n += item.n
        return True

    def _take(self, before: float) -> int:
        n = 0
        while self._landing and self._landing[0][0] < before:
            n += self._landing.popleft()[1]
        self._landed_n -= n
        return n

    # ---- scheduling ----------------------------------------------------------------------
    def start(self) -> None:
        """The first data interval starts at the first firing at or after t = 0 (Airflow aligns the
        start date to the schedule): `10 * * * *` runs [00:10, 01:10) at 01:10.  `@once` runs once at 0.
        A dataset-scheduled DAG listens to its datasets instead."""
        if self.config.schedule_on:
            for dataset in self.config.schedule_on:
                self.installation.subscribe(dataset, self._heard_update)
            return
        first = self.schedule.first_from(0.0)
        if math.isinf(first):
            return
        self._last_tick = first
        if self.schedule.once:
            self.env.timeout(first, first).callbacks.append(self._tick)
        else:
            self._arm()

    def _arm(self) -> None:
        tick = self.schedule.next_after(self._last_tick)
        if not math.isinf(tick):
            self.env.timeout(tick - self.env.now, tick).callbacks.append(self._tick)

    def _tick(self, event: Any) -> None:
        tick: float = event._value
        self._runs += 1
        run = Run(self._runs, self._last_tick, tick, Item(self._last_tick, 0, self._runs))
        self._last_tick = tick
        self._pending.append(run)
        self.pending_max = max(self.pending_max, len(self._pending))
        if self.tracing:
            self.log("run scheduled" if not self._faults else "run missed (scheduler down)", run.item)
        self._arm()
        self._launch()

    def _launch(self) -> None:
        """Start cleared, then pending runs while the scheduler is up and max_active_runs allows."""
        if self._faults:
            return
        due = [r for r in self._cleared if r.state == "cleared"]
        while due and len(self._active) < self.config.max_active_runs:
            run = due.pop(0)
            self._cleared.remove(run)
            self._begin(run)
        while self._pending and len(self._active) < self.config.max_active_runs:
            if not self.config.catchup:
                while len(self._pending) > 1:
                    self._skip(self._pending.popleft())
            self._begin(self._pending.popleft())

    def _skip(self, run: Run) -> None:
        run.state = "skipped"
        lost = self._take(run.end)
        self.dropped += lost
        self.counts["runs_skipped"] += 1
        self._record(run, lost)
        if self.tracing:
            self.log("run skipped", run.item)

    def _begin(self, run: Run) -> None:
        """A run begins (or a cleared one begins again, with the data it took the first time)."""
        run.state, run.started = "running", self.env.now
        run.attempt += 1
        if run.attempt == 1:
            run.n = run.item.n = self._take(run.cut or run.end)
            run.item.payload = DataInterval(self.name, run.start, run.end)
            run.previous, self._previous = self._previous, run
        run.tries = dict.fromkeys(self.tasks, 0)
        run.states = dict.fromkeys(self.tasks, "none")
        run.finished, run.sensing = 0, {}
        self._active.append(run)
        if self.tracing:
            self.log("run start", run.item)
        timeout = self.config.dagrun_timeout
        if timeout is not None:
            self.env.timeout(timeout, (run, run.attempt)).callbacks.append(self._run_timed_out)
        for name in self.order:
            if not self.tasks[name].depends_on:
                self._make_ready(run, name)

    def _finish(self, run: Run) -> None:
        run.state = "landing"
        if self.forward(run.item, self._landed_late):
            self._landed(run)

    def _landed_late(self, item: Item, _t_in: float) -> None:
        self._landed(next(r for r in self._active if r.item is item))

    def _landed(self, run: Run) -> None:
        now = self.env.now
        run.state = "success"
        self._active.remove(run)
        self.completed += run.n
        self.counts["runs_succeeded"] += 1
        self.run_durations.append(now - run.started)
        self.fresh_newest.append(now - run.end)
        self.staleness.landed(now, run.end)
        self.fresh_oldest.append(now - run.start)
        self._record(run, run.n)
        if self.tracing:
            self.log("run end", run.item)
        for dataset in self.config.outlets:
            self.installation.dataset_updated(dataset, run.start, run.end)
        self.space_freed()
        self._launch()

    # ---- outages -------------------------------------------------------------------------
    def on_down(self) -> None:
        """Scheduler down: no run and no task try of this DAG starts; tries already running finish,
        and a run whose last task ends meanwhile is marked done when the scheduler is back."""
        if self.tracing:
            self.log("scheduler down")

    def on_up(self) -> None:
        if self.tracing:
            self.log("scheduler up")
        for run in [r for r in self._active if r.state == "concluding"]:
            run.state = "running"
            self._conclude(run)
        self._launch()
        self.installation.wake()
