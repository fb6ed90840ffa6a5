"""Readers that restore their position in a replayable log after a crash (a job reading Kafka).

A log (a `kafka_topic`) tags each record it hands to such a reader with its `LogPosition`; the
reader's checkpoint keeps, per partition, the offset below which it has processed everything, and
after a crash asks the log to re-deliver from there.  This is how Flink's KafkaSource (offsets in
the checkpointed state), Spark Structured Streaming (offsets in the checkpoint location) and Kafka
Streams (committed offsets) recover: by re-reading the log, not from the job's memory.

The kernel only fixes the conversation; the topic and the job implement its two halves.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class ReplayableLog(Protocol):
    """What a reader asks of the log that feeds it (the reader is named by its node)."""

    @property
    def name(self) -> str: ...

    def suspend_reader(self, reader: str) -> None:
        """The reader crashed: its consumers stop, and what they fetched but had not handed on is dropped."""

    def rewind_reader(
        self, reader: str, restore: dict[int, int], discarded: list[tuple[int, int, int]]
    ) -> dict[int, int]:
        """Move the reader's position back to `restore` (partition -> offset).  `discarded` are the
        records (partition, offset, count) the reader held and threw away: they were handed on and
        are taken back.  Returns the offset each partition re-reads from (later than asked where
        retention deleted the records in between: those are lost)."""
        ...

    def resume_reader(self, reader: str) -> None:
        """The reader is back: its consumers fetch again from the rewound position."""


class LogPosition(NamedTuple):
    """Where a handed-on record sits in its log: the payload of a record a replaying reader gets
    (the reader is named: output it passes on keeps the payload, and means nothing further on)."""

    log: ReplayableLog
    partition: int
    offset: int
    reader: str
