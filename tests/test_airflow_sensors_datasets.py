"""Waiting on data in `airflow_dag`: sensors (poke vs reschedule, timeout, soft_fail) and
data-aware scheduling by datasets.

Airflow 2's BaseSensorOperator pokes at the try's start and then every `poke_interval`; a poke
that finds nothing more than `timeout` after the first fails the sensor without retries
(AirflowSensorTimeout), or skips it with `soft_fail`.  In poke mode the try keeps its worker
slot while it sleeps; in reschedule mode it frees it between pokes (up_for_reschedule).  A DAG
scheduled on datasets (2.4+) runs once every dataset it names has been updated by a producing
task since its last run.  Constant durations; each figure is worked out by hand beside its
assertion.  Runs are `every 1h` from t = 0: run 1 covers [0, 1h) and starts at 1h.
"""

from __future__ import annotations

import math

import pytest

import flowsim
from flowsim.engine.model import Model
from flowsim.fluid.support import fluid_problems
from flowsim.nodes._airflow_sensors import SensorSpec, poke_outcome
from helpers import run_traced

H = 3600.0


def scenario(dag: str, airflow: str = "", duration: str = "1.9h", late: str = "25m") -> str:
    block = f"  airflow: {airflow}\n" if airflow else ""
    return (
        f"name: sensors\narchitecture:\n  name: sensors\n{block}  nodes:\n"
        "    src: {kind: source, interarrival: 10m}\n"
        f"    etl: {{kind: airflow_dag, schedule: every 1h, tasks: {{{dag}}}}}\n"
        "    done: {kind: sink}\n"
        f"  edges: [src -> etl, etl -> done]\nduration: {duration}\n"
    ).replace("LATE", late)


def sensed(mode: str, extra: str = "") -> str:
    sensor = f"{{mode: {mode}, poke_interval: 10m, data_late_by: LATE{extra}}}"
    return f"wait: {{sensor: {sensor}}}, other: {{duration: 10m}}, load: {{duration: 1m, depends_on: [wait]}}"


def figures(m: Model) -> dict[str, float]:
    return m.nodes["etl"].figures(m.network.window)


def starts(m: Model) -> list[tuple[float, str]]:
    return [(t, e.removeprefix("task start ")) for t, n, e, k in m.trace if e.startswith("task start") and k == 1]


def test_a_poking_sensor_holds_the_only_worker_slot() -> None:
    # worker_slots 1.  The data lands at 1h25m (interval end + 25m).  wait pokes at 1h, 1h10m,
    # 1h20m (nothing) and 1h30m (found), holding the slot 1h..1h30m (1800 slot-seconds); other
    # waits for it 1h30m..1h40m, load 1h40m..1h41m: the run takes 2460 s
    m, _ = run_traced(scenario(sensed("poke"), airflow="{worker_slots: 1}"))
    assert starts(m) == [(H, "wait"), (1.5 * H, "other"), (H + 2400, "load")]
    f = figures(m)
    assert (f["sensor_pokes"], f["sensor_slot_s"], f["run_duration_mean_s"]) == (4, 1800, 2460)


def test_a_rescheduling_sensor_frees_the_slot_between_pokes() -> None:
    # the same, in reschedule mode: the poke at 1h finds nothing and frees the slot, so other runs
    # 1h..1h10m; the pokes at 1h10m and 1h20m find nothing, the one at 1h30m succeeds; load
    # 1h30m..1h31m: the run takes 1860 s, and the sensor held the slot 0 s (pokes take no time)
    m, _ = run_traced(scenario(sensed("reschedule"), airflow="{worker_slots: 1}"))
    assert starts(m) == [(H, "wait"), (H, "other"), (H + 600, "wait"), (H + 1200, "wait"), (1.5 * H, "wait"),
                         (1.5 * H, "load")]  # fmt: skip
    f = figures(m)
    assert (f["sensor_pokes"], f["sensor_slot_s"], f["run_duration_mean_s"], f["task_tries"]) == (4, 0, 1860, 3)


def test_each_reschedule_pays_the_task_startup() -> None:
    # task_startup 1m: every poke holds a slot 60 s before it pokes.  Pokes at 1h01m, 1h12m,
    # 1h23m (queued 1h11m, 1h22m): the data lands at 1h25m, so the 4th poke at 1h34m succeeds;
    # 4 x 60 = 240 slot-seconds (poke mode would hold it 1h..1h31m: 1860)
    m, _ = run_traced(scenario(sensed("reschedule"), airflow="{task_startup: 1m}"))
    f = figures(m)
    assert (f["sensor_pokes"], f["sensor_slot_s"]) == (4, 240)
    m, _ = run_traced(scenario(sensed("poke"), airflow="{task_startup: 1m}"))
    assert figures(m)["sensor_slot_s"] == 1860  # first poke 1h01m, found at 1h31m


def test_a_sensor_times_out_failed_or_skipped() -> None:
    # data 2h late, timeout 30m: pokes at 1h, 1h10m, 1h20m, 1h30m (30m after the first: not more
    # than the timeout) find nothing; the one at 1h40m is 40m > 30m: the sensor times out there.
    # Failed: load is upstream_failed and the run fails; soft_fail: load is skipped, the run succeeds
    m, trace = run_traced(scenario(sensed("poke", ", timeout: 30m"), late="2h"))
    assert [(t, e) for t, _, e, k in trace if e.startswith("task") and "wait" in e and k == 1][-1] == (
        H + 2400, "task out of retries wait"
    )  # fmt: skip
    f = figures(m)
    assert (f["sensor_timeouts"], f["runs_failed"], f["runs_succeeded"]) == (1, 1, 0)
    m, trace = run_traced(scenario(sensed("poke", ", timeout: 30m, soft_fail: true"), late="2h"))
    assert (H + 2400, "etl", "task skipped load", 1) in trace
    f = figures(m)
    assert (f["sensor_timeouts"], f["runs_failed"], f["runs_succeeded"]) == (1, 0, 1)


def test_a_sensor_killed_by_dagrun_timeout_counts_only_what_it_did() -> None:
    # data 2h late, pokes every 10m from 1h; dagrun_timeout 25m kills the run at 1h25m: pokes at
    # 1h, 1h10m, 1h20m were made (3) and the slot was held 1,500 s, not the 40m it would have
    text = scenario(sensed("poke", ", timeout: 30m"), late="2h").replace(
        "schedule: every 1h,", "schedule: every 1h, dagrun_timeout: 25m,"
    )
    m, _ = run_traced(text)
    f = figures(m)
    assert (f["sensor_pokes"], f["sensor_slot_s"], f["runs_timed_out"], f["sensor_timeouts"]) == (3, 1500, 1, 0)


def test_poke_arithmetic_ties_go_to_the_data() -> None:
    sensor = SensorSpec(poke_interval=600, timeout=1800)
    assert poke_outcome(sensor, 0, 0, 1500) == ("success", 1800)  # ceil(1500/600) = 3 pokes later
    assert poke_outcome(sensor, 0, 0, 2400) == ("success", 2400)  # poke 4 at 2400 finds it first
    assert poke_outcome(sensor, 0, 0, 2401) == ("timeout", 2400)  # poke 4: 2400 > 1800, nothing


def test_late_data_as_a_distribution_gives_the_geometric_wait() -> None:
    # the data lands L ~ exponential(mean 20m) after the interval ends; the poke at k x 10m finds
    # it once k >= L / 10m, so the wait is 10m x ceil(L / 10m) with mean 10m / (1 - e^-0.5)
    # = 1525.4 s (sd 1188 s, over 1000 runs 37.6 s); the run adds load's 60 s
    text = scenario(sensed("poke"), duration="1000.9h", late="{dist: exponential, mean: 20m}")
    m, _ = run_traced(text)
    expected = 600 / (1 - math.exp(-0.5)) + 60
    assert figures(m)["runs_succeeded"] == 1000
    assert figures(m)["run_duration_mean_s"] == pytest.approx(expected, abs=4 * 37.6)


def datasets(consumer: str = "schedule_on: [raw]", extra: str = "") -> str:
    return (
        "name: chain\narchitecture:\n  name: chain\n  nodes:\n"
        "    src: {kind: source, interarrival: 10m}\n"
        "    producer: {kind: airflow_dag, schedule: every 1h, outlets: [raw], tasks: {make: {duration: 10m}}}\n"
        f"    consumer: {{kind: airflow_dag, {consumer}, tasks: {{use: {{duration: 20m}}}}}}\n"
        f"    done: {{kind: sink}}\n{extra}"
        "  edges: [src -> producer, producer -> consumer, consumer -> done]\nduration: 2.9h\n"
    )


def test_a_dataset_update_triggers_the_consumer_dag() -> None:
    # producer run 1 [0, 1h) ends at 1h10m and lands its 5 messages in consumer; the update of
    # raw queues consumer's run for [0, 1h) at 1h10m; use 1h10m..1h30m.  Run 2: 2h10m..2h30m.
    # Consumer: run 1200 s, freshness 1h30m - 1h = 1800 s, oldest data 1h30m = 5400 s old
    m, trace = run_traced(datasets())
    assert [(t, e) for t, n, e, k in trace if n == "consumer" and e.startswith(("run s", "task start"))] == [
        (H + 600, "run scheduled"), (H + 600, "run start"), (H + 600, "task start use"),
        (2 * H + 600, "run scheduled"), (2 * H + 600, "run start"), (2 * H + 600, "task start use"),
    ]  # fmt: skip
    f = m.nodes["consumer"].figures(m.network.window)
    assert (f["run_duration_mean_s"], f["freshness_mean_s"], f["oldest_age_mean_s"]) == (1200, 1800, 5400)
    assert m.nodes["done"].completed == 5 + 6  # arrivals 10m..50m, then 1h..1h50m


def test_a_late_producer_makes_the_consumer_late() -> None:
    # the producer's scheduler is down 0.5h..1.75h: its run 1 starts at 1.75h and ends 1h55m, so
    # consumer run 1 runs 1h55m..2h15m: freshness 2h15m - 1h = 4500 s instead of 1800 s
    late, _ = run_traced(datasets() + "faults:\n  - {node: producer, at: 0.5h, for: 1.25h}\n")
    first = next(r for r in late.nodes["consumer"].extra()["runs"] if r["run"] == 1)
    assert (first["started_s"], first["ended_s"]) == (1.75 * H + 600, 1.75 * H + 1800)
    assert first["ended_s"] - first["interval_end_s"] == 4500


def waiting_on(mode: str, dataset: str = "raw") -> str:
    """An hourly DAG whose sensor waits for the producer's update of `dataset` (every 3m)."""
    sensor = f"{{mode: {mode}, poke_interval: 3m, dataset: {dataset}}}"
    return datasets().replace(
        "    consumer: {kind: airflow_dag, schedule_on: [raw], tasks: {use: {duration: 20m}}}",
        f"    consumer: {{kind: airflow_dag, schedule: every 1h, tasks: {{wait: {{sensor: {sensor}}}, "
        "use: {duration: 1m, depends_on: [wait]}}}",
    )


def test_a_sensor_waits_for_a_dataset_update() -> None:
    # the producer's run [0, 1h) updates raw at 1h10m.  consumer's run [0, 1h) pokes at 1h, 1h03m,
    # .., 1h09m (nothing), 1h12m (found: updated up to 1h); use 1h12m..1h13m: the run takes 780 s.
    # Both modes find it at the same poke; poke mode held the slot 720 s, reschedule 0 s
    for mode, held in (("poke", 720), ("reschedule", 0)):
        m, trace = run_traced(waiting_on(mode))
        run1 = [(t, e) for t, n, e, k in trace if n == "consumer" and k == 1 and e.startswith("task s")]
        assert run1[-3:] == [(H + 720, "task success wait"), (H + 720, "task start use"), (H + 780, "task success use")]
        f = m.nodes["consumer"].figures(m.network.window)
        assert (f["sensor_pokes"], f["sensor_slot_s"]) == (2 * 5, 2 * held), mode  # runs 1 and 2 alike
    # the producer's scheduler down 0.5h..1.5h: its run ends 1h40m; the poke at 1h42m finds it
    late, _ = run_traced(waiting_on("poke") + "faults:\n  - {node: producer, at: 0.5h, for: 1h}\n")
    first = next(r for r in late.nodes["consumer"].extra()["runs"] if r["run"] == 1)
    assert first["ended_s"] == H + 42 * 60 + 60


def test_an_unknown_dataset_is_named_with_a_did_you_mean() -> None:
    with pytest.raises(flowsim.SpecError) as err:
        flowsim.load_scenario(datasets("schedule_on: [rawx]"))
    problem = err.value.problems[0]
    assert "no DAG updates dataset 'rawx'" in problem.message and "did you mean 'raw'?" in problem.hint
    assert (
        problem.field == "architecture.nodes.consumer.schedule_on[0]" and problem.line == 7
    )  # name, architecture, name, nodes, src, producer, consumer
    with pytest.raises(flowsim.SpecError, match="so the sensor only times out"):
        flowsim.load_scenario(waiting_on("poke", dataset="rwa"))
    with pytest.raises(flowsim.SpecError, match="either 'schedule' or 'schedule_on'"):
        flowsim.load_scenario(datasets("schedule: every 1h, schedule_on: [raw]"))


def test_the_fluid_engine_refuses_what_it_cannot_follow() -> None:
    problems = fluid_problems(flowsim.load_scenario(scenario(sensed("poke"))))
    assert problems == [
        "node 'etl' (kind 'airflow_dag'): the fluid engine follows runs as mean flows, not tasks.wait.sensor "
        "(a sensor's pokes): run it on the event engine"
    ]
    assert "schedule_on" in fluid_problems(flowsim.load_scenario(datasets()))[0]
    assert "worker_slots" in fluid_problems(flowsim.load_scenario(scenario("t: {}", airflow="{worker_slots: 4}")))[0]


def test_a_dag_on_two_datasets_waits_for_both() -> None:
    # pa (hourly, 10m) updates a at 1h10m for [0, 1h) and at 2h10m for [1h, 2h); pb (every 2h, 20m)
    # updates b at 2h20m for [0, 2h).  consumer runs once both were updated: at 2h20m, for the
    # interval spanning them, [0, 2h), on all that landed: 5 + 6 (pa's runs) + 11 (pb's) = 22
    text = (
        "name: two\narchitecture:\n  name: two\n  nodes:\n"
        "    src: {kind: source, interarrival: 10m, routing: fanout}\n"
        "    pa: {kind: airflow_dag, schedule: every 1h, outlets: [a], tasks: {t: {duration: 10m}}}\n"
        "    pb: {kind: airflow_dag, schedule: every 2h, outlets: [b], tasks: {t: {duration: 20m}}}\n"
        "    consumer: {kind: airflow_dag, schedule_on: [a, b], tasks: {use: {duration: 5m}}}\n"
        "    done: {kind: sink}\n"
        "  edges: [src -> pa, src -> pb, pa -> consumer, pb -> consumer, consumer -> done]\nduration: 2.5h\n"
    )
    m, _ = run_traced(text)
    runs = m.nodes["consumer"].extra()["runs"]
    assert [(r["interval_start_s"], r["interval_end_s"], r["started_s"], r["messages"]) for r in runs] == [
        (0.0, 2 * H, 2 * H + 1200, 22)
    ]


def test_the_same_seed_gives_the_same_branches_and_late_data() -> None:
    # the branch draws and the sensors' lateness come from the DAG's own named streams
    sensor = "wait: {sensor: {poke_interval: 5m, data_late_by: {dist: exponential, mean: 15m}}}"
    text = scenario(
        sensor + ", pick: {duration: 1m, depends_on: [wait], branch: {x: 0.5, y: 0.5}}, "
        "x: {duration: 1m, depends_on: [pick]}, y: {duration: 2m, depends_on: [pick]}",
        duration="50.5h",
    )
    first, second = run_traced(text)[1], run_traced(text)[1]
    assert first == second and sum("-> x" in e for _, _, e, _ in first) not in (0, 50)


def test_the_fluid_engine_refuses_priorities_it_cannot_order() -> None:
    # the fluid engine has no line of tries waiting for slots, so a priority it could not honour
    # is refused by name rather than dropped
    text = scenario("t: {priority_weight: 5}")
    assert "tasks.t.priority_weight" in fluid_problems(flowsim.load_scenario(text))[0]
    assert fluid_problems(flowsim.load_scenario(scenario("t: {}"))) == []


def test_an_sla_on_a_dataset_triggered_dag_is_refused() -> None:
    # Airflow: "Manually-triggered tasks and tasks in event-driven DAGs will not be checked for an
    # SLA miss": an sla there would count misses Airflow never reports
    with pytest.raises(flowsim.SpecError) as err:
        flowsim.load_scenario(datasets("schedule_on: [raw], sla: 5m"))
    problem = err.value.problems[0]
    assert "checks no SLA on a dataset-triggered DAG" in problem.message and problem.line == 7


def test_a_dag_whose_first_interval_closes_after_the_run_is_warned() -> None:
    # @daily: the first data interval [00:00, 24:00) is run at 24:00, after a 6 h run ends
    text = (
        "name: d\nduration: 6h\nseed: 1\narchitecture:\n  name: d\n  nodes:\n"
        "    src: {kind: source, rate: 1/s}\n"
        "    dag: {kind: airflow_dag, schedule: '@daily', tasks: {load: {duration: 5m}}}\n"
        "    done: {kind: sink}\n  edges: [src -> dag, dag -> done]\n"
    )
    warnings = flowsim.analyze_scenario(flowsim.load_scenario(text)).warnings
    assert any(w.startswith("'dag' runs no DAG run: its first data interval closes at 24h") for w in warnings)
    hourly = flowsim.analyze_scenario(flowsim.load_scenario(text.replace("'@daily'", "'@hourly'"))).warnings
    assert not any("runs no DAG run" in w for w in hourly)
