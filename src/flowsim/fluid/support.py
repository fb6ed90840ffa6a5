"""What the fluid engine can follow, and the time step it takes.

The fluid engine evaluates each kind's flow law over time.  A kind it has no law for, or whose
behaviour is not a flow (control signals, model versions, lookups made by other nodes), is
refused before anything runs, naming the node and the kind.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from flowsim.nodes.base import NodeConfig
from flowsim.spec.scenario import Scenario

#: kinds with a dedicated fluid model
NATIVE = frozenset(
    {"source", "sink", "delay", "service", "kafka_topic", "stream_processor", "airflow_dag", "warehouse"}
)
#: kinds whose behaviour is not a flow: model versions, signals, lookups, detection
REFUSED = {
    "feature_store": "its reads are lookups made by other nodes, not a flow through it",
    "training": "it turns data into model versions and control signals, not a flow",
    "model_registry": "it gates model versions by signals, not a flow",
    "model_serving": "autoscaling and model versions follow per-request decisions",
    "drift_monitor": "drift detection depends on individual samples",
}
MIN_STEP, MAX_STEP = 0.001, 60.0
#: at least this many steps in the window (resolution), at most this many (wall time)
MIN_STEPS, MAX_STEPS = 2000, 20_000


def fluid_problems(scenario: Scenario) -> list[str]:
    """Why the fluid engine cannot follow this scenario, one sentence per node (empty: it can)."""
    problems = []
    for name, config in scenario.arch.nodes.items():
        problem = _problem(config)
        if problem is not None:
            problems.append(f"node '{name}' (kind '{config.kind}'): {problem}")
        groups = {**getattr(config, "consumer_groups", {}), "defaults": getattr(config, "consumer_defaults", None)}
        for group, spec in groups.items():
            if getattr(spec, "membership", None) is not None:
                problems.append(f"node '{name}' consumer group '{group}': membership (crashes, rebalances, "
                                "commits, autoscaling) follows each member; use engine: per_message")  # fmt: skip
    for index, fault in enumerate(scenario.faults):
        if fault.group is not None:
            problems.append(f"faults[{index}] crashes consumers of '{fault.node}' group '{fault.group}': "
                            "the rebalances it causes follow each member; use engine: per_message")  # fmt: skip
    return problems


def _problem(config: NodeConfig) -> str | None:
    if config.kind in REFUSED:
        return REFUSED[config.kind]
    if config.kind in NATIVE:
        return None
    law = config.flow_law()
    if law is None:
        return "the kind states no flow law (flow_law() returns None)"
    if config.signals_in or config.reference_kinds:
        return "the kind takes or sends control signals"
    if any(stage.per == "lookup" for stage in law.stages):
        return "its capacity is spent on lookups made by other nodes"
    return None


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
    window/20,000 (a bounded number of steps, so wall time and memory stay bounded)."""
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
    return step, reason


def rng(seed: np.random.SeedSequence, node: str, purpose: str) -> np.random.Generator:
    """An independent stream per (node, purpose) of a replication's seed."""
    keys = (zlib.crc32(node.encode()), zlib.crc32(purpose.encode()))
    child = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, *keys))
    return np.random.Generator(np.random.PCG64(child))
