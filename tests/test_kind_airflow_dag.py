"""Exact event traces of the `airflow_dag` kind on tiny deterministic DAGs, and its figures.

Every model uses constant durations (failure_rate 1 where a try must fail), so each trace is
worked out by hand in the comments.  Schedules are `every 1h` from t = 0: run k covers the data
interval [(k-1)h, kh) and is scheduled at kh.
"""

from __future__ import annotations

import textwrap

import pytest

import flowsim
from flowsim.engine.model import Model
from helpers import run_traced, scenario_yaml, traced_events

H = 3600.0


def model(dag: str, duration: str = "5h", extra: str = "", source: str = "interarrival: 10m") -> Model:
    dag_lines = textwrap.indent(textwrap.dedent(dag).strip(), "  ")
    lost = "lost: {kind: sink}\n" if "dead_letter" in dag else ""
    nodes = f"src: {{kind: source, {source}}}\netl:\n  kind: airflow_dag\n{dag_lines}\ndone: {{kind: sink}}\n{lost}"
    return run_traced(scenario_yaml(nodes, "[src -> etl, etl -> done]", duration, extra))[0]


def dag_events(m: Model) -> list[tuple[float, str, int]]:
    return [(t, event, key) for t, _, event, key in traced_events(m, {"etl"}, digits=6)]


def test_tasks_run_in_depends_on_order() -> None:
    # diamond: extract -> (clean 10m, enrich 20m) -> publish; publish waits for the slower branch
    m = model(
        """
        schedule: every 1h
        tasks:
          publish: {duration: 5m, depends_on: [clean, enrich]}
          clean: {duration: 10m, depends_on: [extract]}
          enrich: {duration: 20m, depends_on: [extract]}
          extract: {duration: 1m}
        """,
        duration="1.5h",
    )
    assert dag_events(m) == [
        (H, "run scheduled", 1),
        (H, "run start", 1),
        (H, "task start extract", 1),
        (H + 60, "task success extract", 1),
        (H + 60, "task start clean", 1),
        (H + 60, "task start enrich", 1),
        (H + 660, "task success clean", 1),
        (H + 1260, "task success enrich", 1),
        (H + 1260, "task start publish", 1),
        (H + 1560, "task success publish", 1),
        (H + 1560, "run end", 1),
    ]
    # one item for the interval [0, 1h): arrivals at 10m..50m = 5 messages, born at the interval start
    assert m.nodes["done"].completed == 5 and list(m.nodes["done"].latencies) == [H + 1560]  # type: ignore[attr-defined]


def test_retry_timeline_with_exponential_backoff_capped() -> None:
    # tries at 1h, +1m fail; waits 1m, 2m, then 4m capped to 3m; the 4th try fails: out of retries
    m = model(
        """
        schedule: every 1h
        dead_letter: lost
        tasks:
          load: {duration: 1m, failure_rate: 1.0, retries: 3, retry_delay: 1m,
                 retry_exponential_backoff: true, max_retry_delay: 3m}
        """,
        duration="1.5h",
    )
    assert dag_events(m) == [
        (H, "run scheduled", 1),
        (H, "run start", 1),
        (H, "task start load", 1),
        (H + 60, "task fail load", 1),
        (H + 60, "task retry load in 60s", 1),
        (H + 120, "task start load", 1),
        (H + 180, "task fail load", 1),
        (H + 180, "task retry load in 120s", 1),
        (H + 300, "task start load", 1),
        (H + 360, "task fail load", 1),
        (H + 360, "task retry load in 180s", 1),
        (H + 540, "task start load", 1),
        (H + 600, "task fail load", 1),
        (H + 600, "task out of retries load", 1),
        (H + 600, "run failed", 1),
    ]
    f = m.nodes["etl"].figures(m.network.window)
    assert (f["retries"], f["failed_attempts"], f["runs_failed"], f["dead_lettered"]) == (3, 4, 1, 5)
    assert m.nodes["lost"].completed == 5 and m.nodes["done"].completed == 0


def test_fixed_retry_delay_and_execution_timeout() -> None:
    # a 10m try is killed at its 5m execution_timeout; retry after a fixed 1m; killed again
    m = model(
        """
        schedule: every 1h
        tasks:
          load: {duration: 10m, execution_timeout: 5m, retries: 1, retry_delay: 1m}
        """,
        duration="1.5h",
    )
    assert dag_events(m) == [
        (H, "run scheduled", 1),
        (H, "run start", 1),
        (H, "task start load", 1),
        (H + 300, "task timeout load", 1),
        (H + 300, "task retry load in 60s", 1),
        (H + 360, "task start load", 1),
        (H + 660, "task timeout load", 1),
        (H + 660, "task out of retries load", 1),
        (H + 660, "run failed", 1),
    ]
    assert m.nodes["etl"].figures(m.network.window)["task_timeouts"] == 2


def test_per_message_time_grows_with_the_interval() -> None:
    # 5 messages in [0, 1h) -> 1m + 5 x 30s = 3.5m; 6 messages in [1h, 2h) -> 4m
    m = model("schedule: every 1h\ntasks: {load: {duration: 1m, per_message: 30s}}", duration="2.5h")
    ends = [t for t, e, _ in dag_events(m) if e == "run end"]
    assert ends == [H + 210, 2 * H + 240]


def test_pool_limits_concurrent_tries() -> None:
    # three 10m tasks in a 2-slot pool: the third starts the moment the first frees its slot
    m = model(
        """
        schedule: every 1h
        pools: {db: 2}
        tasks:
          a: {duration: 10m, pool: db}
          b: {duration: 10m, pool: db}
          c: {duration: 10m, pool: db}
        """,
        duration="1.5h",
    )
    starts = [(t, e) for t, e, _ in dag_events(m) if e.startswith("task")]
    assert starts == [
        (H, "task start a"),
        (H, "task start b"),
        (H + 600, "task success a"),
        (H + 600, "task start c"),
        (H + 600, "task success b"),
        (H + 1200, "task success c"),
    ]


CATCHUP_DAG = """
schedule: every 1h
max_active_runs: 1
catchup: {catchup}
sla: 30m
tasks: {{load: {{duration: 20m}}}}
"""
DOWN = "faults:\n  - {node: etl, at: 1.5h, for: 3h}\n"


def test_catchup_runs_missed_intervals_back_to_back() -> None:
    # scheduler down 1.5h..4.5h: runs 2, 3, 4 (due at 2h, 3h, 4h) start at 4.5h, one after another
    m = model(CATCHUP_DAG.format(catchup="true"), duration="6h", extra=DOWN)
    runs = [(t, e, k) for t, e, k in dag_events(m) if e in ("run start", "run end", "run skipped")]
    assert runs == [
        (H, "run start", 1),
        (H + 1200, "run end", 1),
        (4.5 * H, "run start", 2),
        (4.5 * H + 1200, "run end", 2),
        (4.5 * H + 1200, "run start", 3),
        (4.5 * H + 2400, "run end", 3),
        (4.5 * H + 2400, "run start", 4),
        (4.5 * H + 3600, "run end", 4),
        (5.5 * H, "run start", 5),
        (5.5 * H + 1200, "run end", 5),
    ]
    f = m.nodes["etl"].figures(m.network.window)
    # run 5 (due 5h, SLA 5.5h) waits for run 4 until 5.5h and lands at 5h50m: it misses too
    assert (f["runs_succeeded"], f["runs_skipped"], f["sla_misses"], f["runs_queued_max"]) == (5, 0, 4, 3)
    assert f["dropped"] == 0


def test_catchup_off_skips_missed_intervals_and_drops_their_data() -> None:
    m = model(CATCHUP_DAG.format(catchup="false"), duration="6h", extra=DOWN)
    runs = [(t, e, k) for t, e, k in dag_events(m) if e in ("run start", "run end", "run skipped")]
    assert runs == [
        (H, "run start", 1),
        (H + 1200, "run end", 1),
        (4.5 * H, "run skipped", 2),
        (4.5 * H, "run skipped", 3),
        (4.5 * H, "run start", 4),
        (4.5 * H + 1200, "run end", 4),
        (5 * H, "run start", 5),
        (5 * H + 1200, "run end", 5),
    ]
    f = m.nodes["etl"].figures(m.network.window)
    assert (f["runs_succeeded"], f["runs_skipped"], f["sla_misses"]) == (3, 2, 1)
    assert f["messages_skipped"] == 12 and f["dropped"] == 12  # intervals [1h, 3h): 6 messages each


def test_sla_miss_and_freshness() -> None:
    # a 40m run against a 30m SLA: every run misses; freshness = 40m, oldest data 1h40m old
    m = model("schedule: every 1h\nsla: 30m\ntasks: {load: {duration: 40m}}", duration="3.9h")
    assert [(t, e) for t, e, k in dag_events(m) if e in ("run end", "sla miss")] == [
        (H + 2400, "sla miss"),
        (H + 2400, "run end"),
        (2 * H + 2400, "sla miss"),
        (2 * H + 2400, "run end"),
        (3 * H + 2400, "sla miss"),
        (3 * H + 2400, "run end"),
    ]
    f = m.nodes["etl"].figures(m.network.window)
    assert f["sla_misses"] == 3
    assert f["freshness_mean_s"] == pytest.approx(2400) and f["oldest_age_max_s"] == pytest.approx(H + 2400)
    assert f["run_duration_mean_s"] == pytest.approx(2400)


def test_messages_are_conserved_with_failures_and_skips() -> None:
    m = model(
        """
        schedule: every 30m
        max_active_runs: 1
        catchup: false
        tasks: {load: {duration: 45m, failure_rate: 0.3, retries: 1, retry_delay: 1m}}
        """,
        duration="2d",
        source="rate: 1/min",
        extra="warmup: 2h\n",
    )
    f = m.nodes["etl"].figures(m.network.window)
    balance = f["arrivals"] + f["inside_at_start"] - f["completed"] - f["dropped"] - f["dead_lettered"]
    assert balance == f["inside_at_end"]
    assert f["runs_skipped"] > 0 and f["runs_failed"] > 0 and f["completed"] > 0


@pytest.mark.parametrize(
    ("dag", "message"),
    [
        ("tasks: {a: {depends_on: [b]}}", "task 'a' depends on unknown task 'b'"),
        ("tasks: {a: {depends_on: [b]}, b: {depends_on: [a]}}", "form a cycle: a, b"),
        ("tasks: {a: {pool: db}}", "task 'a' uses unknown pool 'db'"),
        ("pools: {db: 0}\ntasks: {a: {pool: db}}", "pool 'db' needs at least 1 slot"),
        ("tasks: {}", "needs at least one task"),
        ("schedule: every day\ntasks: {a: {}}", "cannot read 'day' as a duration"),
    ],
)
def test_bad_dags_are_refused(dag: str, message: str) -> None:
    with pytest.raises(Exception, match=message.replace("(", r"\(")):
        model(dag)


def test_analytic_view_sees_one_item_per_run() -> None:
    config = flowsim.load_scenario(
        "name: a\narchitecture: {name: a, nodes: {src: {kind: source, rate: 1/s}, "
        "etl: {kind: airflow_dag, schedule: '@hourly'}, done: {kind: sink}}, edges: [src -> etl, etl -> done]}\n"
        "duration: 1h\n"
    ).arch.nodes["etl"]
    assert config.external_rate() == pytest.approx(1 / H) and config.pass_fraction() == 0.0
