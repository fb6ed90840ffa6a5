"""A scenario fault that names one broker of a `kafka_topic` (`{node: topic, broker: k, ...}`).

It takes only that broker down, as an outage in the topic's `brokers.outages` does: the
partitions it leads are offline until a leader election moves them to an in-sync follower
(Kafka: the controller elects a new leader from the ISR); a topic-wide fault still takes every
broker down.  Tiny topic: three partitions written in turn, one message every 0.1 s, a 1 ms
write per message; replicas of partition p on brokers p, p+1, p+2 (mod 3).
"""

from __future__ import annotations

import pytest

import flowsim
from helpers import Trace, assert_fault_located, node_figures, run_traced, scenario_yaml

TOPIC = """
src: {{kind: source, interarrival: 0.1s, limit: 200}}
api: {{kind: service, service_time: 1ms}}
topic: {{kind: kafka_topic, partitions: 3, partition_write_rate: 1000/s, batch_size: 1, linger: 0s,
         partitioner: round_robin, brokers: {{count: 3, {brokers}}}}}
done: {{kind: sink}}
"""


def run(brokers: str, faults: str = "[]") -> tuple[Trace, dict[str, float]]:
    text = scenario_yaml(
        TOPIC.format(brokers=brokers), "[src -> api, api -> topic, topic -> done]", "20s", f"faults: {faults}\n"
    )
    model, events = run_traced(text, nodes={"topic"})
    noise = ("append", "written", "poll", "commit", "group")
    return [e for e in events if not e[2].startswith(noise)], node_figures(model, "topic")


RF3 = "replication_factor: 3, leader_election: 2s"


def test_a_broker_fault_is_the_same_outage_as_the_config_form() -> None:
    # broker 0 leads partition 0 only: offline 1.05 .. 3.05 until it is fenced and broker 1 is
    # elected; it follows partitions 1 and 2, whose commits wait for it as long (isr_stalled_s
    # 2 x 2 s); broker 0 is back at 11.05 and fetches what it missed, the 100 messages sent at
    # 1.1 .. 11.0 (33, 34 and 33 by partition) at 1,000/s, before it is in sync again
    fault, by_fault = run(RF3, "[{node: topic, broker: 0, at: 1.05s, for: 10s}]")
    config, by_config = run(RF3 + ", outages: [{broker: 0, at: 1.05s, for: 10s}]")
    assert fault == config
    assert [(t, e) for t, _, e, _ in fault] == [
        (1.05, "broker 0 down"),
        (1.05, "p0 offline (0 batches to resend)"),
        (3.05, "broker 0 fenced"),
        (3.05, "p0 led by broker 1"),
        (11.05, "broker 0 up"),
        (pytest.approx(11.083), "p0 broker 0 back in sync"),
        (pytest.approx(11.083), "p2 broker 0 back in sync"),
        (pytest.approx(11.084), "p1 broker 0 back in sync"),
    ]
    assert by_fault == by_config
    assert by_fault["partition_offline_s"] == pytest.approx(2.0) and by_fault["leader_elections"] == 1
    assert by_fault["isr_stalled_s"] == pytest.approx(2 * 2.0)
    assert by_fault["downtime_s"] == 0  # the topic itself never went down
    assert by_fault["lost"] == 0


def test_with_one_replica_the_partition_waits_for_its_broker() -> None:
    # RF 1: no follower to elect; partition 0 is offline for the whole 10 s, led by broker 0 again
    # at 11.05 (its writes wait in the producer: 10 s x 10/s x 1/3 = 33 or 34 messages held)
    events, figures = run("leader_election: 2s", "[{node: topic, broker: 0, at: 1.05s, for: 10s}]")
    assert (11.05, "topic", "p0 led by broker 0", -1) in events
    assert figures["partition_offline_s"] == pytest.approx(10.0)
    assert 33 <= figures["buffer_max_messages"] <= 34


def test_overlapping_faults_on_one_broker_nest() -> None:
    # a config outage 1.05 .. 4.05 and a fault 3.05 .. 6.05: down once, at 1.05, fenced 2 s
    # later, up once, at 6.05
    events, _ = run(
        RF3 + ", outages: [{broker: 0, at: 1.05s, for: 3s}]", "[{node: topic, broker: 0, at: 3.05s, for: 3s}]"
    )
    assert [(t, e) for t, _, e, _ in events if e.startswith("broker")] == [
        (1.05, "broker 0 down"),
        (3.05, "broker 0 fenced"),
        (6.05, "broker 0 up"),
    ]


def test_a_broker_can_fail_at_random() -> None:
    # mtbf 4 s, mttr 1 s over 20 s: the broker goes down and comes back several times, each loss
    # of partition 0's leader costing one election (or none when it returns within the 2 s)
    events, figures = run(
        RF3, "[{node: topic, broker: 0, mtbf: {dist: exponential, mean: 4s}, mttr: {dist: exponential, mean: 1s}}]"
    )
    downs = [t for t, _, e, _ in events if e == "broker 0 down"]
    ups = [t for t, _, e, _ in events if e == "broker 0 up"]
    assert len(downs) >= 2 and len(ups) >= len(downs) - 1
    assert 0 < figures["partition_offline_s"] <= 2.0 * len(downs)  # at most one 2 s election each
    assert figures["downtime_s"] == 0


@pytest.mark.parametrize(
    ("fault", "brokers", "where", "message"),
    [
        ("{node: topic, broker: 3, at: 1s, for: 1s}", "brokers: {count: 3}", "faults[0].broker",
         "broker 3 does not exist: the topic has 3 brokers"),
        ("{node: topic, broker: 0, at: 1s, for: 1s}", "partitions: 3", "faults[0].broker",
         "this kafka_topic has no brokers block"),
        ("{node: api, broker: 0, at: 1s, for: 1s}", "brokers: {count: 3}", "faults[0].broker",
         "a service has no brokers"),
        ("{node: topic, broker: 0, group: done, at: 1s, for: 1s}", "brokers: {count: 3}", "faults[0]",
         "either a consumer group ('group') or a broker"),
        ("{node: topic, broker: 0, at: 1s, for: 1s, slowdown: 2}", "brokers: {count: 3}", "faults[0]",
         "'slowdown' does not apply to a broker"),
    ],
)  # fmt: skip
def test_bad_broker_faults_are_located(fault: str, brokers: str, where: str, message: str) -> None:
    assert_fault_located(brokers, fault, where, message)


def test_a_broker_loss_is_not_a_topic_outage_for_the_drain_estimate() -> None:
    from flowsim.api import outages

    text = scenario_yaml(
        TOPIC.format(brokers=RF3), "[src -> api, api -> topic, topic -> done]", "20s",
        "faults: [{node: topic, broker: 0, at: 1s, for: 10s}, {node: topic, at: 12s, for: 2s}]\n",
    )  # fmt: skip
    assert outages(flowsim.load_scenario(text)) == {"topic": 2.0}  # the 2 s topic outage, not the 10 s broker loss
