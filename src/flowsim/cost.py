"""What a design costs to run, so "the cheapest design that meets the SLOs" is a question flowsim answers.

A node may carry a `price`: currency units per billed unit per hour.  How many units are billed
is the price's own `units` when given, else what the kind counts (`NodeConfig.cost_units`: a
service's `servers`; 1 for kinds that count nothing).  A run's cost is

    per_hour = sum over priced nodes of price.per_hour * units
    total    = per_hour * window hours   (the measured window, warm-up excluded)

Storage is priced the same way: `unit: gb`, `units: <GB stored>`, `per_hour: <price per GB-hour>`
(a per-GB-month price divided by 730).  Cost is a property of the design, not of chance, so it
has no confidence interval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field, model_validator

from flowsim.specmodel import SpecModel
from flowsim.units import Number

if TYPE_CHECKING:
    from flowsim.spec.architecture import Architecture

Unit = Literal["server", "replica", "partition", "slot", "gpu", "node", "gb"]
SECONDS_PER_HOUR = 3600.0
COST_FIGURES = ("total", "per_hour")


class Price(SpecModel):
    """The price of one node, e.g. `{per_hour: 0.12}` per server or `{per_hour: 2.5, unit: gpu}`."""

    per_hour: Number = Field(ge=0, description="currency units per billed unit per hour")
    unit: Unit | None = Field(
        None,
        description="what one unit is: server, replica, partition, slot, gpu, node, gb; default: what the kind "
        "counts (a service's servers, a topic's partitions)",
    )
    units: Number | None = Field(
        None, gt=0, description="units billed; default: what the kind counts (a service's servers), else 1"
    )

    @model_validator(mode="after")
    def _storage_needs_size(self) -> Price:
        if self.unit == "gb" and self.units is None:
            raise ValueError(
                "a per-GB price needs 'units': the GB stored, e.g. {per_hour: 0.0001, unit: gb, units: 500}"
            )
        return self


class CostReport(BaseModel):
    """What the run's design costs: per hour, over the measured window, and per priced node."""

    total: float = Field(description="cost of the measured window (per_hour x window hours)")
    per_hour: Number = Field(description="cost of one hour of the design")
    hours: float = Field(description="length of the measured window in hours")
    by_node: dict[str, float] = Field(default={}, description="per-hour cost of each priced node")


def node_cost_per_hour(price: Price, counted_units: float) -> float:
    """One node's hourly cost: an explicit `units` wins over what the kind counts."""
    units = price.units if price.units is not None else counted_units
    return price.per_hour * units


def cost_report(arch: Architecture, window_s: float, measured: dict[str, float] | None = None) -> CostReport:
    """The design's cost; zero (and no `by_node`) when no node carries a price.

    `measured` holds units a run observed (an autoscaled pool's time-weighted replicas); they
    replace the configured count, so a design is billed for what it actually ran.
    """
    measured = measured or {}
    by_node = {
        name: node_cost_per_hour(config.price, measured.get(name, config.cost_units()))
        for name, config in arch.nodes.items()
        if config.price is not None
    }
    per_hour = sum(by_node.values())
    hours = window_s / SECONDS_PER_HOUR
    return CostReport(total=per_hour * hours, per_hour=per_hour, hours=hours, by_node=by_node)
