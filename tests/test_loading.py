"""Bad input at the loader: every message names the place, the field, and what would be accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

import flowsim
from helpers import scenario_yaml

GOOD_NODES = """
    src: {kind: source, rate: 1/s}
    api: {kind: service, servers: 2, service_time: {dist: exponential, mean: 500ms}}
    done: {kind: sink}"""


def scenario_text(nodes: str = GOOD_NODES, edges: str = "[src -> api, api -> done]", extra: str = "") -> str:
    return f"name: x\narchitecture:\n  name: a\n  nodes:{nodes}\n  edges: {edges}\nduration: 100s\n{extra}"


def error_of(text: str) -> str:
    with pytest.raises(flowsim.SpecError) as info:
        flowsim.load_scenario(text)
    return str(info.value)


def test_good_scenario_loads() -> None:
    scenario = flowsim.load_scenario(scenario_text())
    assert scenario.arch.nodes["api"].servers == 2  # type: ignore[union-attr]
    assert scenario.duration == 100.0


def test_unknown_field_has_location_and_suggestion() -> None:
    message = error_of(scenario_text(GOOD_NODES.replace("servers: 2", "sever: 2")))
    assert "<input>:6:26: architecture.nodes.api.sever: unknown field 'sever' (did you mean 'servers'?)" in message


def test_unknown_kind_suggests_the_closest() -> None:
    message = error_of(scenario_text(GOOD_NODES.replace("kind: service", "kind: sevice")))
    assert "architecture.nodes.api.kind: unknown kind 'sevice' (did you mean 'service'?)" in message
    assert ":6:" in message


def test_unreadable_quantity_explains_the_units() -> None:
    message = error_of(scenario_text(GOOD_NODES.replace("rate: 1/s", "rate: 5 parsecs")))
    assert "architecture.nodes.src.rate" in message and "250/s" in message and ":5:" in message


def test_edges_to_unknown_nodes_and_wrong_directions() -> None:
    message = error_of(scenario_text(edges="[src -> apii, api -> done, done -> api, api -> src]"))
    assert "edges[0].to: unknown node 'apii' (did you mean 'api'?)" in message
    assert "edges[2].from: 'done' is a sink and sends nothing on" in message
    assert "edges[3].to: 'src' is a source and takes no input" in message


def test_weights_must_be_positive() -> None:
    message = error_of(scenario_text(edges="[src -> api, {from: api, to: done, weight: 0}]"))
    assert "architecture.edges[1].weight" in message and "greater than 0" in message


def test_unreachable_node_and_dead_end_and_trapped_cycle() -> None:
    nodes = GOOD_NODES + "\n    lonely: {kind: service, service_time: 1s}"
    assert "no source reaches 'lonely'" in error_of(scenario_text(nodes, "[src -> api, api -> done, lonely -> done]"))
    assert "'api' has no out-edge" in error_of(scenario_text(edges="[src -> api]"))
    loop = GOOD_NODES + "\n    b: {kind: service, service_time: 1s}"
    message = error_of(scenario_text(loop, "[src -> api, api -> b, b -> api, src -> done]"))
    assert "items that reach 'api' can never leave" in message


def test_duplicate_edges_and_missing_source() -> None:
    assert "duplicate edge src -> api" in error_of(scenario_text(edges="[src -> api, src -> api, api -> done]"))
    nodes = "\n    api: {kind: service, service_time: 1s}\n    done: {kind: sink}"
    assert "no source" in error_of(scenario_text(nodes, "[api -> done]"))


def test_cross_references_in_the_scenario() -> None:
    extra = (
        "faults: [{node: apx, at: 1s, for: 1s}, {node: done, at: 1s, for: 1s}]\n"
        'slos: ["end_to_end.api.latency_s.p99 < 1s", "nodes.api.wait_s.p98 < 1s", "totals.droped == 0"]\n'
    )
    message = error_of(scenario_text(extra=extra))
    assert "faults[0].node: unknown node 'apx' (did you mean 'api'?)" in message
    assert "faults[1].node: a sink cannot be taken down (take down one of 'api')" in message
    assert "slos[0]: 'api' is not a sink" in message
    assert "slos[1]: 'p98' is not a statistic of 'wait_s' in metric 'nodes.api.wait_s.p98' (did you mean" in message
    assert "slos[2]: unknown metric 'totals.droped' (did you mean 'dropped'?)" in message


def test_a_fault_on_an_architecture_with_nothing_that_can_fail_names_the_kinds_that_can() -> None:
    nodes = "\n    src: {kind: source, rate: 1/s}\n    done: {kind: sink}"
    message = error_of(scenario_text(nodes, "[src -> done]", extra="faults: [{node: done, at: 1s, for: 1s}]\n"))
    # the hint listed the failing kinds of this architecture: none ("faults apply to kinds: ")
    assert "cannot be taken down (faults apply to nodes of the kinds airflow_dag, kafka_topic, service" in message


def test_undefined_retry_policy() -> None:
    message = error_of(scenario_text(GOOD_NODES.replace("servers: 2", "servers: 2, retry: careful")))
    assert "architecture.nodes.api.retry: retry policy 'careful' is not defined" in message


def test_named_retry_policy_resolves() -> None:
    text = scenario_text(GOOD_NODES.replace("servers: 2", "servers: 2, retry: careful"),
                         extra="retry_policies: {careful: {max_attempts: 4, base: 50ms}}\n")  # fmt: skip
    result = flowsim.simulate(flowsim.load_scenario(text))
    assert result.nodes["api"].completed > 0


def test_warmup_must_be_shorter_than_duration() -> None:
    assert "warmup (200s) must be shorter than duration (100s)" in error_of(scenario_text(extra="warmup: 200s\n"))


def test_missing_architecture_file(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\narchitecture: ../nowhere.yaml\nduration: 10s\n")
    message = error_of(str(scenario))
    assert f"{scenario}:2:1: architecture: architecture file '../nowhere.yaml' not found" in message


def test_missing_scenario_file(tmp_path: Path) -> None:
    message = error_of(str(tmp_path / "absent.yaml"))
    assert "absent.yaml" in message


def test_errors_in_a_referenced_architecture_point_into_that_file(tmp_path: Path) -> None:
    arch = tmp_path / "arch.yaml"
    arch.write_text("name: a\nnodes:\n  src: {kind: source, rat: 1/s}\n  done: {kind: sink}\nedges: [src -> done]\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\narchitecture: arch.yaml\nduration: 10s\n")
    message = error_of(str(scenario))
    assert f"{arch}:3:23: nodes.src.rat: unknown field 'rat' (did you mean 'rate'?)" in message


def test_overrides_reach_nodes_and_scenario_fields() -> None:
    scenario = flowsim.load_scenario(scenario_text(), {"nodes.api.servers": 5, "load.multiplier": 3, "duration": "1h"})
    assert scenario.arch.nodes["api"].servers == 5  # type: ignore[union-attr]
    assert scenario.load.multiplier == 3 and scenario.duration == 3600


def test_override_of_unknown_node_suggests() -> None:
    with pytest.raises(flowsim.SpecError, match=r"unknown node 'apj'.*did you mean 'api'"):
        flowsim.load_scenario(scenario_text(), {"nodes.apj.servers": 5})


def test_every_bad_override_is_said_in_one_round() -> None:
    # an unknown node used to stop the load before the other overrides were looked at
    with pytest.raises(flowsim.SpecError) as info:
        flowsim.load_scenario(scenario_text(), {"nodes.apj.servers": 5, "nodes.api.serverz": 3, "load.multipler": 2})
    messages = [p.message for p in info.value.problems]
    assert any("unknown node 'apj'" in m for m in messages)
    assert any("unknown field 'serverz'" in m for m in messages)
    assert any("unknown field 'multipler'" in m for m in messages)


def test_override_with_a_bad_value_is_located() -> None:
    assert "servers" in error_of_with(scenario_text(), {"nodes.api.servers": 0})


def error_of_with(text: str, overrides: dict[str, object]) -> str:
    with pytest.raises(flowsim.SpecError) as info:
        flowsim.load_scenario(text, overrides)
    return str(info.value)


def test_parse_assignment_reads_yaml_values() -> None:
    assert flowsim.parse_assignment("nodes.api.servers=4") == ("nodes.api.servers", 4)
    assert flowsim.parse_assignment("duration=2h") == ("duration", "2h")
    with pytest.raises(flowsim.SpecError):
        flowsim.parse_assignment("no-equals-sign")


def test_simulation_too_large_says_how_to_raise_the_limit() -> None:
    text = scenario_text("\n    src: {kind: source, rate: 1000000/s}\n    done: {kind: sink}", "[src -> done]")
    with pytest.raises(flowsim.SimulationTooLarge, match=r"about 1e\+08 events.*max_events"):
        flowsim.simulate(flowsim.load_scenario(text), engine="per_message")
    assert flowsim.simulate(flowsim.load_scenario(text)).engine == "fluid"  # auto moves it to the fluid engine


def test_capacity_below_servers_is_rejected() -> None:
    message = error_of(scenario_text(GOOD_NODES.replace("servers: 2", "servers: 2, capacity: 1")))
    assert "capacity (1) is below servers (2)" in message


def test_zero_interarrival_is_rejected() -> None:
    nodes = "\n    src: {kind: source, interarrival: 0s}\n    done: {kind: sink}"
    assert "mean interarrival time must be above 0" in error_of(scenario_text(nodes, "[src -> done]"))


def test_too_many_samples_is_rejected() -> None:
    assert "time-series samples" in error_of(scenario_text(extra="sample_interval: 1us\n"))


def test_fanout_amplifying_around_a_cycle_is_an_error_not_a_crash() -> None:
    nodes = (
        "\n    src: {kind: source, rate: 1/s}\n    f: {kind: delay, time: 1s, routing: fanout}\n    done: {kind: sink}"
    )
    with pytest.raises(flowsim.SpecError, match="no finite solution") as info:  # refused at load, located
        flowsim.load_scenario(scenario_text(nodes, "[src -> f, f -> f, f -> done]"))
    assert info.value.problems[0].field == "architecture.edges" and info.value.problems[0].line is not None


def test_batched_messages_are_counted_as_messages_at_sinks() -> None:
    source = "{kind: source, interarrival: 1s, batch: 5, routing: fanout}"
    nodes = f"\n    src: {source}\n    a: {{kind: sink}}\n    b: {{kind: sink}}"
    result = flowsim.simulate(flowsim.load_scenario(scenario_text(nodes, "[src -> a, src -> b]")))
    assert result.totals.arrivals == 99 * 5
    assert result.end_to_end["a"].count == 99 * 5 and result.totals.delivered == 2 * 99 * 5


def test_slo_on_a_dotted_kind_figure() -> None:
    result = flowsim.simulate(flowsim.load_scenario(scenario_text(), {"replications": 2}))
    result.nodes["api"].kind_figures["lag.group"] = 3.0
    result.nodes["api"].ci95["lag.group"] = 0.5
    assert result.metric("nodes.api.kind_figures.lag.group") == 3.0
    assert result.ci("nodes.api.kind_figures.lag.group") == 0.5
    assert result.metric("nodes.api.wait_s.p99") == result.nodes["api"].wait_s.p99  # type: ignore[union-attr]


def test_a_bad_override_value_names_the_override() -> None:
    message = error_of_with(scenario_text(), {"nodes.api.servers": 0})
    assert "the value comes from the override nodes.api.servers=0" in message


def test_edges_to_unknown_nodes_are_reported_with_schema_errors() -> None:
    nodes = GOOD_NODES.replace("kind: service", "kind: servce")
    message = error_of(scenario_text(nodes, "[src -> api, api -> dne]"))
    assert "unknown kind 'servce'" in message and "edges[1].to: unknown node 'dne'" in message


_TOPIC_SLO = """
name: figures-never-reported
architecture:
  name: t
  nodes:
    src: {{kind: source, rate: 100/s}}
    topic: {{kind: kafka_topic, partitions: 4{topic}}}
    enrich: {{kind: service, servers: 2, service_time: {{dist: exponential, mean: 5ms}}}}
    done: {{kind: sink}}
  edges: [src -> topic, topic -> enrich, enrich -> done]
duration: 60s
faults: [{faults}]
slos: ["{slo}"]
"""


@pytest.mark.parametrize(
    ("slo", "topic", "faults", "refused"),
    [
        ("nodes.topic.kind_figures.rebalances.enrich < 3", "", "", "group 'enrich' has no membership"),
        ("nodes.topic.kind_figures.rebalances.enrich < 3", ", consumer_groups: {enrich: {membership: {}}}", "", ""),
        ("nodes.topic.kind_figures.rebalances.enrich < 3", "", "{node: topic, group: enrich, at: 10s, for: 5s}", ""),
        ("nodes.topic.kind_figures.leader_elections < 1", "", "", "no producer or brokers block"),
        ("nodes.topic.kind_figures.leader_elections < 1", ", brokers: {count: 3}", "", ""),
        ("nodes.topic.kind_figures.segments_deleted < 1", "", "", "no log block"),
        ("nodes.topic.kind_figures.segments_deleted < 1", ", log: {}", "", ""),
    ],
)
def test_an_slo_on_a_figure_the_config_never_reports_is_refused_at_load(
    slo: str, topic: str, faults: str, refused: str
) -> None:
    # without membership a group's members never change: flowsim reports no rebalances for it, and the
    # SLO would read "no data" and fail every run; the hint's block (or a fault on the group) fixes it
    text = _TOPIC_SLO.format(slo=slo, topic=topic, faults=faults)
    if not refused:
        flowsim.load_scenario(text)
        return
    with pytest.raises(flowsim.SpecError, match="is never reported: .*" + refused) as info:
        flowsim.load_scenario(text)
    assert info.value.problems[0].line == 13  # the SLO's line


@pytest.mark.parametrize(
    ("node", "price", "refused"),
    [
        ("topic: {kind: kafka_topic, partitions: 12", "{per_hour: 0.01, unit: server}", "bills its 12 partitions"),
        ("topic: {kind: kafka_topic, partitions: 12", "{per_hour: 0.01, unit: partition}", ""),
        ("topic: {kind: kafka_topic, partitions: 12", "{per_hour: 0.01}", ""),
        ("topic: {kind: kafka_topic, partitions: 12", "{per_hour: 0.5, unit: node, units: 3}", ""),
        (
            "topic: {kind: service, servers: 4, service_time: {dist: constant, value: 1ms}",
            "{per_hour: 2.5, unit: gpu}",
            "bills its 4 servers",
        ),
    ],
)
def test_a_price_unit_that_is_not_what_the_kind_counts_needs_units(node: str, price: str, refused: str) -> None:
    # without `units` a kind bills its own count (a topic's partitions): naming another unit would
    # bill that count under the wrong name, so the unit must match or `units` must say how many
    text = scenario_yaml(
        f"src: {{kind: source, rate: 10/s}}\n{node}, price: {price}}}\ndone: {{kind: sink}}",
        "[src -> topic, topic -> done]",
        "60s",
    )
    if not refused:
        flowsim.load_scenario(text)
        return
    with pytest.raises(flowsim.SpecError, match=refused) as info:
        flowsim.load_scenario(text)
    assert info.value.problems[0].field.endswith("topic.price.unit")


def test_a_bad_value_from_the_files_own_overrides_points_at_the_override_line() -> None:
    # lines: 1 name, 2 architecture, 3 name, 4 nodes, 5 src, 6 api, 7 done, 8 edges, 9 duration,
    # 10 overrides:, 11 the bad count, 12 the misspelt field; `--set` keeps the node's line
    text = (
        "name: ov\narchitecture:\n  name: p\n  nodes:\n    src: {kind: source, rate: 10/s}\n"
        "    api: {kind: service, servers: 4, service_time: {dist: exponential, mean: 50ms}}\n"
        "    done: {kind: sink}\n  edges: [src -> api, api -> done]\nduration: 60s\n"
        "overrides:\n  nodes.api.servers: 0\n  nodes.api.serverz: 3\n"
    )
    with pytest.raises(flowsim.SpecError) as info:
        flowsim.load_scenario(text)
    where = sorted((p.line, p.column, p.field, p.message) for p in info.value.problems)
    assert where == [
        (11, 3, "overrides.nodes.api.servers", "must be greater than or equal to 1"),
        (12, 3, "overrides.nodes.api.serverz", "unknown field 'serverz'"),
    ]
    with pytest.raises(flowsim.SpecError) as info:
        flowsim.load_scenario(text.replace("  nodes.api.serverz: 3\n", ""), {"nodes.api.servers": -1})
    (given,) = info.value.problems
    assert (given.line, given.field) == (6, "architecture.nodes.api.servers")
    assert "the value comes from the override nodes.api.servers=-1" in given.hint


def test_an_outage_over_within_the_warm_up_gets_a_note() -> None:
    inside = scenario_text(extra="warmup: 50s\nfaults: [{node: api, at: 10s, for: 30s}]\n")
    notes = flowsim.analyze_scenario(flowsim.load_scenario(inside)).notes
    assert any("faults[0] on 'api' is over at 40s, within the warm-up (50s)" in n for n in notes)
    after = scenario_text(extra="warmup: 50s\nfaults: [{node: api, at: 40s, for: 30s}]\n")  # runs into the window
    assert not any("within the warm-up" in n for n in flowsim.analyze_scenario(flowsim.load_scenario(after)).notes)


def test_a_retry_policy_no_node_names_gets_a_note() -> None:
    policies = "retry_policies: {std: {max_attempts: 3}, spare: {max_attempts: 5}}\n"
    used = GOOD_NODES.replace("mean: 500ms}}", "mean: 500ms}, error_rate: 0.1, retry: std}")
    notes = flowsim.analyze_scenario(flowsim.load_scenario(scenario_text(used, extra=policies))).notes
    assert "retry_policies.spare is not used: no node names it in 'retry'" in notes
    assert not any("retry_policies.std" in n for n in notes)
