"""`kafka_topic` as flows: a producer buffer written at the partitions' rate, then one backlog per
consumer group (each group reads its own copy), read at the group's rate and as fast as the next
node takes it.  Backlogs are FIFO cohorts stamped with the time they entered the topic and were
written, so lag in seconds follows the oldest unread cohort and retention deletes, every
`retention_check_interval`, the cohorts written more than `retention` ago (counted lost).

A group's lag in seconds is the age of its oldest unread message over every partition, which
is older than the one backlog's FIFO head: the fullest partition lies E messages behind an even
drain, turned into seconds by that partition's arrivals before the head.  Two spreads add up:
- random keys split a backlog's n items Binomially: one partition's count has variance
  sigma^2 = n (p E[S^2] - p^2 s^2) messages^2 (items of mean size s, p = 1 / partitions);
- a consumer reads its q partitions in turn, F = max_poll_records at a time: a partition runs
  between h = F (q - 1) / (2q) ahead of and behind an even drain, uniformly over the cycle.
Over k partitions the expected maximum of sigma Z + h U (Z normal, U uniform on [-1, 1]) is
within 4% of hypot(z_k sigma, h (k - 1) / (k + 1)) (z_k, the expected maximum of k standard
normals: 1.63 for 12; (k - 1) / (k + 1), that of k uniforms).  The fluid limit leaves this out:
sigma grows as the square root of the messages, so its share shrinks as rates grow."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque
from typing import Any

from flowsim.engine.flow import FlowLaw, State
from flowsim.fluid.base import TINY, Edge, Fifo, FluidNode, Record
from flowsim.fluid.closed import PartitionSpread


def expected_max_normal(k: int) -> float:
    """E[max of k independent standard normals] (0 for one; 1.63 for 12), by quadrature."""
    if k <= 1:
        return 0.0
    x = [-8.0 + 16.0 * i / 4000 for i in range(4001)]
    h = x[1] - x[0]
    total = 0.0
    for v in x:
        phi = math.exp(-v * v / 2) / math.sqrt(2 * math.pi)
        cdf = 0.5 * (1.0 + math.erf(v / math.sqrt(2)))
        total += v * k * phi * cdf ** (k - 1) * h
    return total


class Group:
    def __init__(self, name: str, edge: Edge, capacity: float, consumers: int, spec: Any) -> None:
        self.name, self.edge, self.capacity, self.consumers, self.spec = name, edge, capacity, consumers, spec
        self.backlog = Fifo()  # [time entered the topic, messages, write time as attempt slot unused]
        self.written_at: deque[list[float]] = deque()  # [write time, messages] in step with `backlog`
        self.active = spec.start_at <= 0
        self.polled = False
        self.imbalance_var = 0.0  # variance of one partition's messages over the current backlog episode
        self.episode_start = 0.0  # when the current backlog began
        self.reset()

    def reset(self) -> None:
        self.consumed = self.lost = 0.0
        self.lag_area = self.age_area = self.lag_max = self.age_max = self.busy_area = 0.0
        self.backlog_at_start = self.backlog.total


class TopicNode(FluidNode):
    def __init__(self, *args: Any, law: FlowLaw, timeline: Any = None, horizon: float = math.inf) -> None:
        super().__init__(*args)
        self.horizon = horizon  # a check due at the very end of the run does not happen (the kernel's)
        config = self.config
        self.law, self.timeline = law, timeline
        self.write_capacity = law.stages[0].capacity(State())
        self.spread = PartitionSpread(config.partition_weights())
        self.buffer_limit = float(config.buffer_messages)
        self.block = config.on_buffer_full == "block"
        self.blocks = self.block
        self.buffer = Fifo()
        self.groups: list[Group] = []
        for edge, stage in zip(self.edges, law.stages[1:], strict=True):
            spec = config.group(edge.target)
            self.groups.append(Group(edge.target, edge, stage.capacity(State()), spec.consumers, spec))
        self.fanout = False  # each group's copy is `created`, not a fan-out copy
        self.log: deque[list[float]] = deque()  # [write time, messages]: the retained log, for replays
        self.keep_log = any(g.spec.start == "earliest" for g in self.groups)
        self.unread: deque[list[float]] = deque()  # [write time, messages] written while no group read
        self.random_keys = config.partitioner == "uniform" and self.spread.uniform and config.partitions > 1
        self.z_max = expected_max_normal(config.partitions)
        self.in_rates: list[float] = []  # messages per second entering the topic, per step
        self.arrived: list[float] = [0.0]  # messages into one partition before each step (mean share)
        self.step_dt = 0.0
        self.next_check = config.retention_check_interval
        self.reset_kind()

    def reset_kind(self) -> None:
        self.produced = self.write_busy = self.lost_before_groups = 0.0
        self.buffer_max = self.buffer_at_start = self.buffer.total
        for group in self.groups:
            group.reset()

    def open_window(self) -> None:
        super().open_window()
        self.reset_kind()

    def factor(self, k: int) -> float:
        return self.timeline.capacity[k] if self.timeline is not None else 1.0

    def writes(self, k: int) -> float:
        """Messages a second the partitions write this step.  With a backlog carried over, the
        closed-network rate of the items buffered (see `closed`); with none, the topic keeps up
        and sub-step queueing at the partitions is left to the stationary delay."""
        nominal = self.write_capacity * self.factor(k)
        carried = self.buffer.total
        if carried <= TINY:
            return nominal
        return nominal * self.spread.share(carried / max(self.in_size, 1.0))

    def room(self, k: int, dt: float, allow: list[float]) -> float:
        if not self.block:
            return math.inf
        return max(0.0, self.buffer_limit - self.buffer.total + self.writes(k) * dt)

    def advance(self, k: int, t: float, dt: float, inflow: float, allow: list[float], flows: list[float],
                rec: Record) -> None:  # fmt: skip
        c, now = self.c, t + dt
        up = 1.0 if self.timeline is None else 1.0 - self.timeline.down_s[k] / dt
        writes_cap = self.writes(k) * dt
        if self.block and self.spread.uniform and rec.closed_n is not None and rec.closed_unit is not None:
            full = self.buffer.total + inflow >= self.buffer_limit * 0.99  # a blocked producer keeps it full
            if full and writes_cap > 0:
                rec.closed[self.index] = (self.config.partitions, float(self.config.batch_size))
                rec.closed_n[self.index, k] = self.buffer.total / max(self.in_size, 1.0)
                rec.closed_unit[self.index, k] = max(self.in_size, 1.0) * self.config.partitions / self.write_capacity
        dropped = 0.0 if self.block else max(0.0, inflow - (self.buffer_limit - self.buffer.total + writes_cap))
        c["arrivals"] += inflow
        c["dropped"] += dropped
        self.in_rate = inflow / dt
        if k == len(self.in_rates):  # the arrival history the ages look back over
            self.in_rates.append(self.in_rate)
            self.arrived.append(self.arrived[-1] + inflow / self.config.partitions)
            self.step_dt = dt
        self.buffer.push(t, inflow - dropped)
        self.buffer_max = max(self.buffer_max, self.buffer.total)
        pieces: list[tuple[float, float, int]] = []
        written = min(self.buffer.total, writes_cap)
        self.buffer.take(written, t, pieces)
        self.produced += written
        self.write_busy += written / self.write_capacity if self.write_capacity > 0 else 0.0
        readers = 0
        for group in self.groups:
            if not group.active and group.spec.start_at < now:
                self.activate(group, t)
            if group.active:
                readers += 1
                fresh = group.backlog.total <= TINY
                for part, wait, _ in pieces:
                    group.backlog.push(t - wait, part)
                    group.written_at.append([now, part])
                self.spread_keys(group, written, t, fresh)
        c["created"] += written * max(readers - 1, 0)
        if not readers and written > 0:  # in the log, in no group's scope: unread until taken in or deleted
            self.unread.append([now, written])
        if self.keep_log and written > 0:
            self.log.append([now, written])
        if self.config.retention is not None and now >= self.next_check and self.next_check < self.horizon - 1e-9:
            self.retain(now)
        for group in self.groups:
            self.read(group, k, dt, now, up, allow, flows, rec)
        self.batch_now = self.batching()  # once a step: item_size, item_scv and item_ca2 read it
        rec.hold[self.index, k] = self.batch_now[2]

    def activate(self, group: Group, t: float) -> None:
        group.active = True
        if group.spec.start == "earliest":
            for at, amount in self.log:
                group.backlog.push(at, amount)
                group.written_at.append([at, amount])
                self.c["created"] += amount
            self.c["created"] -= sum(amount for _, amount in self.unread)  # no group had them: not copies
            self.unread.clear()

    def retain(self, now: float) -> None:
        config = self.config
        if self.next_check <= now:  # the checks due by now, in one jump (an interval of 1 ns is 6e10 a minute)
            every = config.retention_check_interval
            self.next_check += (math.floor((now - self.next_check) / every) + 1) * every
        older = now - config.retention
        while self.log and self.log[0][0] < older:
            self.log.popleft()
        while self.unread and self.unread[0][0] < older:
            gone = self.unread.popleft()[1]
            self.lost_before_groups += gone
            self.c["lost"] += gone
        for group in self.groups:
            gone = 0.0
            while group.written_at and group.written_at[0][0] < older:
                amount = group.written_at.popleft()[1]
                gone += amount
            if gone > 0:
                group.backlog.take(gone, now)
                group.lost += gone
                self.c["lost"] += gone

    def read(self, group: Group, k: int, dt: float, now: float, up: float, allow: list[float], flows: list[float],
             rec: Record) -> None:  # fmt: skip
        before = group.backlog.total
        if group.active and up > 0:
            room = allow[group.edge.index]
            wanted = min(before, group.capacity * up * dt)
            amount = min(wanted, room)
            waited = group.backlog.take(amount, now - dt)
            taken = amount
            while taken > TINY and group.written_at:  # keep write times in step with the backlog
                head = group.written_at[0]
                if head[1] <= taken + TINY:
                    taken -= head[1]
                    group.written_at.popleft()
                else:
                    head[1] -= taken
                    taken = 0.0
            if amount > TINY:
                rec.wait[group.edge.index, k] = waited / amount
            self.hold_up(wanted, amount, dt)
            group.consumed += amount
            group.busy_area += amount / group.capacity if math.isfinite(group.capacity) else 0.0
            flows[group.edge.index] += amount
            self.c["completed"] += amount
        after = group.backlog.total
        if after <= TINY:
            group.imbalance_var = 0.0  # caught up: every partition is empty, the episode ends
        age_after = self.age(group, now) if after > TINY else 0.0
        group.lag_area += after * dt
        group.age_area += (age_after - dt / 2) * dt if after > TINY else 0.0
        group.lag_max = max(group.lag_max, after)
        group.age_max = max(group.age_max, age_after)
        group.polled = after > TINY

    def spread_keys(self, group: Group, written: float, t: float, fresh: bool) -> None:
        """Random keys split the `written` messages over the partitions: one partition's share
        adds n (p E[S^2] - p^2 s^2) to its variance (n items of mean size s, p = 1 / partitions).
        `fresh`: the group had no backlog, so one begins now."""
        if fresh:
            group.episode_start = t
        if not self.random_keys or written <= TINY:
            return
        s, p = max(self.in_size, 1.0), 1.0 / self.config.partitions
        group.imbalance_var += written / s * (p * s * s * (1.0 + self.in_scv) - p * p * s * s)

    def excess(self, group: Group) -> float:
        """Messages the fullest partition's head lies behind an even FIFO drain (module docstring)."""
        k = self.config.partitions
        spread = self.z_max * math.sqrt(group.imbalance_var) if self.random_keys else 0.0
        turns = math.ceil(k / max(min(group.consumers, k), 1))
        fetch = min(float(group.spec.max_poll_records), group.backlog.total / k)
        half_cycle = fetch * (turns - 1) / (2 * turns)
        return math.hypot(spread, half_cycle * (k - 1) / (k + 1))

    def age(self, group: Group, now: float) -> float:
        """The age of the group's oldest unread message: the FIFO head's, and the seconds over
        which one partition received the `excess` messages before the head (none before the
        backlog began, unless the head is older: messages held in the producer buffer)."""
        oldest: float = group.backlog.oldest()  # type: ignore[assignment]
        excess = self.excess(group)
        if excess <= TINY or self.step_dt <= 0.0:
            return now - oldest
        return now - self.time_back(oldest, excess, min(group.episode_start, oldest))

    def time_back(self, at: float, messages: float, floor: float) -> float:
        """The time before `at` (not before `floor`) since which one partition received `messages`."""
        dt, arrived, rates = self.step_dt, self.arrived, self.in_rates
        partitions = float(self.config.partitions)

        def before(t: float) -> float:  # messages into one partition before time t
            j = min(max(int(t / dt), 0), len(rates) - 1)
            return arrived[j] + rates[j] / partitions * (t - j * dt)

        target = before(at) - messages
        if target <= before(floor):
            return floor
        j = bisect_right(arrived, target) - 1  # the step in which one partition's count reached it
        rate = rates[min(j, len(rates) - 1)] / partitions
        t = j * dt + ((target - arrived[j]) / rate if rate > TINY else 0.0)
        return max(floor, min(t, at))

    def batching(self) -> tuple[float, float, float, float]:
        """A producer batch while the topic keeps up: (messages, their scv, seconds its oldest
        message waited: linger or filling, plus the write; the scv of the gaps between batches).

        Items of s messages reach a partition as Poisson at r / s a second (r its share of the
        rate); a batch opens with one and takes the m = (r / s) linger others that come before
        linger ends, so it holds s (1 + m) messages (compound Poisson: scv ((1 + m) scv_s + m) /
        (1 + m)^2), unless batch_size B fills first, after (B - s) / r seconds.  Latency counts
        from a poll's oldest message, as the kernel's.  A partition's batches come linger +
        Exp(s / r) apart (scv (s/r)^2 / (linger + s/r)^2), or every B / s items (scv s / B); the
        partitions' superposition keeps that scv in heavy traffic (Whitt's asymptotic method),
        which is where the wait it feeds matters."""
        config = self.config
        s, scv = max(self.in_size, 1.0), self.in_scv
        rate = self.in_rate / config.partitions
        write = self.write_capacity / config.partitions
        if rate <= 0:
            return s, scv, config.linger + s / write, 1.0
        m, gap = rate / s * config.linger, s / rate
        if s * (1 + m) >= config.batch_size:
            size, scv, wait = float(config.batch_size), 0.0, max(0.0, (config.batch_size - s) / rate)
            ca2 = s / config.batch_size
        else:
            size, scv, wait = s * (1 + m), ((1 + m) * scv + m) / (1 + m) ** 2, config.linger
            ca2 = gap**2 / (config.linger + gap) ** 2
        return size, scv, wait + size / write, ca2

    def item_size(self, edge: int) -> float | None:
        """The producer's items: a consumer hands its poll on record by record, as the kernel does."""
        return max(self.in_size, 1.0)

    def item_scv(self, edge: int) -> float | None:
        return self.in_scv

    def item_ca2(self, edge: int) -> float | None:
        """The producer's items keep their gaps' variability: a batch of 1 + Poisson(m) items
        every linger + Exp(gap) has index of dispersion m/(1 + m) + (1 + m)·1/(1 + m)² = 1 for
        Poisson items (and a batch of B/s items every Erlang(B/s) gap: 0 + (B/s)(s/B) = 1), so
        delaying items into batches leaves their long-run variability as it came in; a group
        reading a backlog at its capacity hands on a Poisson-like stream."""
        group = next(g for g in self.groups if g.edge.index == edge)
        return 1.0 if group.polled else self.in_ca2

    def item_burst(self, edge: int) -> float:
        """A consumer's fetch hands its items on together: while its group keeps up, one producer
        batch as written (1 + Poisson(m) items: E[X(X - 1)]/(2E[X]) = m(2 + m)/(2(1 + m)); B/s
        items when batch_size fills: (X - 1)/2); reading a backlog, a poll of max_poll_records."""
        group = next(g for g in self.groups if g.edge.index == edge)
        s = max(self.in_size, 1.0)
        if group.polled:
            return max(float(group.spec.max_poll_records) / s - 1.0, 0.0) / 2.0
        size = self.batch_now[0]
        x = max(size / s, 1.0)
        if size >= self.config.batch_size - 1e-9:
            return (x - 1.0) / 2.0
        m = x - 1.0
        return m * (2.0 + m) / (2.0 * (1.0 + m))

    in_rate = 0.0
    batch_now = (1.0, 0.0, 0.0, 1.0)

    def inside(self) -> float:
        return self.buffer.total + sum(g.backlog.total for g in self.groups) + sum(a for _, a in self.unread)

    def waiting(self) -> float:
        return self.buffer.total

    def series_extra(self) -> dict[str, float]:
        row = {"buffer_messages": self.buffer.total}
        for group in self.groups:
            row[f"lag_messages.{group.name}"] = group.backlog.total
            row[f"lag_seconds.{group.name}"] = self.age(group, self.now) if group.backlog.total > TINY else 0.0
        return row

    now = 0.0

    def figures(self, window: float) -> dict[str, float]:
        figures = super().figures(window)
        span = window if window > 0 else 1.0
        figures |= {
            "produced": self.produced, "buffer_max_messages": self.buffer_max,
            "buffer_at_start": self.buffer_at_start, "buffer_at_end": self.buffer.total,
            "write_utilization": self.write_busy / (self.config.partitions * span),
            "hot_partition_share": float(self.config.partition_weights().max()),
            "lost_to_retention": sum(g.lost for g in self.groups) + self.lost_before_groups,
            "lost_before_groups": self.lost_before_groups, "unread_at_end": sum(a for _, a in self.unread),
        }  # fmt: skip
        for g in self.groups:
            n = g.name
            figures |= {
                f"consumed.{n}": g.consumed, f"lost_to_retention.{n}": g.lost, f"skipped_on_reset.{n}": 0.0,
                f"backlog_at_start.{n}": g.backlog_at_start, f"backlog_at_end.{n}": g.backlog.total,
                f"lag_max_messages.{n}": g.lag_max, f"lag_mean_messages.{n}": g.lag_area / span,
                f"lag_max_seconds.{n}": g.age_max, f"lag_mean_seconds.{n}": g.age_area / span,
                f"consumer_utilization.{n}": g.busy_area / (min(g.consumers, self.config.partitions) * span),
                f"idle_consumers.{n}": float(max(0, g.consumers - self.config.partitions)),
            }  # fmt: skip
        return figures
