"""The Airflow installation's scheduler: outages of the whole installation, executor worker slots,
task start-up latency and the priority order of queued tries.

Airflow 2's documented behaviour: the scheduler creates runs and queues task instances for every
DAG, so while it is down nothing of any DAG is queued; the executor runs at most its slots
(Celery `worker_concurrency` x workers); the scheduler's `_executable_task_instances_to_queued`
orders ready task instances by effective priority_weight (descending), then logical date.  Every
model has constant durations; each figure is worked out by hand beside its assertion.  Schedules
are `every 1h` from t = 0: run 1 covers [0, 1h) and starts at 1h.
"""

from __future__ import annotations

import pytest

import flowsim
from flowsim.errors import SpecError
from flowsim.nodes._airflow_parts import TaskSpec, effective_weights
from helpers import dags_scenario, node_figures, run_traced

H = 3600.0


scenario = dags_scenario
figures = node_figures


def starts(trace: list[tuple[float, str, str, int]]) -> list[tuple[float, str, str]]:
    return [(t, node, e.removeprefix("task start ")) for t, node, e, _ in trace if e.startswith("task start")]


def test_a_scheduler_outage_stops_every_dag_of_the_installation() -> None:
    # the installation's scheduler is down 0.5h..1.5h.  Both DAGs' runs for [0, 1h) are due at 1h
    # but start only at 1.5h; each 10m task ends at 1.5h + 600 s.  downtime_s = 3600 s on each
    # DAG; freshness (landing - interval end) = 1.5h + 600 - 1h = 2400 s
    task = "tasks: {load: {duration: 10m}}"
    faults = "faults:\n  - {node: airflow, at: 0.5h, for: 1h}\n"
    m, trace = run_traced(scenario({"a": task, "b": task}, extra=faults))
    assert starts(trace) == [(1.5 * H, "a", "load"), (1.5 * H, "b", "load")]
    for dag in ("a", "b"):
        assert figures(m, dag)["downtime_s"] == 3600
        assert figures(m, dag)["freshness_mean_s"] == 2400
        assert figures(m, dag)["run_duration_mean_s"] == 600  # counted from the run's start at 1.5h


def test_no_task_is_queued_while_the_scheduler_is_down() -> None:
    # extract 10m runs 1h..1h10m (a try already running finishes); the scheduler is down
    # 1h05m..1h30m, so load, ready at 1h10m, is queued only at 1h30m, in both DAGs; runs 2400 s
    tasks = "tasks: {extract: {duration: 10m}, load: {duration: 10m, depends_on: [extract]}}"
    faults = "faults:\n  - {node: airflow, at: 65m, for: 25m}\n"
    m, trace = run_traced(scenario({"a": tasks, "b": tasks}, extra=faults))
    assert starts(trace) == [(H, "a", "extract"), (H, "b", "extract"), (1.5 * H, "a", "load"), (1.5 * H, "b", "load")]
    assert figures(m, "a")["run_duration_mean_s"] == figures(m, "b")["run_duration_mean_s"] == 2400
    assert figures(m, "a")["downtime_s"] == 1500


def test_a_fault_on_airflow_needs_a_dag() -> None:
    text = "name: x\narchitecture:\n  name: x\n  nodes:\n    src: {kind: source, rate: 1/s}\n    out: {kind: sink}\n"
    text += "  edges: [src -> out]\nduration: 1h\nfaults:\n  - {node: airflow, at: 1m, for: 1m}\n"
    with pytest.raises(SpecError) as err:
        flowsim.load_scenario(text)
    problem = err.value.problems[0]
    assert "needs an airflow_dag" in problem.message and problem.line == 10


def test_worker_slots_are_shared_by_every_dag() -> None:
    # worker_slots 2 (e.g. one Celery worker, worker_concurrency 2): a's two 10m tasks take both
    # at 1h; b's wait and run 1h10m..1h20m.  a: 600 s, b: 1200 s
    two = "tasks: {x: {duration: 10m}, y: {duration: 10m}}"
    m, trace = run_traced(scenario({"a": two, "b": two}, airflow="{worker_slots: 2}"))
    assert starts(trace) == [(H, "a", "x"), (H, "a", "y"), (H + 600, "b", "x"), (H + 600, "b", "y")]
    assert (figures(m, "a")["run_duration_mean_s"], figures(m, "b")["run_duration_mean_s"]) == (600, 1200)


def test_task_startup_is_paid_by_every_try_holding_its_slot() -> None:
    # task_startup 30 s (scheduler loop + pod start), worker_slots 2, four 10m tasks: tries 1, 2
    # hold the slots from 1h and work 1h00m30s..1h10m30s; tries 3, 4 start at 1h + 630 s and end
    # at 1h + 1260 s: the run takes 1260 s (without start-up 1200 s)
    four = "tasks: {" + ", ".join(f"t{i}: {{duration: 10m}}" for i in range(4)) + "}"
    m, trace = run_traced(scenario({"a": four}, airflow="{worker_slots: 2, task_startup: 30s}"))
    assert [t for t, _, _ in starts(trace)] == [H, H, H + 630, H + 630]
    assert figures(m, "a")["run_duration_mean_s"] == 1260


def test_effective_weights_follow_airflows_weight_rules() -> None:
    # chain a -> b -> c, each priority_weight 1, and a lone d of weight 2:
    # downstream: a = 1 + 1 + 1 = 3, b = 2, c = 1; upstream: a = 1, b = 2, c = 3; absolute: 1 each
    def chain(rule: str) -> dict[str, TaskSpec]:
        return {
            "a": TaskSpec(weight_rule=rule),
            "b": TaskSpec(depends_on=["a"], weight_rule=rule),
            "c": TaskSpec(depends_on=["b"], weight_rule=rule),
            "d": TaskSpec(priority_weight=2, weight_rule=rule),
        }

    assert effective_weights(chain("downstream")) == {"a": 3, "b": 2, "c": 1, "d": 2}
    assert effective_weights(chain("upstream")) == {"a": 1, "b": 2, "c": 3, "d": 2}
    assert effective_weights(chain("absolute")) == {"a": 1, "b": 1, "c": 1, "d": 2}
    # a diamond counts each descendant once: top -> (l, r) -> end: 1 + 3 = 4
    diamond = {
        "top": TaskSpec(),
        "l": TaskSpec(depends_on=["top"]),
        "r": TaskSpec(depends_on=["top"]),
        "end": TaskSpec(depends_on=["l", "r"]),
    }
    assert effective_weights(diamond)["top"] == 4


CHAIN = (
    "a: {{duration: 10m, pool: p, weight_rule: {r}}}, b: {{duration: 10m, pool: p, depends_on: [a], weight_rule: {r}}},"
    " c: {{duration: 10m, pool: p, depends_on: [b], weight_rule: {r}}},"
    " d: {{duration: 10m, pool: p, priority_weight: 2, weight_rule: {r}}},"
    " e: {{duration: 10m, pool: p, weight_rule: absolute}}"
)


def test_priority_weight_orders_tries_competing_for_a_pool() -> None:
    # pool p has 1 slot.  downstream: a 3, b 2, c 1, d 2, e 1 (absolute).  1h: a(3) over d(2), e(1);
    # 1h10m: b(2) ties d(2), same run -> d was queued first; 1h20m: b(2) over e(1); 1h30m: e(1) ties
    # c(1) -> e queued first; 1h40m: c.  Order a, d, b, e, c
    dag = "pools: {p: 1}, tasks: {" + CHAIN.format(r="downstream") + "}"
    _, trace = run_traced(scenario({"x": dag}, duration="1.95h"))
    assert starts(trace) == [(H + 600 * i, "x", t) for i, t in enumerate("adbec")]
    # upstream: a 1, b 2, c 3, d 2, e 1.  1h: d(2); 1h10m: a(1) ties e(1) -> a queued first;
    # 1h20m: b(2) over e; 1h30m: c(3) over e; 1h40m: e.  Order d, a, b, c, e
    dag = "pools: {p: 1}, tasks: {" + CHAIN.format(r="upstream") + "}"
    _, trace = run_traced(scenario({"x": dag}, duration="1.95h"))
    assert starts(trace) == [(H + 600 * i, "x", t) for i, t in enumerate("dabce")]


def test_priority_orders_dags_due_at_the_same_instant() -> None:
    # both runs are due at 1h, a built first; the scheduler loop queues them together, so b's
    # load (priority_weight 5) takes the one slot first: b 1h..1h30m, a 1h30m..2h
    a = "pools: {db: 1}, tasks: {load: {duration: 30m, pool: db}}"
    b = "pools: {db: 1}, tasks: {load: {duration: 30m, pool: db, priority_weight: 5}}"
    m, trace = run_traced(scenario({"a": a, "b": b}, duration="2.1h"))
    assert starts(trace)[:2] == [(H, "b", "load"), (1.5 * H, "a", "load")]
    assert (figures(m, "a")["run_duration_mean_s"], figures(m, "b")["run_duration_mean_s"]) == (3600, 1800)


def test_an_older_run_goes_first_at_equal_weight() -> None:
    # the scheduler is down 0.5h..2.5h; b (hourly) then owes runs [0, 1h) and [1h, 2h), a (every
    # 2h) owes [0, 2h).  At 2.5h b's two runs are queued, then a's; at equal weight the logical
    # date orders them (the scheduler's ORDER BY), so a's run (date 0) goes before b's second
    # (date 1h) although queued after it: b1 2.5h, a1 2.5h + 10m, b2 2.5h + 20m on the 1-slot pool
    b = "pools: {p: 1}, tasks: {t: {duration: 10m, pool: p}}"
    a = "schedule: every 2h, pools: {p: 1}, tasks: {t: {duration: 10m, pool: p}}"
    text = scenario({"b": b, "a": a}, duration="3h", extra="faults:\n  - {node: airflow, at: 0.5h, for: 2h}\n")
    _, trace = run_traced(text.replace("schedule: every 1h, schedule: every 2h", "schedule: every 2h"))
    assert [(t, node, k) for t, node, e, k in trace if e == "task start t"] == [
        (2.5 * H, "b", 1),
        (2.5 * H + 600, "a", 1),
        (2.5 * H + 1200, "b", 2),
    ]


def test_the_fluid_engine_follows_the_installation_outage_and_startup() -> None:
    # the outage of the whole installation (0.5h..1.5h) is each DAG's downtime on the fluid engine
    # too, and task_startup 30 s lengthens the 10m task's run to 630 s on both engines
    task = "tasks: {load: {duration: 10m}}"
    faults = "faults:\n  - {node: airflow, at: 0.5h, for: 1h}\n"
    loaded = flowsim.load_scenario(scenario({"a": task, "b": task}, airflow="{task_startup: 30s}", extra=faults))
    for engine in ("fluid", "per_message"):
        result = flowsim.simulate(loaded, engine=engine)
        for dag in ("a", "b"):
            assert result.nodes[dag].downtime_s == 3600, engine
            assert result.nodes[dag].kind_figures["run_duration_mean_s"] == 630, engine


def test_the_scheduler_queues_ready_tries_at_its_loop_ticks() -> None:
    # scheduler_loop 1m: extract (10m30s) is queued at the 1h tick and ends at 1h10m30s; load is
    # ready then but queued at the next loop, 1h11m, and ends 1h21m: 1,260 s (1,230 s at once).
    # With task_startup 20 s as well: extract works 1h00m20s..1h10m50s, load is queued at 1h11m and
    # works 1h11m20s..1h21m20s: 1,280 s
    tasks = "tasks: {extract: {duration: 630s}, load: {duration: 10m, depends_on: [extract]}}"
    m, trace = run_traced(scenario({"a": tasks}, airflow="{scheduler_loop: 1m}"))
    assert starts(trace) == [(H, "a", "extract"), (H + 660, "a", "load")]
    assert figures(m, "a")["run_duration_mean_s"] == 1260
    m, _ = run_traced(scenario({"a": tasks}, airflow="{scheduler_loop: 1m, task_startup: 20s}"))
    assert figures(m, "a")["run_duration_mean_s"] == 1280
    m, _ = run_traced(scenario({"a": tasks}))
    assert figures(m, "a")["run_duration_mean_s"] == 1230


def test_the_fluid_engine_adds_half_a_scheduler_loop_per_try() -> None:
    # the fluid engine has no loop ticks: each try waits its mean, half a loop, to be queued:
    # 630 + 600 + 2 x 30 = 1,290 s (the event engine's exact figure above is 1,260 s)
    tasks = "tasks: {extract: {duration: 630s}, load: {duration: 10m, depends_on: [extract]}}"
    loaded = flowsim.load_scenario(scenario({"a": tasks}, airflow="{scheduler_loop: 1m}"))
    result = flowsim.simulate(loaded, engine="fluid")
    assert result.nodes["a"].kind_figures["run_duration_mean_s"] == 1290


def test_a_run_whose_last_task_ends_while_the_scheduler_is_down_ends_when_it_is_back() -> None:
    # the 10m task runs 1h..1h10m on its worker; the scheduler is down 1h05m..1h30m, so the run is
    # marked a success (and its data lands) only at 1h30m: run 1,800 s, freshness 1,800 s
    task = "tasks: {load: {duration: 10m}}"
    faults = "faults:\n  - {node: airflow, at: 65m, for: 25m}\n"
    m, trace = run_traced(scenario({"a": task}, extra=faults))
    assert [(t, e) for t, _, e, k in trace if k == 1 and e in ("task success load", "run end")] == [
        (H + 600, "task success load"),
        (1.5 * H, "run end"),
    ]
    assert figures(m, "a")["run_duration_mean_s"] == figures(m, "a")["freshness_mean_s"] == 1800
