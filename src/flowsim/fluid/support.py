"""What the fluid engine can follow, and the time step it takes.

The fluid engine evaluates each kind's flow law over time.  A kind it has no law for, or whose
behaviour is not a flow (control signals, model versions, lookups made by other nodes), is
refused before anything runs, naming the node and the kind; so is a setting of a followed kind
whose effect the flows do not carry (`unfollowed`), rather than run and silently ignored.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np

from flowsim.engine.figures import Figure
from flowsim.graph import reachable
from flowsim.nodes.base import NodeConfig
from flowsim.policies import FaultSpec
from flowsim.spec.scenario import Scenario
from flowsim.units import format_duration

#: kinds with a dedicated fluid model
NATIVE = frozenset(
    {"source", "sink", "delay", "service", "kafka_topic", "stream_processor", "airflow_dag", "warehouse"}
)
#: kinds whose behaviour is not a flow: model versions, signals, lookups, detection
REFUSED = {
    "feature_store": "its reads are lookups made by other nodes, not a flow through it",
    "training": "it turns data into model versions and control signals, not a flow (sweep trials and version "
    "quality included)",
    "model_registry": "it gates model versions by signals, not a flow",
    "model_serving": "autoscaling, model versions, wrong predictions and rollout alarms follow per-request decisions",
    "drift_monitor": "drift detection depends on individual samples and its scheduled checks on their counts",
    "data_quality": "each item's failed records are drawn and quarantined one item at a time",
}
MIN_STEP, MAX_STEP = 0.001, 60.0
#: at least this many steps in the window (resolution), at most this many (wall time)
MIN_STEPS, MAX_STEPS = 2000, 20_000
#: a caller's timeout spans at least this many steps: whether a served attempt is still waited for is
#: decided near the patience in a storm (the retry storm at 1,000/s: dead-lettered -51% of per-message
#: at 4 steps a timeout, -3.1% at 13, -0.9% at 40), up to `MAX_PATIENCE_STEPS` in the window
PATIENCE_STEPS, MAX_PATIENCE_STEPS = 40, 200_000


def refuses_kind(kind: str, config: type[NodeConfig]) -> bool:
    """True when the fluid engine refuses every node of this kind, whatever its settings (so its
    figures come from the per-message engine only)."""
    return kind in REFUSED or (kind not in NATIVE and bool(config.signals_in or config.reference_kinds))


def figure_engines(kind: str, config: type[NodeConfig], figure: Figure) -> str:
    """Which engines compute `figure` of `kind`, as the kinds' tables say it."""
    return "per-message only (the fluid engine refuses the kind)" if refuses_kind(kind, config) else figure.engines_text


def fluid_problems(scenario: Scenario) -> list[str]:
    """Why the fluid engine cannot follow this scenario, one sentence per node (empty: it can)."""
    problems = cycle_problems(scenario)
    faulted = {fault.node for fault in scenario.faults if fault.slowdown is None}
    for name, config in scenario.arch.nodes.items():
        problem = _problem(config) or unfollowed(config, name in faulted)
        if problem is None:
            problem = _mmpp_problem(config, scenario.duration) or _schedule_problem(config, scenario.duration)
        if problem is not None:
            problems.append(f"node '{name}' (kind '{config.kind}'): {problem}")
        groups = {**getattr(config, "consumer_groups", {}), "defaults": getattr(config, "consumer_defaults", None)}
        for group, spec in groups.items():
            if getattr(spec, "membership", None) is not None:
                problems.append(f"node '{name}' consumer group '{group}': membership (crashes, rebalances, "
                                "commits, autoscaling) follows each member; use engine: per_message")  # fmt: skip
    for index, fault in enumerate(scenario.faults):
        spans = fault_spans(fault, scenario.duration)
        if spans > MAX_FAULT_SPANS:
            period = (f"every {format_duration(fault.every)}" if fault.every is not None else
                      f"mtbf + mttr {format_duration(fault.mtbf.mean() + fault.mttr.mean())}"  # type: ignore[union-attr]
                      )  # fmt: skip
            problems.append(f"faults[{index}] on '{fault.node}' comes back about {spans:.3g} times in the run "
                            f"({period}; over {MAX_FAULT_SPANS:,}): lengthen the period (a unit typo, such as ms "
                            "for m?) or run engine: per_message")  # fmt: skip
        if fault.group is not None:
            problems.append(f"faults[{index}] crashes consumers of '{fault.node}' group '{fault.group}': "
                            "the rebalances it causes follow each member; use engine: per_message")  # fmt: skip
    return problems


#: an MMPP path is drawn switch by switch before the run: past this many the drawing is the run
MAX_MMPP_SWITCHES = 1_000_000
#: a node's fault intervals are laid on the step grid one by one before the run
MAX_FAULT_SPANS = 10_000


def fault_spans(fault: FaultSpec, duration: float) -> float:
    """About how many outage intervals a fault has in a run of `duration`."""
    if fault.every is not None:
        return float(max(duration - (fault.at or 0.0), 0.0) / fault.every + 1)
    if fault.mtbf is not None and fault.mttr is not None:
        cycle = fault.mtbf.mean() + fault.mttr.mean()
        return float(max(duration - fault.start, 0.0) / cycle) if cycle > 0 else math.inf
    return 1.0


#: scheduled runs (a DAG's, a training's) are followed run by run
MAX_SCHEDULED_RUNS = 1_000_000


def _schedule_problem(config: NodeConfig, duration: float) -> str | None:
    mean_period = getattr(config, "mean_period", None)
    period = mean_period() if callable(mean_period) else math.inf
    if not 0 < period < math.inf or (runs := duration / period) <= MAX_SCHEDULED_RUNS:
        return None
    return (f"its schedule starts about {runs:.3g} runs in the run (one every {format_duration(period)}; over "
            f"{MAX_SCHEDULED_RUNS:,}): lengthen the schedule (a unit typo, such as ms for m?)")  # fmt: skip


def _mmpp_problem(config: NodeConfig, duration: float) -> str | None:
    mmpp = getattr(config, "mmpp", None)
    if mmpp is None or (switches := mmpp.switch_rate() * duration) <= MAX_MMPP_SWITCHES:
        return None
    return (
        f"its mmpp switches state about {switches:.3g} times in the run (over {MAX_MMPP_SWITCHES:,}); "
        f"sojourns that short average out: write rate: {mmpp.mean_rate():.6g}/s (the mean rate), "
        "or lengthen mean_sojourn"
    )


def fluid_edges(arch: Any) -> list[tuple[str, str, float, bool]]:
    """The fluid engine's edges, in its order: (sender, target, share of the sender's flow, whether it
    is a dead-letter edge).  Fan-out and topic edges copy (share 1); round robin splits evenly."""
    outs: dict[str, list[tuple[str, float]]] = {n: [] for n in arch.nodes}
    for edge in arch.edges:
        outs[edge.from_].append((edge.to, edge.weight))
    edges: list[tuple[str, str, float, bool]] = []
    for name, config in arch.nodes.items():
        total = sum(w for _, w in outs[name]) or 1.0
        for target, weight in outs[name]:
            fan = config.routing == "fanout" or config.kind == "kafka_topic"
            share = 1.0 if fan else (1.0 / len(outs[name]) if config.routing == "round_robin" else weight / total)
            edges.append((name, target, share, False))
        dead = getattr(config, "dead_letter", None)
        if isinstance(dead, str):
            edges.append((name, dead, 1.0, True))
    return edges


def node_order(names: list[str], edges: list[tuple[str, str, float, bool]]) -> tuple[list[int], set[int]]:
    """Nodes upstream first (depth-first from the sources) and the back edges: a cycle's closing
    edge, whose flow reaches its target a step after it was sent."""
    index = {n: i for i, n in enumerate(names)}
    children: dict[int, list[int]] = {i: [] for i in range(len(names))}
    for source, target, _, _ in edges:
        children[index[source]].append(index[target])
    has_in = {index[target] for _, target, _, _ in edges}
    roots = [i for i in range(len(names)) if i not in has_in] + list(range(len(names)))
    seen: set[int] = set()
    post: list[int] = []
    for root in roots:
        if root in seen:
            continue
        stack = [(root, iter(children[root]))]
        seen.add(root)
        while stack:
            node, it = stack[-1]
            nxt = next((c for c in it if c not in seen), None)
            if nxt is None:
                post.append(node)
                stack.pop()
            else:
                seen.add(nxt)
                stack.append((nxt, iter(children[nxt])))
    order = post[::-1]
    position = {n: i for i, n in enumerate(order)}
    back = {e for e, (s, t, _, _) in enumerate(edges) if position[index[t]] <= position[index[s]]}
    return order, back


#: the most of the window a message may spend, on average, on a cycle's closing edges (one step each
#: time round): beyond it the loop's exits come late by more than the throughput bounds allow
CYCLE_SHARE = 0.01


def cycle_problems(scenario: Scenario) -> list[str]:
    """Cycles the fluid engine cannot follow.  A cycle's closing edge hands its flow on a step late,
    so a message that goes round it V times (the traffic equations) stays V steps in the loop however
    short its visits are.  Where V x step exceeds `CYCLE_SHARE` of the window (zero-time loops with
    almost no exit: V near 10^6), the loop would hold nearly everything that entered it."""
    from flowsim.analysis.view import arrival_rates

    arch = scenario.arch
    names = list(arch.nodes)
    edges = fluid_edges(arch)
    _, back = node_order(names, edges)
    if not back:
        return []
    rates = arrival_rates(arch, scenario.load.multiplier)
    passes = {name: config.pass_fraction() for name, config in arch.nodes.items()}
    flow = [0.0 if dead else rates.get(s, 0.0) * passes[s] * share for s, _, share, dead in edges]
    component = _components(names, edges)
    step = choose_step(scenario)[0]
    problems = []
    for members in sorted({frozenset(m) for m in component.values() if len(m) > 1 or _self_loop(m, edges)}, key=min):
        inside = [e for e, (s, t, _, _) in enumerate(edges) if s in members and t in members]
        entering = sum(flow[e] for e, (s, t, _, _) in enumerate(edges) if t in members and s not in members)
        entering += sum(arch.nodes[n].external_rate() * scenario.load.multiplier for n in members)
        looping = sum(flow[e] for e in inside if e in back)
        if entering <= 0 or looping <= 0:
            continue
        rounds = looping / entering
        if rounds * step > CYCLE_SHARE * scenario.window:
            nodes = ", ".join(f"'{n}'" for n in sorted(members))
            problems.append(
                f"the cycle through {nodes}: a message goes round it {rounds:.3g} times on average and the fluid "
                f"engine hands each round on a step ({step:.3g}s) late, so it would hold messages there "
                f"{rounds * step:.3g}s, over {CYCLE_SHARE:.0%} of the {scenario.window:.3g}s window, however short "
                f"their visits are; use engine: per_message{_smaller_step(rounds, scenario.window)}"
            )
    return problems


def _smaller_step(rounds: float, window: float) -> str:
    """The advice of a step short enough for a cycle, when the step bounds allow it."""
    short = CYCLE_SHARE * window / rounds
    return f" or a step of at most {short:.3g}s" if short >= max(MIN_STEP, window / MAX_PATIENCE_STEPS) else ""


def _self_loop(members: frozenset[str], edges: list[tuple[str, str, float, bool]]) -> bool:
    return any(s == t and s in members for s, t, _, _ in edges)


def _components(names: list[str], edges: list[tuple[str, str, float, bool]]) -> dict[str, frozenset[str]]:
    """Each node's strongly connected component (the nodes it reaches and is reached by)."""
    succ: dict[str, list[str]] = {n: [] for n in names}
    pred: dict[str, list[str]] = {n: [] for n in names}
    for s, t, _, _ in edges:
        succ[s].append(t)
        pred[t].append(s)
    result: dict[str, frozenset[str]] = {}
    for name in names:
        if name not in result:
            members = frozenset({name} | (reachable(succ, [name]) & reachable(pred, [name])))
            for member in members:
                result[member] = members
    return result


def unfollowed(config: NodeConfig, has_outages: bool) -> str | None:
    """A setting of a followed kind whose effect the flows do not carry (None: all are followed)."""
    if config.kind == "kafka_topic" and getattr(config, "retention_bytes", None) is not None:
        return "retention_bytes (deletion by size) is not followed by the fluid engine; use retention (time)"
    if config.kind == "service" and has_outages and getattr(config, "interrupted", "requeue") == "fail":
        return "interrupted: fail (work cut by an outage fails) is not followed; the fluid engine requeues it"
    if config.kind == "stream_processor" and has_outages and getattr(config, "guarantee", "") == "at_least_once":
        return (
            "the records an at-least-once job processes again after a crash (duplicates) are not followed "
            "by the fluid engine"
        )
    if config.kind == "airflow_dag":
        return _dag_unfollowed(config)
    return None


def _dag_unfollowed(config: Any) -> str | None:
    """A DAG run is its critical path: true while nothing makes its tasks wait for a slot or kills
    a try, i.e. no execution_timeout, no named pool (shared with other DAGs), and fewer tasks than
    the smallest of max_active_tasks, parallelism and the default pool's slots."""
    tasks = config.tasks
    timed = sorted(name for name, task in tasks.items() if task.execution_timeout is not None)
    if timed:
        return f"execution_timeout (task {timed[0]!r}) is not followed by the fluid engine"
    pooled = sorted(name for name, task in tasks.items() if task.pool is not None)
    if pooled:
        pool = tasks[pooled[0]].pool
        return f"pool slots (task {pooled[0]!r} names pool {pool!r}) are not followed by the fluid engine"
    installation = config.installation()
    limit = min(config.max_active_tasks, installation.parallelism, installation.default_pool_slots)
    slots = sum(task.pool_slots for task in tasks.values())
    if slots > limit:
        return (
            f"its {len(tasks)} tasks need {slots} slots, above the {limit} that max_active_tasks, parallelism "
            "and default_pool allow at once: the waits for a slot are not followed by the fluid engine"
        )
    return None


def _problem(config: NodeConfig) -> str | None:
    if config.kind in REFUSED:
        return REFUSED[config.kind]
    if config.kind == "airflow_dag":
        return dag_problem(config)
    if config.kind in NATIVE:
        refusal = getattr(config, "fluid_refusal", None)  # settings of a native kind it cannot follow
        return refusal() if callable(refusal) else None
    law = config.flow_law()
    if law is None:
        return "the kind states no flow law (flow_law() returns None)"
    if config.signals_in or config.reference_kinds:
        return "the kind takes or sends control signals"
    if any(stage.per == "lookup" for stage in law.stages):
        return "its capacity is spent on lookups made by other nodes"
    return None


#: airflow_dag settings whose effect hangs on single runs and tries, not on a mean flow
DAG_REFUSED = {
    "dagrun_timeout": "a run failed at its age",
    "clear_failed_after": "failed runs re-run",
    "schedule_on": "runs triggered by other DAGs' datasets",
}
TASK_REFUSED = {
    "sensor": "a sensor's pokes",
    "branch": "a branch's choice",
    "depends_on_past": "a task waiting on the previous run",
    "wait_for_downstream": "a task waiting on the previous run",
}


def dag_problem(config: NodeConfig) -> str | None:
    """The airflow_dag settings the fluid engine cannot follow, named (the others it follows)."""
    found = [f"{field} ({why})" for field, why in DAG_REFUSED.items() if getattr(config, field)]
    for name, task in getattr(config, "tasks", {}).items():
        found += [f"tasks.{name}.{field} ({why})" for field, why in TASK_REFUSED.items() if getattr(task, field)]
        if task.priority_weight != 1 or task.weight_rule != "downstream":
            found.append(f"tasks.{name}.priority_weight (the order of tries queued for slots)")
    if config.installation().worker_slots is not None:  # type: ignore[attr-defined]
        found.append("airflow.worker_slots (executor slots shared per try)")
    if not found:
        return None
    return "the fluid engine follows runs as mean flows, not " + "; ".join(found) + ": run it on the event engine"


def time_constants(config: NodeConfig) -> list[float]:
    """The times on which a node's flow changes: service and hold times, linger, intervals."""
    values: list[float] = []
    law = config.flow_law()
    if law is not None:
        values += [law.delay.service_s, law.delay.hold_s]
    for attribute in ("linger", "batch_interval", "checkpoint_interval", "retention_check_interval"):
        value = getattr(config, attribute, None)
        if isinstance(value, int | float):
            values.append(float(value))
    for group in getattr(config, "consumer_groups", {}).values():
        values += [group.poll_interval, group.processing_time.mean()]
    return [v for v in values if v > 0 and math.isfinite(v)]


def choose_step(scenario: Scenario) -> tuple[float, str]:
    """The window's time step and why: `step` when given, else the shortest time constant in the
    architecture, clamped to [1 ms, 60 s], to at most window/2000 (resolution) and at least
    window/20,000 (a bounded number of steps, so wall time and memory stay bounded); a callers'
    timeout resolved in 40 steps wins over the 20,000 (up to window/200,000)."""
    window = scenario.window
    if scenario.step is not None:
        return min(scenario.step, window), "the scenario's step"
    constants = [c for config in scenario.arch.nodes.values() for c in time_constants(config)]
    constants += [f.for_ for f in scenario.faults if f.for_ is not None]
    shortest = min(constants, default=MAX_STEP)
    step = min(max(shortest, MIN_STEP), MAX_STEP)
    reason = f"the shortest time constant ({shortest:.3g}s)"
    if step > window / MIN_STEPS:
        step, reason = window / MIN_STEPS, f"window/{MIN_STEPS}"
    if step < window / MAX_STEPS:
        step, reason = window / MAX_STEPS, f"window/{MAX_STEPS:,} (the shortest time constant is {shortest:.3g}s)"
    patience = [t for config in scenario.arch.nodes.values() if (t := caller_timeout(config)) is not None]
    if patience and min(patience) / PATIENCE_STEPS < step:
        step = max(min(patience) / PATIENCE_STEPS, window / MAX_PATIENCE_STEPS, MIN_STEP)
        reason = f"the callers' {min(patience):.3g}s timeout over {PATIENCE_STEPS} steps"
    return step, reason


def caller_timeout(config: NodeConfig) -> float | None:
    """The timeout of a node's retry policy (a caller's patience), if it has one."""
    policy = getattr(config, "policy", None)
    timeout = policy().timeout if callable(policy) else None
    return float(timeout) if isinstance(timeout, int | float) and timeout > 0 else None


def rng(seed: np.random.SeedSequence, node: str, purpose: str) -> np.random.Generator:
    """An independent stream per (node, purpose) of a replication's seed."""
    keys = (zlib.crc32(node.encode()), zlib.crc32(purpose.encode()))
    child = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, *keys))
    return np.random.Generator(np.random.PCG64(child))
