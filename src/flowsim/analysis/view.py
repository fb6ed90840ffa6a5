"""The analytic view of an architecture: what queueing theory predicts before anything runs.

Arrival rates come from the traffic equations over the routing graph.  Every kind's flow law
(`analysis.loads`) gives each node its offered load rho at every stage, so the bottleneck,
the headroom and the overload warnings cover topics, streaming jobs and batch kinds too.  Each
queue-like node is then matched with the strongest formula that applies (M/M/c, M/M/c/K,
M/G/1, or the Allen-Cunneen approximation).  A prediction is marked `exact` only when the
network is one the formula covers exactly (Poisson sources, no retries, product-form upstream);
a node that blocks its senders when full is not a loss system, so M/M/c/K does not describe it.

A source whose rate varies over time (a profile, a trace, an MMPP) enters at its **peak** rate
(`rate_basis: "peak"`): capacity is planned for the busiest moment, so rho, the bottleneck, the
headroom and the predictions describe every source at its peak at once; each source's entry also
gives its mean, and an overload warning says when the node first saturates (`analysis.timing`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, Field

from flowsim.analysis import queueing as q
from flowsim.analysis.arrivals import Arrivals, arrival_processes
from flowsim.analysis.loads import NodeFlow, node_flows, solve_rates_with_drops
from flowsim.analysis.streaming import GroupEstimate, group_estimates
from flowsim.analysis.timing import Timing, clock, load_timings, varies
from flowsim.graph import reachable, successors
from flowsim.nodes.base import NodeConfig, QueueModel
from flowsim.nodes.source import SourceConfig
from flowsim.policies import RetryPolicy
from flowsim.spec.architecture import Architecture
from flowsim.units import format_duration


class Prediction(BaseModel):
    """Steady-state means predicted for one node (items, seconds)."""

    formula: str
    exact: bool
    wait_s: float
    sojourn_s: float
    mean_queue_length: float
    mean_in_node: float
    drop_probability: float = 0.0
    why: str = Field("", description="what the formula leaves out, when it is not exact (e.g. arrivals not Poisson)")


class NodeAnalysis(BaseModel):
    arrival_rate_per_s: float = Field(description="items per second reaching the node (traffic equations)")
    attempt_rate_per_s: float = Field(description="attempts per second, retries included")
    servers: float | None = None
    utilization: float | None = Field(None, description="offered load rho = attempt rate x mean service / servers")
    prediction: Prediction | None = None
    message_rate_per_s: float | None = Field(None, description="messages per second reaching the node")
    offered_load: float | None = Field(
        None, description="rho at the binding stage of the node's flow law: offered rate / capacity (any kind)"
    )
    binding_stage: str | None = Field(None, description="the stage with the largest rho, e.g. consumer group 'x'")
    stage_loads: dict[str, float] = Field(default={}, description="rho at each stage of the flow law")
    capacity_per_s: float | None = Field(
        None, description="messages per second at which the node's own flow saturates (none: no limit)"
    )
    on_full: Literal["drop", "block", "queue"] | None = Field(
        None, description="what the binding stage does when full: drop, block its senders, or let the backlog grow"
    )
    delay_s: float | None = Field(None, description="mean time in the node by its flow law, below saturation")
    mean_arrival_rate_per_s: float | None = Field(
        None, description="items per second reaching the node with every source at its mean rate over the run"
    )
    mean_rate_per_s: float | None = Field(None, description="a source: items per second on average over rate_window_s")
    peak_rate_per_s: float | None = Field(None, description="a source: items per second at its busiest moment")
    peak_at_s: float | None = Field(
        None, description="a source: when its rate first peaks; an overloaded node: when its rho peaks over time"
    )
    rate_window_s: list[float] | None = Field(
        None, description="a source: the span [from, to] its mean and peak describe (start..stop, or whole days)"
    )
    saturates_at_s: float | None = Field(
        None, description="an overloaded node under time-varying sources: when its rho first reaches 1"
    )


class AnalyticView(BaseModel):
    nodes: dict[str, NodeAnalysis]
    rate_basis: Literal["peak"] = Field(
        "peak", description="sources whose rate varies enter at their peak rate (each source's mean is beside it)"
    )
    bottleneck: str | None = None
    bottleneck_utilization: float | None = None
    bottleneck_stage: str | None = Field(None, description="the bottleneck's binding stage")
    max_load_multiplier: float | None = Field(
        None, description="largest factor on every source's rate that keeps every node below rho = 1"
    )
    max_input_rate_per_s: float | None = None
    network_sojourn_s: float | None = Field(
        None,
        description="mean time in the network per message that enters, L / lambda (Little's law): "
        "with drops, one dropped on arrival counts 0 s, so it is below the delivered messages' latency",
    )
    network_sojourn_adds_copies: bool = Field(
        False, description="a fan-out copies messages: network_sojourn_s adds up the times of a message's copies"
    )
    warnings: list[str] = Field(default=[])
    notes: list[str] = Field(
        default=[],
        description="facts that are not problems: a node that receives nothing in this run because of a start time",
    )
    streaming: list[GroupEstimate] = Field(
        default=[], description="each consumer group's lag growth and drain time (analysis.streaming)"
    )


def arrival_rates(arch: Architecture, load_multiplier: float = 1.0) -> dict[str, float]:
    """Items per second reaching each node: the solution of lambda = gamma + P^T lambda, where a
    node that drops when full passes on only what it keeps (lambda (1 - p_K), M/M/c/K)."""
    external = {name: config.external_rate() * load_multiplier for name, config in arch.nodes.items()}
    return solve_rates_with_drops(arch, external, {name: config.pass_fraction() for name, config in arch.nodes.items()})


def predict(model: QueueModel, lam: float, arrivals: Arrivals, blocking: bool = False) -> Prediction | None:
    """The best formula for one node, or None when the node is saturated and unbounded.

    `arrivals`: the process the node sees (`analysis.arrivals`).  Renewal arrivals at one exponential
    server are GI/M/1, exact; with other servers their variability enters Allen-Cunneen.  A node
    that blocks its senders when full loses nothing, so M/M/c/K's loss formula does not describe
    it: it is approximated by the unbounded queue (senders held while it is full), never exactly,
    with no drop probability, and has no prediction at rho >= 1.
    """
    found = _predict(model, lam, arrivals, blocking)
    if found is not None and not found.exact and not found.why:
        found.why = arrivals.why
    return found


def _predict(model: QueueModel, lam: float, arrivals: Arrivals, blocking: bool) -> Prediction | None:
    poisson, ca2 = arrivals.poisson, arrivals.scv
    if blocking and model.capacity is not None:
        held = _predict(QueueModel(model.servers, model.service), lam, arrivals, False)
        if held is not None and held.formula != "idle":
            held.formula, held.exact = f"{held.formula} (blocking: senders held)", False
        return held
    mean_s, var_s = model.service.mean(), model.service.variance()
    if lam <= 0:
        return Prediction(formula="idle", exact=True, wait_s=0, sojourn_s=mean_s, mean_queue_length=0, mean_in_node=0)
    if mean_s <= 0:  # service takes no time (a constant 0): nothing ever waits
        return Prediction(formula="instant", exact=True, wait_s=0, sojourn_s=0, mean_queue_length=0, mean_in_node=0)
    if math.isinf(model.servers):
        return Prediction(
            formula="M/G/inf",
            exact=True,
            wait_s=0.0,
            sojourn_s=mean_s,
            mean_queue_length=0.0,
            mean_in_node=lam * mean_s,
        )
    c = int(model.servers)
    if model.capacity is not None:
        if not model.exponential or model.capacity + 1 > q.MAX_STATES:
            return None  # M/M/c/K sums one term per state: past MAX_STATES no formula is offered
        f = q.mmck(lam, 1 / mean_s, c, model.capacity)
        return Prediction(
            formula="M/M/c/K", exact=poisson, wait_s=f.wq, sojourn_s=f.w,
            mean_queue_length=f.lq, mean_in_node=f.l, drop_probability=f.p_block,
        )  # fmt: skip
    if lam * mean_s >= c:
        return None
    if not poisson and model.exponential and c == 1 and arrivals.laplace is not None:
        m, formula = q.gim1(lam, 1 / mean_s, arrivals.laplace), "GI/M/1"
        return Prediction(formula=formula, exact=True, wait_s=m.wq, sojourn_s=m.w, mean_queue_length=m.lq,
                          mean_in_node=m.l)  # fmt: skip
    if not poisson and ca2 != 1.0:
        m = q.ggc_approx(lam, mean_s, c, ca2, model.service.scv())
        formula = "G/G/1 (Kingman)" if c == 1 else "G/G/c (Allen-Cunneen)"
    elif model.exponential:
        m = q.mmc(lam, 1 / mean_s, c)
        formula = "M/M/c (Erlang C)"
    elif c == 1:
        m, formula = q.mg1(lam, mean_s, var_s), "M/G/1 (Pollaczek-Khinchine)"
    else:
        m, formula = q.ggc_approx(lam, mean_s, c, ca2, model.service.scv()), "G/G/c (Allen-Cunneen)"
        if poisson:
            why = "Allen-Cunneen is an approximation for general service"
            return Prediction(formula=formula, exact=False, wait_s=m.wq, sojourn_s=m.w, mean_queue_length=m.lq,
                              mean_in_node=m.l, why=why)  # fmt: skip
    return Prediction(
        formula=formula, exact=poisson, wait_s=m.wq, sojourn_s=m.w, mean_queue_length=m.lq, mean_in_node=m.l
    )


def analyze(
    arch: Architecture,
    load_multiplier: float = 1.0,
    horizon: float = math.inf,
    outages: Mapping[str, float] | None = None,
    rereads: Mapping[str, float] | None = None,
    faulted: Mapping[str, str] | None = None,
) -> AnalyticView:
    """Arrival rates, offered loads, predictions, the bottleneck and the headroom of a design.

    With a run's `horizon` (its duration), a node that only edges starting at or after it feed (a
    consumer group that starts late) is said to receive nothing rather than warned as overloaded.
    `outages`: the longest scheduled outage per node, for the consumer groups' drain times;
    `rereads`: the seconds of input a job reads again after that outage (its checkpoint's age);
    `faulted`: nodes the scenario's faults hit, with what (their predictions are then not exact)."""
    rates = arrival_rates(arch, load_multiplier)
    means = _mean_rates(arch, load_multiplier, horizon)
    flows = node_flows(arch, rates, load_multiplier)
    arrivals = arrival_processes(arch, rates, load_multiplier)
    nodes: dict[str, NodeAnalysis] = {}
    warnings: list[str] = []
    timed = _timed_warnings(arch, flows, load_multiplier)
    for name, config in arch.nodes.items():
        lam = rates[name]
        attempts = lam * config.attempts_per_item()
        model = config.queue_model()
        entry = NodeAnalysis(arrival_rate_per_s=lam, attempt_rate_per_s=attempts, mean_arrival_rate_per_s=means[name])
        if isinstance(config, SourceConfig):
            _describe_source(entry, config, load_multiplier)
        flow = flows.get(name)
        if model is not None:
            entry.servers = None if math.isinf(model.servers) else model.servers
            if not math.isinf(model.servers):
                entry.utilization = attempts * model.service.mean() / model.servers
            blocking = flow is not None and _blocks(flow)
            entry.prediction = predict(model, attempts, _with_retries(arrivals[name], name, attempts, lam), blocking)
            _caveat(entry.prediction, config.formula_leaves_out(), (faulted or {}).get(name))
            if flow is None and entry.utilization is not None and entry.utilization >= 1:
                warnings.append(_overload_warning(name, entry.utilization, attempts, model))
            storm = _retry_storm(name, config, model)
            if storm is not None:
                warnings.append(storm)
        if flow is not None:
            _describe(entry, flow)
            warning = flow.warning()
            if name in timed:
                warning, timing = timed[name]
                entry.saturates_at_s, entry.peak_at_s = timing.saturates_at, timing.peak_at
            if warning is not None:
                warnings.append(warning)
        nodes[name] = entry
    idle = _idle(arch, horizon)
    if idle:  # what the design's start times mean for this run: a note, not a problem (`validate --strict`)
        warnings = [w for w in warnings if not any(w.startswith(f"'{n}'") for n in idle)]
    if warnings and not all(config.always_on() for config in arch.nodes.values()):
        said_when = {w for w, _ in timed.values()}  # these follow each source's start..stop already
        suffix = " (counting every time-limited source as running at once)"
        warnings = [w if w in said_when else w + suffix for w in warnings]
    loaded = {n: a.utilization for n, a in nodes.items() if a.utilization and n not in flows}
    loaded |= {n: rho for n, f in flows.items() if (rho := f.rho)}
    view = _summarise(arch, nodes, warnings, load_multiplier, loaded)
    estimates = group_estimates(arch, flows, outages, rereads)
    view.streaming = [e for e in estimates if e.group not in idle]  # (not read in the run)
    view.notes = [f"'{n}' receives nothing in this run: {why}" for n, why in idle.items()]
    view.notes += [note for name, config in arch.nodes.items() for note in config.horizon_notes(name, horizon)]
    view.warnings += [w for name, config in arch.nodes.items() for w in config.horizon_warnings(name, horizon)]
    view.warnings += [w for name, config in arch.nodes.items() for w in config.link_warnings(name, arch.nodes)]
    view.warnings += _oversized(arch)
    view.warnings += _blocking_cycles(arch, flows)
    return view


def _blocking_cycles(arch: Architecture, flows: Mapping[str, NodeFlow]) -> list[str]:
    """Loops of nodes that each hold their senders when full: they can fill up and hold each
    other for good (a deadlock, which the run reports when it happens).  One warning per loop: the
    nodes that reach each other along edges between such nodes."""
    holding = {name for name, flow in flows.items() if _blocks(flow)}
    out = {
        name: [t for t in targets if t in holding]
        for name, targets in successors(arch, True).items()
        if name in holding
    }
    loops: list[list[str]] = []
    grouped: set[str] = set()
    for name in sorted(holding):
        ahead = reachable(out, [name])
        if name in grouped or name not in ahead:
            continue
        loop = sorted(m for m in ahead if m == name or name in reachable(out, [m]))
        grouped.update(loop)
        loops.append(loop)
    return [
        f"{', '.join(repr(n) for n in loop)} form a loop of nodes that block their senders when full: it can fill "
        "up and hold itself for good (a deadlock); give one of them on_full: drop, or route the loop through an "
        "unbounded node"
        for loop in loops
    ]


def fault_caveat(kinds: Iterable[str]) -> str:
    """Why a node's formula is not exact when faults hit it: `kinds` are 'outages', 'slow-downs'."""
    return "; ".join(f"the formula ignores its {kind} (faults)" for kind in sorted(kinds))


FAULTED_OUTAGES = fault_caveat(["outages"])


def _caveat(prediction: Prediction | None, *left_out: str | None) -> None:
    """A formula is not exact where the node does what it leaves out (timeouts, faults)."""
    reasons = [why for why in left_out if why]
    if prediction is None or not reasons or prediction.formula in ("idle", "instant"):
        return
    if prediction.exact:
        prediction.exact, prediction.why = False, "; ".join(reasons)
    else:
        prediction.why = "; ".join([prediction.why, *reasons] if prediction.why else reasons)


def _oversized(arch: Architecture) -> list[str]:
    """Items with more messages than a node's capacity never fit there (they are dropped): said
    for each source whose batches reach such a node, directly or through nodes that pass items on
    whole (`keeps_items`)."""
    found = []
    out = successors(arch, data_only=True)
    for source, config in arch.nodes.items():
        if not isinstance(config, SourceConfig):
            continue
        seen, frontier = {source}, [source]
        while frontier:
            node = frontier.pop()
            for target in out[node]:
                if target in seen:
                    continue
                seen.add(target)
                reached = arch.nodes[target]
                model = reached.queue_model()
                capacity = model.capacity if model is not None else None
                share = config.batch_share_above(capacity) if capacity is not None else 0.0
                if capacity is not None and share > 1e-9:
                    found.append(_oversized_warning(source, config, target, capacity, share))
                if reached.keeps_items:
                    frontier.append(target)
    return found


def _oversized_warning(source: str, config: SourceConfig, target: str, capacity: int, share: float) -> str:
    fixed = config.fixed_batch()
    if fixed is not None:
        return (f"'{target}' holds at most {capacity} messages (capacity) but '{source}' sends items of {fixed} "
                f"(batch): no item fits, so every one is dropped there; raise its capacity to at least {fixed} "
                "or lower the batch")  # fmt: skip
    return (f"'{target}' holds at most {capacity} messages (capacity) but {share:.2%} of the items of '{source}' "
            f"carry more (batch: {config.batch.dist}): those never fit and are dropped there; raise its "  # type: ignore[union-attr]
            "capacity or bound the batch")  # fmt: skip


def _with_retries(arrivals: Arrivals, name: str, attempts: float, lam: float) -> Arrivals:
    """A node's retries come back as more arrivals, and they are not Poisson."""
    if attempts == lam:
        return arrivals
    retried = f"'{name}' retries failed attempts, and retries are not Poisson"
    return Arrivals(False, why=arrivals.why if not arrivals.poisson else retried)


def _idle(arch: Architecture, horizon: float) -> dict[str, str]:
    """Nodes no flow reaches before `horizon`: every path to them passes an edge that starts later."""
    if math.isinf(horizon):
        return {}
    late = {}
    for edge in arch.edges:
        start = arch.nodes[edge.from_].feeds_from(edge.to)
        if start >= horizon:
            late[(edge.from_, edge.to)] = start
    if not late:
        return {}
    out: dict[str, list[str]] = {}
    for edge in arch.edges:
        if (edge.from_, edge.to) not in late:
            out.setdefault(edge.from_, []).append(edge.to)
    reached = {name for name, config in arch.nodes.items() if not config.takes_input}
    frontier = list(reached)
    while frontier:
        for target in out.get(frontier.pop(), []):
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    why = {
        target: f"the edge from '{source}' starts at {format_duration(at)}, after the run's end"
        for (source, target), at in late.items()
    }
    return {
        name: why.get(name, "everything upstream of it starts after the run's end")
        for name in arch.nodes
        if name not in reached
    }


def _retry_storm(name: str, config: NodeConfig, model: QueueModel) -> str | None:
    """A timeout below the mean service time, several attempts and no jitter: most attempts time
    out, the server finishes them anyway, and the retries arrive together (a retry storm)."""
    retry = getattr(config, "retry", None)
    if not isinstance(retry, RetryPolicy) or retry.timeout is None or retry.max_attempts < 2:
        return None
    mean = model.service.mean()
    if retry.timeout >= mean or retry.jitter != "none":
        return None
    return (
        f"'{name}': the retry timeout ({format_duration(retry.timeout)}) is below the mean service time "
        f"({format_duration(mean)}) with {retry.max_attempts} attempts and no jitter: most attempts time out "
        "while the server still works on them, and the retries arrive together (a retry storm); "
        "lengthen the timeout, add jitter, or allow fewer attempts"
    )


def _mean_rates(arch: Architecture, load_multiplier: float, horizon: float) -> dict[str, float]:
    """The traffic equations with every source at its mean rate over the run (`horizon` seconds)."""
    external = {
        n: (c.mean_rate_over(horizon) if isinstance(c, SourceConfig) else c.external_rate()) * load_multiplier
        for n, c in arch.nodes.items()
    }
    return solve_rates_with_drops(arch, external, {name: config.pass_fraction() for name, config in arch.nodes.items()})


def _describe_source(entry: NodeAnalysis, config: SourceConfig, load_multiplier: float) -> None:
    peak, peak_at = config.peak_rate()
    entry.peak_rate_per_s, entry.peak_at_s = peak * load_multiplier, peak_at
    entry.mean_rate_per_s = config.mean_rate() * load_multiplier
    entry.rate_window_s = list(config.rate_window()) if config.time_varying() else None


def _timed_warnings(
    arch: Architecture, flows: dict[str, NodeFlow], load_multiplier: float
) -> dict[str, tuple[str | None, Timing]]:
    """For nodes saturated at the peak under time-varying sources: the warning that says when."""
    if not varies(arch):
        return {}
    hot = [n for n, f in flows.items() if f.rho is not None and 1 <= f.rho < math.inf]
    result: dict[str, tuple[str | None, Timing]] = {}
    for name, timing in load_timings(arch, load_multiplier, hot).items():
        flow = flows[name]
        if timing.saturates_at is not None:
            head = (
                f"'{name}' saturates at {clock(timing.saturates_at)} "
                f"(rho = {timing.peak_rho:.2f} at the {clock(timing.peak_at)} peak)"
            )
            result[name] = (flow.warning(head), timing)
        else:
            note = (
                f"'{name}' reaches rho = {flow.rho:.2f} only if every source peaked at once; following their "
                f"profiles its rho peaks at {timing.peak_rho:.2f} at {clock(timing.peak_at)}, below saturation"
            )
            result[name] = (note, timing)
    return result


def _blocks(flow: NodeFlow) -> bool:
    """True when a full node holds its senders rather than dropping (backpressure, not loss)."""
    return any(stage.on_full == "block" and stage.buffer is not None for stage in flow.law.stages)


def _describe(entry: NodeAnalysis, flow: NodeFlow) -> None:
    """The flow law's figures for one node (an infinite rho is left out: JSON has no infinity)."""
    entry.message_rate_per_s = flow.messages_per_s
    entry.stage_loads = {name: rho for name, rho in flow.loads.items() if math.isfinite(rho)}
    entry.capacity_per_s = flow.capacity_per_s
    entry.delay_s = flow.delay_s()
    stage, rho = flow.binding, flow.rho
    if stage is not None and rho is not None:
        entry.binding_stage, entry.on_full = stage.name, stage.on_full
        entry.offered_load = rho if math.isfinite(rho) else None


def _overload_warning(name: str, rho: float, attempts: float, model: QueueModel) -> str:
    """For a kind with a queue model and no flow law."""
    need = math.floor(attempts * model.service.mean()) + 1
    effect = "drops or blocks upstream" if model.capacity is not None else "its queue grows without bound"
    return f"'{name}' is overloaded (rho = {rho:.2f} >= 1): {effect}; it needs at least {need} servers at this load"


def _summarise(
    arch: Architecture,
    nodes: dict[str, NodeAnalysis],
    warnings: list[str],
    load_multiplier: float,
    loaded: dict[str, float],
) -> AnalyticView:
    """The bottleneck over every kind (rho at its binding stage) and the headroom it leaves."""
    view = AnalyticView(nodes=nodes, warnings=warnings)
    if loaded:
        bottleneck = max(loaded, key=lambda n: loaded[n])
        rho = loaded[bottleneck]
        view.bottleneck, view.bottleneck_stage = bottleneck, nodes[bottleneck].binding_stage
        view.bottleneck_utilization = rho if math.isfinite(rho) else None  # infinite: carries nothing at all
        view.max_load_multiplier = load_multiplier / rho
        external = sum(c.external_rate() * c.messages_per_item() for c in arch.nodes.values())
        view.max_input_rate_per_s = external * view.max_load_multiplier
    queues = [nodes[n].prediction for n, c in arch.nodes.items() if c.queue_model() is not None]
    external_items = sum(c.external_rate() for c in arch.nodes.values()) * load_multiplier
    if queues and all(p is not None for p in queues) and external_items > 0:
        view.network_sojourn_s = sum(p.mean_in_node for p in queues if p is not None) / external_items
        view.network_sojourn_adds_copies = any(c.routing == "fanout" for c in arch.nodes.values())
    return view
