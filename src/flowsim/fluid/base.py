"""The pieces every fluid node shares: out-edges with their traffic shares, FIFO cohorts, the
per-step record the latency sampler reads, and the kernel's counters under the kernel's names."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TINY = 1e-9


@dataclass
class Edge:
    """One out-edge: `share` of the sender's flow (1 on fan-out edges, which copy)."""

    index: int
    source: str
    target: str
    share: float
    dead_letter: bool = False


@dataclass
class Record:
    """Per step, what the latency sampler needs: flows and FIFO waits per edge, the stationary
    (sub-step) delay of each node: the chance to wait, the mean wait when waiting, a fixed hold."""

    flow: np.ndarray  # edges x steps, messages sent in the step
    items: np.ndarray  # edges x steps, items (a source's batch, a poll, a run) sent in the step
    wait: np.ndarray  # edges x steps, mean FIFO wait at the sender of what was sent
    p_wait: np.ndarray  # nodes x steps
    wq: np.ndarray  # nodes x steps, mean wait of those who wait (a bounded room: the time a place ahead takes)
    wcap: np.ndarray  # nodes x steps, a bounded room's waiting places (inf: unbounded)
    hold: np.ndarray  # nodes x steps
    slow: np.ndarray  # nodes x steps, service stretch (brownouts)
    size: np.ndarray  # nodes x steps, mean messages per arriving item
    size_scv: np.ndarray  # nodes x steps, squared coefficient of variation of arriving item sizes
    born: dict[int, dict[int, float]] = field(default_factory=dict)  # edge -> step -> birth time
    #: topics whose full buffer spreads waits over partitions: node -> (partitions, batch_size)
    closed: dict[int, tuple[int, float]] = field(default_factory=dict)
    closed_n: np.ndarray | None = None  # nodes x steps, client batches buffered (0: not full)
    closed_unit: np.ndarray | None = None  # nodes x steps, seconds of writes per client batch
    burst: np.ndarray | None = None  # nodes x steps, mean wait behind the items delivered together with one
    ratio: np.ndarray | None = None  # nodes x steps, a bounded room's rho: j ahead with chance ~ rho^j


class Fifo:
    """Backlog as cohorts in arrival order: [time in, messages, attempt], so age is known."""

    def __init__(self) -> None:
        self.cohorts: deque[list[Any]] = deque()
        self.total = 0.0

    def push(self, t: float, amount: float, attempt: int = 1) -> None:
        if amount <= TINY:
            return
        last = self.cohorts[-1] if self.cohorts else None
        if last is not None and last[0] == t and last[2] == attempt:
            last[1] += amount
        else:
            self.cohorts.append([t, amount, attempt])
        self.total += amount

    def push_front(self, t: float, amount: float, attempt: int = 1) -> None:
        if amount > TINY:
            self.cohorts.appendleft([t, amount, attempt])
            self.total += amount

    def take(self, amount: float, now: float, pieces: list[tuple[float, float, int]] | None = None) -> float:
        """Remove `amount` from the head; returns the summed wait (message-seconds)."""
        waited = 0.0
        cohorts = self.cohorts
        amount = min(amount, self.total)
        self.total -= amount
        while amount > TINY and cohorts:
            head = cohorts[0]
            part = head[1] if head[1] <= amount else amount
            waited += part * (now - head[0])
            if pieces is not None:
                pieces.append((part, now - head[0], head[2]))
            amount -= part
            if part >= head[1] - TINY:
                cohorts.popleft()
            else:
                head[1] -= part
        if not cohorts or self.total < TINY:
            self.total = 0.0
            cohorts.clear()
        return waited

    def older_than(self, t: float) -> list[tuple[float, int]]:
        """Remove every cohort that entered before `t`: (messages, attempt) each."""
        gone = []
        while self.cohorts and self.cohorts[0][0] < t:
            _, amount, attempt = self.cohorts.popleft()
            self.total -= amount
            gone.append((amount, attempt))
        if not self.cohorts:
            self.total = 0.0
        return gone

    def expire(self, before: float, span: float) -> list[tuple[float, int]]:
        """Remove what entered before `before`, a cohort's arrivals spread evenly over the `span`
        after its time (a step), so a cohort straddling `before` loses its older share."""
        gone = []
        while self.cohorts:
            head = self.cohorts[0]
            share = (before - head[0]) / span if span > 0 else float(head[0] < before)
            if share <= 0:
                break
            if share >= 1:
                self.cohorts.popleft()
                self.total -= head[1]
                gone.append((head[1], head[2]))
                continue
            part = head[1] * share
            head[1] -= part
            head[0] = before  # what is left came later
            self.total -= part
            gone.append((part, head[2]))
            break
        if not self.cohorts:
            self.total = 0.0
        return gone

    def oldest(self) -> float | None:
        return self.cohorts[0][0] if self.cohorts else None


COUNTERS = ("arrivals", "completed", "dropped", "lost", "created", "fanout_copies", "merged", "retries",
            "failed_attempts", "dead_lettered", "timeouts", "blocked_time_s", "downtime_s")  # fmt: skip


class FluidNode:
    """A node in the fluid engine: `room` (what it can take this step, backward pass) and `advance`
    (move one step, forward pass).  Counters keep the kernel's identity:
    arrivals + created + inside_at_start == completed + dropped + dead_lettered + lost + inside_at_end."""

    blocks = False  # a full node holds its senders
    units = 1.0  # servers whose hold counts as blocked time

    def __init__(self, name: str, index: int, config: Any, edges: list[Edge], routing: str) -> None:
        self.name, self.index, self.config = name, index, config
        self.edges = [e for e in edges if not e.dead_letter]
        self.dead_edges = [e for e in edges if e.dead_letter]
        self.fanout = routing == "fanout" and len(self.edges) > 1
        self.c: dict[str, float] = dict.fromkeys(COUNTERS, 0.0)
        self.inside_at_start = 0.0
        self.area_busy = self.area_waiting = self.area_inside = 0.0
        self.measuring = False
        self.wanted_per_s = 0.0  # what it wanted to send last step, a second (its demand downstream)
        self.senders: list[tuple[FluidNode, float]] = []  # nodes on its in-edges, with the edge's share

    # ---- routing ---------------------------------------------------------------------------
    def out_limit(self, allow: list[float]) -> float:
        """Most messages it may send this step given each out-edge's room downstream."""
        limit = math.inf
        for edge in self.edges:
            room = allow[edge.index]
            if math.isfinite(room):
                limit = min(limit, room / edge.share if edge.share > 0 else math.inf)
        return limit

    def send(self, amount: float, flows: list[float]) -> None:
        """Split `amount` over the out-edges by their shares (fan-out: a copy on each)."""
        for edge in self.edges:
            flows[edge.index] += amount * edge.share
        if self.fanout:
            self.c["fanout_copies"] += amount * (len(self.edges) - 1)

    def dead_letter(self, amount: float, flows: list[float]) -> None:
        self.c["dead_lettered"] += amount
        for edge in self.dead_edges:
            flows[edge.index] += amount

    def hold_up(self, wanted: float, sent: float, dt: float) -> None:
        """Blocked time: the share of the step its held work waited for room downstream."""
        self.wanted_per_s = wanted / dt if dt > 0 else 0.0
        if wanted > TINY and sent < wanted - TINY:
            self.c["blocked_time_s"] += dt * self.units * (1.0 - sent / wanted)

    # ---- the step --------------------------------------------------------------------------
    def room(self, k: int, dt: float, allow: list[float]) -> float:
        return math.inf

    def item_size(self, edge: int) -> float | None:
        """Messages per item it sends on `edge` (None: the size of what came in)."""
        return None

    def item_scv(self, edge: int) -> float | None:
        """Squared coefficient of variation of those sizes (None: that of what came in)."""
        return None

    def item_ca2(self, edge: int) -> float | None:
        """Squared coefficient of variation of the gaps between those items, in the asymptotic
        sense of heavy traffic (None: that of what came in; a source's Poisson items: 1)."""
        return None

    def item_burst(self, edge: int) -> float:
        """Items ahead of a random item among those it is delivered with at once, E[X(X-1)]/(2E[X])
        for deliveries of X items (0: one at a time); a consumer's fetch hands on several."""
        return 0.0

    in_size = 1.0
    in_scv = 0.0
    in_ca2 = 1.0
    in_burst = 0.0

    def advance(self, k: int, t: float, dt: float, inflow: float, allow: list[float], flows: list[float],
                rec: Record) -> None:  # fmt: skip
        raise NotImplementedError

    def record_wait(self, rec: Record, k: int, waited: float, amount: float) -> None:
        if amount > TINY:
            mean = waited / amount
            for edge in self.edges:
                rec.wait[edge.index, k] = mean
            for edge in self.dead_edges:
                rec.wait[edge.index, k] = mean

    # ---- figures ---------------------------------------------------------------------------
    def inside(self) -> float:
        return 0.0

    def waiting(self) -> float:
        return 0.0

    def busy(self) -> float:
        return 0.0

    def open_window(self) -> None:
        self.c = dict.fromkeys(COUNTERS, 0.0)
        self.inside_at_start = self.inside()
        self.area_busy = self.area_waiting = self.area_inside = 0.0
        self.measuring = True

    def figures(self, window: float) -> dict[str, float]:
        c = self.c
        figures = {key: c[key] for key in COUNTERS if key != "timeouts"}
        figures |= {"inside_at_start": self.inside_at_start, "inside_at_end": self.inside(),
                    "throughput_per_s": c["completed"] / window if window > 0 else 0.0}  # fmt: skip
        return figures

    def series_extra(self) -> dict[str, float]:
        return {}
