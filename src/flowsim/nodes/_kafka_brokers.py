"""The broker half of `kafka_topic`: partition leaders on brokers, elections, in-sync replicas,
and the producer's documented failure modes (`delivery.timeout.ms`, `max.block.ms`, `acks`).

Replicas: partition p keeps replica k on broker (p + k) mod count; replica 0 leads at first.
A crashed broker is noticed by the controller `leader_election` later (KRaft's broker session
timeout), which then fences it: removes it from every in-sync replica set (ISR) it is in and
elects the first live in-sync replica to lead the partitions it led (Kafka's
`ReplicationControlManager.handleBrokerFenced`).  Until then the partitions it led are offline,
and on those where it follows, the high watermark waits for it: writes land in the leader's
log but neither commit (acks=all is not answered) nor reach consumers (`isr_stalled_s`).  A
broker back before it is fenced never left the ISRs, and the commits go on at once.  With no
live in-sync replica (replication factor 1) a partition stays offline until its broker returns,
which then leads at once.  A fenced broker that returns fetches what was written while it was
away (at the partition's write rate) before it rejoins an ISR: until then a partition with
`min_insync_replicas` equal to its replicas still refuses acks=all writes.  Writes to an offline
partition wait in the producer's accumulator, reads of it return nothing.

What a failover does to the batches on the failed leader, by `acks` (Kafka's producer docs):
- written and not yet fetched by followers (`replication_delay`): acks 0 and 1 were already
  acknowledged, and the new leader never had them: lost (`lost_to_failover`); acks all were
  not acknowledged: the producer sends them again to the new leader.
- being written: acks 0 never learns of the failure: lost; acks 1 and all retry.

A broker goes down by an outage in `brokers.outages` or by a scenario fault naming it
(`{node: <topic>, broker: k, ...}`, scheduled or random); overlapping ones nest, so the broker is
back when the last ends.

The leading underscore keeps the registry from treating this module as a kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowsim.engine.node import NodeRuntime, Waiter
from flowsim.engine.stats import NO_DATA
from flowsim.nodes._kafka_parts import Batch, Partition

if TYPE_CHECKING:
    from flowsim.engine.item import Item
    from flowsim.nodes.kafka_topic import KafkaTopicConfig


class BrokerFault:
    """The fault target for one broker of a topic: the outage takes that broker down, not the topic."""

    def __init__(self, side: BrokerSide, broker: int) -> None:
        self.side, self.broker = side, broker

    def fault_begin(self) -> None:
        self.side.broker_fault(self.broker, 1)

    def fault_end(self) -> None:
        self.side.broker_fault(self.broker, -1)

    def brownout_begin(self, factor: float) -> None:
        """Never called: a broker fault with `slowdown` is refused when the scenario loads."""

    def brownout_end(self, factor: float) -> None:
        """Never called (see `brownout_begin`)."""


class BrokerSide(NodeRuntime):
    """Leaders, elections and producer failures; `KafkaTopicNode` supplies `_kick` and `_wake`."""

    config: KafkaTopicConfig
    parts: list[Partition]
    write_rate: float  # messages per second a partition appends (a follower fetches as fast)
    buffered: int  # messages not yet in the log (accumulator, being written, replicating)
    held: int  # messages holding producer buffer memory (until acknowledged)

    def setup_brokers(self) -> None:
        """Read the producer and broker blocks; place the replicas."""
        producer, cluster = self.config.producer, self.config.brokers
        self.acks: int | str = producer.acks if producer is not None else "all"
        self.delivery_timeout = producer.delivery_timeout if producer is not None else None
        self.max_block = producer.max_block if producer is not None else None
        self.min_isr = cluster.min_insync_replicas if cluster is not None else 1
        self.replication_delay = cluster.replication_delay if cluster is not None else 0.0
        self.alive = [True] * (cluster.count if cluster is not None else 1)
        self.broker_faults = [0] * len(self.alive)  # outages running per broker (they nest)
        self.crashes = [0] * len(self.alive)  # per broker: a fencing scheduled for an earlier crash is void
        self._fail_next = False  # the next try_put is a send that ran out of max_block
        if cluster is not None:
            for part in self.parts:
                part.replicas = [(part.index + k) % cluster.count for k in range(cluster.replication_factor)]
                part.isr = set(part.replicas)
                part.leader = part.replicas[0]

    def reset_broker_counters(self) -> None:
        self.expired = 0
        self.failed_max_block = 0
        self.refused_min_isr = 0
        self.lost_to_failover = 0
        self.elections = 0
        self.offline_s = 0.0
        self.stalled_s = 0.0
        self.acked_batches = 0
        self.ack_wait_s = 0.0

    def start_brokers(self) -> None:
        cluster = self.config.brokers
        for outage in cluster.outages if cluster is not None else ():
            self.call_later(outage.at, self._outage, (outage.broker, 1))
            self.call_later(outage.at + outage.for_, self._outage, (outage.broker, -1))

    def fault_target(self, plan: Any) -> Any:
        """A fault naming a `broker` takes that broker down; others go on to the consumer side."""
        broker = getattr(plan, "broker", None)
        if broker is None:
            return super().fault_target(plan)
        if self.config.brokers is None or not 0 <= broker < len(self.alive):
            raise ValueError(f"kafka_topic '{self.name}': a fault names broker {broker}, which it does not have")
        return BrokerFault(self, broker)

    def _outage(self, event: Any) -> None:
        broker, step = event._value
        self.broker_fault(broker, step)

    def broker_fault(self, broker: int, step: int) -> None:
        """An outage of `broker` begins (step 1) or ends (-1): down at the first, up after the last."""
        self.broker_faults[broker] += step
        if step > 0 and self.broker_faults[broker] == 1:
            self._broker_down(broker)
        elif step < 0 and self.broker_faults[broker] == 0:
            self._broker_up(broker)

    # ---- the producer's limits -----------------------------------------------------------
    def opened(self, batch: Batch) -> None:
        """A new batch: it expires `delivery_timeout` after it opened unless written by then."""
        if self.delivery_timeout is not None:
            self.call_later(self.delivery_timeout, self._expire, batch)

    def _expire(self, event: Any) -> None:
        batch: Batch = event._value
        if batch.state != 0:
            return  # written, or being written (an in-flight request completes)
        part = self.parts[batch.partition]
        part.batches.remove(batch)
        batch.state = 3
        self._gone(batch, "expired")
        self.expired += batch.n

    def _gone(self, batch: Batch, why: str) -> None:
        """A batch leaves the producer without reaching the log: lost, and its room freed."""
        self.buffered -= batch.n
        if not batch.acked:
            batch.acked = True
            self.held -= batch.n
        self.lost += batch.n
        if self.tracing:
            self.log(f"{why} p{batch.partition} {batch.n}")
        self.space_freed()

    def when_space(self, waiter: Waiter) -> None:
        """A send blocked on the full buffer; with `max_block` it fails once blocked that long."""
        super().when_space(waiter)
        if self.max_block is not None:
            self.call_later(self.max_block, self._block_expired, waiter)

    def _block_expired(self, event: Any) -> None:
        waiter: Waiter = event._value
        if waiter not in self._blocked:
            return  # it got in
        self._blocked.remove(waiter)
        self._fail_next = True
        waiter()  # its try_put counts the send failed and lets the sender go on
        self._fail_next = False

    def failed_send(self, item: Item) -> bool:
        """`max.block.ms` ran out: the send raises, the record is counted dropped."""
        self.arrivals += item.n
        self.dropped += item.n
        self.failed_max_block += item.n
        if self.tracing:
            self.log("max_block", item)
        return True

    def writable(self, part: Partition) -> bool:
        """An acks=all write needs `min_insync_replicas` live in-sync replicas; refused batches wait
        (the error is retriable) and are counted once each."""
        if self.acks != "all" or len(part.isr) >= self.min_isr:
            return True
        for batch in reversed(part.batches):
            if batch.refused:
                break
            if batch.ready:
                batch.refused = True
                self.refused_min_isr += batch.n
        if self.tracing:
            self.log(f"p{part.index} not enough replicas ({len(part.isr)} < {self.min_isr})")
        return False

    def acked(self, batch: Batch, now: float) -> None:
        """The producer hears back: the batch's buffer memory frees."""
        if batch.acked:
            return
        batch.acked = True
        self.held -= batch.n
        self.acked_batches += 1
        self.ack_wait_s += now - batch.sent

    def replicates(self, part: Partition) -> bool:
        """Followers must fetch a write before it counts as committed (the high watermark); a
        crashed follower not yet fenced holds it."""
        return len(part.isr) > 1 and (self.replication_delay > 0 or bool(part.dead_in_isr))

    def _replicated(self, event: Any) -> None:
        part, batch, epoch = event._value
        if epoch != part.epoch:
            return  # the leader failed first: the batch was resent or lost
        batch.fetched = True
        self.commit_fetched(part)

    def commit_fetched(self, part: Partition) -> None:
        """Advance the high watermark over the fetched batches, unless a crashed follower holds it."""
        while part.replicating and part.replicating[0].fetched and not part.dead_in_isr:
            self._land(part, part.replicating.popleft())

    def _live_isr(self, part: Partition) -> list[int]:
        return [r for r in part.replicas if r in part.isr and r not in part.dead_in_isr]

    # ---- brokers -------------------------------------------------------------------------
    def _broker_down(self, broker: int) -> None:
        self.alive[broker] = False
        self.crashes[broker] += 1
        if self.tracing:
            self.log(f"broker {broker} down")
        fence = self.config.brokers.leader_election if self.config.brokers is not None else 0.0
        if fence > 0:  # first: the controller fences the broker, then elects new leaders
            self.call_later(fence, self._fenced, (broker, self.crashes[broker]))
        for part in self.parts:
            if broker in part.replicas:
                part.behind_from[broker] = part.leo  # its log ends here: on its return it fetches the rest
            if broker not in part.isr:
                continue
            if part.leader == broker:
                part.isr.discard(broker)
                self._leader_lost(part)
            elif fence > 0:
                if not part.dead_in_isr:
                    part.stalled_since = self.env.now
                part.dead_in_isr.add(broker)
            else:
                part.isr.discard(broker)

    def _fenced(self, event: Any) -> None:
        """The controller fences the crashed broker: it leaves the ISRs it still held."""
        broker, crash = event._value
        if crash != self.crashes[broker] or self.alive[broker]:
            return  # it came back first: it never left the ISRs
        if self.tracing:
            self.log(f"broker {broker} fenced")
        for part in self.parts:
            if broker in part.dead_in_isr:
                part.isr.discard(broker)
                self._released(part, broker)

    def _released(self, part: Partition, broker: int) -> None:
        """A crashed follower no longer holds the partition's high watermark."""
        part.dead_in_isr.discard(broker)
        if len(part.isr) == 1:  # the leader alone: nothing left to fetch a write
            for batch in part.replicating:
                batch.fetched = True
        if not part.dead_in_isr:
            self.stalled_s += self.env.now - max(part.stalled_since, self._window_start)
            if part.online:
                self.commit_fetched(part)
                self._kick(part)

    def _leader_lost(self, part: Partition) -> None:
        now = self.env.now
        part.leader, part.online, part.offline_since = None, False, now
        part.epoch += 1
        part.generation += 1  # a write or replication in progress never lands
        retry: list[Batch] = []
        kept: list[Batch] = []
        for batch in part.replicating:
            if batch.fetched:
                kept.append(batch)  # the live followers have it: the new leader commits it
            elif self.acks == "all":
                retry.append(batch)
            else:
                self._failover_loss(batch)
        part.replicating.clear()
        part.replicating.extend(kept)
        if part.writing is not None:
            if self.acks == 0:
                self._failover_loss(part.writing)
            else:
                retry.append(part.writing)
            part.writing = None
        for batch in reversed(retry):
            batch.state = 0
            part.batches.appendleft(batch)
        if part.isr:  # a live replica to elect, or a crashed one that may return first
            self.call_later(self.config.brokers.leader_election, self._elect, (part, part.epoch))  # type: ignore[union-attr]
        if self.tracing:
            self.log(f"p{part.index} offline ({len(retry)} batches to resend)")

    def _failover_loss(self, batch: Batch) -> None:
        batch.state = 3
        self.lost_to_failover += batch.n
        self._gone(batch, "lost on failover")

    def _elect(self, event: Any) -> None:
        part, epoch = event._value
        live = self._live_isr(part)
        if epoch != part.epoch or part.online or not live:
            return  # no live in-sync replica: the partition waits for one to return
        self._lead(part, live[0])

    def _lead(self, part: Partition, broker: int) -> None:
        now = self.env.now
        part.leader, part.online = broker, True
        self.elections += 1
        self.offline_s += now - max(part.offline_since, self._window_start)
        if self.tracing:
            self.log(f"p{part.index} led by broker {broker}")
        self.commit_fetched(part)
        self._wake(part)

    def _broker_up(self, broker: int) -> None:
        self.alive[broker] = True
        if self.tracing:
            self.log(f"broker {broker} up")
        for part in self.parts:
            if broker not in part.replicas:
                continue
            behind = part.leo - part.behind_from.pop(broker, part.leo)
            unfenced = broker in part.dead_in_isr  # back before it was fenced: it never left the ISR
            if unfenced:  # and the leader's writes it held back wait, uncommitted, for it to fetch them
                behind += sum(batch.n for batch in part.replicating)
            if part.leader is not None and behind > 0:  # it fetches what it missed first
                # still in the ISR, it holds the high watermark until it has the missed records
                # (the high watermark is the least log end over the ISR); fenced, it rejoins then
                self.call_later(behind / self.write_rate, self._caught_up, (part, broker, self.crashes[broker]))
            elif unfenced:
                self._released(part, broker)
            else:
                self._in_sync(part, broker)

    def _caught_up(self, event: Any) -> None:
        part, broker, crash = event._value
        if crash == self.crashes[broker] and self.alive[broker]:
            if self.tracing:
                self.log(f"p{part.index} broker {broker} back in sync")
            if broker in part.dead_in_isr:
                self._released(part, broker)
            else:
                self._in_sync(part, broker)

    def _in_sync(self, part: Partition, broker: int) -> None:
        """The broker (back, and caught up) is in the partition's ISR again."""
        part.isr.add(broker)
        if part.leader is None and not [r for r in self._live_isr(part) if r != broker]:
            self._lead(part, broker)  # it was the last replica: no election to wait for
        else:
            self._kick(part)  # the ISR may be large enough for acks=all again

    def isr_stalled_s(self) -> float:
        """Partition-seconds whose high watermark waited for a crashed, unfenced follower."""
        now, start = self.env.now, self._window_start
        running = sum(now - max(p.stalled_since, start) for p in self.parts if p.dead_in_isr)
        return self.stalled_s + running

    def partition_offline_s(self) -> float:
        """Partition-seconds offline in the window, outages still running at the end included."""
        now, start = self.env.now, self._window_start
        running = sum(now - max(p.offline_since, start) for p in self.parts if not p.online)
        return self.offline_s + running

    def broker_figures(self) -> dict[str, float]:
        return {
            "lost_to_expiry": self.expired,
            "failed_max_block": self.failed_max_block,
            "refused_min_isr": self.refused_min_isr,
            "lost_to_failover": self.lost_to_failover,
            "leader_elections": self.elections,
            "partition_offline_s": self.partition_offline_s(),
            "isr_stalled_s": self.isr_stalled_s(),
            "ack_wait_mean_s": self.ack_wait_s / self.acked_batches if self.acked_batches else NO_DATA,
        }

    # ---- supplied by the kind ------------------------------------------------------------
    def _kick(self, part: Partition) -> None:
        raise NotImplementedError

    def _wake(self, part: Partition) -> None:
        raise NotImplementedError

    def _land(self, part: Partition, batch: Batch) -> None:
        raise NotImplementedError
