"""One replication of a network of node runtimes: connect -> start -> run -> collect.

The kernel knows nothing of YAML, scenarios or node kinds: `flowsim.build` turns a scenario
into a `Network` (runtime factories, edges, references, faults, the window) and this module
runs it.  Life cycle (as in desmod): build every runtime, connect them, open the window,
start, then the SimPy clock drives callbacks; `collect` reads the figures at the end.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from flowsim.engine.clock import Clock
from flowsim.engine.context import SimContext
from flowsim.engine.faults import FaultPlan, start_fault
from flowsim.engine.node import NodeRuntime
from flowsim.engine.stall import find_deadlock

Progress = Callable[[float], None]
RuntimeFactory = Callable[[str, SimContext], NodeRuntime]
SERIES_COLUMNS = ("inside", "waiting", "busy", "completed", "dropped")


@dataclass
class Network:
    """Everything the kernel needs to run one replication."""

    factories: dict[str, RuntimeFactory]
    edges: Sequence[tuple[str, str, float]]
    routing: dict[str, str]
    references: dict[str, dict[str, str]]
    faults: Sequence[FaultPlan]
    seed: int
    duration: float
    warmup: float = 0.0
    sample_interval: float | None = None
    load_multiplier: float = 1.0
    #: a fault target that stands for several nodes (the Airflow installation: all its DAGs)
    fault_groups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def window(self) -> float:
        return self.duration - self.warmup


class Together:
    """Several nodes that fail and recover as one (a fault on a group: each node counts its downtime)."""

    def __init__(self, members: list[NodeRuntime]) -> None:
        self.members = members

    def fault_begin(self) -> None:
        for node in self.members:
            node.fault_begin()

    def fault_end(self) -> None:
        for node in self.members:
            node.fault_end()

    def brownout_begin(self, factor: float) -> None:
        for node in self.members:
            node.brownout_begin(factor)

    def brownout_end(self, factor: float) -> None:
        for node in self.members:
            node.brownout_end(factor)


@dataclass
class ReplicationOutput:
    """What one replication measured, before any aggregation."""

    replication: int
    figures: dict[str, dict[str, float]]
    waits: dict[str, np.ndarray]
    sojourns: dict[str, np.ndarray]
    latencies: dict[str, np.ndarray]
    times: np.ndarray
    series: dict[str, np.ndarray]  # node -> (len(times), len(SERIES_COLUMNS))
    series_extra: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # node -> one dict per sample
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: with tracing on, every event of the replication: (time, node, event, item key)
    events: list[tuple[float, str, str, int]] | None = None


def replication_seed(seed: int, replication: int) -> np.random.SeedSequence:
    """Replication r's seed: the r-th child of SeedSequence(seed), computable in any process."""
    return np.random.SeedSequence(seed, spawn_key=(replication,))


class Model:
    """One replication of a network: build -> connect -> run -> results."""

    def __init__(self, network: Network, replication: int = 0, trace: bool = False) -> None:
        self.network = network
        self.replication = replication
        self.env = Clock()
        self.ctx = SimContext(
            env=self.env,
            seed=replication_seed(network.seed, replication),
            warmup=network.warmup,
            horizon=network.duration,
            load_multiplier=network.load_multiplier,
            trace=[] if trace else None,
        )
        self.nodes: dict[str, NodeRuntime] = {name: make(name, self.ctx) for name, make in network.factories.items()}
        self._times: list[float] = []
        self._rows: dict[str, list[tuple[float, ...]]] = {name: [] for name in self.nodes}
        self._extra_rows: dict[str, list[dict[str, float]]] = {}
        self._progress_marks: dict[str, float] = {}
        self.deadlock: str | None = None
        self._connect()
        for runtime in self.nodes.values():
            runtime.reset_counters()

    def _connect(self) -> None:
        network = self.network
        outs: dict[str, list[tuple[NodeRuntime, float]]] = {name: [] for name in self.nodes}
        for source, target, weight in network.edges:
            outs[source].append((self.nodes[target], weight))
        for name, runtime in self.nodes.items():
            runtime.connect(outs[name], network.routing.get(name, "random"))
            for reference, target in network.references.get(name, {}).items():
                runtime.wire(reference, self.nodes[target])
        for index, fault in enumerate(network.faults):
            if getattr(fault, "group", None) is not None or getattr(fault, "broker", None) is not None:
                # a plan may name a part of the node (a topic's consumer group or one of its brokers)
                node = self.nodes[fault.node]
                part = node.fault_target(fault)
                start_fault(fault, part if part is not None else node, self.ctx, index)
                continue
            members = [self.nodes[name] for name in network.fault_groups.get(fault.node, [fault.node])]
            start_fault(fault, members[0] if len(members) == 1 else Together(members), self.ctx, index)

    @property
    def trace(self) -> list[tuple[float, str, str, int]]:
        assert self.ctx.trace is not None, "build the model with trace=True"
        return self.ctx.trace

    # ---- run -----------------------------------------------------------------------------
    def run(self, progress: Progress | None = None, steps: int = 500) -> ReplicationOutput:
        network = self.network
        for runtime in self.nodes.values():
            runtime.start()
        if network.warmup > 0:
            self.env.timeout(network.warmup).callbacks.append(self._begin_window)
        self._sample_every = network.sample_interval or network.window / 200
        self.env.timeout(network.warmup).callbacks.append(self._sample)
        run, duration = self.env.run, network.duration
        paused = gc.isenabled()
        gc.disable()  # the kernel makes no reference cycles per item; the cyclic GC only costs time
        try:
            for step in range(1, steps + 1):
                run(until=duration * step / steps)
                if progress is not None:
                    progress(step / steps)
        finally:
            if paused:
                gc.enable()
        for runtime in self.nodes.values():
            runtime.close_window()
        return self._collect()

    def _begin_window(self, _event: object) -> None:
        for runtime in self.nodes.values():
            runtime.reset_counters()

    def _sample(self, _event: object) -> None:
        self._times.append(float(self.env.now))
        for name, runtime in self.nodes.items():
            self._rows[name].append(runtime.series_row())
            extra = runtime.series_extra()
            if extra:
                self._extra_rows.setdefault(name, []).append(extra)
        if self.deadlock is None:
            self.deadlock = find_deadlock(self.nodes, self._progress_marks, self.env.now)
        self.env.timeout(self._sample_every).callbacks.append(self._sample)

    # ---- results -------------------------------------------------------------------------
    def _collect(self) -> ReplicationOutput:
        window = self.network.window
        figures = {name: rt.figures(window) for name, rt in self.nodes.items()}
        return ReplicationOutput(
            replication=self.replication,
            figures=figures,
            waits={n: np.frombuffer(rt.waits, dtype=float) for n, rt in self.nodes.items() if rt.has_queue},
            sojourns={n: np.frombuffer(rt.sojourns, dtype=float) for n, rt in self.nodes.items()},
            latencies={
                n: np.frombuffer(rt.latencies, dtype=float) for n, rt in self.nodes.items() if rt.measures_latency
            },
            times=np.asarray(self._times),
            series={n: np.asarray(rows, dtype=float) for n, rows in self._rows.items()},
            series_extra=self._extra_rows,
            extra={n: x for n, rt in self.nodes.items() if (x := rt.extra())},
            warnings=[self.deadlock] if self.deadlock else [],
            events=self.ctx.trace,
        )
