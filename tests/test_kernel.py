"""The kernel's shared semantics, the same for every kind: outages, backpressure, counting, gauges.

Each case is a tiny deterministic model whose figures are worked out by hand in the comments.
"""

from __future__ import annotations

import json
import math

import pytest

import flowsim
from helpers import run_traced, scenario_yaml


def scenario(nodes: str, edges: str, duration: str = "60s", extra: str = "") -> flowsim.Scenario:
    return flowsim.load_scenario(scenario_yaml(nodes, edges, duration, extra, name="kernel"))


# ---- outages: nested and overlapping faults ---------------------------------------------------
OVERLAPPING = """
faults:
  - {node: node, at: 10s, for: 20s}
  - {node: node, at: 15s, for: 30s}
"""


@pytest.mark.parametrize(
    ("kind", "nodes", "edges"),
    [
        (
            "service",
            "src: {kind: source, interarrival: 1s}\nnode: {kind: service, service_time: 0.1s}\ndone: {kind: sink}",
            "[src -> node, node -> done]",
        ),
        (
            "kafka_topic",
            "src: {kind: source, interarrival: 1s}\nnode: {kind: kafka_topic, partitions: 2}\ndone: {kind: sink}",
            "[src -> node, node -> done]",
        ),
        (
            "stream_processor",
            "src: {kind: source, interarrival: 1s}\nnode: {kind: stream_processor}\ndone: {kind: sink}",
            "[src -> node, node -> done]",
        ),
        (
            "airflow_dag",
            "src: {kind: source, interarrival: 1s}\n"
            "node: {kind: airflow_dag, schedule: every 5s, tasks: {load: {duration: 1s}}}\ndone: {kind: sink}",
            "[src -> node, node -> done]",
        ),
    ],
)
def test_overlapping_faults_give_the_same_downtime_for_every_kind(kind: str, nodes: str, edges: str) -> None:
    # down 10..30 and 15..45 overlap: the node is down from 10 to 45, once: 35 s, up again at 45
    model, events = run_traced(scenario(nodes, edges, extra=OVERLAPPING))
    node = model.nodes["node"]
    assert node.figures(60.0)["downtime_s"] == pytest.approx(35.0)
    assert not node.down
    # the kind heard of one outage: it went down at 10 and came back at 45
    marks = [
        (t, e)
        for t, n, e, _ in events
        if n == "node" and e in ("down", "up", "crash", "restart", "scheduler down", "scheduler up")
    ]
    assert [t for t, _ in marks] == [10.0, 45.0], kind


def test_downtime_counts_an_outage_still_running_at_the_end() -> None:
    # an Airflow scheduler down from 1h for 3h of a 2h run: 1 h of downtime, not 0
    s = scenario(
        "src: {kind: source, interarrival: 1m}\n"
        "etl: {kind: airflow_dag, schedule: every 10m, tasks: {load: {duration: 1m}}}\ndone: {kind: sink}",
        "[src -> etl, etl -> done]",
        duration="2h",
        extra="faults:\n  - {node: etl, at: 1h, for: 3h}\n",
    )
    result = flowsim.simulate(s)
    assert result.nodes["etl"].downtime_s == pytest.approx(3600.0)


def test_brownouts_multiply_and_reach_the_stream_processor() -> None:
    # per-event cost 1 s; two overlapping brownouts x2 and x3 from t=10: an event started at 20 takes 6 s
    s = scenario(
        "src: {kind: source, interarrival: 10s, limit: 3}\n"
        "job: {kind: stream_processor, parallelism: 1, per_event_cost: 1s}\ndone: {kind: sink}",
        "[src -> job, job -> done]",
        duration="40s",
        extra="faults:\n  - {node: job, at: 5s, for: 30s, slowdown: 2}\n"
        "  - {node: job, at: 15s, for: 10s, slowdown: 3}\n",
    )
    _, events = run_traced(s)
    emits = [t for t, node, event, _ in events if node == "job" and event == "emit"]
    # arrivals at 10 (x2 -> 2 s), 20 (x6 -> 6 s), 30 (x2 -> 2 s)
    assert emits == [12.0, 26.0, 32.0]


# ---- backpressure: FIFO among blocked senders -------------------------------------------------
def test_a_refused_waiter_keeps_its_place_and_every_freed_slot_wakes_the_next() -> None:
    # gate: 1 server, capacity 3 messages, blocks.  It takes f1 (1 msg, served 0.5..10.5) and
    # f2 (2 msgs at 1, waits).  big (2 msgs) is refused at 3, small (1 msg) at 4.  At 10.5 f1
    # leaves: 1 free, big does not fit, so it stays at the head and small waits behind it (FIFO).
    # At 20.5 f2 leaves: 3 free, big gets in, then small: both at 20.5, big first.
    s = scenario(
        """
        f1: {kind: source, interarrival: 0.5s, limit: 1}
        f2: {kind: source, interarrival: 1s, batch: 2, limit: 1}
        big: {kind: source, interarrival: 3s, batch: 2, limit: 1}
        small: {kind: source, interarrival: 4s, limit: 1}
        gate: {kind: service, service_time: 10s, capacity: 3, on_full: block}
        done: {kind: sink}
        """,
        "[f1 -> gate, f2 -> gate, big -> gate, small -> gate, gate -> done]",
        duration="60s",
    )
    _, events = run_traced(s)
    gate = [(t, e, k) for t, node, e, k in events if node == "gate" and e in ("arrive", "refuse")]
    assert gate == [
        (0.5, "arrive", 1),
        (1.0, "arrive", 1),
        (3.0, "refuse", 1),
        (4.0, "refuse", 1),
        (10.5, "refuse", 1),  # big, woken by f1's slot, still too big: it keeps its place
        (20.5, "arrive", 1),  # big
        (20.5, "arrive", 1),  # small, woken by the same freed room
    ]
    starts = [(t, k) for t, node, e, k in events if node == "gate" and e == "start"]
    assert [t for t, _ in starts] == [0.5, 10.5, 20.5, 30.5]  # f1, f2, big, small: in arrival order


# ---- blocked time counts a block still in progress ---------------------------------------------
def test_blocked_time_includes_a_block_still_running_at_the_end() -> None:
    # one arrival a second; api holds 10 messages and is down from 9000.25 s past the end (10000 s).
    # The arrival at 9000 is interrupted in service and requeued; with 9001..9009 it fills the
    # node, the one at 9010 is refused and the source waits until the end: 10000 - 9010 = 990 s.
    s = scenario(
        "src: {kind: source, interarrival: 1s}\n"
        "api: {kind: service, service_time: 0.5s, capacity: 10, on_full: block}\ndone: {kind: sink}",
        "[src -> api, api -> done]",
        duration="10000s",
        extra="faults:\n  - {node: api, at: 9000.25s, for: 5000s}\n",
    )
    result = flowsim.simulate(s)
    assert result.nodes["src"].blocked_time_s == pytest.approx(990.0)


# ---- deadlock ----------------------------------------------------------------------------------
def test_a_blocking_node_routed_to_itself_is_reported_as_deadlocked() -> None:
    s = scenario(
        "src: {kind: source, rate: 5/s}\n"
        "api: {kind: service, service_time: {dist: exponential, mean: 0.1s}, capacity: 5, on_full: block}\n"
        "done: {kind: sink}",
        "[src -> api, {from: api, to: api, weight: 9}, {from: api, to: done, weight: 1}]",
        duration="600s",
        extra="seed: 3\n",
    )
    result = flowsim.simulate(s)
    deadlocks = [w for w in result.warnings if w.startswith("deadlock")]
    assert len(deadlocks) == 1 and "api -> api" in deadlocks[0]
    assert result.nodes["api"].inside_at_end == 5


def test_a_loop_of_blocking_nodes_is_warned_of_before_the_run_and_its_deadlock_shown_in_the_table() -> None:
    from flowsim.reports.tables import analysis_summary

    loop = scenario(
        "s: {kind: source, rate: 5/s}\n"
        "a: {kind: service, service_time: 10ms, capacity: 1, on_full: block}\n"
        "b: {kind: service, service_time: 10ms, capacity: 1, on_full: block}\n"
        "d: {kind: sink}",
        "[s -> a, a -> b, {from: b, to: a, weight: 0.5}, {from: b, to: d, weight: 0.5}]",
        duration="1000s",
    )
    before = flowsim.analyze_scenario(loop).warnings
    assert any(w.startswith("'a', 'b' form a loop of nodes that block their senders") for w in before)
    result = flowsim.simulate(loop)
    deadlock = next(w for w in result.warnings if w.startswith("deadlock"))
    assert deadlock in analysis_summary(result).plain  # the table shows what the run found, not only the JSON
    # a line without a loop: nothing to say
    line = scenario(
        "s: {kind: source, rate: 5/s}\n"
        "a: {kind: service, service_time: 10ms, capacity: 1, on_full: block}\n"
        "d: {kind: sink}",
        "[s -> a, a -> d]",
        duration="10s",
    )
    assert not any("form a loop" in w for w in flowsim.analyze_scenario(line).warnings)


def test_a_busy_blocking_line_is_not_a_deadlock() -> None:
    s = scenario(
        "src: {kind: source, rate: 2/s}\n"
        "a: {kind: service, service_time: {dist: exponential, mean: 0.4s}, capacity: 2, on_full: block}\n"
        "b: {kind: service, service_time: {dist: exponential, mean: 0.45s}, capacity: 1, on_full: block}\n"
        "done: {kind: sink}",
        "[src -> a, a -> b, b -> done]",
        duration="2000s",
    )
    result = flowsim.simulate(s)
    assert result.nodes["a"].blocked_time_s > 0
    assert not [w for w in result.warnings if w.startswith("deadlock")]


# ---- empty samples are no data, for every kind ----------------------------------------------
def test_percentiles_of_nothing_are_no_data_for_every_kind() -> None:
    # nothing ever reaches the warehouse's query path or the feature store's reads
    s = scenario(
        "src: {kind: source, interarrival: 1s, start: 1000s}\n"
        "wh: {kind: warehouse}\nfs: {kind: feature_store}\ndone: {kind: sink}",
        "[src -> wh, wh -> fs, fs -> done]",
        duration="100s",
        extra=(
            "slos:\n  - nodes.wh.kind_figures.query_wait_p99_s < 1s\n"
            "  - nodes.fs.kind_figures.read_latency_p99_s < 1s\n  - end_to_end.done.latency_s.p99 < 1s\n"
        ),
    )
    result = flowsim.simulate(s)
    assert math.isnan(result.nodes["wh"].kind_figures["query_wait_p99_s"])
    assert math.isnan(result.nodes["fs"].kind_figures["read_latency_p99_s"])
    assert [(v.passed, v.value, v.note) for v in result.slos] == [(False, None, "no data")] * 3
    as_json = json.loads(result.model_dump_json())
    assert as_json["nodes"]["wh"]["kind_figures"]["query_wait_p99_s"] is None


def test_means_and_shares_of_nothing_are_no_data_too() -> None:
    # nothing arrives in the 100 s: no acked batch, no written partition, no committed output, no
    # request; each of these read 0 (a pass for `ack_wait_mean_s < 1s`) where no data was measured
    s = scenario(
        "src: {kind: source, interarrival: 1s, start: 1000s}\n"
        "topic: {kind: kafka_topic, brokers: {count: 3, replication_factor: 3}}\n"
        "job: {kind: stream_processor, guarantee: exactly_once}\n"
        "serve: {kind: model_serving}\ndone: {kind: sink}",
        "[src -> topic, topic -> job, job -> serve, serve -> done]",
        duration="100s",
    )
    result = flowsim.simulate(s)
    for node, figure in [("topic", "ack_wait_mean_s"), ("topic", "hot_partition_share"),
                         ("job", "output_latency_added_mean_s"), ("job", "output_latency_added_max_s"),
                         ("serve", "error_rate")]:  # fmt: skip
        assert math.isnan(result.nodes[node].kind_figures[figure]), (node, figure)


# ---- exact time-weighted gauges ----------------------------------------------------------------
KAFKA = """
src: {kind: source, rate: 200/s}
topic: {kind: kafka_topic, partitions: 4, consumer_defaults: {consumers: 2, processing_time: 4ms}}
job: {kind: sink}
"""


def test_lag_gauges_do_not_depend_on_the_sampling_interval() -> None:
    extra = "seed: 11\nfaults:\n  - {node: topic, at: 20s, for: 10s}\nsample_interval: "
    fine = flowsim.simulate(scenario(KAFKA, "[src -> topic, topic -> job]", "60s", extra + "0.1s\n"))
    coarse = flowsim.simulate(scenario(KAFKA, "[src -> topic, topic -> job]", "60s", extra + "7s\n"))
    for figure in ("lag_mean_seconds.job", "lag_max_seconds.job", "lag_mean_messages.job", "lag_max_messages.job"):
        assert fine.nodes["topic"].kind_figures[figure] == coarse.nodes["topic"].kind_figures[figure], figure
    # the 10 s outage: the oldest unread message is at least 10 s old when the brokers come back
    assert fine.nodes["topic"].kind_figures["lag_max_seconds.job"] >= 10.0


def test_lag_seconds_integrate_exactly() -> None:
    # one message born at 1 s; the group starts at 5 s from the earliest offset and takes 2 s to
    # process it: its age grows from 4 s (at 5) to 6 s (at 7), then there is no lag.
    # mean over the 10 s window = (4 + 6) / 2 * 2 / 10 = 1.0 s; max = 6 s.
    s = scenario(
        "src: {kind: source, interarrival: 1s, limit: 1}\n"
        "topic: {kind: kafka_topic, partitions: 1, linger: 0s,\n"
        "        consumer_defaults: {start: earliest, start_at: 5s, processing_time: 2s}}\njob: {kind: sink}",
        "[src -> topic, topic -> job]",
        duration="10s",
    )
    figures = flowsim.simulate(s).nodes["topic"].kind_figures
    assert figures["lag_mean_seconds.job"] == pytest.approx(1.0, abs=1e-3)
    assert figures["lag_max_seconds.job"] == pytest.approx(6.0, abs=1e-3)


# ---- the node contract -------------------------------------------------------------------------
def test_a_kind_missing_a_declared_duty_is_refused_at_build_with_its_name() -> None:
    from flowsim.build import check_contract
    from flowsim.engine.node import NodeRuntime
    from flowsim.errors import FlowsimError
    from flowsim.nodes.service import ServiceConfig, ServiceNode

    class Forgetful(ServiceNode):
        on_down = NodeRuntime.on_down  # declares can_fail (via the config) but drops the hook

    class ForgetfulConfig(ServiceConfig):
        def runtime_class(self) -> type[NodeRuntime]:
            return Forgetful

    config = ForgetfulConfig(kind="service", service_time=1.0)
    with pytest.raises(FlowsimError, match=r"node 'api' \(kind 'service'\).*can fail, but on_down"):
        check_contract("api", config)


# ---- the HPA's scale-down stabilization (engine.autoscaling) --------------------------------
def test_the_scale_down_window_acts_on_the_most_asked_for_in_the_window() -> None:
    from flowsim.engine.autoscaling import ScaleDownWindow, hpa_step

    # Kubernetes' example (KEP 853): asks 10, 9, 8, 9, 9, 8, 9, 8, 9 a minute apart on 10 replicas,
    # a 600 s window: nothing changes while 10 is in the window; at 600 s the ask of 0 s is no
    # longer after the cutoff (600 - 600 = 0), so the most of the rest, 9, is what the HPA acts on
    window = ScaleDownWindow(600.0)
    acted = [window.stabilized(60.0 * i, 10, ask) for i, ask in enumerate([10, 9, 8, 9, 9, 8, 9, 8, 9, 8])]
    assert acted == [10] * 10
    assert window.stabilized(600.0, 10, 7) == 9
    # a scale-up is never held back, and a scale-down is never turned into a step up
    assert window.stabilized(660.0, 10, 12) == 12
    assert window.stabilized(720.0, 8, 7) == 8  # the 12 (and 9s) in the window: stay at 8, no step up
    # within the tolerance the ask is what runs (and that is what the window keeps)
    lone = ScaleDownWindow(300.0)
    assert hpa_step(6, 2, 1.05, 0.1, 4, 100.0, lone, 0.0) == 6
    assert hpa_step(6, 2, 0.3, 0.1, 4, 100.0, lone, 30.0) == 6  # the 6 asked for at 0 s is in the window
    assert hpa_step(6, 2, 0.3, 0.1, 4, 100.0, lone, 300.0) == 2  # no longer after the cutoff: down to 2
    assert hpa_step(2, 30, 5.0, 0.1, 4, 100.0, lone, 330.0) == 6  # up: 2 + max(4, 100% of 2)


def test_a_long_line_of_blocking_nodes_is_no_loop() -> None:
    # 1,500 blocking nodes in a row: no loop to warn of (and the search is not a recursion 1,500 deep)
    n = 1500
    nodes = "\n".join(f"n{i}: {{kind: service, service_time: 1ms, capacity: 2, on_full: block}}" for i in range(n))
    edges = ", ".join(["s -> n0", *(f"n{i} -> n{i + 1}" for i in range(n - 1)), f"n{n - 1} -> d"])
    line = scenario(f"s: {{kind: source, rate: 1/s}}\n{nodes}\nd: {{kind: sink}}", f"[{edges}]", duration="10s")
    assert not any("form a loop" in w for w in flowsim.analyze_scenario(line).warnings)
