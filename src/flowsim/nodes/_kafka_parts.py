"""The moving parts of `kafka_topic`: partition logs, producer batches, consumer groups.

Kept apart from the kind module so that each file stays short; the leading underscore keeps
the registry from treating it as a kind.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowsim.engine.item import Item
    from flowsim.engine.node import NodeRuntime
    from flowsim.engine.sampling import Sampler
    from flowsim.nodes._kafka_group import Membership


Piece = tuple[int, int, int, float, int]  # (partition, first offset, messages, born, key) of a poll


class Batch:
    """A producer batch: messages bound for one partition, sent when full or when linger expires.

    It keeps every appended item as a piece (its creation time, message count and key), so each
    message keeps its own birth time through the log: end-to-end latency is per message, not
    stamped with the batch's oldest.
    """

    __slots__ = (
        "acked", "born", "fetched", "key", "n", "opened", "partition", "pieces", "ready", "refused", "sent", "state",
    )  # fmt: skip

    def __init__(self, partition: int, n: int, born: float, key: int, ready: bool, opened: float = 0.0) -> None:
        self.partition = partition
        self.opened = opened  # when the batch opened: its delivery timeout counts from here
        self.state = 0  # 0 in the accumulator, 1 being written, 2 replicating, 3 in the log (or gone)
        self.refused = False  # a write was refused for want of in-sync replicas (counted once)
        self.sent = 0.0  # when its write began
        self.fetched = False  # the live followers have it (it commits once no crashed follower holds the ISR)
        self.acked = False  # the producer heard back (or gave up): its buffer memory is free
        self.n = n
        self.born = born  # the oldest message's creation time
        self.key = key  # the first message's key (for traces)
        self.ready = ready
        self.pieces: list[tuple[float, int, int]] = [(born, n, key)]  # (born, messages, key) in order

    def add(self, n: int, born: float, key: int) -> None:
        self.n += n
        self.born = min(self.born, born)
        self.pieces.append((born, n, key))


class Partition:
    """An ordered log: entries are the pieces (producer items) of written batches, by offset."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.base = array("q")  # first offset of each entry
        self.born = array("d")  # its messages' creation time
        self.key = array("q")
        self.at = array("d")  # write time (the same for every piece of a batch)
        self.first = 0  # index of the oldest retained entry
        self.leo = 0  # log end offset: the next offset to write
        self.lso = 0  # log start offset: the oldest retained offset
        self.batches: deque[Batch] = deque()  # producer accumulator, oldest first
        self.writing: Batch | None = None
        self.generation = 0  # bumped by an outage: a write started before it never lands
        self.written = 0  # messages written in the measured window
        # consumers waiting for data (long poll), each once: a consumer parked on several
        # partitions is woken by the first write and stays, stale, in the others' entries
        self.parked: dict[Consumer, None] = {}
        # replication (see `_kafka_brokers`): one replica, always online, unless brokers are given
        self.replicas = [0]
        self.isr = {0}
        self.leader: int | None = 0
        self.online = True
        self.epoch = 0  # bumped when the leader is lost: an election scheduled before it is void
        self.offline_since = 0.0
        self.replicating: deque[Batch] = deque()  # written by the leader, not yet committed (high watermark)
        # followers that crashed and are not yet fenced: still in the ISR, fetching nothing, so the
        # high watermark waits for them (see `_kafka_brokers`)
        self.dead_in_isr: set[int] = set()
        self.stalled_since = 0.0
        self.behind_from: dict[int, int] = {}  # crashed replica -> the log end offset when it crashed
        self.segments: deque[list[float]] = deque()  # [base offset, opened, last write, bytes] (see `_kafka_log`)

    def append(self, batch: Batch, now: float) -> int:
        """Write a batch at the log end, one entry per piece; returns its first offset."""
        offset = self.leo
        for born, n, key in batch.pieces:
            self.base.append(self.leo)
            self.born.append(born)
            self.key.append(key)
            self.at.append(now)
            self.leo += n
        self.written += batch.n
        return offset

    def fetch(self, offset: int, k: int, into: deque[Piece]) -> None:
        """Append the `k` messages from `offset` on to `into` as pieces, in offset order."""
        base, index = self.base, self.index
        e, end = bisect_right(base, offset, self.first) - 1, offset + k
        last = len(base) - 1
        while offset < end:
            stop = base[e + 1] if e < last else self.leo
            if stop > end:
                stop = end
            into.append((index, offset, stop - offset, self.born[e], self.key[e]))
            offset = stop
            e += 1

    def drop_before(self, offset: int) -> None:
        """Delete the entries below `offset` (a segment's base, so an entry boundary)."""
        while self.first < len(self.base) and self.base[self.first] < offset:
            self.first += 1
        self.lso = offset
        self._compact_columns()

    def entry(self, offset: int) -> int:
        """Index of the entry that holds `offset` (a retained one)."""
        return bisect_right(self.base, offset, self.first) - 1

    def trim(self, older_than: float, max_messages: float) -> None:
        """Delete whole entries written before `older_than` or beyond `max_messages` retained (the
        pieces of one batch share their write time, so time retention deletes whole batches)."""
        while self.first < len(self.base):
            end = self.base[self.first + 1] if self.first + 1 < len(self.base) else self.leo
            if self.at[self.first] > older_than and self.leo - self.base[self.first] <= max_messages:
                break
            self.first += 1
            self.lso = end
        self._compact_columns()

    def _compact_columns(self) -> None:
        """Free the deleted entries' memory once they are the larger part of the columns."""
        if self.first > 4096 and self.first * 2 > len(self.base):
            for column in (self.base, self.born, self.key, self.at):
                del column[: self.first]
            self.first = 0


class Consumer:
    """One member of a consumer group, with the partitions assigned to it."""

    __slots__ = (
        "alive", "blocked_since", "busy_s", "commit_due", "epoch", "faults", "group", "idle", "index", "joined",
        "joined_at", "last_commit", "offered", "parked", "partitions", "poll", "poll_at", "provisioned", "slow",
        "turn", "watching", "work",
    )  # fmt: skip

    def __init__(self, group: Group, index: int, partitions: list[int]) -> None:
        self.group = group
        self.index = index
        self.partitions = partitions
        self.turn = 0  # which assigned partition the next poll starts with
        self.parked = False
        self.busy_s = 0.0  # processing, and holding a record downstream refused (blocked)
        self.blocked_since: float | None = None  # when the open refused hand-over began
        self.work: deque[Piece] = deque()  # the last poll's pieces not yet handed downstream
        self.poll: Item | None = None  # the last poll as a whole (for traces)
        self.offered: Item | None = None  # the record downstream refused, while blocked_since is set
        # membership (see `_kafka_group`): process up, in the group, what voids stale callbacks
        self.alive = self.joined = self.provisioned = True
        self.watching = self.commit_due = False
        self.idle = not partitions  # no pending callback and not waiting for data: polled when assigned
        self.epoch = self.faults = 0
        self.joined_at = self.last_commit = self.poll_at = 0.0
        self.slow = 1.0  # brownout factor on its processing time


class Group:
    """A consumer group: one out-edge of the topic, reading every message on its own offsets."""

    def __init__(
        self,
        name: str,
        target: NodeRuntime,
        partitions: int,
        consumers: int,
        cost: Sampler,
        cost_constant: float | None,
    ) -> None:
        self.name = name
        self.target = target
        self.cost = cost
        self.cost_constant = cost_constant
        self.active = False
        self.position = [0] * partitions  # next offset to fetch
        self.committed = [0] * partitions  # next offset not yet handed downstream
        self.backlog = [0] * partitions  # written in scope, not consumed, not lost
        self.part_area = [0.0] * partitions  # time-weighted backlog per partition (since part_t)
        self.part_t = [0.0] * partitions
        self.members = [Consumer(self, i, list(range(i, partitions, consumers))) for i in range(consumers)]
        self.age_from: float | None = None  # creation time of the oldest message in scope not consumed
        self.ms: Membership | None = None  # membership, commits and rebalances (None: static members)
        # a target that restores its log position after a crash (see `_kafka_rewind`)
        self.replays = False  # records handed to it carry their LogPosition
        self.suspended = False  # the target is down: its consumers are stopped
        self.asleep: dict[Consumer, None] = {}  # consumers to poll again when it is back
        self.reset(0.0)

    def reset(self, now: float) -> None:
        self.consumed = 0
        self.lost = 0
        self.skipped = 0  # unread messages jumped over by an offset reset to the log end
        self.reread = 0
        self.lag_area = 0.0
        self.lag_max = self.backlog_at_start = sum(self.backlog)
        self.partition_lag_max = list(self.backlog)
        self.part_area = [0.0] * len(self.backlog)
        self.part_t = [now] * len(self.backlog)
        self.age_area = 0.0
        self.age_max = now - self.age_from if self.age_from is not None else 0.0
        self.t_last = now
        for member in self.members:
            member.busy_s = 0.0

    def change(self, p: int, delta: int, now: float) -> None:
        """Partition p's backlog changes by `delta` now (its time-weighted area is kept exact)."""
        self.part_area[p] += self.backlog[p] * (now - self.part_t[p])
        self.part_t[p] = now
        self.backlog[p] += delta

    def hot_lag_share(self, now: float) -> float:
        """Share of the group's time-weighted lag on its hottest partition (NaN, no data, without lag:
        a group that never lagged has no hottest partition).

        Time-weighted, so that a tiny lag that visits each partition in turn reads as spread
        (1 / partitions), while a partition that keeps the lag reads near 1."""
        areas = [a + b * (now - t) for a, b, t in zip(self.part_area, self.backlog, self.part_t, strict=True)]
        total = sum(areas)
        return max(areas) / total if total > 0 else math.nan

    @property
    def lag(self) -> int:
        return sum(self.backlog)

    def advance(self, now: float) -> None:
        """Accumulate the time-weighted lag, in messages and in seconds, up to `now`.

        Call it before the lag changes.  Between changes the oldest unread message stays the
        same, so its age grows linearly: the seconds integral and maximum are exact, whatever
        the sampling interval.
        """
        dt = now - self.t_last
        self.lag_area += self.lag * dt
        if self.age_from is not None:
            self.age_area += dt * ((self.t_last + now) / 2 - self.age_from)
            self.age_max = max(self.age_max, now - self.age_from)
        self.t_last = now

    def refresh_age(self, parts: list[Partition]) -> None:
        """After a change: find the oldest message in scope not yet consumed (None when none)."""
        oldest: float | None = None
        for p, part in enumerate(parts):
            if self.backlog[p] > 0:
                born = part.born[part.entry(max(self.committed[p], part.lso))]
                if oldest is None or born < oldest:
                    oldest = born
        self.age_from = oldest

    def processing_time(self, n: int) -> float:
        if self.cost_constant is not None:
            return self.cost_constant * n
        cost = self.cost
        return sum(cost() for _ in range(n))

    def lag_seconds(self, now: float) -> float:
        """Age of the oldest message written in scope and not yet consumed (0 when none)."""
        return now - self.age_from if self.age_from is not None else 0.0

    def figures(self, span: float, now: float, start: float) -> dict[str, float]:
        """The group's kind figures, named `<figure>.<group>` (`start`: the window's start)."""
        self.advance(now)
        name = self.name
        working = [member for member in self.members if member.partitions]
        busy = sum(member.busy_s for member in working)
        busy += sum(now - max(m.blocked_since, start) for m in working if m.blocked_since is not None)
        rewinds = {f"reread.{name}": self.reread} if self.replays else {}
        return rewinds | {
            f"consumed.{name}": self.consumed,
            f"lost_to_retention.{name}": self.lost,
            f"skipped_on_reset.{name}": self.skipped,
            f"backlog_at_start.{name}": self.backlog_at_start,
            f"backlog_at_end.{name}": self.lag,
            f"lag_max_messages.{name}": self.lag_max,
            f"lag_mean_messages.{name}": self.lag_area / span,
            f"lag_max_seconds.{name}": self.age_max,
            f"lag_mean_seconds.{name}": self.age_area / span,
            f"hot_partition_lag_share.{name}": self.hot_lag_share(now),
            f"idle_consumers.{name}": sum(1 for m in self.members if m.provisioned and m.alive and not m.partitions),
            f"consumer_utilization.{name}": busy / (len(working) * span) if working else 0.0,
        }
