"""The consumer-group scenarios teach what their descriptions say: asserted from simulated figures."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

import flowsim
from flowsim.build import build_model

pytestmark = pytest.mark.slow  # each test runs whole shipped scenarios

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


@cache
def run(name: str) -> flowsim.RunResult:
    return flowsim.simulate(flowsim.load_scenario(SCENARIOS / f"{name}.yaml"))


def test_a_rolling_restart_under_eager_stops_every_partition_and_cooperative_only_the_moved_ones() -> None:
    eager, coop = run("rebalance-storm-eager"), run("rebalance-storm-cooperative")
    assert eager.passed() and coop.passed()
    e, c = eager.nodes["events_topic"].kind_figures, coop.nodes["events_topic"].kind_figures
    # 4 consumers each leave and rejoin: eager 8 rounds of 3 s, all 12 partitions stopped each time
    assert (e["rebalances.enrich"], e["rebalance_time_s.enrich"]) == (8, pytest.approx(24.0))
    assert e["paused_partition_s.enrich"] == pytest.approx(12 * 24.0)
    # cooperative: a leave is 1 round (the leaver's 3 partitions), a join 2 (revoke, then assign 3):
    # 12 rounds, but only 3 partitions stop for 3 s each time: 8 x 3 x 3 = 72 partition-seconds
    assert (c["rebalances.enrich"], c["rebalance_time_s.enrich"]) == (12, pytest.approx(36.0))
    assert c["paused_partition_s.enrich"] == pytest.approx(8 * 3 * 3.0)
    # the lag spike: 2,000/s for a 3 s pause of all partitions (6,000) vs a quarter of them (1,500),
    # plus what is in flight (client batches of 10, producer batches of 200)
    assert 6000 <= e["lag_max_messages.enrich"] < 7000 and 1500 <= c["lag_max_messages.enrich"] < 2000
    # the time-weighted lag: each pause ramps to its peak (area peak x 3 s / 2), then the job's
    # buffer takes the backlog at once; 8 pauses over the 160 s window: 8 x 9,000 / 160 = 450 vs 112.5
    assert e["lag_mean_messages.enrich"] == pytest.approx(8 * 6000 * 3 / 2 / 160, rel=0.1)
    assert c["lag_mean_messages.enrich"] == pytest.approx(8 * 1500 * 3 / 2 / 160, rel=0.1)
    # clean leaves commit: nothing is delivered twice; the end-to-end tail carries the pauses
    assert e["redelivered.enrich"] == c["redelivered.enrich"] == 0
    le, lc = eager.end_to_end["serving"].latency_s, coop.end_to_end["serving"].latency_s
    assert le is not None and lc is not None
    assert le.p99 > 3.0 > lc.p99 and le.mean > 4 * lc.mean


def test_autoscaling_on_lag_catches_the_peak_and_pays_a_rebalance_per_step() -> None:
    scenario = flowsim.load_scenario(SCENARIOS / "consumer-autoscaling.yaml")
    model = build_model(scenario, trace=True)
    model.run()
    steps = [(t, event.split(" (")[0]) for t, _node, event, _key in model.trace if event.startswith("scale")]
    # the peak starts at 120 s; the reading at 150 s sees 30 s x (3,000 - 1,200)/s = 54,000 behind:
    # ceil(54,000 / 5,000) = 11 (12 with the lag at 120 s), but the HPA that KEDA drives adds at most
    # 4 pods or 100% a step (its default scale-up policies): max(3 + 4, 2 x 3) = 7. At 180 s, 70,050
    # behind, it wants ceil(14.01) = 15, capped at 12 (and at 7 + max(4, 7) = 14)
    assert steps[:2] == [(150.0, "scale store 3 -> 7"), (180.0, "scale store 7 -> 12")]
    # 12 consumers (4,800/s) drain the backlog at 1,800/s in ~40 s: from 240 s every reading asks for
    # the minimum, 3 (at 210 s, still ~45,000 behind, it asked for 9).  The HPA scales in only to the
    # most asked for over its 5-minute window: at 480 s the 12 of 180 s is no longer after the cutoff
    # (480 - 300 = 180) and the most left is the 9 of 210 s; at 510 s that one is out too: 3
    assert steps[2:] == [(480.0, "scale store 12 -> 9"), (510.0, "scale store 9 -> 3")]
    figures = model.nodes["orders_topic"].figures(model.network.window)
    # every step is one eager rebalance of 3 s: all 12 partitions stop
    assert figures["rebalances.store"] == figures["scale_steps.store"] == 4
    assert figures["rebalance_time_s.store"] == pytest.approx(4 * 3.0)
    assert figures["paused_partition_s.store"] == pytest.approx(4 * 3.0 * 12)
    assert figures["lag_max_messages.store"] < 80_000 and figures["lag_max_seconds.store"] < 40
    # scaled in to 3 consumers on 12 partitions: none idle (the 9 scaled-in members were counted idle)
    assert figures["idle_consumers.store"] == 0
    # the consumers over time: 3 before the first step, 12 through the first part of the peak
    series = run("consumer-autoscaling").series
    count = series[series.node == "orders_topic"].set_index("time_s")["consumers.store"]
    assert count[count.index < 150].eq(3).all() and count[(count.index > 185) & (count.index < 480)].eq(12).all()
    # fixed at three: the lag grows at 1,800/s for the 360 s of the peak
    text = (SCENARIOS / "consumer-autoscaling.yaml").read_text()
    head, tail = text.split("  nodes.orders_topic.consumer_groups.store.membership:")
    fixed_text = head + "slos:" + tail.split("slos:")[1]
    fixed = flowsim.simulate(flowsim.load_scenario(fixed_text, base_dir=SCENARIOS)).nodes["orders_topic"].kind_figures
    assert fixed["lag_max_messages.store"] == pytest.approx(1800 * 360, rel=0.02)
    assert fixed["lag_max_seconds.store"] > 400 > 10 * figures["lag_max_seconds.store"]
