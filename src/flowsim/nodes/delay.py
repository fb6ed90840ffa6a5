"""`delay`: every item waits a drawn time, with no queue (a network hop, a fixed pipeline stage)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from flowsim.distributions import Distribution
from flowsim.engine.context import SimContext
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.nodes.base import NodeConfig, QueueModel
from flowsim.nodes.registry import register


@register
class DelayConfig(NodeConfig):
    """Models: a hop with latency but no contention (a network, a fixed pipeline stage): infinitely
    many servers, so it never queues.

    Leaves out: capacity and failures; put a `service` after it to bound it.
    """

    summary = "a pure delay with unlimited parallelism (network hop, fixed stage)"

    kind: Literal["delay"]
    time: Distribution = Field(description="how long each item is held")

    def runtime(self, name: str, ctx: SimContext) -> NodeRuntime:
        return DelayNode(name, self, ctx)

    def queue_model(self) -> QueueModel:
        return QueueModel(math.inf, self.time)


class DelayNode(NodeRuntime):
    config: DelayConfig

    def __init__(self, name: str, config: DelayConfig, ctx: SimContext) -> None:
        self.n_inside = 0
        super().__init__(name, config, ctx)
        self.hold = config.time.sampler(ctx.rng(name, "delay"))

    def try_put(self, item: Item) -> bool:
        self.arrivals += item.n
        self.n_inside += item.n
        item.t_in = self.env.now
        self.env.timeout(self.hold(), item).callbacks.append(self._done)
        return True

    def _done(self, event: object) -> None:
        item: Item = event._value  # type: ignore[attr-defined]
        t_in = item.t_in
        if self.forward(item, self._left):
            self._left(item, t_in)

    def _left(self, item: Item, t_in: float) -> None:
        self.n_inside -= item.n
        self.completed += item.n
        self.sojourns.append(self.env.now - t_in)

    def inside(self) -> int:
        return self.n_inside
