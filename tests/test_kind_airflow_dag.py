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
from flowsim.nodes._airflow_parts import TaskSpec
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
    # tries at 1h, +1m fail.  Airflow draws the wait after try k in [m_k, 2 m_k), m_k = 1m x 2^(k-1),
    # then caps it at max_retry_delay 3m: w1 in [60, 120), w2 in [120, 180] (a draw of 180 or
    # more is capped), w3 = 180 (m_3 = 240 > 180: always capped).  The 4th try fails: out of retries.
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
    events = dag_events(m)
    waits = [float(e.split(" in ")[1].rstrip("s")) for _, e, _ in events if e.startswith("task retry")]
    w1, w2, w3 = waits
    assert 60 <= w1 < 120 and 120 <= w2 <= 180 and w3 == 180
    assert all(w == int(w) for w in waits)  # Airflow's waits are whole seconds
    t2 = H + 60 + w1  # second try starts after the first wait
    t3 = t2 + 60 + w2
    t4 = t3 + 60 + w3
    assert events == [
        (H, "run scheduled", 1),
        (H, "run start", 1),
        (H, "task start load", 1),
        (H + 60, "task fail load", 1),
        (H + 60, f"task retry load in {w1:g}s", 1),
        (t2, "task start load", 1),
        (t2 + 60, "task fail load", 1),
        (t2 + 60, f"task retry load in {w2:g}s", 1),
        (t3, "task start load", 1),
        (t3 + 60, "task fail load", 1),
        (t3 + 60, "task retry load in 180s", 1),
        (t4, "task start load", 1),
        (t4 + 60, "task fail load", 1),
        (t4 + 60, "task out of retries load", 1),
        (t4 + 60, "run failed", 1),
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
    # three 10m tasks in a 2-slot pool: the third starts the moment the first frees its slot (the
    # scheduler's loop at that instant)
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
        (H + 600, "task success b"),
        (H + 600, "task start c"),  # queued by the scheduler loop after all that ends at 1h10m
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


def test_catchup_starts_the_missed_runs_together_up_to_max_active_runs() -> None:
    # Airflow's default max_active_runs is 16: after the outage (1.5h..4.5h) the three missed runs
    # start at once, each 20m, all landing at 4h50m; run 5 is due at 5h
    m = model(CATCHUP_DAG.format(catchup="true").replace("max_active_runs: 1\n", ""), duration="6h", extra=DOWN)
    runs = [(t, e, k) for t, e, k in dag_events(m) if e in ("run start", "run end")]
    assert sorted(runs[2:8]) == sorted([(4.5 * H, "run start", k) for k in (2, 3, 4)] +
                                       [(4.5 * H + 1200, "run end", k) for k in (2, 3, 4)])  # fmt: skip
    assert runs[8:] == [(5 * H, "run start", 5), (5 * H + 1200, "run end", 5)]


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
    # SLA misses: run 4 (due 4h, deadline 4.5h) lands at 4h50m, and the 2 skipped intervals' data
    # never lands at all: 1 + 2 = 3
    assert (f["runs_succeeded"], f["runs_skipped"], f["sla_misses"]) == (3, 2, 3)
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


def test_staleness_is_the_time_weighted_age_of_the_newest_landed_data() -> None:
    # hourly, a 10m task, 6 h: runs for [k-1 h, k h) land at k h + 10m (k = 1 .. 5; the sixth
    # would land after the end).  The newest data's age is a sawtooth from 600 s (just landed) to
    # 4,200 s (just before the next landing), from the first landing at 4,200 s to the end at
    # 21,600 s: four full teeth of 3,600 s x (600 + 4,200) / 2 and a last one of 3,000 s x
    # (600 + 3,600) / 2, so the mean is (4 x 8,640,000 + 6,300,000) / 17,400 = 2,348.3 s.  The
    # landing lag (freshness) is 600 s at every landing: sampled at the landings, it never sees
    # the 4,200 s the warehouse reads just before one.
    m = model("schedule: '@hourly'\ntasks: {load: {duration: 10m}}", duration="6h")
    f = m.nodes["etl"].figures(m.network.window)
    assert f["freshness_mean_s"] == pytest.approx(600) and f["freshness_max_s"] == pytest.approx(600)
    assert f["staleness_mean_s"] == pytest.approx((4 * 3600 * 2400 + 3000 * 2100) / 17_400)
    assert f["staleness_max_s"] == pytest.approx(4200)


def test_a_dag_that_never_lands_has_no_freshness_figures() -> None:
    # the first interval closes at 1h, its 2h task would end at 3h, the run ends at 2h: nothing
    # landed, so the ages are "no data" (an SLO on them fails saying so), not 0 s (which passed)
    m = model("schedule: '@hourly'\ntasks: {load: {duration: 2h}}", duration="2h")
    f = m.nodes["etl"].figures(m.network.window)
    for name in ("freshness_max_s", "freshness_mean_s", "oldest_age_max_s", "staleness_mean_s", "staleness_max_s",
                 "run_duration_max_s"):  # fmt: skip
        assert f[name] != f[name], name  # NaN


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


BRANCHES = """
schedule: every 1h
{extra}
tasks:
  a: {{duration: 10m, failure_rate: 1.0}}
  c: {{duration: 5m, depends_on: [a]}}
  b1: {{duration: 11m}}
  b2: {{duration: 60m, depends_on: [b1]}}
"""


def test_a_failed_task_fails_only_its_downstream_tasks() -> None:
    # a fails at 1h10m: c (downstream) is upstream_failed, but the independent branch b1 -> b2 runs
    # on (Airflow's all_success rule): b1 ends at 1h11m, b2 at 2h11m, and the run fails then
    m = model(BRANCHES.format(extra=""), duration="2.5h")
    assert [(t, e) for t, e, k in dag_events(m) if k == 1] == [
        (H, "run scheduled"),
        (H, "run start"),
        (H, "task start a"),
        (H, "task start b1"),
        (H + 600, "task fail a"),
        (H + 600, "task out of retries a"),
        (H + 600, "task upstream_failed c"),
        (H + 660, "task success b1"),
        (H + 660, "task start b2"),
        (H + 4260, "task success b2"),
        (H + 4260, "run failed"),
    ]
    f = m.nodes["etl"].figures(m.network.window)
    # tries by 2.5h: run 1 a, b1, b2; run 2 (from 2h) a, b1 and b2 from 2h11m: 6.  Before, the run
    # failed at 1h11m after 2 tries and run 1's b2 never ran
    assert f["task_tries"] == 3 + 3 and f["runs_failed"] == 1


def test_fail_fast_kills_the_other_tries_and_fails_the_run_at_once() -> None:
    # fail_fast (Airflow's fail_stop): a fails at 1h10m, b1 (running until 1h11m) is killed, the run fails
    m = model(BRANCHES.format(extra="fail_fast: true"), duration="1.5h")
    assert [(t, e) for t, e, k in dag_events(m) if k == 1][4:] == [
        (H + 600, "task fail a"),
        (H + 600, "task out of retries a"),
        (H + 600, "task killed b1"),
        (H + 600, "run failed"),
    ]
    f = m.nodes["etl"].figures(m.network.window)
    assert f["task_tries"] == 2 and f["runs_failed"] == 1


def test_backoff_waits_follow_airflows_distribution() -> None:
    # 4 retries, retry_delay 5m, max_retry_delay 30m.  Airflow: after try k the wait is uniform over
    # the whole seconds [m_k, 2 m_k), m_k = 300 x 2^(k-1), capped at 1800:
    #   k=1: 300..599 (mean 449.5)   k=2: 600..1199 (mean 899.5)
    #   k=3: 1200..2399, half of them capped: 0.5 x 1499.5 + 0.5 x 1800 = 1649.75
    #   k=4: 2400..4799, all capped: 1800.        Total mean 4798.75 s (the shortest waits: 3900 s)
    spec = TaskSpec(retries=4, retry_delay=300, retry_exponential_backoff=True, max_retry_delay=1800)
    assert [spec.mean_retry_wait(k) for k in (1, 2, 3, 4)] == [449.5, 899.5, 1649.75, 1800]
    assert (spec.retry_wait(1, 0.0), spec.retry_wait(1, 0.9999), spec.retry_wait(3, 0.49)) == (300, 599, 1788)
    m = model(
        """
        schedule: every 3h
        tasks:
          load: {duration: 1s, failure_rate: 1.0, retries: 4, retry_delay: 5m,
                 retry_exponential_backoff: true, max_retry_delay: 30m}
        """,
        duration="601h",
        source="interarrival: 1h",
    )
    waits: dict[int, list[float]] = {}
    per_run: dict[int, list[float]] = {}
    for _, event, key in dag_events(m):
        if event.startswith("task retry"):
            per_run.setdefault(key, []).append(float(event.split(" in ")[1].rstrip("s")))
    runs = [w for w in per_run.values() if len(w) == 4]
    assert len(runs) == 200  # a run every 3h for 600h, each out of retries after ~4,800 s < 3h
    for k in (1, 2, 3, 4):
        waits[k] = [w[k - 1] for w in runs]
    assert min(waits[1]) >= 300 and max(waits[1]) <= 599 and min(waits[2]) >= 600 and max(waits[2]) <= 1199
    assert set(waits[4]) == {1800.0}
    # means within 4 standard errors (uniform sd = range / sqrt(12); 200 draws)
    assert abs(sum(waits[1]) / 200 - 449.5) < 4 * 86.6 / 200**0.5
    assert abs(sum(waits[2]) / 200 - 899.5) < 4 * 173.2 / 200**0.5
    capped = sum(w == 1800 for w in waits[3]) / 200  # P(draw >= 1800) = 600/1200 = 0.5, sd 0.035
    assert abs(capped - 0.5) < 4 * 0.5 / 200**0.5
    total = sum(map(sum, runs)) / 200
    assert abs(total - 4798.75) < 4 * (86.6**2 + 173.2**2 + 260**2) ** 0.5 / 200**0.5  # k=3 sd <= 260


def test_failed_runs_miss_their_sla_and_fail_an_slo() -> None:
    # every run fails (one try, failure_rate 1) 10m after it starts; the SLA is 30m.  No data ever
    # lands, so each of the 3 runs (due 1h, 2h, 3h) is an SLA miss: 3, and sla_misses == 0 fails
    text = scenario_yaml(
        "src: {kind: source, interarrival: 10m}\n"
        "etl: {kind: airflow_dag, schedule: every 1h, sla: 30m, tasks: {load: {duration: 10m, failure_rate: 1.0}}}\n"
        "done: {kind: sink}",
        "[src -> etl, etl -> done]",
        "3.5h",
        "slos:\n  - nodes.etl.kind_figures.sla_misses == 0\n",
    )
    result = flowsim.simulate(flowsim.load_scenario(text))
    figures = result.nodes["etl"].kind_figures
    assert (figures["runs_failed"], figures["sla_misses"]) == (3, 3)
    assert not result.passed()
    assert [r["sla_missed"] for r in result.extra["etl"][0]["runs"]] == [True, True, True]


def test_standard_timeouts_and_downtime_figures() -> None:
    # a 10m try killed at its 5m execution_timeout, every hour; the scheduler is down 1.5h..4.5h
    # (runs due 2h, 3h, 4h start back to back from 4.5h).  Runs at 1h, 4.5h, 4.5h+5m, 4.5h+10m,
    # 5h: 5 timeouts by 6h; downtime 3h = 10,800 s
    m = model(
        "schedule: every 1h\ntasks: {load: {duration: 10m, execution_timeout: 5m}}",
        duration="6h",
        extra="faults:\n  - {node: etl, at: 1.5h, for: 3h}\n",
    )
    f = m.nodes["etl"].figures(m.network.window)
    assert (f["timeouts"], f["task_timeouts"], f["downtime_s"]) == (5, 5, 10800)


def test_an_offset_cron_starts_its_first_interval_at_its_first_firing() -> None:
    # `10 * * * *` from t = 0: Airflow's first data interval is [00:10, 01:10), run at 01:10 (no
    # short [0, 00:10) interval).  The messages at 10m..60m (and none before) go with run 1: 6.
    m = model("schedule: '10 * * * *'\ntasks: {load: {duration: 1m}}", duration="2.5h")
    assert [(t, e, k) for t, e, k in dag_events(m) if e.startswith("run")] == [
        (4200, "run scheduled", 1),
        (4200, "run start", 1),
        (4260, "run end", 1),
        (7800, "run scheduled", 2),
        (7800, "run start", 2),
        (7860, "run end", 2),
    ]
    runs = m.nodes["etl"].extra()["runs"]
    assert [(r["interval_start_s"], r["interval_end_s"], r["messages"]) for r in runs] == [
        (600, 4200, 6),  # arrivals at 10m, 20m, ..., 60m
        (4200, 7800, 6),  # 70m..120m
    ]


def test_once_runs_a_single_empty_interval_at_the_start() -> None:
    # Airflow's @once: one run at the start date, data interval [start, start]: no landed data
    m = model("schedule: '@once'\ntasks: {load: {duration: 1m}}", duration="3h")
    assert [(t, e) for t, e, _ in dag_events(m) if e.startswith("run")] == [
        (0, "run scheduled"),
        (0, "run start"),
        (60, "run end"),
    ]
