"""Flow laws: what a node can carry, how long it holds what it carries, and what it does when full.

Every kind states its law once, from its configuration (`NodeConfig.flow_law`).  The analytic
view reads it for every kind (offered load, the bottleneck, overload warnings), and an engine that
moves flows rather than items can evaluate it over time, because capacity takes the node's state
(down, slowed down, scaled).  The engine layer sits below the kinds: this module knows numbers
only, nothing of specs or node classes.

A node's capacity is the least of its stages' (a topic: its partition writes, and per consumer
group the consumers' processing).  Each stage is `units` parallel workers completing `rate` units
of work per second each, where the unit is a message, an item (whatever its size: a service
serves a request, not its bytes) or a lookup made by other nodes (a feature store's reads).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: full means: drop what does not fit (counted), block the sender (backpressure), or let the
#: backlog grow without bound (an unbounded queue, a log whose consumers fall behind)
Full = Literal["drop", "block", "queue"]
#: what one unit of a stage's work is
Per = Literal["message", "item", "lookup"]


@dataclass(frozen=True)
class State:
    """The node's condition now: down, slowed by a brownout, or running another number of servers."""

    down: bool = False
    slowdown: float = 1.0  # work takes this many times longer
    servers: float | None = None  # servers / replicas / tasks / slots now (None: as configured)


NOMINAL = State()


def per_second(seconds: float) -> float:
    """Units one worker completes per second when each takes `seconds` (math.inf for no time)."""
    return 1.0 / seconds if seconds > 0 else math.inf


@dataclass(frozen=True)
class Stage:
    """One limit inside a node: `units` workers, each completing `rate` units of `per` a second.

    `hot_share` is the share of the flow on the busiest unit when it is not spread evenly (a
    skewed partitioner, consumers with uneven partition counts); that unit then limits the stage.
    `reserved` units are taken by fixed work whatever the flow (a batch run's fixed part).
    """

    name: str
    units: float
    rate: float  # per unit per second; math.inf: no limit
    per: Per = "message"
    unit_name: str = "servers"
    hot_share: float | None = None
    reserved: float = 0.0
    buffer: float | None = None  # messages held before `on_full` applies; None: unbounded
    on_full: Full = "queue"
    scalable: bool = False  # State.servers replaces `units`
    ceiling: float | None = None  # most units it may scale to (an autoscaler's max replicas)
    slows: bool = True  # a brownout stretches its work
    fed_by: str | None = None  # per == "lookup": items of the nodes naming this node in that field
    note: str = ""  # what overload means here, for warnings

    def capacity(self, state: State = NOMINAL) -> float:
        """Most units of `per` completed per second (math.inf: no limit)."""
        if state.down:
            return 0.0
        rate = self.rate / state.slowdown if self.slows else self.rate
        if math.isinf(rate):
            return math.inf
        if self.scalable and state.servers is not None:
            return max(state.servers - self.reserved, 0.0) * rate
        if self.hot_share is not None:
            return rate / self.hot_share if self.hot_share > 0 else math.inf
        return max(self.units - self.reserved, 0.0) * rate


def bulk(name: str, units: float, fixed: float, per_message_s: float, **fields: Any) -> Stage:
    """A batch stage: fixed work takes `fixed` of its units whatever the flow (run-seconds per
    second) and each message `per_message_s`, so it carries (units - fixed) / per_message_s."""
    # no per-message work: any flow, or none at all when the fixed work alone outgrows the units
    rate = 1.0 / per_message_s if per_message_s > 0 else (math.inf if fixed < units else 0.0)
    return Stage(name, units, rate, reserved=fixed, **fields)


@dataclass(frozen=True)
class Delay:
    """Mean time in the node below saturation: a wait for one of `servers`, service, then holds.

    servers = math.inf is a pure delay (M/G/inf); finite servers wait as M/M/c (Erlang C) scaled
    by the Allen-Cunneen factor (1 + scv) / 2; with `split` > 1 each of that many queues (a
    keyed task) gets its share of the flow.  `hold_s` adds a fixed wait (linger, a trigger, a
    commit) and `hold_per_rate_s` one that grows with the arrival rate in messages per second
    (a micro-batch or a batch run takes longer the more data it gets).
    """

    servers: float = math.inf
    service_s: float = 0.0  # mean work per item; per message when per_message
    scv: float = 1.0
    per_message: bool = False
    hold_s: float = 0.0
    hold_per_rate_s: float = 0.0
    split: float = 1.0  # the flow is spread evenly over this many independent queues (keyed tasks)

    def mean_s(self, items_per_s: float, messages_per_item: float = 1.0) -> float:
        """Mean seconds in the node (math.inf when the servers are saturated)."""
        service = self.service_s * (messages_per_item if self.per_message else 1.0)
        hold = self.hold_s + self.hold_per_rate_s * items_per_s * messages_per_item
        items_per_s /= self.split
        if math.isinf(self.servers) or service <= 0 or items_per_s <= 0:
            return service + hold
        c, a = int(self.servers), items_per_s * service
        if a >= c:
            return math.inf
        from flowsim.analysis.queueing import erlang_b as loss  # local: the analytic layer imports this one

        erlang_b = loss(c, a)  # the recursion, or the closed form past 10,000 servers
        erlang_c = c * erlang_b / (c - a * (1 - erlang_b))
        wait = erlang_c / (c / service - items_per_s)  # Wq = C / (c mu - lambda)
        return service + wait * (1 + self.scv) / 2 + hold


@dataclass(frozen=True)
class FlowLaw:
    """A node's flow law: its stages (capacity is the least), its delay, what it emits and passes.

    No stages means no limit (a sink, a delay, a source: demand, not a constraint).
    `emits_per_s` counts messages the node creates at load multiplier 1 (a source's rate x batch);
    `passes` is the share of arriving messages it sends on (a merge that sends nothing on: 0).
    """

    stages: tuple[Stage, ...] = ()
    delay: Delay = field(default_factory=Delay)
    emits_per_s: float = 0.0
    passes: float = 1.0
    note: str = ""

    def capacity(self, state: State = NOMINAL, messages_per_item: float = 1.0) -> float:
        """Messages per second the node's own flow can reach (lookup stages aside; math.inf: none)."""
        own = [s for s in self.stages if s.per != "lookup"]
        return min((s.capacity(state) * (messages_per_item if s.per == "item" else 1.0) for s in own), default=math.inf)

    def offered(
        self, items_per_s: float, messages_per_s: float, lookups: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        """The rate offered to each stage in its own unit (lookups: per referencing field)."""
        rates = {"item": items_per_s, "message": messages_per_s}
        return {
            s.name: rates[s.per] if s.per in rates else (lookups or {}).get(s.fed_by or "", 0.0) for s in self.stages
        }

    def loads(self, offered: Mapping[str, float], state: State = NOMINAL) -> dict[str, float]:
        """Offered load rho per stage (math.inf: a stage that carries nothing, e.g. while down)."""
        result = {}
        for stage in self.stages:
            rate, cap = offered.get(stage.name, 0.0), stage.capacity(state)
            result[stage.name] = 0.0 if rate <= 0 or math.isinf(cap) else (rate / cap if cap > 0 else math.inf)
        return result

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)
