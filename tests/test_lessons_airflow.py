"""The Airflow installation scenarios teach what their descriptions say: asserted from simulated
figures, each beside its back-of-envelope (docs/batch.md has the same table).

Every task duration is constant, so the simulated figure equals the hand-worked one.
"""

from __future__ import annotations

import pytest

import flowsim
from helpers import run_shipped

pytestmark = pytest.mark.slow  # each test runs whole shipped scenarios, twice


run = run_shipped


def dag(result: flowsim.RunResult, name: str) -> dict[str, float]:
    return result.nodes[name].kind_figures


def test_two_dags_contending_for_one_pool_slot() -> None:
    result = run("airflow-shared-pool")
    orders, marketing = dag(result, "orders_etl"), dag(result, "marketing_etl")
    # one warehouse_db slot, both runs due each hour: orders (priority_weight 10) 0..20m,
    # marketing waits and runs 20m..40m: 1200 s and 2400 s, 12 runs each in 12h45m
    assert (orders["run_duration_mean_s"], marketing["run_duration_mean_s"]) == (1200, 2400)
    assert (orders["runs_succeeded"], marketing["runs_succeeded"]) == (12, 12)
    # SLA 30m after the interval ends: marketing lands 40m after, every run misses; orders never
    assert (orders["sla_misses"], marketing["sla_misses"]) == (0, 12)
    assert result.totals.unaccounted == 0
    # a second slot: both load at once, 1200 s, no misses
    wider = run("airflow-shared-pool", **{"airflow.pools.warehouse_db": 2})
    assert dag(wider, "marketing_etl")["run_duration_mean_s"] == 1200 and dag(wider, "marketing_etl")["sla_misses"] == 0


def test_a_wide_fan_out_hits_max_active_tasks() -> None:
    # extract 5m; 24 partitions of 10m but max_active_tasks 16: waves 5m..15m (16) and 15m..25m
    # (8); publish 25m..30m: 1800 s, missing the 25m SLA each of the 12 hours
    figures = dag(run("airflow-fanout"), "partitions")
    assert (figures["run_duration_mean_s"], figures["sla_misses"], figures["runs_succeeded"]) == (1800, 12, 12)
    # max_active_tasks 24: one wave, 5 + 10 + 5 = 20m = 1200 s, no misses
    wide = dag(run("airflow-fanout", **{"nodes.partitions.max_active_tasks": 24}), "partitions")
    assert (wide["run_duration_mean_s"], wide["sla_misses"]) == (1200, 0)


RESCHEDULE = {
    "nodes.reports.tasks.wait_orders.sensor.mode": "reschedule",
    "nodes.reports.tasks.wait_refunds.sensor.mode": "reschedule",
}


def test_poking_sensors_hold_worker_slots_and_rescheduling_ones_do_not() -> None:
    poke = run("airflow-sensor-slots")
    etl, reports = dag(poke, "etl"), dag(poke, "reports")
    # 3 worker slots; at each hour the two sensors (effective weight 1 + 1 = 2) take 2 of them,
    # etl's a takes the third; b and c follow at 10m and 20m: etl's run 1800 s, SLA 20m missed x 12
    assert (etl["run_duration_mean_s"], etl["sla_misses"]) == (1800, 12)
    # exports land 30m after the hour: pokes at 0, 5, .., 30m find them at the 7th; build 30..35m
    assert reports["run_duration_mean_s"] == 2100 and reports["sensor_pokes"] == 12 * 2 * 7
    # each sensor holds a slot 30m per run: 12 runs x 2 sensors x 1800 s
    assert reports["sensor_slot_s"] == 12 * 2 * 1800
    assert poke.totals.unaccounted == 0
    resched = run("airflow-sensor-slots", **RESCHEDULE)
    etl, reports = dag(resched, "etl"), dag(resched, "reports")
    # pokes free their slots at once: a, b, c all run 0..10m: 600 s, no misses; reports unchanged.
    # The poke due at 5m finds the 3 slots taken by a, b, c and waits for them until 10m, so each
    # sensor pokes 6 times per run (0, 10, 15, 20, 25, 30m) instead of 7, holding no slot between
    assert (etl["run_duration_mean_s"], etl["sla_misses"]) == (600, 0)
    assert (reports["run_duration_mean_s"], reports["sensor_slot_s"], reports["sensor_pokes"]) == (2100, 0, 12 * 2 * 6)
