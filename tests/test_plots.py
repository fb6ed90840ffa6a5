"""Plots say what the run shows: round time ticks in one unit, each kind's own figures, the tail."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import flowsim
from flowsim.reports.plots import kind_panels, plot_kind_series, plot_throughput, save_all, time_unit

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("span_s", "unit"),
    [(2.0, "s"), (120.0, "s"), (600.0, "min"), (7200.0, "min"), (36_000.0, "h"), (86_400.0, "h"), (7 * 86_400.0, "d")],
)
def test_the_time_axis_reads_in_one_unit_with_at_least_three_of_it(span_s: float, unit: str) -> None:
    assert time_unit(span_s)[0] == unit


def _axes() -> Figure:
    figure = Figure()
    FigureCanvasAgg(figure)
    return figure


@pytest.fixture(scope="module")
def outage() -> tuple[flowsim.Scenario, flowsim.RunResult]:
    scenario = flowsim.load_scenario(ROOT / "scenarios" / "broker-outage.yaml", {"replications": 2, "duration": "300s"})
    return scenario, flowsim.simulate(scenario)


@pytest.mark.slow  # the broker-outage run, twice
def test_ticks_fall_on_round_minutes_and_the_caption_says_replications(
    outage: tuple[flowsim.Scenario, flowsim.RunResult],
) -> None:
    _, result = outage
    ax = plot_throughput(_axes().add_subplot(), result)
    ax.figure.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ax.get_xlabel() == "simulated time (min)"
    steps = {round((b - a) / 60, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1 and steps <= {0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50}  # round minutes: never 0.6 or 33.3
    assert all(round(t / 60, 9) * 4 == round(t / 15) for t in ticks)  # each tick a whole quarter of a minute
    assert "(mean of 2 replications)" in ax.get_title()


@pytest.mark.slow
def test_each_kind_contributes_its_own_panels(
    outage: tuple[flowsim.Scenario, flowsim.RunResult], tmp_path: Path
) -> None:
    scenario, result = outage
    panels = kind_panels(result)
    assert {"buffer_messages", "lag_messages", "lag_seconds"} <= set(panels["events_topic"])
    ax = plot_kind_series(_axes().add_subplot(), result, "events_topic", "lag_messages")
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    assert max(lines["enrich"]) > 1_000  # the broker outage's backlog, drained after it
    written = {p.name for p in save_all(result, scenario, tmp_path)}
    assert {"node_events_topic.png", "latency_tail.png"} <= written
    assert all((tmp_path / name).stat().st_size > 1_000 for name in written)


def test_chart_rows_of_a_run_with_no_server_pool() -> None:
    # A topic into a stream job: no node has a server pool, so the utilization rows are empty; the
    # empty string column once turned the division into a TypeError and the page into a traceback.
    pytest.importorskip("altair", reason="the app's charts need the app extra")
    from flowsim.reports.charts import series_long

    text = """
name: no-pool
architecture:
  name: no-pool
  nodes:
    events: {kind: source, rate: 50/s}
    topic: {kind: kafka_topic, partitions: 2}
    job: {kind: stream_processor, parallelism: 2, per_event_cost: 1ms}
    out: {kind: sink}
  edges: [events -> topic, topic -> job, job -> out]
duration: 20s
"""
    result = flowsim.simulate(flowsim.load_scenario(text))
    rows = series_long(result)
    assert set(rows["panel"]) >= {"throughput (items/s)", "consumer lag (messages)"}
    assert (rows[rows["panel"] == "throughput (items/s)"]["value"] >= 0).all()
