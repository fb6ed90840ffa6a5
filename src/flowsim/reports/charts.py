"""Interactive charts (Altair / Vega-Lite) of one run: the time series and the latency tail.

Vega-Lite ships with Streamlit (`st.altair_chart`), so the app gets hover, zoom and a legend that
isolates a line without a new dependency; the charts are plain specs, so they are tested here
without a browser.  Time axes read in one unit chosen from the span (s, min, h or d), faults are
shaded, and at most `MAX_POINTS` samples per line are sent to the browser.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from flowsim.results import RunResult
from flowsim.spec.scenario import Scenario

#: (unit, seconds): the largest unit with at least three of it across the axis (as the PNG plots)
TIME_UNITS = (("d", 86_400.0), ("h", 3_600.0), ("min", 60.0), ("s", 1.0))
MAX_POINTS = 400
HEIGHT = 170
_LAG_SERIES = "lag_"
#: the stacked panels fit the column: without it a panel with faults shaded (a layer) keeps the column's
#: width for its plot alone, and its axes stick out past the edge (clipped at 390 px)
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")


def time_unit(span_s: float) -> tuple[str, float]:
    for name, seconds in TIME_UNITS:
        if span_s >= 3 * seconds:
            return name, seconds
    return "s", 1.0


def _thin(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Every k-th row per line so that no line has more than MAX_POINTS points."""
    step = max(1, int(np.ceil(frame.groupby("line").size().max() / MAX_POINTS))) if not frame.empty else 1
    return frame.groupby("line", group_keys=False).apply(lambda g: g.iloc[::step]) if step > 1 else frame


def series_long(result: RunResult) -> pd.DataFrame:
    """The time series as long rows (time_s, line, panel, value), means over replications."""
    series = result.series
    if series.empty:
        return pd.DataFrame(columns=["time_s", "line", "panel", "value"])
    mean = series.groupby(["time_s", "node"], sort=False).mean(numeric_only=True).reset_index()
    servers = {n: a.servers for n, a in result.analysis.nodes.items() if a.servers}
    queues = {n for n, r in result.nodes.items() if r.mean_queue_length is not None}
    parts = [mean.assign(line=mean["node"], panel="throughput (items/s)", value=mean["throughput_per_s"])]
    waiting = mean[mean["node"].isin(queues)]
    parts.append(waiting.assign(line=waiting["node"], panel="queue length (waiting)", value=waiting["waiting"]))
    busy = mean[mean["node"].isin(servers)]
    pool = [float(servers[n]) for n in busy["node"]]  # a list: mapping a string column keeps the str dtype
    parts.append(busy.assign(line=busy["node"], panel="utilization", value=busy["busy"].to_numpy() / pool))
    for column in (c for c in series.columns if str(c).startswith(_LAG_SERIES)):
        lag = mean.dropna(subset=[column])
        name = str(column).removeprefix(_LAG_SERIES)
        parts.append(lag.assign(line=lag["node"] + "/" + name, panel="consumer lag (messages)", value=lag[column]))
    long = pd.concat([p[["time_s", "line", "panel", "value"]] for p in parts], ignore_index=True)
    return long.dropna(subset=["value"])


def fault_spans(scenario: Scenario) -> pd.DataFrame:
    """Scheduled faults as (start_s, end_s, fault) rows, clipped to the measured window."""
    rows = []
    for fault in scenario.faults:
        if fault.at is None or fault.for_ is None:
            continue  # random failures have no fixed times
        start = fault.at
        while start < scenario.duration:
            begin, end = max(start, scenario.warmup), min(start + fault.for_, scenario.duration)
            if end > begin:
                rows.append(
                    {"start_s": begin, "end_s": end, "fault": f"{fault.node} {'slow' if fault.slowdown else 'down'}"}
                )
            if not fault.every:
                break
            start += fault.every
    return pd.DataFrame(rows, columns=["start_s", "end_s", "fault"])


def time_series_chart(result: RunResult, scenario: Scenario) -> Any:
    """Stacked panels sharing one zoomable time axis: hover a line for its value, click a legend entry
    to isolate it (7-10 nodes overlap otherwise), drag to pan and scroll to zoom."""
    long = series_long(result)
    unit, seconds = time_unit(max(result.window_s, 1e-9))
    long = long.assign(t=long["time_s"] / seconds)
    faults = fault_spans(scenario).assign(t0=lambda f: f["start_s"] / seconds, t1=lambda f: f["end_s"] / seconds)
    pick = alt.selection_point(fields=["line"], bind="legend", name="pick")
    x = alt.X("t:Q", title=f"simulated time ({unit})", scale=alt.Scale(nice=False))
    panels: list[Any] = []
    for index, panel in enumerate(dict.fromkeys(long["panel"])):
        rows = _thin(long[long["panel"] == panel], "value")
        y = alt.Y("value:Q", title=panel, axis=alt.Axis(format="%" if panel == "utilization" else "~s"))
        lines = alt.Chart(rows).mark_line(strokeWidth=1.6).encode(
            x=x, y=y, color=alt.Color("line:N", title="node", legend=alt.Legend(orient="bottom", columns=3)),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.12)),
            tooltip=[alt.Tooltip("line:N", title="node"), alt.Tooltip("t:Q", title=f"time ({unit})", format=".3~f"),
                     alt.Tooltip("value:Q", title=panel, format=".4~g")],
        )  # fmt: skip
        lines = lines.add_params(alt.selection_interval(bind="scales", encodings=["x"], name=f"zoom{index}"))
        if index == 0:
            lines = lines.add_params(pick)
        layer: Any = lines
        if not faults.empty:
            shade = (
                alt.Chart(faults)
                .mark_rect(opacity=0.15, color="#d62728")
                .encode(x="t0:Q", x2="t1:Q", tooltip=[alt.Tooltip("fault:N")])
            )
            layer = shade + lines
        panels.append(layer.properties(height=HEIGHT, width="container"))
    if not panels:
        panels = [alt.Chart(pd.DataFrame({"t": [], "value": []})).mark_line().encode(x=x, y="value:Q")]
    return alt.vconcat(*panels).resolve_scale(color="shared", x="shared").properties(autosize=FIT_WIDTH)


def latency_tail_frame(result: RunResult) -> pd.DataFrame:
    """P(latency > x) per sink at up to MAX_POINTS quantiles, log-spaced into the tail."""
    rows = []
    for sink, values in result.latencies.items():
        if not values.size:
            continue
        ordered = np.sort(values)
        beyond = 1.0 - np.arange(ordered.size) / ordered.size  # P(L >= x) at each sorted sample
        take = np.unique(
            np.clip(ordered.size - np.geomspace(ordered.size, 1, MAX_POINTS).astype(int), 0, ordered.size - 1)
        )
        rows.append(pd.DataFrame({"sink": sink, "latency_s": ordered[take], "beyond": beyond[take]}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["sink", "latency_s", "beyond"])


def latency_chart(result: RunResult) -> Any:
    """End-to-end latency tail, P(latency > x) on a log axis, p99 marked per sink: the tail a histogram
    folds into one bar.  Hover for the value; drag and scroll to zoom."""
    tail = latency_tail_frame(result)
    top = float(tail["latency_s"].max()) if not tail.empty else 1.0
    unit, seconds = time_unit(top)
    if unit == "s" and top < 3:
        unit, seconds = "ms", 1e-3
    tail = tail.assign(x=tail["latency_s"] / seconds)
    x = alt.X("x:Q", title=f"end-to-end latency ({unit})")
    color = alt.Color("sink:N", legend=alt.Legend(orient="bottom"))
    curve = alt.Chart(tail).mark_line(interpolate="step-after").encode(
        x=x, y=alt.Y("beyond:Q", title="P(latency > x)", scale=alt.Scale(type="log")), color=color,
        tooltip=[alt.Tooltip("sink:N"), alt.Tooltip("x:Q", title=f"latency ({unit})", format=".4~g"),
                 alt.Tooltip("beyond:Q", title="share slower", format=".3~%")],
    )  # fmt: skip
    p99 = pd.DataFrame(
        [{"sink": s, "x": float(np.percentile(v, 99)) / seconds} for s, v in result.latencies.items() if v.size]
    )
    if p99.empty:
        return curve.properties(height=260, width="container")
    tip = [alt.Tooltip("sink:N"), alt.Tooltip("x:Q", title=f"p99 ({unit})", format=".4~g")]
    rules = alt.Chart(p99).mark_rule(strokeDash=[4, 3]).encode(x="x:Q", color=color, tooltip=tip)
    return (curve + rules).properties(height=260, width="container").interactive()
