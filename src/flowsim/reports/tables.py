"""Rich tables of a `RunResult`, for terminals (`flowsim run`) and anything else that renders rich.

A figure is shown with its 95% CI half-width ("± ci") whenever the run had replications, so a
reader can tell a real difference from noise without opening the JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from flowsim.analysis.view import NodeAnalysis, Prediction
from flowsim.results import NodeResult, Percentiles, RunResult, SloVerdict
from flowsim.units import format_duration

Formatter = Callable[[float], str]
_MISSING = "—"


# ---- formatting -----------------------------------------------------------------------------
def format_number(value: float) -> str:
    """Counts read as integers with separators; other figures keep three significant digits."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == round(value):
        return f"{value:.0f}"
    return f"{value:.3g}"


def format_percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def format_rate(value: float) -> str:
    return f"{format_number(value)}/s"


def is_time_metric(metric: str) -> bool:
    """Figures in seconds end in `_s` (latency_s.p99, downtime_s); rates end in `per_s`."""
    return any(part.endswith("_s") and not part.endswith("per_s") for part in metric.split("."))


def cell(value: float | None, ci: float | None = None, fmt: Formatter = format_number) -> Text:
    """A value with its CI half-width on a second, dimmed line (keeps wide tables narrow)."""
    if value is None or not math.isfinite(value):
        return Text(_MISSING, style="dim")
    text = Text(fmt(value))
    if ci and math.isfinite(ci):  # a zero half-width (a figure that never varied) is noise
        text.append(f"\n± {fmt(ci)}", style="dim")
    return text


def _stat(percentiles: Percentiles | None, stat: str) -> float | None:
    return None if percentiles is None else float(getattr(percentiles, stat))


def _ci_lookup(result: RunResult, ci95: dict[str, float]) -> Callable[[str], float | None]:
    """CI half-widths exist only with several replications; a single run shows bare values."""
    if result.replications <= 1:
        return lambda _key: None
    return ci95.get


# ---- node table -----------------------------------------------------------------------------
_NODE_COLUMNS = (
    "node", "kind", "arrivals", "completed", "dropped", "retries", "dead-lettered",
    "util", "mean queue", "wait p50", "wait p95", "wait p99", "sojourn mean", "sojourn p99",
)  # fmt: skip


def _node_row(name: str, node: NodeResult, ci: Callable[[str], float | None]) -> list[RenderableType]:
    counts = ("arrivals", "completed", "dropped", "retries", "dead_lettered")
    times = [("wait_s", "p50"), ("wait_s", "p95"), ("wait_s", "p99"), ("sojourn_s", "mean"), ("sojourn_s", "p99")]
    row: list[RenderableType] = [Text(name, style="bold"), Text(node.kind, style="cyan")]
    row += [cell(float(getattr(node, key)), ci(key)) for key in counts]
    row.append(cell(node.utilization, ci("utilization"), format_percent))
    row.append(cell(node.mean_queue_length, ci("mean_queue_length")))
    for group, stat in times:
        value = _stat(node.wait_s if group == "wait_s" else node.sojourn_s, stat)
        row.append(cell(value, ci(f"{group}.{stat}"), format_duration))
    return row


def node_table(result: RunResult) -> Table:
    """Per-node flow, load and timing figures over the measured window."""
    table = Table(title="Nodes", title_justify="left", header_style="bold")
    for index, column in enumerate(_NODE_COLUMNS):
        table.add_column(column, justify="left" if index < 2 else "right")
    for name, node in result.nodes.items():
        table.add_row(*_node_row(name, node, _ci_lookup(result, node.ci95)))
    return table


# ---- end-to-end table -----------------------------------------------------------------------
def end_to_end_table(result: RunResult) -> Table:
    """What reached each sink: count, rate, and latency (age since the item was created)."""
    table = Table(title="End to end", title_justify="left", header_style="bold")
    table.add_column("sink")
    for column in ("count", "throughput", "latency mean", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="right")
    for name, sink in result.end_to_end.items():
        ci = _ci_lookup(result, sink.ci95)
        row: list[RenderableType] = [
            Text(name, style="bold"),
            cell(sink.count, ci("count")),
            cell(sink.throughput_per_s, ci("throughput_per_s"), format_rate),
        ]
        for stat in ("mean", "p50", "p95", "p99", "max"):
            row.append(cell(_stat(sink.latency_s, stat), ci(f"latency_s.{stat}"), format_duration))
        table.add_row(*row)
    return table


# ---- SLO table ------------------------------------------------------------------------------
def _slo_value(verdict: SloVerdict) -> Text:
    fmt: Formatter = format_duration if is_time_metric(verdict.metric) else format_number
    return cell(verdict.value, verdict.ci95, fmt)


def _slo_note(verdict: SloVerdict) -> Text:
    if verdict.value is None:
        return Text("no data: the figure does not exist in this run", style="red")
    if verdict.uncertain:
        return Text("uncertain: threshold inside the 95% CI", style="yellow")
    return Text("")


def slo_table(result: RunResult) -> Table:
    """Each SLO's verdict, the measured value against its threshold, and whether noise could flip it."""
    table = Table(title="SLOs", title_justify="left", header_style="bold")
    for column, justify in (("", "center"), ("slo", "left"), ("value", "right"), ("target", "right"), ("note", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for verdict in result.slos:
        mark = Text("✓", style="bold green") if verdict.passed else Text("✗", style="bold red")
        fmt: Formatter = format_duration if is_time_metric(verdict.metric) else format_number
        target = Text(f"{verdict.op} {fmt(verdict.threshold)}")
        table.add_row(mark, Text(verdict.slo), _slo_value(verdict), target, _slo_note(verdict))
    return table


# ---- theory vs simulation -------------------------------------------------------------------
def relative_difference(predicted: float | None, simulated: float | None) -> float | None:
    """(simulated - predicted) / predicted; None when either is missing or the base is zero."""
    if predicted is None or simulated is None or not math.isfinite(predicted):
        return None
    if predicted == 0:
        return 0.0 if simulated == 0 else None
    return (simulated - predicted) / predicted


def _difference_cell(predicted: float | None, simulated: float | None, absolute: bool) -> Text:
    """Relative difference, or percentage points for probabilities (tiny bases make ratios wild)."""
    if absolute:
        if predicted is None or simulated is None:
            return Text(_MISSING, style="dim")
        points = (simulated - predicted) * 100
        return Text(f"{points:+.2f} pp", style="green" if abs(points) <= 1 else "yellow")
    diff = relative_difference(predicted, simulated)
    if diff is None:
        return Text(_MISSING, style="dim")
    style = "green" if abs(diff) <= 0.05 else ("yellow" if abs(diff) <= 0.15 else "red")
    return Text(f"{diff * 100:+.1f}%", style=style)


def _carried_load(analysis: NodeAnalysis, prediction: Prediction) -> float | None:
    """Busy fraction the formula implies: offered load minus what is dropped, at most 1."""
    if analysis.utilization is None:
        return None
    return min(analysis.utilization * (1 - prediction.drop_probability), 1.0)


def _comparisons(
    node: NodeResult, analysis: NodeAnalysis, prediction: Prediction
) -> list[tuple[str, float | None, float | None, Formatter]]:
    drop = node.dropped / node.arrivals if node.arrivals > 0 else None
    return [
        ("utilization", _carried_load(analysis, prediction), node.utilization, format_percent),
        ("wait mean", prediction.wait_s, _stat(node.wait_s, "mean"), format_duration),
        ("sojourn mean", prediction.sojourn_s, _stat(node.sojourn_s, "mean"), format_duration),
        ("queue length", prediction.mean_queue_length, node.mean_queue_length, format_number),
        ("drop probability", prediction.drop_probability, drop, format_percent),
    ]


def theory_table(result: RunResult) -> Table | None:
    """Queueing-theory predictions beside the simulated figures; None when no node has one."""
    predicted = {n: a for n, a in result.analysis.nodes.items() if a.prediction is not None and n in result.nodes}
    if not predicted:
        return None
    table = Table(title="Theory vs simulation", title_justify="left", header_style="bold")
    for column in ("node", "formula", "", "figure", "predicted", "simulated", "difference"):
        table.add_column(column, justify="right" if column in ("predicted", "simulated", "difference") else "left")
    for name, analysis in predicted.items():
        prediction = analysis.prediction
        assert prediction is not None  # filtered above
        quality = Text("exact", style="green") if prediction.exact else Text("approx", style="yellow")
        rows = _comparisons(result.nodes[name], analysis, prediction)
        for index, (figure, theory, simulated, fmt) in enumerate(rows):
            first = index == 0
            table.add_row(
                Text(name, style="bold") if first else "", prediction.formula if first else "",
                quality if first else "", figure, cell(theory, None, fmt), cell(simulated, None, fmt),
                _difference_cell(theory, simulated, figure == "drop probability"), end_section=index == len(rows) - 1,
            )  # fmt: skip
    return table


# ---- summary --------------------------------------------------------------------------------
def analysis_summary(result: RunResult) -> Text:
    """Where the design saturates first and how much headroom it has, before any simulation noise."""
    view = result.analysis
    text = Text()
    if view.bottleneck is not None and view.bottleneck_utilization is not None:
        text.append("Bottleneck: ", style="bold").append(view.bottleneck)
        text.append(f" (rho = {view.bottleneck_utilization:.2f})\n")
    else:
        text.append("Bottleneck: ", style="bold").append("none (no node with finite servers)\n")
    if view.max_load_multiplier is not None:
        text.append("Headroom: ", style="bold").append(f"load can reach ×{view.max_load_multiplier:.3g}")
        if view.max_input_rate_per_s is not None:
            text.append(f" (about {format_rate(view.max_input_rate_per_s)} in)")
        text.append(" before a node saturates\n")
    if view.network_sojourn_s is not None:
        text.append("Mean time in network (Little's law): ", style="bold")
        text.append(format_duration(view.network_sojourn_s) + "\n")
    for warning in view.warnings:
        text.append("warning: ", style="bold yellow").append(warning + "\n")
    text.rstrip()
    return text


def header(result: RunResult) -> Text:
    """One line naming the run, so a pasted report says what produced it."""
    runs = f"{result.replications} replication" + ("s" if result.replications != 1 else "")
    text = Text()
    text.append(f"{result.scenario}", style="bold").append(f" on {result.architecture}")
    text.append(f" · seed {result.seed} · {runs} · window {format_duration(result.window_s)}")
    if result.warmup_s > 0:
        text.append(f" after {format_duration(result.warmup_s)} warm-up")
    text.append(f" · load ×{result.load_multiplier:g}\n")
    totals = result.totals
    text.append(
        f"arrivals {format_number(totals.arrivals)} · delivered {format_number(totals.delivered)} · "
        f"dropped {format_number(totals.dropped)} · dead-lettered {format_number(totals.dead_lettered)} · "
        f"retries {format_number(totals.retries)}",
        style="dim",
    )
    return text


def report(result: RunResult) -> Group:
    """Everything `flowsim run` prints, in reading order."""
    parts: list[RenderableType] = [header(result), node_table(result), end_to_end_table(result)]
    if result.slos:
        parts.append(slo_table(result))
    theory = theory_table(result)
    if theory is not None:
        parts.append(theory)
    parts.append(analysis_summary(result))
    return Group(*parts)
