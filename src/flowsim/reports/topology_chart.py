"""The topology as a Vega-Lite chart, top to bottom, each node coloured by its simulated load.

Text in a Vega chart keeps its pixel size when the chart is narrowed, unlike a PNG scaled to the
page, so node names stay 12 px at a phone's 390 px; the layers run downwards (sources on top),
where a phone has room, and the few nodes of a layer share the width.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from flowsim.key_figures import bottleneck, node_lag_s, node_loads, node_utilization  # the one bottleneck
from flowsim.reports.diagram import edges, layout
from flowsim.reports.tables import format_percent
from flowsim.results import RunResult
from flowsim.spec.architecture import Architecture
from flowsim.units import format_duration

ROW_PX = 78  # one layer of nodes
FONT_PX = 12


def _detail(name: str, result: RunResult) -> str:
    node = result.nodes.get(name)
    if node is None:
        return ""
    utilization, lag = node_utilization(node), node_lag_s(node)
    parts = [f"util {format_percent(utilization)}"] if utilization is not None else []
    return " · ".join(parts + ([f"lag {format_duration(lag)}"] if lag else []))


def topology_frames(arch: Architecture, result: RunResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(nodes, edges): node rows with position, load and labels; edge rows with both ends."""
    pos = layout(arch)
    loads, worst = node_loads(result), bottleneck(result)
    rows = [{"node": n, "x": -y, "depth": x, "load": loads.get(n), "kind": arch.node(n).kind,
             "detail": _detail(n, result), "busiest": n == worst} for n, (x, y) in pos.items()]  # fmt: skip
    nodes = pd.DataFrame(rows)
    rows = [{"source": e.source, "target": e.target, "x": -pos[e.source][1], "depth": pos[e.source][0],
             "x2": -pos[e.target][1], "depth2": pos[e.target][0], "role": e.role} for e in edges(arch)]  # fmt: skip
    return nodes, pd.DataFrame(rows, columns=["source", "target", "x", "depth", "x2", "depth2", "role"])


def topology_chart(arch: Architecture, result: RunResult) -> Any:
    """Edges (dashed: references such as a dead-letter target), nodes coloured by load, names above."""
    nodes, links = topology_frames(arch, result)
    depth = int(nodes["depth"].max()) + 1 if not nodes.empty else 1
    spread = float(nodes["x"].abs().max() or 0.0) + 0.6
    x = alt.X("x:Q", axis=None, scale=alt.Scale(domain=[-spread, spread]))
    y = alt.Y("depth:Q", axis=None, scale=alt.Scale(domain=[-0.5, depth - 0.4], reverse=True))
    color = alt.Color("load:Q", title="utilization (or lag / 60 s)", legend=alt.Legend(orient="bottom", format="%"),
                      scale=alt.Scale(scheme="redyellowgreen", reverse=True, domain=[0, 1]))  # fmt: skip
    tip = [alt.Tooltip("node:N"), alt.Tooltip("kind:N"), alt.Tooltip("load:Q", format=".0%", title="load")]
    lines = alt.Chart(links).mark_rule(strokeWidth=1.3).encode(
        x=x, y=y, x2="x2:Q", y2="depth2:Q",
        strokeDash=alt.condition(alt.datum.role == "data", alt.value([1, 0]), alt.value([4, 3])),
        color=alt.condition(alt.datum.role == "data", alt.value("#555"), alt.value("#aaa")),
        tooltip=[alt.Tooltip("source:N"), alt.Tooltip("target:N"), alt.Tooltip("role:N")],
    )  # fmt: skip
    dots = alt.Chart(nodes).mark_circle(size=380, opacity=1).encode(
        x=x, y=y, color=alt.condition("datum.load === null", alt.value("#d9d9d9"), color), tooltip=tip,
        stroke=alt.condition(alt.datum.busiest, alt.value("black"), alt.value("#666")),
        strokeWidth=alt.condition(alt.datum.busiest, alt.value(3), alt.value(0.8)),
    )  # fmt: skip
    names = alt.Chart(nodes).mark_text(dy=-17, fontSize=FONT_PX, fontWeight="bold").encode(x=x, y=y, text="node:N")
    details = alt.Chart(nodes).mark_text(dy=19, fontSize=FONT_PX - 1, color="#333").encode(x=x, y=y, text="detail:N")
    title = arch.name
    worst = bottleneck(result)
    if worst is not None:
        title += f": bottleneck {worst}"
    return (lines + dots + names + details).properties(height=ROW_PX * depth + 40, width="container", title=title)
