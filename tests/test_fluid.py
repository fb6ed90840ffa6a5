"""The fluid engine: engine selection, refusals, the counting identity, and agreement with the
per-message engine on small scenarios (the full accuracy table is bench/fluid_accuracy.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_auto_runs_per_message_when_small_and_fluid_when_large() -> None:
    assert flowsim.simulate(load("baseline")).engine == "per_message"
    assert flowsim.simulate(load("baseline"), max_events=1000).engine == "fluid"


def test_ml_kinds_are_refused_before_running() -> None:
    scenario = load("ml-baseline")
    assert fluid_problems(scenario)
    with pytest.raises(FlowsimError, match=r"node '\w+' \(kind '\w+'\)"):
        flowsim.simulate(scenario, engine="fluid")
    with pytest.raises(SimulationTooLarge, match="fluid engine"):
        flowsim.simulate(scenario, max_events=10)


def test_default_step_is_bounded_by_the_window() -> None:
    step, reason = choose_step(load("broker-outage"))
    window = load("broker-outage").window
    assert window / 20_000 - 1e-12 <= step <= window / 2000 + 1e-12
    assert reason


@pytest.mark.parametrize("name", SUPPORTED)
def test_every_message_is_accounted_for_by_the_fluid_engine(name: str) -> None:
    result = flowsim.simulate(load(name), engine="fluid")
    for node_name, n in result.nodes.items():
        came = n.arrivals + n.created + n.inside_at_start
        went = n.completed + n.dropped + n.dead_lettered + n.lost + n.inside_at_end
        assert came == pytest.approx(went, rel=1e-6, abs=1e-3), node_name
    assert result.totals.unaccounted == pytest.approx(0.0, abs=1e-6 * max(result.totals.arrivals, 1.0))


def test_same_seed_same_numbers() -> None:
    scenario = load("broker-outage")
    a = flowsim.simulate(scenario, engine="fluid").model_dump_json()
    assert a == flowsim.simulate(scenario, engine="fluid").model_dump_json()


def test_blocking_source_emits_less_and_records_blocked_time() -> None:
    scenario = load(
        "kafka-baseline",
        **{"nodes.events_topic.partition_write_rate": "100/s", "nodes.events_topic.buffer_messages": 1000},
    )
    result = flowsim.simulate(scenario, engine="fluid")
    events = result.nodes["events"]
    assert events.throughput_per_s == pytest.approx(12 * 100, rel=0.02)
    assert events.blocked_time_s > 0.3 * result.window_s
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
@pytest.mark.xfail(strict=True, reason="the fluid engine's p99 (103 s) is 13% below the per-message one (118.7 s)")
def test_broker_outage_p99_agrees_with_the_per_message_engine() -> None:
    # the per-message p99 is checked by hand in the test above; the fluid engine's is not there yet
    scenario = load("broker-outage")
    fluid = flowsim.simulate(scenario, engine="fluid")
    exact = flowsim.simulate(scenario, engine="per_message", replications=2)
    p99 = "end_to_end.serving.latency_s.p99"
    assert fluid.metric(p99) == pytest.approx(exact.metric(p99), rel=0.10)
