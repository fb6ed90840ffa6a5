"""Back-of-envelope figures for consumer groups (analysis.streaming) beside the simulated ones.

Lag grows at in - out for an overloaded group; after an outage of D seconds the backlog in x D
drains at the spare capacity out - in, in D x in / (out - in) seconds.
"""

from __future__ import annotations

import pytest

import flowsim
from flowsim.reports.streaming import streaming_rows
from helpers import scenario_yaml


def scenario(rate: str, fields: str = "", extra: str = "", duration: str = "60s") -> flowsim.Scenario:
    # two consumers at 1 ms a message each: the group reads 2 x 1,000 = 2,000 messages/s
    return flowsim.load_scenario(
        scenario_yaml(
            f"""
            src: {{kind: source, interarrival: {rate}}}
            topic: {{kind: kafka_topic, partitions: 4, batch_size: 10, linger: 1ms,
                     consumer_defaults: {{consumers: 2, processing_time: 1ms}}, {fields}}}
            done: {{kind: sink}}
            """,
            "[src -> topic, topic -> done]",
            duration,
            extra,
        )
    )


@pytest.mark.slow  # 50,000 messages
def test_an_overloaded_group_lag_grows_at_in_minus_out() -> None:
    result = flowsim.simulate(scenario("0.4ms", duration="20s"))  # 2,500 messages/s in, 2,000/s out
    (estimate,) = result.analysis.streaming
    assert estimate.out_per_s == pytest.approx(2000) and estimate.limited_by == "consumers"
    assert estimate.lag_growth_per_s == pytest.approx(500)  # 2,500 - 2,000
    assert estimate.drain_s_per_outage_s is None  # it never drains
    figures = result.nodes["topic"].kind_figures
    simulated = (figures["backlog_at_end.done"] - figures["backlog_at_start.done"]) / result.window_s
    assert simulated == pytest.approx(500, rel=0.02)
    assert streaming_rows(result)[0]["lag growth, estimate"] == "500/s"


@pytest.mark.slow  # 55,000 messages
def test_the_drain_after_an_outage_takes_backlog_over_spare_capacity() -> None:
    # 1,000/s in, 2,000/s out, the topic down 20 s: 20,000 buffered, drained at 1,000/s spare
    # in 20 x 1,000 / (2,000 - 1,000) = 20 s
    result = flowsim.simulate(scenario("1ms", extra="faults:\n  - {node: topic, at: 10s, for: 20s}\n", duration="55s"))
    (estimate,) = result.analysis.streaming
    assert estimate.outage_s == 20 and estimate.drain_after_outage_s == pytest.approx(20.0)
    series = result.series
    lag = series[series.node == "topic"].set_index("time_s")["lag_messages.done"]
    # the buffered 1,000/s x 20 s lands from 30 s on, written in 20,000 / (4 x 10,000/s) = 0.5 s
    # while 2,000/s are read: the peak lag lies between 20,000 - 2,000 x 0.5 and 20,000
    assert 19_000 <= result.nodes["topic"].kind_figures["lag_max_messages.done"] <= 20_000
    drained = lag[(lag.index > 30) & (lag < 200)].index.min()
    assert drained - 30 == pytest.approx(20.0, abs=1.5)  # the sampling step is 0.3 s
    row = streaming_rows(result)[0]
    assert row["drain after outage, estimate"] == "20s"


def test_after_a_job_crash_the_backlog_counts_the_input_since_its_checkpoint_again() -> None:
    # 100 events/s into a one-task job (0.1 ms an event: 10,000/s) that checkpoints every 4 s and
    # crashes at 10.005 s for 10 s: 10.005 mod 4 = 2.005 s since its checkpoint, read again, so the
    # backlog is 100 x (10 + 2.005) = 1,200.5 and drains in 1,200.5 / (10,000 - 100) = 0.121 s
    text = scenario_yaml(
        """
        src: {kind: source, interarrival: 10ms, limit: 2500}
        topic: {kind: kafka_topic, partitions: 1, batch_size: 1, linger: 0s, partition_write_rate: 1000000/s}
        job: {kind: stream_processor, parallelism: 1, per_event_cost: 0.1ms, checkpoint_interval: 4s}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> job, job -> done]",
        "30s",
        "faults: [{node: job, at: 10.005s, for: 10s}]\n",
    )
    result = flowsim.simulate(flowsim.load_scenario(text))
    (estimate,) = result.analysis.streaming
    assert estimate.outage_s == 10 and estimate.reread_s == pytest.approx(2.005)
    assert estimate.out_per_s == pytest.approx(10_000) and estimate.limited_by == "'job'"
    assert estimate.drain_after_outage_s == pytest.approx(100 * 12.005 / (10_000 - 100))
    # the simulated backlog at the restart: 201 re-read + 1,000 unread (test_stream_rewind)
    backlog = estimate.in_per_s * (estimate.outage_s + estimate.reread_s)
    assert result.nodes["topic"].kind_figures["lag_max_messages.job"] == pytest.approx(backlog, abs=1)


def test_a_micro_batch_job_reads_again_since_its_last_batch() -> None:
    from flowsim.api import rereads

    # offsets commit with each batch: a crash at 6.5 s with 2 s triggers re-reads 6.5 mod 2 = 0.5 s;
    # only the longest outage counts (the 3 s one at 6.5 s, not the 1 s one at 21 s)
    text = scenario_yaml(
        """
        src: {kind: source, interarrival: 10ms}
        topic: {kind: kafka_topic, partitions: 1}
        job: {kind: stream_processor, mode: micro_batch, batch_interval: 2s, checkpoint_interval: 7s}
        done: {kind: sink}
        """,
        "[src -> topic, topic -> job, job -> done]",
        "30s",
        "faults: [{node: job, at: 6.5s, for: 3s}, {node: job, at: 21s, for: 1s}]\n",
    )
    assert rereads(flowsim.load_scenario(text)) == {"job": pytest.approx(0.5)}


def test_the_group_reads_what_the_partitions_can_write_not_what_is_offered() -> None:
    # 5,000/s offered to 4 partitions written at 1,000/s each: 4 x 1,000 = 4,000/s reach the log
    # (the rest waits in the producer buffer), so the group's "in" is 4,000/s, and 4,000/s against
    # the group's 2,000/s makes its lag grow by 2,000/s, not 3,000/s
    view = flowsim.analyze_scenario(scenario("0.2ms", fields="partition_write_rate: 1000/s"))
    (estimate,) = view.streaming
    assert estimate.in_per_s == pytest.approx(4000) and estimate.out_per_s == pytest.approx(2000)
    assert estimate.lag_growth_per_s == pytest.approx(2000)
    # a skewed partitioner: the hot partition takes half the flow, so writes top out at
    # 1,000 / 0.5 = 2,000/s, under the offered 5,000/s
    skewed = flowsim.analyze_scenario(
        scenario("0.2ms", fields="partition_write_rate: 1000/s, partitioner: skewed, hot_share: 0.5")
    )
    assert skewed.streaming[0].in_per_s == pytest.approx(2000)
