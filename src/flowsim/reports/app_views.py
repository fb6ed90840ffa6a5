"""Views of a `RunResult` that the Streamlit app needs beyond tables.py, plots.py and diagram.py.

Everything here is a plain function of results (no Streamlit), so it is unit-tested and usable
from a notebook: headline figures, the topology coloured by load, data frames for the node,
SLO, theory and comparison tables, the model-version timeline, and PNG bytes of a figure.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib
import networkx as nx
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from flowsim.graph import build_graph
from flowsim.reports.diagram import edges, layers, layout
from flowsim.reports.plots import plot_queue_length, plot_throughput, plot_utilization, shade_outages
from flowsim.reports.tables import (
    _comparisons,  # the CLI's theory-vs-simulation rows, reused so both show the same figures
    format_number,
    format_percent,
    format_rate,
    is_time_metric,
    relative_difference,
)
from flowsim.results import RunResult
from flowsim.spec.architecture import Architecture
from flowsim.spec.scenario import Scenario
from flowsim.units import format_duration

Formatter = Callable[[float], str]
LOAD_COLORMAP = "RdYlGn_r"  # green = idle, red = saturated
_IDLE_COLOR = "#d9d9d9"  # nodes without servers (sources, sinks, delays)
_TIME_KEYS = ("time_s", "time", "t", "at")
_VERSION_KEYS = ("version", "model_version", "name")


# ---- figures ---------------------------------------------------------------------------------
def new_figure(width: float = 9.0, height: float = 4.5, rows: int = 1) -> tuple[Figure, list[Axes]]:
    """A pyplot-free figure (thread-safe under Streamlit) with `rows` stacked axes sharing x."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 1, sharex=rows > 1, squeeze=False)[:, 0]
    return figure, list(axes)


def png_bytes(figure: Figure, dpi: int = 110) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# ---- headline --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Headline:
    """One headline figure: its value (None when absent), as text, and which way is better."""

    label: str
    value: float | None
    text: str
    better: Literal["higher", "lower"]
    help: str = ""
    fmt: Formatter = format_number

    def delta_text(self, previous: Headline | None) -> str | None:
        """Signed change from `previous` in this figure's unit, or None when not comparable."""
        if previous is None or self.value is None or previous.value is None:
            return None
        change = self.value - previous.value
        if change == 0:
            return None
        return ("+" if change > 0 else "-") + self.fmt(abs(change))


def delivery_sinks(arch: Architecture) -> list[str]:
    """Sinks that receive delivered work, i.e. not only dead letters."""
    referenced = {t for config in arch.nodes.values() for t in config.node_references().values()}
    return [n for n, c in arch.nodes.items() if not c.gives_output and n not in referenced]


def main_sink(result: RunResult, arch: Architecture) -> str | None:
    """The delivery sink that received the most items: the one whose latency is the headline."""
    sinks = [s for s in delivery_sinks(arch) if s in result.end_to_end] or list(result.end_to_end)
    return max(sinks, key=lambda s: result.end_to_end[s].count, default=None)


def _p99(result: RunResult, sink: str | None) -> float | None:
    if sink is None or result.end_to_end[sink].latency_s is None:
        return None
    latency = result.end_to_end[sink].latency_s
    return None if latency is None else latency.p99


def headline(result: RunResult, arch: Architecture) -> list[Headline]:
    """Throughput, end-to-end p99, messages lost, SLOs met: what a design review asks first."""
    sink = main_sink(result, arch)
    throughput = result.totals.delivered / result.window_s
    p99 = _p99(result, sink)
    lost = result.totals.dropped + result.totals.dead_lettered
    met = sum(v.passed for v in result.slos)
    return [
        Headline("Throughput", throughput, format_rate(throughput), "higher",
                 "items per second reaching the sinks (dead letters excluded)", format_rate),
        Headline(f"End-to-end p99 ({sink})" if sink else "End-to-end p99", p99,
                 format_duration(p99) if p99 is not None else "—", "lower",
                 "99% of delivered items took less than this from creation to the sink", format_duration),
        Headline("Messages lost", lost, format_number(lost), "lower",
                 f"dropped {format_number(result.totals.dropped)} + dead-lettered "
                 f"{format_number(result.totals.dead_lettered)}"),
        Headline("SLOs met", float(met) if result.slos else None,
                 f"{met} / {len(result.slos)}" if result.slos else "none defined", "higher",
                 "service-level objectives of the scenario that hold in this run"),
    ]  # fmt: skip


# ---- topology coloured by load --------------------------------------------------------------
def node_loads(result: RunResult) -> dict[str, float]:
    """Utilization in [0, 1] per node; kinds with a lag figure instead get lag / largest lag."""
    loads = {n: float(r.utilization) for n, r in result.nodes.items() if r.utilization is not None}
    lags = {n: r.kind_figures[k] for n, r in result.nodes.items() if n not in loads
            for k in ("lag", "consumer_lag") if k in r.kind_figures}  # fmt: skip
    peak = max(lags.values(), default=0.0)
    return loads | {n: (lag / peak if peak > 0 else 0.0) for n, lag in lags.items()}


def bottleneck(result: RunResult) -> str | None:
    """The node with the highest simulated load, if any node has one."""
    loads = node_loads(result)
    return max(loads, key=lambda n: loads[n], default=None)


def _node_label(name: str, result: RunResult) -> str:
    node = result.nodes.get(name)
    lines = [name]
    if node is not None and node.utilization is not None:
        lines.append(f"util {format_percent(node.utilization)}")
    elif node is not None:
        lag = next((node.kind_figures[k] for k in ("lag", "consumer_lag") if k in node.kind_figures), None)
        if lag is not None:
            lines.append(f"lag {format_number(lag)}")
    if node is not None and node.dropped > 0:
        lines.append(f"dropped {format_number(node.dropped)}")
    return "\n".join(lines)


def graph_size(arch: Architecture) -> tuple[float, float]:
    """Figure size (inches) that fits the layered layout."""
    column = layers(arch)
    depth = max(column.values(), default=0) + 1
    height = max((list(column.values()).count(c) for c in set(column.values())), default=1)
    return max(6.0, 1.9 * depth), max(3.2, 1.5 * height)


def draw_load_graph(ax: Axes, arch: Architecture, result: RunResult) -> Axes:
    """The topology with each node coloured by its simulated load; the bottleneck is outlined."""
    graph = build_graph(arch)
    pos = layout(arch)
    loads = node_loads(result)
    cmap, norm = matplotlib.colormaps[LOAD_COLORMAP], Normalize(0.0, 1.0)
    colors = [cmap(norm(loads[n])) if n in loads else _IDLE_COLOR for n in graph.nodes]
    worst = bottleneck(result)
    widths = [3.0 if n == worst else 0.8 for n in graph.nodes]
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_color=colors, node_size=2600, edgecolors="black",
                           linewidths=widths)  # fmt: skip
    labels = {n: _node_label(n, result) for n in graph.nodes}
    nx.draw_networkx_labels(graph, pos, labels=labels, ax=ax, font_size=7.5)
    _draw_edges(ax, arch, pos)
    ax.figure.colorbar(ScalarMappable(norm, cmap), ax=ax, shrink=0.7, label="utilization (or relative lag)",
                       format=FuncFormatter(lambda v, _p: f"{v:.0%}"))  # fmt: skip
    title = arch.name if worst is None else f"{arch.name}: bottleneck {worst} ({format_percent(loads[worst])})"
    ax.set_title(title)
    ax.margins(0.12)
    ax.set_axis_off()
    return ax


def _draw_edges(ax: Axes, arch: Architecture, pos: dict[str, tuple[float, float]]) -> None:
    drawn = edges(arch)
    common: dict[str, Any] = {"ax": ax, "arrows": True, "arrowsize": 12, "node_size": 2600}
    data = [(e.source, e.target) for e in drawn if e.role == "data"]
    refs = [(e.source, e.target) for e in drawn if e.role != "data"]
    nx.draw_networkx_edges(nx.DiGraph(data), pos, edgelist=data, connectionstyle="arc3,rad=0.12", **common)
    nx.draw_networkx_edges(nx.DiGraph(refs), pos, edgelist=refs, style="dashed", edge_color="grey",
                           connectionstyle="arc3,rad=0.25", **common)  # fmt: skip
    labels = {(e.source, e.target): e.label for e in drawn if e.label}
    if labels:
        nx.draw_networkx_edge_labels(nx.DiGraph(list(labels)), pos, edge_labels=labels, ax=ax, font_size=7,
                                     font_color="dimgrey", connectionstyle="arc3,rad=0.2")  # fmt: skip


def graph_figure(arch: Architecture, result: RunResult) -> Figure:
    figure, (ax,) = new_figure(*graph_size(arch))
    draw_load_graph(ax, arch, result)
    return figure


# ---- time series and latency ----------------------------------------------------------------
def time_series_figure(result: RunResult, scenario: Scenario) -> Figure:
    """Throughput, queue length and utilization over time, stacked, outages shaded on each."""
    figure, axes = new_figure(10.0, 9.0, rows=3)
    for ax, plot in zip(axes, (plot_throughput, plot_queue_length, plot_utilization), strict=True):
        plot(ax, result)
        shade_outages(ax, scenario)
    for ax in axes[:-1]:
        ax.set_xlabel("")
    return figure


# ---- tables as data frames -------------------------------------------------------------------
def _stat(value: Any, stat: str) -> float | None:
    return None if value is None else float(getattr(value, stat))


def nodes_frame(result: RunResult) -> pd.DataFrame:
    """One row per node with the figures of the CLI's node tables, as numbers (seconds, fractions)."""
    rows = [
        {
            "node": name, "kind": node.kind, "arrivals": node.arrivals, "completed": node.completed,
            "dropped": node.dropped, "retries": node.retries, "dead_lettered": node.dead_lettered,
            "throughput_per_s": node.throughput_per_s, "utilization": node.utilization,
            "mean_queue_length": node.mean_queue_length, "wait_p99_s": _stat(node.wait_s, "p99"),
            "sojourn_mean_s": _stat(node.sojourn_s, "mean"), "sojourn_p99_s": _stat(node.sojourn_s, "p99"),
        }  # fmt: skip
        for name, node in result.nodes.items()
    ]
    return pd.DataFrame(rows).set_index("node")


def _formatter(metric: str) -> Formatter:
    return format_duration if is_time_metric(metric) else format_number


def slo_frame(result: RunResult) -> pd.DataFrame:
    """Each SLO with its verdict; 'uncertain' when the threshold lies inside the 95% CI."""
    rows = []
    for verdict in result.slos:
        fmt = _formatter(verdict.metric)
        value = "no data" if verdict.value is None else fmt(verdict.value)
        if verdict.ci95:
            value += f" ± {fmt(verdict.ci95)}"
        rows.append({"": "✅" if verdict.passed else "❌", "SLO": verdict.slo, "value": value,
                     "target": f"{verdict.op} {fmt(verdict.threshold)}",
                     "note": "uncertain: threshold inside the 95% CI" if verdict.uncertain else ""})  # fmt: skip
    return pd.DataFrame(rows, columns=["", "SLO", "value", "target", "note"])


def theory_frame(result: RunResult) -> pd.DataFrame:
    """Queueing-theory predictions beside the simulated figures (the CLI's theory table)."""
    rows = []
    for name, analysis in result.analysis.nodes.items():
        prediction = analysis.prediction
        if prediction is None or name not in result.nodes:
            continue
        for figure, predicted, simulated, fmt in _comparisons(result.nodes[name], analysis, prediction):
            rows.append({"node": name, "formula": prediction.formula,
                         "exact": "exact" if prediction.exact else "approx", "figure": figure,
                         "predicted": _text(predicted, fmt), "simulated": _text(simulated, fmt),
                         "difference": _difference(figure, predicted, simulated)})  # fmt: skip
    return pd.DataFrame(rows, columns=["node", "formula", "exact", "figure", "predicted", "simulated", "difference"])


def _text(value: float | None, fmt: Formatter) -> str:
    return "—" if value is None or not math.isfinite(value) else fmt(value)


def _difference(figure: str, predicted: float | None, simulated: float | None) -> str:
    if figure == "drop probability":  # percentage points: tiny bases make ratios meaningless
        return "—" if predicted is None or simulated is None else f"{(simulated - predicted) * 100:+.2f} pp"
    diff = relative_difference(predicted, simulated)
    return "—" if diff is None else f"{diff * 100:+.1f}%"


# ---- comparison of two runs -----------------------------------------------------------------
def comparison_metrics(a: RunResult, b: RunResult) -> list[str]:
    """Dotted paths worth comparing that exist in both runs: totals, sinks, loaded nodes."""
    paths = [f"totals.{k}" for k in ("delivered", "dropped", "dead_lettered", "retries")]
    for sink in (s for s in a.end_to_end if s in b.end_to_end):
        paths += [f"end_to_end.{sink}.throughput_per_s"]
        paths += [f"end_to_end.{sink}.latency_s.{q}" for q in ("p50", "p95", "p99")]
    for node in (n for n in a.nodes if n in b.nodes and a.nodes[n].utilization is not None):
        paths += [f"nodes.{node}.{k}" for k in ("utilization", "mean_queue_length", "dropped")]
    return paths


def _combined_ci(ci_a: float | None, ci_b: float | None) -> float | None:
    """Half-width of the difference of two independent means (each half-width from its own t)."""
    if ci_a is None and ci_b is None:
        return None
    return math.hypot(ci_a or 0.0, ci_b or 0.0)


def compare_frame(a: RunResult, b: RunResult, paths: Iterable[str] | None = None) -> pd.DataFrame:
    """Figures of runs A and B, their 95% CI half-widths, B - A and the CI of that difference.

    'significant' says whether the difference exceeds its CI (blank without replications).
    """
    rows = []
    for path in comparison_metrics(a, b) if paths is None else paths:
        value_a, value_b = a.metric(path), b.metric(path)
        if value_a is None and value_b is None:
            continue
        diff = None if value_a is None or value_b is None else value_b - value_a
        ci = _combined_ci(a.ci(path), b.ci(path))
        significant = "" if ci is None or diff is None else ("yes" if abs(diff) > ci else "no")
        rows.append({"figure": path, "A": value_a, "A ± 95%": a.ci(path), "B": value_b, "B ± 95%": b.ci(path),
                     "B − A": diff, "± 95%": ci, "change": relative_difference(value_a, value_b),
                     "significant": significant})  # fmt: skip
    columns = ["figure", "A", "A ± 95%", "B", "B ± 95%", "B − A", "± 95%", "change", "significant"]
    return pd.DataFrame(rows, columns=columns)


# ---- model-version timeline (kinds that report `versions` in result.extra) --------------------
def _first(point: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((point[k] for k in keys if k in point), None)


def _timeline(value: Any) -> list[tuple[float, str]]:
    """[(time_s, version)] from a list of {time_s, version} mappings or (time, version) pairs."""
    points: list[tuple[float, str]] = []
    for point in value if isinstance(value, list | tuple) else []:
        if isinstance(point, dict):
            time, version = _first(point, _TIME_KEYS), _first(point, _VERSION_KEYS)
        elif isinstance(point, list | tuple) and len(point) == 2:
            time, version = point
        else:
            continue
        if isinstance(time, int | float) and version is not None:
            points.append((float(time), str(version)))
    return points


def versions_frame(result: RunResult) -> pd.DataFrame:
    """Every `versions` timeline in `result.extra`: node, replication, time_s, version."""
    rows = [
        {"node": node, "replication": replication, "time_s": time, "version": version}
        for node, entries in result.extra.items()
        for replication, entry in enumerate(entries)
        if isinstance(entry, dict)
        for time, version in _timeline(entry.get("versions"))
    ]
    return pd.DataFrame(rows, columns=["node", "replication", "time_s", "version"])


def plot_versions(ax: Axes, result: RunResult) -> Axes:
    """The version each node served over time (first replication), as steps between versions."""
    frame = versions_frame(result)
    frame = frame[frame["replication"] == 0]
    order = list(dict.fromkeys(frame["version"]))
    for node, rows in frame.groupby("node", sort=False):
        levels = [order.index(v) for v in rows["version"]]
        ax.step(rows["time_s"], levels, where="post", label=str(node), linewidth=1.5)
    ax.set_yticks(range(len(order)), order)
    ax.set_title("Model version in service")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: format_duration(x)))
    ax.set_xlabel("simulated time")
    ax.grid(True, alpha=0.3)
    if len(frame):
        ax.legend(fontsize="small")
    return ax
