"""`kafka_topic`: a partitioned log between producers and consumer groups (Kafka, Redpanda, Kinesis).

Counting (messages everywhere; each consumer group reads its own copy of every message):
- `arrivals`: messages offered by upstream, once each; `dropped`: refused by a full producer
  buffer (`on_buffer_full: drop`); `produced`: written to the log.
- `completed`: messages handed downstream, summed over the groups (two groups: twice the log).
- `inside`: the producer buffer plus every group's backlog (written in its scope, not yet
  handed downstream, not lost).  Per group g: written in scope + backlog at start ==
  consumed + lost to retention + skipped on reset + backlog at end; for the producer: arrivals + buffer at start
  == produced + dropped + buffer at end.  A group's scope starts at its `start_at`: from the
  log end (`latest`) or from the oldest retained message (`earliest`, a replay).  Messages
  written before every group started are in the log but in no group's scope (`unread_at_end`,
  inside) until a group starting at `earliest` takes them in; retention deleting them first
  loses them (`lost_before_groups`, in `lost_to_retention`).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from flowsim.engine.figures import Figure
from flowsim.engine.flow import Delay, FlowLaw, Stage, per_second
from flowsim.engine.node import NodeRuntime
from flowsim.nodes._kafka_figures import CLIENT_OR_BROKERS, LOG, MEMBERSHIP, TOPIC_FIGURES
from flowsim.nodes._kafka_group_spec import ConsumerGroupSpec, consumer_fault_problem, group_timer_copies
from flowsim.nodes._kafka_specs import BrokerSpec, LogSpec, ProducerSpec, broker_fault_problem
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import register
from flowsim.units import Count, Duration, Number, Period, Rate, Size, format_duration


@register
class KafkaTopicConfig(NodeConfig):
    """Models: a topic of ordered partitions, each with its own write throughput; producer
    partitioning (uniform, round robin, or skewed to a hot partition), producer batching
    (`batch_size`, `linger`) and a bounded producer buffer that blocks or drops; retention by
    time and bytes; and one consumer group per out-edge (named after its target), whose
    consumers poll their round-robin-assigned partitions in offset order, process, hand over
    (respecting backpressure) and commit. Lag in messages and seconds per group; messages deleted
    by retention before a group read them are counted lost for it. Outages stop writes and reads.
    A group's `membership` (or a fault naming the group) makes its consumers members that crash,
    are detected after `session_timeout`, get evicted after `max_poll_interval`, rebalance (eager
    or cooperative), commit (auto or per batch) and autoscale on lag; records handed on since
    the last commit are delivered again to a partition's next owner. A group feeding a
    stream_processor stops while the job is down and, at its crash, goes back to the offsets of
    the job's last checkpoint (`reread`; see `_kafka_rewind`).

    With `producer:` the client's documented limits (delivery timeout, max block, acks); with
    `brokers:` replicas over brokers, leader elections and min in-sync replicas (a fault on the
    topic still takes every broker down); with `log:` segments and compaction (see
    docs/streaming.md, "Producers, brokers and the log").

    Leaves out: transactions, unclean leader election and replica catch-up, per-message sizes
    (all are `message_size`), fetch byte limits, static membership (`group.instance.id`),
    consumer start-up time, and commit failures other than an evicted member's.
    """

    summary = "partitioned log: producer batching and buffer, retention, consumer groups with lag"
    kind_figures = TOPIC_FIGURES
    can_fail = True

    kind: Literal["kafka_topic"]
    billed_unit = "partition"
    routing: Literal["fanout"] = Field("fanout", description="every consumer group (out-edge) reads every message")
    partitions: Count = Field(12, ge=1, description="ordered logs; a group's consumers share them")
    partition_write_rate: Rate = Field(10000.0, gt=0, description="messages per second one partition can append")
    partition_write_bandwidth: Size | None = Field(
        None, gt=0, description="bytes per second one partition can append (with message_size), e.g. 10MB"
    )
    message_size: Size = Field(1000.0, gt=0, description="bytes per message (bandwidth and retention_bytes)")
    partitioner: Literal["uniform", "round_robin", "skewed"] = Field(
        "uniform", description="how producers pick a partition: random keys, in turn, or skewed keys"
    )
    hot_share: Number = Field(0.5, ge=0, le=1, description="skewed: share of messages whose key maps to partition 0")
    zipf_exponent: Number | None = Field(
        None, gt=0, description="skewed: Zipf key popularity (partition k gets 1/k^s) instead of hot_share"
    )
    batch_size: Count = Field(100, ge=1, description="messages per producer batch (a batch is sent when full)")
    linger: Duration = Field(0.005, ge=0, description="a producer batch is sent at the latest this long after it opens")
    buffer_messages: Count = Field(100_000, ge=1, description="producer buffer: messages not yet written")
    on_buffer_full: Literal["block", "drop"] = Field(
        "block", description="block: hold the sender (backpressure); drop: refuse and count"
    )
    retention: Duration | None = Field(604800.0, gt=0, description="messages older than this are deleted; none = keep")
    retention_bytes: Size | None = Field(None, gt=0, description="per partition: oldest data deleted beyond this")
    retention_check_interval: Period = Field(300.0, gt=0, description="how often retention deletes (whole batches)")
    consumer_groups: dict[str, ConsumerGroupSpec] = Field(
        default={}, description="settings per group, by the name of the out-edge's target node"
    )
    consumer_defaults: ConsumerGroupSpec = Field(
        default_factory=lambda: ConsumerGroupSpec(), description="settings of groups not named in consumer_groups"
    )
    producer: ProducerSpec | None = Field(None, description="the producer client's acks and timeouts; none = ideal")
    brokers: BrokerSpec | None = Field(None, description="replicas over brokers; none = the topic fails as one")
    log: LogSpec | None = Field(None, description="segments and cleanup policy; none = retention per written batch")

    @model_validator(mode="after")
    def _consistent(self) -> KafkaTopicConfig:
        if self.buffer_messages < self.batch_size:
            raise ValueError(
                f"buffer_messages ({self.buffer_messages}) is below batch_size ({self.batch_size}): "
                "a producer batch could never fill"
            )
        if self.partitioner != "skewed" and self.zipf_exponent is not None:
            raise ValueError("zipf_exponent only applies with partitioner: skewed")
        return self

    def fluid_refusal(self) -> str | None:
        """The fluid engine follows flows, not per-batch producer, broker and segment events."""
        used = [name for name in ("producer", "brokers", "log") if getattr(self, name) is not None]
        if used:
            return f"its {', '.join(used)} settings act per batch and per broker; run it per_message"
        specs = [self.consumer_defaults, *self.consumer_groups.values()]
        if self.retention is not None and any(spec.offset_reset == "latest" for spec in specs):
            return "a group resets to the log end when retention passes it (offset_reset: latest); run it per_message"
        return None

    def write_rate(self) -> float:
        """Messages per second one partition appends: the tighter of the two limits."""
        if self.partition_write_bandwidth is None:
            return self.partition_write_rate
        return min(self.partition_write_rate, self.partition_write_bandwidth / self.message_size)

    def partition_weights(self) -> np.ndarray:
        """Share of messages per partition under the partitioner."""
        count = self.partitions
        if self.partitioner != "skewed" or count == 1:
            return np.full(count, 1.0 / count)
        if self.zipf_exponent is not None:
            weights = 1.0 / np.arange(1, count + 1) ** self.zipf_exponent
            return np.asarray(weights / weights.sum())
        rest = (1.0 - self.hot_share) / (count - 1)
        return np.array([self.hot_share] + [rest] * (count - 1))

    def group(self, name: str) -> ConsumerGroupSpec:
        return self.consumer_groups.get(name, self.consumer_defaults)

    def figure_never_reported(self, figure: Figure, key: str, fault_groups: set[str]) -> tuple[str, str] | None:
        """Membership figures need the group to have members (a `membership` block or a fault on its
        consumers); the client and broker figures a `producer` or `brokers` block; the log's a `log`."""
        if figure.only_with == MEMBERSHIP:
            group = key.partition(".")[2]
            if self.group(group).membership is None and group not in fault_groups:
                return (
                    f"group '{group}' has no membership and no fault names its consumers: its members never "
                    "change, so it never has a rebalance or a member figure",
                    f"add consumer_groups: {{{group}: {{membership: {{}}}}}}, or a fault with group: {group}",
                )
        elif figure.only_with == CLIENT_OR_BROKERS and self.producer is None and self.brokers is None:
            return "the topic has no producer or brokers block", "add producer: {} or brokers: {count: 3}"
        elif figure.only_with == LOG and self.log is None:
            return "the topic has no log block (segments and compaction)", "add log: {}"
        return None

    def feeds_from(self, target: str) -> float:
        return self.group(target).start_at

    def edge_problems(self, outputs: list[str]) -> list[tuple[str, str, str]]:
        """Each consumer group is an out-edge; a group with no edge is a typo or a missing edge."""
        problems = []
        for name in sorted(set(self.consumer_groups) - set(outputs)):
            close = difflib.get_close_matches(name, outputs, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"add the edge '<topic> -> {name}'"
            problems.append(("consumer_groups", f"group '{name}' is not the target of an out-edge", hint))
        return problems

    def fault_part_problem(self, group: str, first: int, count: int, outputs: list[str]) -> tuple[str, str, str] | None:
        """The group must be an out-edge and the consumers within its most members."""
        return consumer_fault_problem(group, first, count, outputs, self.group)

    def fault_broker_problem(self, broker: int) -> tuple[str, str] | None:
        """The topic must spread over brokers, and the broker be one of them."""
        return broker_fault_problem(self.brokers, broker)

    def timer_copies(self, outputs: Sequence[str]) -> dict[str, float]:
        """Each group (out-edge) runs its block's timers (see `group_timer_copies`)."""
        return group_timer_copies(self.consumer_groups, self.consumer_defaults, self.partitions, outputs)

    def runtime_class(self) -> type[NodeRuntime]:
        from flowsim.nodes._kafka_topic_runtime import KafkaTopicNode  # the runtime imports this module

        return KafkaTopicNode

    def events_per_item(self) -> float:
        return 3.0  # append, a share of batch writes and linger timers, and each group's polls

    def cost_units(self) -> float:
        """Partitions are billed (a managed service prices partitions or throughput units)."""
        return float(self.partitions)

    def horizon_notes(self, name: str, horizon: float) -> list[str]:
        """Retention without `log:` deletes per written batch, sooner than Kafka, which deletes only
        closed segments: said when it can delete within the run."""
        if self.log is not None or self.retention is None or self.retention >= horizon:
            return []
        return [f"'{name}' deletes each batch once it is older than its {format_duration(self.retention)} retention "
                "(no 'log:'); Kafka deletes only closed segments (segment.ms 7 days, segment.bytes 1 GiB by "
                "default), so it keeps data longer: add 'log: {}' for Kafka's segments"]  # fmt: skip

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """Partition writes, then one stage per consumer group (every group reads every message).

        Writes: partitions x write_rate, or write_rate / the hot partition's share when the
        partitioner is skewed.  A group: each consumer processes 1 / mean processing_time
        messages a second on the partitions assigned to it, so the consumer holding the largest
        share of the flow limits the group (consumers beyond the partition count sit idle).
        """
        weights = self.partition_weights()
        hot = float(weights.max())
        writes = Stage(
            "partition writes", self.partitions, self.write_rate(), unit_name="partitions",
            hot_share=hot if hot > 1.0 / self.partitions + 1e-12 else None,
            buffer=self.buffer_messages, on_full=self.on_buffer_full,
        )  # fmt: skip
        note = "that is the group's lag"
        if self.retention is not None:
            note += f"; messages older than the {format_duration(self.retention)} retention are lost to it"
        stages = [writes]
        for name in outputs or list(self.consumer_groups):
            spec = self.group(name)
            consumers = spec.most_consumers()  # an autoscaled group at its most
            shares = [float(weights[i::consumers].sum()) for i in range(consumers)]
            busiest = max(shares)
            stages.append(
                Stage(
                    f"consumer group '{name}'", consumers, per_second(spec.processing_time.mean()),
                    unit_name="consumers", hot_share=busiest if busiest > 1.0 / consumers + 1e-12 else None,
                    slows=False, note=note,
                )
            )  # fmt: skip
        return FlowLaw(tuple(stages), Delay(hold_s=self.linger))
