"""The Compare view's parts without a page: two finished runs compared by `flowsim.compare`, the
paired table's text, and the overlay charts (A and B on the same axes, named, faults shaded)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("altair", reason="the app's charts need the app extra (pip install -e '.[app]')")

import flowsim
from flowsim.compare import Comparison, Difference, compare, compare_results
from flowsim.reports.compare_charts import (
    LEGEND_LABEL_PX,
    Side,
    fault_frame,
    followed_nodes,
    latency_overlay_chart,
    overlay_chart,
    overlay_frame,
    p99_frame,
)
from flowsim.reports.compare_tables import figure_name, paired_table
from flowsim.sweep import replication_figures

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SHORT = {"duration": 2000, "warmup": 200}  # baseline: 0.9/s into 2 servers of mean 1 s (rho 0.45)
OUTAGE = {"duration": 900, "warmup": 100, "faults": [{"node": "payments", "at": 300, "for": 60}]}


def run(name: str, overrides: dict[str, Any]) -> tuple[flowsim.Scenario, flowsim.RunResult]:
    scenario = flowsim.load_scenario(SCENARIOS / f"{name}.yaml", overrides)
    return scenario, flowsim.simulate(scenario)


@pytest.fixture(scope="module")
def pair() -> tuple[Side, Side]:
    a = run("baseline", SHORT | {"replications": 3})
    b = run("baseline", SHORT | {"replications": 3, "nodes.api.servers": 3})
    return Side("A: run #1 baseline · as written", a[1], a[0]), Side("B: run #2 baseline · api.servers=3", b[1], b[0])


# ---- the statistics are flowsim.compare's ---------------------------------------------------------
def test_two_finished_runs_compare_as_flowsim_compare_does(pair: tuple[Side, Side]) -> None:
    a, b = pair
    ran = compare(a.scenario, b.scenario, replications=3, workers=1)  # runs both again, seed 7
    kept = compare_results(a.result, a.scenario, b.result, b.scenario)
    assert [d.model_dump() for d in kept.differences] == [d.model_dump() for d in ran.differences]
    assert kept.warnings == [] and kept.replications == 3
    utilization = kept.difference("nodes.api.utilization")
    # 0.9/s x 1 s over 2 servers = 0.45, over 3 = 0.30: B - A near -0.15, sure with common arrivals
    assert utilization is not None and utilization.significant and utilization.diff == pytest.approx(-0.15, abs=0.02)
    assert kept.difference("totals.lost") is not None  # losses to retention and expiry are compared too


def test_runs_of_other_seeds_or_replications_are_paired_and_said_so(pair: tuple[Side, Side]) -> None:
    a, _ = pair
    other = run("baseline", SHORT | {"replications": 2, "seed": 8})
    comparison = compare_results(a.result, a.scenario, other[1], other[0])
    assert comparison.replications == 2  # min(3, 2) pairs
    assert any("different seeds (7 and 8)" in w for w in comparison.warnings)
    assert any("A has 3 replications and B 2: the first 2 of each are paired" in w for w in comparison.warnings)
    throughput = comparison.difference("end_to_end.done.throughput_per_s")
    assert throughput is not None and throughput.pairs == 2
    rows_a, rows_b = replication_figures(a.result, a.scenario)[:2], replication_figures(other[1], other[0])
    diffs = [rb["end_to_end.done.throughput_per_s"] - ra["end_to_end.done.throughput_per_s"]
             for ra, rb in zip(rows_a, rows_b, strict=True)]  # fmt: skip
    assert throughput.diff == pytest.approx(sum(diffs) / 2)


# ---- the table's text ------------------------------------------------------------------------------
def test_the_paired_table_writes_each_figure_with_its_unit() -> None:
    utilization = Difference(metric="nodes.api.utilization", a=0.45, b=0.30, diff=-0.15, ci95=0.009,
                             relative=-0.15 / 0.45, significant=True, pairs=3)  # fmt: skip
    latency = Difference(metric="end_to_end.done.latency_s.p99", a=5.46, b=4.64, diff=-0.821, ci95=None,
                         relative=-0.821 / 5.46, significant=False, pairs=1)  # fmt: skip
    comparison = Comparison(a="A", b="B", seed=7, replications=3, differences=[utilization, latency])
    table = paired_table(comparison).set_index("metric")
    row = table.loc["nodes.api.utilization"]
    # 0.45 -> 45.0%; -0.15 -> -15.0 percentage points; 0.009 -> ± 0.9 pp; -0.15 / 0.45 = -33.3%
    assert (row["figure"], row["A"], row["B"]) == ("api: utilization", "45.0%", "30.0%")
    assert (row["B - A"], row["95% CI of B - A"], row["change"], row["significant"]) == (
        "-15.0 pp", "± 0.9 pp", "-33.3%", "yes")  # fmt: skip
    row = table.loc["end_to_end.done.latency_s.p99"]
    # -0.821 s reads -821ms; one replication: no interval, so neither CI nor verdict
    assert (row["figure"], row["B - A"], row["95% CI of B - A"], row["significant"]) == (
        "done: p99 end-to-end latency", "-821ms", "—", "—")  # fmt: skip
    assert figure_name("totals.lost") == "lost unread: retention, expiry (messages)"
    assert figure_name("cost.per_hour") == "cost ($/h)"


# ---- the charts --------------------------------------------------------------------------------------
def _datasets(spec: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return list(spec.get("datasets", {}).values())


def _titles(spec: Any) -> list[str]:
    """Every axis title in a spec (nested vconcat and layers included)."""
    found: list[str] = []
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key in ("x", "y") and isinstance(value, dict) and isinstance(value.get("title"), str):
                found.append(value["title"])
            found += _titles(value)
    elif isinstance(spec, list):
        for item in spec:
            found += _titles(item)
    return found


def test_the_overlay_puts_both_runs_on_every_panel_with_units(pair: tuple[Side, Side]) -> None:
    a, b = pair
    assert followed_nodes(a, b)[0] == "api"  # the bottleneck first, as the diagram outlines it
    frame = overlay_frame(a, b, "api")
    panels = set(frame["panel"])
    assert panels == {"all sinks: delivered (items/s)", "api throughput (items/s)",
                      "api queue (items waiting)", "api busy (% of servers)"}  # fmt: skip
    for panel in panels:  # both runs on every panel: one chart, shared axes
        assert set(frame[frame["panel"] == panel]["run"]) == {a.name, b.name}
    busy = frame[frame["panel"] == "api busy (% of servers)"].groupby("run")["value"].mean()
    assert busy[a.name] == pytest.approx(0.45, abs=0.05) and busy[b.name] == pytest.approx(0.30, abs=0.05)
    spec = overlay_chart(a, b, "api").to_dict()
    assert len(spec["vconcat"]) == 4 and spec["resolve"]["scale"]["x"] == "shared"
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}  # panels and axes inside the column
    titles = _titles(spec)
    assert "simulated time (min)" in titles  # 200-2000 s: 3 min or more, so minutes
    assert "api busy (% of servers)" in titles
    colour = spec["vconcat"][0]["encoding"]["color"]
    assert colour["scale"]["domain"] == [a.name, b.name]  # the whole labels, A first
    assert colour["legend"]["labelLimit"] == LEGEND_LABEL_PX


def test_faults_are_shaded_once_when_both_runs_have_them_and_apart_otherwise() -> None:
    one, two = run("checkout-outage", OUTAGE), run("checkout-outage", OUTAGE | {"faults": []})
    a, b = Side("A: outage", one[1], one[0]), Side("B: outage again", one[1], one[0])
    assert list(fault_frame(a, b)["fault"]) == ["A and B: payments down"]
    assert list(fault_frame(a, Side("B: no outage", two[1], two[0]))["fault"]) == ["A: payments down"]
    spans = fault_frame(a, b)
    assert (spans["start_s"].iloc[0], spans["end_s"].iloc[0]) == (300.0, 360.0)  # at 300 s for 60 s
    spec = overlay_chart(a, b, "payments").to_dict()
    assert any(row.get("fault") == "A and B: payments down" for rows in _datasets(spec) for row in rows)


def test_the_latency_overlay_marks_each_runs_p99(pair: tuple[Side, Side]) -> None:
    a, b = pair
    p99 = p99_frame(a, b).set_index("run")["p99_s"]
    assert p99[a.name] == pytest.approx(float(np.percentile(a.result.latencies["done"], 99)))
    assert p99[b.name] < p99[a.name]  # a third server: less waiting in the tail
    spec = latency_overlay_chart(a, b).to_dict()
    runs = {row.get("run") for rows in _datasets(spec) for row in rows}
    assert {a.name, b.name} <= runs
    assert not math.isnan(p99[b.name])


def _x_scale(spec: dict[str, Any]) -> tuple[str, Any]:
    x = spec["layer"][0]["encoding"]["x"]
    return x["title"], x.get("scale", {}).get("type")


def test_the_latency_axis_turns_logarithmic_when_the_tails_are_ten_times_apart(pair: tuple[Side, Side]) -> None:
    a, b = pair
    assert _x_scale(latency_overlay_chart(a, b).to_dict()) == ("end-to-end latency (s)", None)  # p99s 10% apart
    outage, calm = run("checkout-outage", OUTAGE), run("checkout-outage", OUTAGE | {"faults": []})
    down, up = Side("A: outage", outage[1], outage[0]), Side("B: no outage", calm[1], calm[0])
    p99 = p99_frame(down, up).groupby("run")["p99_s"].max()
    # a 60 s outage in an 800 s window: 7.5% of the requests wait up to a minute, so A's p99 is tens of
    # seconds, while B's is the service times alone (well under a second)
    assert p99["A: outage"] > 10 * p99["B: no outage"]
    spec = latency_overlay_chart(down, up).to_dict()
    title, scale = _x_scale(spec)
    assert scale == "log" and title.endswith(", log scale)")
    assert all(row["x"] > 0 for rows in _datasets(spec) for row in rows if "x" in row)  # log(0) left out
