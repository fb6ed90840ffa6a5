"""The streaming scenarios teach what their descriptions say: asserted from the simulated figures."""

from __future__ import annotations

import pytest

from helpers import run_shipped

pytestmark = pytest.mark.slow  # each test runs whole shipped scenarios


run = run_shipped


def topic(name: str) -> dict[str, float]:
    return run(name).nodes["events_topic"].kind_figures


def test_baseline_matches_the_back_of_the_envelope() -> None:
    result = run("kafka-baseline")
    assert result.passed()
    job, figures = result.nodes["enrich"], topic("kafka-baseline")
    assert job.utilization == pytest.approx(2000 * 0.0015 / 4, abs=0.02)  # rho = 0.75
    assert figures["write_utilization"] == pytest.approx(2000 / (12 * 10000), rel=0.05)
    assert result.end_to_end["serving"].throughput_per_s == pytest.approx(2000, rel=0.02)
    assert figures["lag_mean_messages.enrich"] < 10 and figures["lag_max_seconds.enrich"] < 1
    latency = result.end_to_end["serving"].latency_s
    assert latency is not None and 0.02 < latency.mean < 0.1  # linger 20 ms + processing a poll


def test_peak_saturates_the_job_not_the_topic_and_lag_grows() -> None:
    result = run("kafka-peak-3x")
    job, figures = result.nodes["enrich"], topic("kafka-peak-3x")
    assert job.utilization is not None and job.utilization > 0.99
    assert figures["write_utilization"] < 0.1
    growth = figures["backlog_at_end.enrich"] - figures["backlog_at_start.enrich"]
    assert growth == pytest.approx((6000 - 4 / 0.0015) * 150, rel=0.05)  # 3,333 messages/s for 150 s
    assert not result.passed()


def test_broker_outage_builds_lag_then_drains_and_loses_nothing() -> None:
    result = run("broker-outage")
    figures = topic("broker-outage")
    assert result.totals.dropped == 0 and figures["lost_to_retention"] == 0
    assert figures["buffer_max_messages"] == pytest.approx(2000 * 120, rel=0.05)
    assert figures["lag_max_messages.enrich"] > 200_000
    series = result.series
    lag = series[series.node == "events_topic"].set_index("time_s")["lag_messages.enrich"]
    drained = lag[lag.index > 240][lag[lag.index > 240] < 1000].index.min()
    assert 240 + 240 / (8 / 3 - 2) * 0.8 < drained < 240 + 240 / (8 / 3 - 2) * 1.2  # ~6 min at 667/s spare
    assert lag[lag.index > drained + 30].max() < 1000


def test_slow_group_loses_data_to_retention_the_fast_group_none() -> None:
    figures = topic("slow-consumer-retention")
    assert figures["lost_to_retention.replay_job"] > 150_000  # ~1,000/s once lag reaches 2 min
    assert figures["lost_to_retention.enrich"] == 0
    assert figures["lag_max_seconds.replay_job"] == pytest.approx(120, abs=30)  # capped near retention


def test_hot_partition_dominates_the_lag_though_capacity_suffices() -> None:
    figures = topic("hot-partition")
    assert figures["hot_partition_share"] == pytest.approx(0.5, abs=0.02)
    assert figures["consumer_utilization.enrich"] < 0.3  # 12 consumers, plenty in total
    assert figures["hot_partition_lag_share.enrich"] > 0.95
    assert figures["lag_max_messages.enrich"] == pytest.approx((1000 - 1 / 0.0015) * 240, rel=0.1)


def test_crash_duplicates_with_at_least_once_and_delays_with_exactly_once() -> None:
    alo, eo = run("crash-at-least-once").nodes["enrich"], run("crash-exactly-once").nodes["enrich"]
    since_checkpoint = 2000 * (190 - 180)
    assert alo.kind_figures["duplicates"] == pytest.approx(since_checkpoint, rel=0.05)
    assert eo.kind_figures["duplicates"] == 0
    assert eo.kind_figures["reprocessed"] == pytest.approx(since_checkpoint, rel=0.05)
    assert eo.kind_figures["output_latency_added_mean_s"] == pytest.approx(15, abs=1.5)
    assert alo.kind_figures["output_latency_added_mean_s"] == 0
    alo_latency = run("crash-at-least-once").end_to_end["serving"].latency_s
    eo_latency = run("crash-exactly-once").end_to_end["serving"].latency_s
    assert alo_latency is not None and eo_latency is not None and eo_latency.mean > alo_latency.mean + 10


def test_a_crashed_job_reads_again_from_its_checkpoint_so_the_lag_counts_those_records_twice() -> None:
    # the checkpoint at 180 s, the crash at 190 s for 30 s, 2,000 events/s: the group goes back
    # ~2,000 x 10 = 20,000 records and reads nothing for 30 s, so the lag reaches ~20,000 + 60,000
    figures = topic("crash-at-least-once")
    since_checkpoint = 2000 * (190 - 180)
    assert figures["reread.enrich"] == pytest.approx(since_checkpoint, rel=0.05)
    assert figures["lag_max_messages.enrich"] == pytest.approx(figures["reread.enrich"] + 2000 * 30, rel=0.02)
    # the oldest unread was born near the checkpoint: ~10 s before the crash + 30 s down
    assert figures["lag_max_seconds.enrich"] == pytest.approx(10 + 30, abs=2.5)
    assert run("crash-at-least-once").totals.lost == 0  # a week's retention keeps them all


def test_replay_catches_up_on_spare_capacity_without_touching_the_live_job() -> None:
    result = run("kappa-reprocessing")
    figures = topic("kappa-reprocessing")
    # 12 minutes of retained log at 2,000/s are behind when the replay starts
    assert figures["lag_max_messages.replay_job"] == pytest.approx(12 * 60 * 2000, rel=0.01)
    series = result.series
    lag = series[series.node == "events_topic"].set_index("time_s")["lag_messages.replay_job"]
    caught_up = lag[(lag.index > 720) & (lag == 0)].index.min()
    # drains at 4,000/s of capacity minus 2,000/s arriving: about 12 more minutes
    assert caught_up - 720 == pytest.approx(12 * 60, rel=0.15)
    assert figures["lag_max_messages.enrich"] < 1000
    live = result.end_to_end["serving"].latency_s
    assert live is not None and live.p99 < 0.2
