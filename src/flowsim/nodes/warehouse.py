"""`warehouse`: concurrency slots shared by batch loads and dashboard queries (Snowflake, BigQuery slots).

An arriving item is a LOAD when it is a batch run's output (an `airflow_dag` item: its payload
is a `DataInterval`) or stands for more than one message (n > 1, e.g. a loader source with
`batch: 10000`); anything else is a QUERY.  Both classes wait in one FIFO line (or queries go
first with `query_priority: true`) for the warehouse's `slots`; the line's head starts when
enough slots are free (no overtaking), so a load that takes the whole warehouse holds the
dashboards behind it.  A load takes `load_slots` slots for n x message_size / load_throughput +
load_overhead; a query takes one slot for a `query_time` draw.

Both leave on the out-edges; with `loads_to`, loads go to that out-edge's node and queries to the
others, so a serving sink measures query latency alone.  Counting: messages, as a service.
"""

from __future__ import annotations

import difflib
import re
from array import array
from collections import deque
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema, model_validator

from flowsim.distributions import Constant, Distribution, LogNormal
from flowsim.engine.context import SimContext
from flowsim.engine.figures import PER_MESSAGE, Figure
from flowsim.engine.flow import Delay, FlowLaw, Stage, per_second
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.engine.payloads import DataInterval
from flowsim.engine.pool import ServerPool
from flowsim.engine.stats import max_of, mean_of, percentile_of
from flowsim.nodes.base import NodeConfig, QueueModel
from flowsim.nodes.registry import register
from flowsim.units import TIME_UNITS, Count, NumberRule, Size, checked, parse_size


def parse_bandwidth(value: Any) -> float:
    """'200MB/s' -> 2e8 bytes per second; a plain number is bytes per second."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = re.match(r"^\s*(.+?)\s*/\s*([a-z]+)\s*$", str(value), re.IGNORECASE)
    if match is None or match.group(2).lower() not in TIME_UNITS:
        raise ValueError(f"cannot read {value!r} as a throughput; write size/time, e.g. 200MB/s or 1GB/min")
    return parse_size(match.group(1)) / TIME_UNITS[match.group(2).lower()]


Bandwidth = Annotated[
    float,
    BeforeValidator(parse_bandwidth),
    AfterValidator(lambda v: checked(v, "a throughput")),
    NumberRule("throughput"),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string"}], "examples": ["200MB/s"]}),
]


@register
class WarehouseConfig(NodeConfig):
    """A data warehouse whose concurrency slots are shared by batch loads and dashboard queries.

    Models: `slots` concurrent statements; loads (batch runs, or items of more than one message)
    that take `load_slots` slots for size / throughput + overhead; queries that take one slot for a
    `query_time` draw; one FIFO line across both (head-of-line blocking) or query priority; query
    waits and load durations reported apart.

    Leaves out: autoscaling (multi-cluster warehouses), result caching, queries slowed by a running
    load's I/O rather than queued behind it, statement timeouts, outages, and credit cost by size.
    """

    summary = "warehouse slots shared by batch loads and dashboard queries (FIFO or query priority)"
    kind_figures = (
        Figure("queries_completed", "queries", "dashboard queries finished", engines=PER_MESSAGE),
        Figure("query_wait_mean_s", "s", "mean time a query waited for a slot", engines=PER_MESSAGE),
        Figure("query_wait_p50_s", "s", "median query wait for a slot", engines=PER_MESSAGE),
        Figure("query_wait_p95_s", "s", "95th percentile of the query wait", engines=PER_MESSAGE),
        Figure("query_wait_p99_s", "s", "99th percentile of the query wait", True, engines=PER_MESSAGE),
        Figure("query_latency_p95_s", "s", "95th percentile of a query's wait plus run time", engines=PER_MESSAGE),
        Figure("loads_completed", "loads", "batch loads finished", engines=PER_MESSAGE),
        Figure("load_messages", "messages", "messages the finished loads carried", engines=PER_MESSAGE),
        Figure("load_wait_mean_s", "s", "mean time a load waited for its slots", engines=PER_MESSAGE),
        Figure("load_duration_mean_s", "s", "mean time a load held its slots", engines=PER_MESSAGE),
        Figure("load_duration_max_s", "s", "longest load", engines=PER_MESSAGE),
    )  # fmt: skip

    kind: Literal["warehouse"]
    billed_unit = "slot"
    slots: Count = Field(8, ge=1, description="statements running at once (Snowflake's default concurrency 8)")
    load_slots: Count = Field(1, ge=1, description="slots one load occupies (a bulk load may take them all)")
    message_size: Size = Field(1000.0, gt=0, description="bytes per message loaded, e.g. 1KB")
    load_throughput: Bandwidth = Field(200e6, gt=0, description="bytes per second one load writes, e.g. 200MB/s")
    load_overhead: Distribution = Field(
        default_factory=lambda: Constant(value=30.0), description="fixed time per load (commit, metadata, clustering)"
    )
    query_time: Distribution = Field(
        default_factory=lambda: LogNormal.model_validate({"mean": 2.0, "stdev": 2.0}),
        description="time one query holds a slot",
    )
    query_priority: bool = Field(False, description="waiting queries start before waiting loads")
    loads_to: str | None = Field(
        None, description="out-edge target that receives loads (queries take the other out-edges)"
    )

    @model_validator(mode="after")
    def _load_fits(self) -> WarehouseConfig:
        if self.load_slots > self.slots:
            raise ValueError(f"load_slots ({self.load_slots}) is above slots ({self.slots}): a load could never start")
        return self

    def runtime_class(self) -> type[NodeRuntime]:
        return WarehouseNode

    def queue_model(self) -> QueueModel:
        """The query path as c servers (loads are rare and counted in the simulation only)."""
        return QueueModel(self.slots, self.query_time)

    def edge_problems(self, outputs: list[str]) -> list[tuple[str, str, str]]:
        if self.loads_to is None or self.loads_to in outputs:
            return []
        close = difflib.get_close_matches(self.loads_to, outputs, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "out-edges: " + (", ".join(outputs) or "none")
        return [("loads_to", f"'{self.loads_to}' is not an out-edge of this warehouse", hint)]

    def events_per_item(self) -> float:
        return 1.0

    def cost_units(self) -> float:
        return float(self.slots)

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """The query path: slots / mean query time, queries a second.  Loads are rare and bulky: they
        are left out of the steady state; while one runs, only slots - load_slots serve queries
        (evaluate a load window with State(servers=slots - load_slots))."""
        left = self.slots - self.load_slots
        queries = Stage(
            "query slots", self.slots, per_second(self.query_time.mean()), per="item", unit_name="slots",
            scalable=True, note=f"while a load runs only {left} of the {self.slots} slots serve queries",
        )  # fmt: skip
        return FlowLaw((queries,), Delay(self.slots, self.query_time.mean(), self.query_time.scv()))


class WarehouseNode(ServerPool):
    """Runtime of `warehouse`; see the module docstring."""

    config: WarehouseConfig
    unit_slots = False

    def __init__(self, name: str, config: WarehouseConfig, ctx: SimContext) -> None:
        super().__init__(name, config, ctx, servers=config.slots)
        self.line: dict[bool, deque[Item]] = {True: deque(), False: deque()}  # is_load -> FIFO
        self.loads_running = 0
        self._recent: list[float] = []
        self.query_time = config.query_time.sampler(ctx.rng(name, "queries"))
        self.overhead = config.load_overhead.sampler(ctx.rng(name, "loads"))
        self.per_message = config.message_size / config.load_throughput
        self._loads_target: NodeRuntime | None = None
        self._seq = 0

    def connect(self, targets: list[tuple[NodeRuntime, float]], routing: str) -> None:
        """With `loads_to`, loads take that out-edge and queries the others."""
        name = self.config.loads_to
        if name is not None:
            match = [t for t, _ in targets if t.name == name]
            if not match:
                raise ValueError(f"warehouse '{self.name}': loads_to '{name}' is not one of its out-edges")
            self._loads_target = match[0]
            rest = [(t, w) for t, w in targets if t.name != name]
            targets = rest or targets
        super().connect(targets, routing)

    # ---- bookkeeping ---------------------------------------------------------------------
    def reset_counters(self) -> None:
        super().reset_counters()
        self.query_waits: array[float] = array("d")
        self.query_sojourns: array[float] = array("d")
        self.load_waits: array[float] = array("d")
        self.load_durations: array[float] = array("d")
        self.load_messages = 0

    @staticmethod
    def is_load(item: Item) -> bool:
        return isinstance(item.payload, DataInterval) or item.n > 1

    # ---- data path -----------------------------------------------------------------------
    def try_put(self, item: Item) -> bool:
        self.arrivals += item.n
        self.change_inside(item.n)
        self._seq += 1
        item.t_in = self.env.now
        item.attempt = self._seq  # arrival order, for FIFO across the two lines
        if self.tracing:
            self.log("arrive load" if self.is_load(item) else "arrive query", item)
        self.enqueue(item)
        return True

    def line_up(self, item: Item) -> None:
        self.line[self.is_load(item)].append(item)
        self.change_waiting(item.n)

    def peek(self) -> Item | None:
        """Queries first with priority, else the older of the two lines' heads (no overtaking)."""
        loads, queries = self.line[True], self.line[False]
        if not loads or not queries:
            return loads[0] if loads else (queries[0] if queries else None)
        if self.config.query_priority:
            return queries[0]
        return loads[0] if loads[0].attempt < queries[0].attempt else queries[0]

    def pop(self) -> Item:
        head = self.peek()
        assert head is not None
        return self.line[self.is_load(head)].popleft()

    def slots_for(self, item: Item) -> int:
        return self.config.load_slots if self.is_load(item) else 1

    def hold_time(self, item: Item) -> float:
        if self.is_load(item):
            return item.n * self.per_message + self.overhead()
        return self.query_time()

    def on_start(self, item: Item) -> None:
        now = self.env.now
        wait = now - item.t_queue
        load = self.is_load(item)
        if load:
            self.loads_running += 1
            self.load_waits.append(wait)
            item.t_queue = now  # from here on: when the load started, for its duration
        else:
            self.query_waits.append(wait)
            self._recent.append(wait)
        if self.tracing:
            self.log("start load" if load else "start query", item)

    def served(self, item: Item) -> bool:
        if self.is_load(item):
            self.load_durations.append(self.env.now - item.t_queue)
            self.load_messages += item.n
        return True

    def route(self, item: Item, later: Any) -> bool:
        """With `loads_to`, loads go to that out-edge; queries (and all without it) follow the routing."""
        if self._loads_target is not None and self.is_load(item):
            return self.deliver(self._loads_target, item, later)
        return self.forward(item, later)

    def on_left(self, item: Item, sojourn: float) -> None:
        load = self.is_load(item)
        if load:
            self.loads_running -= 1
        else:
            self.query_sojourns.append(sojourn)
        if self.tracing:
            self.log("done load" if load else "done query", item)

    # ---- results -------------------------------------------------------------------------
    def figures(self, window: float) -> dict[str, float]:
        figures = super().figures(window) | self.queue_figures(window)
        waits, sojourns = self.query_waits, self.query_sojourns
        figures |= {
            "queries_completed": float(len(sojourns)),
            "query_wait_mean_s": mean_of(waits),
            "query_wait_p50_s": percentile_of(waits, 50),
            "query_wait_p95_s": percentile_of(waits, 95),
            "query_wait_p99_s": percentile_of(waits, 99),
            "query_latency_p95_s": percentile_of(sojourns, 95),
            "loads_completed": float(len(self.load_durations)),
            "load_messages": float(self.load_messages),
            "load_wait_mean_s": mean_of(self.load_waits),
            "load_duration_mean_s": mean_of(self.load_durations),
            "load_duration_max_s": max_of(self.load_durations),
        }
        return figures

    def series_extra(self) -> dict[str, float]:
        """Gauges per sample: the p95 wait of queries started since the last sample (none: no
        data, a gap in the series), loads running."""
        recent, self._recent = self._recent, []
        return {"query_wait_p95_s": percentile_of(recent, 95), "loads_running": float(self.loads_running)}
