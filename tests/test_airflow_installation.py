"""The Airflow installation shared by every `airflow_dag`: pools, parallelism, max_active_tasks.

Airflow 2's documented behaviour: pools are installation-wide (Admin -> Pools), a task without a
pool takes a slot of `default_pool` (128 slots), `[core] parallelism` (32) caps the task
instances running across the installation and `max_active_tasks` (16) those of one DAG.  Every
model here has constant durations, so each figure is worked out by hand beside its assertion.
Schedules are `every 1h` from t = 0: run 1 covers [0, 1h) and starts at 1h.
"""

from __future__ import annotations

import pytest

import flowsim
from flowsim.errors import SpecError
from helpers import dags_scenario, node_figures, run_traced

H = 3600.0


scenario = dags_scenario
figures = node_figures


def fan_out(n: int, minutes: int = 10) -> str:
    return "tasks: {" + ", ".join(f"t{i}: {{duration: {minutes}m}}" for i in range(n)) + "}"


def test_two_dags_naming_one_pool_share_its_slot() -> None:
    # each DAG: one 30m task in warehouse_db (1 slot).  Both runs are due at 1h; the pool is
    # installation-wide, so one runs 1h..1.5h and the other waits and runs 1.5h..2h:
    # durations 1800 s and 3600 s, mean 2700 s (per-DAG pools would give 1800 s each)
    task = "pools: {warehouse_db: 1}, tasks: {load: {duration: 30m, pool: warehouse_db}}"
    m, trace = run_traced(scenario({"a": task, "b": task}, duration="2.1h"))
    durations = sorted(figures(m, d)["run_duration_mean_s"] for d in ("a", "b"))
    assert durations == [1800, 3600]
    starts = [(t, node) for t, node, event, _ in trace if event == "task start load" and t < 2 * H]
    assert starts == [(H, "a"), (1.5 * H, "b")]  # a was built first, so its try was ready first


def test_a_pool_declared_once_in_the_airflow_block() -> None:
    # the same contention with the pool declared once, under the architecture's airflow.pools
    task = "tasks: {load: {duration: 30m, pool: warehouse_db}}"
    m, _ = run_traced(scenario({"a": task, "b": task}, airflow="{pools: {warehouse_db: 1}}", duration="2.1h"))
    assert sorted(figures(m, d)["run_duration_mean_s"] for d in ("a", "b")) == [1800, 3600]


def test_a_pool_sized_twice_is_refused_with_its_place() -> None:
    one = "pools: {warehouse_db: 1}, tasks: {load: {duration: 30m, pool: warehouse_db}}"
    two = "pools: {warehouse_db: 2}, tasks: {load: {duration: 30m, pool: warehouse_db}}"
    with pytest.raises(SpecError) as err:
        flowsim.load_scenario(scenario({"a": one, "b": two}))
    problem = err.value.problems[0]
    assert "pool 'warehouse_db' has 2 slots here but 1 in DAG 'a'" in problem.message
    # line 8 of the text: name, architecture, name, nodes, src, a, a_out, then b
    assert problem.field == "architecture.nodes.b.pools.warehouse_db" and problem.line == 8


def test_max_active_tasks_caps_a_wide_fan_out() -> None:
    # 20 independent 10m tasks; max_active_tasks 16 (Airflow's default): 16 run 1h..1h10m, the
    # other 4 start as the first ones free their slots and run 1h10m..1h20m: the run takes 1200 s
    m, trace = run_traced(scenario({"a": fan_out(20)}))
    assert figures(m, "a")["run_duration_mean_s"] == 1200
    starts = [t for t, _, event, _ in trace if event.startswith("task start")]
    assert starts == [H] * 16 + [H + 600] * 4
    # with max_active_tasks 20 all run at once: 600 s
    m, _ = run_traced(scenario({"a": "max_active_tasks: 20, " + fan_out(20)}))
    assert figures(m, "a")["run_duration_mean_s"] == 600


def test_parallelism_caps_the_whole_installation() -> None:
    # two DAGs of 16 tasks each under parallelism 20: a starts its 16, b only 4 at 1h; at 1h10m
    # the 16 slots free and b's last 12 run to 1h20m.  a: 600 s, b: 1200 s
    airflow = "{parallelism: 20}"
    m, _ = run_traced(scenario({"a": fan_out(16), "b": fan_out(16)}, airflow=airflow))
    assert (figures(m, "a")["run_duration_mean_s"], figures(m, "b")["run_duration_mean_s"]) == (600, 1200)
    # Airflow's default parallelism 32 runs all 32 at once: 600 s each
    m, _ = run_traced(scenario({"a": fan_out(16), "b": fan_out(16)}))
    assert (figures(m, "a")["run_duration_mean_s"], figures(m, "b")["run_duration_mean_s"]) == (600, 600)
    # the installation can be set by an override too (as a sweep does): parallelism 20 again
    loaded = flowsim.load_scenario(
        scenario({"a": fan_out(16), "b": fan_out(16)}), overrides={"airflow.parallelism": 20}
    )
    m, _ = run_traced(loaded)
    assert figures(m, "b")["run_duration_mean_s"] == 1200


def test_tasks_without_a_pool_share_the_default_pool() -> None:
    # default_pool of 4 slots, 10 tasks of 10m: waves of 4, 4, 2 -> the run takes 30m = 1800 s
    m, _ = run_traced(scenario({"a": fan_out(10)}, airflow="{default_pool_slots: 4}"))
    assert figures(m, "a")["run_duration_mean_s"] == 1800


def test_pool_slots_hold_several_slots_of_a_pool() -> None:
    # a pool of 3 slots; a needs 2, b and c 1 each: a and b start at 1h (3 slots), c waits for b's
    # slot at 1h10m and ends at 1h20m; the run takes 1200 s
    dag = "pools: {db: 3}, tasks: {a: {duration: 10m, pool: db, pool_slots: 2}, " + (
        "b: {duration: 10m, pool: db}, c: {duration: 10m, pool: db}}"
    )
    m, trace = run_traced(scenario({"d": dag}))
    assert [(t, e) for t, _, e, _ in trace if e.startswith("task start")] == [
        (H, "task start a"),
        (H, "task start b"),
        (H + 600, "task start c"),
    ]
    assert figures(m, "d")["run_duration_mean_s"] == 1200


def test_a_task_needing_more_slots_than_its_pool_is_refused() -> None:
    dag = "pools: {db: 1}, tasks: {a: {pool: db, pool_slots: 2}}"
    with pytest.raises(SpecError, match="needs 2 slots of a pool that has 1"):
        flowsim.load_scenario(scenario({"d": dag}))
