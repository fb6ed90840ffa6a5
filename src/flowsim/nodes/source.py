"""`source`: where work enters — Poisson arrivals at a `rate`, or any interarrival law.

When the first node downstream is full and blocks, the source pauses (a producer that blocks
on a full buffer) and resumes when room frees: blocked time is reported, nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from flowsim.distributions import Distribution, Exponential
from flowsim.engine.context import SimContext
from flowsim.engine.flow import FlowLaw
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import register
from flowsim.units import Duration, Rate


@register
class SourceConfig(NodeConfig):
    """Models: external demand. Poisson when given a `rate`; any renewal process with `interarrival`;
    `batch` messages per work item. When the first node downstream is full and blocks, the source
    pauses (a producer blocked on a full buffer) and `blocked_time_s` grows; nothing is lost.

    Leaves out: rates that vary within one run (use `load.multiplier` or several sources with
    `start`/`stop`), correlated bursts.
    """

    summary = "external arrivals: Poisson `rate` or an `interarrival` distribution, in batches"
    takes_input = False

    kind: Literal["source"]
    rate: Rate | None = Field(None, gt=0, description="Poisson arrivals, e.g. 250/s")
    interarrival: Distribution | None = Field(None, description="time between arrivals, any law")
    batch: int = Field(1, ge=1, description="messages per work item (producer batching)")
    start: Duration = Field(0.0, ge=0, description="first arrival not before this time")
    stop: Duration | None = Field(None, gt=0, description="no arrivals after this time")
    limit: int | None = Field(None, ge=1, description="stop after this many items")

    @model_validator(mode="after")
    def _one_law(self) -> SourceConfig:
        if (self.rate is None) == (self.interarrival is None):
            raise ValueError("give exactly one of 'rate' (e.g. 250/s) or 'interarrival' (a distribution)")
        if self.interarrival is not None and self.interarrival.mean() <= 0:
            raise ValueError("the mean interarrival time must be above 0 (arrivals at one instant never end)")
        return self

    def law(self) -> Distribution:
        if self.interarrival is not None:
            return self.interarrival
        return Exponential(dist="exponential", rate=self.rate)

    def external_rate(self) -> float:
        mean = self.law().mean()
        return 1.0 / mean if mean > 0 else float("inf")

    def always_on(self) -> bool:
        return self.start == 0 and self.stop is None and self.limit is None

    def messages_per_item(self) -> float:
        return float(self.batch)

    def runtime_class(self) -> type[NodeRuntime]:
        return SourceNode

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """Demand, not a limit: the law states only what it emits (items per second x batch)."""
        return FlowLaw(
            emits_per_s=self.external_rate() * self.batch,
            note="demand: no capacity of its own; it pauses (nothing lost) while the next node blocks",
        )


class SourceNode(NodeRuntime):
    config: SourceConfig

    def __init__(self, name: str, config: SourceConfig, ctx: SimContext) -> None:
        self._holding = 0
        super().__init__(name, config, ctx)
        scale = 1.0 / ctx.load_multiplier
        draw = config.law().sampler(ctx.rng(name, "arrivals"))
        self.interarrival = draw if scale == 1.0 else (lambda: draw() * scale)
        self.batch = config.batch
        self.stop = config.stop if config.stop is not None else float("inf")
        self.limit = config.limit if config.limit is not None else -1
        self.generated = 0

    def start(self) -> None:
        first = self.env.timeout(self.config.start + self.interarrival())
        first.callbacks.append(self._arrive)

    def _schedule(self) -> None:
        self.env.timeout(self.interarrival()).callbacks.append(self._arrive)

    def _arrive(self, _event: object) -> None:
        now = self.env.now
        if now > self.stop or self.generated == self.limit:
            return
        self.generated += 1
        item = Item(now, self.batch, self.generated)
        self.arrivals += self.batch
        if self.tracing:
            self.log("emit", item)
        if self.forward(item, self._unblocked):
            self.completed += self.batch
            self.env.timeout(self.interarrival()).callbacks.append(self._arrive)
        else:
            self._holding = self.batch

    def _unblocked(self, item: Item, _t_in: float) -> None:
        self._holding = 0
        self.completed += item.n
        self._schedule()

    def inside(self) -> int:
        return self._holding
