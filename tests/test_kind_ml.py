"""Exact traces of the ML-platform kinds on tiny deterministic models, and their figures and errors.

Constant times everywhere; sources start at half-seconds so that no arrival ties with a timer
(a schedule firing, a window ending), which keeps every trace below hand-computable.
"""

from __future__ import annotations

import itertools

import pytest

import flowsim
from flowsim.engine.model import Model
from helpers import Trace, run_traced, scenario_yaml


def run(nodes: str, edges: str, duration: str = "60s") -> tuple[Model, Trace]:
    return run_traced(scenario_yaml(nodes, edges, duration, name="ml"))


def events(trace: Trace, node: str, *prefixes: str) -> list[tuple[float, str]]:
    return [(t, e) for t, n, e, _ in trace if n == node and (not prefixes or e.startswith(prefixes))]


# ---- model_serving: autoscaling ------------------------------------------------------------
def test_scale_up_serves_only_after_its_warm_up() -> None:
    # 1 arrival/s, 2 s each: 2 replicas' worth of work on 1. At 10 the replica was busy 9 of 10 s:
    # ceil(0.9 x 1 / 0.5) = 2 -> +1, serving at 15. At 20 the queue kept it busy all along with a
    # mean of 1.5 ready replicas: ceil(1 x 1.5 / 0.5) = 3 -> +1, serving at 25. Then 3 = max.
    model, trace = run(
        """
        req: {kind: source, interarrival: 1s}
        serving: {kind: model_serving, replicas: 1, service_time: 2s,
                  autoscale: {target_utilization: 0.5, min_replicas: 1, max_replicas: 3,
                              evaluation_interval: 10s, warm_up: 5s, cool_down: 100s}}
        out: {kind: sink}
        """,
        "[req -> serving, serving -> out]",
        duration="40s",
    )
    assert events(trace, "serving", "scale", "replicas") == [
        (10.0, "scale up +1 (ready in 5s)"),
        (15.0, "replicas 2"),
        (20.0, "scale up +1 (ready in 5s)"),
        (25.0, "replicas 3"),
    ]
    starts = [t for t, e in events(trace, "serving", "start")]
    assert starts[:3] == [1.0, 3.0, 5.0] and 15.0 in starts  # one replica until the second is warm
    node = model.nodes["serving"]
    assert node.extra()["replicas"] == [
        {"time_s": 0.0, "replicas": 1.0},
        {"time_s": 15.0, "replicas": 2.0},
        {"time_s": 25.0, "replicas": 3.0},
    ]
    assert node.series_extra() == {"replicas": 3.0, "replicas_warming": 0.0}


def test_scale_down_waits_for_the_cool_down() -> None:
    # 0.1 arrival/s of 1 s: utilization ~0.03 on 3 replicas -> 1 wanted. No scaling action has
    # happened yet, so the cool-down does not hold the first evaluation back: 3 -> 1 at 10.
    model, trace = run(
        """
        req: {kind: source, interarrival: 10s, start: 0.5s}
        serving: {kind: model_serving, replicas: 3, service_time: 1s,
                  autoscale: {target_utilization: 0.5, min_replicas: 1, max_replicas: 3,
                              evaluation_interval: 10s, warm_up: 5s, cool_down: 25s}}
        out: {kind: sink}
        """,
        "[req -> serving, serving -> out]",
        duration="60s",
    )
    assert events(trace, "serving", "replicas") == [(10.0, "replicas 1")]
    figures = model.nodes["serving"].figures(60.0)
    assert figures["scale_downs"] == 1 and figures["replicas_mean"] == pytest.approx((3 * 10 + 50) / 60)


@pytest.mark.parametrize(
    ("window", "expected"), [("0s", [(110.0, "replicas 1")]), ("60s", [(160.0, "replicas 1")]), ("300s", [])]
)
def test_a_scale_down_waits_out_the_stabilization_window(window: str, expected: list[tuple[float, str]]) -> None:
    # 2 requests/s of 1 s on 4 replicas: utilization 0.5 at a 0.5 target, so each evaluation up to
    # 100 s asks for the 4 running.  The source stops at 100 s: from 110 on each asks for
    # ceil(0.025 x 4 / 0.5) = 1 (then 0, at least min 1).  The HPA scales down only to the most
    # asked for over its stabilization window: with none at 110; with 60 s once the last ask of 4
    # (at 100) is no longer after 160 - 60 = 100, at 160; with the default 300 s not before 400.
    _model, trace = run(
        f"""
        req: {{kind: source, interarrival: 0.5s, stop: 100s}}
        serving: {{kind: model_serving, replicas: 4, service_time: 1s,
                  autoscale: {{target_utilization: 0.5, min_replicas: 1, max_replicas: 4,
                              evaluation_interval: 10s, warm_up: 5s, scale_down_window: {window}}}}}
        out: {{kind: sink}}
        """,
        "[req -> serving, serving -> out]",
        duration="200s",
    )
    assert events(trace, "serving", "replicas", "scale") == expected


@pytest.mark.parametrize(("tolerance", "expected"), [(0.1, []), (0.0, [(10.0, "scale up +1 (ready in 5s)")])])
def test_the_autoscaler_leaves_a_near_target_alone(tolerance: float, expected: list[tuple[float, str]]) -> None:
    # one request every 0.25 s of 0.3 s each on 2 replicas: utilization 0.3 / (2 x 0.25) = 0.6 against
    # a target of 0.55, a ratio of 1.09. The HPA "skips any scaling action if the ratio is
    # sufficiently close to 1.0" (within its tolerance, 0.1): no change. With no tolerance it asks for
    # ceil(2 x 0.6 / 0.55) = ceil(2.18) = 3 replicas.
    _model, trace = run(
        f"""
        req: {{kind: source, interarrival: 0.25s, start: 0.125s}}
        serving: {{kind: model_serving, replicas: 2, service_time: 0.3s,
                  autoscale: {{target_utilization: 0.55, min_replicas: 1, max_replicas: 5,
                              evaluation_interval: 10s, warm_up: 5s, cool_down: 100s, tolerance: {tolerance}}}}}
        out: {{kind: sink}}
        """,
        "[req -> serving, serving -> out]",
        duration="12s",
    )
    assert events(trace, "serving", "scale") == expected


def test_a_scale_up_step_adds_at_most_four_replicas_or_doubles() -> None:
    # 2 replicas at 10 requests/s of 0.9 s (9 replicas' worth) are busy all along: at a 0.2 target
    # they want ceil(2 x 1 / 0.2) = 10, but the HPA's default scale-up policies allow 4 pods or 100%
    # a step, whichever is more: 2 + max(4, 2) = 6. Then ceil(6 / 0.2) = 30 wanted, 6 + max(4, 6) =
    # 12 allowed, and 12 is max_replicas.
    nodes = """
        req: {{kind: source, interarrival: 0.1s}}
        serving: {{kind: model_serving, replicas: 2, service_time: 0.9s,
                  autoscale: {{target_utilization: 0.2, min_replicas: 1, max_replicas: 12,
                              evaluation_interval: 10s, warm_up: 0s, cool_down: 100s{extra}}}}}
        out: {{kind: sink}}
        """
    _model, trace = run(nodes.format(extra=""), "[req -> serving, serving -> out]", duration="35s")
    assert [e for _, e in events(trace, "serving", "replicas")] == ["replicas 6", "replicas 12"]
    # a tighter policy: one replica a step
    tight = nodes.format(extra=", scale_up_pods: 1, scale_up_percent: 1")
    _model, trace = run(tight, "[req -> serving, serving -> out]", duration="35s")
    assert [e for _, e in events(trace, "serving", "replicas")] == ["replicas 3", "replicas 4", "replicas 5"]


# ---- training -> registry -> serving: versions and rollout ---------------------------------
PIPELINE = """
data: {{kind: source, interarrival: 1s, start: 0.5s, batch: 10}}
train: {{kind: training, schedule: every 100s, base_duration: 10s, per_message: 0.1s, gpus: 8, gpus_per_run: 8}}
reg: {{kind: model_registry, validation_time: 5s, pass_rate: {pass_rate}, deploy_to: serving}}
req: {{kind: source, interarrival: 1s, start: 0.25s}}
serving: {{kind: model_serving, replicas: 1, service_time: 0.5s, {rollout}}}
out: {{kind: sink}}
"""
PIPELINE_EDGES = "[data -> train, train -> reg, req -> serving, serving -> out]"


def test_training_run_grows_with_its_data_and_waits_for_gpus() -> None:
    # Run 1 at 100 takes the 99 batches written at 1.5..99.5 (990 messages): 10 + 99 = 109 s, to 209.
    # The 200 s trigger waits for the GPUs; at 209 run 2 takes the 109 batches of 100.5..208.5.
    model, trace = run(
        PIPELINE.format(pass_rate=1, rollout="canary: {share: 0.5, duration: 30s}"), PIPELINE_EDGES, "340s"
    )
    assert events(trace, "train") == [
        (100.0, "trigger (schedule)"),
        (100.0, "run start (990 messages, 109s)"),
        (200.0, "trigger (schedule)"),
        (209.0, "version 1"),
        (209.0, "run start (1090 messages, 119s)"),
        (300.0, "trigger (schedule)"),
        (328.0, "version 2"),
        (328.0, "run start (1190 messages, 129s)"),
    ]
    figures = model.nodes["train"].figures(340.0)
    assert figures["versions"] == 2 and figures["runs"] == 3
    assert figures["trigger_to_version_mean_s"] == pytest.approx((109 + 128) / 2)
    assert figures["gpu_utilization"] == pytest.approx((340 - 100) / 340)
    # the message balance: everything written is in a finished run, in the running one, or pending
    assert figures["arrivals"] == figures["completed"] + figures["inside_at_end"]
    assert figures["completed"] == 2080 and figures["inside_at_end"] == 1190 + 120


def test_canary_share_then_promotion() -> None:
    # version 1 at 209, validated at 214: canary (half the requests) until 244, then all of them.
    model, trace = run(
        PIPELINE.format(pass_rate=1, rollout="canary: {share: 0.5, duration: 30s}"), PIPELINE_EDGES, "300s"
    )
    assert events(trace, "reg") == [(209.0, "validate"), (214.0, "pass"), (214.0, "signal promote -> serving")]
    assert events(trace, "serving", "canary", "promoted") == [
        (214.0, "canary v1 share 0.5"),
        (244.0, "promoted v1 share 1"),
    ]
    starts = [(t, e) for t, e in events(trace, "serving", "start")]
    assert {e for t, e in starts if t < 214} == {"start v0"}
    assert {e for t, e in starts if t > 244} == {"start v1"}
    canary = [e for t, e in starts if 214 < t < 244]
    assert len(canary) == 30 and 0 < canary.count("start v1") < 30
    node = model.nodes["serving"]
    assert [(v["time_s"], v["version"], v["event"]) for v in node.extra()["versions"]] == [
        (0.0, 0, "serving"),
        (214.0, 1, "canary"),
        (244.0, 1, "promoted"),
    ]
    figures = node.figures(300.0)
    assert figures["requests_v0"] + figures["requests_v1"] == 299  # arrivals at 1.25 .. 299.25
    assert figures["stale_serving_max_s"] == 244 - 209  # no drift: counted from the version's training


def test_registry_rejection_is_counted_and_promotes_nothing() -> None:
    model, trace = run(
        PIPELINE.format(pass_rate=0, rollout="canary: {share: 0.5, duration: 30s}"), PIPELINE_EDGES, "250s"
    )
    # the rejection is told to serving (which would tell its drift monitor, if it named one)
    assert events(trace, "reg") == [(209.0, "validate"), (214.0, "reject"), (214.0, "signal rejected -> serving")]
    assert not events(trace, "serving", "canary", "promoted")
    figures = model.nodes["reg"].figures(250.0)
    assert (figures["rejected"], figures["promoted"], figures["dropped"], figures["completed"]) == (1, 0, 1, 0)


RACE = """
data: {{kind: source, interarrival: 1s, start: 0.5s, batch: 10}}
train: {{kind: training, schedule: every 100s, base_duration: 10s, gpus: 8, gpus_per_run: 1}}
reg: {{kind: model_registry, validation_time: {{dist: uniform, low: 1s, high: 400s}}, pass_rate: 1,
      deploy_to: serving, promote_older: {older}}}
req: {{kind: source, interarrival: 1s, start: 0.25s}}
serving: {{kind: model_serving, replicas: 1, service_time: 0.5s}}
out: {{kind: sink}}
"""


@pytest.mark.parametrize("older", [False, True])
def test_a_version_passing_after_a_newer_one_does_not_take_serving_back(older: bool) -> None:
    # A version every 100 s, validated in parallel for 1..400 s: validations overtake each other.
    # Serving must never go back to a model trained before the one it serves (by default); with
    # promote_older it does, as a pipeline that deploys whatever passes last.
    model, trace = run(RACE.format(older=str(older).lower()), PIPELINE_EDGES, "5000s")
    reg = model.nodes["reg"].figures(5000.0)
    timeline = model.nodes["serving"].extra()["versions"]
    served = [v["version"] for v in timeline if v["event"] in ("serving", "promoted")]
    went_back = sum(b < a for a, b in itertools.pairwise(served))
    passed = [(t, e) for t, e in events(trace, "reg") if e in ("pass", "superseded")]
    assert reg["promoted"] + reg["superseded"] == len(passed) == reg["completed"]
    if older:
        assert reg["superseded"] == 0 and went_back > 0
    else:
        assert reg["superseded"] > 0 and went_back == 0 and served == sorted(served)
        assert reg["promoted"] == len(served) - 1  # v0 served from the start


@pytest.mark.parametrize(("pass_rate", "promoted", "rejected"), [(1, 2, 0), (0, 0, 2)])
def test_totals_count_model_versions_apart_from_data(pass_rate: int, promoted: int, rejected: int) -> None:
    # Data: 339 batches of 10 (0.5 .. 338.5 s) = 3390 messages; requests: 339 (0.25 .. 338.25).
    # Runs 1 and 2 merge 990 + 1090 = 2080 messages into versions 1 and 2; 1310 wait for run 3.
    # Data balance: 3390 + 339 = 339 delivered + 2080 merged + 1310 inside (no version among them:
    # before, versions counted as delivered, or as dropped when rejected).  Versions: 2 made, each
    # promoted or rejected.
    text = scenario_yaml(
        PIPELINE.format(pass_rate=pass_rate, rollout="canary: {share: 0.5, duration: 30s}"),
        PIPELINE_EDGES,
        "340s",
        name="ml",
    )
    totals = flowsim.simulate(flowsim.load_scenario(text)).totals
    data = (totals.arrivals, totals.delivered, totals.merged, totals.dropped, totals.inside_at_end)
    assert data == (3390 + 339, 339, 2080, 0, 1310) and totals.unaccounted == 0
    versions = totals.model_versions
    assert (versions.made, versions.promoted, versions.rejected, versions.unaccounted) == (2, promoted, rejected, 0)


def test_immediate_switch_and_fixed_ab_split() -> None:
    _, direct = run(PIPELINE.format(pass_rate=1, rollout="initial_version: 3"), PIPELINE_EDGES, "250s")
    assert events(direct, "serving", "canary", "promoted") == [(214.0, "promoted v1 share 1")]
    model, trace = run(PIPELINE.format(pass_rate=1, rollout="ab_split: 0.25"), PIPELINE_EDGES, "2000s")
    assert events(trace, "serving", "canary", "promoted")[0] == (214.0, "canary v1 share 0.25")
    figures = model.nodes["serving"].figures(2000.0)
    late = [e for t, e in events(trace, "serving", "start") if t > 214 and t < 309]  # before version 2
    assert len(late) == 95 and 0 < late.count("start v1") < 50
    assert figures["promotions"] == 0  # an A/B split never reaches 100%


def test_failed_run_is_retried_then_its_data_dead_lettered() -> None:
    # 9 batches (1.5..9.5) at 10: 10 + 9 = 19 s, fails at 29; retried at 34 with the same data,
    # fails at 53; out of retries: its 90 messages are dead-lettered, no version is produced.
    model, trace = run(
        """
        data: {kind: source, interarrival: 1s, start: 0.5s, batch: 10, limit: 9}
        train: {kind: training, schedule: every 1000s offset 10s, base_duration: 10s, per_message: 0.1s,
                gpus: 1, gpus_per_run: 1, failure_rate: 0.999999999, retries: 1, retry_delay: 5s}
        reg: {kind: model_registry, validation_time: 5s}
        """,
        "[data -> train, train -> reg]",
        duration="60s",
    )
    runs = [(t, e) for t, e in events(trace, "train", "run")]
    assert runs[:4] == [
        (10.0, "run start (90 messages, 19s)"),
        (29.0, "run failed, retry"),
        (34.0, "run start (90 messages, 19s)"),
        (53.0, "run failed for good"),
    ]
    figures = model.nodes["train"].figures(60.0)
    assert figures["dead_lettered"] == 90 and figures["versions"] == 0 and figures["retries"] == 1
    assert figures["arrivals"] == figures["completed"] + figures["dead_lettered"] + figures["inside_at_end"]


def test_once_schedules_fire_a_single_job_at_the_start() -> None:
    # `@once` (Airflow's OnceTimetable): one training run and one materialisation, both at t = 0,
    # before any data (the first batch lands at 0.5 s): a 10 s run on 0 messages, a 2 s job
    _, trace = run(
        """
        data: {kind: source, interarrival: 1s, start: 0.5s, batch: 10}
        feat: {kind: feature_store, materialize_every: '@once', materialize_duration: 2s}
        train: {kind: training, schedule: '@once', base_duration: 10s, per_message: 0.1s, gpus: 1, gpus_per_run: 1}
        reg: {kind: model_registry, validation_time: 5s}
        """,
        "[data -> feat, feat -> train, train -> reg]",
    )
    assert events(trace, "train") == [
        (0.0, "trigger (schedule)"),
        (0.0, "run start (0 messages, 10s)"),
        (10.0, "version 1"),
    ]
    assert events(trace, "feat", "materialize") == [(0.0, "materialize start"), (2.0, "materialized")]


# ---- drift monitor ------------------------------------------------------------------------
DRIFT = """
req: {{kind: source, interarrival: 1s, start: 0.5s}}
drift: {{kind: drift_monitor, drift_at: 10s, window: 5s, min_samples: {samples}, trigger: train}}
out: {{kind: sink}}
data: {{kind: source, interarrival: 1s, start: 0.5s}}
train: {{kind: training, base_duration: 10s, per_message: 0s, gpus: 1, gpus_per_run: 1}}
reg: {{kind: model_registry, validation_time: 5s, pass_rate: 1, deploy_to: serving}}
serving: {{kind: model_serving, replicas: 1, service_time: 0.25s, notify: drift, canary: {{share: 0.5, duration: 30s}}}}
"""
DRIFT_EDGES = "[req -> serving, serving -> drift, drift -> out, data -> train, train -> reg]"


def test_drift_detected_after_the_window_then_remediated() -> None:
    # Onset 10, window to 15 (5 samples, 10.75..14.75, by then >= 3): detected at 15; run 15..25; validated 30;
    # canary 30..60: remediated 50 s after the onset = 5 + 10 + 5 + 30.
    model, trace = run(DRIFT.format(samples=3), DRIFT_EDGES, "70s")
    assert events(trace, "drift") == [
        (10.0, "drift"),
        (15.0, "drift detected"),
        (15.0, "signal retrain -> train"),
        (60.0, "drift remediated"),
    ]
    assert events(trace, "serving", "canary", "promoted", "signal") == [
        (30.0, "canary v1 share 0.5"),
        (30.0, "signal canary -> drift"),  # the monitor stops counting v1's predictions as stale
        (60.0, "promoted v1 share 1"),
        (60.0, "signal remediated -> drift"),
    ]
    figures = model.nodes["drift"].figures(70.0)
    assert figures["time_to_detect_mean_s"] == 5 and figures["time_to_remediate_mean_s"] == 50
    assert model.nodes["serving"].figures(70.0)["stale_serving_max_s"] == 50
    assert model.nodes["drift"].extra()["drifts"] == [
        {"drift_at": 10.0, "detected_at": 15.0, "remediated_at": 60.0, "samples": 5}
    ]


def test_predictions_during_drift_are_the_stale_models_only() -> None:
    # Requests start service at 10.5, 11.5, ... and reach the monitor 0.25 s later.  From the onset
    # (10) to remediation (60): 10.75 .. 59.75, 50 predictions.  During the canary (30..60) the
    # new version v1 served some of them (those whose service started with "start v1"); they are
    # not the stale model's: predictions_during_drift = 50 - that count (it was 50 before)
    model, trace = run(DRIFT.format(samples=3), DRIFT_EDGES, "70s")
    by_v1 = [t for t, e in events(trace, "serving", "start v1") if t < 60]
    assert 0 < len(by_v1) < 30 and min(by_v1) > 30
    assert events(trace, "serving", "signal canary") == [(30.0, "signal canary -> drift")]
    assert model.nodes["drift"].figures(70.0)["predictions_during_drift"] == 50 - len(by_v1)


def test_a_drift_whose_version_is_rejected_is_detected_again() -> None:
    # Detected at 15, trained 15..25, rejected at 30: the drift persists, so the monitor looks
    # again (window 5 s from 30, 5 samples by 35): detected at 35, trained 35..45, rejected at
    # 50, detected at 55.  All 60 predictions from 10.75 to 69.75 are the stale model's.
    model, trace = run(DRIFT.format(samples=3).replace("pass_rate: 1", "pass_rate: 0"), DRIFT_EDGES, "70s")
    assert events(trace, "drift", "drift") == [
        (10.0, "drift"),
        (15.0, "drift detected"),
        (30.0, "drift persists (version rejected)"),
        (35.0, "drift detected"),
        (50.0, "drift persists (version rejected)"),
        (55.0, "drift detected"),
    ]
    figures = model.nodes["drift"].figures(70.0)
    assert (figures["detections"], figures["unremediated"], figures["predictions_during_drift"]) == (3, 1, 60)
    assert figures["time_to_detect_mean_s"] == 5  # from the onset to the first detection


@pytest.mark.parametrize(("warmup", "counted"), [("12s", 0), ("5s", 1)])
def test_a_drift_counts_where_its_onset_falls(warmup: str, counted: int) -> None:
    # the onset at 10 s, detected at 15 s: with the window opening at 12 s the drift began in the
    # warm-up, so neither it nor its detection is counted (no detections without drifts); from 5 s
    # both are
    model, _trace = run_traced(scenario_yaml(DRIFT.format(samples=3), DRIFT_EDGES, "70s", f"warmup: {warmup}\n"))
    figures = model.nodes["drift"].figures(70.0)
    assert (figures["drifts"], figures["detections"]) == (counted, counted)


def test_drift_detection_waits_for_enough_samples() -> None:
    # Requests reach the monitor at 1.75, 2.75, ...: the 20th after the onset at 10 s is at 29.75.
    _, trace = run(DRIFT.format(samples=20), DRIFT_EDGES, "40s")
    assert events(trace, "drift", "drift")[:2] == [(10.0, "drift"), (29.75, "drift detected")]


# ---- feature store ------------------------------------------------------------------------
def test_feature_store_materialises_snapshots_and_reports_staleness() -> None:
    # Writes at 0.5, 1.5, ...; the job at 10 snapshots the write of 9.5 and publishes it at 12.
    # Reads (0.5 s) start at 1.25, 2.25, ... and end at 1.75, 2.75, ...: those before 12 are cold,
    # the next three (12.75, 13.75, 14.75) see the write of 9.5.
    model, trace = run(
        """
        writes: {kind: source, interarrival: 1s, start: 0.5s}
        fs: {kind: feature_store, materialize_every: 10s, materialize_duration: 2s,
             read_latency: 0.5s, read_capacity: 4}
        lake: {kind: sink}
        req: {kind: source, interarrival: 1s, start: 0.25s}
        serving: {kind: model_serving, replicas: 1, service_time: 0.1s, features_from: fs}
        out: {kind: sink}
        """,
        "[writes -> fs, fs -> lake, req -> serving, serving -> out]",
        duration="15s",
    )
    assert events(trace, "fs", "materialize") == [(10.0, "materialize start"), (12.0, "materialized")]
    assert events(trace, "serving", "start")[0] == (1.75, "start v0")  # the lookup comes first
    figures = model.nodes["fs"].figures(15.0)
    assert figures["reads"] == 14 and figures["reads_cold"] == 11 and figures["materialisations"] == 1
    assert figures["staleness_mean_s"] == pytest.approx(4.25) and figures["staleness_max_s"] == pytest.approx(5.25)
    assert figures["read_latency_mean_s"] == pytest.approx(0.5)
    assert figures["arrivals"] == figures["completed"] == 14  # writes (1.5 .. 14.5) pass straight on


def test_feature_store_refuses_reads_beyond_capacity_when_asked() -> None:
    model, trace = run(
        """
        writes: {kind: source, interarrival: 1s, start: 0.5s}
        fs: {kind: feature_store, read_latency: 2.5s, read_capacity: 1, on_read_full: drop}
        lake: {kind: sink}
        req: {kind: source, interarrival: 1s, start: 0.25s}
        serving: {kind: model_serving, replicas: 4, service_time: 0.1s, features_from: fs}
        out: {kind: sink}
        """,
        "[writes -> fs, fs -> lake, req -> serving, serving -> out]",
        duration="6s",
    )
    assert events(trace, "fs", "read") == [
        (1.25, "read"),
        (2.25, "read refused"),
        (3.25, "read refused"),
        (4.25, "read"),
        (5.25, "read refused"),
    ]
    assert model.nodes["fs"].figures(6.0)["reads_dropped"] == 3
    # refused lookups do not lose requests: they are served at once; the 4.25 one still reads at 6
    assert model.nodes["serving"].figures(6.0)["completed"] == 4


# ---- bad input ----------------------------------------------------------------------------
SINK_AND_EDGE = "out: {kind: sink}\nedges: [src -> out]\n"


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ("{kind: training, gpus: 2, gpus_per_run: 4}", "gpus_per_run (4) exceeds the pool (gpus: 2)"),
        (
            "{kind: model_serving, canary: {share: 0.1}, ab_split: 0.5}",
            "give at most one of 'canary', 'ab_split' and 'blue_green'",
        ),
        (
            "{kind: model_serving, autoscale: {min_replicas: 4, max_replicas: 2}}",
            "max_replicas (2) is below min_replicas (4)",
        ),
        ("{kind: model_serving, replicas: 1, autoscale: {min_replicas: 2}}", "must lie within autoscale"),
        ("{kind: drift_monitor, drift_at: 1h, drift_every: 2h}", "give at most one of 'drift_at'"),
        ("{kind: feature_store, materialize_every: sometimes}", "cannot read schedule 'sometimes'"),
    ],
)
def test_bad_config_is_refused_with_its_reason(node: str, message: str) -> None:
    text = f"name: bad\nnodes:\n  src: {{kind: source, rate: 1/s}}\n  x: {node}\n  {SINK_AND_EDGE}"
    with pytest.raises(flowsim.SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        flowsim.load_architecture(text)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("reg: {kind: model_registry, deploy_to: out}", "'out' is a sink; deploy_to must name a model_serving"),
        ("mon: {kind: drift_monitor, trigger: out}", "'out' is a sink; trigger must name a training"),
        (
            "srv: {kind: model_serving, features_from: out}",
            "'out' is a sink; features_from must name a feature_store",
        ),
    ],
)
def test_control_references_must_name_the_right_kind(field: str, message: str) -> None:
    text = f"name: bad\nnodes:\n  src: {{kind: source, rate: 1/s}}\n  {field}\n  {SINK_AND_EDGE}"
    with pytest.raises(flowsim.SpecError, match=message):
        flowsim.load_architecture(text)
