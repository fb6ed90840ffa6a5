"""The lessons of the ML-platform scenarios, asserted from the simulated figures."""

from __future__ import annotations

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


@pytest.mark.parametrize("name", ["ml-baseline", "drift-retraining", "autoscaling-warmup"])
def test_ml_kinds_keep_the_message_balance(name: str) -> None:
    ml_kinds = ("feature_store", "training", "model_registry", "model_serving", "drift_monitor")
    for node_name, node in run(name).nodes.items():
        if node.kind in ml_kinds:
            balance = node.arrivals + node.inside_at_start - node.completed - node.dropped - node.dead_lettered
            assert balance == pytest.approx(node.inside_at_end), node_name
