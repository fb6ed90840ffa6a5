"""Flow laws in the analytic view: the offered load at every stage of every kind, and what overload means.

Queueing formulas cover only the kinds that are queues; a topic's consumer group or a streaming
job saturates just as surely.  Each kind's `flow_law` names its stages and their capacity; here
the traffic equations give each node its rates in items, messages and lookups, and every stage
its rho = offered rate / capacity.  The stage with the largest rho binds the node.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from flowsim.analysis.network import solve_blocks
from flowsim.analysis.queueing import mmck_block_probability
from flowsim.engine.flow import FlowLaw, Stage, State
from flowsim.errors import FlowsimError
from flowsim.nodes.base import NodeConfig, QueueModel
from flowsim.spec.architecture import Architecture


def solve_rates(arch: Architecture, external: Mapping[str, float], passes: Mapping[str, float]) -> dict[str, float]:
    """Rates reaching each node: the solution of lambda = gamma + P^T lambda over the routing graph."""
    outs: dict[str, list[tuple[str, float]]] = {name: [] for name in arch.nodes}
    for edge in arch.edges:
        outs[edge.from_].append((edge.to, edge.weight))
    shares: dict[str, list[tuple[str, float]]] = {}
    for name, edges in outs.items():
        config = arch.nodes[name]
        total = sum(w for _, w in edges)
        shares[name] = [
            (
                target,
                passes[name]
                * (
                    1.0
                    if config.routing == "fanout"
                    else (1.0 / len(edges) if config.routing == "round_robin" else weight / total)
                ),
            )
            for target, weight in edges
        ]
    try:
        return solve_blocks(shares, external)
    except ValueError as err:
        raise FlowsimError(f"architecture '{arch.name}': {err}") from None


def solve_rates_with_drops(
    arch: Architecture, external: Mapping[str, float], passes: Mapping[str, float]
) -> dict[str, float]:
    """Items per second reaching each node when full loss nodes drop what they cannot hold.

    A node that drops when full (M/M/c/K) passes on lambda (1 - p_K) of what reaches it, and
    p_K depends on that lambda, which a loop may feed back: solved as a fixed point (damped, to
    the float's precision in a few dozen rounds).  Without such nodes, `solve_rates` itself."""
    rates = solve_rates(arch, external, passes)
    if not any(_loss_model(arch, name) is not None for name in arch.nodes):
        return rates
    for _ in range(MAX_LOSS_ROUNDS):
        shares = drop_shares(arch, rates)
        lossy = {name: passes[name] * (1.0 - shares.get(name, 0.0)) for name in arch.nodes}
        new = solve_rates(arch, external, lossy)
        change = max((abs(new[n] - rates[n]) for n in rates), default=0.0)
        rates = {n: (new[n] + rates[n]) / 2 for n in rates} if change > 0 else new
        if change <= 1e-12 * max(1.0, max(new.values(), default=0.0)):
            return new
    return rates


#: rounds of the loss fixed point before the rates it has are taken (it converges far sooner)
MAX_LOSS_ROUNDS = 200


def drop_shares(arch: Architecture, item_rates: Mapping[str, float]) -> dict[str, float]:
    """p_K of each node that drops when full (Poisson arrivals, exponential service), at its rate."""
    shares: dict[str, float] = {}
    for name, config in arch.nodes.items():
        model = _loss_model(arch, name)
        if model is not None and model.capacity is not None:
            attempts = item_rates[name] * config.attempts_per_item()
            c = int(model.servers)
            shares[name] = mmck_block_probability(attempts, 1.0 / model.service.mean(), c, model.capacity)
    return shares


def _loss_model(arch: Architecture, name: str) -> QueueModel | None:
    """The node's queue model when it is an M/M/c/K loss system (full: it drops, not blocks)."""
    config = arch.nodes[name]
    model = config.queue_model()
    if model is None or model.capacity is None or not model.exponential or math.isinf(model.servers):
        return None
    law = config.flow_law()
    if model.service.mean() <= 0 or (law is not None and any(s.on_full == "block" for s in law.stages)):
        return None
    return model


def flow_laws(arch: Architecture) -> dict[str, FlowLaw | None]:
    """Each node's flow law, given its out-edges (a topic has a stage per consumer group)."""
    outputs: dict[str, list[str]] = {name: [] for name in arch.nodes}
    for edge in arch.edges:
        outputs[edge.from_].append(edge.to)
    return {name: config.flow_law(outputs[name]) for name, config in arch.nodes.items()}


def message_rates(
    arch: Architecture,
    laws: Mapping[str, FlowLaw | None],
    load_multiplier: float = 1.0,
    only: Collection[str] | None = None,
    item_rates: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Messages per second reaching each node: what sources emit (x batch), passed on per each law.

    With `only`, the other nodes emit nothing (the share of the flow those nodes cause); with
    `item_rates`, loss nodes pass on what they do not drop at those rates (`drop_shares`).
    """

    def emits(config: NodeConfig, law: FlowLaw | None) -> float:
        return law.emits_per_s if law is not None else config.external_rate() * config.messages_per_item()

    external = {
        n: emits(c, laws[n]) * load_multiplier if only is None or n in only else 0.0 for n, c in arch.nodes.items()
    }
    passes = {n: (law.passes if law is not None else arch.nodes[n].pass_fraction()) for n, law in laws.items()}
    if item_rates is not None:  # the share each loss node drops, from the items it receives
        drops = drop_shares(arch, item_rates)
        passes = {n: rate * (1.0 - drops.get(n, 0.0)) for n, rate in passes.items()}
    return solve_rates(arch, external, passes)


def lookup_rates(arch: Architecture, item_rates: Mapping[str, float]) -> dict[tuple[str, str], float]:
    """Lookups per second each node receives through a reference field: (node, field) -> rate."""
    result: dict[tuple[str, str], float] = {}
    for name, config in arch.nodes.items():
        for ref_field, target in config.node_references().items():
            result[(target, ref_field)] = result.get((target, ref_field), 0.0) + item_rates[name]
    return result


@dataclass
class NodeFlow:
    """One node under its flow law: its rates and every stage's rho (math.inf: a stage that carries nothing)."""

    name: str
    law: FlowLaw
    items_per_s: float
    messages_per_s: float
    offered: dict[str, float] = field(default_factory=dict)  # per stage, in the stage's unit
    loads: dict[str, float] = field(default_factory=dict)
    senders: tuple[str, ...] = ()  # nodes on its in-edges (whom a full node blocks)

    @property
    def messages_per_item(self) -> float:
        return self.messages_per_s / self.items_per_s if self.items_per_s > 0 else 1.0

    @property
    def binding(self) -> Stage | None:
        if not self.law.stages:
            return None
        return self.law.stage(max(self.loads, key=lambda s: self.loads[s]))

    @property
    def rho(self) -> float | None:
        return max(self.loads.values()) if self.loads else None

    @property
    def capacity_per_s(self) -> float | None:
        """Messages per second of the node's own flow at which it saturates (None: no limit)."""
        cap = self.law.capacity(messages_per_item=self.messages_per_item)
        return None if math.isinf(cap) else cap

    def delay_s(self) -> float | None:
        """Mean time in the node by its law, below saturation."""
        rho = self.rho
        if rho is not None and rho >= 1:
            return None
        mean = self.law.delay.mean_s(self.items_per_s, self.messages_per_item)
        return mean if math.isfinite(mean) else None

    def warning(self, head: str | None = None) -> str | None:
        """What happens at the binding stage when rho >= 1, or None below saturation.

        `head` replaces the opening "'x' is overloaded (rho = ...)" (a time-varying load says when).
        """
        stage, rho = self.binding, self.rho
        if stage is None or rho is None or rho < 1:
            return None
        where = f"at {stage.name}" if "'" in stage.name else f"at its {stage.name}"
        if math.isinf(rho):
            return (
                f"'{self.name}' cannot carry any flow {where}: its fixed work alone needs more than its "
                f"{stage.units:g} {stage.unit_name}" + (f" ({stage.note})" if stage.note else "")
            )
        effect = _effect(stage, self.senders)
        head = head or f"'{self.name}' is overloaded (rho = {rho:.2f} >= 1)"
        return f"{head} {where}: {effect}; {self._need(stage)}"

    def _need(self, stage: Stage) -> str:
        offered = self.offered[stage.name]
        if stage.hot_share is not None:
            return f"its busiest of {stage.units:g} {stage.unit_name} carries {stage.hot_share:.0%} of the flow"
        need = math.floor(stage.reserved + offered / stage.rate) + 1
        text = f"it needs at least {need} {stage.unit_name} at this load"
        if stage.ceiling is not None:
            at_ceiling = offered / stage.capacity(State(servers=stage.ceiling))
            text += f"; scaled to its ceiling of {stage.ceiling:g} it would run at rho = {at_ceiling:.2f}"
        return text


def _effect(stage: Stage, senders: tuple[str, ...]) -> str:
    inside = f" once {stage.buffer:g} messages are inside" if stage.buffer is not None else ""
    held = ", ".join(f"'{s}'" for s in senders) or "upstream"
    effect = {
        "drop": f"it drops what arrives{inside}",
        "block": f"it blocks its senders{inside} (backpressure on {held})",
        "queue": "its backlog grows without bound",
    }[stage.on_full]
    return effect + (f" ({stage.note})" if stage.note else "")


def node_flows(
    arch: Architecture,
    item_rates: Mapping[str, float],
    load_multiplier: float = 1.0,
    only: Collection[str] | None = None,
) -> dict[str, NodeFlow]:
    """Every node with a flow law, with the offered load at each of its stages.

    `only` restricts the messages emitted to those nodes (`item_rates` must match).
    """
    laws = flow_laws(arch)
    messages = message_rates(arch, laws, load_multiplier, only, item_rates)
    lookups = lookup_rates(arch, item_rates)
    senders: dict[str, list[str]] = {name: [] for name in arch.nodes}
    for edge in arch.edges:
        senders[edge.to].append(edge.from_)
    by_target: dict[str, dict[str, float]] = {name: {} for name in arch.nodes}  # one pass, not one per node
    for (target, ref_field), rate in lookups.items():
        by_target.setdefault(target, {})[ref_field] = rate
    flows: dict[str, NodeFlow] = {}
    for name, law in laws.items():
        if law is None:
            continue
        flow = NodeFlow(name, law, item_rates[name], messages[name], senders=tuple(dict.fromkeys(senders[name])))
        fields = by_target[name]
        flow.offered = law.offered(flow.items_per_s, flow.messages_per_s, fields)
        flow.loads = law.loads(flow.offered)
        flows[name] = flow
    return flows
