"""Checkpoints of a `stream_processor` and what a crash rolls back: from the job's memory, or, for
records read from a log (a `kafka_topic`), by re-reading the log from the checkpoint's offsets.

A checkpoint records, per partition of each log that feeds the job, the offset below which the job
has processed every record it received (the records in its input or in a task are not in the
checkpoint: a Flink barrier is aligned behind them).  A micro-batch job checkpoints each batch as
it ends (Spark writes a batch's offsets and its commit to the checkpoint location).  After a crash
the job forgets every log record it holds (input, tasks, exactly-once output not yet committed),
the log takes them back and re-delivers from the checkpoint offsets (see `_kafka_rewind`), so the
records are fetched again, and lost if retention deleted them meanwhile.  At-least-once output
emitted since the checkpoint is emitted again when its records come back: `duplicates`.  Items
from anything that is not a log keep the in-memory rollback of the module `stream_processor`.

The leading underscore keeps the registry from treating this module as a kind.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.engine.replay import LogPosition, ReplayableLog

Key = tuple[ReplayableLog, int]  # (log, partition)


class OffsetRanges:
    """Disjoint half-open offset ranges [start, end), merged as they are added."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        i = bisect_left(self.ends, start)  # the first range that ends at or after `start`
        j = bisect_right(self.starts, end)  # ranges from i to j - 1 touch [start, end)
        if i < j:
            start, end = min(start, self.starts[i]), max(end, self.ends[j - 1])
        self.starts[i:j], self.ends[i:j] = [start], [end]

    def take(self, start: int, end: int) -> int:
        """Remove [start, end) and return how many offsets of it were in the ranges."""
        i = bisect_right(self.ends, start)
        j = bisect_left(self.starts, end)
        if i >= j:
            return 0
        taken = sum(min(e, end) - max(s, start) for s, e in zip(self.starts[i:j], self.ends[i:j], strict=True))
        keep = [(s, start) for s in self.starts[i : i + 1] if s < start]
        keep += [(end, e) for e in self.ends[j - 1 : j] if e > end]
        self.starts[i:j], self.ends[i:j] = [s for s, _ in keep], [e for _, e in keep]
        return taken

    def total(self) -> int:
        return sum(e - s for s, e in zip(self.starts, self.ends, strict=True))


class ReplaySide(NodeRuntime):
    """Checkpoints, the in-memory rollback and the log rewind after a crash; `StreamProcessorNode` (in `_stream_job`)
    supplies the state."""

    queue: deque[Item]
    keyed: bool
    _lines: list[deque[Item]]
    _since_checkpoint: list[Item]
    _processed_at: dict[Item, float]
    exactly_once: bool
    n_inside: int
    n_held: int
    reprocessed: int
    duplicates: int
    checkpoints: int
    micro_batch: bool
    added: list[float]
    _processing: dict[Item, int]
    _replays: set[Item]

    def _emit(self, item: Item, free: Any) -> None:
        raise NotImplementedError

    def setup_replay(self) -> None:
        self.logs: list[ReplayableLog] = []
        self._reached: dict[Key, int] = {}  # the offset after the latest record received
        self._restore: dict[Key, int] = {}  # the last checkpoint's offsets: where a crash re-reads from
        self._echo: dict[Key, OffsetRanges] = {}  # emitted before the crash, coming back (at-least-once)

    # ---- checkpoints -----------------------------------------------------------------------
    def _checkpoint(self, _event: Any) -> None:
        self.env.timeout(self.config.checkpoint_interval).callbacks.append(self._checkpoint)
        if self._faults:
            return
        self.checkpoints += 1
        if self.tracing:
            self.log(f"checkpoint {sum(item.n for item in self._since_checkpoint)}")
        if self.logs and not self.micro_batch:
            self.snapshot(self._unprocessed())
        if self.exactly_once:
            self._commit()
        else:  # log records past the checkpoint offsets (processed out of order) are read again
            self._since_checkpoint = [item for item in self._since_checkpoint if not self.covered(item)]

    def _unprocessed(self) -> Iterator[Item]:
        yield from self.queue
        for line in self._lines:
            yield from line
        yield from self._processing

    def _commit(self) -> None:
        """Exactly-once: the held output the checkpoint covers commits and goes downstream."""
        committed: list[Item] = []
        held: list[Item] = []
        for item in self._since_checkpoint:
            (committed if self.covered(item) else held).append(item)
        self._since_checkpoint = held
        now = self.env.now
        self.n_held -= sum(item.n for item in committed)
        for item in committed:
            self.added.append(now - self._processed_at.pop(item))
            self._emit(item, None)

    def _rolled_back(self) -> list[Item]:
        """Output since the last checkpoint goes back to the input, to be processed again."""
        items, self._since_checkpoint = self._since_checkpoint, []
        again: list[Item] = []
        for item in items:
            self.reprocessed += item.n
            if self.exactly_once:
                self._processed_at.pop(item, None)
                self.n_held -= item.n
                again.append(item)
            else:  # already downstream: a copy comes back in
                copy = item.copy()
                copy.t_in = self.env.now
                self._replays.add(copy)
                self.n_inside += item.n
                self.created += item.n
                again.append(copy)
        return again

    # ---- reading from a log ----------------------------------------------------------------
    def position(self, item: Item) -> LogPosition | None:
        """The item's place in a log this job reads (None: from anything else, or a log record
        another job read and passed on)."""
        payload = item.payload
        return payload if type(payload) is LogPosition and payload.reader == self.name else None

    def reads_log(self, log: ReplayableLog) -> bool:
        self.logs.append(log)
        return True

    def noted(self, pos: LogPosition, n: int) -> None:
        """A log record came in: the next checkpoint covers it once it is processed."""
        key = (pos.log, pos.partition)
        end = pos.offset + n
        if end > self._reached.get(key, -1):
            self._reached[key] = end
        self._restore.setdefault(key, pos.offset)  # before any checkpoint: the group's start

    def snapshot(self, unprocessed: Iterable[Item]) -> None:
        """Checkpoint the offsets: per partition, the lowest record not yet processed, else the end."""
        low = dict(self._reached)
        for item in unprocessed:
            pos = self.position(item)
            if pos is not None:
                key = (pos.log, pos.partition)
                low[key] = min(low[key], pos.offset)
        self._restore = low
        self._clip_echo()

    def _clip_echo(self) -> None:
        """Expected output below the restore offsets never comes back (processed, or deleted)."""
        for key, ranges in list(self._echo.items()):
            if ranges.starts and ranges.starts[0] < self._restore[key]:
                ranges.take(ranges.starts[0], self._restore[key])
            if not ranges.starts:
                del self._echo[key]

    def covered(self, item: Item) -> bool:
        """True when the last checkpoint covers the item (an item from no log: always)."""
        pos = self.position(item)
        return pos is None or pos.offset < self._restore[(pos.log, pos.partition)]

    def rewind_logs(self, interrupted: list[Item]) -> list[Item]:
        """The crash's log half: forget the log records held, have each log re-deliver from the
        checkpoint; returns the interrupted items that came from no log (rolled back in memory)."""
        for log in self.logs:
            log.suspend_reader(self.name)
        dropped: list[Item] = []
        self.queue = self._sift(self.queue, dropped)
        self._lines = [self._sift(line, dropped) for line in self._lines]
        kept = self._sift(deque(interrupted), dropped)
        emitted: list[Item] = []
        held: list[Item] = []
        since: list[Item] = []
        for item in self._since_checkpoint:
            if self.position(item) is None:
                since.append(item)
            elif self.exactly_once:  # held output, never committed: thrown away, read again
                self._processed_at.pop(item, None)
                self.n_held -= item.n
                held.append(item)
            else:
                emitted.append(item)
        self._since_checkpoint = since
        dropped += held
        for item in dropped:
            self.arrivals -= item.n  # taken back by the log (see `_kafka_rewind`)
            self.n_inside -= item.n
        for log in self.logs:
            restore = {p: offset for (owner, p), offset in self._restore.items() if owner is log}
            gone = [self._where(item) for item in dropped if self._owner(item) is log]
            starts = log.rewind_reader(self.name, restore, gone)
            for p, start in starts.items():
                self._restore[(log, p)] = self._reached[(log, p)] = start
        for item in held:  # processed once already, and read again
            if self._rereads(item):
                self.reprocessed += item.n
        self._clip_echo()
        for item in emitted:
            self._expect_again(item)
        if self.tracing:
            self.log(f"rewind {sum(item.n for item in dropped)} taken back")
        return list(kept)

    def _rereads(self, item: Item) -> bool:
        """True when the log delivers the item's records again (not deleted before the re-read)."""
        pos = self.position(item)
        return pos is not None and pos.offset >= self._restore[(pos.log, pos.partition)]

    def _expect_again(self, item: Item) -> None:
        """At-least-once output whose records the log re-delivers: its next emit is a duplicate."""
        pos = self.position(item)
        assert pos is not None
        key = (pos.log, pos.partition)
        start = max(pos.offset, self._restore[key])  # below the re-read start: deleted, not read again
        end = pos.offset + item.n
        if start < end:
            self._echo.setdefault(key, OffsetRanges()).add(start, end)
            self.reprocessed += end - start

    @property
    def expecting(self) -> bool:
        """True while output emitted before a crash may come back (its next emit is a duplicate)."""
        return bool(self._echo)

    def again(self, item: Item) -> int:
        """How many of an emitted item's records had gone downstream before the crash."""
        pos = self.position(item)
        if pos is None:
            return 0
        key = (pos.log, pos.partition)
        ranges = self._echo.get(key)
        if ranges is None:
            return 0
        taken = ranges.take(pos.offset, pos.offset + item.n)
        if not ranges.starts:
            del self._echo[key]  # all back: nothing more to expect there
        return taken

    def resume_logs(self) -> None:
        """The job is back: the logs that feed it deliver again, from the rewound offsets."""
        for log in self.logs:
            log.resume_reader(self.name)

    def _owner(self, item: Item) -> ReplayableLog | None:
        pos = self.position(item)
        return pos.log if pos is not None else None

    def _where(self, item: Item) -> tuple[int, int, int]:
        pos = self.position(item)
        assert pos is not None
        return pos.partition, pos.offset, item.n

    def _sift(self, items: deque[Item], dropped: list[Item]) -> deque[Item]:
        """The items from no log; the log records go to `dropped`."""
        kept: deque[Item] = deque()
        for item in items:
            if self.position(item) is None:
                kept.append(item)
            else:
                dropped.append(item)
        return kept
