"""Build a scenario's nodes, connect them, run one replication, and collect its raw results."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from flowsim.engine.context import SimContext
from flowsim.engine.faults import start_fault
from flowsim.engine.node import NodeRuntime
from flowsim.spec.policies import RetryPolicy
from flowsim.spec.scenario import Scenario

Progress = Callable[[float], None]
SERIES_COLUMNS = ("inside", "waiting", "busy", "completed", "dropped")


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


def replication_seed(seed: int, replication: int) -> np.random.SeedSequence:
    """Replication r's seed: the r-th child of SeedSequence(seed), computable in any process."""
    return np.random.SeedSequence(seed, spawn_key=(replication,))


def _resolved(config: Any, policies: dict[str, RetryPolicy]) -> Any:
    retry = getattr(config, "retry", None)
    if isinstance(retry, str):
        return config.model_copy(update={"retry": policies[retry]})
    return config


class Model:
    """One replication of a scenario: build -> connect -> run -> results."""

    def __init__(self, scenario: Scenario, replication: int = 0, trace: bool = False) -> None:
        self.scenario = scenario
        self.replication = replication
        self.env = simpy.Environment()
        self.ctx = SimContext(
            env=self.env,
            seed=replication_seed(scenario.seed, replication),
            warmup=scenario.warmup,
            horizon=scenario.duration,
            load_multiplier=scenario.load.multiplier,
            trace=[] if trace else None,
        )
        self.nodes: dict[str, NodeRuntime] = {}
        self._times: list[float] = []
        self._rows: dict[str, list[tuple[float, ...]]] = {}
        self._extra_rows: dict[str, list[dict[str, float]]] = {}
        self._build()
        self._connect()

    def _build(self) -> None:
        arch = self.scenario.arch
        for name, config in arch.nodes.items():
            self.nodes[name] = _resolved(config, self.scenario.retry_policies).runtime(name, self.ctx)

    def _connect(self) -> None:
        arch = self.scenario.arch
        outs: dict[str, list[tuple[NodeRuntime, float]]] = {name: [] for name in self.nodes}
        for edge in arch.edges:
            outs[edge.from_].append((self.nodes[edge.to], edge.weight))
        for name, runtime in self.nodes.items():
            config = arch.nodes[name]
            runtime.connect(outs[name], config.routing)
            for reference, target in config.node_references().items():
                runtime.wire(reference, self.nodes[target])
        for index, fault in enumerate(self.scenario.faults):
            start_fault(fault, self.nodes[fault.node], self.ctx, index)  # type: ignore[arg-type]

    # ---- run -----------------------------------------------------------------------------
    def run(self, progress: Progress | None = None, steps: int = 50) -> ReplicationOutput:
        scenario = self.scenario
        for runtime in self.nodes.values():
            runtime.start()
        if scenario.warmup > 0:
            self.env.timeout(scenario.warmup).callbacks.append(self._begin_window)
        self._sample_every = scenario.sample_interval or scenario.window / 200
        self.env.timeout(scenario.warmup).callbacks.append(self._sample)
        paused = gc.isenabled()
        gc.disable()  # the kernel makes no reference cycles per item; the cyclic GC only costs time
        try:
            for step in range(1, steps + 1):
                self.env.run(until=scenario.duration * step / steps)
                if progress is not None:
                    progress(step / steps)
        finally:
            if paused:
                gc.enable()
        return self._collect()

    def _begin_window(self, _event: object) -> None:
        for runtime in self.nodes.values():
            runtime.reset_counters()

    def _sample(self, _event: object) -> None:
        self._times.append(float(self.env.now))
        for name, runtime in self.nodes.items():
            self._rows.setdefault(name, []).append(runtime.series_row())
            extra = runtime.series_extra()
            if extra:
                self._extra_rows.setdefault(name, []).append(extra)
        self.env.timeout(self._sample_every).callbacks.append(self._sample)

    # ---- results -------------------------------------------------------------------------
    def _collect(self) -> ReplicationOutput:
        window = self.scenario.window
        figures = {name: rt.figures(window) for name, rt in self.nodes.items()}
        return ReplicationOutput(
            replication=self.replication,
            figures=figures,
            waits={n: np.frombuffer(rt.waits, dtype=float) for n, rt in self.nodes.items() if rt.has_queue},
            sojourns={n: np.frombuffer(rt.sojourns, dtype=float) for n, rt in self.nodes.items()},
            latencies={
                n: np.frombuffer(rt.latencies, dtype=float) for n, rt in self.nodes.items() if hasattr(rt, "latencies")
            },
            times=np.asarray(self._times),
            series={n: np.asarray(rows, dtype=float) for n, rows in self._rows.items()},
            series_extra=self._extra_rows,
            extra={n: rt.extra() for n, rt in self.nodes.items() if rt.extra()},
        )


def run_replication(scenario: Scenario, replication: int = 0, progress: Progress | None = None) -> ReplicationOutput:
    """Run replication `replication` of `scenario` (independent of any other replication)."""
    return Model(scenario, replication).run(progress)
