"""The Streamlit app: its pure parts (sources, controls, views) and the page itself, via AppTest.

The page tests drive `app.py` as a user would (pick a scenario, change a control, run) and check
that what it shows is exactly what the Python API returns for the same scenario and seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pytest

import flowsim
from flowsim.app.controls import derive_controls, describe_overrides, overrides_from
from flowsim.app.sources import effective_yaml, excerpt, inline_architecture, read_shipped, shipped_scenarios
from flowsim.compare import compare as compare_designs
from flowsim.key_figures import LAG_FULL_SCALE_S, node_lag_s, node_load, node_utilization
from flowsim.nodes.base import NodeConfig
from flowsim.reports.app_figures import graph_figure, new_figure, plot_versions, png_bytes
from flowsim.reports.app_frames import compare_frame, headline, nodes_frame, theory_frame, versions_frame
from flowsim.results import NodeResult
from flowsim.spec.architecture import Architecture
from flowsim.spec.scenario import Scenario

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest
else:
    AppTest = pytest.importorskip(
        "streamlit.testing.v1", reason="streamlit is not installed: pip install -e .[app]"
    ).AppTest
pytestmark = pytest.mark.slow  # the app: simulated runs behind its views, and whole page runs in AppTest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))


def api_run(name: str, overrides: dict[str, Any] | None = None) -> tuple[flowsim.Scenario, flowsim.RunResult]:
    scenario = flowsim.load_scenario(SCENARIOS / f"{name}.yaml", overrides)
    return scenario, flowsim.simulate(scenario, seed=scenario.seed, replications=scenario.replications)


# ---- sources ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_inlined_is_the_same_scenario(path: Path) -> None:
    text = read_shipped(path)
    assert "yaml-language-server" not in text
    assert ("inlined from" in text) == ("architecture: ../" in path.read_text(encoding="utf-8"))
    assert flowsim.load_scenario(text, base_dir=path.parent) == flowsim.load_scenario(path)


def test_inline_leaves_unknown_references_for_the_loader_to_report(tmp_path: Path) -> None:
    text = "name: x\narchitecture: nowhere.yaml\nduration: 10s\n"
    assert inline_architecture(text, [tmp_path]) == text
    with pytest.raises(flowsim.SpecError, match="not found"):
        flowsim.load_scenario(text)


def test_shipped_scenarios_are_listed_by_name() -> None:
    assert {"baseline", "checkout-outage"} <= set(shipped_scenarios(SCENARIOS))
    assert shipped_scenarios(ROOT / "no-such-directory") == {}


def test_effective_yaml_reproduces_the_run_settings() -> None:
    text = read_shipped(SCENARIOS / "checkout-outage.yaml")
    overrides = {"nodes.payments.servers": 10, "faults": [{"node": "payments", "at": 600.0, "for": 60.0}]}
    scenario = flowsim.load_scenario(text, overrides)
    effective = effective_yaml(text, scenario.overrides)
    assert "# The payment provider" not in effective and "overrides:" in effective
    assert flowsim.load_scenario(effective) == scenario
    assert effective_yaml(text, {}) == text.rstrip() + "\n"


def test_effective_yaml_replaces_an_existing_overrides_section() -> None:
    text = read_shipped(SCENARIOS / "baseline.yaml") + "overrides:\n  nodes.api.servers: 3\nsample_interval: 10s\n"
    scenario = flowsim.load_scenario(text, {"load.multiplier": 1.5})
    effective = effective_yaml(text, scenario.overrides)
    assert effective.count("overrides:") == 1
    assert flowsim.load_scenario(effective) == scenario


def test_effective_yaml_of_a_flow_mapping_document() -> None:
    arch = '{name: a, nodes: {s: {kind: source, rate: 1/s}, d: {kind: sink}}, edges: ["s -> d"]}'
    text = f"{{name: x, duration: 100s, architecture: {arch}}}"
    scenario = flowsim.load_scenario(text, {"seed": 3})
    assert flowsim.load_scenario(effective_yaml(text, scenario.overrides)) == scenario


def test_excerpt_points_at_the_column() -> None:
    problem = flowsim.Problem("bad", line=2, column=3)
    assert excerpt("a: 1\nbb: 2\nc: 3\n", problem) == "1 | a: 1\n2 | bb: 2\n      ^\n3 | c: 3"
    assert excerpt("a: 1\n", flowsim.Problem("no line")) is None


# ---- controls --------------------------------------------------------------------------------
def test_controls_cover_the_key_parameters_and_produce_overrides() -> None:
    text = read_shipped(SCENARIOS / "checkout-outage.yaml")
    base = flowsim.load_scenario(text)
    controls = derive_controls(base)
    paths = {c.path for c in controls}
    assert {"load.multiplier", "seed", "replications", "duration"} <= paths
    assert {"nodes.payments.servers", "nodes.payments.capacity", "nodes.orders.servers"} <= paths
    assert {"retry_policies.standard.max_attempts", "retry_policies.standard.jitter"} <= paths
    assert {"faults.0.at", "faults.0.for"} <= paths
    assert not any(p.startswith("nodes.payments.retry") for p in paths)  # it names the 'standard' policy
    values = {c.path: c.default for c in controls}
    assert overrides_from(base, controls, values) == {}
    values |= {"nodes.payments.servers": 12, "faults.0.for": 60.0, "retry_policies.standard.jitter": "none"}
    overrides = overrides_from(base, controls, values)
    scenario = flowsim.load_scenario(text, overrides)
    assert scenario.arch.nodes["payments"].servers == 12  # type: ignore[attr-defined]
    assert scenario.faults[0].for_ == 60 and scenario.faults[0].at == base.faults[0].at
    assert scenario.retry_policies["standard"].jitter == "none"
    assert "payments.servers=12" in describe_overrides(overrides)
    # a horizon reads as a duration: a first look's cut was 'duration=197.511 · warmup=32.918'
    assert describe_overrides({"duration": 197.511, "warmup": 32.918}) == "duration=3.29min · warmup=32.9s"


class _PartitionedConfig(NodeConfig):
    """A stand-in for a future kind (not registered): controls must find its pool fields."""

    kind: Literal["partitioned-test"]
    partitions: int = 6
    consumers: int = 3


def test_pool_fields_of_any_kind_become_controls() -> None:
    arch = Architecture.model_construct(name="a", nodes={"events": _PartitionedConfig(kind="partitioned-test")})
    scenario = Scenario.model_construct(name="s", architecture=arch, duration=100.0)
    paths = {c.path: c.default for c in derive_controls(scenario)}
    assert paths["nodes.events.partitions"] == 6 and paths["nodes.events.consumers"] == 3


# ---- report views ----------------------------------------------------------------------------
def test_compare_frame_has_differences_and_their_confidence_intervals() -> None:
    _, one = api_run("baseline", {"replications": 2, "duration": 2000, "warmup": 200})
    _, two = api_run("baseline", {"replications": 2, "duration": 2000, "warmup": 200, "nodes.api.servers": 3})
    frame = compare_frame(one, two).set_index("figure")
    row = frame.loc["nodes.api.utilization"]
    assert row["A"] == one.nodes["api"].utilization and row["B"] == two.nodes["api"].utilization
    assert row["B - A"] == pytest.approx(row["B"] - row["A"])
    assert row["± 95%"] > 0 and row["significant"] == "yes"
    assert frame.loc["totals.delivered", "significant"] == ""  # totals carry no CI


def test_headline_graph_and_tables_of_a_run() -> None:
    scenario, result = api_run("checkout-outage", {"duration": 900, "warmup": 100, "faults": [
        {"node": "payments", "at": 300, "for": 60}]})  # fmt: skip
    figures = {h.label: h for h in headline(result, scenario.arch)}
    lost = figures["Messages lost"]
    assert lost.value == result.totals.dropped + result.totals.dead_lettered
    assert "End-to-end p99 (confirmed)" in figures  # the dead-letter sink is not the headline
    assert png_bytes(graph_figure(scenario.arch, result)).startswith(b"\x89PNG")
    assert list(nodes_frame(result).index) == list(result.nodes)
    assert set(theory_frame(result)["node"]) <= set(result.nodes)


def test_model_version_timeline_is_read_generically() -> None:
    _, result = api_run("baseline", {"duration": 200, "warmup": 0})
    assert versions_frame(result).empty
    serving = [{"time_s": 0.0, "version": 0, "event": "serving", "share": 1.0},  # model_serving's form
               {"time_s": 60.0, "version": 1, "event": "canary", "share": 0.1}]  # fmt: skip
    result._extra = {"serving": [{"versions": serving}], "other": [{"versions": [[120.0, "v2"]]}]}
    frame = versions_frame(result)
    assert list(frame["version"]) == ["0", "1", "v2"] and list(frame["time_s"]) == [0.0, 60.0, 120.0]
    assert list(frame["event"]) == ["serving", "canary", ""]
    _figure, (ax,) = new_figure()
    assert plot_versions(ax, result) is ax and [t.get_text() for t in ax.get_yticklabels()] == ["v0", "v1", "v2"]


# ---- the page --------------------------------------------------------------------------------
def start_app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    return at


def number_input(at: AppTest, label: str) -> Any:
    return next(widget for widget in at.number_input if widget.label == label)


def run(at: AppTest) -> None:
    at.button(key="run_bottom").click().run()
    assert not at.exception


def shown_headline(at: AppTest) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.tabs[0].metric][:4]


def shown_nodes(at: AppTest) -> pd.DataFrame:
    return next(df.value for df in at.tabs[0].dataframe if df.value.index.name == "node")


def test_page_shows_what_the_api_returns_for_the_same_scenario_and_seed() -> None:
    at = start_app()
    assert len(at.tabs[0].metric) >= 4  # the default scenario ran on first view
    at.selectbox(key="scenario_choice").select("baseline").run()
    number_input(at, "api · servers").set_value(3)
    next(w for w in at.text_input if w.label == "Seed").set_value("8")
    run(at)
    scenario, result = api_run("baseline", {"nodes.api.servers": 3, "seed": 8})
    assert result.seed == 8
    assert shown_headline(at) == [(h.card_label, h.card) for h in headline(result, scenario.arch)]
    pd.testing.assert_frame_equal(shown_nodes(at), nodes_frame(result))
    assert any("api.servers=3" in c.value and "seed 8" in c.value for c in at.tabs[0].caption)
    effective = "\n".join(code.value for code in at.tabs[2].code)
    assert "nodes.api.servers: 3" in effective and "seed: 8" in effective


def test_invalid_yaml_shows_located_errors_and_no_exception() -> None:
    at = start_app()
    text = str(at.text_area(key="yaml_text").value)
    at.text_area(key="yaml_text").set_value(text.replace("servers: 4", "servers: 0")).run()
    assert not at.exception
    errors = "\n".join(e.value for e in at.error)
    assert "Line 15, column" in errors and "architecture.nodes.gateway.servers" in errors
    at.text_area(key="yaml_text").set_value("name: [unclosed\n").run()
    assert not at.exception and any("Line" in e.value for e in at.error)


def test_out_of_range_settings_are_explained_next_to_run_and_nothing_runs() -> None:
    at = start_app()
    number_input(at, "payments · servers").set_value(0)
    number_input(at, "Replications").set_value(99)
    run(at)
    shown = "\n".join(e.value for e in at.sidebar.error)
    assert "payments · servers**: 0 is below the smallest allowed, 1" in shown
    assert "99 is over the 30 this page runs; write `replications: 99` in the YAML" in shown
    assert not any("Showing run #2" in c.value for c in at.tabs[0].caption)  # refused: run #1 still shown
    number_input(at, "payments · servers").set_value(3)
    number_input(at, "Replications").set_value(1)
    seed = next(w for w in at.text_input if w.label == "Seed")
    seed.set_value("123456789012345678901234567890")
    run(at)  # a 30-digit seed: over the 1e15 a scenario's counts accept, said next to Run
    assert any("is over the largest seed a scenario accepts, 1e+15" in e.value for e in at.sidebar.error)
    next(w for w in at.text_input if w.label == "Seed").set_value("123456789012345")
    run(at)  # 15 digits: accepted, and run
    assert any("seed 123456789012345" in c.value for c in at.tabs[0].caption)


def test_a_run_too_large_goes_to_the_fluid_engine_or_is_refused_on_request() -> None:
    at = start_app()
    number_input(at, "Duration (s, warm-up included)").set_value(1800.0 * 50)
    run(at)  # engine auto, as the scenario says: the fluid engine runs it, and the page says so
    assert not at.error
    assert any("fluid engine" in i.value for i in at.info)
    next(s for s in at.selectbox if s.label == "Engine").select("per_message")  # in the form: sent with Run
    run(at)
    assert any("events" in e.value and "at most" in e.value for e in at.error)


def test_two_runs_are_compared_side_by_side() -> None:
    at = start_app()
    at.selectbox(key="scenario_choice").select("baseline").run()
    number_input(at, "api · servers").set_value(1)
    run(at)
    compare = at.tabs[1]
    first, second = (next(str(s.value) for s in compare.selectbox if s.label == f"Run {x}") for x in "AB")
    assert "baseline · as written" in first and "baseline · api.servers=1" in second
    titles = [m.value for m in compare.markdown]
    assert any(f"**A:** {first}" in t and f"**B:** {second}" in t for t in titles)
    frames = [df.value for df in compare.dataframe]
    frame = next(f for f in frames if "totals.delivered" in set(f["figure"])).set_index("figure")  # the expander's
    as_written_scenario, as_written = api_run("baseline")
    one_server_scenario, one_server = api_run("baseline", {"nodes.api.servers": 1})
    assert frame.loc["totals.delivered", "A"] == as_written.totals.delivered
    assert frame.loc["totals.delivered", "B"] == one_server.totals.delivered
    # the headline figures side by side, written in full (in metric cards a long value was cut off)
    pair = next(t.value for t in compare.table if list(t.value.columns) == ["figure", "A", "B"])
    assert list(pair["A"]) == [h.text for h in headline(as_written, as_written_scenario.arch)]
    assert list(pair["B"]) == [h.text for h in headline(one_server, one_server_scenario.arch)]
    # the paired table is what `flowsim compare` computes for the two designs (both ran with seed 7)
    paired = next(t.value for t in compare.table if "metric" in t.value.reset_index().columns)
    paired = paired.reset_index().set_index("metric")
    expected = compare_designs(as_written_scenario, one_server_scenario, replications=1, workers=1)
    utilization = expected.difference("nodes.api.utilization")
    assert utilization is not None and utilization.diff > 0  # 2 -> 1 servers: rho 0.45 -> 0.9
    assert paired.loc["nodes.api.utilization", "B - A"] == f"{100 * utilization.diff:+.1f} pp"
    assert paired.loc["nodes.api.utilization", "95% CI of B - A"] == "—"  # 1 replication: no interval
    assert paired.loc["nodes.api.utilization", "figure"] == "api: utilization"
    markdown = " ".join(m.value for m in compare.markdown)
    assert "Over time, on the same axes" in markdown and "Paired differences, B - A" in markdown


def test_an_inline_retry_policy_gets_its_own_controls() -> None:
    text = """name: x
duration: 100s
architecture:
  name: a
  nodes:
    s: {kind: source, rate: 1/s}
    api: {kind: service, service_time: 0.1s, error_rate: 0.1, retry: {max_attempts: 2}}
    d: {kind: sink}
  edges: [s -> api, api -> d]
"""
    base = flowsim.load_scenario(text)
    controls = derive_controls(base)
    values = {c.path: c.default for c in controls} | {"nodes.api.retry.max_attempts": 4}
    overrides = overrides_from(base, controls, values)
    assert overrides == {"nodes.api.retry.max_attempts": 4}
    assert flowsim.load_scenario(text, overrides).arch.nodes["api"].retry.max_attempts == 4  # type: ignore[attr-defined]


def test_consumer_groups_and_lag_are_picked_up_generically() -> None:
    path = SCENARIOS / "kafka-baseline.yaml"
    if not path.exists():
        pytest.skip("no shipped Kafka scenario")
    text = read_shipped(path)
    base = flowsim.load_scenario(text)
    controls = derive_controls(base)
    assert {"nodes.events_topic.partitions", "nodes.events_topic.consumer_groups.enrich.consumers"} <= {
        c.path for c in controls
    }
    values = {c.path: c.default for c in controls} | {"nodes.events_topic.consumer_groups.enrich.consumers": 8}
    scenario = flowsim.load_scenario(text, overrides_from(base, controls, values))
    assert scenario.arch.nodes["events_topic"].consumer_groups["enrich"].consumers == 8  # type: ignore[attr-defined]
    topic = NodeResult(kind="kafka_topic", arrivals=1, completed=1, dropped=0, retries=0, inside_at_start=0,
                       inside_at_end=0, throughput_per_s=1,
                       kind_figures={"consumer_utilization.a": 0.2, "lag_mean_seconds.a": 30.0})  # fmt: skip
    assert node_utilization(topic) == 0.2 and node_lag_s(topic) == 30.0
    assert node_load(topic) == pytest.approx(30.0 / LAG_FULL_SCALE_S)
