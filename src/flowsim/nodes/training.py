"""`training`: batch training runs on a GPU pool, on a schedule or when a `retrain` signal arrives.

The training data is what arrives on the input edges (e.g. the feature store's writes): it
accumulates until a run starts, and the run takes it all.  A run lasts `base_duration` +
`per_message` x the messages it took, holds `gpus_per_run` of the `gpus` (runs beyond the pool
wait, FIFO), and fails with `failure_rate`: a failed run is retried after `retry_delay` with the
same data, up to `retries` times.  A successful run sends one model version downstream as an
Item whose `payload` is a `ModelVersion` (`version`, `trained_at`, `data_up_to`, `triggered_at`,
`trigger`, and `drift_at` / `detected_at` when a drift monitor's `RetrainRequest` asked for it).

Quality: each version (and each sweep trial) draws an `error_rate` from the configured law
(clipped to [0, 1]); it travels in the `ModelVersion`, so serving can count wrong predictions and
its rollout alarm can roll a bad version back.

Sweeps (a W&B sweep, an Optuna study): from `at`, `parallelism` workers each run trials one after
another until `trials` have run.  A trial is a job of `trial_duration` holding `gpus_per_trial`
of the same pool, queued with the training runs: FIFO (`priority: fifo`, an urgent retrain waits
behind the trials queued before it) or retrains first (`retrain_first`).  A trial takes no data
and makes no version; every job is listed in the result (`runs`).

Counting (a merge): data messages count as completed when the run that took them produces a
version, dead-lettered when that run fails for good; until then they are inside (accumulated
or in a run).  All of them are `merged`: the data ends in the model.  The version sent on is a
control payload, not data (`emits_control`): the scenario totals count versions apart.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from flowsim.distributions import Constant, Distribution
from flowsim.engine.context import SimContext
from flowsim.engine.figures import Figure
from flowsim.engine.flow import Delay, FlowLaw, bulk
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.engine.payloads import ModelVersion, RetrainRequest
from flowsim.engine.sampling import block_sampler
from flowsim.engine.stats import mean_of
from flowsim.nodes._training_jobs import Run, SweepSpec
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import register
from flowsim.schedule import ScheduleText, parse_schedule
from flowsim.units import Count, Duration, Number


@register
class TrainingConfig(NodeConfig):
    """Training runs whose length grows with the data, sharing a limited GPU pool.

    Models: scheduled and signal-triggered runs; duration = base + per-message cost of the data
    accumulated since the last run; a GPU pool (runs wait for `gpus_per_run` free GPUs);
    random failures retried after a delay; one model version per successful run.

    Also: a quality per version (`error_rate`, drawn per version) and hyperparameter sweeps whose
    trials compete with the runs for the GPUs, every job listed in the result.

    Leaves out: how quality depends on data or hyperparameters (drawn independently), distributed-training
    speed-up with more GPUs, preemption, checkpoints (a retry starts over), and data loading time
    beyond the per-message cost.
    """

    emits_control = True
    summary = "training runs on a GPU pool: schedule or retrain signal, duration grows with data, versions out"
    kind_figures = (
        Figure("runs", "runs", "training runs started (a retried run counts once)"),
        Figure("failures", "runs", "training runs that failed", True),
        Figure("versions", "versions", "model versions sent on"),
        Figure("gpu_utilization", "share", "time-weighted busy share of the GPUs"),
        Figure("trigger_to_version_mean_s", "s", "mean time from a trigger to its model version", True),
        Figure("run_wait_mean_s", "s", "mean time a triggered run waited for GPUs"),
        Figure("trials", "trials", "hyperparameter trials finished", only_with="sweeps"),
        Figure("trial_duration_mean_s", "s", "mean time of a trial", only_with="sweeps"),
        Figure("sweep_best_error_rate", "share", "the best trial's error rate", only_with="sweeps"),
    )  # fmt: skip
    signals_in = ("retrain",)

    kind: Literal["training"]
    billed_unit = "gpu"
    schedule: ScheduleText | None = Field(None, description="when scheduled runs start; none = only on signals")
    base_duration: Duration = Field(1800.0, ge=0, description="fixed part of a run (setup, evaluation)")
    per_message: Duration = Field(0.001, ge=0, description="run time added per message of training data")
    gpus: Count = Field(8, ge=1, description="GPUs in the pool")
    gpus_per_run: Count = Field(8, ge=1, description="GPUs one run holds from start to end")
    failure_rate: Number = Field(0.0, ge=0, lt=1, description="probability that a run fails (found at its end)")
    retries: Count = Field(2, ge=0, description="re-runs after a failure before the run is given up")
    retry_delay: Duration = Field(300.0, ge=0, description="wait before a failed run is re-run")
    on_signal: Literal["queue", "coalesce"] = Field(
        "coalesce", description="a retrain signal while a run waits for GPUs: queue another, or join the waiting one"
    )
    error_rate: Distribution = Field(
        default_factory=lambda: Constant(value=0.0),
        description="share of wrong predictions of each version (and sweep trial), drawn per version, clipped to 0..1",
    )
    sweeps: list[SweepSpec] = Field(default=[], description="hyperparameter sweeps on the same GPU pool")
    priority: Literal["fifo", "retrain_first"] = Field(
        "fifo", description="order of jobs waiting for GPUs: first come first served, or training runs before trials"
    )

    @model_validator(mode="after")
    def _fits(self) -> TrainingConfig:
        if self.gpus_per_run > self.gpus:
            raise ValueError(
                f"gpus_per_run ({self.gpus_per_run}) exceeds the pool (gpus: {self.gpus}); no run could start"
            )
        for sweep in self.sweeps:
            if (sweep.gpus_per_trial or 0) > self.gpus:
                raise ValueError(f"gpus_per_trial ({sweep.gpus_per_trial}) exceeds the pool (gpus: {self.gpus})")
        return self

    def runtime_class(self) -> type[NodeRuntime]:
        return TrainingNode

    def pass_fraction(self) -> float:
        return 0.0  # many data messages merge into one rare version item

    def events_per_item(self) -> float:
        return 0.0

    def cost_units(self) -> float:
        """The GPUs are billed."""
        return float(self.gpus)

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """The scheduled bulk law of a GPU pool: gpus // gpus_per_run runs at once, each try holding its
        GPUs for base_duration + per_message x its data, so the pool keeps up while
        tries x (base / period + per_message x rate) <= concurrent runs.  Without a schedule runs
        come only on signals, whose rate is unknown: the fixed part is left out then.  A merge:
        no message goes on (the rare version items are not flow)."""
        f = self.failure_rate
        tries = sum(f**k for k in range(self.retries + 1))
        period = parse_schedule(self.schedule).mean_period() if self.schedule else None
        period = period if period is not None and math.isfinite(period) else None  # `@once`: no steady rate
        fixed = tries * self.base_duration / period if period else 0.0
        pool = bulk(
            "GPU pool", self.gpus // self.gpus_per_run, fixed, tries * self.per_message, unit_name="concurrent runs",
            slows=False, note="runs wait for GPUs and each takes all the data since the last one",
        )  # fmt: skip
        wait = period / 2 if period else 0.0
        delay = Delay(hold_s=wait + self.base_duration, hold_per_rate_s=self.per_message * (period or 0.0))
        return FlowLaw((pool,), delay, passes=0.0)


class TrainingNode(NodeRuntime):
    """Runtime of `training`; see the module docstring."""

    config: TrainingConfig

    def __init__(self, name: str, config: TrainingConfig, ctx: SimContext) -> None:
        self.pending = 0  # data messages accumulated since the last run started
        self.in_runs = 0
        self.free_gpus = config.gpus
        self.waiting_runs: deque[Run] = deque()
        self._t_last = 0.0
        super().__init__(name, config, ctx)
        self.schedule = parse_schedule(config.schedule) if config.schedule else None
        self._uniform = block_sampler(ctx.rng(name, "failures").random)
        self._quality = config.error_rate.sampler(ctx.rng(name, "quality"))
        self._trial_quality = config.error_rate.sampler(ctx.rng(name, "trial quality"))  # versions draw apart
        self._trial_time = [s.trial_duration.sampler(ctx.rng(name, f"sweep {i}")) for i, s in enumerate(config.sweeps)]
        self._launched = [0] * len(config.sweeps)
        self.version = 0
        self.last_data = 0.0
        self.jobs: list[dict[str, Any]] = []  # every job that ended, from t = 0 (the tracked runs)

    def reset_counters(self) -> None:
        super().reset_counters()
        self.runs = 0
        self.failures = 0
        self.versions = 0
        self.gpu_area = 0.0
        self.to_version: array[float] = array("d")
        self.run_waits: array[float] = array("d")
        self.trial_times: array[float] = array("d")
        self.trial_errors: array[float] = array("d")
        self._t_last = self.env.now

    def _advance(self) -> None:
        now = self.env.now
        self.gpu_area += (self.config.gpus - self.free_gpus) * (now - self._t_last)
        self._t_last = now

    def inside(self) -> int:
        return self.pending + self.in_runs

    def busy_servers(self) -> float:
        return float(self.config.gpus - self.free_gpus)

    # ---- data and triggers ---------------------------------------------------------------
    def start(self) -> None:
        if self.schedule is not None:  # `@once` fires at t = 0; other schedules first after it
            first = self.schedule.first_from(0.0) if self.schedule.once else self.schedule.next_after(self.env.now)
            self._at(first)
        for index, sweep in enumerate(self.config.sweeps):
            self.call_later(sweep.at, self._sweep_starts, index)

    def try_put(self, item: Item) -> bool:
        self.arrivals += item.n
        self.pending += item.n
        self.last_data = self.env.now
        return True

    def _next_scheduled(self) -> None:
        assert self.schedule is not None
        self._at(self.schedule.next_after(self.env.now))

    def _at(self, t: float) -> None:
        if math.isfinite(t):  # `@once` has no next firing
            self.env.timeout(t - self.env.now).callbacks.append(self._scheduled)

    def _scheduled(self, _event: object) -> None:
        self.trigger("schedule")
        self._next_scheduled()

    def signal(self, name: str, payload: Any, sender: str) -> None:
        """`retrain` (from a drift monitor): start, or join a run waiting for GPUs."""
        if name != "retrain":
            super().signal(name, payload, sender)
        request = payload if isinstance(payload, RetrainRequest) else None
        waiting = [run for run in self.waiting_runs if run.sweep is None and run.attempt == 0]
        if self.config.on_signal == "coalesce" and waiting:
            waiting[-1].request = request or waiting[-1].request
            if self.tracing:
                self.log("trigger joins waiting run")
            return
        self.trigger(f"signal from {sender}", request)

    def trigger(self, why: str, request: RetrainRequest | None = None) -> None:
        """Ask for a run; it starts when enough GPUs are free."""
        if self.tracing:
            self.log(f"trigger ({why})")
        self._enqueue(Run(why, self.env.now, request=request, gpus=self.config.gpus_per_run))

    # ---- sweeps --------------------------------------------------------------------------
    def _sweep_starts(self, timer: Any) -> None:
        index: int = timer._value
        for _ in range(min(self.config.sweeps[index].parallelism, self.config.sweeps[index].trials)):
            self._next_trial(index)

    def _next_trial(self, index: int) -> None:
        """A worker asks for its next trial (none once the sweep has launched them all)."""
        sweep = self.config.sweeps[index]
        if self._launched[index] >= sweep.trials:
            return
        self._launched[index] += 1
        gpus = sweep.gpus_per_trial or self.config.gpus_per_run
        trial = Run(f"sweep {index}", self.env.now, sweep=index, trial=self._launched[index], gpus=gpus)
        if self.tracing:
            self.log(f"trial {index}.{trial.trial} queued")
        self._enqueue(trial)

    # ---- runs ----------------------------------------------------------------------------
    def _enqueue(self, run: Run) -> None:
        """Queue a job for GPUs: at the back, or (`retrain_first`) a training run before every trial."""
        queue = self.waiting_runs
        if self.config.priority == "retrain_first" and run.sweep is None:
            at = next((i for i, job in enumerate(queue) if job.sweep is not None), len(queue))
            queue.insert(at, run)
        else:
            queue.append(run)
        self._start_waiting()

    def _start_waiting(self) -> None:
        while self.waiting_runs and self.free_gpus >= self.waiting_runs[0].gpus:  # FIFO: the head goes first
            run = self.waiting_runs.popleft()
            if run.attempt == 0 and run.sweep is None:  # a first attempt takes all the data accumulated so far
                run.messages, run.data_up_to = self.pending, self.last_data
                self.in_runs += self.pending
                self.pending = 0
                self.run_waits.append(self.env.now - run.triggered_at)
            self._attempt(run)

    def _attempt(self, run: Run) -> None:
        self._advance()
        self.free_gpus -= run.gpus
        run.attempt += 1
        run.started_at = self.env.now
        if run.sweep is not None:
            length = self._trial_time[run.sweep]()
        else:
            length = self.config.base_duration + self.config.per_message * run.messages
            if run.attempt == 1:
                self.runs += 1
        if self.tracing:
            is_trial = run.sweep is not None
            self.log(f"trial {run.sweep}.{run.trial} start ({length:g}s)" if is_trial else
                     f"run start ({run.messages} messages, {length:g}s)")  # fmt: skip
        self.env.timeout(length, run).callbacks.append(self._run_ended)

    def _run_ended(self, event: object) -> None:
        run: Run = event._value  # type: ignore[attr-defined]
        self._advance()
        self.free_gpus += run.gpus
        if run.sweep is not None:
            self._trial_ended(run)
        elif self.config.failure_rate and self._uniform() < self.config.failure_rate:
            self._run_failed(run)
        else:
            self._produce(run)
        self._start_waiting()

    def _trial_ended(self, run: Run) -> None:
        assert run.sweep is not None
        error = min(1.0, max(0.0, self._trial_quality()))
        duration = self.env.now - run.started_at
        self.trial_times.append(duration)
        self.trial_errors.append(error)
        self._record(run, "trial", error)
        if self.tracing:
            self.log(f"trial {run.sweep}.{run.trial} done (error rate {error:g})")
        self._next_trial(run.sweep)  # the worker that ran it asks for the next one

    def _record(self, run: Run, outcome: str, error: float | None, version: int | None = None) -> None:
        now = float(self.env.now)
        self.jobs.append({
            "job": "trial" if run.sweep is not None else "train", "sweep": run.sweep,
            "trial": run.trial if run.sweep is not None else None, "version": version, "outcome": outcome,
            "queued_s": run.triggered_at, "start_s": run.started_at, "end_s": now,
            "duration_s": now - run.started_at, "error_rate": error,
        })  # fmt: skip

    def _run_failed(self, run: Run) -> None:
        self.failures += 1
        self.failed_attempts += 1
        self._record(run, "failed", None)
        if run.attempt <= self.config.retries:
            self.retries += 1
            if self.tracing:
                self.log("run failed, retry")
            self.env.timeout(self.config.retry_delay, run).callbacks.append(self._retry)
            return
        if self.tracing:
            self.log("run failed for good")
        self.in_runs -= run.messages
        self.dead_lettered += run.messages

    def _retry(self, event: object) -> None:
        run: Run = event._value  # type: ignore[attr-defined]
        self.waiting_runs.appendleft(run)  # a retry goes first when GPUs free
        self._start_waiting()

    def _produce(self, run: Run) -> None:
        now = self.env.now
        self.version += 1
        self.versions += 1
        self.in_runs -= run.messages
        self.completed += run.messages
        self.merged += run.messages  # the data ends in the model; the version is not data
        self.to_version.append(now - run.triggered_at)
        error = min(1.0, max(0.0, self._quality()))
        self._record(run, "version", error, self.version)
        item = Item(now, 1, self.version)
        request = run.request
        item.payload = ModelVersion(
            version=self.version, trained_at=now, data_up_to=run.data_up_to, triggered_at=run.triggered_at,
            trigger=run.trigger, messages=run.messages, error_rate=error,
            drift_at=request.drift_at if request else None, detected_at=request.detected_at if request else None,
        )  # fmt: skip
        if self.tracing:
            self.log(f"version {self.version}", item)
        self.forward(item, None)

    # ---- results -------------------------------------------------------------------------
    def figures(self, window: float) -> dict[str, float]:
        self._advance()
        figures = super().figures(window)
        figures |= {
            "runs": self.runs,
            "failures": self.failures,
            "versions": self.versions,
            "gpu_utilization": self.gpu_area / (self.config.gpus * window) if window > 0 else 0.0,
            "trigger_to_version_mean_s": mean_of(self.to_version),
            "run_wait_mean_s": mean_of(self.run_waits),
        }
        if self.config.sweeps:
            figures |= {
                "trials": len(self.trial_times),
                "trial_duration_mean_s": mean_of(self.trial_times),
                "sweep_best_error_rate": min(self.trial_errors) if self.trial_errors else math.nan,
            }
        return figures

    def extra(self) -> dict[str, Any]:
        return {"runs": list(self.jobs)} if self.jobs else {}
