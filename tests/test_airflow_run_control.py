"""Run semantics of `airflow_dag` as Airflow 2 has them: branching, dagrun_timeout,
depends_on_past / wait_for_downstream, and clearing a failed run.

Airflow's behaviour: a BranchPythonOperator follows the task ids it returns and skips the other
direct downstream tasks (skip_all_except); the trigger rules carry the skips on.  A run older
than `dagrun_timeout` is failed by the scheduler and its unfinished tasks end.  With
`depends_on_past` a task instance runs only once the same task of the previous run succeeded or
was skipped; `wait_for_downstream` also waits for that task's direct downstream tasks there.
Clearing a failed run sets it queued again, so it reruns on the data of its interval.  Every
model has constant durations; each figure is worked out by hand beside its assertion.  Runs are
`every 1h` from t = 0: run k covers [(k-1)h, kh) and starts at kh.
"""

from __future__ import annotations

import textwrap

import pytest

import flowsim
from flowsim.engine.model import Model
from helpers import run_traced, scenario_yaml

H = 3600.0


def model(dag: str, duration: str = "1.9h", extra: str = "") -> Model:
    body = textwrap.indent(textwrap.dedent(dag).strip(), "  ")
    nodes = f"src: {{kind: source, interarrival: 10m}}\netl:\n  kind: airflow_dag\n  schedule: every 1h\n{body}\n"
    nodes += "done: {kind: sink}" + ("\nlost: {kind: sink}" if "dead_letter" in dag else "")
    return run_traced(scenario_yaml(nodes, "[src -> etl, etl -> done]", duration, extra))[0]


def events(m: Model, run: int | None = 1) -> list[tuple[float, str]]:
    return [(t, e) for t, n, e, k in m.trace if n == "etl" and (run is None or k == run) and e != "run scheduled"]


def figures(m: Model) -> dict[str, float]:
    return m.nodes["etl"].figures(m.network.window)


BRANCH = """
dead_letter: lost
tasks:
  pick: {{duration: 1m, branch: {{left: {left}, right: {right}}}}}
  left: {{duration: 10m, depends_on: [pick]}}
  right: {{duration: 20m, depends_on: [pick]}}
  after_right: {{duration: 5m, depends_on: [right]}}
  join: {{duration: 1m, depends_on: [left, after_right], trigger_rule: none_failed_min_one_success}}
"""


def test_a_branch_follows_one_path_and_skips_the_other() -> None:
    # pick 1h..1h01m follows left (probability 1): right is skipped, after_right (all_success)
    # skipped in turn; left 1h01m..1h11m; join (none_failed_min_one_success: left succeeded, the
    # other upstream skipped) runs 1h11m..1h12m; the run succeeds in 720 s
    m = model(BRANCH.format(left=1, right=0))
    assert events(m) == [
        (H, "run start"),
        (H, "task start pick"),
        (H + 60, "task success pick"),
        (H + 60, "task branch pick -> left"),
        (H + 60, "task skipped right"),
        (H + 60, "task skipped after_right"),
        (H + 60, "task start left"),
        (H + 660, "task success left"),
        (H + 660, "task start join"),
        (H + 720, "task success join"),
        (H + 720, "run end"),
    ]
    assert figures(m)["run_duration_mean_s"] == 720
    # the other way: right 1h01m..1h21m, after_right ..1h26m, join ..1h27m: 1620 s
    m = model(BRANCH.format(left=0, right=1))
    assert figures(m)["run_duration_mean_s"] == 1620 and figures(m)["runs_succeeded"] == 1


def test_a_branch_draws_its_path_by_the_probabilities() -> None:
    # left with probability 0.3 over 400 runs: left runs in 0.3 x 400 = 120 of them, sd
    # sqrt(400 x 0.3 x 0.7) = 9.2; run durations are 720 s (left) or 1620 s (right), so the mean
    # duration is 720 p + 1620 (1 - p) = 1350 s at p = 0.3; within 4 sd of p: [0.208, 0.392]
    m = model(BRANCH.format(left=0.3, right=0.7), duration="400.9h")
    lefts = sum(e == "task branch pick -> left" for _, e in events(m, None))
    assert figures(m)["runs_succeeded"] == 400
    assert abs(lefts - 120) <= 4 * 9.2
    assert figures(m)["run_duration_mean_s"] == pytest.approx(720 * lefts / 400 + 1620 * (1 - lefts / 400))


def test_a_branch_must_name_a_downstream_task_and_sum_to_one() -> None:
    bad = BRANCH.format(left=1, right=0).replace("right: 0", "rigth: 0")
    with pytest.raises(flowsim.SpecError, match="names 'rigth', which is not downstream of it"):
        model(bad)
    with pytest.raises(flowsim.SpecError, match="sum to 1"):
        model(BRANCH.format(left=0.5, right=0.6))


def test_dagrun_timeout_fails_a_run_still_going() -> None:
    # extract 10m, then load 30m: at 1h20m (dagrun_timeout 20m after the 1h start) load is still
    # running: it is killed and the run fails; its 5 messages (arrivals at 10m..50m) go to lost
    m = model(
        """
        dagrun_timeout: 20m
        dead_letter: lost
        tasks:
          extract: {duration: 10m}
          load: {duration: 30m, depends_on: [extract]}
        """
    )
    assert events(m) == [
        (H, "run start"),
        (H, "task start extract"),
        (H + 600, "task success extract"),
        (H + 600, "task start load"),
        (H + 1200, "run timed out"),
        (H + 1200, "task killed load"),
        (H + 1200, "run failed"),
    ]
    f = figures(m)
    assert (f["runs_timed_out"], f["runs_failed"], f["dead_lettered"]) == (1, 1, 5)
    assert m.nodes["lost"].completed == 5


DEPENDS = """
max_active_runs: 2
tasks:
  t: {{duration: 90m, depends_on_past: {past}}}
"""


def test_depends_on_past_waits_for_the_previous_runs_task() -> None:
    # t lasts 90m: run 1's t 1h..2.5h.  Run 2 begins at 2h; with depends_on_past its t waits until
    # run 1's t succeeds at 2.5h and runs 2.5h..4h (2 h after the run began); without it, 2h..3.5h
    m = model(DEPENDS.format(past="true"), duration="4.1h")
    assert [(t, k) for t, n, e, k in m.trace if e == "task start t"] == [(H, 1), (2.5 * H, 2), (4 * H, 3)]
    m = model(DEPENDS.format(past="false"), duration="4.1h")
    assert [(t, k) for t, n, e, k in m.trace if e == "task start t"] == [(H, 1), (2 * H, 2), (3 * H, 3), (4 * H, 4)]


def test_wait_for_downstream_also_waits_for_the_tasks_after_it() -> None:
    # t 90m then u 30m.  Run 1: t 1h..2.5h, u 2.5h..3h.  Run 2 (begun 2h): with wait_for_downstream
    # its t waits for run 1's t and u: starts at 3h (with depends_on_past alone, at 2.5h)
    dag = """
    max_active_runs: 2
    tasks:
      t: {{duration: 90m, {flag}: true}}
      u: {{duration: 30m, depends_on: [t]}}
    """
    m = model(dag.format(flag="wait_for_downstream"), duration="3.2h")
    assert [(t, k) for t, n, e, k in m.trace if e == "task start t"] == [(H, 1), (3 * H, 2)]
    m = model(dag.format(flag="depends_on_past"), duration="3.2h")
    assert [(t, k) for t, n, e, k in m.trace if e == "task start t"] == [(H, 1), (2.5 * H, 2)]


def test_a_failed_past_blocks_the_next_run_until_its_timeout() -> None:
    # run 1's t fails (failure_rate 1, no retries) at 1h10m.  Run 2's t (depends_on_past) never
    # runs: the previous try failed, as in Airflow; dagrun_timeout 30m fails run 2 at 2.5h
    m = model(
        """
        dagrun_timeout: 30m
        dead_letter: lost
        tasks:
          t: {duration: 10m, failure_rate: 1.0, depends_on_past: true}
        """,
        duration="2.9h",
    )
    assert [(t, k) for t, n, e, k in m.trace if e == "task start t"] == [(H, 1)]
    assert [(t, k) for t, n, e, k in m.trace if e == "run timed out"] == [(2.5 * H, 2)]
    assert figures(m)["runs_failed"] == 2


CLEARED = """
dead_letter: lost
{clear}
tasks:
  load: {{duration: 10m, execution_timeout: 20m}}
"""
BROWNOUT = "faults:\n  - {node: etl, at: 0s, for: 1.5h, slowdown: 3}\n"


def test_a_cleared_failed_run_lands_late_instead_of_never() -> None:
    # a brownout (x3) until 1.5h makes run 1's 10m try take 30m > execution_timeout 20m: it fails
    # at 1h20m.  Cleared 30m later (1h50m) it runs again at full speed 1h50m..2h00m and lands its
    # 5 messages (arrivals 10m..50m): oldest data 2h old at landing, none dead-lettered
    m = model(CLEARED.format(clear="clear_failed_after: 30m"), duration="2.05h", extra=BROWNOUT)
    assert events(m) == [
        (H, "run start"),
        (H, "task start load"),
        (H + 1200, "task timeout load"),
        (H + 1200, "task out of retries load"),
        (H + 1200, "run failed, to be cleared"),
        (H + 3000, "run cleared"),
        (H + 3000, "run start"),
        (H + 3000, "task start load"),
        (H + 3600, "task success load"),
        (H + 3600, "run end"),
    ]
    f = figures(m)
    assert (f["runs_cleared"], f["runs_failed"], f["dead_lettered"], f["oldest_age_max_s"]) == (1, 0, 0, 7200)
    assert m.nodes["done"].completed == 5
    # without clearing the 5 messages are dead-lettered at 1h20m
    m = model(CLEARED.format(clear=""), duration="2.05h", extra=BROWNOUT)
    assert (figures(m)["runs_failed"], figures(m)["dead_lettered"]) == (1, 5)


def test_runs_held_by_depends_on_past_show_as_active_at_the_end() -> None:
    # hourly runs of a task that always fails and depends on its own past: run 1 fails it, its
    # all_done leaf still runs, so run 1 succeeds (Airflow's leaf-state rule); every later run waits
    # for task a's previous success, which never comes: 4 of the 5 runs in 6 h hang, 360 messages
    # each (1 every 10 s), now shown as active at the end (they were in no figure)
    text = scenario_yaml(
        """
        events: {kind: source, interarrival: 10s}
        etl: {kind: airflow_dag, schedule: '@hourly', tasks: {a: {duration: 5m, depends_on_past: true,
              failure_rate: 1.0}, b: {duration: 5m, depends_on: [a], trigger_rule: all_done}}}
        out: {kind: sink}
        """,
        "[events -> etl, etl -> out]",
        "6h",
    )
    node = flowsim.simulate(flowsim.load_scenario(text)).nodes["etl"]
    figures = node.kind_figures
    assert figures["runs_succeeded"] == 1 and figures["runs_failed"] == 0
    # inside at the end: the 4 hung runs' 360 each, and the 360 of the interval still open (5-6 h)
    assert figures["runs_active_at_end"] == 4 and node.inside_at_end == 4 * 360 + 360
