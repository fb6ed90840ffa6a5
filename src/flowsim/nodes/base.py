"""What every node kind declares: its config (the YAML side) and its runtime (the SimPy side)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from flowsim.cost import Price, Unit
from flowsim.distributions import BaseDistribution, Constant, Exponential
from flowsim.engine.figures import Figure
from flowsim.engine.flow import FlowLaw
from flowsim.specmodel import SpecModel

if TYPE_CHECKING:
    from flowsim.engine.context import SimContext
    from flowsim.engine.node import NodeRuntime


@dataclass(frozen=True)
class QueueModel:
    """How the analytic view sees a node: c servers, a service-time law, a capacity."""

    servers: float  # math.inf for a pure delay
    service: BaseDistribution
    capacity: int | None = None

    @property
    def exponential(self) -> bool:
        return isinstance(self.service, Exponential)

    @property
    def deterministic(self) -> bool:
        return isinstance(self.service, Constant)


class NodeConfig(SpecModel):
    """Fields every kind accepts, plus the class-level facts the graph layer checks."""

    kind: str
    description: str = Field("", description="free text shown in tables and diagrams")
    routing: Literal["random", "fanout", "round_robin"] = Field(
        "random",
        description="random: out-edges chosen by weight; fanout: a copy to each; round_robin: in turn",
    )
    price: Price | None = Field(None, description="what the node costs per unit per hour (see flowsim.cost)")
    #: what `cost_units` counts (a service's servers: "server"); None: one unit of anything
    billed_unit: ClassVar[Unit | None] = None

    #: the kind takes items in (sources do not)
    takes_input: ClassVar[bool] = True
    #: the kind sends items on (sinks do not)
    gives_output: ClassVar[bool] = True
    #: the kind can be taken down by a fault
    can_fail: ClassVar[bool] = False
    #: one line for `flowsim kinds`
    summary: ClassVar[str] = ""
    #: reference fields that carry control signals rather than data, and the kinds they may name
    reference_kinds: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: control signals the kind takes (its runtime implements `signal` for them)
    signals_in: ClassVar[tuple[str, ...]] = ()
    #: the items it sends on are control payloads (model versions), not data: the scenario totals
    #: count them apart, on every node they alone reach (`Architecture.control_nodes`)
    emits_control: ClassVar[bool] = False
    #: items leave it no larger than they came (it passes them on whole, or smaller): an item's
    #: size at a node downstream is bounded by the batch of the source it came from
    keeps_items: ClassVar[bool] = False
    #: the figures of its own the kind reports in `kind_figures` (flowsim.engine.figures): its
    #: runtime's `figures()` returns exactly these beside the figures every kind reports
    kind_figures: ClassVar[tuple[Figure, ...]] = ()

    def runtime_class(self) -> type[NodeRuntime]:
        """The kind's runtime (checked against the duties above when a model is built)."""
        raise NotImplementedError(f"kind '{self.kind}' names no runtime class")

    def runtime(self, name: str, ctx: SimContext) -> NodeRuntime:
        """Build this node's behaviour for one replication."""
        return self.runtime_class()(name, self, ctx)

    def external_rate(self) -> float:
        """Items per second this node creates on its own (sources)."""
        return 0.0

    def feeds_from(self, target: str) -> float:
        """Time before which the edge to `target` carries nothing (a consumer group that starts late)."""
        return 0.0

    def always_on(self) -> bool:
        """False for a source active only part of the run: steady-state rates then overstate it."""
        return True

    def messages_per_item(self) -> float:
        return 1.0

    def queue_model(self) -> QueueModel | None:
        """The node as a queue, for the analytic view; None when it is not one."""
        return None

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw | None:
        """What the node can carry, how long it holds it and what it does when full (None: no law yet).

        `outputs` names the out-edges' targets, for kinds with a stage per out-edge (a topic's
        consumer groups); without them such a kind states the stages its configuration names.
        """
        return None

    def pass_fraction(self) -> float:
        """Share of arriving items that leave on the out-edges (the rest fail for good)."""
        return 1.0

    def attempts_per_item(self) -> float:
        """Mean attempts per arriving item (1 without retries)."""
        return 1.0

    def edge_problems(self, outputs: list[str]) -> list[tuple[str, str, str]]:
        """Checks that need the node's out-edges: (field, message, hint) for each problem."""
        return []

    def fault_part_problem(self, group: str, first: int, count: int, outputs: list[str]) -> tuple[str, str, str] | None:
        """A fault naming consumers of `group`: (field, message, hint) when they do not exist."""
        return "group", f"a {self.kind} has no consumer groups", "'group' applies to faults on a kafka_topic"

    def fault_broker_problem(self, broker: int) -> tuple[str, str] | None:
        """A fault naming a broker of this node: (message, hint) when it has no such broker."""
        return f"a {self.kind} has no brokers", "'broker' applies to faults on a kafka_topic with a brokers block"

    def figure_never_reported(self, figure: Figure, key: str, fault_groups: set[str]) -> tuple[str, str] | None:
        """A conditional figure (`Figure.only_with`) this config never reports: (why, what to add).

        `key` is the figure's result key (`rebalances.enrich`); `fault_groups` the consumer groups of
        this node that a fault names.  None: reported, or not known before the run."""
        return None

    def timer_copies(self, outputs: Sequence[str]) -> dict[str, float]:
        """How many copies of a timer field run at once, by its path within the config (for the
        run-size estimate; a field not named runs once): one per consumer, one per group, ..."""
        return {}

    def events_per_item(self) -> float:
        """Simulation events one arriving item costs here (for the run-size estimate)."""
        return 1.0 if self.gives_output else 0.0

    def cost_units(self) -> float:
        """How many units a `price` bills when it names no `units`: kinds that scale override it
        (and say in `billed_unit` what they count)."""
        return 1.0

    def horizon_warnings(self, name: str, horizon: float) -> list[str]:
        """What the run's length means for this node that a user would not guess (a source that
        starts after the end sends nothing): warnings, which `validate --strict` fails on."""
        return []

    def formula_leaves_out(self) -> str | None:
        """What the node does that its queueing formula (`queue_model`) does not describe, such as
        attempts abandoned at a timeout: its prediction is then approximate, with this reason."""
        return None

    def link_warnings(self, name: str, nodes: Mapping[str, NodeConfig]) -> list[str]:
        """What an optional reference left out switches off without a word (a drift monitor with no
        `trigger` never gets a retrain): warnings, with the field to set."""
        return []

    def horizon_notes(self, name: str, horizon: float) -> list[str]:
        """Facts of the model that change this run's figures and are not problems (a simplification a
        user may want to switch off): notes, which `validate --strict` passes."""
        return []

    def node_references(self) -> dict[str, str]:
        """Other nodes this one names in its fields, by field (e.g. dead_letter)."""
        return {}
