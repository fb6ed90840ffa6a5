"""The topology of an architecture drawn with each node coloured by its simulated load.

Load is a node's utilization, or its consumer lag on a scale where LAG_FULL_SCALE_S behind counts
as saturated; the bottleneck is outlined.  The fill is the load, so the kind is the frame: its
colour and box style, the kind's own (reports.kind_style). Plain functions of results (no Streamlit), used by
`app_figures.graph_figure` and the app's topology tab.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter

from flowsim.key_figures import (  # the simulated loads and the one bottleneck every view names
    LAG_FULL_SCALE_S,
    bottleneck,
    node_lag_s,
    node_loads,
    node_utilization,
)
from flowsim.reports.diagram import DrawnEdge, edges, kind_styles, layers, layout
from flowsim.reports.tables import format_number, format_percent
from flowsim.results import RunResult
from flowsim.spec.architecture import Architecture
from flowsim.units import format_duration

LOAD_COLORMAP = "RdYlGn_r"  # green = idle, red = saturated
_IDLE_COLOR = "#d9d9d9"  # nodes without servers (sources, sinks, delays)
_SCALE_LABEL = f"utilization (or lag / {LAG_FULL_SCALE_S:g}s)"


def _node_label(name: str, result: RunResult) -> str:
    node = result.nodes.get(name)
    if node is None:
        return name
    lines = [name]
    utilization, lag = node_utilization(node), node_lag_s(node)
    if utilization is not None:
        lines.append(f"util {format_percent(utilization)}")
    if lag:
        lines.append(f"lag {format_duration(lag)}")
    if node.dropped > 0:
        lines.append(f"dropped {format_number(node.dropped)}")
    return "\n".join(lines)


def graph_size(arch: Architecture) -> tuple[float, float]:
    """Figure size (inches) that fits the layered layout."""
    column = layers(arch)
    depth = max(column.values(), default=0) + 1
    height = max((list(column.values()).count(c) for c in set(column.values())), default=1)
    return max(5.0, 1.35 * depth + 1.0), max(2.6, 1.0 * height + 0.8)


def load_colormap() -> ListedColormap:
    """Green (idle) to red (saturated), without the darkest ends so black labels stay readable."""
    return ListedColormap(matplotlib.colormaps[LOAD_COLORMAP](np.linspace(0.08, 0.92, 256)), name="load")


def draw_load_graph(ax: Axes, arch: Architecture, result: RunResult) -> Axes:
    """The topology with each node coloured by its simulated load; the bottleneck (`key_figures.bottleneck`,
    the node the theory summary names too) is outlined."""
    pos = layout(arch)
    loads = node_loads(result)
    cmap, norm = load_colormap(), Normalize(0.0, 1.0)
    worst = bottleneck(result)
    boxes = {}
    looks = kind_styles(arch)  # the fill shows load, so the kind shows as the frame's colour and box style
    for name, (x, y) in pos.items():
        color = cmap(norm(loads[name])) if name in loads else _IDLE_COLOR
        look = looks[arch.node(name).kind]
        frame = {"boxstyle": f"{look.box},pad=0.55", "facecolor": color, "edgecolor": look.color,
                 "linewidth": 3.6 if name == worst else 1.8}  # fmt: skip
        boxes[name] = ax.text(x, y, _node_label(name, result), ha="center", va="center", fontsize=8.5,
                              bbox=frame, zorder=3)  # fmt: skip
    for edge in edges(arch):
        _draw_edge(ax, edge, pos, boxes)
    ax.figure.colorbar(ScalarMappable(norm, cmap), ax=ax, shrink=0.65, pad=0.01, label=_SCALE_LABEL,
                       format=FuncFormatter(lambda v, _p: f"{v:.0%}"))  # fmt: skip
    handles = [
        Patch(facecolor="white", edgecolor=look.color, linewidth=1.8, label=kind) for kind, look in looks.items()
    ]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.02), ncol=min(len(handles), 5),
              frameon=False, title="frame: kind", title_fontsize=7)  # fmt: skip
    title = arch.name if worst is None else f"{arch.name}: bottleneck {worst}"
    if worst is not None and worst in loads:
        title += f" ({format_percent(loads[worst])} simulated load)"
    ax.set_title(title, fontsize=10)
    xs, ys = [x for x, _ in pos.values()], [y for _, y in pos.values()]
    ax.set_xlim(min(xs) - 0.55, max(xs) + 0.55)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_axis_off()
    return ax


def _draw_edge(ax: Axes, edge: DrawnEdge, pos: dict[str, tuple[float, float]], boxes: dict[str, Text]) -> None:
    """An arrow clipped to the two node boxes (drawn after them, so their size is known)."""
    data = edge.role == "data"
    bend = 0.12 if data else -0.3
    style = {"arrowstyle": "-|>", "color": "black" if data else "grey", "linestyle": "-" if data else "--",
             "lw": 1.1, "shrinkA": 1, "shrinkB": 1, "connectionstyle": f"arc3,rad={bend}",
             "patchA": boxes[edge.source].get_bbox_patch(), "patchB": boxes[edge.target].get_bbox_patch()}  # fmt: skip
    ax.annotate("", xy=pos[edge.target], xytext=pos[edge.source], arrowprops=style, zorder=4)
    if edge.label:
        (x0, y0), (x1, y1) = pos[edge.source], pos[edge.target]
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, edge.label, fontsize=7, color="dimgrey", ha="center", va="center",
                zorder=5, bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none"})  # fmt: skip
