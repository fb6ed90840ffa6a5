"""First looks computed ahead for the app, the page's activity they wait for, and the estimate's memo."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("altair", reason="the app's charts need the app extra (pip install -e '.[app]')")

import flowsim
from flowsim.app import warm
from flowsim.app.activity import PageActivity
from flowsim.app.jobs import FIRST_LOOKS, cached, first_look, view_of
from flowsim.schedule import _cron_mean_period, parse_schedule

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def short_look(name: str) -> flowsim.Scenario:
    scenario = flowsim.load_scenario(SCENARIOS / f"{name}.yaml")
    cut, _ = first_look(scenario)
    return flowsim.load_scenario(SCENARIOS / f"{name}.yaml", cut)


def test_a_first_look_computed_ahead_is_the_result_the_page_would_compute() -> None:
    scenario = short_look("checkout-outage")  # 197.5 s of its 1,800 s: about 40,000 events
    key = ("test", "checkout-outage", 1)
    assert warm.warm_one(key, scenario, PageActivity())
    ahead = cached(key)
    assert ahead is not None and FIRST_LOOKS.get(key) is ahead
    # the page runs the same scenario with the same seed and replications: the same figures (determinism)
    page = flowsim.simulate(scenario, seed=scenario.seed, replications=scenario.replications)
    assert ahead.totals == page.totals
    assert ahead.end_to_end == page.end_to_end
    assert warm.warm_one(key, scenario, PageActivity()) and cached(key) is ahead  # there already: not run again


def test_a_page_that_starts_stops_the_warming_and_nothing_is_cached() -> None:
    scenario = short_look("kafka-baseline")
    activity = PageActivity()
    key = ("test", "kafka-baseline", "busy")
    with activity.running():  # a page script runs: the engine is told to stop at its first chunk
        assert warm.warm_one(key, scenario, activity) is False
    assert cached(key) is None


def test_the_warmer_waits_for_a_quiet_page_then_warms_every_item() -> None:
    activity = PageActivity()
    items = [(("test", "quiet", name), short_look(name)) for name in ("baseline", "retry-storm")]
    done: list[int] = []
    with activity.running():
        worker = threading.Thread(target=lambda: done.append(warm.warm_all(items, activity, quiet=0.2)))
        worker.start()
        worker.join(0.5)
        assert worker.is_alive() and all(cached(key) is None for key, _ in items)  # waiting while the page runs
    worker.join(60)
    assert done == [2]  # both first looks in the cache once the page went quiet
    assert all(cached(key) is not None for key, _ in items)


def test_the_warmer_starts_once_per_server_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSIM_APP_WARM", "0")
    assert warm.start_once(lambda: []) is None
    monkeypatch.setenv("FLOWSIM_APP_WARM", "1")
    monkeypatch.setattr(warm, "_STARTED", threading.Event())  # a fresh server
    first = warm.start_once(lambda: [])  # nothing to warm: the thread ends at once
    assert first is not None
    first.join(5)
    assert warm.start_once(lambda: []) is None  # the server's second page starts no second warmer


def test_activity_counts_running_pages_and_the_quiet_since() -> None:
    activity = PageActivity()
    with activity.running():
        assert activity.busy and activity.quiet_for() == 0.0
        with activity.running():  # two sessions at once
            assert activity.busy
        assert activity.busy  # one still runs
    assert not activity.busy and activity.quiet_for() >= 0.0


def test_the_analytic_view_is_computed_once_per_scenario() -> None:
    scenario = flowsim.load_scenario(SCENARIOS / "airflow-catchup.yaml")
    view = view_of(scenario)
    assert view_of(scenario) is view  # the page asks four times per run
    other = flowsim.load_scenario(SCENARIOS / "airflow-catchup.yaml")
    assert view_of(other) is not view  # another object (another page run, other overrides): its own view
    assert view_of(other).model_dump() == flowsim.analyze_scenario(other).model_dump()  # what simulate takes


def test_a_cron_schedule_is_stepped_once_for_its_mean_period() -> None:
    weekdays = parse_schedule("0 9 * * 1-5")
    before = _cron_mean_period.cache_info().hits
    # Monday 09:00 to the Monday four weeks on: 20 firings in 28 days, 28 x 86,400 / 20 = 120,960 s apart
    assert weekdays.mean_period() == pytest.approx(120_960.0)
    assert parse_schedule("0 9 * * 1-5").mean_period() == pytest.approx(120_960.0)
    assert _cron_mean_period.cache_info().hits >= before + 1  # an equal schedule: the memo, not 20 more steps
