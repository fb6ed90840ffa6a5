"""Consumers as members of a group: crashes, detection, eviction, rebalances and offset commits.

A group with a `membership` block (or one a fault targets) runs as Kafka's group coordinator
does.  Every membership change (a crash detected `session_timeout` after the member's last
heartbeat, a clean leave, a member evicted after `max_poll_interval` on one poll, a restart or a
scale step joining) starts a rebalance round of `rebalance_time`, or restarts the round running;
a round cannot end while a crashed member's session is still open (the coordinator waits for
it).  Eager: at the round's start every member gives up all its partitions (committing what it
handed on) and at its end all are assigned afresh, round robin.  Cooperative: members keep
consuming; at the round's end those over their share give up (commit) the partitions that move,
and a second round assigns them; partitions of members gone are assigned at the first.

A partition gets a new owner at its committed offset, so the records handed on since the last
commit are delivered again: they re-enter the group's backlog, counted `created` (as the
at-least-once re-emit of a job) and `redelivered`.  A record still handed on by a member that no
longer owns its partition (evicted, or crashed holding it downstream) after the new owner took
over is a duplicate too: `created` and `redelivered` once more.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flowsim.engine.autoscaling import ScaleDownWindow
from flowsim.engine.node import NodeRuntime
from flowsim.nodes._kafka_assign import round_robin, sticky
from flowsim.nodes._kafka_group_spec import MembershipSpec
from flowsim.nodes._kafka_parts import Consumer, Group, Partition

if TYPE_CHECKING:
    from flowsim.nodes.kafka_topic import KafkaTopicConfig


class Ghost:
    """A crashed member's session, still in the group until the coordinator notices."""

    __slots__ = ("index", "partitions")

    def __init__(self, index: int, partitions: list[int]) -> None:
        self.index = index
        self.partitions = partitions  # owned and not consumed until the session expires


class Membership:
    """The coordinator's view of one group: committed offsets, open sessions, the running round."""

    def __init__(self, spec: MembershipSpec, partitions: int) -> None:
        self.spec = spec
        self.eager = spec.protocol == "eager"
        self.commit = [0] * partitions  # committed offsets: where a new owner starts
        self.ghosts: list[Ghost] = []
        self.rebalancing = False
        self.since = 0.0  # when the running rebalance began
        self.round = 0  # generation of the running round (a restart voids the old end)
        self.last_step = -math.inf  # the autoscaler's last step
        scale = spec.autoscale
        self.window = ScaleDownWindow(scale.scale_down_window if scale is not None else 0.0)  # its recent asks
        self.steps: list[tuple[float, int, int]] = []  # (time, consumers before, after)
        self.live = 0  # members alive and in the group
        self.unowned = 0  # partitions no live member consumes now
        self.reset(0.0)

    def reset(self, now: float) -> None:
        self.rebalances = 0
        self.rebalance_s = 0.0
        self.redelivered = 0
        self.evictions = 0
        self.crashes = 0
        self.live_area = 0.0
        self.live_t = now
        self.live_max = self.live_min = self.live
        self.window_steps = 0
        self.paused_area = 0.0  # partition-seconds with no live owner
        self.paused_t = now

    def set_unowned(self, unowned: int, now: float) -> None:
        self.paused_area += self.unowned * (now - self.paused_t)
        self.paused_t = now
        self.unowned = unowned

    def set_live(self, live: int, now: float) -> None:
        self.live_area += self.live * (now - self.live_t)
        self.live_t = now
        self.live = live
        self.live_max = max(self.live_max, live)
        self.live_min = min(self.live_min, live)


class MembershipSide(NodeRuntime):
    """The coordinator's half of a topic's consumer side (`ConsumerSide` inherits it)."""

    config: KafkaTopicConfig
    parts: list[Partition]
    groups: list[Group]

    def _poll(self, member: Consumer) -> None:
        raise NotImplementedError

    # ---- set-up --------------------------------------------------------------------------
    def _member_group(self, group: Group, spec: MembershipSpec | None) -> None:
        """Run `group` as a member group (defaults when it declares no `membership`)."""
        if group.ms is None:
            group.ms = Membership(spec or MembershipSpec(), len(self.parts))
            group.ms.live = len(group.members)

    # ---- the poll loop's questions -------------------------------------------------------
    def _may_poll(self, member: Consumer, ms: Membership) -> bool:
        """Before a poll: may this member fetch?  Auto-commits when the interval has passed."""
        if not member.alive or not member.group.active:  # (a group that starts later reads nothing yet)
            member.idle = True
            return False
        now = self.env.now
        if not member.joined:  # evicted, and its poll is over: it rejoins
            member.idle = True
            self._join(member)
            return False
        if not member.partitions:
            member.idle = True
            return False
        spec = ms.spec
        if spec.commit == "auto" and now - member.last_commit >= spec.auto_commit_interval:
            self._commit(member.group, member.partitions)
            member.last_commit = now
            if self.tracing:
                self.log(f"auto commit {member.group.name}.{member.index}")
        member.poll_at = now
        member.watching = False
        return True

    def _empty_poll(self, member: Consumer, ms: Membership) -> None:
        """Nothing to fetch: an auto-committing consumer still commits once the interval passes
        (its poll loop keeps calling poll), if it handed on anything not yet committed."""
        if ms.spec.commit != "auto" or member.commit_due:
            return
        handed, commit = member.group.committed, ms.commit
        if any(handed[p] > commit[p] for p in member.partitions):
            member.commit_due = True
            due = member.last_commit + ms.spec.auto_commit_interval - self.env.now
            self.call_later(max(due, 0.0), self._auto_commit, (member, member.epoch))

    def _auto_commit(self, event: Any) -> None:
        member, epoch = event._value
        member.commit_due = False
        if epoch == member.epoch and member.alive and member.joined:
            self._commit(member.group, member.partitions)
            member.last_commit = self.env.now
            if self.tracing:
                self.log(f"auto commit {member.group.name}.{member.index}")

    def _watch(self, member: Consumer, ms: Membership, until: float) -> None:
        """Work on this poll lasts at least until `until`: past max_poll_interval, evict then."""
        deadline = member.poll_at + ms.spec.max_poll_interval
        if member.watching or until <= deadline or not member.joined:
            return
        member.watching = True
        self.call_later(deadline - self.env.now, self._poll_overdue, (member, member.poll_at))

    def _poll_overdue(self, event: Any) -> None:
        member, poll_at = event._value
        ms = member.group.ms
        if member.poll_at != poll_at or not member.alive or not member.joined or not member.work or ms is None:
            return
        ms.evictions += 1
        member.joined = False
        member.partitions = []  # no commit: its work since the last one is delivered again
        self._set_live(member.group)
        self._trigger(member.group, f"{member.group.name}.{member.index} evicted (max_poll_interval)")

    # ---- membership changes --------------------------------------------------------------
    def _crash(self, member: Consumer, leave: bool) -> None:
        """The consumer process stops: a crash (detected later) or a clean leave (at once)."""
        group, ms = member.group, member.group.ms
        if not member.alive or ms is None:
            return
        now = self.env.now
        member.alive = False
        self._stop(member)
        owned, member.partitions = member.partitions, []
        joined, member.joined = member.joined, False
        self._set_live(group)
        if self.tracing:
            self.log(f"{'leave' if leave else 'crash'} {group.name}.{member.index}")
        if not joined:
            return  # already evicted: no session to close
        if leave:
            self._commit(group, owned)  # a clean close commits what it handed on
            self._trigger(group, f"{group.name}.{member.index} left")
            return
        ms.crashes += 1
        ghost = Ghost(member.index, owned)
        ms.ghosts.append(ghost)
        beat = ms.spec.heartbeat_interval
        last = member.joined_at + math.floor((now - member.joined_at) / beat + 1e-9) * beat
        self.call_later(last + ms.spec.session_timeout - now, self._expired, (group, ghost))

    def _expired(self, event: Any) -> None:
        group, ghost = event._value
        assert group.ms is not None
        group.ms.ghosts.remove(ghost)
        self._trigger(group, f"session of {group.name}.{ghost.index} expired")

    def _restart(self, member: Consumer) -> None:
        """The consumer process is back: it joins as a new member."""
        if member.alive or not member.provisioned:
            return
        member.alive = True
        self._stop(member)
        self._join(member)

    def _join(self, member: Consumer, trigger: bool = True) -> None:
        now = self.env.now
        member.joined = True
        member.joined_at = member.last_commit = now
        self._set_live(member.group)
        if trigger:
            self._trigger(member.group, f"{member.group.name}.{member.index} joined")

    def _stop(self, member: Consumer) -> None:
        """Void the member's pending callbacks and drop its fetched records (fetched again by
        the partition's next owner); a record held downstream refused stays until handed."""
        member.epoch += 1
        member.parked = False
        work = member.work
        head = work[0] if work and member.blocked_since is not None else None
        dropped = list(work)[1:] if head is not None else list(work)
        work.clear()
        if head is not None:
            work.append(head)
        member.idle = head is None
        group, parts, now = member.group, self.parts, self.env.now
        for p, offset, n, _born, _key in dropped:
            if p >= 0 and offset < parts[p].lso:  # deleted by retention while in its hands: gone now
                group.advance(now)
                group.change(p, -n, now)
                group.lost += n
                self.lost += n
        for p in member.partitions:  # read again from what was handed on (and the record held)
            held = head[2] if head is not None and head[0] == p else 0
            group.position[p] = max(group.committed[p] + held, parts[p].lso)
            if not held:
                group.committed[p] = max(group.committed[p], parts[p].lso)
        if dropped:
            group.refresh_age(parts)

    def _set_live(self, group: Group) -> None:
        """After a membership or ownership change: members alive and in the group, partitions
        no live member consumes (unassigned, held by a dead session, stopped by a rebalance)."""
        assert group.ms is not None
        live = sum(1 for m in group.members if m.alive and m.joined)
        group.ms.set_live(live, self.env.now)
        owned = sum(len(m.partitions) for m in group.members if m.alive and m.joined)
        group.ms.set_unowned(len(self.parts) - owned, self.env.now)

    # ---- rebalance rounds ----------------------------------------------------------------
    def _trigger(self, group: Group, why: str) -> None:
        """A membership change: (re)start a round; under eager every member gives up all."""
        ms = group.ms
        assert ms is not None
        ms.rebalances += 1
        if not ms.rebalancing:
            ms.rebalancing = True
            ms.since = self.env.now
        if ms.eager:
            for member in group.members:
                if member.partitions:
                    self._revoke(member, member.partitions)
        ms.round += 1
        self._set_live(group)
        if self.tracing:
            self.log(f"rebalance {group.name}: {why}")
        self.call_later(ms.spec.rebalance_time, self._round_end, (group, ms.round))

    def _revoke(self, member: Consumer, lose: Iterable[int]) -> None:
        """A live member gives up partitions cleanly: commits them, stops its poll, keeps the rest."""
        group = member.group
        lose = set(lose)
        self._commit(group, lose)
        self._stop(member)
        member.partitions = [p for p in member.partitions if p not in lose]

    def _round_end(self, event: Any) -> None:
        group, generation = event._value
        ms = group.ms
        if generation != ms.round:
            return  # restarted by a later change
        if ms.ghosts:
            if self.tracing:
                self.log(f"rebalance {group.name} waits for {len(ms.ghosts)} session(s) to expire")
            return  # the coordinator waits for the dead members; their expiry restarts the round
        members = [m for m in group.members if m.alive and m.joined]
        count = len(self.parts)
        if ms.eager:
            plan = round_robin([m.index for m in members], count)
            self._finish(group, plan)
            for member in members:
                self._assign(member, plan[member.index])
            self._set_live(group)
            return
        plan = sticky({m.index: m.partitions for m in members}, count)
        revoked: set[int] = set()
        for member in members:
            lose = set(member.partitions) - set(plan[member.index])
            if lose:
                self._revoke(member, lose)
                revoked |= lose
                if member.idle and member.partitions:  # it goes on with the partitions it keeps
                    member.idle = False
                    self._poll(member)
        if revoked:
            self._trigger(group, f"assign {len(revoked)} revoked partition(s)")
        else:
            self._finish(group, plan)
        for member in members:
            gain = [p for p in plan[member.index] if p not in member.partitions and p not in revoked]
            if gain:
                self._assign(member, member.partitions + gain)
        self._set_live(group)

    def _finish(self, group: Group, plan: dict[int, list[int]]) -> None:
        ms = group.ms
        assert ms is not None
        ms.rebalancing = False
        ms.rebalance_s += self.env.now - max(ms.since, self._window_start)
        if self.tracing:
            owners = " ".join(f"{m}:{','.join(map(str, parts))}" for m, parts in sorted(plan.items()) if parts)
            self.log(f"assigned {group.name} {owners}")

    def _assign(self, member: Consumer, partitions: list[int]) -> None:
        """Give `member` these partitions; new ones start at their committed offset."""
        for p in partitions:
            if p not in member.partitions:
                self._reposition(member.group, p)
        member.partitions = sorted(partitions)
        member.turn = 0
        if member.blocked_since is not None:
            return  # the hand-over's end resumes it
        if member.idle or member.parked:
            member.idle = member.parked = False
            self._poll(member)

    def _reposition(self, group: Group, p: int) -> None:
        """Partition p starts over at its committed offset: what was handed on since is delivered
        again; records fetched but not handed on by the last owner are fetched again."""
        ms = group.ms
        assert ms is not None
        part = self.parts[p]
        start = max(ms.commit[p], part.lso)
        for other in group.members:  # records of p still in a former owner's hands that the new
            if any(piece[0] == p and piece[1] >= start for piece in other.work):  # one reads again
                marked = [(-1 - q, o, *rest) if q == p and o >= start else (q, o, *rest) for q, o, *rest in other.work]
                other.work.clear()
                other.work.extend(marked)  # type: ignore[arg-type]
        now = self.env.now
        again = group.committed[p] - start
        group.advance(now)
        if again > 0:
            group.change(p, again, now)
            self.created += again
            ms.redelivered += again
            if self.tracing:
                self.log(f"redeliver {group.name} p{p}@{start}+{again}")
        # (again < 0: what lies before `start` is lost already or still in an evicted member's
        # hands, handed on by it once)
        group.committed[p] = group.position[p] = start
        group.refresh_age(self.parts)

    def _commit(self, group: Group, partitions: Iterable[int]) -> None:
        ms = group.ms
        assert ms is not None
        for p in partitions:
            ms.commit[p] = group.committed[p]

    def _duplicate(self, group: Group, n: int) -> None:
        """A former owner handed on records its partition's new owner reads again."""
        ms = group.ms
        assert ms is not None
        self.created += n
        ms.redelivered += n
        group.consumed += n
        self.completed += n
