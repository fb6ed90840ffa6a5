"""`sink`: where work leaves the system; end-to-end latency is measured here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from flowsim.engine.flow import FlowLaw
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import register


@register
class SinkConfig(NodeConfig):
    """Models: where work leaves the system. Counts messages and records each item's end-to-end
    latency: the time now minus the time its source created it.

    Leaves out: nothing to configure; a dead-letter target is a sink too.
    """

    summary = "end of a path: counts items and records end-to-end latency"
    gives_output = False

    kind: Literal["sink"]

    def runtime_class(self) -> type[NodeRuntime]:
        return SinkNode

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """Unbounded: items end here at once."""
        return FlowLaw(passes=0.0, note="unbounded: items end here")


class SinkNode(NodeRuntime):
    measures_latency = True

    def try_put(self, item: Item) -> bool:
        self.arrivals += item.n
        self.completed += item.n
        self.latencies.append(self.env.now - item.born)
        if self.tracing:
            self.log("sink", item)
        return True
