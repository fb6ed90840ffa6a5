"""Key figures: every kind reports exactly the figures it declares, per engine, on every shipped
scenario; SLO and lesson paths are checked against those declarations."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

import flowsim
from flowsim.confidence import student_t_halfwidth
from flowsim.engine.figures import Figure, undeclared, unreported
from flowsim.fluid import fluid_problems
from flowsim.nodes.registry import kinds
from flowsim.spec.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))


@cache
def short(name: str) -> Scenario:
    """The shipped scenario over a twentieth of its duration, one replication, no warm-up: the
    names a kind reports do not depend on how long it runs."""
    scenario = flowsim.load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    update = {"duration": scenario.duration / 20, "warmup": 0.0, "replications": 1}
    return scenario.model_copy(update=update | {"step": update["duration"] / 200})


@cache
def reported(name: str, engine: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Per node: its kind and the keys of its `kind_figures` in a short run on `engine`."""
    result = flowsim.simulate(short(name), engine=engine)  # type: ignore[arg-type]
    return {n: (node.kind, frozenset(node.kind_figures)) for n, node in result.nodes.items()}


def groups(scenario: Scenario, node: str) -> list[str]:
    """A topic's consumer groups: one per out-edge, named after its target."""
    return list(dict.fromkeys(e.to for e in scenario.arch.edges if e.from_ == node))


#: the fast lane's share (every kind the shipped scenarios use, on both engines); the rest: full run
FAST = ("airflow-sla-miss", "checkout-baseline", "data-quality-quarantine", "drift-retraining")
CASES = [(n, "per_message") for n in SCENARIOS] + [(n, "fluid") for n in SCENARIOS if not fluid_problems(short(n))]


def test_the_fast_share_uses_every_kind_the_shipped_scenarios_use() -> None:
    used = {c.kind for n in SCENARIOS for c in short(n).arch.nodes.values()}
    assert used == {c.kind for n in FAST for c in short(n).arch.nodes.values()}


@pytest.mark.parametrize(
    ("name", "engine"),
    [pytest.param(n, e, marks=() if n in FAST else pytest.mark.slow, id=f"{n}-{e}") for n, e in CASES],
)
def test_every_kind_reports_exactly_what_it_declares(name: str, engine: str) -> None:
    scenario = short(name)
    for node, (kind, keys) in reported(name, engine).items():
        declared = kinds()[kind].kind_figures
        assert not undeclared(declared, keys), f"{node} ({kind}, {engine}) reports undeclared figures"
        missing = unreported(declared, keys, engine, groups(scenario, node))  # type: ignore[arg-type]
        assert not missing, f"{node} ({kind}, {engine}) declares figures it does not report"


def test_a_figure_matches_its_keys() -> None:
    lag = Figure("lag_max_seconds", "s", "", per="group")
    assert lag.matches("lag_max_seconds.enrich") and not lag.matches("lag_max_seconds")
    assert lag.keys(["a", "b"]) == ["lag_max_seconds.a", "lag_max_seconds.b"]
    version = Figure("requests_v", "messages", "", per="version")
    assert version.matches("requests_v12") and not version.matches("requests_vx")
    assert Figure("duplicates", "messages", "").matches("duplicates")


def test_kinds_and_the_reference_list_each_kinds_figures_with_units() -> None:
    from typer.testing import CliRunner

    from flowsim.cli import app
    from flowsim.reports.kinds_doc import kinds_markdown

    out = CliRunner().invoke(app, ["kinds", "kafka_topic"], env={"COLUMNS": "200"}).stdout
    assert "lag_max_seconds.<group>" in out and "hot_partition_share" in out
    markdown = kinds_markdown()
    for kind, config in kinds().items():
        for figure in config.kind_figures:
            assert f"| `{figure.label}` | {figure.unit} |" in markdown, (kind, figure.name)
    # a kind the fluid engine refuses has per-message figures only, whatever each figure declares
    serving = markdown.split("## `model_serving`")[1].split("\n## ")[0]
    assert "| `replicas_mean` | replicas |  | per-message only (the fluid engine refuses the kind) |" in serving
    assert "| both |" not in serving


def test_a_default_built_by_a_factory_is_documented_not_shown_as_none() -> None:
    """warehouse `load_overhead` defaults to 30 s (a constant distribution built by a factory):
    docs/nodes.md and the JSON Schema said "none"/nothing, so 1,000 x 1 MB at 100 MB/s reading
    40 s a load (10 s + 30 s) looked like a bug."""
    from flowsim.nodes.warehouse import WarehouseConfig
    from flowsim.reports.kinds_doc import kind_fields, kinds_markdown
    from flowsim.spec.json_schema import json_schema

    markdown = kinds_markdown()
    assert "| `load_overhead` | distribution | `{dist: constant, value: 30.0}` |" in markdown
    assert "| `query_time` | distribution | `{dist: lognormal, mean: 2.0, stdev: 2.0}` |" in markdown
    schema = json_schema(WarehouseConfig)["properties"]["load_overhead"]
    assert schema["default"] == {"dist": "constant", "value": 30.0}
    fields = {f["name"]: f for f in kind_fields(WarehouseConfig)}
    assert fields["load_overhead"]["default"] == {"dist": "constant", "value": 30.0}


def test_nested_settings_blocks_are_documented_with_their_fields() -> None:
    """A canary, an autoscaler, a consumer group: their fields were in neither `flowsim kinds` nor
    docs/nodes.md, so `canary: {share: 0.1, duration: 15m}` had to be guessed from prose."""
    from typer.testing import CliRunner

    from flowsim.cli import app
    from flowsim.nodes.model_serving import ModelServingConfig
    from flowsim.reports.kinds_doc import kind_section

    section = kind_section("model_serving", ModelServingConfig)
    for block, field in (("CanarySpec", "share"), ("AutoscaleSpec", "tolerance"), ("BlueGreenSpec", None)):
        assert f"`{block}`" in section, block
        if field:
            assert f"| `{field}` |" in section.split(f"`{block}`")[1], (block, field)
    out = CliRunner().invoke(app, ["kinds", "airflow_dag"], env={"COLUMNS": "200"}).stdout
    assert "TaskSpec(" not in out and "{extract: {depends_on: []" in out  # a default as YAML, not a repr


# ---- key figures and honest headlines ------------------------------------------------------------
FANOUT = """\
name: fan
duration: {duration}
seed: 5
replications: {reps}
slos: [totals.dropped == 0]
lesson:
  text: A fan-out copies every message to each branch.
  figures: [end_to_end.a.count, totals.delivered]
architecture:
  name: fan
  nodes:
    src: {{kind: source, rate: 10/s}}
    split: {{kind: delay, time: 10ms, routing: fanout}}
    api: {{kind: service, servers: 1, service_time: {{dist: exponential, mean: 200ms}}, capacity: 2, on_full: drop}}
    a: {{kind: sink}}
    b: {{kind: sink}}
  edges: [src -> split, split -> a, split -> api, api -> b]
"""


def fanout(tmp_path: Path, reps: int = 1, duration: str = "1000s") -> tuple[Scenario, flowsim.RunResult]:
    path = tmp_path / "fan.yaml"
    path.write_text(FANOUT.format(reps=reps, duration=duration))
    scenario = flowsim.load_scenario(path)
    return scenario, flowsim.simulate(scenario)


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, flowsim.RunResult]:
    """The fan-out over 300 s, three replications."""
    return fanout(tmp_path_factory.mktemp("three"), reps=3, duration="300s")


def test_the_lessons_figures_come_first_then_input_losses_and_slos(tmp_path: Path) -> None:
    from flowsim.key_figures import key_figures

    scenario, result = fanout(tmp_path)
    figures = key_figures(result, scenario)
    assert [f.path for f in figures[:2]] == ["end_to_end.a.count", "totals.delivered"]
    assert [f.why for f in figures[:3]] == ["lesson", "lesson", "input"]
    # the input is what the source produced, once: arrivals / window, not the copies at the sinks
    t = result.totals
    assert figures[2].value == pytest.approx(t.arrivals / result.window_s)
    # 10/s over 1,000 s: 10,000 messages, Poisson sd 100, so the rate is 10 +- 0.3 (3 sd)
    assert figures[2].value == pytest.approx(10.0, abs=0.3)
    # every copy is delivered once per sink: a got every message, b what api did not drop
    assert t.delivered == pytest.approx(result.end_to_end["a"].count + result.end_to_end["b"].count)
    # the sum of copies the old headline showed: all of a, plus the 3/7 of them api passes to b
    assert t.delivered == pytest.approx(t.arrivals * (1 + 3 / 7), rel=0.03)
    # api (M/M/1/2 at rho = 10 x 0.2 = 2): drops (1 - rho) rho^2 / (1 - rho^3) = 4/7 of its arrivals
    losses = {f.label: f for f in figures if f.why == "loss"}
    assert losses["messages lost, every way"].value == t.dropped + t.dead_lettered + t.lost
    assert losses["api: dropped"].value / result.nodes["api"].arrivals == pytest.approx(4 / 7, abs=0.03)
    assert "dropped (node full)" in losses["messages lost, every way"].meaning
    assert figures[-1].why == "slo" and figures[-1].verdict == "failed"  # api drops, so dropped == 0 fails


def test_counts_over_replications_are_means_with_ci_and_unit(three: tuple[Scenario, flowsim.RunResult]) -> None:
    from flowsim.key_figures import key_figures
    from flowsim.reports.key_tables import figure_text, sinks_frame

    scenario, result = three
    lost = next(f for f in key_figures(result, scenario) if f.label == "messages lost, every way")
    assert lost.ci95 is not None and lost.ci95 > 0  # three replications differ in their drops
    text = figure_text(lost, result.replications)
    assert text.endswith("messages (mean of 3)") and " ± " in text
    frame = sinks_frame(result, scenario)
    assert list(frame["sink"]) == ["a", "b"] and frame["count"].str.endswith(" messages").all()
    assert frame["throughput"].str.contains(" ± ").all()


def test_headline_says_input_and_every_loss_with_units(three: tuple[Scenario, flowsim.RunResult]) -> None:
    from flowsim.reports.app_frames import headline

    scenario, result = three
    shown = {h.label: h for h in headline(result, scenario.arch)}
    assert "Throughput" not in shown and shown["Input rate (mean of 3)"].text.endswith("messages/s")
    assert shown["Input rate (mean of 3)"].value == pytest.approx(result.totals.arrivals / result.window_s)
    t, lost = result.totals, shown["Messages lost (mean of 3)"]
    assert lost.value == t.dropped + t.dead_lettered + t.lost
    assert " ± " in lost.text and lost.text.endswith(" messages")


def test_a_lesson_figure_that_does_not_exist_is_a_located_error(tmp_path: Path) -> None:
    from flowsim.errors import SpecError

    path = tmp_path / "fan.yaml"
    path.write_text(FANOUT.format(reps=1, duration="1000s").replace("end_to_end.a.count", "end_to_end.a.cuont"))
    with pytest.raises(SpecError, match=r"fan\.yaml:8:\d+: lesson\.figures\[0\].*did you mean 'count'"):
        flowsim.load_scenario(path)


@pytest.mark.slow
def test_retention_losses_lead_the_slow_consumer_lesson() -> None:
    """201,390 deleted unread were once shown as 'Messages lost 0'."""
    from flowsim.key_figures import key_figures
    from flowsim.reports.app_frames import headline

    scenario = flowsim.load_scenario(ROOT / "scenarios" / "slow-consumer-retention.yaml")
    result = flowsim.simulate(scenario)
    first = key_figures(result, scenario)[0]
    assert first.path == "nodes.events_topic.kind_figures.lost_to_retention.replay_job" and first.value
    assert first.value == result.totals.lost > 100_000  # 1,000/s short for 8 minutes, less the 2 min retention
    lost = {h.label: h for h in headline(result, scenario.arch)}["Messages lost"]
    assert lost.value == result.totals.lost + result.totals.dropped + result.totals.dead_lettered


@pytest.mark.slow
def test_the_page_shows_the_lesson_and_its_key_figures() -> None:
    testing = pytest.importorskip("streamlit.testing.v1")
    at = testing.AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.selectbox(key="scenario_choice").select("drift-retraining").run()
    at.button(key="run_bottom").click().run()
    assert not at.exception
    assert any("After a drift the stale model serves" in m.value for m in at.markdown)
    frames = [t.value for t in at.table if "what it is" in t.value.columns]  # tables: text in the page
    assert frames and frames[0]["figure"].iloc[0] == "drift: time_to_detect_mean_s"
    assert any("sink" in t.value.columns and "p99" in t.value.columns for t in at.table)


# ---- theory rows: exact, approximate, not applicable -------------------------------------------
THEORY = """\
name: th
duration: {duration}
seed: 1
{faults}
architecture:
  name: th
  nodes:
    src: {{kind: source, rate: 0.5/s, batch: 10}}
    api: {{kind: service, servers: 1, service_time: {{dist: exponential, mean: 1s}}{extra}}}
    done: {{kind: sink}}
  edges: [src -> api, api -> done]
"""


def theory_run(tmp_path: Path, duration: str = "20000s", faults: str = "", extra: str = "") -> flowsim.RunResult:
    path = tmp_path / "th.yaml"
    path.write_text(THEORY.format(duration=duration, faults=faults, extra=extra))
    return flowsim.simulate(flowsim.load_scenario(path))


def test_theory_counts_a_batched_item_as_its_messages(tmp_path: Path) -> None:
    from flowsim.reports.theory import theory_rows

    rows = {row.figure: row for _, _, row in theory_rows(theory_run(tmp_path))}
    queue = rows["queue length (messages)"]
    # M/M/1 at rho = 0.5 items/s x 1 s: Lq = rho^2 / (1 - rho) = 0.5 items = 5 messages of 10
    assert queue.predicted == pytest.approx(5.0)
    assert queue.simulated == pytest.approx(5.0, rel=0.15)  # 20,000 s, relaxation ~12 s: a few % noise
    assert queue.status == "exact" and "10 messages per item" in queue.why


def test_theory_rows_carry_the_simulated_figures_ci_over_replications(tmp_path: Path) -> None:
    from flowsim.reports.app_frames import theory_frame
    from flowsim.reports.theory import theory_rows

    path = tmp_path / "th.yaml"
    path.write_text(THEORY.format(duration="4000s", faults="", extra="").replace("seed: 1", "seed: 1\nreplications: 4"))
    result = flowsim.simulate(flowsim.load_scenario(path))
    assert result.replications == 4
    rows = {row.figure: row for _, _, row in theory_rows(result)}
    wait = rows["wait mean"]
    # the half-width of the wait's mean over the 4 runs, the one the node table shows
    assert wait.ci95 is not None and wait.ci95 == result.nodes["api"].ci95["wait_s.mean"] > 0
    # the dropped share's half-width comes from each run's dropped / arrivals (none drop here: 0)
    shares = [run["api"]["dropped"] / run["api"]["arrivals"] for run in result.replications_figures()]
    assert rows["drop probability"].ci95 == pytest.approx(student_t_halfwidth(shares)) == 0.0
    frame = theory_frame(result).set_index("figure")
    assert " ± " in frame.loc["wait mean", "simulated"] and " ± " not in frame.loc["drop probability", "simulated"]
    # room for 3 items of 10 messages: M/M/1/3 at rho 0.5 drops 1/15 of them, a share that varies by run
    lossy = flowsim.simulate(flowsim.load_scenario(path, {"nodes.api.capacity": 30, "nodes.api.on_full": "drop"}))
    drop = {row.figure: row for _, _, row in theory_rows(lossy)}["drop probability"]
    shares = [run["api"]["dropped"] / run["api"]["arrivals"] for run in lossy.replications_figures()]
    assert drop.ci95 == pytest.approx(student_t_halfwidth(shares)) and drop.ci95 > 0
    assert " ± " in theory_frame(lossy).set_index("figure").loc["drop probability", "simulated"]


def test_theory_says_blocking_and_outages_are_left_out(tmp_path: Path) -> None:
    from flowsim.reports.theory import difference_text, theory_rows

    result = theory_run(tmp_path, "2000s", "faults: [{node: api, at: 500s, for: 100s}]",
                        ", capacity: 50, on_full: block")  # fmt: skip
    rows = {row.figure: row for _, _, row in theory_rows(result)}
    drop = rows["drop probability"]
    assert drop.status == "not applicable" and "blocks its senders" in drop.why and difference_text(drop) == "—"
    wait = rows["wait mean"]
    assert wait.status == "approximate" and "ignores outages (down 100s)" in wait.why
    assert "blocks its senders when full" in wait.why


def test_theory_says_when_the_node_received_other_traffic_than_the_formula_assumes(tmp_path: Path) -> None:
    from flowsim.reports.theory import theory_rows

    # the source sends from 10,000 s of 20,000 s: M/M/1 holds while it sends, but over the window
    # the node received half the 0.5 items/s (5 messages/s) the formula assumes, so its utilization
    # reads about half the 50%: "exact" beside a -50% difference is no longer said
    path = tmp_path / "th.yaml"
    path.write_text(
        THEORY.format(duration="20000s", faults="", extra="").replace("batch: 10}", "batch: 10, start: 10000s}")
    )
    rows = {row.figure: row for _, _, row in theory_rows(flowsim.simulate(flowsim.load_scenario(path)))}
    utilization = rows["utilization"]
    assert utilization.simulated == pytest.approx(0.25, rel=0.1)
    assert utilization.status == "approximate"
    assert "the formula assumes 5/s in; the node received 2.5" in utilization.why
    # at the full rate the same node stays exact (test_theory_counts_a_batched_item_as_its_messages)


def test_theory_says_failed_attempts_are_left_out(tmp_path: Path) -> None:
    # a quarter of the attempts fail and are retried: the M/M/1 formula of the first attempts alone
    # is no longer exact, and the note says why with the run's counts
    result = theory_run(
        tmp_path, "2000s", extra=", error_rate: 0.25, retry: {max_attempts: 3, backoff: fixed, base: 1s}"
    )
    node = result.nodes["api"]
    assert node.failed_attempts > 0 and node.retries > 0
    from flowsim.reports.tables import format_number
    from flowsim.reports.theory import theory_rows

    wait = {row.figure: row for _, _, row in theory_rows(result)}["wait mean"]
    assert wait.status == "approximate"
    assert f"ignores failed attempts ({format_number(node.failed_attempts)} failed;" in wait.why
    assert f"{format_number(node.retries)} retries came back as more load" in wait.why


def test_the_theory_summary_and_the_diagram_name_one_bottleneck(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from flowsim.key_figures import bottleneck
    from flowsim.reports.app_figures import graph_figure
    from flowsim.reports.tables import analysis_summary

    scenario, result = fanout(tmp_path)
    # api at rho = 2 is the analytic bottleneck; the diagram outlines and titles the same node
    assert bottleneck(result) == result.analysis.bottleneck == "api"
    assert "Bottleneck: api" in analysis_summary(result).plain
    title = graph_figure(scenario.arch, result).axes[0].get_title()
    assert "bottleneck api" in title


def test_flowsim_run_opens_with_the_lesson_and_key_figures(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flowsim.cli import app

    (tmp_path / "fan.yaml").write_text(FANOUT.format(reps=1, duration="200s"))
    out = CliRunner().invoke(app, ["run", str(tmp_path / "fan.yaml"), "-q"], env={"COLUMNS": "200"}).stdout
    lesson, key, sinks, nodes = (out.index(s) for s in ("Lesson: A fan-out", "Key figures", "Per sink", "Nodes:"))
    assert lesson < key < sinks < nodes
    assert "messages lost, every way" in out and "api: dropped" in out and "input rate" in out


def test_the_json_result_carries_the_key_figures(tmp_path: Path) -> None:
    """`--format json` (and result.json) hold the same key figures as the table, lesson first."""
    import json

    from typer.testing import CliRunner

    from flowsim.cli import app

    (tmp_path / "fan.yaml").write_text(FANOUT.format(reps=1, duration="200s"))
    out = CliRunner().invoke(app, ["run", str(tmp_path / "fan.yaml"), "-q", "--format", "json"]).stdout
    document = json.loads(out)
    rows = {row["label"]: row for row in document["key_figures"]}
    assert document["key_figures"][0]["why"] == "lesson"
    lost = rows["messages lost, every way"]
    totals = document["totals"]  # the same identity as the table: every way a message is lost
    assert lost["value"] == totals["dropped"] + totals["dead_lettered"] + totals["lost"] > 0
    assert lost["unit"] == "messages" and rows["api: dropped"]["path"] == "nodes.api.dropped"
    assert rows["input rate"]["value"] == pytest.approx(totals["arrivals"] / document["window_s"])


LESSONS = [n for n in SCENARIOS if short(n).lesson is not None]


def test_the_teaching_scenarios_name_their_lesson() -> None:
    taught = {"slow-consumer-retention", "crash-at-least-once", "hot-partition", "lambda-vs-kappa-freshness",
              "broker-outage", "retry-storm", "airflow-sla-miss", "drift-retraining",
              "warehouse-contention"}  # fmt: skip
    assert taught <= set(LESSONS)


@pytest.mark.slow
@pytest.mark.parametrize("name", LESSONS)
def test_every_lesson_figure_has_a_value_first_on_the_page(name: str) -> None:
    from flowsim.key_figures import key_figures

    scenario = flowsim.load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    assert scenario.lesson is not None
    figures = key_figures(flowsim.simulate(scenario), scenario)
    lesson = figures[: len(scenario.lesson.figures)]
    assert [f.path for f in lesson] == scenario.lesson.figures and all(f.why == "lesson" for f in lesson)
    assert all(f.value is not None and f.unit for f in lesson), [(f.path, f.value, f.unit) for f in lesson]


def test_a_headline_card_carries_its_unit_in_the_label(three: tuple[Scenario, flowsim.RunResult]) -> None:
    """At 1,400 px four cards cut '39.9 messages/s' to '39.9 messa…': the unit moves to the label."""
    from flowsim.reports.app_frames import headline

    scenario, result = three
    rate, p99, lost, slos = headline(result, scenario.arch)
    assert rate.card_label == "Input rate · messages/s (mean of 3)" and rate.text == f"{rate.card} messages/s"
    assert " ± " in rate.card and "messages" not in rate.card
    assert lost.card_label == "Messages lost · messages (mean of 3)" and lost.text == f"{lost.card} messages"
    assert p99.card == p99.text and p99.card_label == p99.label  # a duration carries its own unit
    assert slos.card == slos.text == "0 / 1"  # 'totals.dropped == 0' fails: api drops


def test_a_difference_against_no_data_is_a_dash_not_nan() -> None:
    # a node that never served anything has a NaN mean: (NaN - 1.25) / 1.25 printed as '+nan%'
    from flowsim.reports.theory import relative_difference

    assert relative_difference(1.25, float("nan")) is None
    assert relative_difference(1.25, 1.5) == pytest.approx(0.2)  # (1.5 - 1.25) / 1.25


def test_the_header_balance_adds_up_on_screen() -> None:
    # the ML pipeline opens its window with messages inside and merges training data into model
    # versions: both are said, so what came in equals where it went, as the JSON totals balance
    import re

    from flowsim.reports.tables import header

    result = flowsim.simulate(flowsim.load_scenario(ROOT / "scenarios" / "ml-baseline.yaml"))
    line = header(result).plain.splitlines()[1]
    found = re.findall(r"([a-z -]+?) ([\d,]+)(?: ·|$)", line)
    counts = {label.strip(): float(n.replace(",", "")) for label, n in found}
    came = counts["arrivals"] + counts.get("copies", 0) + counts.get("inside at the start", 0)
    went = sum(counts[k] for k in ("delivered", "dropped", "dead-lettered", "lost", "inside at the end"))
    assert counts["inside at the start"] > 0 and counts["merged"] > 0
    assert came == went + counts["merged"]
