"""Trigger rules of `airflow_dag` tasks, as Airflow 2's TriggerRuleDep and DagRun.update_state decide.

A task is judged each time one of its upstream tasks reaches a final state: it becomes ready,
final at once (skipped, upstream_failed), or waits.  A run whose tasks are all final fails when
a leaf task failed or is upstream_failed, and succeeds otherwise.  Constant durations; schedules
`every 1h` from t = 0, so run 1 starts at 1h.
"""

from __future__ import annotations

import textwrap

import pytest

import flowsim
from flowsim.engine.model import Model
from flowsim.nodes._airflow_parts import TriggerRule, trigger_verdict
from helpers import run_traced, scenario_yaml

H = 3600.0

S, F, U, K, R, N = "success", "failed", "upstream_failed", "skipped", "running", "none"


@pytest.mark.parametrize(
    ("rule", "upstream", "verdict"),
    [
        ("all_success", [S, S], "run"),
        ("all_success", [S, R], None),
        ("all_success", [F, R], "upstream_failed"),  # no need to wait for the rest
        ("all_success", [K, S], "skipped"),
        ("all_done", [F, U], "run"),
        ("all_done", [S, R], None),
        ("one_failed", [F, R], "run"),  # at the first failure
        ("one_failed", [S, K], "skipped"),  # all done, none failed
        ("one_failed", [S, R], None),
        ("one_success", [S, R], "run"),  # at the first success
        ("one_success", [F, U], "upstream_failed"),
        ("one_success", [K, K], "skipped"),
        ("one_success", [F, R], None),
        ("none_failed", [S, K], "run"),
        ("none_failed", [U, R], "upstream_failed"),
        ("none_failed", [K, K], "run"),
        ("none_failed_min_one_success", [K, K], "skipped"),
        ("none_failed_min_one_success", [S, K], "run"),
        ("none_failed_min_one_success", [S, F], "upstream_failed"),
        ("none_failed_min_one_success", [K, N], None),
    ],
)
def test_trigger_verdicts_follow_airflow(rule: TriggerRule, upstream: list[str], verdict: str | None) -> None:
    assert trigger_verdict(rule, upstream) == verdict


def model(tasks: str, duration: str = "1.9h") -> Model:
    body = textwrap.indent(textwrap.dedent(tasks).strip(), "    ")
    dag = f"etl:\n  kind: airflow_dag\n  schedule: every 1h\n  tasks:\n{body}\n"
    nodes = "src: {kind: source, interarrival: 10m}\n" + dag
    return run_traced(scenario_yaml(nodes + "done: {kind: sink}", "[src -> etl, etl -> done]", duration))[0]


def run1(m: Model) -> list[tuple[float, str]]:
    return [(t, e) for t, n, e, k in m.trace if n == "etl" and k == 1 and not e.startswith("run s")]


def test_each_rule_on_one_failed_and_one_succeeded_upstream() -> None:
    # a fails at 1h10m, b succeeds at 1h20m.  At 1h10m: alert (one_failed) starts, publish
    # (none_failed) is upstream_failed; cleanup (all_done) and any_ok (one_success) wait.  At 1h20m
    # both start, and report (none_failed_min_one_success on b alone) too.  All 1m tries end by
    # 1h21m; the leaf publish is upstream_failed, so the run fails then.  b is queued before a at
    # 1h: its effective priority_weight (downstream rule) is 1 + 5 downstream = 6, a's 1 + 4 = 5.
    m = model(
        """
        a: {duration: 10m, failure_rate: 1.0}
        b: {duration: 20m}
        alert: {duration: 1m, depends_on: [a, b], trigger_rule: one_failed}
        cleanup: {duration: 1m, depends_on: [a, b], trigger_rule: all_done}
        any_ok: {duration: 1m, depends_on: [a, b], trigger_rule: one_success}
        publish: {duration: 1m, depends_on: [a, b], trigger_rule: none_failed}
        report: {duration: 1m, depends_on: [b], trigger_rule: none_failed_min_one_success}
        """
    )
    assert run1(m) == [
        (H, "task start b"),
        (H, "task start a"),
        (H + 600, "task fail a"),
        (H + 600, "task out of retries a"),
        (H + 600, "task upstream_failed publish"),
        (H + 600, "task start alert"),  # queued by the scheduler loop once everything at 1h10m is judged
        (H + 660, "task success alert"),
        (H + 1200, "task success b"),
        (H + 1200, "task start cleanup"),
        (H + 1200, "task start any_ok"),
        (H + 1200, "task start report"),
        (H + 1260, "task success cleanup"),
        (H + 1260, "task success any_ok"),
        (H + 1260, "task success report"),
        (H + 1260, "run failed"),
    ]


def test_a_run_succeeds_when_its_leaves_do_even_after_a_failure() -> None:
    # Airflow judges the run by its leaves: a fails at 1h10m, cleanup (all_done) runs to 1h11m
    # and is the only leaf, so the run succeeds and the 5 messages of [0, 1h) (10m..50m) land
    m = model(
        """
        a: {duration: 10m, failure_rate: 1.0}
        cleanup: {duration: 1m, depends_on: [a], trigger_rule: all_done}
        """
    )
    assert run1(m)[-2:] == [(H + 660, "task success cleanup"), (H + 660, "run end")]
    assert m.nodes["done"].completed == 5


def test_a_skipped_leaf_counts_as_success_and_skips_its_downstream() -> None:
    # nothing fails: alert (one_failed) is skipped at 1h10m, and page (all_success after alert)
    # is skipped with it; the leaves are skipped, so the run succeeds at 1h10m
    m = model(
        """
        load: {duration: 10m}
        alert: {duration: 1m, depends_on: [load], trigger_rule: one_failed}
        page: {duration: 1m, depends_on: [alert]}
        """
    )
    assert run1(m) == [
        (H, "task start load"),
        (H + 600, "task success load"),
        (H + 600, "task skipped alert"),
        (H + 600, "task skipped page"),
        (H + 600, "run end"),
    ]
    assert m.nodes["etl"].figures(m.network.window)["runs_succeeded"] == 1


def test_fail_fast_needs_all_success_tasks() -> None:
    text = scenario_yaml(
        "src: {kind: source, interarrival: 10m}\n"
        "etl: {kind: airflow_dag, fail_fast: true, tasks: {a: {}, b: {depends_on: [a], trigger_rule: all_done}}}\n"
        "done: {kind: sink}",
        "[src -> etl, etl -> done]",
        "1h",
    )
    with pytest.raises(flowsim.SpecError, match="fail_fast works only with all_success tasks"):
        flowsim.load_scenario(text)
