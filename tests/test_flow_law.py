"""Flow laws: each kind's capacity, delay and full behaviour from its configuration, and the analytic
view that uses them for every kind (bottleneck, headroom and overload warnings beyond queues)."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest
import yaml

import flowsim
from flowsim.analysis.queueing import mmc
from flowsim.analysis.view import AnalyticView
from flowsim.engine.flow import Delay, FlowLaw, State
from flowsim.nodes.base import NodeConfig
from flowsim.spec.architecture import Architecture

ROOT = Path(__file__).resolve().parents[1]


def architecture(nodes: str, edges: str, multiplier: float = 1.0) -> tuple[Architecture, float]:
    node_lines = textwrap.indent(textwrap.dedent(nodes).strip(), "    ")
    text = (
        f"name: flow\narchitecture:\n  name: flow\n  nodes:\n{node_lines}\n  edges: {edges}\n"
        f"duration: 60s\nload: {{multiplier: {multiplier}}}\n"
    )
    scenario = flowsim.load_scenario(text)
    return scenario.arch, scenario.load.multiplier


def node(kind_fields: str) -> NodeConfig:
    """One node's config, validated on its own (no graph around it)."""
    return Architecture.model_validate({"name": "one", "nodes": {"x": yaml.safe_load(f"{{{kind_fields}}}")}}).nodes["x"]


def law(config: NodeConfig, outputs: tuple[str, ...] = ()) -> FlowLaw:
    result = config.flow_law(outputs)
    assert result is not None
    return result


def capacities(result: FlowLaw) -> dict[str, float]:
    return {stage.name: stage.capacity() for stage in result.stages}


# ---- the law type ----------------------------------------------------------------------------
def test_stage_capacity_follows_the_state() -> None:
    servers = law(node("kind: service, servers: 4, service_time: 100ms")).stage("servers")
    assert servers.capacity() == pytest.approx(40)  # 4 servers / 0.1 s
    assert servers.capacity(State(down=True)) == 0.0
    assert servers.capacity(State(slowdown=2.0)) == pytest.approx(20)  # a brownout doubles the work
    assert servers.capacity(State(servers=6)) == pytest.approx(60)  # 6 / 0.1 s


def test_queueing_delay_is_erlang_c_scaled_by_allen_cunneen() -> None:
    exponential = Delay(servers=3, service_s=1.0, scv=1.0)
    assert exponential.mean_s(2.1) == pytest.approx(mmc(2.1, 1.0, 3).w)  # M/M/3 at rho 0.7: W = 1.5470
    deterministic = Delay(servers=1, service_s=1.0, scv=0.0)
    assert deterministic.mean_s(0.7) == pytest.approx(1 + 0.7 / (2 * 0.3))  # M/D/1: S + rho S / (2 (1 - rho))
    assert exponential.mean_s(3.0) == math.inf  # saturated
    held = Delay(hold_s=0.5, hold_per_rate_s=0.001)
    assert held.mean_s(100, messages_per_item=10) == pytest.approx(0.5 + 0.001 * 1000)  # 1000 msg/s


# ---- one law per kind ------------------------------------------------------------------------
def test_source_states_its_rate_and_no_limit() -> None:
    source = law(node("kind: source, rate: 200/s, batch: 10"))
    assert source.emits_per_s == pytest.approx(2000)  # 200 items/s x 10 messages
    assert source.stages == () and source.capacity() == math.inf


def test_sink_is_unbounded() -> None:
    sink = law(node("kind: sink"))
    assert sink.stages == () and sink.capacity() == math.inf


def test_delay_is_m_g_infinity() -> None:
    delay = law(node("kind: delay, time: {dist: uniform, low: 5ms, high: 15ms}"))
    assert delay.stages == () and delay.capacity() == math.inf
    assert delay.delay.mean_s(1e6) == pytest.approx(0.010)  # (5 + 15) / 2 ms at any rate


def test_service_counts_every_attempt_and_says_what_full_does() -> None:
    fields = "kind: service, servers: 4, service_time: 50ms, error_rate: 0.5, retry: {max_attempts: 4}"
    service = law(node(fields))
    # attempts per item (1 - 0.5^4) / (1 - 0.5) = 1.875: 4 / (0.05 s x 1.875) = 42.67 items/s
    assert service.capacity() == pytest.approx(4 / (0.05 * 1.875))
    assert service.capacity(messages_per_item=10) == pytest.approx(426.67, rel=1e-4)  # a server serves an item
    assert service.passes == pytest.approx(1 - 0.5**4)
    assert service.stage("servers").on_full == "queue"  # unbounded
    blocking = law(node("kind: service, servers: 2, service_time: 1s, capacity: 10, on_full: block"))
    assert blocking.stage("servers").on_full == "block" and blocking.stage("servers").buffer == 10
    dropping = law(node("kind: service, servers: 2, service_time: 1s, capacity: 10"))
    assert dropping.stage("servers").on_full == "drop"


def test_model_serving_uses_starting_replicas_with_the_autoscaler_ceiling() -> None:
    fields = (
        "kind: model_serving, replicas: 2, service_time: {dist: lognormal, mean: 80ms, stdev: 40ms}, "
        "autoscale: {min_replicas: 2, max_replicas: 12}"
    )
    replicas = law(node(fields)).stage("replicas")
    assert replicas.capacity() == pytest.approx(25)  # 2 replicas / 0.08 s now
    assert replicas.ceiling == 12
    assert replicas.capacity(State(servers=replicas.ceiling)) == pytest.approx(150)  # 12 / 0.08 s at most


def test_warehouse_query_path_and_a_load_window() -> None:
    fields = "kind: warehouse, slots: 4, load_slots: 2, query_time: {dist: lognormal, mean: 3s, stdev: 3s}"
    queries = law(node(fields)).stage("query slots")
    assert queries.capacity() == pytest.approx(4 / 3)  # 4 slots / 3 s
    assert queries.capacity(State(servers=4 - 2)) == pytest.approx(2 / 3)  # a load holds 2 of them


def test_kafka_topic_partition_writes() -> None:
    topic = law(node("kind: kafka_topic, partitions: 12, partition_write_rate: 10000/s"))
    assert capacities(topic) == {"partition writes": pytest.approx(120_000)}  # 12 partitions x 10,000/s
    narrow = law(node("kind: kafka_topic, partitions: 12, partition_write_bandwidth: 4MB, message_size: 1KB"))
    assert narrow.capacity() == pytest.approx(48_000)  # 12 x min(10,000, 4 MB / 1 KB = 4,000)
    skewed = law(node("kind: kafka_topic, partitions: 12, partitioner: skewed, hot_share: 0.5"))
    assert skewed.capacity() == pytest.approx(20_000)  # the hot partition: 10,000/s / 0.5 share
    assert law(node("kind: kafka_topic, on_buffer_full: drop")).stage("partition writes").on_full == "drop"


def test_kafka_consumer_groups_are_limited_by_their_busiest_consumer() -> None:
    groups = (
        "kind: kafka_topic, partitions: 12, consumer_groups: {"
        "four: {consumers: 4, processing_time: 1ms}, five: {consumers: 5, processing_time: 1ms}, "
        "many: {consumers: 16, processing_time: 1ms}, free: {consumers: 1}}"
    )
    topic = law(node(groups), ("four", "five", "many", "free", "other"))
    cap = capacities(topic)
    assert cap["consumer group 'four'"] == pytest.approx(4000)  # 4 consumers x 1,000/s, 3 partitions each
    # busiest holds 3 of 12 partitions: 1,000/s / 0.25 = 4,000/s sustained (overloaded, all five
    # drain 5,000/s, but the lag of the 3-partition consumers grows beyond 4,000/s offered)
    assert cap["consumer group 'five'"] == pytest.approx(4000)
    assert cap["consumer group 'many'"] == pytest.approx(12_000)  # min(16, 12 partitions) x 1,000/s: 4 sit idle
    assert cap["consumer group 'free'"] == math.inf  # 0 processing time: unbounded
    assert cap["consumer group 'other'"] == math.inf  # consumer_defaults: 0 processing time
    skewed = law(node("kind: kafka_topic, partitions: 12, partitioner: skewed, hot_share: 0.5, "
                      "consumer_groups: {g: {consumers: 12, processing_time: 1.5ms}}"), ("g",))  # fmt: skip
    assert skewed.stage("consumer group 'g'").capacity() == pytest.approx(1333.3, rel=1e-4)  # 667/s / 0.5
    assert skewed.stage("consumer group 'g'").on_full == "queue"  # the group lags, it neither drops nor blocks


def test_stream_processor_capacity_and_delays() -> None:
    job = law(node("kind: stream_processor, parallelism: 4, per_event_cost: 1.5ms, capacity: 10000"))
    assert job.capacity() == pytest.approx(2666.67, rel=1e-4)  # 4 tasks / 1.5 ms
    assert job.stage("tasks").on_full == "block" and job.stage("tasks").buffer == 10_000
    micro = law(node("kind: stream_processor, parallelism: 2, per_event_cost: 5ms, mode: micro_batch, "
                     "batch_interval: 2s, guarantee: exactly_once, checkpoint_interval: 30s"))  # fmt: skip
    assert micro.capacity() == pytest.approx(400)  # 2 tasks / 5 ms, whatever the mode
    # 1 s to the trigger + a batch of 200/s x 2 s x 5 ms / 2 tasks = 1 s; exactly-once commits each
    # micro-batch as it ends (Spark), so nothing waits for the 30 s checkpoint
    assert micro.delay.mean_s(200) == pytest.approx(1 + 1)
    flink = law(node("kind: stream_processor, parallelism: 2, per_event_cost: 5ms, "
                     "guarantee: exactly_once, checkpoint_interval: 30s"))  # fmt: skip
    assert flink.delay.hold_s == pytest.approx(15)  # per event: output waits for the next checkpoint


def test_airflow_dag_bulk_law() -> None:
    lam = flowsim.load_scenario(ROOT / "scenarios" / "lambda-baseline.yaml").arch
    runs = law(lam.nodes["batch_etl"]).stage("runs")
    # 1 active run per hour: (1 - (2 + 5 + 1) min / 60 min) / 1 ms per message = 866.7 messages/s
    assert runs.capacity() == pytest.approx((1 - 480 / 3600) / 0.001)
    assert "extract -> transform -> publish" in runs.note
    tasks = (
        "a: {duration: 10m, per_message: 1ms, pool: db}, "
        "b: {duration: 10m, per_message: 1ms, pool: db, depends_on: [a], failure_rate: 0.5, retries: 1}"
    )
    dag = law(node(f"kind: airflow_dag, schedule: '@hourly', max_active_runs: 2, pools: {{db: 2}}, tasks: {{{tasks}}}"))
    # b tries 1 + 0.5 = 1.5 times and waits 0.5 x 300 s: path a -> b = 600 + 900 + 150 s fixed,
    # 0.001 + 0.0015 s per message: (2 - 1650 / 3600) / 0.0025 = 616.7 messages/s
    assert dag.stage("runs").capacity() == pytest.approx((2 - 1650 / 3600) / 0.0025)
    # the pool: tries hold slots 600 + 900 s an hour: (2 slots - 0.4167) / 0.0025 = 633.3 messages/s
    assert dag.stage("pool 'db'").capacity() == pytest.approx((2 - 1500 / 3600) / 0.0025)
    assert dag.passes == pytest.approx(1 - 0.5**2)  # b fails the run when both tries fail


def test_training_gpu_pool_bulk_law() -> None:
    ml = flowsim.load_scenario(ROOT / "scenarios" / "ml-baseline.yaml").arch  # failure_rate 0 there
    pool = law(ml.nodes["training"]).stage("GPU pool")
    # 8 GPUs / 4 per run = 2 runs; 20 min fixed every 2 h: (2 - 1200 / 7200) / 2 ms = 916.7 messages/s
    assert pool.capacity() == pytest.approx((2 - 1200 / 7200) / 0.002)
    assert law(ml.nodes["training"]).passes == 0.0  # a merge: data messages end in a version


def test_feature_store_reads_are_lookups_from_the_nodes_naming_it() -> None:
    reads = law(node("kind: feature_store, read_capacity: 32, read_latency: 5ms")).stage("online reads")
    assert reads.capacity() == pytest.approx(6400)  # 32 slots / 5 ms
    assert reads.per == "lookup" and reads.fed_by == "features_from" and reads.on_full == "queue"
    dropping = law(node("kind: feature_store, on_read_full: drop")).stage("online reads")
    assert dropping.on_full == "drop"


def test_registry_and_drift_monitor_do_not_limit_the_flow() -> None:
    registry = law(node("kind: model_registry, validation_time: 5m"))
    assert registry.stages == () and registry.delay.mean_s(1.0) == pytest.approx(300)  # parallel validation
    drift = law(node("kind: drift_monitor"))
    assert drift.stages == () and drift.delay.mean_s(1e6) == 0.0


# ---- the analytic view over every kind -------------------------------------------------------
def test_consumer_group_at_250_percent_is_the_bottleneck() -> None:
    arch, m = architecture(
        """
        events: {kind: source, rate: 1000/s, batch: 10}
        topic: {kind: kafka_topic, partitions: 12, consumer_groups: {enrich: {consumers: 4, processing_time: 1ms}}}
        enrich: {kind: sink}
        """,
        "[events -> topic, topic -> enrich]",
    )
    view = flowsim.analyze_architecture(arch, m)
    # 1,000 items/s x 10 = 10,000 messages/s; 4 consumers x 1,000/s = 4,000/s: rho = 2.5
    topic = view.nodes["topic"]
    assert topic.message_rate_per_s == pytest.approx(10_000)
    assert topic.offered_load == pytest.approx(2.5) and topic.binding_stage == "consumer group 'enrich'"
    assert topic.stage_loads["partition writes"] == pytest.approx(10_000 / 120_000)
    assert view.bottleneck == "topic" and view.bottleneck_stage == "consumer group 'enrich'"
    assert view.bottleneck_utilization == pytest.approx(2.5)
    assert view.max_load_multiplier == pytest.approx(1 / 2.5)
    assert view.max_input_rate_per_s == pytest.approx(4000)
    (warning,) = view.warnings
    assert "'topic' is overloaded (rho = 2.50" in warning and "consumer group 'enrich'" in warning
    assert "lag" in warning and "grows without bound" in warning


def test_stream_job_at_150_percent_is_the_bottleneck() -> None:
    arch, m = architecture(
        """
        events: {kind: source, rate: 300/s, batch: 10}
        job: {kind: stream_processor, parallelism: 2, per_event_cost: 1ms}
        out: {kind: sink}
        """,
        "[events -> job, job -> out]",
    )
    view = flowsim.analyze_architecture(arch, m)
    job = view.nodes["job"]  # 3,000 events/s on 2 tasks / 1 ms = 2,000/s: rho = 1.5
    assert job.offered_load == pytest.approx(1.5) and job.capacity_per_s == pytest.approx(2000)
    assert job.on_full == "block" and job.delay_s is None  # saturated: no steady-state delay
    assert view.bottleneck == "job" and view.bottleneck_stage == "tasks"
    (warning,) = view.warnings
    assert "'job' is overloaded (rho = 1.50" in warning and "blocks its senders" in warning
    assert "'events'" in warning and "at least 4 tasks" in warning  # floor(3000 x 1 ms) + 1 = 4


def test_kafka_peak_3x_names_the_live_job_at_225_percent() -> None:
    scenario = flowsim.load_scenario(ROOT / "scenarios" / "kafka-peak-3x.yaml")
    view = flowsim.analyze_architecture(scenario.arch, scenario.load.multiplier)
    # 200 batches/s x 10 events x 3 = 6,000 events/s; the job: 4 tasks / 1.5 ms = 2,667/s
    assert view.nodes["enrich"].offered_load == pytest.approx(6000 / (4 / 0.0015))  # 2.25
    assert view.bottleneck == "enrich" and view.bottleneck_utilization == pytest.approx(2.25)
    assert view.max_load_multiplier == pytest.approx(3 / 2.25)  # 1.33x the designed load
    topic = view.nodes["events_topic"]  # 6,000 / (12 x min(10,000, 10 MB / 500 B)) = 5%
    assert topic.offered_load == pytest.approx(0.05) and topic.binding_stage == "partition writes"
    # the v2 replay job (4 tasks / 1 ms = 4,000/s) would not keep up either once it starts
    assert view.nodes["replay_job"].offered_load == pytest.approx(1.5)
    assert any("'enrich' is overloaded (rho = 2.25" in w and "'events_topic'" in w for w in view.warnings)


def test_a_group_that_starts_after_the_run_is_said_to_receive_nothing() -> None:
    # kafka-peak-3x runs 3 minutes; the replay group starts at 12 minutes (kappa.yaml).  Over the
    # design (no horizon) replay_job would be overloaded at 1.5; within this run it receives nothing,
    # and neither does serving_v2 behind it, so the run notes that (the design's own start time, not
    # a problem: `validate --strict` passes), and warns of no overload there.
    scenario = flowsim.load_scenario(ROOT / "scenarios" / "kafka-peak-3x.yaml")
    view = flowsim.analyze_scenario(scenario)
    assert not any(w.startswith("'replay_job'") or w.startswith("'serving_v2'") for w in view.warnings)
    assert "'replay_job' receives nothing in this run: the edge from 'events_topic' starts at 12min" in "".join(
        view.notes
    )
    assert any(w.startswith("'serving_v2' receives nothing") for w in view.notes)
    assert any(w.startswith("'enrich' is overloaded (rho = 2.25") for w in view.warnings)
    # a run long enough to reach 12 minutes warns about the replay job again
    longer = flowsim.load_scenario(ROOT / "scenarios" / "kafka-peak-3x.yaml", overrides={"duration": "15m"})
    assert any(w.startswith("'replay_job' is overloaded") for w in flowsim.analyze_scenario(longer).warnings)


def test_hot_partition_scenario_binds_at_the_hot_consumer() -> None:
    scenario = flowsim.load_scenario(ROOT / "scenarios" / "hot-partition.yaml")
    view = flowsim.analyze_architecture(scenario.arch, scenario.load.multiplier)
    # partition 0 gets 2,000 x 0.5 = 1,000/s; its consumer does 1 / 1.5 ms = 667/s: rho = 1.5
    assert view.bottleneck == "events_topic" and view.bottleneck_stage == "consumer group 'enrich'"
    assert view.bottleneck_utilization == pytest.approx(1.5)
    assert any("busiest of 12 consumers carries 50%" in w for w in view.warnings)


def test_blocking_service_is_not_a_loss_system() -> None:
    arch, m = architecture(
        """
        arrivals: {kind: source, rate: 1/s}
        api: {kind: service, servers: 2, service_time: {dist: exponential, mean: 1s}, capacity: 4, on_full: block}
        done: {kind: sink}
        """,
        "[arrivals -> api, api -> done]",
    )
    api = flowsim.analyze_architecture(arch, m).nodes["api"]
    assert api.prediction is not None and api.utilization == pytest.approx(0.5)
    assert "blocking" in api.prediction.formula and "M/M/c/K" not in api.prediction.formula
    assert not api.prediction.exact and api.prediction.drop_probability == 0.0
    assert api.prediction.sojourn_s == pytest.approx(mmc(1.0, 1.0, 2).w)  # M/M/2 at rho 0.5: 1.3333 s
    saturated = flowsim.analyze_architecture(arch, 3.0)
    assert saturated.nodes["api"].prediction is None  # rho = 1.5: no steady state to predict
    (warning,) = saturated.warnings
    assert "blocks its senders once 4 messages are inside" in warning and "'arrivals'" in warning


def test_dropping_service_keeps_its_exact_loss_formula() -> None:
    scenario = flowsim.load_scenario(ROOT / "scenarios" / "peak-3x.yaml")
    api = flowsim.analyze_architecture(scenario.arch, scenario.load.multiplier).nodes["api"]
    assert api.prediction is not None and api.prediction.formula == "M/M/c/K" and api.prediction.exact
    assert api.prediction.drop_probability > 0.2 and api.on_full == "drop"


def test_feature_store_reads_can_be_the_bottleneck() -> None:
    arch, m = architecture(
        """
        requests: {kind: source, rate: 100/s}
        features: {kind: feature_store, read_capacity: 1, read_latency: 20ms}
        serving: {kind: model_serving, replicas: 8, service_time: 10ms, features_from: features}
        out: {kind: sink}
        writes: {kind: source, rate: 1/s}
        offline: {kind: sink}
        """,
        "[requests -> serving, serving -> out, writes -> features, features -> offline]",
    )
    view = flowsim.analyze_architecture(arch, m)
    # 100 lookups/s on 1 read slot / 20 ms = 50/s: rho = 2; serving 100 x 10 ms / 8 = 0.125
    assert view.bottleneck == "features" and view.bottleneck_stage == "online reads"
    assert view.bottleneck_utilization == pytest.approx(2.0)
    assert view.nodes["serving"].offered_load == pytest.approx(0.125)


def test_autoscaled_serving_warning_gives_the_ceiling() -> None:
    scenario = flowsim.load_scenario(ROOT / "scenarios" / "autoscaling-warmup.yaml")
    view = flowsim.analyze_architecture(scenario.arch, scenario.load.multiplier)
    # 40 requests/s x 80 ms / 2 replicas = 1.6; at the ceiling of 12: 40 x 0.08 / 12 = 0.27
    assert view.bottleneck == "serving" and view.bottleneck_utilization == pytest.approx(1.6)
    assert any("ceiling of 12" in w and "rho = 0.27" in w for w in view.warnings)


def test_a_dag_slower_than_its_schedule_carries_nothing() -> None:
    arch, m = architecture(
        """
        files: {kind: source, rate: 1/s}
        etl: {kind: airflow_dag, schedule: '@hourly', max_active_runs: 1, tasks: {slow: {duration: 2h}}}
        done: {kind: sink}
        """,
        "[files -> etl, etl -> done]",
    )
    view = flowsim.analyze_architecture(arch, m)
    assert view.bottleneck == "etl" and view.bottleneck_utilization is None and view.max_load_multiplier == 0.0
    assert any("'etl' cannot carry any flow at its runs" in w for w in view.warnings)
    AnalyticView.model_validate_json(view.model_dump_json())  # no infinity in the JSON


def test_lambda_batch_layer_is_visible() -> None:
    scenario = flowsim.load_scenario(ROOT / "scenarios" / "lambda-baseline.yaml")
    view = flowsim.analyze_architecture(scenario.arch, scenario.load.multiplier)
    # 100 events/s into a DAG that carries 866.7/s; the speed layer: 100 x 5 ms / 2 tasks = 0.25
    assert view.nodes["batch_etl"].offered_load == pytest.approx(100 / 866.67, rel=1e-4)
    assert view.nodes["speed"].offered_load == pytest.approx(0.25)
    assert view.bottleneck == "speed" and view.warnings == []


def test_view_json_stays_backward_compatible() -> None:
    scenario = flowsim.load_scenario(ROOT / "scenarios" / "kafka-peak-3x.yaml")
    view = flowsim.analyze_architecture(scenario.arch, scenario.load.multiplier)
    assert AnalyticView.model_validate_json(view.model_dump_json()) == view
    old = {"nodes": {"api": {"arrival_rate_per_s": 0.9, "attempt_rate_per_s": 0.9, "servers": 2.0,
                             "utilization": 0.45}}, "bottleneck": "api", "bottleneck_utilization": 0.45}  # fmt: skip
    restored = AnalyticView.model_validate(json.loads(json.dumps(old)))
    assert restored.nodes["api"].offered_load is None and restored.bottleneck_stage is None


# ---- what a formula leaves out, and items that never fit --------------------------------------
MMC = """
name: caveats
architecture:
  name: caveats
  nodes:
    src: {{kind: source, rate: {rate}/s{batch}}}
    q: {{kind: service, servers: {servers}, service_time: {{dist: exponential, mean: 1s}}{extra}}}
    done: {{kind: sink}}
  edges: [src -> q, q -> done]
duration: 1000s
{faults}
"""


def prediction(text: str) -> tuple[bool, str]:
    found = flowsim.analyze_scenario(flowsim.load_scenario(text)).nodes["q"].prediction
    assert found is not None
    return found.exact, found.why


def test_faults_and_timeouts_make_an_erlang_c_prediction_approximate() -> None:
    plain = MMC.format(rate=1.5, batch="", servers=2, extra="", faults="")
    assert prediction(plain) == (True, "")
    # a brownout doubles the service time for 200 s in 2,000: Erlang C's 1.29 s wait does not describe it
    brownout = plain.replace(
        "duration: 1000s", "duration: 1000s\nfaults: [{node: q, at: 100s, for: 200s, slowdown: 2}]"
    )
    assert prediction(brownout) == (False, "the formula ignores its slow-downs (faults)")
    outage = plain.replace("duration: 1000s", "duration: 1000s\nfaults: [{node: q, at: 100s, for: 20s}]")
    assert prediction(outage) == (False, "the formula ignores its outages (faults)")
    # a timeout of 6 s with one attempt: M/M/1 with patience, not M/M/1 (the waiting leave)
    timeout = MMC.format(rate=0.8, batch="", servers=1, faults="",
                         extra=", retry: {max_attempts: 1, timeout: 6s}, dead_letter: dlq")  # fmt: skip
    timeout = timeout.replace("    done: {kind: sink}", "    done: {kind: sink}\n    dlq: {kind: sink}")
    exact, why = prediction(timeout)
    assert not exact and "timeout leave the queue (abandonment)" in why


@pytest.mark.parametrize("on_full", ["block", "drop"])
def test_an_item_larger_than_the_capacity_is_dropped_and_warned_of(on_full: str) -> None:
    # batches of 5 into a node that holds 3 messages: no item ever fits.  Blocking would hold the
    # source for good; it is dropped instead (counted), and the analytic view says so before the run
    text = MMC.format(rate=1, batch=", batch: 5", servers=1, faults="", extra=f", capacity: 3, on_full: {on_full}")
    scenario = flowsim.load_scenario(text)
    warnings = flowsim.analyze_scenario(scenario).warnings
    assert any("'q' holds at most 3 messages (capacity) but 'src' sends items of 5" in w for w in warnings)
    result = flowsim.simulate(scenario)
    q = result.nodes["q"]
    assert q.completed == 0 and q.dropped == q.arrivals > 4000 and result.nodes["src"].blocked_time_s == 0
    assert result.totals.unaccounted == 0


def test_a_batch_law_that_can_exceed_the_capacity_is_warned_of_with_its_share() -> None:
    # geometric batches of mean 2: P(K > 3) = (1 - 1/2)^3 = 12.5% of the items never fit in 3
    text = MMC.format(rate=1, batch=", batch: {dist: geometric, mean: 2}", servers=1, faults="",
                      extra=", capacity: 3, on_full: block")  # fmt: skip
    warnings = flowsim.analyze_scenario(flowsim.load_scenario(text)).warnings
    assert any("12.50% of the items of 'src' carry more (batch: geometric)" in w for w in warnings)
    # uniform 1..4 into 10: nothing to say
    roomy = MMC.format(rate=1, batch=", batch: {dist: uniform, low: 1, high: 4}", servers=1, faults="",
                       extra=", capacity: 10")  # fmt: skip
    assert not any("capacity" in w for w in flowsim.analyze_scenario(flowsim.load_scenario(roomy)).warnings)
