"""What `kafka_topic` reports of its own (`KafkaTopicConfig.kind_figures`): per topic, per
consumer group, and with the producer, brokers or log blocks (flowsim.engine.figures)."""

from __future__ import annotations

from flowsim.engine.figures import PER_MESSAGE, Figure

#: what a conditional figure needs in the topic's config (`Figure.only_with`)
MEMBERSHIP = "a group membership (or a consumer fault)"
CLIENT_OR_BROKERS = "producer or brokers"
LOG = "log"


def _member(name: str, unit: str, meaning: str, headline: bool = False) -> Figure:
    """A per-group figure of a group with membership (crashes, evictions, rebalances, scaling)."""
    return Figure(name, unit, meaning, headline, "group", PER_MESSAGE, MEMBERSHIP)


TOPIC_FIGURES = (
    Figure("produced", "messages", "written to the log (arrivals less the producer buffer's drops)"),
    Figure("buffer_max_messages", "messages", "most messages waiting in the producer buffer at once"),
    Figure("buffer_at_start", "messages", "in the producer buffer when the window opened"),
    Figure("buffer_at_end", "messages", "in the producer buffer when the run ended"),
    Figure("write_utilization", "share", "time-weighted busy share of the partitions' appends"),
    Figure("hot_partition_share", "share", "the busiest partition's share of the writes (1/partitions: even)"),
    Figure("lost_to_retention", "messages", "deleted by retention before a group read them, all groups"),
    Figure("lost_before_groups", "messages", "deleted by retention before any group started reading", True),
    Figure("unread_at_end", "messages", "in the log, written before every group started, taken in by none"),
    Figure("consumed", "messages", "read and handed downstream by the group", per="group"),
    Figure("lost_to_retention", "messages", "deleted by retention before the group read them", per="group"),
    Figure("skipped_on_reset", "messages", "unread messages jumped over when retention reset the group to the log end",
           per="group"),
    Figure("backlog_at_start", "messages", "the group's lag when the window opened", per="group"),
    Figure("backlog_at_end", "messages", "the group's lag when the run ended", per="group"),
    Figure("lag_max_messages", "messages", "the group's largest lag (written, not yet read)", True, "group"),
    Figure("lag_mean_messages", "messages", "the group's time-weighted mean lag", per="group"),
    Figure("lag_max_seconds", "s", "age of the oldest unread message at its worst, from its creation (its record "
           "timestamp, CreateTime: time in the producer buffer counts)", True, "group"),
    Figure("lag_mean_seconds", "s", "time-weighted mean age of the oldest unread message (from its creation)",
           per="group"),
    Figure("hot_partition_lag_share", "share", "the most lagging partition's share of the group's lag",
           per="group", engines=PER_MESSAGE),
    Figure("idle_consumers", "consumers", "consumers with no partition (beyond the partition count)", per="group"),
    Figure("consumer_utilization", "share", "busy share of the group's working consumers", per="group"),
    Figure("reread", "messages", "records read again after the target job restored a checkpoint (its crash)",
           True, "group", PER_MESSAGE, "a stream_processor target"),
    Figure("lost_to_expiry", "messages", "producer batches past delivery_timeout, never written", True,
           engines=PER_MESSAGE, only_with=CLIENT_OR_BROKERS),
    Figure("failed_max_block", "messages", "sends failed after blocking max_block on a full buffer", True,
           engines=PER_MESSAGE, only_with=CLIENT_OR_BROKERS),
    Figure("refused_min_isr", "messages", "writes refused with fewer in-sync replicas than min_insync",
           engines=PER_MESSAGE, only_with=CLIENT_OR_BROKERS),
    Figure("lost_to_failover", "messages", "acknowledged writes lost when a leader failed over (acks=1)", True,
           engines=PER_MESSAGE, only_with=CLIENT_OR_BROKERS),
    Figure("leader_elections", "elections", "partition leader elections", engines=PER_MESSAGE,
           only_with=CLIENT_OR_BROKERS),
    Figure("partition_offline_s", "s", "partition-seconds with no leader", engines=PER_MESSAGE,
           only_with=CLIENT_OR_BROKERS),
    Figure("isr_stalled_s", "s", "partition-seconds whose commits waited for a crashed follower not yet fenced",
           engines=PER_MESSAGE, only_with=CLIENT_OR_BROKERS),
    Figure("ack_wait_mean_s", "s", "mean wait of an acknowledged batch for its acks", engines=PER_MESSAGE,
           only_with=CLIENT_OR_BROKERS),
    Figure("log_messages_end", "messages", "messages in the log's segments when the run ended", engines=PER_MESSAGE,
           only_with=LOG),
    Figure("log_messages_max", "messages", "most messages in the log's segments at once", engines=PER_MESSAGE,
           only_with=LOG),
    Figure("segments_rolled", "segments", "segments closed and new ones opened", engines=PER_MESSAGE,
           only_with=LOG),
    Figure("segments_deleted", "segments", "segments deleted by retention", engines=PER_MESSAGE, only_with=LOG),
    Figure("compactions", "compactions", "compaction passes over closed segments", engines=PER_MESSAGE,
           only_with=LOG),
    _member("rebalances", "rebalances", "the group's rebalances", True),
    _member("rebalance_time_s", "s", "time the group spent rebalancing (no member reading)", True),
    _member("redelivered", "messages", "records handed on again after a rebalance (uncommitted offsets)", True),
    _member("evictions", "consumers", "members evicted (session or poll timeout)"),
    _member("consumer_crashes", "consumers", "member crashes"),
    _member("scale_steps", "steps", "autoscaler changes of the consumer count"),
    _member("paused_partition_s", "s", "partition-seconds with no owner"),
    _member("consumers_mean", "consumers", "time-weighted mean live members"),
    _member("consumers_max", "consumers", "most live members"),
    _member("consumers_min", "consumers", "fewest live members"),
)  # fmt: skip
