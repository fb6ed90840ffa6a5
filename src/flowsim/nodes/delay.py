"""`delay`: every item waits a drawn time, with no queue (a network hop, a fixed pipeline stage)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from flowsim.distributions import Distribution
from flowsim.engine.context import SimContext
from flowsim.engine.flow import Delay, FlowLaw
from flowsim.engine.holding import HoldingRuntime
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
    keeps_items = True

    kind: Literal["delay"]
    time: Distribution = Field(description="how long each item is held")

    def runtime_class(self) -> type[NodeRuntime]:
        return DelayNode

    def queue_model(self) -> QueueModel:
        return QueueModel(math.inf, self.time)

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """M/G/inf: every item waits its own draw, never behind another, so nothing limits the flow."""
        return FlowLaw(delay=Delay(service_s=self.time.mean(), scv=self.time.scv()), note="M/G/inf: no capacity limit")


class DelayNode(HoldingRuntime):
    config: DelayConfig

    def __init__(self, name: str, config: DelayConfig, ctx: SimContext) -> None:
        super().__init__(name, config, ctx)
        self.hold = config.time.sampler(ctx.rng(name, "delay"))

    def try_put(self, item: Item) -> bool:
        self.admit(item)
        self.env.timeout(self.hold(), item).callbacks.append(self._done)
        return True

    def _done(self, event: object) -> None:
        self.pass_on(event._value)  # type: ignore[attr-defined]
