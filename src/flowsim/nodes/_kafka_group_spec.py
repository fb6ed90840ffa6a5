"""How a consumer group reads (`ConsumerGroupSpec`) and how its members join, leave, commit and
scale (its `membership` block).

Defaults are Kafka's documented consumer configs (3.x / 4.x): `session.timeout.ms` 45 s (since
3.0, KIP-735), `heartbeat.interval.ms` 3 s, `max.poll.interval.ms` 300 s, `enable.auto.commit`
true with `auto.commit.interval.ms` 5 s.  The autoscaler follows KEDA's Kafka scaler: the
wanted consumer count is ceil(lag / `lagThreshold`) within the min and max replica counts,
evaluated every `pollingInterval` (30 s); scaling in waits out a cool-down (the HPA's 300 s
scale-down stabilisation window).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import Field, model_validator

from flowsim.distributions import Constant, Distribution
from flowsim.specmodel import SpecModel
from flowsim.units import Count, Duration, Number, Period


class AutoscaleSpec(SpecModel):
    """Lag-driven consumer autoscaling (KEDA's Kafka scaler driving the HPA)."""

    target_lag: Count = Field(
        ge=1,
        description="lag per consumer to aim at (KEDA's lagThreshold): wanted = ceil(lag / it), the lag from the "
        "committed offsets as KEDA reads it (log end - committed; uncommitted work counts)",
    )
    min_consumers: Count = Field(1, ge=1, description="never fewer (minReplicaCount)")
    max_consumers: Count = Field(
        ge=1, description="never more (maxReplicaCount); nor more than the partitions (KEDA: allowIdleConsumers false)"
    )
    interval: Period = Field(30.0, gt=0, description="how often the lag is read (KEDA's pollingInterval)")
    scale_down_window: Duration = Field(
        300.0, ge=0, le=3600,
        description="a scale-in goes only to the most consumers asked for over this window (the HPA's scale-down "
        "stabilization window, 300 s)",
    )  # fmt: skip
    cooldown: Duration = Field(
        0.0, ge=0, description="besides, no scale-in within this long of the last step (the HPA has no such delay)"
    )
    tolerance: Number = Field(
        0.1, ge=0, lt=1,
        description="no step while lag / (target_lag x consumers) is within 1 +- this (the HPA's tolerance, 0.1)",
    )  # fmt: skip
    scale_up_pods: Count = Field(4, ge=1, description="a step adds at most this many, or scale_up_percent")
    scale_up_percent: Number = Field(
        100.0, gt=0, description="a step adds at most this share of the consumers, or scale_up_pods (HPA: 4 or 100%)"
    )

    @model_validator(mode="after")
    def _range(self) -> AutoscaleSpec:
        if self.max_consumers < self.min_consumers:
            raise ValueError(f"max_consumers ({self.max_consumers}) is below min_consumers ({self.min_consumers})")
        return self


class MembershipSpec(SpecModel):
    """Group membership as Kafka's coordinator runs it: detection, eviction, rebalances, commits."""

    protocol: Literal["eager", "cooperative"] = Field(
        "eager",
        description="eager: every member stops and every partition is reassigned; cooperative "
        "(CooperativeStickyAssignor, KIP-429): only the partitions that move pause",
    )
    rebalance_time: Duration = Field(
        3.0, ge=0, description="one rebalance round (join + sync); members resume this long after the last change"
    )
    session_timeout: Duration = Field(
        45.0, gt=0, description="a crashed member is removed this long after its last heartbeat"
    )
    heartbeat_interval: Duration = Field(
        3.0, gt=0, description="members heartbeat this often (detection counts from the last one)"
    )
    max_poll_interval: Duration = Field(
        300.0, gt=0, description="a member still working on one poll after this long is evicted (and rejoins after it)"
    )
    commit: Literal["auto", "per_batch"] = Field(
        "auto",
        description="auto: at a poll once auto_commit_interval has passed; per_batch: after each poll is handed on",
    )
    auto_commit_interval: Duration = Field(5.0, gt=0, description="auto commit: the least time between commits")
    autoscale: AutoscaleSpec | None = Field(None, description="lag-driven consumer count; each step costs a rebalance")

    @model_validator(mode="after")
    def _heartbeats(self) -> MembershipSpec:
        if self.heartbeat_interval >= self.session_timeout:
            raise ValueError(
                f"heartbeat_interval ({self.heartbeat_interval:g}s) must be below session_timeout "
                f"({self.session_timeout:g}s): every member would be removed between two heartbeats"
            )
        return self


class ConsumerGroupSpec(SpecModel):
    """How one consumer group (one out-edge of the topic) reads."""

    consumers: Count = Field(1, ge=1, description="consumers in the group; beyond the partition count they sit idle")
    poll_interval: Period = Field(
        0.0, ge=0, description="after an empty poll: 0 = long poll (woken by new data), else sleep this long"
    )
    max_poll_records: Count = Field(500, ge=1, description="most messages one poll returns")
    processing_time: Distribution = Field(Constant(value=0.0), description="consumer time per message before hand-over")
    start: Literal["latest", "earliest"] = Field(
        "latest", description="latest: read what is written from start_at on; earliest: replay the retained log"
    )
    start_at: Duration = Field(0.0, ge=0, description="when the group starts reading (a replay job starts later)")
    offset_reset: Literal["earliest", "latest"] = Field(
        "earliest",
        description="retention deleted the group's next message (auto.offset.reset on an out-of-range "
        "offset): earliest reads on from the oldest retained one (Kafka Streams' default); latest jumps "
        "to the log end, skipping the rest of the backlog (the plain Java consumer's default)",
    )

    membership: MembershipSpec | None = Field(
        None,
        description="members that crash, get evicted, rebalance, commit and autoscale (Kafka's defaults); "
        "none: a fixed assignment that never changes (unless a fault names the group)",
    )

    def most_consumers(self) -> int:
        """The group's consumers at their most (an autoscaled group's max_consumers)."""
        scale = self.membership.autoscale if self.membership is not None else None
        return max(self.consumers, scale.max_consumers) if scale is not None else self.consumers


def consumer_fault_problem(
    group: str, first: int, count: int, outputs: list[str], spec_of: Callable[[str], ConsumerGroupSpec]
) -> tuple[str, str, str] | None:
    """A fault naming consumers `first` .. `first + count - 1` of `group`: (field, message, hint)
    when the group is not an out-edge of the topic or has never that many consumers."""
    if group not in outputs:
        close = difflib.get_close_matches(group, outputs, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "consumer groups: " + ", ".join(outputs or ["(none)"])
        return "group", f"'{group}' is not a consumer group of this topic (an out-edge's target)", hint
    most = spec_of(group).most_consumers()
    if first + count > most:
        field = "consumer" if first >= most else "consumers"
        return (
            field,
            f"consumers {first}..{first + count - 1} of '{group}' do not exist",
            (f"the group has at most {most} consumer(s), numbered 0..{most - 1}"),
        )
    return None


def group_timer_copies(
    named: dict[str, ConsumerGroupSpec], defaults: ConsumerGroupSpec, partitions: int, outputs: Sequence[str]
) -> dict[str, float]:
    """Copies of a topic's group timers for the run-size estimate: every consumer with a partition
    polls every `poll_interval` when it finds nothing, and each group's autoscaler reads the lag
    every `interval`; the defaults block serves every group (out-edge) not named."""
    blocks = {f"consumer_groups.{name}": (spec, 1) for name, spec in named.items()}
    blocks["consumer_defaults"] = (defaults, sum(1 for output in outputs if output not in named))
    copies: dict[str, float] = {}
    for block, (spec, groups) in blocks.items():
        copies[f"{block}.poll_interval"] = float(groups * min(spec.most_consumers(), partitions))
        copies[f"{block}.membership.autoscale.interval"] = float(groups)
    return copies
