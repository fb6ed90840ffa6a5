"""Two runs on the same axes (Altair / Vega-Lite): the app's Compare view.

Side-by-side images with their own y scales hide the difference they are meant to show, so
here A and B share every axis: one panel per figure, the two runs as two colours, named by
their run labels.  The panels follow one node (the bottleneck by default) plus what the sinks
received; the latency tail of each delivering sink is a second chart.  Time reads in one unit
chosen from the longer run, faults of either run are shaded, and values are means over
replications (the paired table beside it carries the confidence intervals).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from flowsim.reports.app_frames import delivery_sinks
from flowsim.reports.charts import FIT_WIDTH, HEIGHT, fault_spans, latency_tail_frame, series_long, time_unit
from flowsim.results import RunResult
from flowsim.spec.scenario import Scenario

#: A blue, B orange (the colours of Vega's default scheme, fixed so A is always the same)
RUN_COLOURS = ("#1f77b4", "#ff7f0e")
LOG_AXIS_RATIO = 10.0  # p99s further apart than this put the latency axis on a log scale
LEGEND_LABEL_PX = 340  # a run's whole label fits a 390 px phone column; Vega's default cuts at 160
_PANEL_OF = {  # charts.series_long's panel -> (this view's title after the node name, the unit)
    "throughput (items/s)": ("throughput", "items/s"),
    "queue length (waiting)": ("queue", "items waiting"),
    "utilization": ("busy", "% of servers"),
    "consumer lag (messages)": ("lag", "messages"),
}


@dataclass(frozen=True)
class Side:
    """One run of the comparison: its name on the chart, its result and its scenario."""

    name: str
    result: RunResult
    scenario: Scenario


def followed_nodes(a: Side, b: Side) -> list[str]:
    """Nodes both runs have, A's bottleneck (the one the diagram outlines) first."""
    from flowsim.key_figures import bottleneck

    shared = [n for n in a.result.nodes if n in b.result.nodes]
    first = bottleneck(a.result)
    return ([first] if first in shared else []) + [n for n in shared if n != first]


def overlay_frame(a: Side, b: Side, node: str | None) -> pd.DataFrame:
    """Long rows (time_s, run, panel, value): the sinks' delivered rate, then `node`'s figures."""
    parts = []
    for side in (a, b):
        long = series_long(side.result)
        sinks = [s for s in delivery_sinks(side.scenario.arch) if s in set(long["line"])]
        rate = long[(long["panel"] == "throughput (items/s)") & long["line"].isin(sinks)]
        total = rate.groupby("time_s", as_index=False)["value"].sum()
        parts.append(total.assign(run=side.name, panel="all sinks: delivered (items/s)"))
        if node is None:
            continue
        mine = long[(long["line"] == node) | long["line"].str.startswith(node + "/")]
        for (panel, line), rows in mine.groupby(["panel", "line"], sort=False):
            title, unit = _PANEL_OF.get(str(panel), (str(panel), ""))
            parts.append(rows[["time_s", "value"]].assign(run=side.name, panel=f"{line} {title} ({unit})"))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return frame.reindex(columns=["time_s", "run", "panel", "value"]).dropna(subset=["value"])


def fault_frame(a: Side, b: Side) -> pd.DataFrame:
    """Scheduled faults of both runs as (start_s, end_s, fault); a fault both runs have is listed once."""
    spans = {side.name: fault_spans(side.scenario) for side in (a, b)}
    same = spans[a.name].reset_index(drop=True).equals(spans[b.name].reset_index(drop=True))
    if same:
        return spans[a.name].assign(fault=lambda f: "A and B: " + f["fault"])
    rows = [frame.assign(fault=name.split(":")[0] + ": " + frame["fault"]) for name, frame in spans.items()]
    return pd.concat(rows, ignore_index=True)


def _colour(a: Side, b: Side) -> Any:
    return alt.Color(
        "run:N", title="run", scale=alt.Scale(domain=[a.name, b.name], range=list(RUN_COLOURS)),
        legend=alt.Legend(orient="top", direction="vertical", labelLimit=LEGEND_LABEL_PX),
    )  # fmt: skip


def overlay_chart(a: Side, b: Side, node: str | None) -> Any:
    """A and B on shared axes, one panel per figure, one zoomable time axis, faults shaded."""
    frame = overlay_frame(a, b, node)
    unit, seconds = time_unit(max(a.result.window_s, b.result.window_s, 1e-9))
    frame = frame.assign(t=frame["time_s"] / seconds)
    faults = fault_frame(a, b).assign(t0=lambda f: f["start_s"] / seconds, t1=lambda f: f["end_s"] / seconds)
    x = alt.X("t:Q", title=f"simulated time ({unit})", scale=alt.Scale(nice=False, zero=False))
    colour = _colour(a, b)
    panels: list[Any] = []
    for index, panel in enumerate(dict.fromkeys(frame["panel"])):
        rows = frame[frame["panel"] == panel]
        percent = "(% of servers)" in panel
        y = alt.Y("value:Q", title=panel, axis=alt.Axis(format="%" if percent else "~s"))
        lines = alt.Chart(rows).mark_line(strokeWidth=1.6).encode(
            x=x, y=y, color=colour,
            tooltip=[alt.Tooltip("run:N"), alt.Tooltip("t:Q", title=f"time ({unit})", format=".3~f"),
                     alt.Tooltip("value:Q", title=panel, format=".1%" if percent else ".4~g")],
        ).add_params(alt.selection_interval(bind="scales", encodings=["x"], name=f"zoom{index}"))  # fmt: skip
        layer: Any = lines
        if not faults.empty:
            shade = alt.Chart(faults).mark_rect(opacity=0.15, color="#d62728")
            layer = shade.encode(x="t0:Q", x2="t1:Q", tooltip=[alt.Tooltip("fault:N")]) + lines
        panels.append(layer.properties(height=HEIGHT, width="container"))
    return alt.vconcat(*panels).resolve_scale(x="shared", color="shared").properties(autosize=FIT_WIDTH)


def latency_overlay_frame(a: Side, b: Side) -> pd.DataFrame:
    """P(latency > x) per run and delivering sink (charts.latency_tail_frame of each run)."""
    parts = []
    for side in (a, b):
        sinks = delivery_sinks(side.scenario.arch)
        tail = latency_tail_frame(side.result)
        parts.append(tail[tail["sink"].isin(sinks)].assign(run=side.name))
    return pd.concat(parts, ignore_index=True)


def latency_overlay_chart(a: Side, b: Side) -> Any:
    """Each run's end-to-end latency tail on one log axis, its p99 as a dashed rule; sinks by dash."""
    tail = latency_overlay_frame(a, b)
    top = float(tail["latency_s"].max()) if not tail.empty else 1.0
    unit, seconds = time_unit(top)
    if unit == "s" and top < 3:
        unit, seconds = "ms", 1e-3
    tail = tail.assign(x=tail["latency_s"] / seconds)
    p99 = p99_frame(a, b).assign(x=lambda f: f["p99_s"] / seconds)
    wide = bool((p99["p99_s"] > 0).all() and p99["p99_s"].max() > LOG_AXIS_RATIO * p99["p99_s"].min())
    if wide:  # tails 10x apart: a log axis shows both instead of squashing the faster one against 0
        tail, p99 = tail[tail["x"] > 0], p99[p99["x"] > 0]
    scale = alt.Scale(type="log") if wide else alt.Scale()
    x = alt.X("x:Q", title=f"end-to-end latency ({unit}{', log scale' if wide else ''})", scale=scale)
    colour = _colour(a, b)
    several = tail["sink"].nunique() > 1
    dash = alt.StrokeDash("sink:N", legend=alt.Legend(orient="bottom")) if several else alt.StrokeDash()
    curve = alt.Chart(tail).mark_line(interpolate="step-after").encode(
        x=x, y=alt.Y("beyond:Q", title="P(latency > x), share of messages", scale=alt.Scale(type="log")),
        color=colour, strokeDash=dash, detail="sink:N",
        tooltip=[alt.Tooltip("run:N"), alt.Tooltip("sink:N"),
                 alt.Tooltip("x:Q", title=f"latency ({unit})", format=".4~g"),
                 alt.Tooltip("beyond:Q", title="share slower", format=".3~%")],
    )  # fmt: skip
    chart: Any = curve
    if not p99.empty:
        tip = [alt.Tooltip("run:N"), alt.Tooltip("sink:N"), alt.Tooltip("x:Q", title=f"p99 ({unit})", format=".4~g")]
        chart = curve + alt.Chart(p99).mark_rule(strokeDash=[4, 3]).encode(x="x:Q", color=colour, tooltip=tip)
    return chart.properties(height=260, width="container").interactive()


def p99_frame(a: Side, b: Side) -> pd.DataFrame:
    """Each run's p99 per delivering sink, from all its latency samples (as the latency chart's rules)."""
    rows = [{"run": side.name, "sink": sink, "p99_s": float(np.percentile(values, 99))}
            for side in (a, b) for sink, values in side.result.latencies.items()
            if values.size and sink in delivery_sinks(side.scenario.arch)]  # fmt: skip
    return pd.DataFrame(rows, columns=["run", "sink", "p99_s"])
