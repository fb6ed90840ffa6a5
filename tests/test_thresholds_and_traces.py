"""Values a new user wrote that read as something else: SLO thresholds in the metric's own unit,
and trace rows too large to simulate (each was accepted, or refused with the wrong reason)."""

from __future__ import annotations

import pytest

import flowsim
from flowsim.errors import SpecError
from flowsim.spec.scenario import read_threshold
from flowsim.traffic.traces import TraceError, parse_trace

SCENARIO = """\
name: s
duration: 1000s
seed: 3
architecture:
  name: a
  nodes:
    src: {kind: source, rate: 2/s}
    api: {kind: service, servers: 4, service_time: {dist: exponential, rate: 30/min}}
    done: {kind: sink}
  edges: [src -> api, api -> done]
slos:
  - end_to_end.done.throughput_per_s > 90/min
  - end_to_end.done.throughput_per_s < 3/s
"""


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("0.5", 0.5, "number"),
        ("5%", 0.05, "share"),  # a share is a fraction: 5 / 100
        ("250ms", 0.25, "duration"),
        ("2h30m", 9000.0, "duration"),  # 2 x 3600 + 30 x 60
        ("90/min", 1.5, "rate"),  # 90 / 60 s
        ("3 per h", 3 / 3600, "rate"),
    ],
)
def test_a_threshold_is_read_with_its_unit(text: str, value: float, unit: str) -> None:
    read, written = read_threshold(text)
    assert read == pytest.approx(value) and written == unit


def test_rate_thresholds_are_judged_per_second() -> None:
    # 1.6/s offered to 4 servers of mean 2 s (rate 30/min = 0.5/s each): rho = 1.6 / (4 x 0.5) = 0.8,
    # so the throughput is ~1.6/s, between 90/min = 1.5/s and 3/s.
    scenario = flowsim.load_scenario(SCENARIO.replace("rate: 2/s", "rate: 1.6/s"))
    result = flowsim.simulate(scenario)
    throughput = result.end_to_end["done"].throughput_per_s
    assert 1.5 < throughput < 3.0, throughput
    assert [v.passed for v in result.slos] == [True, True]
    assert [s.value for s in scenario.slos] == [pytest.approx(1.5), 3.0]


def test_an_exponential_rate_takes_units() -> None:
    api = flowsim.load_scenario(SCENARIO).arch.nodes["api"]
    assert api.service_time.mean() == pytest.approx(2.0)  # type: ignore[attr-defined]  # 1 / (30/min)


def test_a_percentile_slo_on_a_rate_threshold_is_refused_where_it_is_written() -> None:
    bad = SCENARIO.replace("throughput_per_s > 90/min", "latency_s.p99 < 90/min")
    with pytest.raises(SpecError) as caught:
        flowsim.load_scenario(bad)
    problem = caught.value.problems[0]  # `slos:` is line 11, its first item line 12
    assert problem.line == 12 and "written as a rate" in problem.message and "duration" in problem.hint


def test_a_trace_rate_beyond_range_is_refused_at_its_row() -> None:
    with pytest.raises(TraceError, match=r"clicks.csv, line 3: the rate 1e308 is out of range"):
        parse_trace("time_s,rate_per_s\n0,5\n60,1e308\n", "clicks.csv")


def test_a_count_trace_that_implies_a_huge_rate_is_refused() -> None:
    # 1e9 arrivals in the 1e-7 s to the next row: 1e16/s, above the 1e15/s any rate may be
    with pytest.raises(TraceError, match=r"row 1 gives 1e\+16 arrivals/s"):
        parse_trace("time_s,count\n0,1e9\n1e-7,1\n", "burst.csv")


@pytest.mark.parametrize(
    "slo",
    ["totals.dropped < 5%", "nodes.api.dropped < 1%", "end_to_end.done.count > 50%"],
)
def test_a_percentage_on_a_count_is_refused(slo: str) -> None:
    # 5% reads as 0.05: against 58 dropped messages that SLO compared a count with a share
    bad = SCENARIO.replace("  - end_to_end.done.throughput_per_s < 3/s", f"  - {slo}")
    with pytest.raises(SpecError) as caught:
        flowsim.load_scenario(bad)
    problem = caught.value.problems[0]
    assert problem.line == 13 and "is a count, not a share" in problem.message
    assert "write a count" in problem.hint


def test_a_loss_budget_is_a_share_of_the_messages_in_play() -> None:
    # 2 messages/s into one server of mean 0.25 s with room for 1 (M/M/1/1): Erlang's loss formula
    # B = a / (1 + a) with a = 2 x 0.25 = 0.5 gives 1/3 dropped; the budget SLO takes a share
    text = SCENARIO.replace("servers: 4, service_time: {dist: exponential, rate: 30/min}",
                            "servers: 1, capacity: 1, service_time: {dist: exponential, mean: 250ms}")  # fmt: skip
    text = text.replace("  - end_to_end.done.throughput_per_s < 3/s", "  - totals.loss_share < 30%")
    scenario = flowsim.load_scenario(text.replace("duration: 1000s", "duration: 20000s"))
    result = flowsim.simulate(scenario)
    totals = result.totals
    assert totals.loss_share == pytest.approx(totals.dropped / (totals.arrivals + totals.inside_at_start))
    assert totals.loss_share == pytest.approx(1 / 3, abs=0.01)  # 40,000 arrivals: sd of the share ~0.003
    assert not result.slos[1].passed and result.slos[1].value == pytest.approx(totals.loss_share)


TOPIC = """\
name: t
duration: 60s
seed: 1
architecture:
  name: a
  nodes:
    src: {kind: source, rate: 100/s}
    topic: {kind: kafka_topic, partitions: 2, consumer_groups: {slow: {processing_time: 5ms}}}
    slow: {kind: sink}
  edges: [src -> topic, topic -> slow]
slos:
  - SLO
"""


@pytest.mark.parametrize(
    "slo",
    [
        "nodes.topic.kind_figures.lag_max_seconds.slow < 30s",  # a kind figure in s, named by its group
        "nodes.topic.kind_figures.lag_mean_seconds.slow < 500ms",
        "end_to_end.slow.latency_s.count > 100",  # a statistic's count is a count, not a time
        "nodes.topic.kind_figures.consumer_utilization.slow < 90%",
    ],
)
def test_a_threshold_in_the_figures_declared_unit_is_read(slo: str) -> None:
    scenario = flowsim.load_scenario(TOPIC.replace("SLO", slo))
    assert scenario.slos[0].metric == slo.split()[0]


@pytest.mark.parametrize(
    ("slo", "words"),
    [
        ("end_to_end.slow.latency_s.count < 5s", "is a count or a ratio, but its threshold is written as a duration"),
        ("nodes.topic.kind_figures.lag_max_seconds.slow < 50%", "is a time in seconds"),
        ("totals.dropped < 0", "is never below 0, so this SLO would always fail"),
        ("totals.dropped >= 0", "is never below 0, so this SLO would always pass"),
        ("end_to_end.slow.latency_s.p99 < 0s", "would always fail"),
        ("totals.loss_share > 1", "is never above 1, so this SLO would always fail"),
        ("nodes.topic.kind_figures.consumer_utilization.slow <= 1", "would always pass"),
    ],
)
def test_a_threshold_that_decides_nothing_is_refused(slo: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        flowsim.load_scenario(TOPIC.replace("SLO", slo))
    assert words in caught.value.problems[0].message and caught.value.problems[0].line == 12
