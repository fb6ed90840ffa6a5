"""Batch kinds as scheduled bulk flows.

`airflow_dag`: what lands is held until its data interval closes; the interval's run starts when
fewer than `max_active_runs` are active and the scheduler is up, lasts the critical path's
expected time (tries and retry waits included) for its messages, and then sends them on at once,
born at the interval's start (as the kernel's one item per run); the share that fails every try
is dead-lettered.  `warehouse`: queries queue for the slots; a load takes `load_slots` slots for
its size / throughput + overhead and leaves the other slots to queries meanwhile.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from flowsim.engine.stats import max_of, mean_of
from flowsim.fluid.base import TINY, FluidNode, Record
from flowsim.fluid.nodes import QueueNode
from flowsim.schedule import parse_schedule


class DagNode(FluidNode):
    def __init__(self, *args: Any, timeline: Any = None) -> None:
        super().__init__(*args)
        config = self.config
        self.timeline = timeline
        self.schedule = parse_schedule(config.schedule)
        self.last_tick = 0.0
        self.next_tick = self.schedule.next_after(0.0)
        self.landing = 0.0
        self.pending: deque[list[float]] = deque()  # [interval start, interval end, messages]
        self.active: list[list[float]] = []  # [finish, messages, interval start, interval end, started]
        self.costs = config.task_costs()
        self.paths = config.task_paths()
        self.passes = config.flow_law().passes
        self.reset_kind()

    def reset_kind(self) -> None:
        self.runs = self.sla_misses = 0.0
        self.durations: list[float] = []

    def open_window(self) -> None:
        super().open_window()
        self.reset_kind()

    def duration(self, n: float) -> float:
        return float(max(sum(self.costs[t][0] + self.costs[t][1] * n for t in path) for path in self.paths))

    def advance(self, k: int, t: float, dt: float, inflow: float, allow: list[float], flows: list[float],
                rec: Record) -> None:  # fmt: skip
        c, now = self.c, t + dt
        c["arrivals"] += inflow
        self.landing += inflow
        while self.next_tick <= now:
            if not self.config.catchup:
                for skipped in self.pending:
                    c["dropped"] += skipped[2]
                self.pending.clear()
            self.pending.append([self.last_tick, self.next_tick, self.landing])
            self.landing = 0.0
            self.last_tick, self.next_tick = self.next_tick, self.schedule.next_after(self.next_tick)
        up = self.timeline is None or self.timeline.down_s[k] < dt - TINY
        while up and self.pending and len(self.active) < self.config.max_active_runs:
            start, end, n = self.pending.popleft()
            begin = max(end, t)
            self.active.append([begin + self.duration(n), n, start, end, begin])
        done = [run for run in self.active if run[0] <= now]
        for run in done:
            self.active.remove(run)
            finish, n, start, end, begin = run
            self.runs += 1
            self.durations.append(finish - begin)
            sla = self.config.sla
            if sla is not None and finish > end + sla:
                self.sla_misses += 1
            ok = n * self.passes
            self.run_size = max(n, 1.0)
            c["completed"] += ok
            self.send(ok, flows)
            for edge in self.edges:
                rec.born[edge.index] = rec.born.get(edge.index, {}) | {k: start}
            self.dead_letter(n - ok, flows)
            for edge in self.dead_edges:
                rec.born[edge.index] = rec.born.get(edge.index, {}) | {k: start}

    def item_size(self, edge: int) -> float | None:
        return self.run_size

    run_size = 1.0

    def inside(self) -> float:
        return self.landing + sum(r[2] for r in self.pending) + sum(r[1] for r in self.active)

    def figures(self, window: float) -> dict[str, float]:
        durations = self.durations
        return super().figures(window) | {
            "runs": self.runs, "sla_misses": self.sla_misses,
            "runs_pending_at_end": float(len(self.pending)),
            "run_duration_mean_s": mean_of(durations),
            "run_duration_max_s": max_of(durations),
        }  # fmt: skip

    def series_extra(self) -> dict[str, float]:
        return {"runs_pending": float(len(self.pending)), "runs_active": float(len(self.active))}


class WarehouseNode(QueueNode):
    """Queries are the queue; loads (from batch DAGs) hold `load_slots` for size / throughput + overhead."""

    def __init__(self, *args: Any, load_edges: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = self.config
        self.load_edges = load_edges
        self.loads_edge = next((e for e in self.edges if e.target == config.loads_to), None)
        if self.loads_edge is not None and len(self.edges) > 1:
            self.edges = [e for e in self.edges if e is not self.loads_edge]
            for e in self.edges:
                e.share = 1.0 / len(self.edges) if config.routing != "random" else e.share
            total = sum(e.share for e in self.edges)
            for e in self.edges:
                e.share /= total
        self.per_message = config.message_size / config.load_throughput
        self.overhead = config.load_overhead.mean()
        self.most = config.slots // config.load_slots
        self.load_line: deque[list[float]] = deque()  # [messages, born]
        self.running: list[list[float]] = []  # [finish, messages, born]
        self.loads_inside = 0.0

    def cap(self, k: int) -> float:
        free = (self.config.slots - self.config.load_slots * len(self.running)) / self.config.slots
        return float(super().cap(k) * max(free, 0.0))

    def content(self) -> float:
        return super().content() + self.loads_inside

    def advance(self, k: int, t: float, dt: float, inflow: float, allow: list[float], flows: list[float],
                rec: Record) -> None:  # fmt: skip
        now = t + dt
        loads = sum(flows[e] for e in self.load_edges)
        if loads > TINY:
            born = min((rec.born.get(e, {}).get(k, t) for e in self.load_edges), default=t)
            self.load_line.append([loads, born])
            self.c["arrivals"] += loads
            self.loads_inside += loads
        for run in [r for r in self.running if r[0] <= now]:
            self.running.remove(run)
            _, n, born = run
            self.loads_inside -= n
            self.c["completed"] += n
            self.load_size = max(n, 1.0)
            target = self.loads_edge if self.loads_edge is not None else self.edges[0]
            flows[target.index] += n
            rec.born[target.index] = rec.born.get(target.index, {}) | {k: born}
        while self.load_line and len(self.running) < self.most:
            n, born = self.load_line.popleft()
            self.running.append([now + self.overhead + n * self.per_message, n, born])
        super().advance(k, t, dt, max(inflow - loads, 0.0), allow, flows, rec)

    def busy(self) -> float:
        return float(self.busy_now + self.config.load_slots * len(self.running))

    def item_size(self, edge: int) -> float | None:
        return self.load_size if self.loads_edge is not None and edge == self.loads_edge.index else 1.0

    load_size = 1.0


__all__ = ["DagNode", "WarehouseNode"]
