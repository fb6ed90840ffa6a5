"""The lessons of the ML-platform scenarios, asserted from the simulated figures."""

from __future__ import annotations

import itertools
from functools import cache
from pathlib import Path

import pytest

import flowsim

pytestmark = pytest.mark.slow  # each test runs whole shipped scenarios

ROOT = Path(__file__).resolve().parent.parent


@cache
def run(name: str, warm_up: str | None = None) -> flowsim.RunResult:
    overrides = {"nodes.serving.autoscale.warm_up": warm_up} if warm_up else None
    return flowsim.simulate(flowsim.load_scenario(ROOT / "scenarios" / f"{name}.yaml", overrides))


@cache
def run_with(name: str, *overrides: tuple[str, object]) -> flowsim.RunResult:
    return flowsim.simulate(flowsim.load_scenario(ROOT / "scenarios" / f"{name}.yaml", dict(overrides) or None))


def test_ml_baseline_matches_its_back_of_envelope() -> None:
    result = run("ml-baseline")
    assert result.passed()
    serving = result.nodes["serving"]
    assert serving.utilization == pytest.approx(10 * 0.080 / 2, abs=0.02)  # lambda x S / replicas
    assert serving.kind_figures["scale_ups"] == 0  # 0.4 < target 0.6: the minimum 2 replicas suffice
    features = result.nodes["features"].kind_figures
    # hourly snapshots visible 10 min later: staleness runs from 10 to 70 min, 40 min on average
    assert features["staleness_mean_s"] == pytest.approx(600 + 3600 / 2, rel=0.05)
    assert features["staleness_max_s"] == pytest.approx(600 + 3600, rel=0.01)
    training = result.nodes["training"].kind_figures
    # 2 h of 100 messages/s = 720,000 messages x 2 ms + 20 min = 2640 s
    assert training["trigger_to_version_mean_s"] == pytest.approx(1200 + 0.002 * 720_000, rel=0.02)
    assert result.nodes["registry"].kind_figures["promoted"] == training["versions"] == 1


def test_drift_is_remediated_after_detect_train_validate_and_canary() -> None:
    result = run("drift-retraining")
    drift = result.nodes["drift"].kind_figures
    assert drift["time_to_detect_mean_s"] == pytest.approx(900)  # the window: samples come faster
    train = result.nodes["training"].kind_figures["trigger_to_version_mean_s"]
    assert train == pytest.approx(1200 + 0.002 * 100 * 4500, rel=0.02)  # the data written up to detection
    assert drift["time_to_remediate_mean_s"] == pytest.approx(900 + train + 300 + 1800)
    (timeline,) = result.extra["serving"]
    events = [(v["version"], v["event"]) for v in timeline["versions"]]
    assert events == [(0, "serving"), (1, "canary"), (1, "promoted")]
    serving = result.nodes["serving"].kind_figures
    assert serving["stale_serving_max_s"] == pytest.approx(drift["time_to_remediate_mean_s"])
    # the canary and the detection window are most of the stale time, not the training run
    assert train < 900 + 1800
    # the stale model's predictions: 10/s over the stale time, less the new version's 10% share of
    # the 30-minute canary: 10 x 5098 - 0.1 x 1800 x 10 = 49,180 (Poisson requests: within 2%)
    stale = 10 * drift["time_to_remediate_mean_s"] - 0.1 * 1800 * 10
    assert result.nodes["drift"].kind_figures["predictions_during_drift"] == pytest.approx(stale, rel=0.02)


def test_autoscaling_warm_up_decides_the_latency_spike() -> None:
    slow, fast = run("autoscaling-warmup"), run("autoscaling-warmup", "30s")
    p99_slow = slow.end_to_end["predictions"].latency_s
    p99_fast = fast.end_to_end["predictions"].latency_s
    assert p99_slow is not None and p99_fast is not None
    assert p99_slow.p50 < 0.15  # outside the spike nothing waits
    assert p99_slow.p99 > 60  # minutes of queueing while replicas warm up
    assert p99_fast.p99 < p99_slow.p99 / 4
    (timeline,) = slow.extra["serving"]
    first_ready = timeline["replicas"][1]["time_s"]
    assert 3600 + 300 < first_ready <= 3600 + 30 + 300  # spike at 1h, decision within 30 s, 5 min warm-up
    series = slow.series
    queue = series[series.node == "serving"]
    peak_time = float(queue.time_s[queue.waiting.idxmax()])
    assert 3600 < peak_time <= first_ready + 60  # the queue grows until the first new replicas serve


def test_a_bad_model_is_rolled_back_by_its_canary_alarm() -> None:
    guarded = run_with("canary-rollback")
    open_door = run_with("canary-rollback", ("nodes.serving.canary.alarm", None))
    (timeline,) = guarded.extra["serving"]
    events = [(v["version"], v["event"]) for v in timeline["versions"]]
    assert events == [(0, "serving"), (1, "canary"), (1, "rolled back")]
    canary_at, rolled_at = timeline["versions"][1]["time_s"], timeline["versions"][2]["time_s"]
    # canary as in ml-baseline: 7200 + 2645 s of training + 300 s validation; the alarm needs 2 of 2
    # five-minute datapoints above 10% (v1 errs on 30%): it fires 2 x 300 s after the canary began
    assert canary_at == pytest.approx(7200 + 2645 + 300, abs=10) and rolled_at == pytest.approx(canary_at + 600)
    served = guarded.nodes["serving"].kind_figures
    # v1's share: 10% of 10/s for 600 s = 600 requests (Poisson: sd 24.5), 30% of them wrong (180)
    assert served["requests_v1"] == served["requests_rolled_back"] == pytest.approx(600, abs=4 * 24.5)
    assert served["errors_v1"] == pytest.approx(0.3 * served["requests_v1"], abs=4 * (0.21 * 600) ** 0.5)
    # without the alarm the canary promotes v1 at canary + 1800 s; it then answers every request
    # to the end: 10% x 1800 s x 10/s + (14,400 - 11,945) s x 10/s = 26,350, 30% wrong = 7,905
    loose = open_door.nodes["serving"].kind_figures
    assert loose["promotions"] == 1 and loose["requests_v1"] == pytest.approx(26_350, rel=0.03)
    assert loose["errors_v1"] == pytest.approx(0.3 * 26_350, rel=0.05)
    assert loose["errors_v1"] > 30 * served["errors_v1"]  # the alarm kept ~97% of the wrong answers away
    assert guarded.totals.unaccounted == open_door.totals.unaccounted == 0


def test_blue_green_all_at_once_exposes_all_traffic_and_bills_a_second_fleet() -> None:
    alarm = {"threshold": 0.1, "period": "5m", "evaluation_periods": 2, "datapoints_to_alarm": 2}
    blue_green = {"traffic": "all_at_once", "wait_interval": "30m", "alarm": alarm}
    overrides = {"nodes.serving.canary": None, "nodes.serving.blue_green": blue_green}
    result = flowsim.simulate(flowsim.load_scenario(ROOT / "scenarios" / "canary-rollback.yaml", overrides))
    (timeline,) = result.extra["serving"]
    events = [(v["version"], v["event"]) for v in timeline["versions"]]
    assert events == [(0, "serving"), (1, "shift"), (1, "rolled back")]
    served = result.nodes["serving"].kind_figures
    # the same 600 s to the alarm, but with all the traffic: 10/s x 600 s = 6,000 requests on v1
    # (Poisson sd 77), 30% wrong = 1,800 (ten times the canary's 180)
    assert served["requests_v1"] == pytest.approx(6000, abs=4 * 77)
    assert served["errors_v1"] == pytest.approx(0.3 * served["requests_v1"], abs=4 * (0.21 * 6000) ** 0.5)
    # a green fleet of the 2 blue replicas ran those 600 s: 2 + 2 x 600 / 13,200 = 2.091 replicas billed
    assert served["billed_units"] == pytest.approx(2 + 2 * 600 / 13_200) and served["replicas_max"] == 4
    assert result.totals.unaccounted == 0


def test_a_sweep_delays_the_urgent_retrain_unless_retrains_go_first() -> None:
    fifo = run_with("sweep-delays-retrain")
    first = run_with("sweep-delays-retrain", ("nodes.training.priority", "retrain_first"))
    alone = run("drift-retraining")
    t_fifo, t_first = fifo.nodes["training"].kind_figures, first.nodes["training"].kind_figures
    # trials of 1 h on both GPU pairs from 1800 s, two more queued: the retrain queued at 4500 s
    # (drift 3600 + 900 s window) waits for the queued pair, which runs 5400..9000: 4500 s
    assert t_fifo["run_wait_mean_s"] == pytest.approx(9000 - 4500)
    # retrain_first: it passes the queued trials and waits only for the running ones (5400 s)
    assert t_first["run_wait_mean_s"] == pytest.approx(5400 - 4500)
    assert alone.nodes["training"].kind_figures["run_wait_mean_s"] == 0
    # the later run reads more data: 9000 s x 100/s x 2 ms + 1200 = 3000 s, against 2280 s at 5400
    assert t_fifo["trigger_to_version_mean_s"] == pytest.approx(4500 + 3000, rel=0.01)
    assert t_first["trigger_to_version_mean_s"] == pytest.approx(900 + 2280, rel=0.01)
    # remediated after 900 + wait + run + 300 + 1800: 10,500 s (FIFO), 6,180 s (retrain first), 5,100 s alone
    remedy = [r.nodes["drift"].kind_figures["time_to_remediate_mean_s"] for r in (fifo, first, alone)]
    assert remedy == pytest.approx([10_500, 6_180, 5_100], rel=0.01)
    # the tracked runs: 5 of the 8 trials ended by 4 h (2 at 5400, 2 at 9000, 1 at 12,600)
    runs = fifo.extra["training"][0]["runs"]
    trials = [r for r in runs if r["job"] == "trial"]
    assert len(trials) == t_fifo["trials"] == 5 and {r["duration_s"] for r in trials} == {3600.0}
    assert t_fifo["sweep_best_error_rate"] == min(r["error_rate"] for r in trials)
    assert 0.05 <= t_fifo["sweep_best_error_rate"] <= 0.15


def test_an_hourly_monitor_detects_later_and_costs_wrong_predictions() -> None:
    hourly = run_with("drift-hourly-monitor")
    steady = run_with("drift-hourly-monitor", ("nodes.drift.check_every", None), ("nodes.drift.check_offset", 0))
    d_hourly, d_steady = hourly.nodes["drift"].kind_figures, steady.nodes["drift"].kind_figures
    # onset 4200 s; the job over 3600..7200 reports at 7200 + 1200 = 8400: 4200 s to detect
    assert d_hourly["time_to_detect_mean_s"] == 8400 - 4200 and d_steady["time_to_detect_mean_s"] == 900
    # retrain on 8400 s x 100/s (2880 s), validate 300, canary 1800: 4200 + 2880 + 300 + 1800 = 9180
    assert d_hourly["time_to_remediate_mean_s"] == pytest.approx(9180, rel=0.01)
    # jobs report at 4800, 8400, 12,000, 15,600: the drift found at 8400 and again at 12,000
    assert (d_hourly["checks"], d_hourly["violations"], d_hourly["detections"]) == (4, 2, 1)
    # the stale model errs on 20% more: wrong predictions ~ 0.2 x its predictions during the drift
    for result in (hourly, steady):
        stale = result.nodes["drift"].kind_figures["predictions_during_drift"]
        wrong = result.nodes["serving"].kind_figures["errors_v0"]
        assert wrong == pytest.approx(0.2 * stale, abs=4 * (0.16 * stale) ** 0.5)  # binomial, 4 sd
    # 3,960 s more of stale serving (9180 - 5220) at 10/s x 0.2: ~7,900 more wrong predictions
    extra = hourly.nodes["serving"].kind_figures["errors_v0"] - steady.nodes["serving"].kind_figures["errors_v0"]
    assert extra == pytest.approx(0.2 * 10 * (9180 - 5220), rel=0.05)


def test_whole_batch_failures_quarantine_three_times_the_failure_rate() -> None:
    import math

    result = run_with("data-quality-quarantine")
    check = result.nodes["check"]
    batches = check.arrivals / 50
    # X ~ Bin(50, 0.08) failures per batch; a batch fails whole when X > 5 (more than 10%)
    pmf = [math.comb(50, k) * 0.08**k * 0.92 ** (50 - k) for k in range(51)]
    p_whole = sum(pmf[6:])  # 0.2081
    per_batch = 50 * p_whole + sum(k * pmf[k] for k in range(6))  # 10.41 + 2.58 = 12.99 records
    second = sum((50 if k > 5 else k) ** 2 * pmf[k] for k in range(51))
    sd = math.sqrt(batches * (second - per_batch**2))  # 19.0 per batch: ~1,620 over ~7,200 batches
    assert check.dead_lettered == pytest.approx(batches * per_batch, abs=4 * sd)
    assert check.kind_figures["batches_failed"] == pytest.approx(
        batches * p_whole, abs=4 * math.sqrt(batches * p_whole * (1 - p_whole))
    )
    # the lesson: 8% of records fail, about 26% are quarantined
    assert 0.24 < check.dead_lettered / check.arrivals < 0.28
    # nothing vanishes: every quarantined record is in the quarantine table, counted as dead-lettered
    assert result.nodes["quarantine"].arrivals == check.dead_lettered == result.totals.dead_lettered
    assert check.completed + check.dead_lettered == check.arrivals and result.totals.unaccounted == 0


@pytest.mark.parametrize(
    "name",
    ["ml-baseline", "drift-retraining", "autoscaling-warmup", "canary-rollback", "sweep-delays-retrain",
     "drift-hourly-monitor", "data-quality-quarantine"],
)  # fmt: skip
def test_ml_kinds_keep_the_message_balance(name: str) -> None:
    ml_kinds = ("feature_store", "training", "model_registry", "model_serving", "drift_monitor", "data_quality")
    for node_name, node in run(name).nodes.items():
        if node.kind in ml_kinds:
            balance = node.arrivals + node.inside_at_start - node.completed - node.dropped - node.dead_lettered
            assert balance == pytest.approx(node.inside_at_end), node_name


def test_replicas_warming_up_are_billed_from_their_start() -> None:
    # a cloud bills an instance from its start: node start, image pull and model load included.
    # Every scale-up here starts inside the window and warms 5 min, so billed - ready replicas is
    # the replicas added x 300 s over the window (2 -> 4 -> 7 -> 12: 10 added, 3,000 replica-seconds)
    result = flowsim.simulate(flowsim.load_scenario(ROOT / "scenarios" / "autoscaling-warmup.yaml"))
    (timeline,) = result.extra["serving"]
    replicas = [point["replicas"] for point in timeline["replicas"]]
    added = sum(max(b - a, 0.0) for a, b in itertools.pairwise(replicas))
    served = result.nodes["serving"].kind_figures
    assert added == 10
    assert served["billed_units"] - served["replicas_mean"] == pytest.approx(added * 300 / result.window_s)
