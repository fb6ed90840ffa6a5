"""`training`: batch training runs on a GPU pool, on a schedule or when a `retrain` signal arrives.

The training data is what arrives on the input edges (e.g. the feature store's writes): it
accumulates until a run starts, and the run takes it all.  A run lasts `base_duration` +
`per_message` x the messages it took, holds `gpus_per_run` of the `gpus` (runs beyond the pool
wait, FIFO), and fails with `failure_rate`: a failed run is retried after `retry_delay` with the
same data, up to `retries` times.  A successful run sends one model version downstream as an
Item whose `payload` is a `ModelVersion` (`version`, `trained_at`, `data_up_to`, `triggered_at`,
`trigger`, and `drift_at` / `detected_at` when a drift monitor's `RetrainRequest` asked for it).

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
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, model_validator

from flowsim.engine.context import SimContext
from flowsim.engine.flow import Delay, FlowLaw, bulk
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.engine.payloads import ModelVersion, RetrainRequest
from flowsim.engine.sampling import block_sampler
from flowsim.engine.stats import mean_of
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import register
from flowsim.schedule import ScheduleText, parse_schedule
from flowsim.units import Count, Duration, Number


@dataclass
class Run:
    """One training run: its trigger, the data it took, and its attempts."""

    trigger: str
    triggered_at: float
    messages: int = 0
    data_up_to: float = 0.0
    attempt: int = 0
    request: RetrainRequest | None = None  # the drift that asked for this run, if one did


@register
class TrainingConfig(NodeConfig):
    """Training runs whose length grows with the data, sharing a limited GPU pool.

    Models: scheduled and signal-triggered runs; duration = base + per-message cost of the data
    accumulated since the last run; a GPU pool (runs wait for `gpus_per_run` free GPUs);
    random failures retried after a delay; one model version per successful run.

    Leaves out: model quality (a version is only a number and timestamps), distributed-training
    speed-up with more GPUs, preemption, checkpoints (a retry starts over), and data loading time
    beyond the per-message cost.
    """

    emits_control = True
    summary = "training runs on a GPU pool: schedule or retrain signal, duration grows with data, versions out"
    signals_in = ("retrain",)

    kind: Literal["training"]
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

    @model_validator(mode="after")
    def _fits(self) -> TrainingConfig:
        if self.gpus_per_run > self.gpus:
            raise ValueError(
                f"gpus_per_run ({self.gpus_per_run}) exceeds the pool (gpus: {self.gpus}); no run could start"
            )
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
        self.version = 0
        self.last_data = 0.0

    def reset_counters(self) -> None:
        super().reset_counters()
        self.runs = 0
        self.failures = 0
        self.versions = 0
        self.gpu_area = 0.0
        self.to_version: array[float] = array("d")
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
        if self.config.on_signal == "coalesce" and self.waiting_runs and self.waiting_runs[-1].attempt == 0:
            self.waiting_runs[-1].request = request or self.waiting_runs[-1].request
            if self.tracing:
                self.log("trigger joins waiting run")
            return
        self.trigger(f"signal from {sender}", request)

    def trigger(self, why: str, request: RetrainRequest | None = None) -> None:
        """Ask for a run; it starts when enough GPUs are free."""
        if self.tracing:
            self.log(f"trigger ({why})")
        self.waiting_runs.append(Run(why, self.env.now, request=request))
        self._start_waiting()

    # ---- runs ----------------------------------------------------------------------------
    def _start_waiting(self) -> None:
        need = self.config.gpus_per_run
        while self.waiting_runs and self.free_gpus >= need:
            run = self.waiting_runs.popleft()
            if run.attempt == 0:  # a first attempt takes all the data accumulated so far
                run.messages, run.data_up_to = self.pending, self.last_data
                self.in_runs += self.pending
                self.pending = 0
            self._attempt(run)

    def _attempt(self, run: Run) -> None:
        self._advance()
        self.free_gpus -= self.config.gpus_per_run
        run.attempt += 1
        if run.attempt == 1:
            self.runs += 1
        length = self.config.base_duration + self.config.per_message * run.messages
        if self.tracing:
            self.log(f"run start ({run.messages} messages, {length:g}s)")
        self.env.timeout(length, run).callbacks.append(self._run_ended)

    def _run_ended(self, event: object) -> None:
        run: Run = event._value  # type: ignore[attr-defined]
        self._advance()
        self.free_gpus += self.config.gpus_per_run
        if self.config.failure_rate and self._uniform() < self.config.failure_rate:
            self._run_failed(run)
        else:
            self._produce(run)
        self._start_waiting()

    def _run_failed(self, run: Run) -> None:
        self.failures += 1
        self.failed_attempts += 1
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
        item = Item(now, 1, self.version)
        request = run.request
        item.payload = ModelVersion(
            version=self.version, trained_at=now, data_up_to=run.data_up_to, triggered_at=run.triggered_at,
            trigger=run.trigger, messages=run.messages,
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
        }
        return figures
