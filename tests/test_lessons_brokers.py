"""The broker and log scenarios teach what their descriptions say: asserted from simulated figures."""

from __future__ import annotations

import pytest

from helpers import run_shipped

pytestmark = pytest.mark.slow  # each test runs whole shipped scenarios


run = run_shipped


def topic(name: str) -> dict[str, float]:
    return run(name).nodes["events_topic"].kind_figures


def test_with_rf3_a_broker_loss_is_an_election_pause_with_rf1_an_outage_and_a_loss() -> None:
    rf3, rf1 = topic("broker-loss-rf3"), topic("broker-loss-rf1")
    # 6 brokers, 12 partitions: broker 0 leads partitions 0 and 6 and follows 4, 5, 10 and 11
    assert rf3["partition_offline_s"] == pytest.approx(2 * 9)  # two partitions, fenced after 9 s
    assert rf3["isr_stalled_s"] == pytest.approx(4 * 9)  # four partitions' commits wait as long
    assert rf1["partition_offline_s"] == pytest.approx(2 * 180)  # offline for the whole 3 min outage
    assert run("broker-loss-rf3").totals.lost == 0 and run("broker-loss-rf3").passed()
    # the scenario's fault names broker 0 of the topic: the topic itself is never down
    assert run("broker-loss-rf3").nodes["events_topic"].downtime_s == 0
    # the producer holds the six partitions' writes: 2,000/s x 6/12 x 9 s = 9,000 (RF 3)
    assert rf3["buffer_max_messages"] == pytest.approx(2000 * 6 / 12 * 9, rel=0.1)
    # RF 1: batches older than delivery.timeout.ms (120 s) expire: the outage's first 60 s
    assert rf1["lost_to_expiry"] == pytest.approx(2000 * 2 / 12 * 60, rel=0.05)
    assert run("broker-loss-rf1").totals.lost == rf1["lost_to_expiry"] and not run("broker-loss-rf1").passed()
    assert run("broker-loss-rf1").totals.unaccounted == 0


def test_compaction_levels_the_log_off_near_the_key_count() -> None:
    result = run("log-compaction")
    figures = topic("log-compaction")
    series = result.series
    size = series[series.node == "events_topic"].set_index("time_s")["log_messages"]
    late = size[size.index > 300]  # every key has appeared by 50,000 / 200 per s = 250 s
    assert late.min() >= 50_000  # one record per key at least
    assert late.max() <= (50_000 + 2000 * 60 + 2000 * 30) * 1.05  # keys + active + awaiting a check
    assert figures["produced"] == pytest.approx(2000 * 420, rel=0.02)  # what the delete policy would hold
    assert figures["log_messages_end"] < 0.3 * figures["produced"]
