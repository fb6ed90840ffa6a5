"""`kafka_topic`: exact traces on tiny deterministic topics, figures, conservation and bad input.

Writes take n / partition_write_rate seconds (1 ms per message at 1000/s below); every trace is
worked out by hand in the comments.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import flowsim
from flowsim.errors import FlowsimError
from flowsim.nodes.kafka_topic import KafkaTopicConfig
from flowsim.reports.app_frames import headline, nodes_frame
from flowsim.reports.tables import node_flow_table
from helpers import Trace, run_traced, scenario_yaml


def run(nodes: str, edges: str, duration: str = "12s", extra: str = "") -> tuple[Trace, dict[str, float]]:
    model, events = run_traced(scenario_yaml(nodes, edges, duration, extra))
    return [e for e in events if e[1] != "src"], model.nodes["topic"].figures(model.network.window)


def topic(fields: str) -> str:
    return f"topic: {{kind: kafka_topic, partitions: 1, partition_write_rate: 1000/s, {fields}}}"


def test_a_partition_is_consumed_in_offset_order() -> None:
    # five messages written at 0.101 .. 0.501; one consumer takes at most 2 per poll at 1 s each:
    # offsets 0, then 1-2, then 3-4, each poll starting where the last commit ended; within a poll
    # each record goes downstream as soon as it is processed (offset 1 at 2.101, offset 2 at 3.101)
    events, figures = run(
        f"""
        src: {{kind: source, interarrival: 0.1s, limit: 5}}
        {topic("batch_size: 1, linger: 0s, consumer_defaults: {max_poll_records: 2, processing_time: 1s}")}
        done: {{kind: sink}}
        """,
        "[src -> topic, topic -> done]",
    )
    polls = [(t, e) for t, node, e, _ in events if e.startswith("poll")]
    assert polls == [(0.101, "poll done.0 p0@0+1"), (1.101, "poll done.0 p0@1+2"), (3.101, "poll done.0 p0@3+2")]
    sunk = [t for t, node, e, _ in events if node == "done"]
    assert sunk == [1.101, 2.101, 3.101, 4.101, 5.101]
    assert figures["lag_max_messages.done"] == 5  # at 0.501: 5 written, none committed yet
    assert figures["consumed.done"] == 5 and figures["completed"] == 5


def test_linger_sends_a_partial_batch_and_a_full_batch_goes_at_once() -> None:
    # batch_size 5: messages at 0.2, 0.4, 0.6 join the batch opened at 0.2; linger (0.5 s) sends it
    # at 0.7 and its 3 messages take 3 ms to write
    events, _ = run(
        f"""
        src: {{kind: source, interarrival: 0.2s, limit: 3}}
        {topic("batch_size: 5, linger: 0.5s")}
        done: {{kind: sink}}
        """,
        "[src -> topic, topic -> done]",
    )
    assert [e for e in events if e[2].startswith("written")] == [(0.703, "topic", "written p0@0+3", 1)]
    # batch_size 2: the second message fills the batch at 0.4, which is written at once
    events, _ = run(
        f"""
        src: {{kind: source, interarrival: 0.2s, limit: 3}}
        {topic("batch_size: 2, linger: 0.5s")}
        done: {{kind: sink}}
        """,
        "[src -> topic, topic -> done]",
    )
    written = [e for e in events if e[2].startswith("written")]
    assert written == [(0.402, "topic", "written p0@0+2", 1), (1.101, "topic", "written p0@2+1", 3)]


def test_each_message_keeps_its_own_birth_time_through_batching_and_polls() -> None:
    # messages at 0.125, 0.25, .., 1.0 join the batch opened at 0.125; linger (1 s) sends it at
    # 1.125 and its 8 messages take 8 ms to write: at 1.133 one poll takes all 8. Per message the
    # ages are 1.133 - born = 1.008, 0.883, .., 0.133: mean 1.133 - 0.5625 = 0.5705, p50 the same
    # (the middle pair 0.633 and 0.508), max 1.008; the batch's oldest message alone is 1.008.
    scenario = flowsim.load_scenario(
        scenario_yaml(
            f"""
            src: {{kind: source, interarrival: 0.125s, limit: 8}}
            {topic("batch_size: 100, linger: 1s")}
            done: {{kind: sink}}
            """,
            "[src -> topic, topic -> done]",
            "5s",
        )
    )
    sink = flowsim.simulate(scenario).end_to_end["done"]
    latency = sink.latency_s
    assert latency is not None and sink.count == 8 and latency.count == 8  # messages, not polls (1)
    assert latency.mean == pytest.approx(0.5705) and latency.p50 == pytest.approx(0.5705)
    assert latency.max == pytest.approx(1.008)


SLOW_FAST_EDGES = "[src -> topic, topic -> slow, topic -> fast]"


def slow_and_fast_groups() -> str:
    """One message a second into a topic keeping 2 s, read by a slow group (5 s a record) and a fast one."""
    group = topic(
        "batch_size: 1, linger: 0s, retention: 2s, retention_check_interval: 1s, "
        "consumer_groups: {slow: {max_poll_records: 1, processing_time: 5s}}"
    )
    return f"""
        src: {{kind: source, interarrival: 1s, limit: 4}}
        {group}
        slow: {{kind: sink}}
        fast: {{kind: sink}}
        """


def test_retention_deletes_unread_messages_counted_lost_for_the_slow_group_only() -> None:
    # one message a second (written at 1.001 .. 4.001), retention 2 s checked every second. The slow
    # group fetched offset 0 at 1.001 and is busy until 6.001. At 5 the entries written up to 3 go:
    # offset 1 was never fetched by it (lost); at 6 offset 2 goes too. The fast group read both.
    events, figures = run(slow_and_fast_groups(), SLOW_FAST_EDGES)
    assert [e for e in events if "retention" in e[2] or e[2].startswith(("poll slow", "commit slow"))] == [
        (1.001, "topic", "poll slow.0 p0@0+1", 1),
        (5.0, "topic", "retention p0 lost 1 for slow", -1),
        (6.0, "topic", "retention p0 lost 1 for slow", -1),
        (6.001, "topic", "commit slow.0", 1),
        (6.001, "topic", "poll slow.0 p0@3+1", 4),
        (11.001, "topic", "commit slow.0", 4),
    ]
    assert figures["lost_to_retention.slow"] == 2 and figures["consumed.slow"] == 2
    assert figures["lost_to_retention.fast"] == 0 and figures["consumed.fast"] == 4
    assert figures["lost_to_retention"] == 2 and figures["produced"] == 4


def test_a_group_reset_to_latest_skips_its_backlog_when_retention_passes_it() -> None:
    # The same topic, the slow group on auto.offset.reset=latest (the Java consumer's default: "what
    # to do when ... the current offset does not exist any more on the server (e.g. because that
    # data has been deleted)"). At 5 the offsets written up to 3 go (0 and 1): its next offset, 1,
    # is gone, so it jumps to the log end, 4: offset 1 is deleted unread (lost 1) and offsets 2 and
    # 3, still retained, are never read (skipped 2). Offset 0 was in its hands and is handed on.
    events, figures = run(
        slow_and_fast_groups().replace("processing_time: 5s}", "processing_time: 5s, offset_reset: latest}"),
        SLOW_FAST_EDGES,
    )
    assert [e for e in events if "retention" in e[2] or e[2].startswith(("poll slow", "commit slow"))] == [
        (1.001, "topic", "poll slow.0 p0@0+1", 1),
        (5.0, "topic", "retention p0 lost 1 for slow, reset to the log end: skipped 2", -1),
        (6.001, "topic", "commit slow.0", 1),
    ]
    assert figures["lost_to_retention.slow"] == 1 and figures["skipped_on_reset.slow"] == 2
    assert figures["consumed.slow"] == 1 and figures["consumed.fast"] == 4
    assert figures["skipped_on_reset.fast"] == 0 and figures["lost"] == 3  # 1 deleted + 2 skipped
    # 4 written, read by two groups: 8 copies = 5 consumed + 3 lost, none left behind
    assert figures["backlog_at_end.slow"] == figures["backlog_at_end.fast"] == 0
    # the fluid engine follows cohorts, not offsets: it refuses the reset instead of ignoring it
    text = scenario_yaml(
        slow_and_fast_groups().replace("processing_time: 5s}", "processing_time: 5s, offset_reset: latest}"),
        SLOW_FAST_EDGES,
        "12s",
        extra="engine: fluid\n",
    )
    with pytest.raises(FlowsimError, match=r"offset_reset: latest\); run it per_message"):
        flowsim.simulate(flowsim.load_scenario(text))


def test_retention_loss_is_a_loss_in_totals_slos_tables_and_the_headline() -> None:
    # the slow/fast topic of the test above: 4 messages, the slow group loses offsets 1 and 2
    scenario = flowsim.load_scenario(
        scenario_yaml(
            slow_and_fast_groups(),
            SLOW_FAST_EDGES,
            "12s",
            extra="slos: ['totals.lost == 0', 'totals.dropped == 0']\n",
        )
    )
    result = flowsim.simulate(scenario)
    node, totals = result.nodes["topic"], result.totals
    assert node.lost == 2 and totals.lost == 2 and totals.dropped == 0
    # 4 arrivals + 4 copies (the second group's) == 6 delivered (slow 2 + fast 4) + 2 lost + 0 inside
    assert totals.arrivals + totals.copies == totals.delivered + totals.lost + totals.inside_at_end
    assert totals.delivered == 6 and totals.unaccounted == 0
    lost_slo, dropped_slo = result.slos
    assert not lost_slo.passed and lost_slo.value == 2 and dropped_slo.passed
    figures = {h.label: h for h in headline(result, scenario.arch)}
    assert figures["Messages lost"].value == 2  # dropped 0 + dead-lettered 0 + deleted unread 2
    assert nodes_frame(result).loc["topic", "lost"] == 2
    flow = node_flow_table(result)
    lost_column = next(c for c in flow.columns if c.header == "lost")
    assert str(list(lost_column.cells)[list(result.nodes).index("topic")]) == "2"


def test_consumers_beyond_the_partition_count_sit_idle() -> None:
    # 2 partitions, 3 consumers: consumer 0 gets p0, consumer 1 gets p1, consumer 2 nothing
    events, figures = run(
        """
        src: {kind: source, interarrival: 1s, limit: 4}
        topic: {kind: kafka_topic, partitions: 2, partitioner: round_robin, batch_size: 1, linger: 0s,
                partition_write_rate: 1000/s, consumer_defaults: {consumers: 3}}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> done]",
    )
    assert [e[2] for e in events if e[2].startswith("poll")] == [
        "poll done.0 p0@0+1",
        "poll done.1 p1@0+1",
        "poll done.0 p0@1+1",
        "poll done.1 p1@1+1",
    ]
    assert figures["idle_consumers.done"] == 1 and figures["hot_partition_share"] == 0.5


def test_outage_holds_messages_in_the_producer_buffer_then_writes_them() -> None:
    # down from 1.5 to 4.5: messages at 2, 3, 4 wait in the buffer and are written after the outage
    events, figures = run(
        f"""
        src: {{kind: source, interarrival: 1s, limit: 5}}
        {topic("batch_size: 1, linger: 0s")}
        done: {{kind: sink}}
        """,
        "[src -> topic, topic -> done]",
        extra="faults: [{node: topic, at: 1.5s, for: 3s}]\n",
    )
    assert [(t, e) for t, _, e, _ in events if e.startswith(("written", "down", "up"))] == [
        (1.001, "written p0@0+1"),
        (1.5, "down"),
        (4.5, "up"),
        (4.501, "written p0@1+1"),
        (4.502, "written p0@2+1"),
        (4.503, "written p0@3+1"),
        (5.001, "written p0@4+1"),
    ]
    assert figures["buffer_max_messages"] == 3 and figures["downtime_s"] == 3.0
    assert figures["dropped"] == 0 and figures["consumed.done"] == 5


def test_a_full_buffer_drops_or_blocks_upstream() -> None:
    nodes = """
        src: {{kind: source, interarrival: 1s, limit: 6}}
        {topic}
        done: {{kind: sink}}
        """
    fault = "faults: [{node: topic, at: 0.5s, for: 10s}]\n"
    fields = "batch_size: 1, linger: 0s, buffer_messages: 2, on_buffer_full: {}"
    edges = "[src -> topic, topic -> done]"
    _, dropping = run(nodes.format(topic=topic(fields.format("drop"))), edges, extra=fault)
    assert dropping["arrivals"] == 6 and dropping["dropped"] == 4 and dropping["produced"] == 2
    events, blocking = run(
        nodes.format(topic=topic(fields.format("block"))), "[src -> topic, topic -> done]", extra=fault
    )
    # the source blocks at 3 with the third message and resumes at 10.5; its next one comes at 11.5
    assert blocking["dropped"] == 0 and blocking["arrivals"] == 4 and blocking["produced"] == 4
    assert [e[0] for e in events if e[2] == "buffer full"] == [3.0]


def test_every_group_reads_every_message_and_the_counts_balance() -> None:
    scenario = flowsim.load_scenario(
        textwrap.dedent(
            """
            name: groups
            architecture:
              name: two-groups
              nodes:
                src: {kind: source, rate: 50/s, batch: 4}
                topic: {kind: kafka_topic, partitions: 3, batch_size: 20, linger: 50ms,
                        consumer_groups: {b: {consumers: 2, processing_time: 2ms}}}
                a: {kind: sink}
                b: {kind: sink}
              edges: [src -> topic, topic -> a, topic -> b]
            duration: 60s
            warmup: 10s
            """
        )
    )
    node = flowsim.simulate(scenario).nodes["topic"]
    f = node.kind_figures
    assert f["consumed.a"] > 9000 and f["consumed.b"] > 9000
    assert node.completed == f["consumed.a"] + f["consumed.b"]
    # the producer: arrivals + buffer at start == produced + dropped + buffer at end
    assert node.arrivals + f["buffer_at_start"] == f["produced"] + node.dropped + f["buffer_at_end"]
    # each group: written + backlog at start == consumed + lost + backlog at end
    for group in ("a", "b"):
        start, end = f[f"backlog_at_start.{group}"], f[f"backlog_at_end.{group}"]
        assert f["produced"] + start == f[f"consumed.{group}"] + f[f"lost_to_retention.{group}"] + end
    # inside = buffer + every group's backlog
    assert node.inside_at_end == f["buffer_at_end"] + f["backlog_at_end.a"] + f["backlog_at_end.b"]


def test_skewed_keys_send_hot_share_to_one_partition() -> None:
    hot = KafkaTopicConfig(kind="kafka_topic", partitions=5, partitioner="skewed", hot_share=0.6)
    assert hot.partition_weights() == pytest.approx([0.6, 0.1, 0.1, 0.1, 0.1])
    zipf = KafkaTopicConfig(kind="kafka_topic", partitions=3, partitioner="skewed", zipf_exponent=1.0)
    assert zipf.partition_weights() == pytest.approx(np.array([1, 1 / 2, 1 / 3]) / (11 / 6))
    capped = KafkaTopicConfig(
        kind="kafka_topic", partition_write_rate="10000/s", partition_write_bandwidth="2MB", message_size="1KB"
    )
    assert capped.write_rate() == 2000


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"batch_size": 100, "buffer_messages": 10}, "buffer_messages (10) is below batch_size (100)"),
        ({"zipf_exponent": 1.2}, "zipf_exponent only applies with partitioner: skewed"),
        ({"routing": "random"}, "Input should be 'fanout'"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        KafkaTopicConfig(kind="kafka_topic", **fields)  # type: ignore[arg-type]


def test_a_consumer_group_must_name_an_out_edge_target() -> None:
    text = """
        src: {kind: source, interarrival: 1s}
        topic: {kind: kafka_topic, consumer_groups: {dne: {consumers: 2}}}
        done: {kind: sink}
        """
    with pytest.raises(FlowsimError, match=r"consumer_groups: group 'dne' is not the target of an out-edge"):
        run(text, "[src -> topic, topic -> done]")


def test_a_replay_group_starting_later_at_earliest_reads_the_retained_log() -> None:
    # messages written at 1.001, 2.001, 3.001; the replay group starts at 2.5 from the earliest
    # offset (2 behind) and fetches both at once; the live group started at 0 with latest
    events, figures = run(
        f"""
        src: {{kind: source, interarrival: 1s, limit: 3}}
        {topic("batch_size: 1, linger: 0s, consumer_groups: {replay: {start: earliest, start_at: 2.5s}}")}
        live: {{kind: sink}}
        replay: {{kind: sink}}
        """,
        "[src -> topic, topic -> live, topic -> replay]",
    )
    assert [(t, e) for t, _, e, _ in events if "replay" in e] == [
        (2.5, "group replay starts at 2 behind"),
        (2.5, "poll replay.0 p0@0+2"),
        (2.5, "commit replay.0"),
        (3.001, "poll replay.0 p0@2+1"),
        (3.001, "commit replay.0"),
    ]
    assert figures["consumed.replay"] == figures["consumed.live"] == 3


LATE_ONLY = """
src: {{kind: source, interarrival: 10ms}}
topic:
  kind: kafka_topic
  partitions: 1
  retention: 60s
  retention_check_interval: 10s
  consumer_groups: {{out: {{start: {start}, start_at: 250s}}}}
out: {{kind: sink}}
"""


@pytest.mark.parametrize(
    ("start", "engine", "delivered", "lost", "unread"),
    [
        # the checks at 10, 20, ... delete what is older than 60 s; the group starts at 250 s
        # earliest: it reads what the check at 240 s left (written from 180 s): 120 s x 100/s
        ("earliest", "per_message", 12_000, 17_999, 0),
        # latest: it reads only what is written from 250 s (5,000); the last check (290 s) left
        # 230..250 s (2,000) unread in the log, and deleted the 22,999 written before 230 s
        ("latest", "per_message", 5_000, 22_999, 2_000),
        ("latest", "fluid", 5_000, 22_999, 2_000),
    ],
)
def test_messages_deleted_before_any_group_starts_are_lost(
    start: str, engine: str, delivered: int, lost: int, unread: int
) -> None:
    # 30,000 written, no group reading until 250 s: what retention deleted before then was in
    # no figure (totals: lost 0, 'copies' -17,999), so `totals.lost == 0` passed
    text = scenario_yaml(LATE_ONLY.format(start=start), "[src -> topic, topic -> out]", "300s")
    result = flowsim.simulate(flowsim.load_scenario(text), engine=engine)
    totals, topic = result.totals, result.nodes["topic"]
    assert totals.arrivals == pytest.approx(30_000, abs=1) and totals.copies == pytest.approx(0, abs=1e-6)
    assert totals.delivered == pytest.approx(delivered, abs=2) and totals.lost == pytest.approx(lost, abs=2)
    assert topic.kind_figures["lost_before_groups"] == pytest.approx(lost, abs=2)
    assert topic.kind_figures["unread_at_end"] == pytest.approx(unread, abs=2)
    assert abs(totals.unaccounted) < 1e-6 and totals.inside_at_end == pytest.approx(unread + 1, abs=2)


def test_hot_partition_lag_share_is_time_weighted_so_a_tiny_even_lag_is_not_hot() -> None:
    # round robin over 2 partitions, one message a second: message k sits unread on its partition
    # for the consumer's 0.5 s, so p0 and p1 each carry 1 message for 2 x 0.5 s: share 1.0 / 2.0
    _, figures = run(
        """
        src: {kind: source, interarrival: 1s, limit: 4}
        topic: {kind: kafka_topic, partitions: 2, partitioner: round_robin, batch_size: 1, linger: 0s,
                partition_write_rate: 1000/s, consumer_defaults: {processing_time: 0.5s}}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> done]",
    )
    assert figures["lag_max_messages.done"] == 1
    assert figures["hot_partition_lag_share.done"] == pytest.approx(0.5)  # the peak alone read 1.0


def test_hot_partition_lag_share_of_a_group_that_never_lagged_is_no_data() -> None:
    # the broker writes and the consumer reads each message at once (0 s processing): the group's
    # time-weighted lag is 0, so no partition is the hot one (was 0.0, which an SLO
    # "hot_partition_lag_share < 0.5" read as a pass)
    _, figures = run(
        """
        src: {kind: source, interarrival: 1s, limit: 4}
        topic: {kind: kafka_topic, partitions: 2, batch_size: 1, linger: 0s, consumer_defaults: {processing_time: 0s}}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> done]",
    )
    assert figures["lag_mean_messages.done"] == 0  # each message is read the instant it is written
    assert np.isnan(figures["hot_partition_lag_share.done"])


def test_blocked_consumers_count_once_in_blocked_time_and_as_busy() -> None:
    # the job takes message 1 (p0, at 1.001) and works on it for 100 s with room for nothing else:
    # consumer 1 is refused message 2 at 2.001, consumer 0 message 3 at 3.001, both until the end
    _, figures = run(
        """
        src: {kind: source, interarrival: 1s, limit: 4}
        topic: {kind: kafka_topic, partitions: 2, partitioner: round_robin, batch_size: 1, linger: 0s,
                partition_write_rate: 1000/s, consumer_defaults: {consumers: 2}}
        job: {kind: stream_processor, parallelism: 1, per_event_cost: 100s, capacity: 1}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> job, job -> done]",
        duration="10s",
    )
    # the topic is blocked from 2.001 to 10 (not 7.999 + 6.999 = 14.998, more than the window)
    assert figures["blocked_time_s"] == pytest.approx(7.999)
    # a blocked consumer holds its records: busy (6.999 + 7.999) / (2 consumers x 10 s)
    assert figures["consumer_utilization.job"] == pytest.approx((6.999 + 7.999) / 20)


def test_the_throughput_headline_counts_each_message_once_across_consumer_groups() -> None:
    # 4 messages, two groups each delivering all 4: 8 deliveries, 4 messages in 12 s
    scenario = flowsim.load_scenario(
        scenario_yaml(
            f"""
            src: {{kind: source, interarrival: 1s, limit: 4}}
            {topic("batch_size: 1, linger: 0s")}
            a: {{kind: sink}}
            b: {{kind: sink}}
            """,
            "[src -> topic, topic -> a, topic -> b]",
            "12s",
        )
    )
    result = flowsim.simulate(scenario)
    assert result.totals.delivered == 8
    figures = {h.label: h for h in headline(result, scenario.arch)}
    assert figures["Input rate"].value == pytest.approx(4 / 12)  # what the source produced, once


def test_retention_per_batch_is_said_as_a_note_with_the_switch_to_kafka_segments() -> None:
    # retention 30 s in a 10 min run, no `log:`: each batch goes once 30 s old; Kafka would keep
    # them in the open 1 GiB / 7-day segment.  A note (validate --strict passes), not a warning
    base = """
        name: r
        architecture:
          name: r
          nodes:
            src: {kind: source, rate: 10/s}
            topic: {kind: kafka_topic, partitions: 1, retention: 30s%s}
            done: {kind: sink}
          edges: [src -> topic, topic -> done]
        duration: 10min
        """
    view = flowsim.analyze_scenario(flowsim.load_scenario(textwrap.dedent(base % "")))
    assert [n for n in view.notes if "deletes each batch" in n] == [
        "'topic' deletes each batch once it is older than its 30s retention (no 'log:'); Kafka deletes only "
        "closed segments (segment.ms 7 days, segment.bytes 1 GiB by default), so it keeps data longer: add "
        "'log: {}' for Kafka's segments"
    ]
    assert not view.warnings
    segments = flowsim.analyze_scenario(flowsim.load_scenario(textwrap.dedent(base % ", log: {}")))
    assert not [n for n in segments.notes if "deletes each batch" in n]
