"""A topic's half of a job restoring its checkpoint: the group that feeds the job stops while the
job is down and re-reads the log from the offsets of the job's last completed checkpoint.

Flink's KafkaSource keeps the offsets it read up to in the job's checkpointed state and, after a
failure, "restores the state of the source from the checkpoint and starts reading from the
offsets stored"; Spark Structured Streaming replays from the offsets in its checkpoint location;
Kafka Streams resumes from the group's committed offsets.  So here, for a group whose target is a
`stream_processor` (see `engine.replay`):
- records handed to the job carry their `LogPosition`;
- the job's crash stops the group's consumers (the source readers live in the job): a record held
  refused downstream is withdrawn, fetched records not handed on are dropped;
- the group's position goes back to the job's checkpoint offsets: the records handed on since
  re-enter its backlog (the lag jumps back by them), counted `reread`; those the job still held
  are taken back (the topic's `consumed` and the job's `arrivals` fall by them), those it had
  already emitted are copies (`created`: the job emits them again, duplicates under
  at-least-once); records handed on since the checkpoint that retention deleted before they
  are read again are `lost` (`lost_to_retention`): the restored job never processes them again
  (output emitted from them before the crash may be downstream, but the restored state misses
  them);
- the job's restart wakes the consumers, which fetch from the rewound offsets.

The leading underscore keeps the registry from treating this module as a kind.
"""

from __future__ import annotations

from flowsim.nodes._kafka_parts import Consumer, Group
from flowsim.nodes._kafka_scaling import ScalingSide


class RewindSide(ScalingSide):
    """Suspend, rewind and resume a group for its target's checkpoint (`ConsumerSide` inherits it)."""

    _parked_down: list[Consumer]
    _consumers_blocked: int
    _blocked_since: float
    blocked_union_s: float

    def _reader(self, reader: str) -> Group:
        """The group a job reads through (a group is named after the node it feeds)."""
        return next(group for group in self.groups if group.name == reader)

    def suspend_reader(self, reader: str) -> None:
        """The job crashed: every consumer of its group stops (they are the job's source readers)."""
        group = self._reader(reader)
        group.suspended = True
        for member in group.members:
            self._sleep(member)
            group.asleep[member] = None
        for p, part in enumerate(self.parts):  # no consumer holds a fetched record any more
            group.position[p] = group.committed[p] = max(group.committed[p], part.lso)

    def _sleep(self, member: Consumer) -> None:
        """Withdraw the record the job refused, void the pending callbacks, drop fetched records."""
        offered = member.offered
        if member.blocked_since is not None and offered is not None:
            withdrawn = self.withdraw(member.group.target, offered)
            assert withdrawn, "a blocked consumer's record waits in its target's line"
            now, start = self.env.now, self._window_start
            member.busy_s += now - max(member.blocked_since, start)
            member.blocked_since = member.offered = None
            self._consumers_blocked -= 1
            if self._consumers_blocked == 0:
                self.blocked_union_s += now - max(self._blocked_since, start)
        if member in self._parked_down:
            self._parked_down.remove(member)
        self._stop(member)  # (epoch bumped, work dropped, position back to what was handed on)

    def rewind_reader(
        self, reader: str, restore: dict[int, int], discarded: list[tuple[int, int, int]]
    ) -> dict[int, int]:
        """Back to the job's checkpoint offsets; see the module docstring for the counting."""
        group = self._reader(reader)
        now = self.env.now
        group.advance(now)
        taken_back = sum(n for _p, _offset, n in discarded)  # handed on, thrown away by the job
        self.completed -= taken_back
        group.consumed -= taken_back
        starts: dict[int, int] = {}
        back = lost = 0
        for p, offset in sorted(restore.items()):
            part, handed = self.parts[p], group.committed[p]
            start = min(max(offset, part.lso), handed)
            deleted = max(min(part.lso, handed) - offset, 0)  # handed since, deleted since: not read again
            lost += deleted
            again = handed - start
            if again > 0:
                group.change(p, again, now)
                group.partition_lag_max[p] = max(group.partition_lag_max[p], group.backlog[p])
                back += again
                if self.tracing:
                    self.log(f"rewind {group.name} p{p}@{start}+{again}")
            if deleted and self.tracing:
                self.log(f"rewind {group.name} p{p}: {deleted} deleted by retention, lost")
            group.committed[p] = group.position[p] = start
            if group.ms is not None:
                group.ms.commit[p] = min(group.ms.commit[p], start)
            starts[p] = start
        group.lost += lost
        self.lost += lost
        self.created += back + lost - taken_back  # copies of the records the job had emitted
        group.reread += back
        group.lag_max = max(group.lag_max, group.lag)
        group.refresh_age(self.parts)
        return starts

    def resume_reader(self, reader: str) -> None:
        """The job is back: its group's consumers poll again, from the rewound offsets."""
        group = self._reader(reader)
        group.suspended = False
        asleep, group.asleep = group.asleep, {}
        if not group.active:
            return  # its start wakes them
        for member in asleep:
            if member.partitions or group.ms is not None:
                member.idle = False
                self._poll(member)
