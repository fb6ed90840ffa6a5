"""`feature_store`: an offline store fed by writes, materialised in batches to an online store.

Writes are the items arriving on data edges: each is appended to the offline store and passed
on at once to the out-edges (the offline store is what training reads).  Every
`materialize_every` a materialisation job snapshots everything written so far and, after
`materialize_duration`, makes it visible online.  Reads are lookups made by the nodes that name
this store in their `features_from` field (model_serving): they take one of `read_capacity`
read slots for `read_latency`; lookups beyond the slots wait (`on_read_full: wait`) or are
refused (`drop`: the request goes on without features, counted in `reads_dropped`).

Offline ingestion (`ingest_latency`): a write lands offline that long after it arrives; only
then is it passed on (training reads the offline store) and seen by a materialisation job, so a
snapshot holds the writes landed by the job's start.  Feature TTL (`ttl`, as Feast's feature-view
ttl): a read whose newest online feature is older than the TTL gets nothing (counted in
`reads_expired`; the request goes on without features, as a refused read does).

Counting: only writes move messages through the node (arrivals = completed + inside), reads
are lookups and have their own counters; staleness is the age of the newest materialised write.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from flowsim.distributions import Constant, Distribution
from flowsim.engine.context import SimContext
from flowsim.engine.figures import Figure
from flowsim.engine.flow import FlowLaw, Stage, per_second
from flowsim.engine.holding import HoldingRuntime
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.engine.stats import max_of, mean_of, percentile_of
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import register
from flowsim.schedule import ScheduleText, parse_schedule
from flowsim.units import Count, Duration, parse_duration

ReadDone = Callable[[Item], None]


def _every(value: Any) -> Any:
    """A bare duration (`1h`, 3600) is short for the schedule `every 1h`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"every {float(value):g}s"
    if isinstance(value, str) and not value.strip().startswith(("every", "@")) and len(value.split()) == 1:
        try:
            return f"every {parse_duration(value):g}s"
        except ValueError:
            return value
    return value


EveryText = Annotated[ScheduleText, BeforeValidator(_every)]


@register
class FeatureStoreConfig(NodeConfig):
    """Offline store + batch materialisation + online store with limited read concurrency.

    Models: writes appended offline and passed on (training data); materialisation jobs on a
    schedule that publish a snapshot of all writes up to the job's start after
    `materialize_duration`; online reads with a latency law and `read_capacity` concurrent slots
    (excess reads wait or are refused); staleness seen by each read.

    Leaves out: storage size and cost per byte, per-entity keys and point-in-time joins, partial
    or failed materialisations, streaming (push) features, and read caching.
    """

    summary = "offline writes, scheduled materialisation to an online store, online reads with staleness"
    keeps_items = True
    kind_figures = (
        Figure("materialisations", "jobs", "materialisation jobs completed"),
        Figure("reads", "reads", "online lookups"),
        Figure("reads_dropped", "reads", "lookups refused with every read slot busy (on_read_full: drop)", True),
        Figure("reads_cold", "reads", "lookups before the first materialisation (no features online)"),
        Figure("staleness_mean_s", "s", "mean age of the newest materialised write at a read"),
        Figure("staleness_max_s", "s", "age of the newest materialised write at a read, at its worst", True),
        Figure("read_latency_mean_s", "s", "mean lookup time, waiting for a slot included"),
        Figure("read_latency_p99_s", "s", "99th percentile of the lookup time"),
        Figure("reads_expired", "reads", "lookups of features older than their time to live", True),
    )  # fmt: skip

    kind: Literal["feature_store"]
    materialize_every: EveryText = Field(
        "every 1h", description="when materialisation jobs start: a schedule or a duration (e.g. 1h)"
    )
    materialize_duration: Distribution = Field(
        default_factory=lambda: Constant(value=600.0),
        description="how long one materialisation job takes (its snapshot is taken at its start)",
    )
    read_latency: Distribution = Field(
        default_factory=lambda: Constant(value=0.005),
        description="time one online read holds a read slot",
    )
    read_capacity: Count = Field(64, ge=1, description="concurrent online reads (connection pool, read units)")
    on_read_full: Literal["wait", "drop"] = Field(
        "wait", description="reads beyond read_capacity: wait for a slot, or go on without features"
    )
    ingest_latency: Duration = Field(0.0, ge=0, description="from a write's arrival until it lands offline")
    ttl: Duration | None = Field(
        None,
        gt=0,
        description="online features older than this read as missing (Feast's Go feature server; its Python "
        "SDK ignores ttl online)",
    )

    def runtime_class(self) -> type[NodeRuntime]:
        return FeatureStoreNode

    def events_per_item(self) -> float:
        return 1.0

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """Writes pass on at once (no limit); the online reads are the stage: read_capacity slots of
        read_latency, offered the requests of every node naming this store in `features_from`."""
        wait = self.on_read_full == "wait"
        reads = Stage(
            "online reads", self.read_capacity, per_second(self.read_latency.mean()), per="lookup",
            unit_name="read slots", fed_by="features_from", buffer=None if wait else self.read_capacity,
            on_full="queue" if wait else "drop", slows=False,
            note="each waiting lookup adds to its request's latency" if wait else "requests go on without features",
        )  # fmt: skip
        return FlowLaw((reads,), note="writes pass on at once")


class FeatureStoreNode(HoldingRuntime):
    """Runtime of `feature_store`; see the module docstring."""

    config: FeatureStoreConfig

    def __init__(self, name: str, config: FeatureStoreConfig, ctx: SimContext) -> None:
        self.reads_busy = 0
        self.read_queue: deque[tuple[Item, ReadDone, float]] = deque()
        super().__init__(name, config, ctx)
        self.schedule = parse_schedule(config.materialize_every)
        self.job_time = config.materialize_duration.sampler(ctx.rng(name, "materialize"))
        self.read_time = config.read_latency.sampler(ctx.rng(name, "read"))
        self.last_write = -1.0  # time of the newest write offline (-1: none yet)
        self.online_as_of: float | None = None  # newest write time visible online

    def reset_counters(self) -> None:
        super().reset_counters()
        self.materialisations = 0
        self.reads = 0
        self.reads_dropped = 0
        self.reads_cold = 0
        self.reads_expired = 0
        self.staleness: array[float] = array("d")
        self.read_latencies: array[float] = array("d")

    def start(self) -> None:
        if self.schedule.once:  # `@once`: one job, at t = 0
            self.env.timeout(0.0).callbacks.append(self._job_start)
        else:
            self._next_job()

    # ---- writes --------------------------------------------------------------------------
    def try_put(self, item: Item) -> bool:
        self.admit(item)
        if self.tracing:
            self.log("write", item)
        if self.config.ingest_latency > 0:
            self.call_later(self.config.ingest_latency, self._landed, item)
        else:
            self._land(item)
        return True

    def _landed(self, timer: Any) -> None:
        self._land(timer._value)

    def _land(self, item: Item) -> None:
        """The write is offline now: materialisation sees it, and it goes on (training's data)."""
        self.last_write = item.t_in
        if self.tracing and self.config.ingest_latency > 0:
            self.log("landed offline", item)
        self.pass_on(item)

    # ---- materialisation -----------------------------------------------------------------
    def _next_job(self) -> None:
        delay = self.schedule.next_after(self.env.now) - self.env.now
        if math.isfinite(delay):
            self.env.timeout(delay).callbacks.append(self._job_start)

    def _job_start(self, _event: object) -> None:
        snapshot = self.last_write
        if self.tracing:
            self.log("materialize start")
        self.env.timeout(self.job_time(), snapshot).callbacks.append(self._job_done)
        self._next_job()

    def _job_done(self, event: object) -> None:
        snapshot: float = event._value  # type: ignore[attr-defined]
        self.materialisations += 1
        if snapshot >= 0 and (self.online_as_of is None or snapshot > self.online_as_of):
            self.online_as_of = snapshot
        if self.tracing:
            self.log("materialized")

    # ---- reads (called by the nodes that name this store in `features_from`) -------------
    def read(self, item: Item, done: ReadDone) -> None:
        """Look up features for `item`; `done(item)` is called when the read ends."""
        self.reads += 1
        if self.reads_busy < self.config.read_capacity:
            self._start_read(item, done, self.env.now)
        elif self.config.on_read_full == "drop":
            self.reads_dropped += 1
            if self.tracing:
                self.log("read refused", item)
            done(item)
        else:
            self.read_queue.append((item, done, self.env.now))

    def _start_read(self, item: Item, done: ReadDone, since: float) -> None:
        self.reads_busy += 1
        if self.tracing:
            self.log("read", item)
        job = self.env.timeout(self.read_time(), (item, done, since))
        job.callbacks.append(self._read_done)

    def _read_done(self, event: object) -> None:
        item, done, since = event._value  # type: ignore[attr-defined]
        now = self.env.now
        self.reads_busy -= 1
        self.read_latencies.append(now - since)
        ttl = self.config.ttl
        if self.online_as_of is None:
            self.reads_cold += 1
        elif ttl is not None and now - self.online_as_of > ttl:
            self.reads_expired += 1
            if self.tracing:
                self.log("read expired (older than the ttl)", item)
        else:
            self.staleness.append(now - self.online_as_of)
        if self.read_queue:
            self._start_read(*self.read_queue.popleft())
        done(item)

    # ---- results -------------------------------------------------------------------------
    def series_extra(self) -> dict[str, float]:
        age = self.env.now - self.online_as_of if self.online_as_of is not None else float("nan")
        return {"online_staleness_s": age}

    def figures(self, window: float) -> dict[str, float]:
        figures = super().figures(window)
        figures |= {
            "materialisations": self.materialisations,
            "reads": self.reads,
            "reads_dropped": self.reads_dropped,
            "reads_cold": self.reads_cold,
            "reads_expired": self.reads_expired,
            "staleness_mean_s": mean_of(self.staleness),
            "staleness_max_s": max_of(self.staleness),
            "read_latency_mean_s": mean_of(self.read_latencies),
            "read_latency_p99_s": percentile_of(self.read_latencies, 99),
        }
        return figures
