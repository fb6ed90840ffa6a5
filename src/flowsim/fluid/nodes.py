"""Sources, sinks and queues (service, delay, stream_processor, any kind with a plain flow law).

A queue moves served = min(backlog + inflow dt, capacity(state) dt, room downstream): the backlog
is FIFO cohorts, so what leaves knows how long it waited.  Below saturation the wait inside the
step comes from the stationary formula at the step's load (pointwise stationary approximation):
M/M/c's chance to wait and mean wait, scaled by Allen-Cunneen's (1 + scv) / 2.  A bounded node
that drops loses, below saturation, the M/M/c/K share of arrivals at the step's load, and the
overflow above it; one that blocks limits its senders to its free room.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from flowsim.engine.flow import FlowLaw, State
from flowsim.fluid.base import TINY, Edge, Fifo, FluidNode, Record
from flowsim.fluid.queues import bounded, erlang_c, variability
from flowsim.traffic.shapes import RateLaw


def rate_at(config: Any, t: float) -> float:
    """Items per second a source emits at time t (a profile, when the kind has one)."""
    profile = getattr(config, "rate_at", None)
    return float(profile(t)) if callable(profile) else float(config.external_rate())


class SourceNode(FluidNode):
    """Demand: rate x load multiplier x batch; a blocked source emits less and waits (nothing lost).

    `rates` gives the items per second of each step averaged over the step (a profile, a trace, and
    an MMPP along one realisation of its hidden state, drawn from the kernel's own stream for it, so
    both engines follow the same bursts); without it the rate at the step's start."""

    def __init__(self, *args: Any, multiplier: float = 1.0, rates: np.ndarray | None = None) -> None:
        super().__init__(*args)
        self.multiplier = multiplier
        self.rates = rates
        config = self.config
        self.stop = config.stop if config.stop is not None else math.inf
        self.left = config.limit * config.messages_per_item() if config.limit is not None else math.inf
        batch = config.batch
        mean = self.mean_batch = config.messages_per_item()
        self.constant = rate_at(config, 0.0) if rates is None else 0.0  # a constant source's rate
        self.scv = 0.0 if isinstance(batch, int) else float(batch.variance()) / mean**2
        gaps = config.interarrival  # a renewal source's gaps keep their own scv (Poisson: 1)
        self.ca2 = float(gaps.variance()) / float(gaps.mean()) ** 2 if gaps is not None else 1.0
        self.offered = 0.0

    def item_ca2(self, edge: int) -> float | None:
        return self.ca2

    def series_extra(self) -> dict[str, float]:
        """The offered rate (messages per second, multiplier and batch included) over the last step."""
        return {"offered_per_s": self.offered}

    def item_size(self, edge: int) -> float | None:
        return float(self.config.messages_per_item())

    def item_scv(self, edge: int) -> float | None:
        return self.scv

    def advance(self, k: int, t: float, dt: float, inflow: float, allow: list[float], flows: list[float],
                rec: Record) -> None:  # fmt: skip
        config = self.config
        active = max(0.0, min(t + dt, self.stop) - max(t, config.start))
        rate = float(self.rates[k]) if self.rates is not None else self.constant
        offered = rate * self.multiplier * self.mean_batch
        self.offered = offered if config.start <= t + dt <= self.stop and self.left > 0 else 0.0
        wanted = min(offered * active, self.left)
        sent = min(wanted, self.out_limit(allow)) if wanted > 0 else 0.0
        self.left -= sent
        self.c["arrivals"] += sent
        self.c["completed"] += sent
        self.hold_up(wanted, sent, dt)
        self.send(sent, flows)


def step_rates(config: Any, times: np.ndarray, stream: np.random.Generator) -> np.ndarray | None:
    """A time-varying source's items per second per step, averaged over each step (exact for
    steps and traces, the midpoint rule between knots for smooth shapes); None for a constant one.
    An MMPP follows one path of its hidden state drawn from `stream` (the kernel's "mmpp" stream)."""
    if not config.time_varying():
        return None
    law = config.rate_law("mean")
    if config.mmpp is not None:
        path = config.mmpp.path(stream, float(times[-1]))
        law = RateLaw(1.0, (path, *law.shapes))
    a, b = float(times[0]), float(times[-1])
    cuts = np.unique(np.concatenate([times, law.edges(a, b)]))
    mids = (cuts[:-1] + cuts[1:]) / 2
    area = np.concatenate([[0.0], np.cumsum(law.values(mids) * np.diff(cuts))])
    result: np.ndarray = np.diff(np.interp(times, cuts, area)) / np.diff(times)
    return result


class SinkNode(FluidNode):
    def advance(self, k: int, t: float, dt: float, inflow: float, allow: list[float], flows: list[float],
                rec: Record) -> None:  # fmt: skip
        self.c["arrivals"] += inflow
        self.c["completed"] += inflow


class QueueNode(FluidNode):
    """Servers (or tasks, slots) behind a FIFO line, from the kind's flow law."""

    def __init__(self, *args: Any, law: FlowLaw, per_item: float, service: Any = None, timeline: Any = None) -> None:
        super().__init__(*args)
        self.law, self.mpi = law, per_item
        self.timeline = timeline
        delay = law.delay
        self.servers = delay.servers
        self.units = delay.servers if math.isfinite(delay.servers) else 1.0
        self.work_s = delay.service_s * (per_item if delay.per_message else 1.0)  # per item, nominal
        self.per_message, self.cost_s = delay.per_message, delay.service_s
        self.scv = delay.scv
        binding = min(law.stages, key=lambda s: s.capacity(State(), ) * (per_item if s.per == "item" else 1),
                      default=None)  # fmt: skip
        self.capacity = law.capacity(messages_per_item=per_item)  # messages per second, nominal
        self.buffer = binding.buffer if binding is not None else None
        self.on_full = binding.on_full if binding is not None else "queue"
        self.blocks = self.on_full == "block" and self.buffer is not None
        self.fifo = Fifo()
        self.service = service  # a distribution of one attempt's time, for latency samples
        self.retry_line = Fifo()  # failed attempts backing off: [due time, messages, next attempt]
        self.busy_now = self.waiting_now = 0.0
        #: a dropping room's P(wait), mean wait when waiting, rho, waiting places, time a place takes
        self.finite: tuple[float, float, float, int, float] | None = None
        self.out_ca2: float | None = None  # the scv of the gaps between departures (None: as arrivals)

    def item_ca2(self, edge: int) -> float | None:
        return self.out_ca2

    # ---- hooks kinds with attempts override ------------------------------------------------
    def cap(self, k: int) -> float:
        factor = self.timeline.capacity[k] if self.timeline is not None else 1.0
        return self.capacity * factor

    def content(self) -> float:
        return self.fifo.total + self.retry_line.total

    def room(self, k: int, dt: float, allow: list[float]) -> float:
        """What a node that blocks when full takes this step: its free places (the messages in
        service count against its capacity) and, below saturation, the M/M/c/(K+1) share of its
        senders' demand: an arrival that finds the K places full is held by its sender, which
        is one more place (exact for a source feeding the node), refused, not lost."""
        if not self.blocks or self.buffer is None:
            return math.inf
        out = min(self.cap(k) * dt, self.out_limit(allow))
        free = max(0.0, self.buffer - self.content() - self.busy_now * self.mpi + out)
        self.finite = None
        cap = self.cap(k)
        demand = sum(sender.wanted_per_s * share for sender, share in self.senders)
        if cap <= 0 or not math.isfinite(self.servers) or self.fifo.total > TINY or self.work_s <= 0 or demand <= 0:
            return free
        a, scv, work = self.offered(demand, cap / self.capacity)
        if a >= self.servers:
            return free  # saturated: the fluid limit, full and working at capacity
        places = max(int(self.buffer / self.mpi), int(self.servers)) + 1  # + the sender that holds one
        refused, p_wait, wq, rho, waiting, unit = bounded(a, int(self.servers), places, self.in_ca2, scv)
        # the held sender waits outside: in state K+1 (chance `refused`) one of the waiting is not inside
        queued = a * (1.0 - refused) * p_wait * wq  # items waiting in the K+1 system (Little)
        inside = max(0.0, 1.0 - refused / queued) if queued > 0 else 1.0
        self.finite = (p_wait, wq * work * inside, rho, max(waiting - 1, 0), unit * work)
        return min(free, demand * (1.0 - refused) * dt)

    def admit(self, k: int, t: float, dt: float, inflow: float) -> float:
        """Arrivals: counted, dropped (full, or the stationary loss share), queued."""
        c = self.c
        if inflow <= TINY:
            return 0.0
        dropped = 0.0
        if not self.blocks:
            self.finite = None  # (a blocking node's was set by `room`, before its senders sent)
        if self.on_full == "drop" and self.buffer is not None:
            cap = self.cap(k)
            if cap > 0 and math.isfinite(self.servers) and self.fifo.total < TINY and self.work_s > 0:
                a, scv, work = self.offered(inflow / dt, cap / self.capacity)
                places = max(int(self.buffer / self.mpi), int(self.servers))
                loss, p_wait, wq, rho, waiting, unit = bounded(a, int(self.servers), places, self.in_ca2, scv)
                self.finite = (p_wait, wq * work, rho, waiting, unit * work)
                dropped = inflow * loss
            room = self.buffer - self.content() - self.busy_now * self.mpi + cap * dt  # service counts
            dropped = max(dropped, inflow - room)
        c["arrivals"] += inflow
        c["dropped"] += dropped
        accepted = inflow - dropped
        self.fifo.push(t, accepted)
        return accepted

    def advance(self, k: int, t: float, dt: float, inflow: float, allow: list[float], flows: list[float],
                rec: Record) -> None:  # fmt: skip
        accepted = self.admit(k, t, dt, inflow)
        cap = self.cap(k) * dt
        limit = self.out_limit(allow)
        wanted = min(self.fifo.total, cap)
        served = min(wanted, limit)
        waited = self.fifo.take(served, t)
        self.hold_up(wanted, served, dt)
        self.c["completed"] += served
        self.send(served, flows)
        self.record_wait(rec, k, waited, served)
        self.stationary(k, t, dt, accepted, rec)
        self.account(dt, served)

    def stationary(self, k: int, t: float, dt: float, accepted: float, rec: Record) -> None:
        """The sub-step delay at this step's load, for a node that is not backlogged."""
        slow = self.timeline.slowdown[k] if self.timeline is not None else 1.0
        rec.slow[self.index, k] = slow
        law = self.law.delay
        rate_msgs = accepted / dt
        rec.hold[self.index, k] = law.hold_s + law.hold_per_rate_s * rate_msgs
        self.waiting_now = self.fifo.total
        self.out_ca2 = None
        held = self.blocks and self.finite is not None  # its senders hold what it refuses: never backlogged
        if (self.fifo.total > TINY and not held) or not math.isfinite(self.servers) or self.work_s <= 0:
            return
        if rate_msgs <= 0:
            return
        if self.finite is not None:  # a finite room: its M/M/c/K' wait at the offered load
            p_wait, mean, rho, room, unit = self.finite
            rec.p_wait[self.index, k], rec.wq[self.index, k], rec.wcap[self.index, k] = p_wait, unit, room
            if rec.ratio is not None:
                rec.ratio[self.index, k] = rho
            stationary = p_wait * mean * rate_msgs
            self.waiting_now = max(self.waiting_now, stationary) if held else self.waiting_now + stationary
            return
        a, scv, work = self.offered(rate_msgs, 1.0 / slow)
        c = int(self.servers)
        a = min(a, 0.98 * c)
        rho = a / c  # departures' scv (Whitt's QNA): 1 + (1 - rho^2)(ca^2 - 1) + rho^2 (cs^2 - 1) / sqrt(c)
        self.out_ca2 = max(0.0, 1 + (1 - rho**2) * (self.in_ca2 - 1) + rho**2 * (scv - 1) / math.sqrt(c))
        pw = erlang_c(c, a)
        wq = work / (c - a) * variability(self.in_ca2, scv)  # 1 / (c mu - lambda), Allen-Cunneen
        rec.p_wait[self.index, k], rec.wq[self.index, k] = pw, wq
        self.waiting_now += pw * wq * rate_msgs
        if self.in_burst > 0 and rec.burst is not None:  # behind the items delivered with it, c at a time
            rec.burst[self.index, k] = self.in_burst * work / c

    def offered(self, rate_msgs: float, speed: float) -> tuple[float, float, float]:
        """(erlangs, service scv, mean service of an item) at `rate_msgs` messages a second.  Work
        per message (a stream job) holds a server for n costs an item of n messages: its scv is
        scv_cost / n + scv_n (a random sum)."""
        if self.per_message:
            size = max(self.in_size, TINY)
            work, scv = self.cost_s * size, self.scv / max(size, 1.0) + self.in_scv
        else:
            size, work, scv = self.mpi, self.work_s, self.scv
        work /= max(speed, TINY)
        return rate_msgs / size * work, scv, work

    def account(self, dt: float, served: float) -> None:
        if math.isfinite(self.servers) and self.work_s > 0:
            self.busy_now = min(self.servers, served / dt / self.mpi * self.work_s)
            if self.fifo.total > TINY and self.cap(0) > 0:
                self.busy_now = self.servers
        self.area_busy += self.busy_now * dt
        self.area_waiting += self.waiting_now * dt
        self.area_inside += (self.waiting_now + self.busy_now * self.mpi) * dt

    def inside(self) -> float:
        return self.content()

    def waiting(self) -> float:
        return self.waiting_now

    def busy(self) -> float:
        return self.busy_now

    def figures(self, window: float) -> dict[str, float]:
        figures = super().figures(window)
        if self.timeline is not None:
            figures["downtime_s"] = self.c["downtime_s"]
        if math.isfinite(self.servers) and window > 0:
            figures["utilization"] = self.area_busy / (self.servers * window)
            figures["mean_queue_length"] = self.area_waiting / window
            figures["mean_in_node"] = self.area_inside / window
        return figures


#: eight equally likely points of the triangle on [-1, 1]: the spread of a cohort's waits, in steps
SPREAD = np.array([-1 + math.sqrt(2 * p) if p < 0.5 else 1 - math.sqrt(2 * (1 - p)) for p in (np.arange(8) + 0.5) / 8])


def service_draws(distribution: Any, stream: np.random.Generator, size: int = 4096) -> np.ndarray:
    """Sorted draws of one attempt's service time: its tail gives the share that times out in service."""
    return np.sort(np.asarray(distribution.draw(stream, size), dtype=float))


__all__ = ["Edge", "QueueNode", "SinkNode", "SourceNode", "erlang_c", "rate_at", "service_draws"]


class ServiceNode(QueueNode):
    """`service`: attempts are explicit.  Failed attempts (errors, attempts that waited past the
    caller's timeout, attempts that time out in service: their work is still done) back off and
    re-enter the line as flow, up to max_attempts; the rest are dead-lettered."""

    def __init__(self, *args: Any, draws: np.ndarray, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = self.config
        self.policy = config.policy()
        self.error_rate = config.error_rate
        self.timeout = self.policy.timeout
        self.reject = config.on_down == "reject"
        self.work_s = config.service_time.mean()
        self.capacity = config.servers / self.work_s * self.mpi if self.work_s > 0 else math.inf
        self.draws = draws
        self.success = 1.0
        self.attempts = bool(self.error_rate or self.timeout is not None or self.reject)
        self._dead = 0.0

    def fail(self, amount: float, attempt: int, now: float) -> None:
        if amount <= TINY:
            return
        self.c["failed_attempts"] += amount
        if attempt < self.policy.max_attempts:
            self.c["retries"] += amount
            self.retry_line.push(now + self.policy.delay(attempt, 0.5), amount, attempt + 1)
        else:
            self.c["dead_lettered"] += amount
            self._dead += amount

    def advance(self, k: int, t: float, dt: float, inflow: float, allow: list[float], flows: list[float],
                rec: Record) -> None:  # fmt: skip
        if not self.attempts:
            QueueNode.advance(self, k, t, dt, inflow, allow, flows, rec)
            return
        now = t + dt
        self._dead = 0.0
        for amount, attempt in self.retry_line.older_than(now):
            self.fifo.push(t, amount, attempt)
        accepted = self.admit(k, t, dt, inflow)
        if self.reject and self.timeline is not None and accepted > 0:
            share = self.timeline.down_s[k] / dt
            if share > 0:
                self.fifo.take(accepted * share, now)
                self.fail(accepted * share, 1, now)
        expired = 0.0
        if self.timeout is not None:
            for amount, attempt in self.fifo.expire(now - self.timeout, dt):
                self.c["timeouts"] += amount
                self.fail(amount, attempt, now)
                expired += amount
        limit = self.out_limit(allow)
        wanted = min(self.fifo.total, self.cap(k) * dt)
        serve = min(wanted, limit / max(self.success, 0.05))
        pieces: list[tuple[float, float, int]] = []
        waited = self.fifo.take(serve, t, pieces)
        slow = self.timeline.slowdown[k] if self.timeline is not None else 1.0
        good = 0.0
        limit_late = self.late_at_limit(dt * serve / (serve + expired), slow) if expired > TINY else None
        for part, wait, attempt in pieces:
            late = 0.0 if self.timeout is None else limit_late if limit_late is not None else self.late(wait, dt, slow)
            self.c["timeouts"] += part * late
            bad = part * late + part * (1 - late) * self.error_rate
            self.fail(bad, attempt, now)
            good += part - bad
        self.success = good / serve if serve > TINY else self.success
        sent = min(good, limit)
        self.fifo.push_front(now, good - sent)
        limited = serve < wanted - TINY  # downstream room bounded what the servers took
        # held up only by that room (or by it refusing good work): failed attempts wait for nothing
        self.hold_up(wanted if limited else min(wanted, good), serve if limited else sent, dt)
        self.c["completed"] += sent
        self.send(sent, flows)
        if self._dead > 0:
            self.dead_letter_flow(self._dead, flows)
        self.record_wait(rec, k, waited, serve)
        self.stationary(k, t, dt, accepted, rec)
        self.account(dt, serve)

    def figures(self, window: float) -> dict[str, float]:
        """As the kernel's service: attempts whose caller gave up (in line or in service) too."""
        return super().figures(window) | {"timeouts": self.c["timeouts"]}

    def late(self, wait: float, dt: float, slow: float) -> float:
        """The share of a cohort served this step whose caller gives up before its service ends.

        The cohort's attempts came spread over a step and are served spread over this one, so
        their waits spread around `wait` as the difference of two uniforms (a triangle of
        half-width dt); each is late when its service exceeds the patience left."""
        assert self.timeout is not None
        left = (self.timeout - wait - SPREAD * dt) / slow
        shares = 1.0 - np.searchsorted(self.draws, left, side="right") / len(self.draws)
        return float(np.where(left <= 0, 1.0, shares).mean())

    def late_at_limit(self, span: float, slow: float) -> float:
        """The late share when the line's head is at the callers' patience (attempts time out in
        the line this step): the servers take the oldest attempts still waited for, whose patience
        left is spread evenly over the `span` of arrival time they cover, near 0 in a storm."""
        left = (np.arange(8) + 0.5) / 8 * span / slow
        shares = 1.0 - np.searchsorted(self.draws, left, side="right") / len(self.draws)
        return float(shares.mean())

    def dead_letter_flow(self, amount: float, flows: list[float]) -> None:
        for edge in self.dead_edges:
            flows[edge.index] += amount
