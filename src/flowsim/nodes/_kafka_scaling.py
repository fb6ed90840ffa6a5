"""Consumer faults, lag-driven consumer autoscaling, and the membership figures of a group.

A fault that names a `group` of a topic crashes (or, with `leave: true`, cleanly stops) that
group's consumers `consumer` .. `consumer + consumers - 1` for its `for`, then restarts them; a
`slowdown` fault stretches their processing instead (a poll that then outlasts
`max_poll_interval` gets the member evicted).  The autoscaler reads the group's lag every
`interval` and sets ceil(lag / target_lag) consumers within [min, max], and never more than the
partitions (KEDA's Kafka scaler with `allowIdleConsumers: false`), the lag counted as KEDA counts
it, from the committed offsets (what was read or handed on since the last commit counts);
a scale-in goes only to the most consumers asked for over the last `scale_down_window` (the
HPA's stabilization window, 300 s) and, with a `cooldown`, waits that long after the last step;
every step is one membership change, so one rebalance.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from flowsim.engine.autoscaling import hpa_step
from flowsim.nodes._kafka_group import MembershipSide
from flowsim.nodes._kafka_parts import Consumer, Group


class ConsumerFaultPlan(Protocol):
    """What a consumer fault names (the scenario's `FaultSpec` is one)."""

    @property
    def group(self) -> str | None: ...
    @property
    def consumer(self) -> int: ...
    @property
    def consumers(self) -> int: ...
    @property
    def leave(self) -> bool: ...


class ConsumerFault:
    """The fault target for some consumers of a group: crashing them is the outage."""

    def __init__(self, side: ScalingSide, group: Group, first: int, count: int, leave: bool) -> None:
        self.side, self.group, self.leave = side, group, leave
        self.indexes = range(first, first + count)

    def _members(self) -> list[Consumer]:
        return [m for m in self.group.members if m.index in self.indexes]

    def fault_begin(self) -> None:
        for member in self._members():
            member.faults += 1
            if member.faults == 1:
                self.side._crash(member, self.leave)

    def fault_end(self) -> None:
        for member in self._members():
            member.faults -= 1
            if member.faults == 0:
                self.side._restart(member)

    def brownout_begin(self, factor: float) -> None:
        for member in self._members():
            member.slow *= factor

    def brownout_end(self, factor: float) -> None:
        for member in self._members():
            member.slow /= factor


class ScalingSide(MembershipSide):
    """Fault targets, the autoscaler and the membership figures (`ConsumerSide` inherits it)."""

    def fault_target(self, plan: ConsumerFaultPlan) -> ConsumerFault | None:
        """The consumers a fault names (None: the fault takes the whole topic down)."""
        if plan.group is None:
            return None
        group = next(g for g in self.groups if g.name == plan.group)
        self._member_group(group, self.config.group(group.name).membership)
        return ConsumerFault(self, group, plan.consumer, plan.consumers, plan.leave)

    # ---- autoscaling ---------------------------------------------------------------------
    def _start_scaler(self, group: Group) -> None:
        ms = group.ms
        if ms is not None and ms.spec.autoscale is not None:
            self.call_later(ms.spec.autoscale.interval, self._scale, group)

    def _scale(self, event: Any) -> None:
        group: Group = event._value
        ms = group.ms
        assert ms is not None and ms.spec.autoscale is not None
        rule = ms.spec.autoscale
        now = self.env.now
        self.call_later(rule.interval, self._scale, group)
        running = [m for m in group.members if m.provisioned]
        most = min(rule.max_consumers, len(self.parts))  # KEDA does not scale past the partitions
        lag = self.committed_lag(group)
        want = min(max(math.ceil(lag / rule.target_lag), rule.min_consumers), most)
        have = len(running)
        ratio = lag / (rule.target_lag * have) if have else math.inf  # lag per consumer / target
        want = hpa_step(have, want, ratio, rule.tolerance, rule.scale_up_pods, rule.scale_up_percent, ms.window, now)
        if want == have or (want < have and now - ms.last_step < rule.cooldown):
            return
        if self.tracing:
            self.log(f"scale {group.name} {have} -> {want} (lag {lag})")
        ms.last_step = now
        ms.steps.append((now, have, want))
        ms.window_steps += 1
        if want > have:
            for _ in range(want - have):
                member = next((m for m in group.members if not m.provisioned), None)
                if member is None:
                    member = Consumer(group, len(group.members), [])
                    member.alive = member.joined = False
                    group.members.append(member)
                member.provisioned = member.alive = True
                self._stop(member)
                self._join(member, trigger=False)
            self._trigger(group, f"scaled out to {want}")
            return
        for member in sorted(running, key=lambda m: m.index)[want:]:
            member.provisioned = False
            self._leave_quietly(member)
        self._trigger(group, f"scaled in to {want}")

    def committed_lag(self, group: Group) -> int:
        """The lag KEDA's scaler reads: each partition's log end minus the group's committed offset
        (`getLagForPartition`), so records read or handed on but not yet committed count too."""
        assert group.ms is not None
        return sum(max(0, part.leo - commit) for part, commit in zip(self.parts, group.ms.commit, strict=True))

    def _leave_quietly(self, member: Consumer) -> None:
        """A scaled-in consumer stops cleanly: it commits and leaves (one rebalance per step)."""
        group = member.group
        if member.alive:
            member.alive = False
            self._stop(member)
            if member.joined:
                self._commit(group, member.partitions)
            member.partitions = []
            member.joined = False
        self._set_live(group)

    # ---- results -------------------------------------------------------------------------
    def membership_series(self, row: dict[str, float]) -> None:
        for group in self.groups:
            if group.ms is not None:
                row[f"consumers.{group.name}"] = float(group.ms.live)
                row[f"rebalancing.{group.name}"] = 1.0 if group.ms.rebalancing else 0.0

    def membership_figures(self, span: float, now: float) -> dict[str, float]:
        figures: dict[str, float] = {}
        for group in self.groups:
            ms = group.ms
            if ms is None:
                continue
            ms.set_live(ms.live, now)
            ms.set_unowned(ms.unowned, now)
            running = now - max(ms.since, self._window_start) if ms.rebalancing else 0.0
            name = group.name
            figures |= {
                f"rebalances.{name}": ms.rebalances,
                f"rebalance_time_s.{name}": ms.rebalance_s + running,
                f"redelivered.{name}": ms.redelivered,
                f"evictions.{name}": ms.evictions,
                f"consumer_crashes.{name}": ms.crashes,
                f"scale_steps.{name}": ms.window_steps,
                f"paused_partition_s.{name}": ms.paused_area,
                f"consumers_mean.{name}": ms.live_area / span,
                f"consumers_max.{name}": ms.live_max,
                f"consumers_min.{name}": ms.live_min,
            }
        return figures
