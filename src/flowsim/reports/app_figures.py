"""The app's matplotlib figures of a `RunResult`: the load diagram, the stacked time series, consumer
lag and the model-version timeline, and PNG bytes of a figure.

Plain functions of results (no Streamlit); the page imports this module only when it draws, so
its key figures show before matplotlib is loaded.  Plots take an `Axes` and return it.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from flowsim.reports.app_diagram import draw_load_graph, graph_size
from flowsim.reports.app_frames import lag_frame, versions_frame
from flowsim.reports.plots import plot_queue_length, plot_throughput, plot_utilization, shade_outages
from flowsim.reports.tables import format_number
from flowsim.results import RunResult
from flowsim.spec.architecture import Architecture
from flowsim.spec.scenario import Scenario
from flowsim.units import format_duration


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


# ---- whole figures ------------------------------------------------------------------------
def graph_figure(arch: Architecture, result: RunResult) -> Figure:
    figure, (ax,) = new_figure(*graph_size(arch))
    draw_load_graph(ax, arch, result)
    return figure


# ---- time series ---------------------------------------------------------------------------
def plot_lag(ax: Axes, result: RunResult) -> Axes:
    """Messages each consumer group is behind: growth here is a consumer that cannot keep up."""
    frame = lag_frame(result)
    for column in frame.columns:
        ax.plot(frame.index.to_numpy(), frame[column].to_numpy(), label=column, linewidth=1.2)
    ax.set_title("Consumer lag")
    ax.set_ylabel("messages behind")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: format_number(v)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: format_duration(x)))
    ax.set_xlabel("simulated time")
    ax.grid(True, alpha=0.3)
    if len(frame.columns):
        ax.legend(fontsize="small", loc="best")
    return ax


def _draws_data(plot: Callable[[Axes, RunResult], Axes], result: RunResult) -> bool:
    """Whether `plot` draws anything for this result (on a scratch Axes that is never rendered)."""
    _figure, (ax,) = new_figure()
    plot(ax, result)
    return bool(ax.lines)


def time_series_figure(result: RunResult, scenario: Scenario) -> Figure:
    """Throughput, queue length, consumer lag and utilization (those with data), stacked, faults shaded."""
    candidates = [plot_throughput, plot_queue_length, plot_lag, plot_utilization]
    plots = [plot for plot in candidates if _draws_data(plot, result)] or [plot_throughput]
    figure, axes = new_figure(10.0, 3.0 * len(plots), rows=len(plots))
    for ax, plot in zip(axes, plots, strict=True):
        plot(ax, result)
        shade_outages(ax, scenario)
    for ax in axes[:-1]:
        ax.set_xlabel("")
    return figure


def plot_versions(ax: Axes, result: RunResult) -> Axes:
    """The version each node served over time (first replication): steps, events as markers."""
    frame = versions_frame(result)
    frame = frame[frame["replication"] == 0]
    order = list(dict.fromkeys(frame["version"]))
    for node, rows in frame.groupby("node", sort=False):
        times = [*rows["time_s"], max(result.duration_s, float(rows["time_s"].max()))]
        levels = [order.index(v) for v in rows["version"]]
        ax.step(times, [*levels, levels[-1]], where="post", label=f"{node}", linewidth=1.5)
    for event, rows in frame[frame["event"] != ""].groupby("event", sort=False):
        ax.scatter(rows["time_s"], [order.index(v) for v in rows["version"]], s=22, zorder=3, label=f"event: {event}")
    ax.set_yticks(range(len(order)), [f"v{v}" if v.isdigit() else v for v in order])
    ax.set_title("Model version in service")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: format_duration(x)))
    ax.set_xlabel("simulated time")
    ax.grid(True, alpha=0.3)
    if len(frame):
        ax.legend(fontsize="small", loc="upper left")
    return ax
