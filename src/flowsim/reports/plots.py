"""Matplotlib plots of a `RunResult`: each function draws on an Axes it is given and returns it.

Nothing here touches pyplot: figures are `matplotlib.figure.Figure` objects with an Agg canvas
attached explicitly, so plotting is thread-safe (the app renders from worker threads) and never
switches the caller's global backend (a notebook keeps its inline one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from flowsim.engine.model import SERIES_COLUMNS
from flowsim.results import RunResult
from flowsim.spec.scenario import Scenario
from flowsim.units import format_duration

MAX_OUTAGE_SPANS = 10_000  # a fault repeating every few ms would otherwise draw forever
_PERCENTILES = ((50, ":"), (95, "--"), (99, "-."))


def mean_series(result: RunResult, column: str) -> pd.DataFrame:
    """One column of the time series, averaged over replications: index time_s, one column per node."""
    series = result.series
    if series.empty or column not in series.columns:
        return pd.DataFrame()
    table = series.pivot_table(index="time_s", columns="node", values=column, aggfunc="mean", dropna=False)
    return table[[n for n in result.nodes if n in table.columns]]


#: (unit, seconds): the time axis reads in one of these, the largest that keeps a few ticks
TIME_UNITS = (("d", 86_400.0), ("h", 3_600.0), ("min", 60.0), ("s", 1.0))


def time_unit(span_s: float) -> tuple[str, float]:
    """The unit a time axis of `span_s` seconds reads in: at least three of it across the axis."""
    for name, seconds in TIME_UNITS:
        if span_s >= 3 * seconds:
            return name, seconds
    return "s", 1.0


class _UnitLocator(MaxNLocator):
    """Ticks at round numbers of the axis unit (every 30 min, not every 33.3 min)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(nbins=8, steps=[1, 2, 2.5, 5, 10])
        self.seconds = seconds

    def tick_values(self, vmin: float, vmax: float) -> list[float]:
        return [float(t) * self.seconds for t in super().tick_values(vmin / self.seconds, vmax / self.seconds)]


def _time_axis(ax: Axes, what: str = "simulated time") -> None:
    """Data stay in seconds; ticks fall on round numbers of one unit (s, min, h or d) named once."""
    low, high = ax.get_xlim()
    name, seconds = time_unit(high - low)
    if name == "s" and high - low < 3:  # sub-second spans read in milliseconds
        name, seconds = "ms", 1e-3
    ax.xaxis.set_major_locator(_UnitLocator(seconds))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{x / seconds:g}"))
    ax.set_xlabel(f"{what} ({name})")
    ax.grid(True, alpha=0.3)


def _over(result: RunResult) -> str:
    """What a time series shows when there are several replications."""
    return f" (mean of {result.replications} replications)" if result.replications > 1 else ""


def _legend(ax: Axes) -> None:
    handles, _labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize="small", ncol=max(1, len(handles) // 8), loc="best")


def _no_data(ax: Axes, title: str) -> Axes:
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
    return ax


def _lines(ax: Axes, frame: pd.DataFrame, nodes: Sequence[str] | None, scale: Callable[[str], float]) -> int:
    """Plot one line per node (optionally a chosen subset); return how many were drawn."""
    drawn = 0
    for node in frame.columns:
        if nodes is not None and node not in nodes:
            continue
        factor = scale(str(node))
        if factor <= 0:
            continue
        ax.plot(frame.index.to_numpy(), frame[node].to_numpy() / factor, label=str(node), linewidth=1.2)
        drawn += 1
    return drawn


def _finish_series(ax: Axes, title: str, ylabel: str, result: RunResult | None = None) -> Axes:
    """Title, y label, time axis and legend shared by every time-series plot."""
    ax.set_title(title + (_over(result) if result is not None else ""))
    ax.set_ylabel(ylabel)
    _time_axis(ax)
    _legend(ax)
    return ax


def plot_throughput(ax: Axes, result: RunResult, nodes: Sequence[str] | None = None) -> Axes:
    """Items per second leaving each node, per sample step: shows ramps, outages and recovery."""
    title = "Throughput per node"
    frame = mean_series(result, "throughput_per_s")
    if frame.empty or not _lines(ax, frame, nodes, lambda _n: 1.0):
        return _no_data(ax, title)
    return _finish_series(ax, title, "items / s", result)


def plot_queue_length(ax: Axes, result: RunResult, nodes: Sequence[str] | None = None) -> Axes:
    """Items waiting (not in service) at each queueing node: growth here means overload."""
    title = "Queue length (waiting)"
    queues = [n for n, r in result.nodes.items() if r.mean_queue_length is not None]
    chosen = queues if nodes is None else [n for n in nodes if n in queues]
    frame = mean_series(result, "waiting")
    if frame.empty or not _lines(ax, frame, chosen, lambda _n: 1.0):
        return _no_data(ax, title)
    return _finish_series(ax, title, "items waiting", result)


def plot_utilization(ax: Axes, result: RunResult, nodes: Sequence[str] | None = None) -> Axes:
    """Busy servers / servers at each node with a finite server count (at the sample instants)."""
    title = "Utilization"
    servers = {n: a.servers for n, a in result.analysis.nodes.items() if a.servers}
    chosen = list(servers) if nodes is None else [n for n in nodes if n in servers]
    frame = mean_series(result, "busy")
    if frame.empty or not _lines(ax, frame, chosen, lambda n: float(servers.get(n) or 0.0)):
        return _no_data(ax, title)
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    return _finish_series(ax, title, "busy servers / servers", result)


def plot_latency(ax: Axes, result: RunResult, bins: int = 60) -> Axes:
    """End-to-end latency per sink, with p50/p95/p99 marked; the top 0.1% is cut to keep the shape."""
    title = "End-to-end latency"
    samples = {s: v for s, v in result.latencies.items() if v.size}
    if not samples:
        return _no_data(ax, title)
    pooled = np.concatenate(list(samples.values()))
    upper = float(np.percentile(pooled, 99.9)) or float(pooled.max()) or 1.0
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (sink, values) in enumerate(samples.items()):
        color = cycle[index % len(cycle)]  # a sink's bars and percentile lines share a colour
        ax.hist(values, bins=bins, range=(0.0, upper), alpha=0.45, color=color, label=sink)
        for q, style in _PERCENTILES:
            value = float(np.percentile(values, q))
            ax.axvline(value, color=color, linestyle=style, linewidth=1.2,
                       label=f"{sink} p{q} = {format_duration(value)}")  # fmt: skip
    ax.set_title(title + (" (slowest 0.1% not shown)" if pooled.max() > upper else ""))
    ax.set_ylabel("items")
    _time_axis(ax, "latency")
    _legend(ax)
    return ax


def plot_latency_ccdf(ax: Axes, result: RunResult) -> Axes:
    """P(latency > x) per sink on a log scale: the tail a histogram folds into its last bar."""
    title = "End-to-end latency tail"
    samples = {s: np.sort(v) for s, v in result.latencies.items() if v.size}
    if not samples:
        return _no_data(ax, title)
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    floor = 1.0
    for index, (sink, values) in enumerate(samples.items()):
        color = cycle[index % len(cycle)]
        beyond = 1.0 - np.arange(values.size) / values.size  # P(L >= x) at each sorted sample
        ax.step(values, beyond, where="post", color=color, label=f"{sink} ({values.size:,} items)")
        p99 = float(np.percentile(values, 99))
        ax.axvline(p99, color=color, linestyle="-.", linewidth=1.0, label=f"{sink} p99 = {format_duration(p99)}")
        floor = min(floor, 1.0 / values.size)
    ax.set_yscale("log")
    ax.set_ylim(max(floor, 1e-6), 1.05)
    ax.set_title(title)
    ax.set_ylabel("share of items slower")
    _time_axis(ax, "latency")
    ax.grid(True, which="both", alpha=0.3)
    _legend(ax)
    return ax


#: columns every node has; what else a node's series holds is its kind's own (lag, buffers, replicas)
_COMMON = {"replication", "time_s", "node", "throughput_per_s", *SERIES_COLUMNS}


def kind_panels(result: RunResult) -> dict[str, list[str]]:
    """Per node, the families of its kind's own series columns (`lag_messages.enrich` is family
    `lag_messages`), each a panel: a topic's lag and buffer, a pool's replicas, a warehouse's waits."""
    series = result.series
    if series.empty:
        return {}
    panels: dict[str, list[str]] = {}
    for node, rows in series.groupby("node", sort=False):
        own = [c for c in rows.columns if c not in _COMMON and rows[c].notna().any()]
        if own:
            panels[str(node)] = list(dict.fromkeys(c.split(".", 1)[0] for c in own))
    return {n: panels[n] for n in result.nodes if n in panels}


def plot_kind_series(ax: Axes, result: RunResult, node: str, family: str) -> Axes:
    """One family of a node's own series (a line per member, e.g. per consumer group), over time."""
    title = f"{node} · {family.replace('_', ' ')}"
    rows = result.series[result.series["node"] == node]
    columns = [c for c in rows.columns if c == family or c.startswith(family + ".")]
    table = rows.pivot_table(index="time_s", values=columns, aggfunc="mean", dropna=False) if columns else None
    if table is None or table.empty:
        return _no_data(ax, title)
    for column in columns:
        label = column.split(".", 1)[1] if "." in column else family.replace("_", " ")
        ax.plot(table.index.to_numpy(), table[column].to_numpy(), label=label, linewidth=1.2)
    return _finish_series(ax, title, _unit_of(family), result)


def _unit_of(family: str) -> str:
    for suffix, unit in (("_seconds", "seconds"), ("_s", "seconds"), ("_messages", "messages"), ("_per_s", "per s")):
        if family.endswith(suffix):
            return unit
    return family.replace("_", " ")


def _starts(at: float, every: float | None, duration: float) -> list[float]:
    if every is None:
        return [at]
    count = min(int((duration - at) // every) + 1, MAX_OUTAGE_SPANS)
    return [at + k * every for k in range(max(count, 0))]


def outage_spans(scenario: Scenario) -> dict[str, list[tuple[float, float]]]:
    """Scheduled outages per node as (start, length), clipped to the measured window."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for fault in scenario.faults:
        if fault.at is None or fault.for_ is None:
            continue  # random failures have no fixed times to show
        for start in _starts(fault.at, fault.every, scenario.duration):
            begin, end = max(start, scenario.warmup), min(start + fault.for_, scenario.duration)
            if end > begin:
                spans.setdefault(fault.node, []).append((begin, end - begin))
    return spans


def shade_outages(ax: Axes, scenario: Scenario) -> Axes:
    """Mark each scheduled fault (`at`, `for`, `every`) as a shaded span over the full height."""
    colors = ("tab:red", "tab:purple", "tab:brown", "tab:gray", "tab:olive")
    for index, (node, spans) in enumerate(outage_spans(scenario).items()):
        ax.broken_barh(spans, (0, 1), transform=ax.get_xaxis_transform(), alpha=0.15,
                       color=colors[index % len(colors)], label=f"{node} down")  # fmt: skip
    _legend(ax)
    return ax


def _figure() -> tuple[Figure, Axes]:
    figure = Figure(figsize=(9, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def save_all(result: RunResult, scenario: Scenario, out_dir: Path) -> list[Path]:
    """Write throughput.png, queue_length.png, latency.png, utilization.png, latency_tail.png and,
    for each node whose kind has figures of its own over time, node_<name>.png into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots: list[tuple[str, Callable[[Axes, RunResult], Axes], bool]] = [
        ("throughput.png", plot_throughput, True),
        ("queue_length.png", plot_queue_length, True),
        ("latency.png", plot_latency, False),
        ("utilization.png", plot_utilization, True),
    ]
    written: list[Path] = []
    for filename, plot, over_time in plots:
        figure, ax = _figure()
        plot(ax, result)
        if over_time:
            shade_outages(ax, scenario)
        path = out_dir / filename
        figure.savefig(path, dpi=110)
        written.append(path)
    figure, ax = _figure()
    plot_latency_ccdf(ax, result)
    written.append(out_dir / "latency_tail.png")
    figure.savefig(written[-1], dpi=110)
    for node, families in kind_panels(result).items():  # each kind's own figures, one file per node
        figure = Figure(figsize=(9, 3.2 * len(families)), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.subplots(len(families), 1, squeeze=False, sharex=True)[:, 0]
        for ax, family in zip(axes, families, strict=True):
            plot_kind_series(ax, result, node, family)
            shade_outages(ax, scenario)
        for ax in axes[:-1]:
            ax.set_xlabel("")  # one time axis, named under the last panel
        written.append(out_dir / f"node_{node}.png")
        figure.savefig(written[-1], dpi=110)
    return written
