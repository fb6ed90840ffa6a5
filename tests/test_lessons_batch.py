"""The batch-layer scenarios teach what their descriptions say: asserted from simulated figures."""

from __future__ import annotations

import itertools

import pytest

import flowsim
from helpers import run_shipped

pytestmark = pytest.mark.slow  # each test runs whole shipped scenarios


run = run_shipped


def dag(result: flowsim.RunResult, name: str = "batch_etl") -> dict[str, float]:
    return result.nodes[name].kind_figures


def test_lambda_baseline_matches_the_back_of_envelope() -> None:
    result = run("lambda-baseline")
    assert result.passed()
    figures = dag(result)
    # run = extract 2m + transform 5m + 360,000 events x 1 ms + publish 1m = 14 min
    assert figures["run_duration_mean_s"] == pytest.approx(840, rel=0.02)
    assert figures["sla_misses"] == 0 and figures["runs_failed"] == 0
    # load = 360,000 x 1 KB / 200 MB/s + 30 s = 31.8 s; oldest data at serving = 1h + 14m + 32s
    assert result.nodes["warehouse"].kind_figures["load_duration_mean_s"] == pytest.approx(31.8, rel=0.02)
    batch = result.end_to_end["batch_views"].latency_s
    assert batch is not None and batch.mean == pytest.approx(3600 + 840 + 31.8, rel=0.01)


def test_flaky_task_with_exponential_backoff_misses_the_sla() -> None:
    baseline, flaky = dag(run("lambda-baseline")), dag(run("airflow-sla-miss"))
    assert baseline["sla_misses"] == 0 and flaky["sla_misses"] >= 2
    assert flaky["task_tries"] > flaky["runs_succeeded"] + flaky["runs_failed"]  # retries happened
    assert flaky["freshness_mean_s"] > 1.4 * baseline["freshness_mean_s"]
    assert flaky["run_duration_max_s"] > 1800  # a run took longer than the 30m SLA itself
    assert not run("airflow-sla-miss").passed()


def test_warehouse_load_window_inflates_dashboard_waits() -> None:
    result = run("warehouse-contention")
    wh = result.nodes["warehouse"].kind_figures
    assert wh["loads_completed"] == 1 and wh["load_duration_mean_s"] == pytest.approx(1.439e12 / 200e6 + 60, rel=0.01)
    series = result.series
    rows = series[series.node == "warehouse"]
    during = rows[rows.loads_running > 0].query_wait_p95_s
    rest = rows[rows.loads_running == 0].query_wait_p95_s
    assert len(during) >= 20  # five-minute samples across the two-hour load
    assert during.mean() > 10.0 and rest.mean() < 0.5
    assert during.mean() > 50 * rest.mean()


def test_speed_layer_is_four_orders_of_magnitude_fresher_than_the_batch_layer() -> None:
    result = run("lambda-vs-kappa-freshness")
    speed = result.end_to_end["realtime_views"].latency_s
    batch = result.end_to_end["batch_views"].latency_s
    assert speed is not None and batch is not None
    assert speed.p99 < 2.0  # seconds
    assert batch.mean > 6 * 3600  # hours: a 6-hour interval plus a 44-minute run
    assert batch.mean / speed.mean > 10_000
    assert dag(result)["sla_misses"] == 0


def test_catchup_runs_missed_intervals_back_to_back_or_skips_them() -> None:
    on = run("airflow-catchup")
    off = run("airflow-catchup", **{"nodes.batch_etl.catchup": False})
    runs = on.extra["batch_etl"][0]["runs"]
    back_to_back = [r for r in runs if r["run"] in (2, 3, 4)]
    assert back_to_back[0]["started_s"] == 4.5 * 3600  # the scheduler is back
    assert all(a["ended_s"] == b["started_s"] for a, b in itertools.pairwise(back_to_back))
    assert (dag(on)["runs_succeeded"], dag(on)["runs_skipped"], dag(on)["messages_skipped"]) == (6, 0, 0)
    assert dag(on)["runs_queued_max"] == 3 and dag(on)["sla_misses"] == 3
    assert (dag(off)["runs_succeeded"], dag(off)["runs_skipped"]) == (4, 2)
    assert dag(off)["sla_misses"] == 1 + 2  # one late run, and the two skipped intervals never land
    assert dag(off)["messages_skipped"] == pytest.approx(720_000, rel=0.02)
    delivered_on = on.end_to_end["batch_views"].count
    assert delivered_on - off.end_to_end["batch_views"].count == pytest.approx(dag(off)["messages_skipped"])


@pytest.mark.parametrize(
    "name",
    ["lambda-baseline", "airflow-sla-miss", "airflow-catchup", "warehouse-contention", "lambda-vs-kappa-freshness"],
)
def test_batch_kinds_conserve_messages(name: str) -> None:
    result = run(name)
    for node in result.nodes.values():
        if node.kind in ("airflow_dag", "warehouse"):
            balance = node.arrivals + node.inside_at_start - node.completed - node.dropped - node.dead_lettered
            assert balance == pytest.approx(node.inside_at_end)
