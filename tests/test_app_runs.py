"""The app's run machinery without a page: the first look, the budget, the cache, the what-if figures."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

pytest.importorskip("altair", reason="the app's charts need the app extra (pip install -e '.[app]')")

import flowsim
from flowsim.app.jobs import (
    FAULT_LOOK_BUDGET,
    QUICK_BUDGET,
    Job,
    Rates,
    ResultCache,
    budget_per_replication,
    estimate,
    first_look,
)
from flowsim.app.sources import without_server_paths
from flowsim.reports.whatif import WhatIf, grid_values, paired_differences
from flowsim.sweep import SweepPlan, run_sweep

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def test_first_look_cuts_the_horizon_to_the_quick_budget_and_says_what_it_left_out() -> None:
    scenario = flowsim.load_scenario(SCENARIOS / "broker-outage.yaml")
    events = flowsim.estimate_events(scenario)
    cut, note = first_look(scenario)
    factor = QUICK_BUDGET / events
    assert cut["duration"] == pytest.approx(scenario.duration * factor, abs=1e-3)  # 660 s x 40,000 / 1,058,786
    assert cut["warmup"] == pytest.approx(scenario.warmup * factor, abs=1e-3)
    assert cut["faults"] == []  # the outage at 2 min lies beyond the 24.9 s cut: left out, and said so
    assert "It ends before the scheduled fault at 2min: what the scenario is about is not in these figures" in note
    short = flowsim.load_scenario(SCENARIOS / "broker-outage.yaml", cut)
    assert flowsim.estimate_events(short) == pytest.approx(QUICK_BUDGET, rel=0.05)  # the estimate is ~linear


def test_a_scenario_about_a_fault_runs_whole_rather_than_without_it() -> None:
    # checkout-outage: 364,537 estimated events; a cut to 40,000 would end at 3.3 min, before the
    # payment outage at 20 min that its lesson is about, so under FAULT_LOOK_BUDGET it runs whole
    scenario = flowsim.load_scenario(SCENARIOS / "checkout-outage.yaml")
    assert QUICK_BUDGET < flowsim.estimate_events(scenario) <= FAULT_LOOK_BUDGET
    assert first_look(scenario) == ({}, "")
    # a scenario over the budget without faults is still cut, saying nothing of faults
    cut, note = first_look(flowsim.load_scenario(SCENARIOS / "kafka-baseline.yaml"))
    assert set(cut) == {"duration", "warmup"} and "fault" not in note


def test_a_small_scenario_needs_no_first_look() -> None:
    scenario = flowsim.load_scenario(SCENARIOS / "baseline.yaml")  # 18,800 events < 40,000
    assert first_look(scenario) == ({}, "")


def test_the_scenario_can_raise_the_app_budget() -> None:
    scenario = flowsim.load_scenario(SCENARIOS / "baseline.yaml", {"replications": 4})
    assert budget_per_replication(scenario) == 5_000_000 // 4
    raised = flowsim.load_scenario(SCENARIOS / "baseline.yaml", {"limits.max_events": 9_000_000})
    assert budget_per_replication(raised) == 9_000_000  # the limit the refusal's advice names is honoured


def test_the_estimate_uses_the_rate_learnt_for_the_scenario() -> None:
    scenario = flowsim.load_scenario(SCENARIOS / "baseline.yaml")
    guess = estimate(scenario, 5_000_000)
    assert guess.engine == "per_message" and guess.work == pytest.approx(flowsim.estimate_events(scenario))
    rates = Rates()
    rates.learn("baseline", "per_message", 100_000.0, 2.0)
    assert rates.get("baseline", "per_message") == 50_000.0  # 100,000 events in 2 s
    rates.learn("baseline", "per_message", 100_000.0, 1.0)
    assert rates.get("baseline", "per_message") == 75_000.0  # the mean of 50,000 and 100,000


def test_the_cache_drops_the_oldest_entry() -> None:
    cache = ResultCache(entries=2)
    results = [object() for _ in range(3)]
    for key, result in enumerate(results):
        cache.put(key, result)  # type: ignore[arg-type]
    assert cache.get(0) is None and cache.get(1) is results[1] and cache.get(2) is results[2]


def test_a_job_stops_and_says_how_long_the_engine_took() -> None:
    scenario = flowsim.load_scenario(SCENARIOS / "kafka-baseline.yaml")  # several seconds of work
    job = Job(lambda progress, stop: flowsim.simulate(scenario, progress=progress, stop=stop)).start()
    time.sleep(0.3)
    job.stop()
    job.wait(5.0)
    assert isinstance(job.error, flowsim.Cancelled) and job.result is None
    assert job.stop_delay is not None and job.stop_delay < 1.0  # the next of 500 chunks came within a second


def test_server_paths_are_not_shown() -> None:
    text = (SCENARIOS / "baseline.yaml").read_text(encoding="utf-8").replace("two-stage", "nope")
    with pytest.raises(flowsim.SpecError) as caught:
        flowsim.load_scenario(text, base_dir=SCENARIOS)
    problems = without_server_paths(caught.value.problems, ROOT)
    assert str(ROOT) not in str(problems[0]) and "two-stage.yaml" in problems[0].hint


def test_grid_values() -> None:
    assert grid_values(1, 5, 3, integer=True) == [1, 3, 5]
    assert grid_values(2, 3, 5, integer=True) == [2, 3]  # 2, 2.25, 2.5, 2.75, 3 -> whole numbers, no repeats
    assert grid_values(0.5, 2.0, 4, integer=False) == [0.5, 1.0, 1.5, 2.0]


def _whatif(label: str, servers: list[int]) -> WhatIf:
    text = (SCENARIOS / "baseline.yaml").read_text(encoding="utf-8")
    scenarios = [flowsim.load_scenario(text, {"nodes.api.servers": s, "replications": 2, "duration": 2000},
                                       base_dir=SCENARIOS) for s in servers]  # fmt: skip
    plan = SweepPlan(["nodes.api.servers"], [{"nodes.api.servers": s} for s in servers], scenarios)
    return WhatIf(label, "nodes.api.servers", "api · servers", run_sweep(plan, workers=1))


def test_what_if_rows_have_cis_and_a_sweep_paired_with_itself_differs_by_nothing() -> None:
    a = _whatif("A", [1, 2])
    frame = a.frame()
    p99 = frame[frame["figure"] == "p99_s"]
    assert len(p99) == 2 and (p99["high"] >= p99["mean"]).all() and (p99["low"] <= p99["mean"]).all()
    assert p99["ci95"].notna().all()  # 2 replications: a Student-t half-width
    same = paired_differences(a, _whatif("B", [1, 2]))  # same seeds, same design: every difference is 0
    assert (same["B - A"] == 0).all() and not same["significant"].any()
    holds = a.highest_holding()
    assert holds is None or holds in (1.0, 2.0)
    assert not math.isnan(float(frame["mean"].iloc[0]))
