"""The reading half of `kafka_topic`: consumer groups polling, handing over and committing, and
retention deleting what a group had not read yet.

`KafkaTopicNode` (in `_kafka_topic_runtime`) inherits this and adds the producer side; the leading
underscore keeps the registry from treating this module as a kind.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING, Any

from flowsim.engine.item import Item
from flowsim.engine.replay import LogPosition
from flowsim.nodes._kafka_parts import Consumer, Group, Partition, Piece
from flowsim.nodes._kafka_rewind import RewindSide

if TYPE_CHECKING:
    from flowsim.nodes.kafka_topic import KafkaTopicConfig


class ConsumerSide(RewindSide):
    """Consumer groups and retention of a topic; the attributes below are set by `KafkaTopicNode`.

    Messages written while no group reads yet (every group starts later) are in no group's
    scope: they stay in the log, `inside` and counted `unread`, until a group starting from
    `earliest` takes them in, or retention deletes them: then they are lost
    (`lost_before_groups`).  Per partition they are offsets `[_unread_from, _unread_end)`.
    """

    config: KafkaTopicConfig
    parts: list[Partition]
    groups: list[Group]
    _parked_down: list[Consumer]
    _consumers_blocked: int
    _blocked_since: float
    blocked_union_s: float
    lost_before_groups: int

    def trim_log(self, part: Partition, older_than: float, most: float) -> None:
        part.trim(older_than, most)  # `LogSide` keeps segments instead when a `log:` block is given

    # ---- messages no group reads yet ---------------------------------------------------------
    def setup_unread(self) -> None:
        self._unread_from = [0] * len(self.parts)
        self._unread_end = [0] * len(self.parts)

    def unread(self) -> int:
        """Messages in the log that no group has taken in (written before every group started)."""
        spans = zip(self._unread_from, self._unread_end, self.parts, strict=True)
        return sum(max(0, end - max(start, part.lso)) for start, end, part in spans)

    def _unread_deleted(self, part: Partition) -> None:
        """Retention deleted messages no group had taken in: lost."""
        p = part.index
        gone = min(part.lso, self._unread_end[p]) - self._unread_from[p]
        if gone > 0:
            self._unread_from[p] += gone
            self.lost += gone
            self.lost_before_groups += gone

    def _unread_taken(self, part: Partition) -> int:
        """A group starting from `earliest` takes in the unread messages still retained."""
        p = part.index
        taken = max(0, self._unread_end[p] - max(self._unread_from[p], part.lso))
        self._unread_from[p] = max(self._unread_from[p], self._unread_end[p])
        return taken

    # ---- group start ---------------------------------------------------------------------
    def _activate(self, event: Any) -> None:
        group: Group = event._value
        earliest = self.config.group(group.name).start == "earliest"
        group.advance(self.env.now)
        for p, part in enumerate(self.parts):
            offset = part.lso if earliest else part.leo
            group.position[p] = group.committed[p] = offset
            if group.ms is not None:
                group.ms.commit[p] = offset
            group.change(p, part.leo - offset - group.backlog[p], self.env.now)
            # the retained log enters the group's scope: a copy of what other groups read, and the
            # unread messages themselves (no copy: no group had them)
            taken = self._unread_taken(part) if earliest else 0
            self.created += part.leo - offset - taken
        group.refresh_age(self.parts)
        group.active = True
        for member in group.members:
            member.joined_at = member.last_commit = self.env.now
        self._start_scaler(group)
        group.lag_max = max(group.lag_max, group.lag)
        if self.tracing:
            self.log(f"group {group.name} starts at {group.lag} behind")
        for member in group.members:
            if member.partitions:
                self._poll(member)

    # ---- consumers -----------------------------------------------------------------------
    def _poll(self, member: Consumer) -> None:
        """Poll, process and hand over record by record, poll again: the consumer's loop.

        A loop, not a recursion: polls whose records all go downstream at once (no processing
        time, room downstream) follow each other here without an event each.
        """
        group = member.group
        ms = group.ms
        while True:
            if group.suspended:  # its job is down (see `_kafka_rewind`)
                group.asleep[member] = None
                member.idle = True
                return
            if self._faults:
                if member not in self._parked_down:
                    self._parked_down.append(member)
                return
            if ms is not None and not self._may_poll(member, ms):
                return
            n = self._fetch(member)
            if n == 0:
                if ms is not None:
                    self._empty_poll(member, ms)
                interval = self.config.group(group.name).poll_interval
                if interval > 0:
                    self.call_later(interval, self._repoll, (member, member.epoch))
                else:
                    member.parked = True
                    for p in member.partitions:
                        self.parts[p].parked[member] = None
                return
            if not self._work(member):
                return  # processing, or waiting for room downstream: the callback goes on

    def _repoll(self, event: Any) -> None:
        member, epoch = event._value
        if epoch == member.epoch:
            self._poll(member)

    def _fetch(self, member: Consumer) -> int:
        """Up to max_poll_records from the assigned partitions, each in offset order, as pieces."""
        group = member.group
        position, parts, work = group.position, self.parts, member.work
        room = self.config.group(group.name).max_poll_records
        take: list[str] = []
        count = len(member.partitions)
        for step in range(count):
            p = member.partitions[(member.turn + step) % count]
            part = parts[p]
            if not part.online:
                continue  # its leader is being elected: nothing to fetch
            offset = position[p]
            k = min(part.leo - offset, room)
            if k <= 0:
                continue
            part.fetch(offset, k, work)
            position[p] = offset + k
            if self.tracing:
                take.append(f"p{p}@{offset}+{k}")
            room -= k
            if room == 0:
                break
        member.turn = (member.turn + 1) % count
        n = self.config.group(group.name).max_poll_records - room
        if n and self.tracing:
            member.poll = Item(min(piece[3] for piece in work), n, work[0][4])
            self.log(f"poll {group.name}.{member.index} " + " ".join(take), member.poll)
        return n

    def _work(self, member: Consumer) -> bool:
        """Process the poll's pieces in order, each handed downstream as soon as it is processed.

        Returns True when the whole poll went downstream now; False when a piece is being
        processed or waits for room downstream (its callback resumes the loop).
        """
        group = member.group
        work = member.work
        while work:
            piece = work[0]
            cost = group.processing_time(piece[2]) * member.slow
            if cost > 0:
                member.busy_s += cost
                if group.ms is not None:
                    self._watch(member, group.ms, self.env.now + cost)
                self.call_later(cost, self._processed, (member, member.epoch))
                return False
            if not self._hand(member, piece):
                return False
        self._committed(member)
        return True

    def _processed(self, event: Any) -> None:
        member, epoch = event._value
        if epoch != member.epoch:
            return  # the consumer crashed or gave the partition up meanwhile: the work is void
        if self._hand(member, member.work[0]):
            self._resume(member)

    def _hand(self, member: Consumer, piece: Piece) -> bool:
        """Hand one processed piece downstream; True when it went at once."""
        work = member.work
        p, offset, n, born, key = piece
        item = Item(born, n, key)
        if member.group.replays:
            part = p if p >= 0 else -1 - p  # (p < 0: a record of a partition its former owner still hands on)
            item.payload = LogPosition(self, part, offset, member.group.name)
        if self.deliver(member.group.target, item, partial(self._handed_late, member)):
            if work and work[0] is piece:  # (a rebalance woken by the hand-over may have cleared it)
                work.popleft()
            self._handed(member, p, offset, n)
            return True
        member.blocked_since = now = self.env.now  # refused: the consumer holds it, busy
        member.offered = item
        self._consumers_blocked += 1
        if self._consumers_blocked == 1:
            self._blocked_since = now
        if member.group.ms is not None:
            self._watch(member, member.group.ms, math.inf)
        return False

    def _handed_late(self, member: Consumer, _item: Item, _t_in: float) -> None:
        now, start = self.env.now, self._window_start
        assert member.blocked_since is not None
        member.busy_s += now - max(member.blocked_since, start)
        member.blocked_since = member.offered = None
        self._consumers_blocked -= 1
        if self._consumers_blocked == 0:
            self.blocked_union_s += now - max(self._blocked_since, start)
        p, offset, n, _born, _key = member.work.popleft()
        self._handed(member, p, offset, n)
        self._resume(member)

    def _resume(self, member: Consumer) -> None:
        """A piece went downstream after a wait: go on with the poll, then poll again."""
        if self._work(member):
            self._poll(member)

    def _handed(self, member: Consumer, p: int, offset: int, n: int) -> None:
        """A piece is downstream: it leaves the group's backlog (it is consumed)."""
        group = member.group
        if p < 0:  # its partition has a new owner, who reads these records again
            self._duplicate(group, n)
            return
        group.advance(self.env.now)
        group.committed[p] = max(group.committed[p], offset + n)
        group.change(p, -n, self.env.now)
        group.refresh_age(self.parts)
        group.consumed += n
        self.completed += n

    def _committed(self, member: Consumer) -> None:
        """The whole poll is downstream: its offsets are committed (with `commit: per_batch`;
        auto commit waits for the next poll after the interval)."""
        ms = member.group.ms
        auto = ms is not None and ms.spec.commit == "auto"
        if ms is not None and not auto:
            self._commit(member.group, member.partitions)
        if self.tracing:  # under auto commit the offsets wait for a later poll (`auto commit` in the trace)
            self.log(f"{'handed' if auto else 'commit'} {member.group.name}.{member.index}", member.poll)

    # ---- retention -----------------------------------------------------------------------
    def _retention(self, _event: Any) -> None:
        now = self.env.now
        config = self.config
        older_than = now - config.retention if config.retention is not None else -math.inf
        most = config.retention_bytes / config.message_size if config.retention_bytes is not None else math.inf
        for part in self.parts:
            before = part.lso
            self.trim_log(part, older_than, most)
            if part.lso != before:
                self._unread_deleted(part)
                self._lose(part)
        self.env.timeout(config.retention_check_interval).callbacks.append(self._retention)

    def _lose(self, part: Partition) -> None:
        """Groups that had not fetched the deleted messages lose them; every group's oldest
        unread message may have changed (a fetched, uncommitted one can be deleted too)."""
        p = part.index
        now = self.env.now
        for group in self.groups:
            if not group.active:
                continue
            group.advance(now)
            if group.position[p] < part.lso:
                # the next fetch is out of range: the consumer resets by auto.offset.reset
                lost = part.lso - group.position[p]
                latest = self.config.group(group.name).offset_reset == "latest"
                skipped = part.leo - part.lso if latest else 0  # the retained backlog, never read
                resume = part.lso + skipped
                if group.committed[p] == group.position[p]:  # nothing of p in a consumer's hands
                    group.committed[p] = resume
                group.lost += lost
                group.skipped += skipped
                self.lost += lost + skipped
                group.change(p, -lost - skipped, now)
                group.position[p] = resume
                if self.tracing:
                    reset = f", reset to the log end: skipped {skipped}" if latest else ""
                    self.log(f"retention p{p} lost {lost} for {group.name}{reset}")
            group.refresh_age(self.parts)
