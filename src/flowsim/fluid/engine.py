"""The fluid engine's loop: per step, a backward pass (how much each node can take: backpressure)
and a forward pass (sources emit, nodes serve and route by the traffic shares), then the figures
and time series under the kernel's names, in the same `ReplicationOutput`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from flowsim.analysis.loads import node_flows
from flowsim.analysis.view import arrival_rates
from flowsim.build import fault_groups
from flowsim.engine.flow import FlowLaw
from flowsim.engine.model import ReplicationOutput, replication_seed
from flowsim.fluid.base import Edge, FluidNode, Record
from flowsim.fluid.batch import DagNode, WarehouseNode
from flowsim.fluid.latency import Service, stays, trace
from flowsim.fluid.nodes import QueueNode, ServiceNode, SinkNode, SourceNode, service_draws, step_rates
from flowsim.fluid.stream import StreamJobNode
from flowsim.fluid.support import choose_step, fluid_edges, fluid_problems, node_order, rng
from flowsim.fluid.timeline import timelines
from flowsim.fluid.topic import TopicNode
from flowsim.spec.scenario import Scenario

Progress = Callable[[float], None]
LATENCY_SAMPLES = 4000
NODE_SAMPLES = 2000


def grid(scenario: Scenario, step: float) -> np.ndarray:
    """Step boundaries: the warm-up and the window each cut into equal steps of about `step`."""
    window = np.linspace(scenario.warmup, scenario.duration, max(1, math.ceil(scenario.window / step - 1e-9)) + 1)
    if scenario.warmup <= 0:
        return window
    warm = np.linspace(0.0, scenario.warmup, max(1, math.ceil(scenario.warmup / step - 1e-9)) + 1)
    return np.concatenate([warm[:-1], window])


class FluidModel:
    def __init__(self, scenario: Scenario, replication: int = 0) -> None:
        problems = fluid_problems(scenario)
        if problems:
            from flowsim.errors import FlowsimError

            raise FlowsimError("the fluid engine cannot run this scenario: " + "; ".join(problems))
        self.scenario = scenario
        self.seed = replication_seed(scenario.seed, replication)
        self.replication = replication
        self.step, self.step_reason = choose_step(scenario)
        self.times = grid(scenario, self.step)
        self.first = int(np.searchsorted(self.times, scenario.warmup - 1e-9))
        self._build()

    def _build(self) -> None:
        scenario, arch = self.scenario, self.scenario.arch
        names = list(arch.nodes)
        self.index = {n: i for i, n in enumerate(names)}
        edges = [Edge(i, source, target, share, dead_letter=dead)
                 for i, (source, target, share, dead) in enumerate(fluid_edges(arch))]  # fmt: skip
        self.edges = edges
        steps = len(self.times) - 1
        n_nodes = len(names)
        self.rec = Record(
            flow=np.zeros((len(edges), steps), dtype=np.float32), items=np.zeros((len(edges), steps), dtype=np.float32),
            wait=np.zeros((len(edges), steps), dtype=np.float32),
            p_wait=np.zeros((n_nodes, steps), dtype=np.float32), wq=np.zeros((n_nodes, steps), dtype=np.float32),
            wcap=np.full((n_nodes, steps), np.inf, dtype=np.float32),
            hold=np.zeros((n_nodes, steps), dtype=np.float32), slow=np.ones((n_nodes, steps), dtype=np.float32),
            size=np.ones((n_nodes, steps), dtype=np.float32), size_scv=np.zeros((n_nodes, steps), dtype=np.float32),
            closed_n=np.zeros((n_nodes, steps), dtype=np.float32),
            closed_unit=np.zeros((n_nodes, steps), dtype=np.float32),
            burst=np.zeros((n_nodes, steps), dtype=np.float32), ratio=np.ones((n_nodes, steps), dtype=np.float32),
        )  # fmt: skip
        flows = node_flows(arch, arrival_rates(arch, scenario.load.multiplier), scenario.load.multiplier)
        lines = timelines(scenario.faults, self.times, self.seed, fault_groups(scenario))
        self.lines = lines
        self.nodes: list[FluidNode] = []
        self.services: list[Service] = []
        for name, config in arch.nodes.items():
            mine = [e for e in edges if e.source == name]
            args = (name, self.index[name], config, mine, config.routing)
            mpi = flows[name].messages_per_item if name in flows else 1.0
            law = config.flow_law([e.target for e in mine if not e.dead_letter]) or FlowLaw()
            tl = lines.get(name)
            stream = rng(self.seed, name, "service")
            node: FluidNode
            service: Any = None
            if config.kind == "source":
                rates = step_rates(config, self.times, rng(self.seed, name, "mmpp"))
                node = SourceNode(*args, multiplier=scenario.load.multiplier, rates=rates)
            elif config.kind == "sink":
                node = SinkNode(*args)
            elif config.kind == "kafka_topic":
                node = TopicNode(*args, law=law, timeline=tl, horizon=scenario.duration)
            elif config.kind == "airflow_dag":
                node = DagNode(*args, timeline=tl)
            elif config.kind == "service":
                service = getattr(config, "service_time", None)
                node = ServiceNode(*args, law=law, per_item=mpi, timeline=tl, draws=service_draws(service, stream))
            elif config.kind == "warehouse":
                service = getattr(config, "query_time", None)
                loads = [e.index for e in edges if e.target == name and arch.nodes[e.source].kind == "airflow_dag"]
                node = WarehouseNode(*args, law=law, per_item=mpi, timeline=tl, load_edges=loads)
            elif config.kind == "stream_processor":
                node = StreamJobNode(*args, law=law, per_item=mpi, timeline=tl, horizon=scenario.duration)
            else:
                service = getattr(config, "time", None)
                node = QueueNode(*args, law=law, per_item=mpi, timeline=tl)
            self.services.append(_service(service, stream, node, self.rec))
            self.nodes.append(node)
        self.order, self.back = node_order(names, [(e.source, e.target, e.share, e.dead_letter) for e in edges])
        self.in_edges = {i: [e for e in edges if self.index[e.target] == i] for i in range(n_nodes)}
        for i, node in enumerate(self.nodes):  # whose demand a node that blocks when full meets
            node.senders = [(self.nodes[self.index[e.source]], e.share) for e in self.in_edges[i]]

    def run(self, progress: Progress | None = None) -> ReplicationOutput:
        scenario, nodes, rec, times = self.scenario, self.nodes, self.rec, self.times
        n_edges, steps = len(self.edges), len(times) - 1
        interval = scenario.sample_interval or scenario.window / 200
        sample_at, samples = scenario.warmup, []
        rows: dict[str, list[tuple[float, ...]]] = {n.name: [] for n in nodes}
        extras: dict[str, list[dict[str, float]]] = {}
        room = [math.inf] * len(nodes)
        allow = [math.inf] * n_edges
        last = [0.0] * n_edges
        previous = [0.0] * n_edges
        previous_items = [0.0] * n_edges
        previous_scv = [0.0] * n_edges
        previous_ca2 = [1.0] * n_edges
        previous_burst = [0.0] * n_edges
        edge_target = [self.index[e.target] for e in self.edges]
        sharing = {i: [e.index for e in es] for i, es in self.in_edges.items() if len(es) > 1}
        reverse = self.order[::-1]
        outs = {i: [e.index for e in self.edges if self.index[e.source] == i] for i in range(len(nodes))}
        ins = {i: [(e.index, e.index in self.back) for e in es] for i, es in self.in_edges.items()}
        downs = [(node, self.lines[node.name].down_s) for node in nodes if node.name in self.lines]
        closing = sorted(self.back)
        #: per node, what its cycles' closing edges sent it last step, to arrive this step: inside it
        self.pending = [0.0] * len(nodes)
        if self.first == 0:
            self._open()
        for k in range(steps):
            t, dt = float(times[k]), float(times[k + 1] - times[k])
            for i in reverse:
                for e in outs[i]:
                    target = edge_target[e]
                    r = room[target]
                    if r != math.inf and target in sharing:
                        group = sharing[target]
                        weight = sum(last[g] for g in group)
                        r = r * (last[e] / weight if weight > 0 else 1.0 / len(group))
                    allow[e] = r
                room[i] = nodes[i].room(k, dt, allow)
            flows = [0.0] * n_edges
            items = [0.0] * n_edges
            scvs = [0.0] * n_edges
            ca2s = [1.0] * n_edges
            bursts = [0.0] * n_edges
            for i in self.order:
                inflow = in_items = second = spread = together = 0.0
                for e, back in ins[i]:
                    f, n = (previous[e], previous_items[e]) if back else (flows[e], items[e])
                    inflow += f
                    in_items += n
                    if n > 0:  # E[size^2] of the mixture of the in-edges' items
                        second += f * f / n * (1.0 + (previous_scv[e] if back else scvs[e]))
                        spread += n * (previous_ca2[e] if back else ca2s[e])
                        together += n * (previous_burst[e] if back else bursts[e])
                node = nodes[i]
                if in_items > 0:
                    node.in_size = inflow / in_items
                    node.in_scv = max(0.0, second / in_items / node.in_size**2 - 1.0)
                    node.in_ca2 = spread / in_items  # a superposition: the item-weighted scvs (Whitt)
                    node.in_burst = together / in_items
                rec.size[i, k], rec.size_scv[i, k] = node.in_size, node.in_scv
                node.advance(k, t, dt, inflow, allow, flows, rec)
                for e in outs[i]:
                    if flows[e] > 0:
                        size = node.item_size(e) or node.in_size
                        items[e] = flows[e] / max(size, 1e-9)
                        scv = node.item_scv(e)
                        scvs[e] = node.in_scv if scv is None else scv
                        ca2 = node.item_ca2(e)
                        ca2s[e] = node.in_ca2 if ca2 is None else ca2
                        bursts[e] = node.item_burst(e)
            rec.flow[:, k] = flows
            rec.items[:, k] = items
            previous_items, previous_scv, previous_ca2, previous_burst = items, scvs, ca2s, bursts
            last, previous = flows, flows
            if closing:
                self.pending = [0.0] * len(nodes)
                for e in closing:
                    self.pending[edge_target[e]] += flows[e]
            if k >= self.first:
                for node, down_s in downs:
                    node.c["downtime_s"] += float(down_s[k])
            now = t + dt
            if k + 1 == self.first:  # the window opens at the end of this step, before its first sample
                self._open()
            while sample_at <= now + 1e-9 and k >= self.first - 1:
                samples.append(sample_at)
                for node in nodes:
                    node.now = now  # type: ignore[attr-defined]
                    c = node.c
                    inside = node.inside() + self.pending[node.index]
                    rows[node.name].append((inside, node.waiting(), node.busy(), c["completed"], c["dropped"]))
                    extra = node.series_extra()
                    if extra:
                        extras.setdefault(node.name, []).append(extra)
                sample_at += interval
            if progress is not None and k % 1000 == 0:
                progress(k / steps)
        return self._collect(samples, rows, extras)

    def _open(self) -> None:
        self.pending_at_start = list(self.pending)
        for node in self.nodes:
            node.open_window()

    def _collect(self, samples: list[float], rows: dict[str, list[tuple[float, ...]]],
                 extras: dict[str, list[dict[str, float]]]) -> ReplicationOutput:  # fmt: skip
        scenario, arch, window = self.scenario, self.scenario.arch, self.scenario.window
        for node in self.nodes:
            node.now = float(self.times[-1])  # type: ignore[attr-defined]
        figures = {node.name: node.figures(window) for node in self.nodes}
        for node in self.nodes:  # a cycle's flow in flight counts as arrived at (inside) its target
            start, end = self.pending_at_start[node.index], self.pending[node.index]
            if start or end:
                counts = figures[node.name]
                counts["arrivals"] += end - start
                counts["inside_at_start"] += start
                counts["inside_at_end"] += end
        edge_source = np.array([self.index[e.source] for e in self.edges])
        is_source = np.array([arch.nodes[n.name].kind == "source" for n in self.nodes])
        in_edges = {i: np.array([e.index for e in es]) for i, es in self.in_edges.items()}
        stream = rng(self.seed, "fluid", "latency")
        latencies, waits, sojourns = {}, {}, {}
        for node in self.nodes:
            if not arch.nodes[node.name].gives_output:
                mine = [e.index for e in self.in_edges[node.index]]
                size = min(LATENCY_SAMPLES, math.ceil(float(self.rec.items[mine, self.first :].sum()))) if mine else 0
                latencies[node.name] = (
                    trace(self.rec, self.times, mine, edge_source, in_edges, is_source, self.services, stream,
                          self.first, size) if mine else np.empty(0)
                )  # fmt: skip
            out = [e.index for e in self.edges if e.source == node.name]
            size = min(NODE_SAMPLES, math.ceil(node.c["completed"]))
            service = self.services[node.index]
            wait, stay = stays(self.rec, out, node.index, service, stream, self.first, size)
            if isinstance(node, QueueNode):
                waits[node.name] = wait
            sojourns[node.name] = stay if arch.nodes[node.name].takes_input else np.empty(0)
        warnings = [
            f"fluid engine: step {self.step:.3g}s ({self.step_reason}); latency percentiles from "
            f"{LATENCY_SAMPLES:,} sampled routes per sink and replication"
        ]
        crash = {
            f.node
            for f in scenario.faults
            if f.node in arch.nodes and arch.nodes[f.node].kind == "stream_processor" and f.slowdown is None
        }
        warnings += [f"fluid engine: '{n}' crashes stop its flow; re-processing since the checkpoint is not modelled"
                     for n in sorted(crash)]  # fmt: skip
        return ReplicationOutput(
            replication=self.replication, figures=figures, waits=waits, sojourns=sojourns, latencies=latencies,
            times=np.asarray(samples), series={n: np.asarray(r, dtype=float) for n, r in rows.items()},
            series_extra=extras, warnings=warnings,
        )  # fmt: skip


def _service(distribution: Any, stream: np.random.Generator, node: FluidNode, rec: Record) -> Service:
    """Draws of one visit's service (a kind's law, or its flow law's mean work), for latency samples.

    A node whose work is per message (a stream job: an item of n events holds a task n costs)
    draws n from the sizes of the items it got at that step: a gamma law of their mean and scv."""
    if distribution is not None:

        def draw(ks: np.ndarray) -> np.ndarray:
            return np.asarray(distribution.draw(stream, len(ks)), dtype=float)

        return draw
    if isinstance(node, QueueNode) and node.per_message and node.cost_s > 0:
        cost, index = node.cost_s, node.index

        def sized(ks: np.ndarray) -> np.ndarray:
            return cost * item_sizes(rec.size[index, ks], rec.size_scv[index, ks], stream)

        return sized
    if isinstance(node, QueueNode) and node.work_s > 0:
        work = node.work_s

        def fixed(ks: np.ndarray) -> np.ndarray:
            return np.full(len(ks), work)

        return fixed
    return None


def item_sizes(mean: np.ndarray, scv: np.ndarray, stream: np.random.Generator) -> np.ndarray:
    """Item sizes of the given means and scvs (gamma; the mean itself where the scv is 0)."""
    mean, scv = mean.astype(float), scv.astype(float)
    shape = np.where(scv > 1e-9, 1.0 / np.maximum(scv, 1e-9), 1.0)
    drawn = stream.gamma(shape) * mean / shape
    result: np.ndarray = np.where(scv > 1e-9, drawn, mean)
    return result


def run_fluid_replication(
    scenario: Scenario, replication: int = 0, progress: Progress | None = None
) -> ReplicationOutput:
    """Replication `replication` of `scenario` by the fluid engine (seeded as the kernel's)."""
    return FluidModel(scenario, replication).run(progress)
