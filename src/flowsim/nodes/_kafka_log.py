"""The log half of `kafka_topic` when a `log:` block is given: segments, deletion by segment, and
compaction of keyed topics.

Segments (Kafka's `segment.ms`, `segment.bytes`): a partition appends to its active segment, which
rolls on the first append once it is `segment` old or would pass `segment_bytes`.  Deletion
(`cleanup.policy=delete`) removes closed segments only, oldest first, at each retention check: a
segment goes once its newest record is older than `retention`, or while the partition would still
hold `retention_bytes` without it.  The active segment goes too once every segment does (Kafka
rolls a new, empty active segment first: `UnifiedLog.deleteSegments`), so a record lives between
`retention` and `retention + segment` (plus up to one check interval), or `retention` alone once
the producers have stopped writing to the partition.

Compaction (`cleanup.policy=compact`): at each check, a partition whose dirty share (messages in
closed segments not yet cleaned, over the cleaned part's size plus them) reaches
`min_cleanable_dirty_ratio` is cleaned: the cleaned part keeps one record per distinct key.  It
is reported as the log's size; what a group reads is not changed (a consumer that lags reads the
records as written), and time retention does not apply (compaction alone, as Kafka's `compact`).

The leading underscore keeps the registry from treating this module as a kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowsim.engine.node import NodeRuntime
from flowsim.nodes._kafka_parts import Partition

if TYPE_CHECKING:
    from flowsim.nodes.kafka_topic import KafkaTopicConfig

BASE, OPENED, LAST, BYTES = range(4)


class LogSide(NodeRuntime):
    """Segments and compaction; without a `log:` block, retention deletes whole written batches."""

    config: KafkaTopicConfig
    parts: list[Partition]

    def setup_log(self) -> None:
        spec = self.config.log
        self.segmented = spec is not None
        self.compacting = spec is not None and spec.cleanup_policy == "compact"
        self.clean_keys: list[set[int]] = [set() for _ in self.parts]
        self.clean_end = [0] * len(self.parts)  # offsets below this are cleaned
        self.log_max = 0

    def reset_log_counters(self) -> None:
        self.segments_deleted = 0
        self.segments_rolled = 0
        self.compactions = 0
        self.log_max = self.log_messages()

    def appended(self, part: Partition, first: int, n: int, now: float) -> None:
        """A batch of n messages went in at offset `first`: roll the active segment if it is due."""
        if not self.segmented:
            return
        spec = self.config.log
        assert spec is not None
        size = n * self.config.message_size
        segments = part.segments
        active = segments[-1] if segments else None
        if active is None or now - active[OPENED] >= spec.segment or active[BYTES] + size > spec.segment_bytes:
            if active is not None:
                self.segments_rolled += 1
                if self.tracing:
                    self.log(f"p{part.index} rolls segment at {first}")
            active = [float(first), now, now, 0.0]
            segments.append(active)
        active[LAST] = now
        active[BYTES] += size
        self.log_max = max(self.log_max, self.log_messages())

    def trim_log(self, part: Partition, older_than: float, most: float) -> None:
        """The retention check for one partition: by whole batches, closed segments, or compaction."""
        if not self.segmented:
            part.trim(older_than, most)
            return
        if self.compacting:
            self._compact(part)
            return
        segments = part.segments
        most_bytes = most * self.config.message_size
        total = sum(segment[BYTES] for segment in segments)
        while segments:
            oldest = segments[0]
            if oldest[LAST] > older_than and total - oldest[BYTES] < most_bytes:
                break
            segments.popleft()
            total -= oldest[BYTES]
            self.segments_deleted += 1
            if not segments:  # the active one too: Kafka rolls an empty active segment first
                self.segments_rolled += 1
            part.drop_before(int(segments[0][BASE]) if segments else part.leo)
            if self.tracing:
                self.log(f"p{part.index} deletes a segment up to {part.lso}")

    def _compact(self, part: Partition) -> None:
        spec = self.config.log
        assert spec is not None and spec.keys is not None
        p = part.index
        if len(part.segments) < 2:
            return
        active_base = int(part.segments[-1][BASE])
        dirty = active_base - self.clean_end[p]
        clean = len(self.clean_keys[p])
        if dirty <= 0 or dirty / (clean + dirty) < spec.min_cleanable_dirty_ratio:
            return
        keys, k = self.clean_keys[p], spec.keys
        e = part.entry(self.clean_end[p])
        while e < len(part.base) and part.base[e] < active_base:
            keys.add(part.key[e] % k)
            e += 1
        self.clean_end[p] = active_base
        self.compactions += 1
        if self.tracing:
            self.log(f"p{p} compacts {clean + dirty} to {len(keys)}")

    def partition_log_messages(self, part: Partition) -> int:
        """Messages the partition's log holds now (after compaction: one per cleaned key)."""
        if self.compacting:
            p = part.index
            return len(self.clean_keys[p]) + part.leo - self.clean_end[p]
        return part.leo - part.lso

    def log_messages(self) -> int:
        return sum(self.partition_log_messages(part) for part in self.parts)

    def log_figures(self) -> dict[str, float]:
        if not self.segmented:
            return {}
        return {
            "log_messages_end": self.log_messages(),
            "log_messages_max": self.log_max,
            "segments_rolled": self.segments_rolled,
            "segments_deleted": self.segments_deleted,
            "compactions": self.compactions,
        }
