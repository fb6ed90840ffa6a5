"""`source`: where work enters — Poisson arrivals at a `rate` (shaped over time by a `profile`),
a replayed `trace`, bursts of a Markov-modulated process (`mmpp`), or any interarrival law.

When the first node downstream is full and blocks, the source pauses (a producer that blocks
on a full buffer) and resumes when room frees: blocked time is reported, nothing is dropped.
A constant rate keeps its own stream and draws ("arrivals"), so seeded figures do not move when
other sources gain profiles; time-varying arrivals are drawn from the "profile" stream (see
`flowsim.traffic`), batch sizes from "batch" and an MMPP's state path from "mmpp".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from heapq import heappush
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator
from simpy.events import NORMAL

from flowsim.distributions import Distribution, Exponential
from flowsim.engine.clock import Timer
from flowsim.engine.context import SimContext
from flowsim.engine.figures import PER_MESSAGE, Figure
from flowsim.engine.flow import FlowLaw
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import register
from flowsim.traffic.arrivals import nhpp_times
from flowsim.traffic.batches import BatchSize, ConstantBatch
from flowsim.traffic.mmpp import Mmpp
from flowsim.traffic.profiles import ProfileFactor
from flowsim.traffic.shapes import RateLaw
from flowsim.traffic.traces import TraceFile
from flowsim.units import Count, Duration, Rate, format_duration

Level = Literal["peak", "mean"]


@register
class SourceConfig(NodeConfig):
    """Models: external demand. Poisson at `rate`, multiplied over time by a `profile` (diurnal,
    steps, ramp, spike); a rate replayed from a CSV `trace`; bursts switching between the states of
    an `mmpp`; or any renewal process with `interarrival`. `batch` messages per work item, fixed or
    drawn. When the first node downstream is full and blocks, the source pauses (a producer blocked
    on a full buffer) and `blocked_time_s` grows; nothing is lost.

    Leaves out: arrivals that depend on the system's state (users who give up when it is slow).
    """

    summary = "external arrivals: Poisson `rate` (with a time `profile`), a `trace`, an `mmpp`, or `interarrival`"
    kind_figures = (
        Figure("unmet_demand", "messages", "messages not generated while blocked (outside the balance)", True,
               engines=PER_MESSAGE),
    )  # fmt: skip
    takes_input = False

    kind: Literal["source"]
    rate: Rate | None = Field(None, gt=0, description="Poisson arrivals, e.g. 250/s (the base rate of a profile)")
    interarrival: Distribution | None = Field(None, description="time between arrivals, any law")
    trace: TraceFile | None = Field(None, description="the rate replayed from a CSV file of 'time,rate' rows")
    mmpp: Mmpp | None = Field(None, description="bursts: a Markov-modulated Poisson process")
    profile: list[ProfileFactor] | None = Field(
        None, min_length=1, description="factors on the rate over time (diurnal, steps, ramp, spike); they multiply"
    )
    batch: Annotated[Count, Field(ge=1)] | BatchSize = Field(
        1, description="messages per work item (producer batching): a number or a distribution"
    )
    start: Duration = Field(0.0, ge=0, description="first arrival not before this time")
    stop: Duration | None = Field(None, gt=0, description="no arrivals after this time")
    limit: Count | None = Field(None, ge=1, description="stop after this many items")

    @model_validator(mode="after")
    def _one_law(self) -> SourceConfig:
        given = [n for n in ("rate", "interarrival", "trace", "mmpp") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'rate' (e.g. 250/s), 'interarrival' (a distribution), 'trace' (a CSV file) "
                "or 'mmpp' (bursty states)" + (f"; got {' and '.join(given)}" if given else "")
            )
        if self.interarrival is not None and self.interarrival.mean() <= 0:
            raise ValueError("the mean interarrival time must be above 0 (arrivals at one instant never end)")
        if self.profile is not None and self.interarrival is not None:
            raise ValueError("a profile multiplies a rate: use it with 'rate', 'trace' or 'mmpp', not 'interarrival'")
        if self.time_varying() and self.peak_rate()[0] <= 0:
            raise ValueError("the rate is 0 at every time: this source would never emit")
        return self

    def timer_copies(self, outputs: Sequence[str]) -> dict[str, float]:
        """An MMPP's state i ends a sojourn at 1/mean_sojourn_i only while in it: a share pi_i of the
        time, so the switches per second are sum_i pi_i / mean_sojourn_i (the chain's true rate)."""
        if self.mmpp is None:
            return {}
        shares = self.mmpp.stationary()
        return {f"mmpp.states[{i}].mean_sojourn": float(share) for i, share in enumerate(shares)}

    # ---- rates ---------------------------------------------------------------------------
    def time_varying(self) -> bool:
        return self.profile is not None or self.trace is not None or self.mmpp is not None

    def law(self) -> Distribution:
        """The renewal law of a constant source (a varying one: Poisson at its peak rate)."""
        if self.interarrival is not None:
            return self.interarrival
        rate = self.rate if not self.time_varying() else self.peak_rate()[0]
        return Exponential(dist="exponential", rate=rate)

    def rate_law(self, level: Level = "peak") -> RateLaw:
        """Items per second over time at load multiplier 1; an MMPP at its peak or mean state rate."""
        shapes = tuple(f.shape() for f in self.profile or ())
        if self.trace is not None:
            return RateLaw(1.0, (self.trace.shape(), *shapes))
        if self.mmpp is not None:
            return RateLaw(self.mmpp.peak_rate() if level == "peak" else self.mmpp.mean_rate(), shapes)
        return RateLaw(self.rate if self.rate is not None else 1.0 / self.law().mean(), shapes)

    def rate_window(self) -> tuple[float, float]:
        """The span the peak and mean describe: [start, stop], or whole days (cycles) past the last knot."""
        return self.rate_law().window(self.start, self.stop)

    def peak_rate(self) -> tuple[float, float]:
        """(items per second at the busiest moment, the first time it is reached)."""
        if not self.time_varying():
            return self.external_rate(), self.start
        return self.rate_law("peak").peak(*self.rate_window())

    def mean_rate(self) -> float:
        """Items per second on average over `rate_window` (an MMPP: its stationary mean)."""
        if not self.time_varying():
            return self.external_rate()
        return self.rate_law("mean").mean(*self.rate_window())

    def mean_rate_over(self, horizon: float) -> float:
        """Items per second on average over a run of `horizon` seconds from 0: the work the run holds.

        A profile's mean over its active part of the run, spread over the run (a 3x spike of 6
        minutes in a 14-minute run more than doubles it; over `rate_window`'s whole day it hardly
        shows); a constant rate over its part of the run (`start` .. `stop`); without a finite horizon,
        `mean_rate()`.
        """
        if not math.isfinite(horizon) or horizon <= 0:
            return self.mean_rate()
        start, stop = max(self.start, 0.0), min(self.stop if self.stop is not None else horizon, horizon)
        if stop <= start:
            return 0.0
        rate = self.rate_law("mean").mean(start, stop) if self.time_varying() else self.external_rate()
        return rate * ((stop - start) / horizon)  # the share first: a source on all run keeps its rate exactly

    def horizon_warnings(self, name: str, horizon: float) -> list[str]:
        """A source that starts when the run is over sends nothing, and a trace or a profile's change
        that begins then never happens: run on, but said."""
        end = f"the run ends at {format_duration(horizon)}; lengthen 'duration' or move it earlier"
        if self.start >= horizon:
            return [f"'{name}' sends nothing in this run: it starts at {format_duration(self.start)}, when the run "
                    f"has ended ({format_duration(horizon)}); lengthen 'duration' or start it earlier"]  # fmt: skip
        found = []
        if self.trace is not None and self.trace.times[0] >= horizon:
            found.append(f"'{name}' sends nothing in this run: its trace starts at "
                         f"{format_duration(self.trace.times[0])}; {end}")  # fmt: skip
        for k, factor in enumerate(self.profile or ()):
            begins = (factor.spike.at if factor.spike is not None else factor.ramp.at if factor.ramp is not None
                      else min(step.at for step in factor.steps) if factor.steps else None)  # fmt: skip
            if begins is not None and begins >= horizon:
                what = "spike" if factor.spike is not None else "ramp" if factor.ramp is not None else "steps"
                found.append(f"'{name}': profile[{k}]'s {what} begins at {format_duration(begins)} and never "
                             f"happens; {end}")  # fmt: skip
        if self.profile and not found and math.isfinite(horizon) and self.mean_rate_over(horizon) <= 0:
            found.append(f"'{name}' sends nothing in this run: its profile holds the rate at 0 from its start to "
                         f"the end ({format_duration(horizon)}); check the profile's factors")  # fmt: skip
        return found

    def external_rate(self) -> float:
        """The analytic view's rate: the peak, for a rate that varies (see docs/load.md)."""
        if self.time_varying():
            return self.peak_rate()[0]
        mean = self.law().mean()
        return 1.0 / mean if mean > 0 else float("inf")

    def rate_at(self, t: float) -> float:
        """Items per second expected at time t, load multiplier 1 (the fluid engine's demand; an MMPP
        at its stationary mean; `start`/`stop` are left to the caller)."""
        return self.rate_law("mean").at(t) if self.time_varying() else self.external_rate()

    def emits_at(self, t: float | np.ndarray) -> np.ndarray:
        """Messages per second expected at time(s) t, load multiplier 1 (0 outside start..stop)."""
        times = np.asarray(t, dtype=float)
        on = (times >= self.start) & (times <= (self.stop if self.stop is not None else math.inf))
        return np.where(on, self.rate_law("mean").values(times) * self.messages_per_item(), 0.0)

    def always_on(self) -> bool:
        return self.start == 0 and self.stop is None and self.limit is None

    def fixed_batch(self) -> int | None:
        if isinstance(self.batch, int):
            return self.batch
        return self.batch.value if isinstance(self.batch, ConstantBatch) else None

    def messages_per_item(self) -> float:
        return float(self.batch) if isinstance(self.batch, int) else self.batch.mean()

    def batch_share_above(self, size: int) -> float:
        """The share of its items that carry more than `size` messages."""
        if isinstance(self.batch, int):
            return 1.0 if self.batch > size else 0.0
        return self.batch.share_above(size)

    def runtime_class(self) -> type[NodeRuntime]:
        return SourceNode if not self.time_varying() and self.fixed_batch() is not None else ShapedSourceNode

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """Demand, not a limit: the law states only what it emits (items per second x batch), at the peak."""
        peak = " at its peak rate (emits_at(t) gives it over time)" if self.time_varying() else ""
        return FlowLaw(
            emits_per_s=self.external_rate() * self.messages_per_item(),
            note=f"demand{peak}: no capacity of its own; it pauses (nothing lost) while the next node blocks",
        )


class SourceNode(NodeRuntime):
    """A constant rate (or renewal law) and a fixed batch: the fast path, one draw per arrival."""

    config: SourceConfig

    def __init__(self, name: str, config: SourceConfig, ctx: SimContext) -> None:
        self._holding = 0
        super().__init__(name, config, ctx)
        scale = 1.0 / ctx.load_multiplier
        if not config.time_varying():
            draw = config.law().sampler(ctx.rng(name, "arrivals"))
            self.interarrival = draw if scale == 1.0 else (lambda: draw() * scale)
        self.batch = config.fixed_batch() or 1
        self.stop = config.stop if config.stop is not None else float("inf")
        self.limit = config.limit if config.limit is not None else -1
        self.generated = 0
        self._offered = config.external_rate() * ctx.load_multiplier * config.messages_per_item()
        self._paused_at: float | None = None  # when the open block began
        self._timer = Timer(self._arrive)  # one arrival is due at a time: the same timer serves them all

    def reset_counters(self) -> None:
        super().reset_counters()
        self.unmet = 0.0

    def _paused(self) -> None:
        self._paused_at = self.env.now

    def _resumed(self) -> None:
        """A block ended: the demand of the paused time was never generated (expected count)."""
        if self._paused_at is not None:
            self.unmet += self._paused_demand()
            self._paused_at = None

    def _paused_demand(self) -> float:
        """The offered messages of the open block so far (within the window and before `stop`)."""
        assert self._paused_at is not None
        span = min(self.env.now, self.stop) - max(self._paused_at, self._window_start)
        return self._offered * max(span, 0.0)

    def figures(self, window: float) -> dict[str, float]:
        """`unmet_demand`: messages the source would have sent while blocked (none are counted
        arrivals: a paused producer never created them), an open block included (at the nominal
        rate for a time-varying source)."""
        unmet = self.unmet + (self._paused_demand() if self._paused_at is not None else 0.0)
        return super().figures(window) | {"unmet_demand": unmet}

    def start(self) -> None:
        self.call_later(self.config.start + self.interarrival(), self._arrive)

    def _schedule(self) -> None:
        self.call_later(self.interarrival(), self._arrive)

    def _arrive(self, _event: object) -> None:
        now = self.env.now
        if now > self.stop or self.generated == self.limit:
            return
        self.generated += 1
        item = Item(now, self.batch, self.generated)
        self.arrivals += self.batch
        if self.tracing:
            self.log("emit", item)
        target = self.single_target  # forward(item, ...), inlined for one out-edge
        if target is not None:
            handed = target.try_put(item) or self._blocked_on(target, item, self._unblocked, now)
        else:
            handed = self.forward(item, self._unblocked)
        if handed:
            self.completed += self.batch
            heap = self._heap
            if heap is not None:  # call_later(gap, self._arrive), without the call
                heappush(heap, (now + self.interarrival(), NORMAL, next(self._ids), self._timer))
            else:
                self.call_later(self.interarrival(), self._arrive)
        else:
            self._holding = self.batch
            self._paused()

    def _unblocked(self, item: Item, _t_in: float) -> None:
        self._holding = 0
        self.completed += item.n
        self._resumed()
        self._schedule()

    def inside(self) -> int:
        return self._holding

    def _active(self, now: float) -> bool:
        return self.config.start <= now <= self.stop

    def series_extra(self) -> dict[str, float]:
        """The offered rate now (messages per second, load multiplier and batch included)."""
        return {"offered_per_s": self._offered if self._active(self.env.now) else 0.0}


class ShapedSourceNode(SourceNode):
    """A rate that varies over time (thinning, see `flowsim.traffic.arrivals`) or drawn batch sizes.

    Arrival times come in order from the process; after a block the source resumes at the
    first arrival after the hand-over (as the constant source draws a fresh gap from then).
    """

    def __init__(self, name: str, config: SourceConfig, ctx: SimContext) -> None:
        super().__init__(name, config, ctx)
        fixed = config.fixed_batch()
        self._size = (lambda: fixed) if fixed is not None else config.batch.sampler(ctx.rng(name, "batch"))  # type: ignore[union-attr]
        self._mean_batch = config.messages_per_item()
        self._law: RateLaw | None = None
        if config.time_varying():
            law = config.rate_law()
            if config.mmpp is not None:  # one realisation of the hidden state, drawn up front
                path = config.mmpp.path(ctx.rng(name, "mmpp"), ctx.horizon)
                law = RateLaw(1.0, (path, *law.shapes))
            self._law = law.scaled(ctx.load_multiplier)
            points = nhpp_times(self._law, config.start, min(self.stop, ctx.horizon), ctx.rng(name, "profile"))
            self._point = partial(next, points, math.inf)

    def _resumed(self) -> None:
        """A time-varying rate counts its skipped points instead (in `_following`)."""
        if self._law is None:
            super()._resumed()
        else:
            self._paused_at = None

    def _following(self) -> float:
        """The next arrival time at or after now."""
        now = self.env.now
        if self._law is None:
            return now + self.interarrival()
        t: float = self._point()
        while t < now:  # arrivals while blocked did not happen: the producer was paused
            if t >= self._window_start:
                self.unmet += self._mean_batch  # counted by the points the profile would have drawn
            t = self._point()
        return t

    def start(self) -> None:
        first = self.config.start + self.interarrival() if self._law is None else self._point()
        if math.isfinite(first):
            self.call_later(first, self._arrive)

    def _schedule(self) -> None:
        t = self._following()
        if math.isfinite(t):
            self.call_later(t - self.env.now, self._arrive)

    def _arrive(self, _event: object) -> None:
        now = self.env.now
        if now > self.stop or self.generated == self.limit:
            return
        self.generated += 1
        n = self._size()
        item = Item(now, n, self.generated)
        self.arrivals += n
        if self.tracing:
            self.log("emit", item)
        if self.forward(item, self._unblocked):
            self.completed += n
            self._schedule()
        else:
            self._holding = n
            self._paused()

    def series_extra(self) -> dict[str, float]:
        """The offered rate now: the profile's (or trace's, or MMPP state's) x multiplier x mean batch."""
        now = self.env.now
        if not self._active(now):
            return {"offered_per_s": 0.0}
        if self._law is None:
            return {"offered_per_s": self._offered}
        return {"offered_per_s": self._law.at(now) * self._mean_batch}
