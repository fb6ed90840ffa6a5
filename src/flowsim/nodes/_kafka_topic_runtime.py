"""The runtime of `kafka_topic`: the producer side (batches, the buffer, partition writes) over the
consumer, broker and log sides its bases bring; see `kafka_topic` for how messages are counted.

Kept apart from the kind module so that each file stays short; the leading underscore keeps
the registry from treating it as a kind.
"""

from __future__ import annotations

import itertools
from bisect import bisect
from typing import TYPE_CHECKING, Any

import numpy as np

from flowsim.distributions import Constant
from flowsim.engine.context import SimContext
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.engine.sampling import block_sampler
from flowsim.nodes._kafka_parts import Batch, Consumer, Group, Partition
from flowsim.nodes._kafka_results import TopicResults

if TYPE_CHECKING:
    from flowsim.nodes.kafka_topic import KafkaTopicConfig


class KafkaTopicNode(TopicResults):
    """Runtime of `kafka_topic`; see the module docstring for how messages are counted."""

    config: KafkaTopicConfig

    def __init__(self, name: str, config: KafkaTopicConfig, ctx: SimContext) -> None:
        self.parts = [Partition(p) for p in range(config.partitions)]
        self.groups: list[Group] = []
        self.buffered = 0
        self.held = 0
        self.buffer_max = 0
        super().__init__(name, config, ctx)
        self.setup_brokers()
        self.setup_log()
        self.setup_unread()
        self.key_count = config.log.keys if config.log is not None else None  # keyed: a key keeps its partition
        self.write_rate = config.write_rate()
        self.block = config.on_buffer_full == "block"
        self._pick = self._picker(config, ctx)
        self._parked_down: list[Consumer] = []
        self._consumers_blocked = 0  # consumers holding a record downstream refused
        self._blocked_since = 0.0  # since when at least one has been

    def _picker(self, config: KafkaTopicConfig, ctx: SimContext) -> Any:
        if config.partitioner == "round_robin":
            return itertools.cycle(range(config.partitions)).__next__
        cumulative = list(np.cumsum(config.partition_weights())[:-1])
        uniform = block_sampler(ctx.rng(self.name, "partitioner").random)
        return lambda: bisect(cumulative, uniform())

    # ---- connect -------------------------------------------------------------------------
    def connect(self, targets: list[tuple[NodeRuntime, float]], routing: str) -> None:
        """Every out-edge is a consumer group named after its target."""
        names = [t.name for t, _ in targets]
        unknown = sorted(set(self.config.consumer_groups) - set(names))
        if unknown:
            raise ValueError(
                f"kafka_topic '{self.name}': consumer_groups names {', '.join(unknown)}, which "
                f"{'is' if len(unknown) == 1 else 'are'} not the target of an out-edge (targets: {', '.join(names)})"
            )
        for target, _ in targets:
            spec = self.config.group(target.name)
            cost = spec.processing_time
            constant = cost.value if isinstance(cost, Constant) else None
            sampler = cost.sampler(self.ctx.rng(self.name, f"processing.{target.name}"))
            self.groups.append(Group(target.name, target, len(self.parts), spec.consumers, sampler, constant))
            self.groups[-1].replays = target.reads_log(self)
            if spec.membership is not None:
                self._member_group(self.groups[-1], spec.membership)

    def start(self) -> None:
        for group in self.groups:
            wake = self.env.timeout(self.config.group(group.name).start_at, group)
            wake.callbacks.append(self._activate)
        self.env.timeout(self.config.retention_check_interval).callbacks.append(self._retention)
        self.start_brokers()

    # ---- producer ------------------------------------------------------------------------
    def try_put(self, item: Item) -> bool:
        n = item.n
        if self._fail_next:
            return self.failed_send(item)
        if self.held and self.held + n > self.config.buffer_messages:
            return self.refuse_or_drop(item, self.block, refusal="buffer full")
        self.arrivals += n
        self.buffered += n
        self.held += n
        self.buffer_max = max(self.buffer_max, self.held)
        part = self.parts[self._pick() if self.key_count is None else item.key % self.key_count % len(self.parts)]
        size = self.config.batch_size
        last = part.batches[-1] if part.batches else None
        if last is None or last.n + n > size:
            last = Batch(part.index, n, item.born, item.key, ready=self.config.linger == 0, opened=self.env.now)
            part.batches.append(last)
            self.opened(last)
            if not last.ready:
                self.call_later(self.config.linger, self._lingered, last)
        else:
            last.add(n, item.born, item.key)
        if last.n >= size:
            last.ready = True
        if self.tracing:
            self.log(f"append p{part.index}", item)
        self._kick(part)
        return True

    def _lingered(self, event: Any) -> None:
        batch: Batch = event._value
        batch.ready = True
        self._kick(self.parts[batch.partition])

    def _kick(self, part: Partition) -> None:
        """Start writing the partition's oldest batch if it is ready and the partition is free."""
        if self._faults or not part.online or part.writing is not None or not part.batches:
            return
        if not part.batches[0].ready and len(part.batches) == 1:
            return
        if not self.writable(part):
            return
        batch = part.batches.popleft()
        part.writing = batch
        batch.state, batch.sent = 1, self.env.now
        if self.acks == 0:
            self.acked(batch, self.env.now)  # sent is done: no answer awaited
        self.call_later(batch.n / self.write_rate, self._written, (part, batch, part.generation))

    def _written(self, event: Any) -> None:
        part, batch, generation = event._value
        if generation != part.generation:
            return  # the outage aborted this write; the batch went back to the accumulator
        part.writing = None
        now = self.env.now
        self.write_busy_s += batch.n / self.write_rate
        if self.acks == 1:
            self.acked(batch, now)
        if self.replicates(part) or part.replicating:  # behind earlier writes, it commits after them
            batch.state = 2
            part.replicating.append(batch)
            if self.replication_delay > 0 and len(part.isr) > 1:
                self.call_later(self.replication_delay, self._replicated, (part, batch, part.epoch))
            else:
                batch.fetched = True  # nothing to fetch, or a crashed follower in the ISR holds the commit
                self.commit_fetched(part)
            self._kick(part)
            return
        self._land(part, batch)

    def _land(self, part: Partition, batch: Batch) -> None:
        """The batch is committed (in the log up to the high watermark): readers see it."""
        now = self.env.now
        batch.state = 3
        self.acked(batch, now)
        offset = part.append(batch, now)
        self.appended(part, offset, batch.n, now)
        self.buffered -= batch.n
        self.produced += batch.n
        readers = 0
        for group in self.groups:
            if group.active:
                readers += 1
                group.advance(now)
                group.change(part.index, batch.n, now)
                if group.age_from is None:
                    group.age_from = batch.born
                group.lag_max = max(group.lag_max, group.lag)
                p = part.index
                group.partition_lag_max[p] = max(group.partition_lag_max[p], group.backlog[p])
        if readers:
            self.created += batch.n * (readers - 1)  # each further group reads its own copy
        else:  # no group reads yet: unread, in the log (see `ConsumerSide`)
            self._unread_end[part.index] = part.leo
        if self.tracing:
            self.log(f"written p{part.index}@{offset}+{batch.n}", Item(batch.born, batch.n, batch.key))
        self._wake_readers(part)
        self.space_freed()
        self._kick(part)

    def _wake_readers(self, part: Partition) -> None:
        parked, part.parked = part.parked, {}
        for member in parked:
            if member.parked:
                member.parked = False
                self._poll(member)

    def _wake(self, part: Partition) -> None:
        """A new leader: the consumers parked on the partition fetch again, writes go on."""
        self._wake_readers(part)
        self._kick(part)

    # ---- outages -------------------------------------------------------------------------
    def on_down(self) -> None:
        """Brokers down: writes in flight are retried later, nothing is written or fetched."""
        if self.tracing:
            self.log("down")
        for part in self.parts:
            part.generation += 1
            if part.writing is not None:
                part.batches.appendleft(part.writing)
                part.writing = None

    def on_up(self) -> None:
        if self.tracing:
            self.log("up")
        for part in self.parts:
            self._kick(part)
        waiting, self._parked_down = self._parked_down, []
        for member in waiting:
            self._poll(member)

    def on_speed_change(self) -> None:
        """A broker brownout: appends started from now on take `slowdown` times longer."""
        self.write_rate = self.config.write_rate() / self.slowdown
