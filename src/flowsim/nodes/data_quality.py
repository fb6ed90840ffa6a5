"""`data_quality`: a check on the records passing through, quarantining those that fail.

Each record of an arriving item fails the check with probability `fail_rate` (the count is a
binomial draw per item; exact when the rate is 0 or 1).  The records that pass go on; the
failed ones are quarantined: counted as dead-lettered and sent to the `dead_letter` sink when
one is named (a quarantine table), so they stay in the counting identity.  With
`fail_batch_above`, an item whose failed share exceeds it fails as a whole (a batch or DAG run
whose expectation suite fails, as a Great Expectations checkpoint or a dbt test with
`severity: error` stops the load): all its records are quarantined.  The check takes
`check_time` per item, with no limit on items checked at once.

A node rather than an option on one kind: the same check sits after a stream processor, a
service or a batch DAG, and its quarantine is an ordinary dead-letter sink that every kind's
counting already knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from flowsim.distributions import Constant, Distribution
from flowsim.engine.context import SimContext
from flowsim.engine.figures import Figure
from flowsim.engine.flow import Delay, FlowLaw
from flowsim.engine.holding import HoldingRuntime
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import register
from flowsim.units import Number


@register
class DataQualityConfig(NodeConfig):
    """A record-level data-quality check that quarantines failing records, or whole failing batches.

    Models: a failure probability per record, a batch threshold above which the whole item is
    quarantined, a check time per item, and a quarantine sink.

    Leaves out: which expectation fails (one rate for all), failures that depend on the data's
    source or time, and repair or replay of quarantined records.
    """

    summary = "data-quality check: failing records (or whole batches) quarantined to a dead-letter sink"
    keeps_items = True
    kind_figures = (
        Figure("records_failed", "messages", "records that failed the check and were quarantined", True),
        Figure("batches_failed", "items", "items quarantined whole (failed share above fail_batch_above)", True),
    )  # fmt: skip
    reference_kinds: ClassVar[dict[str, tuple[str, ...]]] = {"dead_letter": ("sink",)}

    kind: Literal["data_quality"]
    fail_rate: Number = Field(0.0, ge=0, le=1, description="probability that one record fails the check")
    fail_batch_above: Number | None = Field(
        None, ge=0, lt=1, description="an item whose failed share exceeds this is quarantined whole"
    )
    check_time: Distribution = Field(default_factory=lambda: Constant(value=0.0), description="time to check one item")
    dead_letter: str | None = Field(None, description="sink that receives quarantined records")

    def runtime_class(self) -> type[NodeRuntime]:
        return DataQualityNode

    def node_references(self) -> dict[str, str]:
        return {"dead_letter": self.dead_letter} if self.dead_letter else {}

    def pass_fraction(self) -> float:
        """1 - fail_rate; with `fail_batch_above` fewer pass (whole batches fail), by an amount that
        depends on the batch sizes: the figure is then an upper bound."""
        return 1.0 - self.fail_rate

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """No capacity limit; a check time each; 1 - fail_rate of the records go on."""
        law = self.check_time
        return FlowLaw(delay=Delay(service_s=law.mean(), scv=law.scv()), passes=self.pass_fraction())


class DataQualityNode(HoldingRuntime):
    """Runtime of `data_quality`; see the module docstring."""

    config: DataQualityConfig

    def __init__(self, name: str, config: DataQualityConfig, ctx: SimContext) -> None:
        super().__init__(name, config, ctx)
        self._rng = ctx.rng(name, "checks")
        self.check_time = config.check_time.sampler(ctx.rng(name, "check time"))
        self._instant = isinstance(config.check_time, Constant) and config.check_time.value == 0

    def reset_counters(self) -> None:
        super().reset_counters()
        self.records_failed = self.batches_failed = 0

    def try_put(self, item: Item) -> bool:
        self.admit(item)
        if self._instant:
            self._check(item)
        else:
            self.call_later(self.check_time(), self._checked, item)
        return True

    def _checked(self, timer: Any) -> None:
        self._check(timer._value)

    def _check(self, item: Item) -> None:
        n, rate = item.n, self.config.fail_rate
        failed = 0 if rate <= 0 else n if rate >= 1 else int(self._rng.binomial(n, rate))
        self.records_failed += failed
        limit = self.config.fail_batch_above
        if failed and limit is not None and failed > limit * n:
            self.batches_failed += 1
            failed = n
        if failed:
            self._quarantine(item, failed)
        if failed < n:
            item.n = n - failed
            self.pass_on(item)

    def _quarantine(self, item: Item, count: int) -> None:
        self.change_inside(-count)
        self.dead_lettered += count
        held = item.copy()
        held.n = count
        if self.tracing:
            self.log(f"quarantine {count} of {item.n}", held)
        self.send_dead_letter(held)

    def figures(self, window: float) -> dict[str, float]:
        return super().figures(window) | {"records_failed": self.records_failed, "batches_failed": self.batches_failed}
