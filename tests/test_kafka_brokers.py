"""`kafka_topic` producers, brokers and the log, traced on tiny deterministic topics.

One partition (or three) written at 1000 messages/s: a batch of one message takes 1 ms.  The
source sends one message every 0.1 s (at 0.1, 0.2, ..); broker outages start at x.05 so that
no arrival ties with them.  Each figure is worked out by hand beside its assertion, following
Kafka's documented behaviour (producer configs `delivery.timeout.ms`, `max.block.ms`, `acks`;
topic configs `min.insync.replicas`, `segment.ms`, `segment.bytes`, `retention.bytes`).
"""

from __future__ import annotations

import re

import pytest

import flowsim
from flowsim.errors import FlowsimError
from helpers import Trace, run_traced, scenario_yaml

NOISE = ("append", "written", "poll", "commit", "group")


def run(
    fields: str, src: str = "interarrival: 0.1s, limit: 200", duration: str = "20s", partitions: int = 1
) -> tuple[Trace, dict[str, float]]:
    """The topic's trace (without the routine appends, writes and polls) and its figures."""
    text = scenario_yaml(
        f"""
        src: {{kind: source, {src}}}
        topic: {{kind: kafka_topic, partitions: {partitions}, partition_write_rate: 1000/s, batch_size: 1,
                 linger: 0s, partitioner: round_robin, {fields}}}
        done: {{kind: sink}}
        """,
        "[src -> topic, topic -> done]",
        duration,
    )
    model, events = run_traced(text)
    topic = model.nodes["topic"]
    figures = topic.figures(model.network.window)
    balance = figures["arrivals"] + figures["created"] + figures["inside_at_start"]
    balance -= figures["completed"] + figures["dropped"] + figures["lost"] + figures["inside_at_end"]
    assert balance == 0  # nothing vanishes uncounted
    return [e for e in events if e[1] == "topic" and not e[2].startswith(NOISE)], figures


ONE_BROKER_DOWN = "brokers: {count: 1, outages: [{broker: 0, at: 1.05s, for: 10s}]}"


def test_records_older_than_delivery_timeout_expire_and_are_lost() -> None:
    # one broker, down 1.05 .. 11.05: the messages sent at 1.1 .. 11.0 wait in the accumulator.
    # Each batch expires delivery_timeout (3 s) after it opened unless written: 1.1 + 3 = 4.1 is
    # the first, 8.0 + 3 = 11.0 the last before the broker returns; 8.1 .. 11.0 (30) are written.
    events, figures = run(f"{ONE_BROKER_DOWN}, producer: {{delivery_timeout: 3s}}")
    expired = [t for t, _, e, _ in events if e.startswith("expired")]
    assert expired[0] == pytest.approx(4.1) and expired[-1] == pytest.approx(11.0)
    assert figures["lost_to_expiry"] == len(expired) == 70  # sent at 1.1 .. 8.0
    assert figures["lost"] == 70 and figures["completed"] == figures["arrivals"] - 70
    assert figures["partition_offline_s"] == pytest.approx(10.0)  # replication factor 1: the whole outage


def test_a_send_blocked_longer_than_max_block_fails_counted() -> None:
    # a buffer of 5 fills with the messages at 1.1 .. 1.5 (the broker is down); the send at 1.6
    # blocks and fails at 1.6 + 2 = 3.6, the source's next at 3.7 fails at 5.7, then 5.8 -> 7.8,
    # 7.9 -> 9.9; the one at 10.0 is still blocked when the broker returns at 11.05 and gets in.
    events, figures = run(f"{ONE_BROKER_DOWN}, buffer_messages: 5, producer: {{max_block: 2s, delivery_timeout: null}}")
    failed = [t for t, _, e, _ in events if e == "max_block"]
    assert failed == pytest.approx([3.6, 5.7, 7.8, 9.9])
    assert figures["failed_max_block"] == figures["dropped"] == 4
    assert figures["lost"] == 0  # the 5 buffered went out at 11.05


@pytest.mark.parametrize(("acks", "wait"), [(0, 0.0), (1, 0.001), ("all", 0.001 + 0.002)])
def test_acks_adds_the_leader_write_and_the_replication_delay(acks: object, wait: float) -> None:
    # each batch is sent at once; acks 0 waits for nothing, 1 for the leader's 1 ms write, all
    # also for the followers' fetch (replication_delay 2 ms).  Consumers read up to the high
    # watermark whatever acks is: the first message, sent at 0.1, is handed over at 0.103.
    _, figures = run(
        f"producer: {{acks: {acks!r}}}, brokers: {{count: 3, replication_factor: 3, replication_delay: 2ms}}",
        src="interarrival: 0.1s, limit: 5",
    )
    assert figures["ack_wait_mean_s"] == pytest.approx(wait)
    assert figures["completed"] == 5 and figures["lost"] == 0


def test_latency_to_the_sink_waits_for_replication() -> None:
    text = scenario_yaml(
        """
        src: {kind: source, interarrival: 0.1s, limit: 1}
        topic: {kind: kafka_topic, partitions: 1, partition_write_rate: 1000/s, batch_size: 1, linger: 0s,
                brokers: {count: 3, replication_factor: 3, replication_delay: 2ms}}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> done]",
        "1s",
    )
    _, events = run_traced(text, nodes=["done"])
    assert [t for t, *_ in events] == [pytest.approx(0.103)]  # sent 0.1, written 0.101, replicated 0.103


def test_a_leader_loss_with_rf3_pauses_only_its_partitions_for_the_election() -> None:
    # three partitions in turn (round robin), replicas of p on brokers p, p+1, p+2 (mod 3): broker
    # 0 leads partition 0 only.  It fails at 1.05: partition 0 is offline for the 2 s election,
    # then broker 1 leads it; partitions 1 and 2 never stop.  Nothing is lost.
    events, figures = run(
        "brokers: {count: 3, replication_factor: 3, leader_election: 2s, outages: [{broker: 0, at: 1.05s, for: 10s}]}",
        partitions=3,
    )
    led = [(t, e) for t, _, e, _ in events if "led by" in e]
    assert led == [(pytest.approx(3.05), "p0 led by broker 1")]
    assert figures["partition_offline_s"] == pytest.approx(2.0)
    assert figures["lost"] == 0 and figures["leader_elections"] == 1
    rf1, _ = run("brokers: {count: 3, outages: [{broker: 0, at: 1.05s, for: 10s}]}", partitions=3)
    led = [(t, e) for t, _, e, _ in rf1 if "led by" in e]
    assert led == [(pytest.approx(11.05), "p0 led by broker 0")]  # RF 1: down for the whole outage


def test_acks_all_is_refused_below_min_insync_replicas_once_the_follower_is_fenced() -> None:
    # RF 3, min ISR 3: follower broker 2 is down 1.05 .. 3.05 and fenced 0.5 s after its crash,
    # at 1.55 (the controller's session timeout, `leader_election`): the 5 messages sent at
    # 1.1 .. 1.5 wait in the leader's log for it (the high watermark cannot pass it) and commit
    # at 1.55, when the ISR shrinks to 2; from then acks=all writes are refused (retriable): the
    # 15 sent at 1.6 .. 3.0 wait and are written at 3.05.  acks=1 does not need the ISR.
    base = "brokers: {count: 3, replication_factor: 3, min_insync_replicas: 3, leader_election: 0.5s, "
    base += "outages: [{broker: 2, at: 1.05s, for: 2s}]}"
    events, figures = run(f"{base}, producer: {{acks: all}}")
    assert [(t, e) for t, _, e, _ in events if e.startswith("broker")] == [
        (1.05, "broker 2 down"), (1.55, "broker 2 fenced"), (3.05, "broker 2 up"),
    ]  # fmt: skip
    assert figures["refused_min_isr"] == 15 and figures["lost"] == 0
    assert figures["isr_stalled_s"] == pytest.approx(0.5)
    assert figures["partition_offline_s"] == 0  # the leader never failed
    _, figures = run(f"{base}, producer: {{acks: 1}}")
    assert figures["refused_min_isr"] == 0


def test_a_follower_back_before_it_is_fenced_never_left_the_isr() -> None:
    # the same 2 s outage under the default 9 s session timeout: broker 2 is never fenced, the ISR
    # stays 3, nothing is refused; the leader holds the 20 messages sent at 1.1 .. 3.0 until the
    # follower, back at 3.05, has fetched them at the partition's 1,000/s: 20 / 1,000 = 0.02 s, at
    # 3.07 (the high watermark is the least log end over the ISR).  Their acks wait 3.07 - t,
    # 1.02 s on average: over the 199 acked batches the mean is (20 x 1.02 + 179 x 0.001) / 199
    # = 0.1034 s
    base = "brokers: {count: 3, replication_factor: 3, min_insync_replicas: 3, "
    base += "outages: [{broker: 2, at: 1.05s, for: 2s}]}"
    events, figures = run(f"{base}, producer: {{acks: all}}")
    assert not [e for _, _, e, _ in events if "fenced" in e or "not enough" in e]
    assert figures["refused_min_isr"] == 0 and figures["lost"] == 0
    assert figures["isr_stalled_s"] == pytest.approx(2.02) and figures["buffer_max_messages"] == 20
    assert figures["ack_wait_mean_s"] == pytest.approx((20 * 1.02 + 179 * 0.001) / 199)
    assert [(t, e) for t, _, e, _ in events if "in sync" in e] == [(pytest.approx(3.07), "p0 broker 2 back in sync")]


def test_a_fenced_follower_fetches_what_it_missed_before_it_is_in_sync_again() -> None:
    # acks=1 writes go on while follower broker 2 is away (1.05 .. 11.05, fenced at 1.55): the 100
    # messages sent at 1.1 .. 11.0.  Back at 11.05, it fetches them at the partition's 1,000/s and
    # rejoins the ISR 0.1 s later, at 11.15; a broker back before it is fenced never left it
    base = (
        "brokers: {count: 3, replication_factor: 3, leader_election: 0.5s, outages: [{broker: 2, at: 1.05s, for: 10s}]}"
    )
    events, _ = run(f"{base}, producer: {{acks: 1}}")
    assert [(t, e) for t, _, e, _ in events if "broker 2" in e] == [
        (1.05, "broker 2 down"), (1.55, "broker 2 fenced"), (11.05, "broker 2 up"),
        (pytest.approx(11.15), "p0 broker 2 back in sync"),
    ]  # fmt: skip


def test_consumers_read_only_up_to_the_high_watermark() -> None:
    # acks=1 answers at once, but the messages sent while the crashed follower holds the ISR reach
    # the sink only when it is fenced (leader_election 2 s: at 3.05) or back
    text = scenario_yaml(
        """
        src: {kind: source, interarrival: 0.1s, limit: 40}
        topic: {kind: kafka_topic, partitions: 1, partition_write_rate: 1000/s, batch_size: 1, linger: 0s,
                producer: {acks: 1},
                brokers: {count: 3, replication_factor: 3, leader_election: 2s,
                          outages: [{broker: 1, at: 1.05s, for: 10s}]}}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> done]",
        "5s",
    )
    _, events = run_traced(text, nodes=["done"])
    delivered = [t for t, *_ in events]
    # sent at 1.1 .. 3.0 (20), all delivered at 3.05; before and after: 1 ms after being sent
    assert delivered.count(pytest.approx(3.05)) == 20
    assert delivered[:10] == pytest.approx([0.101 + 0.1 * k for k in range(10)])
    assert delivered[-1] == pytest.approx(4.001)


def test_when_both_followers_are_fenced_the_leader_commits_alone_in_order() -> None:
    # RF 3, replication delay 0.5 s: messages 1-5 (sent 0.1 .. 0.5) reach the sink 0.501 s after
    # being sent.  Both followers crash at 1.05, before fetching 6-10, and are fenced at 2.05: the
    # high watermark waits for them until then, so 6-20 (sent 0.6 .. 2.0) arrive together at 2.05,
    # in offset order; from 2.1 the leader is the whole ISR and commits each write at once
    text = scenario_yaml(
        """
        src: {kind: source, interarrival: 0.1s, limit: 40}
        topic: {kind: kafka_topic, partitions: 1, partition_write_rate: 1000/s, batch_size: 1, linger: 0s,
                brokers: {count: 3, replication_factor: 3, replication_delay: 0.5s, leader_election: 1s,
                          outages: [{broker: 1, at: 1.05s, for: 10s}, {broker: 2, at: 1.05s, for: 10s}]}}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> done]",
        "5s",
    )
    _, events = run_traced(text, nodes=["done"])
    delivered = [(t, k) for t, _, _, k in events]
    assert [k for _, k in delivered] == list(range(1, 41))
    assert [t for t, k in delivered if k <= 5] == pytest.approx([0.1 * k + 0.501 for k in range(1, 6)])
    assert [t for t, k in delivered if 6 <= k <= 20] == pytest.approx([2.05] * 15)
    assert [t for t, k in delivered if k > 20] == pytest.approx([0.1 * k + 0.001 for k in range(21, 41)])


def test_with_acks_1_a_failover_loses_acknowledged_writes_acks_all_resends_them() -> None:
    # replication_delay 0.5 s: the batches written in the last 0.5 s before the leader fails at
    # 1.05 (sent at 0.6 .. 1.0: 5) have not reached a follower.  acks=1 already acknowledged them:
    # lost.  acks=all had not: they are sent again to the new leader after the election.
    base = "brokers: {count: 3, replication_factor: 3, replication_delay: 0.5s, leader_election: 1s, "
    base += "outages: [{broker: 0, at: 1.05s, for: 5s}]}"
    _, figures = run(f"{base}, producer: {{acks: 1}}")
    assert figures["lost_to_failover"] == figures["lost"] == 5
    _, figures = run(f"{base}, producer: {{acks: all}}")
    assert figures["lost"] == 0 and figures["lost_to_failover"] == 0
    assert figures["inside_at_end"] == 5  # sent at 19.6 .. 20.0: still being replicated at the end


def test_retention_deletes_closed_segments_only() -> None:
    # one message a second, written at k + 0.001; a segment rolls on the first append once it is
    # 3.5 s old: offsets 0-3 (last write 4.001), 4-7 (8.001), 8-11 (12.001), ..  A check every
    # second deletes a closed segment once its newest record is older than 10 s: the first at
    # 15 (4.001 <= 15 - 10), the second at 19.  The first message lived 15 - 1.001 = 14 s:
    # between retention (10 s) and retention + segment + check interval (14.5 s).
    # The consumer takes one message per poll and 10 s each: at 15 it has fetched offsets 0 and 1,
    # so offsets 2 and 3 go unread (lost); at 19 it is still on offset 1 and loses 4 .. 7.
    events, figures = run(
        "retention: 10s, retention_check_interval: 1s, log: {segment: 3.5s}, "
        "consumer_defaults: {max_poll_records: 1, processing_time: 10s}",
        src="interarrival: 1s, limit: 30",
        duration="20.5s",
    )
    deleted = [(t, e) for t, _, e, _ in events if "deletes a segment" in e]
    assert deleted == [(15.0, "p0 deletes a segment up to 4"), (19.0, "p0 deletes a segment up to 8")]
    assert figures["lost_to_retention"] == 2 + 4


def test_once_writes_stop_retention_deletes_the_active_segment_too() -> None:
    # 8 messages at 1 .. 8 s (written at k + 0.001), segments of 3.5 s: [0-3] and the active [4-7]
    # (last write 8.001).  Checks every second, retention 10 s: [0-3] goes at 15 (4.001 <= 15 - 10);
    # at 19 every record left is older than 10 s, so Kafka rolls an empty active segment and deletes
    # the old one (`UnifiedLog.deleteSegments`): the log is empty, where it used to keep 4 to the end
    events, figures = run(
        "retention: 10s, retention_check_interval: 1s, log: {segment: 3.5s}, consumer_groups: {done: {start_at: 25s}}",
        src="interarrival: 1s, limit: 8",
        duration="25.5s",
    )
    deleted = [(t, e) for t, _, e, _ in events if "deletes a segment" in e]
    assert deleted == [(15.0, "p0 deletes a segment up to 4"), (19.0, "p0 deletes a segment up to 8")]
    assert figures["log_messages_end"] == 0 and figures["segments_rolled"] == 2


def test_retention_bytes_keeps_at_least_the_limit_by_whole_segments() -> None:
    # 1,000-byte messages, segments of 2,000 bytes (2 messages), retention_bytes 5,000: a check
    # deletes the oldest closed segment while the rest still holds 5,000 bytes.  After the 11
    # messages (offsets 0 .. 10, segments [0,1] .. [8,9] and the active [10]) the check at 12
    # keeps 11,000 - 3 x 2,000 = 5,000 bytes: offsets 6 .. 10.
    _, figures = run(
        "message_size: 1000, retention_bytes: 5000, retention_check_interval: 1s, log: {segment_bytes: 2000}",
        src="interarrival: 1s, limit: 11",
        duration="12.5s",
    )
    assert figures["log_messages_end"] == 5
    assert figures["segments_rolled"] == 5  # [2,3] .. [10] each opened by a roll


def test_compaction_keeps_one_record_per_key_in_closed_segments() -> None:
    # keys 0 .. 9 in turn (message k carries key k mod 10), a message every 0.1 s, written at
    # x.x01; the active segment rolls on the first append 2.45 s after it opened: every 25
    # messages (at 2.601, 5.101, ..).  The check every 5 s finds the closed segments dirty enough
    # (50 dirty / (10 clean + 50) >= 0.5) and cleans them down to the 10 keys: "60 to 10".
    # At the end (20.01 s): 200 written, the active segment (opened at 17.601, offsets
    # 175 .. 199) holds 25, so the log holds 10 + 25 = 35; just before the check at 20 it held
    # 10 + 50 + 24 = 84.  The delete policy (7 days' retention) would hold all 200.
    events, figures = run(
        "retention_check_interval: 5s, log: {segment: 2.45s, cleanup_policy: compact, keys: 10}",
        duration="20.01s",
    )
    compactions = [(t, e) for t, _, e, _ in events if "compacts" in e]
    assert compactions == [
        (5.0, "p0 compacts 25 to 10"),
        (10.0, "p0 compacts 60 to 10"),
        (15.0, "p0 compacts 60 to 10"),
        (20.0, "p0 compacts 60 to 10"),
    ]
    assert figures["log_messages_end"] == 35 and figures["log_messages_max"] == 84
    assert figures["produced"] == 200 and figures["lost"] == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("brokers: {count: 2, replication_factor: 3}", "replication_factor (3) is larger than the 2 brokers"),
        ("brokers: {count: 3, replication_factor: 2, min_insync_replicas: 3}", "min_insync_replicas (3) is above"),
        ("brokers: {count: 3, outages: [{broker: 3, at: 1s, for: 1s}]}", "brokers are numbered 0 .. 2"),
        ("log: {cleanup_policy: compact}", "needs 'keys'"),
        (
            "brokers: {count: 3, outages: [{broker: 1, at: 1s, for: 5s}, {broker: 1, at: 3s, for: 1s}]}",
            "two outages of broker 1 overlap",
        ),
        ("producer: {acks: 2}", "acks"),
    ],
)
def test_bad_broker_settings_are_refused_with_a_located_message(fields: str, message: str) -> None:
    text = scenario_yaml(
        f"""
        src: {{kind: source, interarrival: 1s}}
        topic: {{kind: kafka_topic, {fields}}}
        done: {{kind: sink}}
        """,
        "[src -> topic, topic -> done]",
        "1s",
    )
    with pytest.raises(FlowsimError, match=re.escape(message)) as error:
        flowsim.load_scenario(text)
    assert str(error.value).startswith("<input>:6:")  # file:line:column of the topic (line 6)


def test_the_fluid_engine_refuses_the_per_batch_settings() -> None:
    text = scenario_yaml(
        """
        src: {kind: source, interarrival: 1s}
        topic: {kind: kafka_topic, brokers: {count: 3}}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> done]",
        "10s",
        extra="engine: fluid\n",
    )
    with pytest.raises(FlowsimError, match="brokers settings act per batch and per broker"):
        flowsim.simulate(flowsim.load_scenario(text))


def test_the_demand_a_blocked_source_never_generated_is_reported() -> None:
    # a buffer of 5 fills with the messages at 1.1 .. 1.5 while the only broker is down; the send
    # at 1.6 blocks the source until the broker returns at 11.05 and the first write (1 ms) frees
    # room at 11.051: 10 messages/s x (11.051 - 1.6) s = 94.51 were never generated
    text = scenario_yaml(
        f"""
        src: {{kind: source, interarrival: 0.1s, limit: 200}}
        topic: {{kind: kafka_topic, partitions: 1, partition_write_rate: 1000/s, batch_size: 1, linger: 0s,
                 buffer_messages: 5, {ONE_BROKER_DOWN}}}
        done: {{kind: sink}}
        """,
        "[src -> topic, topic -> done]",
        "20s",
    )
    result = flowsim.simulate(flowsim.load_scenario(text))
    assert result.nodes["src"].kind_figures["unmet_demand"] == pytest.approx(10 * (11.051 - 1.6))
    assert result.totals.unmet_demand == pytest.approx(94.51) and result.totals.unaccounted == 0
    assert result.nodes["src"].arrivals == pytest.approx(20 * 10 - 1 - 94, abs=1)  # what was generated
    from flowsim.reports.tables import header

    assert "unmet demand (blocked sources) 94.5" in header(result).plain


def test_a_time_varying_source_counts_the_arrival_times_it_skipped_while_blocked() -> None:
    # Poisson arrivals at 10/s (the spike comes after the block): the source blocks once the
    # buffer of 5 is full and stays blocked until the broker returns at 11.05; the arrival times
    # drawn meanwhile are skipped and counted, about 10/s x the blocked time (a Poisson count of
    # about 95: 3 standard deviations are 30%)
    text = scenario_yaml(
        f"""
        src: {{kind: source, rate: 10/s, profile: [{{spike: {{at: 15s, for: 2s, factor: 2}}}}]}}
        topic: {{kind: kafka_topic, partitions: 1, partition_write_rate: 1000/s, batch_size: 1, linger: 0s,
                 buffer_messages: 5, {ONE_BROKER_DOWN}}}
        done: {{kind: sink}}
        """,
        "[src -> topic, topic -> done]",
        "14s",
    )
    result = flowsim.simulate(flowsim.load_scenario(text))
    blocked = result.nodes["src"].blocked_time_s
    assert 9 < blocked < 10.05  # from the 6th arrival (after 1.05 s) to 11.05 s
    assert result.totals.unmet_demand == pytest.approx(10 * blocked, rel=0.3)


def test_a_fault_on_the_topic_still_takes_every_broker_down() -> None:
    # a topic fault 1.05 .. 3.05 s: with or without a brokers block (no broker outage of its
    # own), the 20 messages sent meanwhile wait in the producer and are written at 3.05 s
    fault = "faults:\n  - {node: topic, at: 1.05s, for: 2s}\n"
    plain = run_traced(scenario_yaml(TOPIC_AND_SINK.format(fields=""), EDGES, "5s", fault))[1]
    spread = run_traced(scenario_yaml(TOPIC_AND_SINK.format(fields="brokers: {count: 3, replication_factor: 3}"),
                                      EDGES, "5s", fault))[1]  # fmt: skip
    written = [(t, e) for t, node, e, _ in spread if e.startswith("written")]
    assert written == [(t, e) for t, node, e, _ in plain if e.startswith("written")]
    assert sum(1 for t, e in written if t == pytest.approx(3.051, abs=0.03)) == 20  # 1 ms each from 3.05


EDGES = "[src -> topic, topic -> done]"
TOPIC_AND_SINK = """
src: {{kind: source, interarrival: 0.1s, limit: 40}}
topic: {{kind: kafka_topic, partitions: 1, partition_write_rate: 1000/s, batch_size: 1, linger: 0s, {fields}}}
done: {{kind: sink}}
"""
