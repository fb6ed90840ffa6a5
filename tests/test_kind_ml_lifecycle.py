"""Exact traces of the ML lifecycle on tiny deterministic models: version quality, rollouts with
alarms and rollback, blue/green capacity, scheduled drift checks, sweeps on the GPU pool, feature
TTL and ingestion latency, and the data-quality check.

Sources start at quarter- and half-seconds and their first item comes one interarrival later
(a source with `start: 0.5s, interarrival: 1s` sends at 1.5, 2.5, ...), so no arrival ties with
a timer.  Error rates of 0 and 1 make wrong predictions exact; the one random check states its
binomial bound.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import flowsim
from flowsim.engine.model import Model
from flowsim.fluid.support import fluid_problems
from flowsim.nodes._serving_rollout import Alarm, AlarmSpec, BlueGreenSpec
from helpers import Trace, run_traced, scenario_yaml


def run(nodes: str, edges: str, duration: str) -> tuple[Model, Trace]:
    return run_traced(scenario_yaml(nodes, edges, duration, name="ml"))


def events(trace: Trace, node: str, *prefixes: str) -> list[tuple[float, str]]:
    return [(t, e) for t, n, e, _ in trace if n == node and (not prefixes or e.startswith(prefixes))]


# ---- rollouts: a bad version and its alarm ------------------------------------------------
PIPELINE = """
data: {{kind: source, interarrival: 1s, start: 0.5s, batch: 10}}
train: {{kind: training, schedule: every 100s, base_duration: 10s, per_message: 0.1s, gpus: 8, gpus_per_run: 8,
        error_rate: {error}}}
reg: {{kind: model_registry, validation_time: 5s, pass_rate: 1, deploy_to: serving}}
req: {{kind: source, interarrival: 1s, start: 0.25s}}
serving: {{kind: model_serving, replicas: 1, service_time: 0.5s, {rollout}}}
out: {{kind: sink}}
"""
EDGES = "[data -> train, train -> reg, req -> serving, serving -> out]"
ALARM = "alarm: {threshold: 0.5, period: 10s}"


def test_bad_version_is_rolled_back_by_its_alarm_after_one_period() -> None:
    # Version 1 (trained 100..209, validated 214) is wrong on every prediction (error_rate 1).
    # Blue/green all at once: all traffic to v1 at 214; the alarm's first 10 s period (214..224)
    # holds the 10 requests started at 214.25 .. 223.25, all wrong: 10/10 > 0.5 -> rollback at 224.
    model, trace = run(
        PIPELINE.format(error=1, rollout=f"blue_green: {{traffic: all_at_once, wait_interval: 30s, {ALARM}}}"),
        EDGES,
        "300s",
    )
    assert events(trace, "serving", "shift", "rolled", "promoted") == [
        (214.0, "shift v1 share 1"),
        (224.0, "rolled back v1 share 0"),
    ]
    assert {e for t, e in events(trace, "serving", "start") if t > 224} == {"start v0"}
    figures = model.nodes["serving"].figures(300.0)
    assert figures["rollbacks"] == 1 and figures["promotions"] == 0
    assert figures["requests_v1"] == figures["errors_v1"] == figures["requests_rolled_back"] == 10
    assert figures["errors"] == 10 and figures["errors_v0"] == 0  # v0's error rate is 0
    # the green fleet (1 replica, as blue) ran 214..224: (300 x 1 + 10 x 1) / 300 replica-seconds a second
    assert figures["replicas_mean"] == pytest.approx(310 / 300) and figures["replicas_max"] == 2
    assert model.nodes["serving"].extra()["replicas"] == [
        {"time_s": 0.0, "replicas": 1.0},
        {"time_s": 214.0, "replicas": 2.0},
        {"time_s": 224.0, "replicas": 1.0},
    ]


def test_good_version_passes_a_linear_shift_bakes_then_blue_is_terminated() -> None:
    # linear steps of 0.25: shares 0.25, 0.5, 0.75, 1 at 214, 224, 234, 244, each baked 10 s;
    # after the last baking (254) and a 5 s termination wait, blue goes at 259.  Error rate 0:
    # the alarm never fires.  Green ran 214..259: (300 + 45) / 300 replicas on average.
    rollout = f"blue_green: {{traffic: linear, linear_step: 0.25, wait_interval: 10s, termination_wait: 5s, {ALARM}}}"
    model, trace = run(PIPELINE.format(error=0, rollout=rollout), EDGES, "300s")
    assert events(trace, "serving", "shift", "rolled", "promoted") == [
        (214.0, "shift v1 share 0.25"),
        (224.0, "shift v1 share 0.5"),
        (234.0, "shift v1 share 0.75"),
        (244.0, "shift v1 share 1"),
        (259.0, "promoted v1 share 1"),
    ]
    figures = model.nodes["serving"].figures(300.0)
    assert figures["replicas_mean"] == pytest.approx(345 / 300) and figures["billed_units"] == pytest.approx(345 / 300)
    assert (figures["rollbacks"], figures["promotions"], figures["errors"]) == (0, 1, 0)


def test_canary_alarm_rolls_back_on_the_same_replicas() -> None:
    # a 50% canary from 214: each request of 214.25 .. 223.25 goes to v1 with probability 0.5, and
    # every v1 prediction is wrong; the period's datapoint breaches if at least one went to v1
    # (all but 2^-10 of the seeds): rollback at 224, before the 30 s canary would have promoted it
    model, trace = run(
        PIPELINE.format(error=1, rollout=f"canary: {{share: 0.5, duration: 30s, {ALARM}}}"), EDGES, "300s"
    )
    assert events(trace, "serving", "canary", "rolled", "promoted") == [
        (214.0, "canary v1 share 0.5"),
        (224.0, "rolled back v1 share 0"),
    ]
    figures = model.nodes["serving"].figures(300.0)
    assert 0 < figures["requests_v1"] == figures["errors_v1"] < 10
    assert figures["replicas_mean"] == 1  # a canary shares the replicas: no second fleet


@pytest.mark.parametrize(("error", "verdict"), [(0.3, "pass"), (0.31, "reject")])
def test_the_registry_gate_rejects_a_version_above_its_error_rate(error: float, verdict: str) -> None:
    # error_rate is a constant here, so version 1's is exactly `error`; the gate passes <= 0.3
    nodes = PIPELINE.format(error=error, rollout="initial_version: 0").replace(
        "deploy_to: serving", "deploy_to: serving, max_error_rate: 0.3"
    )
    _, trace = run(nodes, EDGES, "250s")
    assert events(trace, "reg", "pass", "reject") == [(214.0, verdict)]


def test_blue_green_shares_and_alarm_datapoints() -> None:
    assert BlueGreenSpec(traffic="canary", canary_size=0.2).steps() == [0.2, 1.0]
    assert BlueGreenSpec(traffic="linear", linear_step=0.3).steps() == [0.3, 0.6, 0.9, 1.0]  # ceil(1/0.3) = 4
    # 2 of the last 3 datapoints must breach (CloudWatch "M of N"); a period with fewer than
    # min_requests predictions gives no breaching datapoint
    alarm = Alarm(AlarmSpec(threshold=0.1, evaluation_periods=3, datapoints_to_alarm=2, min_requests=5))
    fired = []
    for requests, errors in [(10, 2), (10, 0), (4, 4), (10, 1), (10, 2)]:
        alarm.requests, alarm.errors = requests, errors
        fired.append(alarm.period_ends())
    # breaches: 0.2 > 0.1 yes; 0 no; 4 < 5 requests: none; 0.1 is not > 0.1: no; 0.2 yes
    # last three at each step: [T] [T,F] [T,F,F] [F,F,F] [F,F,T] -> never 2
    assert fired == [False, False, False, False, False]
    alarm.requests, alarm.errors = 10, 5
    assert alarm.period_ends()  # [F, T, T]: 2 of 3


# ---- drift: a stale model's errors, scheduled checks, repeated detection ------------------
DRIFT = """
req: {{kind: source, interarrival: 1s, start: 0.5s}}
drift: {{kind: drift_monitor, drift_at: 10s, window: 5s, min_samples: 3, trigger: train, error_increase: 1,
        check_every: 20s, check_offset: 3s}}
out: {{kind: sink}}
data: {{kind: source, interarrival: 1s, start: 0.5s}}
train: {{kind: training, base_duration: {base}s, per_message: 0s, gpus: 1, gpus_per_run: 1}}
reg: {{kind: model_registry, validation_time: 5s, pass_rate: 1, deploy_to: serving}}
serving: {{kind: model_serving, replicas: 1, service_time: 0.25s, notify: drift}}
"""
DRIFT_EDGES = "[req -> serving, serving -> drift, drift -> out, data -> train, train -> reg]"


def test_hourly_style_checks_detect_at_the_boundary_plus_the_offset() -> None:
    # Jobs cover 0..20, 20..40, ...; each reports 3 s after its boundary.  Onset 10: by the
    # boundary 20 the window (10 + 5 = 15) has passed and 9 samples (10.75 .. 18.75) >= 3, so the
    # job reporting at 23 detects it (13 s after the onset, where a continuous test takes 5 s).
    # Retrain 23..33, validated 38, switched at once: remediated at 38 = 28 s after the onset.
    model, trace = run(DRIFT.format(base=10), DRIFT_EDGES, "90s")
    assert events(trace, "drift") == [
        (10.0, "drift"),
        (23.0, "drift detected"),
        (23.0, "signal retrain -> train"),
        (38.0, "drift remediated"),
    ]
    figures = model.nodes["drift"].figures(90.0)
    assert (figures["checks"], figures["violations"], figures["detections"]) == (4, 1, 1)  # reports 23, 43, 63, 83
    assert figures["time_to_detect_mean_s"] == 13 and figures["time_to_remediate_mean_s"] == 28
    # error_increase 1: every v0 prediction from the onset is wrong until v1 (trained on data up to
    # 22.5, after the onset) serves: requests started at 10.5 .. 37.5 = 28; v1's are right
    serving = model.nodes["serving"].figures(90.0)
    assert serving["errors_v0"] == 28 == figures["predictions_during_drift"] and serving["errors_v1"] == 0


def test_the_drift_is_flagged_again_by_every_job_until_remediated() -> None:
    # a 50 s retrain (23..73, validated 78): the jobs reporting at 43 and 63 find the drift again
    # (violations, no second retrain); the one at 83 finds it remediated
    model, trace = run(DRIFT.format(base=50), DRIFT_EDGES, "90s")
    assert events(trace, "drift") == [
        (10.0, "drift"),
        (23.0, "drift detected"),
        (23.0, "signal retrain -> train"),
        (43.0, "drift flagged again"),
        (63.0, "drift flagged again"),
        (78.0, "drift remediated"),
    ]
    figures = model.nodes["drift"].figures(90.0)
    assert (figures["checks"], figures["violations"], figures["detections"]) == (4, 3, 1)
    assert figures["time_to_remediate_mean_s"] == 68  # 78 - 10
    assert model.nodes["serving"].figures(90.0)["errors_v0"] == 68  # requests started 10.5 .. 77.5


def test_a_rolled_back_version_leaves_the_drift_open() -> None:
    # v1 is wrong on everything (error_rate 1): the blue/green alarm rolls it back 10 s after the
    # shift at 38 (the job at 43 still finds the drift: v1 is baking), serving tells the monitor
    # (as a rejection) and the job at 63 (window 48 + 5 <= 60, samples since 48 >= 3) detects the
    # drift anew and asks for another retrain
    nodes = (
        DRIFT.format(base=10)
        .replace("gpus_per_run: 1}", "gpus_per_run: 1, error_rate: 1}")
        .replace("notify: drift}", f"notify: drift, blue_green: {{wait_interval: 30s, {ALARM}}}}}")
    )
    model, trace = run(nodes, DRIFT_EDGES, "70s")
    assert events(trace, "drift") == [
        (10.0, "drift"),
        (23.0, "drift detected"),
        (23.0, "signal retrain -> train"),
        (43.0, "drift flagged again"),
        (48.0, "drift persists (version rejected)"),
        (63.0, "drift detected"),
        (63.0, "signal retrain -> train"),
    ]
    assert events(trace, "serving", "shift", "rolled") == [(38.0, "shift v1 share 1"), (48.0, "rolled back v1 share 0")]
    assert model.nodes["drift"].figures(70.0)["detections"] == 2


# ---- sweeps on the GPU pool ---------------------------------------------------------------
SWEEP = """
data: {{kind: source, interarrival: 1000s, start: 999s}}
train: {{kind: training, schedule: every 1000s offset 15s, base_duration: 10s, per_message: 0s, gpus: 1,
        gpus_per_run: 1, error_rate: {{dist: uniform, low: 0.1, high: 0.3}}, priority: {priority},
        sweeps: [{{at: 0s, trials: 3, parallelism: 2, trial_duration: 20s}}]}}
reg: {{kind: model_registry, validation_time: 5s}}
"""


def test_a_sweep_delays_the_retrain_queued_behind_its_trials() -> None:
    # 1 GPU, 2 workers: trials 1 and 2 queue at 0, trial 1 runs 0..20; the retrain triggered at 15
    # queues behind trial 2 (FIFO), which runs 20..40; trial 3 (queued at 20, when trial 1 ended)
    # comes after the retrain: retrain 40..50 after a 25 s wait, trial 3 50..70
    model, trace = run(SWEEP.format(priority="fifo"), "[data -> train, train -> reg]", "80s")
    assert events(trace, "train") == [
        (0.0, "trial 0.1 queued"),
        (0.0, "trial 0.1 start (20s)"),
        (0.0, "trial 0.2 queued"),
        (15.0, "trigger (schedule)"),
        (20.0, events(trace, "train", "trial 0.1 done")[0][1]),
        (20.0, "trial 0.3 queued"),
        (20.0, "trial 0.2 start (20s)"),
        (40.0, events(trace, "train", "trial 0.2 done")[0][1]),
        (40.0, "run start (0 messages, 10s)"),
        (50.0, "version 1"),
        (50.0, "trial 0.3 start (20s)"),
        (70.0, events(trace, "train", "trial 0.3 done")[0][1]),
    ]
    node = model.nodes["train"]
    figures = node.figures(80.0)
    assert figures["run_wait_mean_s"] == 25 and figures["trigger_to_version_mean_s"] == 35  # 15 -> 50
    assert figures["trials"] == 3 and figures["trial_duration_mean_s"] == 20
    assert figures["gpu_utilization"] == pytest.approx(70 / 80)  # busy 0..70
    runs = node.extra()["runs"]
    assert [(r["job"], r["trial"], r["start_s"], r["end_s"]) for r in runs] == [
        ("trial", 1, 0.0, 20.0),
        ("trial", 2, 20.0, 40.0),
        ("train", None, 40.0, 50.0),
        ("trial", 3, 50.0, 70.0),
    ]
    trial_errors = [r["error_rate"] for r in runs if r["job"] == "trial"]
    assert all(0.1 <= e <= 0.3 for e in trial_errors) and figures["sweep_best_error_rate"] == min(trial_errors)


def test_retrain_first_lets_the_retrain_pass_the_queued_trials() -> None:
    # the retrain goes ahead of trial 2: it starts when trial 1 frees the GPU at 20 (a 5 s wait)
    model, trace = run(SWEEP.format(priority="retrain_first"), "[data -> train, train -> reg]", "80s")
    assert events(trace, "train", "run", "version", "trial 0.2 start") == [
        (20.0, "run start (0 messages, 10s)"),
        (30.0, "version 1"),
        (30.0, "trial 0.2 start (20s)"),
    ]
    assert model.nodes["train"].figures(80.0)["run_wait_mean_s"] == 5


# ---- feature store: ingestion latency and TTL ---------------------------------------------
def test_ingestion_latency_delays_the_snapshot_and_ttl_expires_old_features() -> None:
    # Writes at 1.5 .. 29.5 land offline 3 s later.  The job at 10 sees the writes landed by 10
    # (arrived by 7: the newest is 6.5), online at 11; the job at 20 sees 16.5, online at 21.
    # Reads at 1.25 .. 29.25: 10 cold (before 11); older than the 12 s ttl: 19.25 and 20.25
    # (age > 12 after 18.5) and 29.25 (29.25 - 16.5 = 12.75); the other 16 are 4.75 .. 11.75 old.
    model, trace = run(
        """
        data: {kind: source, interarrival: 1s, start: 0.5s}
        feat: {kind: feature_store, materialize_every: 10s, materialize_duration: 1s, read_latency: 0s,
               ingest_latency: 3s, ttl: 12s}
        lake: {kind: sink}
        req: {kind: source, interarrival: 1s, start: 0.25s}
        serving: {kind: model_serving, replicas: 1, service_time: 0.5s, features_from: feat}
        out: {kind: sink}
        """,
        "[data -> feat, feat -> lake, req -> serving, serving -> out]",
        "30s",
    )
    assert events(trace, "feat", "landed")[0] == (4.5, "landed offline")
    assert [t for t, _ in events(trace, "feat", "read expired")] == [19.25, 20.25, 29.25]
    f = model.nodes["feat"].figures(30.0)
    assert (f["reads"], f["reads_cold"], f["reads_expired"]) == (29, 10, 3)
    assert f["staleness_mean_s"] == pytest.approx(8.25) and f["staleness_max_s"] == 11.75  # mean of 4.75..11.75
    # 29 writes: 26 landed (arrived by 27) and passed on, 3 still being ingested
    assert (f["arrivals"], f["completed"], f["inside_at_end"]) == (29, 26, 3)


# ---- data quality -------------------------------------------------------------------------
DQ = """
src: {{kind: source, interarrival: 1s, start: 0.5s, batch: {batch}}}
check: {{kind: data_quality, fail_rate: {rate}, {extra} dead_letter: quarantine}}
load: {{kind: sink}}
quarantine: {{kind: sink}}
"""
DQ_EDGES = "[src -> check, check -> load]"


def test_failing_records_are_quarantined_and_counted() -> None:
    # fail_rate 1: the 10 batches of 5 (1.5 .. 10.5) all go to quarantine: dead-lettered, not lost
    nodes = DQ.format(batch=5, rate=1, extra="")
    model, trace = run(nodes, DQ_EDGES, "11s")
    assert events(trace, "check", "quarantine")[0] == (1.5, "quarantine 5 of 5")
    f = model.nodes["check"].figures(11.0)
    assert (f["arrivals"], f["completed"], f["dead_lettered"], f["records_failed"]) == (50, 0, 50, 50)
    result = flowsim.simulate(flowsim.load_scenario(scenario_yaml(nodes, DQ_EDGES, "11s")))
    assert result.totals.dead_lettered == 50 and result.totals.delivered == 0 and result.totals.unaccounted == 0


def test_a_batch_failing_above_its_threshold_is_quarantined_whole() -> None:
    # 2000 batches of 20, each record failing with p = 0.1; a batch with more than 0.15 x 20 = 3
    # failures fails whole.  P(X > 3) for X ~ Bin(20, 0.1) = 0.13295; a passing batch quarantines
    # E[X; X <= 3] = 1.4109 records: 20 x 0.13295 + 1.4109 = 4.0700 records quarantined per batch
    text = scenario_yaml(DQ.format(batch=20, rate=0.1, extra="fail_batch_above: 0.15,"), DQ_EDGES, "2000.6s")
    result = flowsim.simulate(flowsim.load_scenario(text))
    check = result.nodes["check"]
    pmf = [math.comb(20, k) * 0.1**k * 0.9 ** (20 - k) for k in range(21)]
    p_fail = sum(pmf[4:])
    per_batch = 20 * p_fail + sum(k * pmf[k] for k in range(4))
    assert p_fail == pytest.approx(0.1330, abs=1e-4) and per_batch == pytest.approx(4.0700, abs=1e-4)
    batches = 2000
    # batches failed ~ Bin(2000, 0.133): sd = sqrt(2000 x 0.133 x 0.867) = 15.2; 4 sd = 61
    assert abs(check.kind_figures["batches_failed"] - batches * p_fail) < 61
    # quarantined records: sd per batch = sqrt(E[Q^2] - E[Q]^2); 4 sd of the sum of 2000
    second = sum((20 if k > 3 else k) ** 2 * pmf[k] for k in range(21))
    four_sd = 4 * math.sqrt(batches * (second - per_batch**2))
    assert abs(check.dead_lettered - batches * per_batch) < four_sd
    assert check.completed + check.dead_lettered == check.arrivals == 20 * batches
    assert result.totals.unaccounted == 0 and result.totals.dead_lettered == check.dead_lettered


def test_fluid_engine_refuses_the_ml_lifecycle_and_data_quality() -> None:
    scenario = flowsim.load_scenario(scenario_yaml(DQ.format(batch=5, rate=0.1, extra=""), DQ_EDGES, "11s"))
    assert fluid_problems(scenario) == [
        "node 'check' (kind 'data_quality'): each item's failed records are drawn and quarantined one item at a time"
    ]
    ml = flowsim.load_scenario(scenario_yaml(SWEEP.format(priority="fifo"), "[data -> train, train -> reg]", "80s"))
    assert any("sweep trials" in problem for problem in fluid_problems(ml))


def test_blue_green_canary_traffic_bakes_the_canary_then_shifts_the_rest() -> None:
    # canary mode: 20% at 214, baked 10 s; the rest at 224, baked 10 s; blue terminated at 234
    rollout = "blue_green: {traffic: canary, canary_size: 0.2, wait_interval: 10s}"
    model, trace = run(PIPELINE.format(error=0, rollout=rollout), EDGES, "300s")
    assert events(trace, "serving", "shift", "promoted") == [
        (214.0, "shift v1 share 0.2"),
        (224.0, "shift v1 share 1"),
        (234.0, "promoted v1 share 1"),
    ]
    assert model.nodes["serving"].figures(300.0)["replicas_mean"] == pytest.approx((300 + 20) / 300)


def test_a_data_quality_check_takes_its_time_per_item() -> None:
    # every record passes (fail_rate 0); each item is held 2 s: batches of 1.5 .. 9.5 leave at 3.5 .. 11.5
    model, _ = run(DQ.format(batch=3, rate=0, extra="check_time: 2s,"), DQ_EDGES, "10s")
    f = model.nodes["check"].figures(10.0)
    # arrivals 1.5 .. 9.5 (9 batches of 3); done by 10: those that arrived by 8 (7 batches)
    assert (f["arrivals"], f["completed"], f["dead_lettered"], f["inside_at_end"]) == (27, 21, 0, 6)


@pytest.mark.parametrize(
    ("node", "where", "message"),
    [
        ("{kind: model_serving, blue_green: {alarm: {threshold: 1.5}}}", "4:60", "threshold: must be less than 1"),
        ("{kind: model_serving, blue_green: {traffic: linear, linear_step: 0.7}}", "4:71", "less than or equal to 0.5"),
        (
            "{kind: model_serving, canary: {alarm: {threshold: 0.1, evaluation_periods: 2, datapoints_to_alarm: 3}}}",
            "4:44",
            "datapoints_to_alarm (3) exceeds evaluation_periods (2)",
        ),
        ("{kind: model_serving, canary: {share: 0.1}, blue_green: {}}", "4:6", "give at most one of 'canary'"),
        ("{kind: drift_monitor, check_offset: 5m}", "4:6", "'check_offset' needs 'check_every'"),
        (
            "{kind: training, gpus: 2, gpus_per_run: 1, sweeps: [{trials: 2, gpus_per_trial: 4}]}",
            "4:6",
            "gpus_per_trial (4) exceeds the pool (gpus: 2)",
        ),
        ("{kind: training, priority: urgent}", "4:33", "expected 'fifo' or 'retrain_first'"),
        ("{kind: data_quality, dead_letter: src}", "4:27", "'src' is a source; dead_letter must name a sink"),
        ("{kind: feature_store, ttl: 0s}", "4:33", "ttl: must be greater than 0"),
    ],
)
def test_bad_lifecycle_settings_are_refused_where_they_are(node: str, where: str, message: str) -> None:
    text = f"name: bad\nnodes:\n  src: {{kind: source, rate: 1/s}}\n  x: {node}\n  out: {{kind: sink}}\n"
    text += "edges: [src -> out]\n"
    with pytest.raises(flowsim.SpecError) as caught:
        flowsim.load_architecture(text)
    assert str(caught.value).startswith(f"<input>:{where}: ") and message in str(caught.value)


def test_wrong_predictions_of_a_batch_are_one_binomial_draw() -> None:
    # 100 items of 100 requests (1.5 .. 100.5 s) on a model erring on 25%: 10,000 x 0.25 = 2,500
    # wrong, sd sqrt(10,000 x 0.25 x 0.75) = 43.3
    model, _ = run(
        """
        req: {kind: source, interarrival: 1s, start: 0.5s, batch: 100}
        serving: {kind: model_serving, replicas: 1, service_time: 0.5s, initial_error_rate: 0.25}
        out: {kind: sink}
        """,
        "[req -> serving, serving -> out]",
        "101s",
    )
    figures = model.nodes["serving"].figures(101.0)
    assert figures["requests_v0"] == 10_000 and abs(figures["errors_v0"] - 2500) < 4 * 43.3
    assert figures["error_rate"] == figures["errors_v0"] / 10_000


def test_a_scheduled_retrain_on_drifted_data_remediates_the_drift() -> None:
    # The data drifts at 30 min and is detected at 45 min (the 15-min window); the monitor has no
    # `trigger`, but the hourly run at 60 min trains on data that already drifted: its version
    # serves from version time + 600 s validation, and the drift ends there. Only the retrain the
    # monitor asked for could end it before (unremediated 1, every later prediction counted stale).
    from flowsim.build import build_model

    text = scenario_yaml(
        """
        feats: {kind: source, rate: 1/s}
        store: {kind: feature_store}
        training: {kind: training, schedule: every 1h}
        registry: {kind: model_registry, deploy_to: serving}
        requests: {kind: source, rate: 10/s}
        serving: {kind: model_serving, notify: drift}
        drift: {kind: drift_monitor, error_increase: 0.3, drift_at: 30m}
        out: {kind: sink}
        """,
        "[feats -> store, store -> training, training -> registry, requests -> serving, serving -> drift,"
        " drift -> out]",
        "2h",
    )
    model = build_model(flowsim.load_scenario(text), trace=True)
    model.run()
    at = {event: t for t, node, event, _ in model.trace if node in ("training", "drift")}
    assert at["drift detected"] == 2700.0
    serving_at = at["version 1"] + 600.0  # the registry's default validation time
    assert at["drift remediated"] == pytest.approx(serving_at)
    figures = model.nodes["drift"].figures(model.network.window)
    assert figures["unremediated"] == 0
    assert figures["time_to_remediate_mean_s"] == pytest.approx(serving_at - 1800.0)
    # the stale model's predictions: 10 a second from the onset until the new version serves
    assert figures["predictions_during_drift"] == pytest.approx(10 * (serving_at - 1800.0), rel=0.03)


def test_a_drift_after_the_run_is_warned() -> None:
    text = scenario_yaml(
        """
        src: {kind: source, rate: 1/s}
        drift: {kind: drift_monitor, drift_at: 5h}
        done: {kind: sink}
        """,
        "[src -> drift, drift -> done]",
        "2h",
    )
    warnings = flowsim.analyze_scenario(flowsim.load_scenario(text)).warnings
    assert "'drift' sees no drift in this run: drift_at (5h) is after its end (2h)" in " ".join(warnings)


@pytest.mark.parametrize(
    ("override", "warned"),
    [
        ("", ""),
        ("nodes.drift.trigger: null", "'drift' detects drifts but has no 'trigger': nothing retrains"),
        ("nodes.serving.notify: null", "none does, so the drift raises no errors"),
        ("nodes.registry.deploy_to: null", "'registry' has no 'deploy_to': the versions it promotes are counted"),
    ],
)
def test_a_reference_left_out_that_switches_a_feature_off_is_warned(override: str, warned: str) -> None:
    # the shipped pipeline with a drift at 1 h that raises errors by 0.5: each reference is what the
    # feature needs (a retrain, errors seen by serving, a promoted version served); without it the
    # run still goes, the feature silently does nothing, so `validate --strict` must fail on it
    text = (
        "name: links\narchitecture: ../architectures/ml_pipeline.yaml\nduration: 3h\noverrides:\n"
        "  nodes.drift.drift_at: 1h\n  nodes.drift.error_increase: 0.5\n" + (f"  {override}\n" if override else "")
    )
    scenario = flowsim.load_scenario(text, base_dir=Path(__file__).parent.parent / "scenarios")
    links = [w for w in flowsim.analyze_scenario(scenario).warnings if "'trigger'" in w or "'notify'" in w
             or "'deploy_to'" in w]  # fmt: skip
    assert len(links) == (1 if warned else 0), links
    assert warned in (links[0] if links else "")


def test_the_datapoint_closing_as_a_canary_ends_can_still_roll_it_back() -> None:
    # 3 datapoints of 10 min in a 30-min canary: the third closes at the canary's end. Every version
    # errs 30% against a 10% threshold, so all three breach: the alarm fires as the canary ends and
    # the version is rolled back, as a blue/green bake of the same length does (promotion won the tie)
    text = scenario_yaml(
        """
        feats: {kind: source, rate: 1/s}
        training: {kind: training, schedule: every 1h, base_duration: 10m, per_message: 0s, gpus: 8,
                   gpus_per_run: 8, error_rate: 0.3}
        registry: {kind: model_registry, validation_time: 5m, pass_rate: 1.0, deploy_to: serving}
        requests: {kind: source, rate: 10/s}
        serving: {kind: model_serving, replicas: 4, service_time: 10ms, initial_error_rate: 0.02,
                  canary: {share: 0.1, duration: 30m, alarm: {threshold: 0.1, period: 10m,
                           evaluation_periods: 3, datapoints_to_alarm: 3}}}
        out: {kind: sink}
        """,
        "[feats -> training, training -> registry, requests -> serving, serving -> out]",
        "2h",
    )
    figures = flowsim.simulate(flowsim.load_scenario(text)).nodes["serving"].kind_figures
    assert figures["rollbacks"] >= 1 and figures["promotions"] == 0


@pytest.mark.parametrize(
    ("rollout", "refused"),
    [
        # M x period must fit the watched time: the first datapoint closes one period after the start
        ("canary: {duration: 30m, alarm: {threshold: 0.1, period: 10m, evaluation_periods: 3}}", ""),
        ("canary: {duration: 30m, alarm: {threshold: 0.1, period: 1h}}", "needs 1 datapoint(s) of 60min"),
        ("canary: {duration: 30m, alarm: {threshold: 0.1, period: 20m, evaluation_periods: 2}}", "(40min)"),
        ("canary: {duration: 0s, alarm: {threshold: 0.1}}", "the canary lasts 0s"),
        (
            "canary: {duration: 30m, alarm: {threshold: 0.1, period: 20m, evaluation_periods: 3, "
            "datapoints_to_alarm: 1}}",
            "",
        ),
        # linear steps of 0.25: 4 bakes of 10 min = 40 min watched
        (
            "blue_green: {traffic: linear, linear_step: 0.25, alarm: {threshold: 0.1, period: 10m, "
            "evaluation_periods: 4}}",
            "",
        ),
        (
            "blue_green: {traffic: linear, linear_step: 0.25, alarm: {threshold: 0.1, period: 10m, "
            "evaluation_periods: 5}}",
            "the rollout (steps x wait_interval + termination_wait) lasts 40min",
        ),
    ],
)
def test_an_alarm_that_can_never_fire_in_its_rollout_is_refused(rollout: str, refused: str) -> None:
    text = scenario_yaml(
        f"""
        feats: {{kind: source, rate: 1/s}}
        training: {{kind: training, schedule: every 1h, base_duration: 10m, gpus: 8, gpus_per_run: 8}}
        registry: {{kind: model_registry, deploy_to: serving, validation_time: 1m}}
        requests: {{kind: source, rate: 1/s}}
        serving: {{kind: model_serving, replicas: 2, service_time: {{dist: constant, value: 10ms}}, {rollout}}}
        done: {{kind: sink}}
        """,
        "[feats -> training, training -> registry, requests -> serving, serving -> done]",
        "2h",
    )
    if not refused:
        flowsim.load_scenario(text)
        return
    with pytest.raises(flowsim.SpecError, match="the alarm can never fire") as info:
        flowsim.load_scenario(text)
    assert refused in str(info.value)
