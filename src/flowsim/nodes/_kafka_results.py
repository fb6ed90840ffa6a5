"""What `kafka_topic` reports: its counters, the time-weighted figures per consumer group, the
gauges of its time series and the per-partition table (see the kind's module for the counting).

The leading underscore keeps the registry from treating this module as a kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowsim.engine.stats import NO_DATA
from flowsim.nodes._kafka_brokers import BrokerSide
from flowsim.nodes._kafka_consumers import ConsumerSide
from flowsim.nodes._kafka_log import LogSide

if TYPE_CHECKING:
    from flowsim.nodes.kafka_topic import KafkaTopicConfig


class TopicResults(LogSide, BrokerSide, ConsumerSide):
    """The results half of `KafkaTopicNode`, over the log, broker and consumer sides."""

    config: KafkaTopicConfig
    buffered: int
    buffer_max: int

    # ---- results -------------------------------------------------------------------------
    def reset_counters(self) -> None:
        super().reset_counters()
        self.reset_broker_counters()
        self.reset_log_counters()
        self.blocked_union_s = 0.0
        self.produced = 0
        self.write_busy_s = 0.0
        self.lost_before_groups = 0
        self.buffer_max = self.buffered
        self.buffer_at_start = self.buffered
        now = self.env.now
        for part in self.parts:
            part.written = 0
        for group in self.groups:
            group.reset(now)
            if group.ms is not None:
                group.ms.reset(now)

    def inside(self) -> int:
        return self.buffered + sum(group.lag for group in self.groups) + self.unread()

    def blocked_time_s(self) -> float:
        """Time at least one consumer was blocked by backpressure, so never more than the window
        (the kernel's sum over hand-overs would add up consumers blocked at the same time)."""
        if self._consumers_blocked:
            return self.blocked_union_s + self.env.now - max(self._blocked_since, self._window_start)
        return self.blocked_union_s

    def waiting(self) -> int:
        return self.buffered

    def series_extra(self) -> dict[str, float]:
        row: dict[str, float] = {"buffer_messages": float(self.buffered)}
        if self.segmented:
            row["log_messages"] = float(self.log_messages())
        now = self.env.now
        for group in self.groups:
            seconds = group.lag_seconds(now)
            row[f"lag_messages.{group.name}"] = float(group.lag)
            row[f"lag_seconds.{group.name}"] = seconds
        self.membership_series(row)
        return row

    def figures(self, window: float) -> dict[str, float]:
        figures = super().figures(window)
        span = window if window > 0 else 1.0
        now = self.env.now
        written = [part.written for part in self.parts]
        figures |= {
            "produced": self.produced,
            "buffer_max_messages": self.buffer_max,
            "buffer_at_start": self.buffer_at_start,
            "buffer_at_end": self.buffered,
            "write_utilization": self.write_busy_s / (len(self.parts) * span),
            "hot_partition_share": max(written) / sum(written) if sum(written) else NO_DATA,
            "lost_to_retention": sum(group.lost for group in self.groups) + self.lost_before_groups,
            "lost_before_groups": self.lost_before_groups,
            "unread_at_end": self.unread(),
        }
        if self.config.producer is not None or self.config.brokers is not None:
            figures |= self.broker_figures()
        figures |= self.log_figures()
        for group in self.groups:
            figures |= group.figures(span, now, self._window_start)
        return figures | self.membership_figures(span, now)

    def extra(self) -> dict[str, Any]:
        rows = []
        for part in self.parts:
            row: dict[str, Any] = {"partition": part.index, "written": part.written}
            for group in self.groups:
                row[f"lag_max.{group.name}"] = group.partition_lag_max[part.index]
            rows.append(row)
        return {"partitions": rows}
