"""The reading half of `kafka_topic`: consumer groups polling, handing over and committing, and
retention deleting what a group had not read yet.

`KafkaTopicNode` (in `kafka_topic`) inherits this and adds the producer side; the leading
underscore keeps the registry from treating this module as a kind.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TYPE_CHECKING, Any

from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.nodes._kafka_parts import Consumer, Group, Partition

if TYPE_CHECKING:
    from flowsim.nodes.kafka_topic import KafkaTopicConfig

Take = list[tuple[int, int, int]]  # (partition, first offset, messages) fetched by one poll


class ConsumerSide(NodeRuntime):
    """Consumer groups and retention of a topic; the attributes below are set by `KafkaTopicNode`."""

    config: KafkaTopicConfig
    parts: list[Partition]
    groups: list[Group]
    _parked_down: list[Consumer]

    # ---- group start ---------------------------------------------------------------------
    def _activate(self, event: Any) -> None:
        group: Group = event._value
        earliest = self.config.group(group.name).start == "earliest"
        group.advance(self.env.now)
        for p, part in enumerate(self.parts):
            offset = part.lso if earliest else part.leo
            group.position[p] = group.committed[p] = offset
            group.backlog[p] = part.leo - offset
            self.created += part.leo - offset  # the retained log enters the group's scope
        group.refresh_age(self.parts)
        group.active = True
        group.lag_max = max(group.lag_max, group.lag)
        if self.tracing:
            self.log(f"group {group.name} starts at {group.lag} behind")
        for member in group.members:
            if member.partitions:
                self._poll(member)

    # ---- consumers -----------------------------------------------------------------------
    def _poll(self, member: Consumer) -> None:
        if self._faults:
            self._parked_down.append(member)
            return
        group = member.group
        take, n, born, key = self._fetch(member)
        if n == 0:
            interval = self.config.group(group.name).poll_interval
            if interval > 0:
                self.env.timeout(interval, member).callbacks.append(self._repoll)
            else:
                member.parked = True
                for p in member.partitions:
                    self.parts[p].parked.append(member)
            return
        item = Item(born, n, key)
        if self.tracing:
            self.log(f"poll {group.name}.{member.index} " + " ".join(f"p{p}@{o}+{k}" for p, o, k in take), item)
        cost = group.processing_time(n)
        member.busy_s += cost
        done = self.env.timeout(cost, (member, item, take))
        done.callbacks.append(self._processed)

    def _repoll(self, event: Any) -> None:
        self._poll(event._value)

    def _fetch(self, member: Consumer) -> tuple[Take, int, float, int]:
        """Up to max_poll_records from the assigned partitions, each in offset order."""
        group = member.group
        room = self.config.group(group.name).max_poll_records
        take: Take = []
        born, key = math.inf, -1
        count = len(member.partitions)
        for step in range(count):
            p = member.partitions[(member.turn + step) % count]
            part = self.parts[p]
            offset = group.position[p]
            k = min(part.leo - offset, room)
            if k <= 0:
                continue
            entry = part.entry(offset)
            if part.born[entry] < born:
                born = part.born[entry]
            key = part.key[entry] if key < 0 else key
            take.append((p, offset, k))
            group.position[p] = offset + k
            room -= k
            if room == 0:
                break
        member.turn = (member.turn + 1) % count
        return take, sum(k for _, _, k in take), born, key

    def _processed(self, event: Any) -> None:
        member, item, take = event._value
        if self.deliver(member.group.target, item, partial(self._handed_late, member, take)):
            self._handed(member, take, item)

    def _handed_late(self, member: Consumer, take: Take, item: Item, _t_in: float) -> None:
        self._handed(member, take, item)

    def _handed(self, member: Consumer, take: Take, item: Item) -> None:
        """The batch is downstream: commit its offsets and poll again."""
        group = member.group
        group.advance(self.env.now)
        for p, offset, k in take:
            group.committed[p] = max(group.committed[p], offset + k)
            group.backlog[p] -= k
        group.refresh_age(self.parts)
        group.consumed += item.n
        self.completed += item.n
        if self.tracing:
            self.log(f"commit {group.name}.{member.index}", item)
        self._poll(member)

    # ---- retention -----------------------------------------------------------------------
    def _retention(self, _event: Any) -> None:
        now = self.env.now
        config = self.config
        older_than = now - config.retention if config.retention is not None else -math.inf
        most = config.retention_bytes / config.message_size if config.retention_bytes is not None else math.inf
        for part in self.parts:
            before = part.lso
            part.trim(older_than, most)
            if part.lso != before:
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
                lost = part.lso - group.position[p]
                group.lost += lost
                self.lost += lost
                group.backlog[p] -= lost
                group.position[p] = part.lso
                if self.tracing:
                    self.log(f"retention p{p} lost {lost} for {group.name}")
            group.refresh_age(self.parts)
