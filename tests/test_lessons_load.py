"""The lessons of the time-varying load scenarios, asserted from the simulated figures."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import pytest

import flowsim
from flowsim.traffic.shapes import RateLaw

pytestmark = pytest.mark.slow  # each test runs whole shipped scenarios

ROOT = Path(__file__).resolve().parent.parent
H, M = 3600.0, 60.0


@cache
def run(name: str, fixed_pool: bool = False) -> flowsim.RunResult:
    overrides = {"nodes.orders.autoscale": None} if fixed_pool else None
    return flowsim.simulate(flowsim.load_scenario(ROOT / "scenarios" / f"{name}.yaml", overrides))


def series(result: flowsim.RunResult, node: str) -> pd.DataFrame:
    frame = result.series
    return frame[frame.node == node].set_index("time_s")


def between(column: pd.Series, start: float, end: float) -> pd.Series:
    return column[(column.index >= start) & (column.index < end)]


# ---- a diurnal day on Lambda, with its nightly batch -------------------------------------------------
def test_lambda_day_sizes_the_speed_layer_by_the_peak_and_the_batch_window_by_the_total() -> None:
    result = run("lambda-diurnal-day")
    assert result.passed()  # no SLA miss, realtime views under a second all day
    (runs,) = result.extra["batch_etl"]
    (nightly,) = runs["runs"]
    assert (nightly["interval_start_s"], nightly["interval_end_s"], nightly["started_s"]) == (0, 24 * H, 24 * H)
    # the day's events: 0.25 batches/s x 100 events x mean factor (0.3 + 1) / 2 = 0.65 x 86,400 s = 1,404,000
    day = 0.25 * 100 * 0.65 * 24 * H
    assert nightly["messages"] == pytest.approx(day, rel=0.03)
    # the run: extract 2m + transform 5m + 4 ms per event + publish 1m, exactly
    run_s = nightly["ended_s"] - nightly["started_s"]
    assert run_s == pytest.approx(8 * M + 0.004 * nightly["messages"])
    assert 1.5 * H < run_s < 1.9 * H  # lands around 01:42
    planned_from_peak = 8 * M + 0.004 * 0.25 * 100 * 24 * H  # 9,120 s = 2h32m
    assert planned_from_peak > 1.4 * run_s
    # the speed layer follows the day: events processed 13:00-15:00 over those of 01:00-03:00 is the ratio
    # of the integrals of 0.3 + 0.35 (1 + cos(2 pi (t - 14h) / 24h)) over the two windows: 3.28
    done = series(result, "speed").completed
    law = result_law()
    expected = law.integral(13 * H, 15 * H) / law.integral(1 * H, 3 * H)
    measured = (done[15 * H] - done[13 * H]) / (done[3 * H] - done[1 * H])
    assert expected == pytest.approx(3.28, abs=0.01) and measured == pytest.approx(expected, rel=0.1)


def result_law() -> RateLaw:
    return flowsim.load_scenario(ROOT / "scenarios" / "lambda-diurnal-day.yaml").arch.nodes["events"].rate_law()


# ---- a flash sale on the autoscaled checkout -----------------------------------------------------------
def test_flash_sale_autoscaling_climbs_a_staircase_and_the_warm_up_gap_costs_orders() -> None:
    sale, fixed = run("checkout-flash-sale"), run("checkout-flash-sale", fixed_pool=True)
    (warning,) = sale.analysis.warnings
    # 40/s x 100 ms / 2 replicas = 2.0 from 01:00; at the ceiling of 12 replicas 4 / 12 = 0.33
    assert warning.startswith("'orders' saturates at 01:00 (rho = 2.00 at the 01:00 peak)")
    assert "ceiling of 12 it would run at rho = 0.33" in warning
    assert sale.analysis.nodes["requests"].peak_rate_per_s == 40 and sale.analysis.nodes["orders"].saturates_at_s == H
    (timeline,) = sale.extra["orders"]
    ready = [(step["time_s"], step["replicas"]) for step in timeline["replicas"]]
    counts = [replicas for _, replicas in ready]
    # utilization reads at most 100%, so each decision asks at most ceil(ready / 0.6): 2 -> 4 -> 7 -> 12
    assert counts[:4] == [2, 4, 7, 12]
    assert H + 2 * M < ready[1][0] <= H + 30 + 2 * M  # the first decision within 30 s, then the warm-up
    assert ready[3][0] <= H + 8 * M  # the staircase takes three warm-ups
    assert counts[-1] == 2 and ready[-1][0] < H + 15 * M + 15 * M  # back to 2 after the sale
    waiting = series(sale, "orders").waiting
    assert H < waiting.idxmax() < H + 8 * M and waiting.max() > 1500  # the queue fills before replicas serve
    assert between(waiting, H + 10 * M, H + 15 * M).max() == 0  # the sale goes on; nothing waits
    latency = sale.end_to_end["confirmed"].latency_s
    assert latency is not None and latency.p50 < 0.5 and latency.p99 > 30
    assert 0 < sale.totals.dropped < fixed.totals.dropped / 10  # a fixed pool of 2 drops 10x more
    assert not sale.passed()


# ---- a day of clicks replayed into Kappa ---------------------------------------------------------------
def test_replayed_clicks_fit_the_mean_but_the_evening_peak_builds_lag() -> None:
    result = run("kappa-clicks-trace")
    view = result.analysis
    events, enrich = view.nodes["events"], view.nodes["enrich"]
    capacity = 1 / 0.075  # 1 task at 75 ms per event
    assert enrich.capacity_per_s == pytest.approx(capacity)
    # the day's mean: 0.829 batches/s x 10 events = 8.3/s, rho 0.62; the peak row 1.558/s, rho 1.17
    assert events.mean_rate_per_s is not None and events.peak_rate_per_s is not None
    assert events.mean_rate_per_s * 10 / capacity == pytest.approx(0.62, abs=0.01)
    assert enrich.offered_load == pytest.approx(events.peak_rate_per_s * 10 / capacity)
    assert view.warnings[0].startswith("'enrich' saturates at 19:00 (rho = 1.17 at the 20:05 peak)")
    assert result.nodes["enrich"].utilization == pytest.approx(0.62, abs=0.02)  # the mean, as measured
    lag = series(result, "events_topic")["lag_messages.enrich"]
    assert between(lag, 0, 18.5 * H).max() == 0  # all day long the job keeps up
    assert 19.5 * H < lag.idxmax() < 22 * H and lag.max() > 3000  # the evening builds a backlog
    assert between(lag, 23 * H, 24 * H).max() == 0  # drained before midnight
    # at the peak the job runs flat out at its capacity while more is offered
    peak = (19.75 * H, 21 * H)
    throughput = between(series(result, "enrich").throughput_per_s, *peak).mean()
    offered = between(series(result, "events").offered_per_s, *peak).mean()
    assert throughput == pytest.approx(capacity, rel=0.02) and offered > 1.05 * capacity
    assert result.totals.lost == 0 and result.totals.dropped == 0  # the log keeps everything
    latency = result.end_to_end["serving"].latency_s
    assert latency is not None and latency.p50 < 3 and latency.max > 10 * M
