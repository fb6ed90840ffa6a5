"""The nested settings of `kafka_topic` for the producer, the brokers and the log segments.

Each block is optional: left out, the topic behaves as it did without it (an ideal producer, a
topic that fails as one, retention per written batch), so older files keep their figures.
Given, its fields default to Kafka's documented values (producer configs, broker configs).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from flowsim.specmodel import SpecModel
from flowsim.units import Count, Duration, Number, Size


class ProducerSpec(SpecModel):
    """How the producer client sends: Kafka's `acks`, `delivery.timeout.ms` and `max.block.ms`
    (retries never duplicate: a resent batch had not landed, as with `enable.idempotence`)."""

    acks: Literal[0, 1, "all"] = Field(
        "all", description="0: no wait; 1: the leader's write; all: every in-sync replica (Kafka's default since 3.0)"
    )
    delivery_timeout: Duration | None = Field(
        120.0, gt=0, description="a batch not written this long after it opened expires (lost); none = never"
    )
    max_block: Duration | None = Field(
        60.0, gt=0, description="a send blocked on a full buffer this long fails (counted dropped); none = forever"
    )


class BrokerOutage(SpecModel):
    """One broker down for a while (a crash or a rolling restart)."""

    broker: Count = Field(ge=0, description="which broker (0 .. count - 1)")
    at: Duration = Field(ge=0)
    for_: Duration = Field(alias="for", gt=0)


class BrokerSpec(SpecModel):
    """The cluster under the topic: partition replicas spread over brokers, leaders, in-sync replicas."""

    count: Count = Field(3, ge=1, description="brokers; replica k of partition p sits on broker (p + k) mod count")
    replication_factor: Count = Field(1, ge=1, description="replicas per partition (Kafka's default 1)")
    min_insync_replicas: Count = Field(
        1, ge=1, description="acks=all writes to a partition with fewer live in-sync replicas are refused"
    )
    leader_election: Duration = Field(
        9.0,
        ge=0,
        description="a crashed broker is fenced this long after (KRaft's broker session 9 s): until then the "
        "partitions it led are offline and those it follows cannot commit",
    )
    replication_delay: Duration = Field(
        0.0, ge=0, description="followers fetch a write this long after the leader appends it (with RF > 1)"
    )
    outages: list[BrokerOutage] = Field(default=[], description="brokers down for a while")

    @model_validator(mode="after")
    def _consistent(self) -> BrokerSpec:
        if self.replication_factor > self.count:
            raise ValueError(
                f"replication_factor ({self.replication_factor}) is larger than the {self.count} brokers: "
                "each replica needs its own broker"
            )
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) is above replication_factor "
                f"({self.replication_factor}): every acks=all write would be refused"
            )
        ends: dict[int, float] = {}
        for outage in sorted(self.outages, key=lambda o: (o.broker, o.at)):
            if outage.broker >= self.count:
                raise ValueError(f"outage of broker {outage.broker}: brokers are numbered 0 .. {self.count - 1}")
            if outage.at < ends.get(outage.broker, -1.0):
                raise ValueError(f"two outages of broker {outage.broker} overlap: merge them into one")
            ends[outage.broker] = outage.at + outage.for_
        return self


class LogSpec(SpecModel):
    """How each partition's log is kept: segments (`segment.ms`, `segment.bytes`) and the cleanup
    policy (`cleanup.policy`, `min.cleanable.dirty.ratio`)."""

    segment: Duration = Field(604800.0, gt=0, description="the active segment rolls once it is this old (7 days)")
    segment_bytes: Size = Field(1073741824.0, gt=0, description="or once it holds this many bytes (1 GiB)")
    cleanup_policy: Literal["delete", "compact"] = Field(
        "delete", description="delete: closed segments past retention go; compact: keep the latest record per key"
    )
    keys: Count | None = Field(
        None, ge=1, description="distinct keys: item k carries key k mod keys, on partition key mod partitions"
    )
    min_cleanable_dirty_ratio: Number = Field(
        0.5, gt=0, lt=1, description="compact: clean once the uncompacted share of closed segments reaches this"
    )

    @model_validator(mode="after")
    def _keys(self) -> LogSpec:
        if self.cleanup_policy == "compact" and self.keys is None:
            raise ValueError("cleanup_policy: compact needs 'keys' (the key cardinality) to say what compaction keeps")
        return self


def broker_fault_problem(brokers: BrokerSpec | None, broker: int) -> tuple[str, str] | None:
    """A scenario fault naming `broker` of a topic: (message, hint) when the topic has no such broker."""
    if brokers is None:
        return (
            "this kafka_topic has no brokers block: it fails as one",
            "add 'brokers: {count: 3, replication_factor: 3}' to the topic, or drop 'broker' to take it all down",
        )
    if broker >= brokers.count:
        return (
            f"broker {broker} does not exist: the topic has {brokers.count} brokers",
            f"brokers are numbered 0 .. {brokers.count - 1}",
        )
    return None
