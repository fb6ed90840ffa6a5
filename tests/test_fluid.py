"""The fluid engine: engine selection, refusals, the counting identity, and agreement with the
per-message engine on small scenarios (the full accuracy table is bench/fluid_accuracy.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import flowsim
from flowsim.errors import FlowsimError, SimulationTooLarge
from flowsim.fluid import choose_step, fluid_problems
from flowsim.reports.tables import header

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED = ["baseline", "kafka-baseline", "broker-outage", "checkout-baseline", "lambda-baseline",
             "warehouse-contention"]  # fmt: skip


def load(name: str, **overrides: object) -> flowsim.Scenario:
    return flowsim.load_scenario(ROOT / "scenarios" / f"{name}.yaml", overrides=overrides or None)


def test_fluid_result_names_its_engine_and_step() -> None:
    result = flowsim.simulate(load("baseline"), engine="fluid")
    assert result.engine == "fluid"
    assert result.fluid_step_s == pytest.approx(choose_step(load("baseline"))[0])
    assert "fluid engine, step" in header(result).plain


def test_fluid_series_open_at_the_warm_up_like_the_per_message_ones() -> None:
    # baseline: warm-up 1000 s, a 0.9/s source; the first row is the window's opening (nothing
    # counted yet), not the 900 messages of the warm-up, which made the next row's rate -19.1/s
    series = {engine: flowsim.simulate(load("baseline"), engine=engine).series for engine in ("fluid", "per_message")}
    assert list(series["fluid"].columns) == list(series["per_message"].columns)
    fluid = series["fluid"][series["fluid"].node == "arrivals"]
    assert fluid.time_s.iloc[0] == 1000.0 and fluid.completed.iloc[0] == 0.0
    assert fluid.throughput_per_s.dropna().min() >= 0
    assert fluid.offered_per_s.to_numpy() == pytest.approx(0.9)


def test_auto_runs_per_message_when_small_and_fluid_when_large() -> None:
    assert flowsim.simulate(load("baseline")).engine == "per_message"
    assert flowsim.simulate(load("baseline"), max_events=1000).engine == "fluid"


def test_an_slo_on_a_count_compares_the_expected_count_as_whole_messages() -> None:
    # baseline's api is M/M/2/20 at a = 0.9: P(20 inside) = 8.80e-8, x 0.9/s x 9,000 s = an expected
    # 0.000712 drops, below half a message: '== 0' holds, and the verdict says how it compared
    result = flowsim.simulate(load("baseline"), engine="fluid")
    verdict = next(v for v in result.slos if v.metric == "totals.dropped")
    assert verdict.value == pytest.approx(0.000712, rel=0.02) and verdict.passed
    assert verdict.note.startswith("fluid: an expected") and "compared as 0 whole messages" in verdict.note
    strict = load("baseline", **{"slos": ["totals.dropped < 0.0001"]})
    assert flowsim.simulate(strict, engine="fluid").slos[0].passed  # 0 whole messages < 0.0001
    per_message = flowsim.simulate(load("baseline"))
    assert all(v.note == "" for v in per_message.slos)  # whole counts already: nothing rounded


def test_an_slo_on_a_figure_the_chosen_engine_does_not_compute_is_refused() -> None:
    arch = {"name": "a", "nodes": {"src": {"kind": "source", "rate": "100/s"},
            "events": {"kind": "kafka_topic", "partitions": 4, "consumer_defaults": {"processing_time": "5ms"}},
            "done": {"kind": "sink"}}, "edges": ["src -> events", "events -> done"]}  # fmt: skip
    text = yaml.safe_dump({"name": "hot", "architecture": arch, "duration": "100s",
                           "slos": ["nodes.events.kind_figures.hot_partition_lag_share.done < 0.5"]})  # fmt: skip
    scenario = flowsim.load_scenario(text)
    assert flowsim.simulate(scenario).slos[0].value is not None  # per-message: it is measured (a lag to share)
    with pytest.raises(FlowsimError, match=r"slos\[0\]: the fluid engine does not compute 'hot_partition_lag_share'"):
        flowsim.simulate(scenario, engine="fluid")  # not a run that ends in 'no data' (exit 1)


def test_ml_kinds_are_refused_before_running() -> None:
    scenario = load("ml-baseline")
    assert fluid_problems(scenario)
    with pytest.raises(FlowsimError, match=r"node '\w+' \(kind '\w+'\)"):
        flowsim.simulate(scenario, engine="fluid")
    with pytest.raises(SimulationTooLarge, match="fluid engine"):
        flowsim.simulate(scenario, max_events=10)


@pytest.mark.parametrize(
    ("name", "overrides", "reason"),
    [
        ("slow-consumer-retention", {"nodes.events_topic.retention_bytes": "1GB"}, "retention_bytes"),
        ("lambda-baseline", {"nodes.batch_etl.tasks.extract.execution_timeout": "10m"}, "execution_timeout"),
        ("lambda-baseline", {"nodes.batch_etl.max_active_tasks": 1}, "slots"),
        ("checkout-outage", {"nodes.payments.interrupted": "fail"}, "interrupted: fail"),
        ("crash-exactly-once", {"nodes.enrich.guarantee": "at_least_once"}, "duplicates"),
    ],
)
def test_settings_the_flows_do_not_carry_are_refused(name: str, overrides: dict[str, object], reason: str) -> None:
    # Each runs per-message as before (with `auto` it stays per-message, as for the ML kinds); on
    # the fluid engine it is refused by name instead of being run with the setting silently
    # ignored (a DAG run as its critical path has no slot waits).
    scenario = load(name, **overrides)
    assert not fluid_problems(load(name))
    assert any(reason in problem for problem in fluid_problems(scenario))
    with pytest.raises(FlowsimError, match=reason):
        flowsim.simulate(scenario, engine="fluid")


def test_default_step_is_bounded_by_the_window() -> None:
    step, reason = choose_step(load("broker-outage"))
    window = load("broker-outage").window
    assert window / 20_000 - 1e-12 <= step <= window / 2000 + 1e-12
    assert reason


# seconds each: the full run only
HEAVY = {"checkout-baseline", "lambda-baseline", "kafka-baseline", "broker-outage", "warehouse-contention"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in SUPPORTED])
def test_every_message_is_accounted_for_by_the_fluid_engine(name: str) -> None:
    result = flowsim.simulate(load(name), engine="fluid")
    for node_name, n in result.nodes.items():
        came = n.arrivals + n.created + n.inside_at_start
        went = n.completed + n.dropped + n.dead_lettered + n.lost + n.inside_at_end
        assert came == pytest.approx(went, rel=1e-6, abs=1e-3), node_name
    assert result.totals.unaccounted == pytest.approx(0.0, abs=1e-6 * max(result.totals.arrivals, 1.0))


@pytest.mark.slow
def test_same_seed_same_numbers() -> None:
    scenario = load("broker-outage")
    a = flowsim.simulate(scenario, engine="fluid").model_dump_json()
    assert a == flowsim.simulate(scenario, engine="fluid").model_dump_json()


@pytest.mark.slow
def test_blocking_source_emits_less_and_records_blocked_time() -> None:
    scenario = load(
        "kafka-baseline",
        **{"nodes.events_topic.partition_write_rate": "100/s", "nodes.events_topic.buffer_messages": 1000},
    )
    result = flowsim.simulate(scenario, engine="fluid")
    events = result.nodes["events"]
    # The full buffer holds N = 1000 / 10 = 100 client batches spread at random over c = 12
    # partitions, some empty: a closed network of 12 equal stations writes c mu N / (N + c - 1)
    # = 1200 x 100/111 = 1081/s, not 1200/s (the per-message engine: 1100 +- 21 over 3 runs).
    assert events.throughput_per_s == pytest.approx(1200 * 100 / 111, rel=0.02)
    # blocked while it wants 2000/s and sends 1081/s: 300 s x (1 - 1081/2000) = 137.8 s (per-message 135 +- 4)
    assert events.blocked_time_s == pytest.approx(300 * (1 - 1200 * 100 / 111 / 2000), rel=0.02)
    assert result.totals.dropped == 0


@pytest.mark.slow
def test_broker_outage_agrees_with_the_per_message_engine() -> None:
    scenario = load("broker-outage")
    fluid = flowsim.simulate(scenario, engine="fluid")
    exact = flowsim.simulate(scenario, engine="per_message", replications=2)
    assert fluid.metric("nodes.serving.throughput_per_s") == pytest.approx(
        exact.metric("nodes.serving.throughput_per_s"), rel=0.02
    )
    # mean lag: fluid is 3.6% below two replications' mean (their CI is about +-20%): target 2%, not met yet
    lag = "nodes.events_topic.kind_figures.lag_mean_messages.enrich"
    assert fluid.metric(lag) == pytest.approx(exact.metric(lag), rel=0.05)
    lag_max = "nodes.events_topic.kind_figures.lag_max_messages.enrich"
    assert fluid.metric(lag_max) == pytest.approx(exact.metric(lag_max), rel=0.10)
    # each message's own latency (before, one sample per poll, stamped with its oldest: 110 s). By
    # hand: the lag age peaks at the 120 s outage, then falls by 1 - 2,000 / 2,667 = 0.25 s per
    # second of drain; ages above 118.7 s last 1.3 / 0.25 = 5.2 s x 2,667/s = 13.9k messages,
    # about 1% of the 1.2M in the window: p99 near 118.7 s
    assert exact.metric("end_to_end.serving.latency_s.p99") == pytest.approx(118.7, rel=0.02)


@pytest.mark.slow
def test_broker_outage_latency_agrees_with_the_per_message_engine() -> None:
    """Each message's own latency: the fluid topic hands a poll on record by record, as the kernel
    does, so a drain's large polls weigh by their messages (per poll, the fluid mean was 5.3 s
    where the per-message one is 48.9 s, and its p99 103 s against 118.7 s)."""
    scenario = load("broker-outage")
    fluid = flowsim.simulate(scenario, engine="fluid")
    exact = flowsim.simulate(scenario, engine="per_message", replications=2)
    p99, mean = "end_to_end.serving.latency_s.p99", "end_to_end.serving.latency_s.mean"
    assert fluid.metric(p99) == pytest.approx(exact.metric(p99), rel=0.02)  # measured: -0.3%
    assert fluid.metric(mean) == pytest.approx(exact.metric(mean), rel=0.06)  # measured: -3.6%


# ---- accuracy against theory, on small cases --------------------------------------------------
def tiny(
    nodes: dict[str, Any], edges: list[str], duration: float, warmup: float = 0.0, seed: int = 1
) -> flowsim.Scenario:
    doc = {"name": "fluid-theory", "architecture": {"name": "fluid-theory", "nodes": nodes, "edges": edges},
           "duration": duration, "warmup": warmup, "seed": seed}  # fmt: skip
    return flowsim.load_scenario(yaml.safe_dump(doc, sort_keys=False))


def mm1(lam: float, mu: float, **queue: Any) -> flowsim.Scenario:
    nodes = {
        "src": {"kind": "source", "rate": lam},
        "q": {"kind": "service", "servers": 1, "service_time": {"dist": "exponential", "mean": 1 / mu}, **queue},
        "done": {"kind": "sink"},
    }
    return tiny(nodes, ["src -> q", "q -> done"], duration=600.0, warmup=60.0)


def test_mm1_latency_percentiles_follow_the_sojourn_law() -> None:
    # M/M/1, lambda = 800/s, mu = 1000/s: the sojourn is Exp(mu - lambda) = Exp(200/s), so
    # mean = 1/200 = 5 ms and p99 = ln(100)/200 = 4.605/200 = 23.03 ms.  The fluid engine takes the
    # wait from Erlang C (P(wait) = rho = 0.8, then Exp(mu - lambda)) plus an Exp(mu) service draw;
    # 4,000 sampled routes give p99 to about +-3.4% (1 s.e.), the mean to +-1.6%.
    result = flowsim.simulate(mm1(800.0, 1000.0), engine="fluid")
    latency = result.end_to_end["done"].latency_s
    assert latency.p99 == pytest.approx(math.log(100) / 200.0, rel=0.10)
    assert latency.mean == pytest.approx(1 / 200.0, rel=0.05)
    # M/M/1 wait percentile: P(W > t) = rho e^{-(mu - lambda) t} = 0.01 -> t = ln(80)/200 = 21.9 ms
    assert result.nodes["q"].wait_s.p99 == pytest.approx(math.log(80) / 200.0, rel=0.10)


def test_mm1k_loses_its_blocking_probability_below_saturation() -> None:
    # M/M/1/K, rho = 900/1000 = 0.9, K = 5 in the node: P_K = (1 - rho) rho^K / (1 - rho^(K+1))
    # = 0.1 x 0.59049 / (1 - 0.531441) = 0.12602 of arrivals dropped, though 900/s < 1000/s.
    result = flowsim.simulate(mm1(900.0, 1000.0, capacity=5, on_full="drop"), engine="fluid")
    q = result.nodes["q"]
    p_k = 0.1 * 0.9**5 / (1 - 0.9**6)
    assert q.dropped / q.arrivals == pytest.approx(p_k, rel=0.02)
    # what gets in leaves: throughput = 900 x (1 - 0.12602) = 786.6/s
    assert q.throughput_per_s == pytest.approx(900 * (1 - p_k), rel=0.02)


def test_mmc_wait_tail_is_erlang_c() -> None:
    # M/M/4, lambda = 300/s, mean service 10 ms (a = 3 erlangs, rho = 0.75): Erlang C = 0.5094
    # (B(4,3) = 0.2061, C = 4B / (4 - 3(1 - B)) = 0.8245 / 1.6184); P(W > t) = C e^{-(c mu - lambda) t}
    # with c mu - lambda = 400 - 300 = 100/s, so p99 of the wait = ln(100 C)/100 = ln(50.94)/100 = 39.3 ms.
    nodes = {
        "src": {"kind": "source", "rate": 300.0},
        "q": {"kind": "service", "servers": 4, "service_time": {"dist": "exponential", "mean": 0.01}},
        "done": {"kind": "sink"},
    }
    result = flowsim.simulate(tiny(nodes, ["src -> q", "q -> done"], duration=600.0, warmup=60.0), engine="fluid")
    assert result.nodes["q"].wait_s.p99 == pytest.approx(math.log(50.94) / 100.0, rel=0.10)


def test_a_renewal_source_carries_its_own_gap_variability() -> None:
    # D/M/1, arrivals every 1.25 ms (800/s) into one Exp(1 ms) server: rho = 0.8.  The fluid wait is
    # Kingman's (ca2 + cs2)/2 x rho/(1 - rho) x s = (0 + 1)/2 x 4 x 1 ms = 2.0 ms, half the M/M/1
    # wait (4.0 ms) it gave when every source was taken as Poisson.  The exact D/M/1 wait is
    # sigma/(mu (1 - sigma)) with sigma = exp(-(1 - sigma)/rho) = 0.6286: 1.69 ms, so Kingman is 18% high
    # here; the assertion pins the approximation the engine documents, not the exact value.
    nodes = {
        "src": {"kind": "source", "interarrival": {"dist": "constant", "value": 0.00125}},
        "q": {"kind": "service", "servers": 1, "service_time": {"dist": "exponential", "mean": 0.001}},
        "done": {"kind": "sink"},
    }
    result = flowsim.simulate(tiny(nodes, ["src -> q", "q -> done"], duration=600.0, warmup=60.0), engine="fluid")
    assert result.nodes["q"].wait_s.mean == pytest.approx(0.002, rel=0.08)


def test_mmpp_source_follows_one_path_of_its_hidden_state() -> None:
    # An MMPP quiet at 50/s and bursting at 500/s, 30 s mean sojourns, for 10 minutes: the mean rate
    # is 275/s, but one run's arrivals depend on the time its path spends bursting (about 10 bursts:
    # the share varies by tens of % between runs).  Both engines draw the path from the same stream,
    # so the fluid arrivals match the per-message ones up to the Poisson noise (sqrt(1e5) = 0.3%).
    nodes = {
        "src": {"kind": "source", "mmpp": {"states": [{"rate": 50.0, "mean_sojourn": 30.0},
                                                      {"rate": 500.0, "mean_sojourn": 30.0}]}},
        "done": {"kind": "sink"},
    }  # fmt: skip
    scenario = tiny(nodes, ["src -> done"], duration=600.0, seed=3)
    fluid = flowsim.simulate(scenario, engine="fluid")
    exact = flowsim.simulate(scenario, engine="per_message")
    arrivals = exact.nodes["done"].arrivals
    assert fluid.nodes["done"].arrivals == pytest.approx(arrivals, rel=0.02)
    # the stationary mean (275/s x 600 s = 165,000) is far from what this path gave (seed 3: about
    # 105,000, mostly quiet), so following the mean rate instead would fail the 2% above
    assert abs(arrivals - 275.0 * 600) > 0.2 * 275.0 * 600


@pytest.mark.slow
def test_retention_and_exactly_once_commits_follow_the_flow_arithmetic() -> None:
    # slow-consumer-retention: 2,000/s written, the v2 job reads 1,000/s (2 tasks at 2 ms) from
    # t = 0, retention 2 min checked every 30 s, 8 min run.  The check at 450 s (the one at 480 s,
    # the end, does not happen) deletes what was written before 330 s, 660,000, less what the group
    # had read by then: 450 s x 1,000/s through the job plus its 10,000-message buffer, so
    # 660,000 - 460,000 = 200,000 lost (per-message: 202,000 +- 17,000 over 2 runs).
    result = flowsim.simulate(load("slow-consumer-retention"), engine="fluid")
    topic = result.nodes["events_topic"].kind_figures
    assert topic["lost_to_retention"] == pytest.approx(2000 * 330 - (1000 * 450 + 10_000), rel=0.02)
    # exactly-once output reaches the sink at checkpoints (every 30 s): the last is at 450 s, so
    # 450 s x 1,000/s over the 480 s window = 937.5/s (per-message: 936.4 +- 4.2)
    assert result.nodes["serving_v2"].throughput_per_s == pytest.approx(1000 * 450 / 480, rel=0.01)
    assert result.nodes["replay_job"].inside_at_end == pytest.approx(30 * 1000 + 10_000, rel=0.02)


def test_full_buffer_waits_follow_the_arrival_theorem() -> None:
    # 200 client batches over 12 equal partitions, 1/15 s of writes per client batch at a partition.
    # An arriving batch sees the other 199 spread as in equilibrium: 199/12 = 16.58 ahead on average,
    # so its mean wait is (16.58 + 1) / 15 = 1.172 s, Little's N / X(N) with X(N) = 12 x 15 x 200 / 211
    # = 170.6 batches/s: 200 / 170.6 = 1.172 s.  Fixed-time writes halve the variance of the share
    # at its partition: the product form (Beta(1, 11)) has var 11/(144 x 13) = 0.005876 of the
    # share, the kernel-like writes 0.002938.
    from numpy.random import default_rng

    from flowsim.fluid.closed import item_waits

    n, unit, c = np.full(200_000, 200.0), np.full(200_000, 1 / 15), 12
    exponential = item_waits(n, unit, c, 1.0, default_rng(1))
    fixed = item_waits(n, unit, c, 0.0, default_rng(2))
    assert exponential.mean() == pytest.approx((199 / 12 + 1) / 15, rel=0.01)
    assert fixed.mean() == pytest.approx((199 / 12 + 1) / 15, rel=0.01)
    share_var = lambda waits: (waits * 15 - 1).var() / 199**2  # noqa: E731
    assert share_var(exponential) == pytest.approx(11 / (144 * 13), rel=0.03)
    assert share_var(fixed) == pytest.approx(11 / (144 * 13) / 2, rel=0.03)


def _uneven_partitions(partitioner: str) -> flowsim.Scenario:
    """1,000 messages/s (items of 10) into 12 partitions for 60 s, then 300/s; the job takes 800/s."""
    topic = {"kind": "kafka_topic", "partitions": 12, "partitioner": partitioner,
             "consumer_groups": {"job": {"consumers": 4}}}  # fmt: skip
    nodes = {
        "src": {"kind": "source", "rate": "100/s", "batch": 10,
                "profile": [{"steps": [{"at": "0s", "factor": 1}, {"at": "60s", "factor": 0.3}]}]},
        "topic": topic,
        "job": {"kind": "stream_processor", "parallelism": 4, "per_event_cost": "5ms", "capacity": 2000},
        "done": {"kind": "sink"},
    }  # fmt: skip
    return tiny(nodes, ["src -> topic", "topic -> job", "job -> done"], duration=100.0)


@pytest.mark.slow
def test_the_oldest_unread_age_counts_the_fullest_partition() -> None:
    """The job's 2,000-message buffer fills at 200/s by 10 s; then one FIFO backlog's head is
    12.5 s old at its worst (the fluid engine's own figure before this term).  Random keys split
    the ~5,450 items of the episode Binomially: one partition's spread sqrt(5,450 x 1/12 x 11/12)
    x 10 = 204 messages, the fullest of 12 about 1.63 of them above the mean (332); each consumer
    reads its 3 partitions 500 records at a time, h = 500 x 2/6 = 167 messages either side of an
    even drain, the worst of 12 about 167 x 11/13 = 141.  hypot(332, 141) = 361 messages at the
    head's 1,000/12 = 83 messages/s is 4.3 s more; round robin keeps the keys even (141: 1.7 s)."""
    age = "nodes.topic.kind_figures.lag_max_seconds.job"
    for partitioner, low, high in (("uniform", 16.0, 19.0), ("round_robin", 13.0, 14.5)):
        fluid = flowsim.simulate(_uneven_partitions(partitioner), engine="fluid").metric(age)
        exact = flowsim.simulate(_uneven_partitions(partitioner), engine="per_message", replications=4, workers=2)
        assert fluid is not None and low < fluid < high  # 12.5 s + 4.3 s (uniform), + 1.7 s (round robin)
        mean, ci = exact.metric(age), exact.ci(age)  # measured: 17.3 +- 2.4 s and 14.8 +- 1.8 s
        assert mean is not None and ci is not None
        assert abs(fluid - mean) <= max(ci, 0.1 * mean)  # within its CI or 10% (the accuracy bound)


@pytest.mark.slow
def test_a_retry_storm_counts_the_same_timeouts_and_no_blocking() -> None:
    """The shipped storm (40/s, a 2-minute 4x brownout of payments, 1 s patience, 5 attempts):
    measured per-message 59,571 timeouts, 48,222 retries, 11,829 dead-lettered in 20 minutes.
    Payments hands on to a delay that is never full: it is never blocked, in either engine
    (the fluid one once counted the steps whose served attempts all timed out as blocked)."""
    scenario = load("retry-storm", duration="20m")
    fluid = flowsim.simulate(scenario, engine="fluid").nodes["payments"]
    exact = flowsim.simulate(scenario, engine="per_message", replications=2).nodes["payments"]
    for figure in ("timeouts", "retries", "dead_lettered"):
        assert getattr(fluid, figure) == pytest.approx(getattr(exact, figure), rel=0.02), figure
    assert exact.blocked_time_s == 0 and fluid.blocked_time_s == 0


def test_a_callers_timeout_is_resolved_in_forty_steps() -> None:
    # the retry storm at 1,000/s runs a 25-minute window: the 20,000-step bound gives 1,500 / 20,000 =
    # 0.075 s, 13 steps a 1 s timeout (dead-lettered -3.1% of per-message); 40 a timeout: 0.025 s
    storm = load("retry-storm", **{"nodes.requests.rate": "1000/s"})
    step, reason = choose_step(storm)
    assert step == pytest.approx(1.0 / 40) and "timeout" in reason
    assert choose_step(load("checkout-baseline"))[0] == pytest.approx(1500 / 20_000)  # no timeout: the bound


def test_a_blocking_queue_below_saturation_holds_its_source_by_m_m_1_k_plus_1() -> None:
    # source 0.8/s -> one exponential server of mean 1 s, capacity 2, on_full: block.  The source
    # holding a refused item is a third place: M/M/1/3 at rho 0.8, p_n = 0.2 x 0.8^n / (1 - 0.8^4):
    # p = 0.3388, 0.2710, 0.2168, 0.1734.  Throughput 0.8 (1 - p_3) = 0.6612/s; in the node
    # p_1 + 2 (p_2 + p_3) = 1.0514 (the held item is outside); the source is held p_3 of the time.
    # The fluid engine used to carry 0.8/s and report 4.0 inside a node of capacity 2.
    arch = {"name": "b", "nodes": {"src": {"kind": "source", "rate": "0.8/s"},
            "s": {"kind": "service", "servers": 1, "service_time": {"dist": "exponential", "mean": "1s"},
                  "capacity": 2, "on_full": "block"}, "done": {"kind": "sink"}},
            "edges": ["src -> s", "s -> done"]}  # fmt: skip
    doc = {"name": "b", "architecture": arch, "duration": "20000s", "warmup": "500s"}
    result = flowsim.simulate(flowsim.load_scenario(yaml.safe_dump(doc)), engine="fluid")
    p = [0.2 * 0.8**n / (1 - 0.8**4) for n in range(4)]
    node, source = result.nodes["s"], result.nodes["src"]
    assert node.throughput_per_s == pytest.approx(0.8 * (1 - p[3]), rel=0.01)
    assert node.mean_in_node == pytest.approx(p[1] + 2 * (p[2] + p[3]), rel=0.01)
    assert source.blocked_time_s == pytest.approx(p[3] * 19_500, rel=0.02)
    assert node.dropped == 0
    # past saturation (1.2/s into capacity 10) the node is full, never above its capacity
    arch["nodes"]["src"]["rate"] = "1.2/s"
    arch["nodes"]["s"]["capacity"] = 10
    over = flowsim.simulate(flowsim.load_scenario(yaml.safe_dump(doc)), engine="fluid").nodes["s"]
    assert over.mean_in_node <= 10 + 1e-6 and over.throughput_per_s == pytest.approx(1.0, rel=0.01)


def test_a_nanosecond_retention_check_takes_one_jump_per_step() -> None:
    # the fluid topic stepped its next retention check one interval at a time: 1 ns over a minute
    # is 6e10 additions (the run hung); the checks due by a step's end are now one jump
    arch = {"name": "r", "nodes": {"src": {"kind": "source", "rate": "10/s"},
            "t": {"kind": "kafka_topic", "retention_check_interval": "1e-9s"}, "done": {"kind": "sink"}},
            "edges": ["src -> t", "t -> done"]}  # fmt: skip
    scenario = flowsim.load_scenario(yaml.safe_dump({"name": "r", "architecture": arch, "duration": "60s"}))
    result = flowsim.simulate(scenario, engine="fluid")
    assert result.totals.arrivals == pytest.approx(600, rel=1e-6) and abs(result.totals.unaccounted) < 1e-6
