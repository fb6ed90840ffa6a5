"""Back-of-envelope figures for Kafka consumer groups: how fast lag grows, how long it takes to drain.

A group reads at the smaller of its consumers' capacity (the busiest consumer's share limits it)
and the capacity of the node it hands over to (a full job holds its consumers back: backpressure).
With `in` the rate written to the topic (the offered rate, or the partitions' write capacity when
that is lower) and `out` that capacity:

- an overloaded group's lag grows by `in - out` messages a second, without end;
- after an outage of D seconds (the topic down, its producers buffering), the backlog `in x D`
  drains at the spare capacity `out - in`: in `in x D / (out - in)` seconds;
- after a crash of D seconds of the job the group feeds, R seconds after the job's last
  checkpoint, the group has read nothing for D and goes back R: the backlog `in x (D + R)`
  drains in `in x (D + R) / (out - in)` seconds (a job re-reads its topic from its checkpoint).

These sit beside the simulated figures (`lag growth` from the group's backlog at start and end,
the drain from the lag series); they ignore batching, polls and retention.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel, Field

from flowsim.analysis.loads import NodeFlow
from flowsim.spec.architecture import Architecture


class GroupEstimate(BaseModel):
    """One consumer group of a topic, by its flow laws (messages per second, seconds)."""

    topic: str
    group: str
    in_per_s: float = Field(
        description="messages per second written to the topic (at most its partitions' write capacity)"
    )
    out_per_s: float | None = Field(None, description="messages per second the group can read and hand over")
    limited_by: str = Field(description="what sets out_per_s: the group's consumers or the node it feeds")
    lag_growth_per_s: float = Field(description="in - out when the group is overloaded, else 0")
    drain_s_per_outage_s: float | None = Field(
        None, description="in / (out - in): seconds of drain per second of outage (none: it never drains)"
    )
    outage_s: float | None = Field(
        None, description="the longest scheduled outage of the topic (else of the job the group feeds)"
    )
    reread_s: float | None = Field(
        None, description="the job's outage: seconds of input since its last checkpoint, read again"
    )
    drain_after_outage_s: float | None = Field(None, description="in x (outage + reread) / (out - in)")


def group_estimates(
    arch: Architecture,
    flows: Mapping[str, NodeFlow],
    outages: Mapping[str, float] | None = None,
    rereads: Mapping[str, float] | None = None,
) -> list[GroupEstimate]:
    """Every consumer group of every topic (a stage named "consumer group 'x'" in its flow law)."""
    estimates = []
    for name, flow in flows.items():
        if arch.nodes[name].kind != "kafka_topic":
            continue
        # what reaches the log: an overloaded topic writes at its partitions' capacity (the rest
        # waits in the producer buffer, blocks its senders or is dropped), not at the offered rate
        writes = flow.loads.get("partition writes", 0.0)
        rate = flow.messages_per_s / writes if writes > 1.0 else flow.messages_per_s
        for stage in flow.law.stages:
            if not stage.name.startswith("consumer group '"):
                continue
            group = stage.name[len("consumer group '") : -1]
            rho = flow.loads.get(stage.name, 0.0)  # of the offered rate
            consumers = flow.messages_per_s / rho if rho > 0 else math.inf
            target = flows.get(group)
            feed = target.capacity_per_s if target is not None and target.capacity_per_s is not None else math.inf
            out = min(consumers, feed)
            limited = "consumers" if consumers <= feed else f"'{group}'"
            estimate = GroupEstimate(
                topic=name, group=group, in_per_s=rate, out_per_s=out if math.isfinite(out) else None,
                limited_by=limited, lag_growth_per_s=max(0.0, rate - out) if math.isfinite(out) else 0.0,
            )  # fmt: skip
            if out > rate:
                estimate.drain_s_per_outage_s = rate / (out - rate) if math.isfinite(out) else 0.0
                outage = (outages or {}).get(name)
                job = (outages or {}).get(group) if arch.nodes[group].kind == "stream_processor" else None
                if outage is not None:
                    estimate.outage_s = outage
                    estimate.drain_after_outage_s = outage * estimate.drain_s_per_outage_s
                elif job is not None:  # the job is down: its group reads nothing, then goes back
                    estimate.outage_s, estimate.reread_s = job, (rereads or {}).get(group, 0.0)
                    estimate.drain_after_outage_s = (job + estimate.reread_s) * estimate.drain_s_per_outage_s
            estimates.append(estimate)
    return estimates
