"""Rich tables of a `RunResult` (and of a node kind's fields), for `flowsim` and anything rich renders.

A figure is shown with its 95% CI half-width ("± ci") whenever the run had replications, so a
reader can tell a real difference from noise without opening the JSON.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic.fields import FieldInfo
from rich import box
from rich.console import Group, JustifyMethod, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from flowsim.distributions import BaseDistribution
from flowsim.fluid.support import figure_engines
from flowsim.key_figures import bottleneck
from flowsim.nodes.base import NodeConfig
from flowsim.results import Percentiles, RunResult, SloVerdict
from flowsim.spec.scenario import Scenario
from flowsim.units import format_duration

Formatter = Callable[[float], str]
_MISSING = "—"
_NO_DATA = "no data"


# ---- formatting -----------------------------------------------------------------------------
def format_number(value: float) -> str:
    """Counts read as integers with separators; other figures keep three significant digits."""
    if abs(value) >= 100:  # (from 999.5, three significant digits would print 1e+03)
        return f"{value:,.0f}"
    if value == round(value):
        return f"{value:.0f}"
    return f"{value:.3g}"


def format_count(value: float) -> str:
    """A message count, which the fluid engine gives as an expected value: whole, or two decimals,
    and a trace of a message as '<0.01' rather than in scientific notation."""
    if value == round(value) or abs(value) >= 100:
        return format_number(value)
    if abs(value) < 0.01:
        return "<0.01"
    return f"{value:.2f}"


def format_percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def format_rate(value: float) -> str:
    """Per second; a rate under 0.01/s per hour (a model version a day: '0.261/h', not '7.25e-05/s')."""
    if 0 < abs(value) < 0.01:
        return f"{format_number(value * 3600)}/h"
    return f"{format_number(value)}/s"


def is_time_metric(metric: str) -> bool:
    """Figures in seconds end in `_s` (latency_s.p99, downtime_s); rates end in `per_s`."""
    return any(part.endswith("_s") and not part.endswith("per_s") for part in metric.split("."))


def cell(value: float | None, ci: float | None = None, fmt: Formatter = format_number) -> Text:
    """A value with its CI half-width on a second, dimmed line (keeps wide tables narrow).

    None is a figure that does not apply (a dash); NaN is one with no data (nothing measured).
    """
    if value is not None and math.isnan(value):
        return Text(_NO_DATA, style="dim")
    if value is None or not math.isfinite(value):
        return Text(_MISSING, style="dim")
    text = Text(fmt(value))
    if ci and math.isfinite(ci):  # a zero half-width (a figure that never varied) is noise
        text.append(f"\n± {fmt(ci)}", style="dim")
    return text


def _stat(percentiles: Percentiles | None, stat: str) -> float:
    """A percentile of no samples is no data (NaN), shown as such rather than as 0."""
    return math.nan if percentiles is None else float(getattr(percentiles, stat))


def _ci_lookup(result: RunResult, ci95: dict[str, float]) -> Callable[[str], float | None]:
    """CI half-widths exist only with several replications; a single run shows bare values."""
    if result.replications <= 1:
        return lambda _key: None
    return ci95.get


# ---- node table -----------------------------------------------------------------------------
def new_table(title: str) -> Table:
    """The house style: light rules and no outer padding, so more columns fit in 80."""
    return Table(title=title, title_justify="left", title_style="bold", header_style="bold",
                 box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)  # fmt: skip


_COUNTS = (
    ("arrivals", "arrivals"), ("completed", "completed"), ("dropped", "dropped"),
    ("lost", "lost"), ("retries", "retries"), ("dead_lettered", "dead-\nlettered"),
)  # fmt: skip
_TIMES = (
    ("wait_s", "p50", "wait\np50"), ("wait_s", "p95", "wait\np95"), ("wait_s", "p99", "wait\np99"),
    ("sojourn_s", "mean", "sojourn\nmean"), ("sojourn_s", "p99", "sojourn\np99"),
)  # fmt: skip


def node_flow_table(result: RunResult) -> Table:
    """Per node: what came in, what left, what was lost, and how loaded it was."""
    table = new_table("Nodes: flow and load")
    table.add_column("node\n[dim]kind[/]")
    for _key, header in _COUNTS:
        table.add_column(header, justify="right")
    table.add_column("util", justify="right")
    table.add_column("mean\nqueue", justify="right")
    for name, node in result.nodes.items():
        ci = _ci_lookup(result, node.ci95)
        label = Text(name, style="bold").append(f"\n{node.kind}", style="dim cyan")
        row: list[RenderableType] = [label]
        row += [cell(float(getattr(node, key)), ci(key)) for key, _header in _COUNTS]
        row.append(cell(node.utilization, ci("utilization"), format_percent))
        row.append(cell(node.mean_queue_length, ci("mean_queue_length")))
        table.add_row(*row)
    return table


def node_time_table(result: RunResult) -> Table:
    """Per node that holds items: time waiting for a server, and time from arrival to leaving."""
    table = new_table("Nodes: time")
    table.add_column("node")
    for _group, _stat_name, header in _TIMES:
        table.add_column(header, justify="right")
    for name, node in result.nodes.items():
        if node.wait_s is None and node.sojourn_s is None:
            continue  # sources and sinks hold nothing
        ci = _ci_lookup(result, node.ci95)
        row: list[RenderableType] = [Text(name, style="bold")]
        for group, stat, _header in _TIMES:
            value = _stat(node.wait_s if group == "wait_s" else node.sojourn_s, stat)
            row.append(cell(value, ci(f"{group}.{stat}"), format_duration))
        table.add_row(*row)
    return table


def node_table(result: RunResult) -> Group:
    """The node table in two parts (flow, time), so that it stays readable in 80 columns."""
    return Group(node_flow_table(result), node_time_table(result))


# ---- end-to-end table -----------------------------------------------------------------------
def end_to_end_table(result: RunResult) -> Table:
    """What reached each sink: count, rate, and latency (age since the item was created)."""
    table = new_table("End to end")
    table.add_column("sink")
    # over replications every figure is the mean of each run's, so a max is a run's max on average
    top = "max" if result.replications == 1 else "max\n(runs' mean)"
    for column in ("count", "through-\nput", "latency\nmean", "p50", "p95", "p99", top):
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
        return Text("no data: nothing was measured for this figure in the run", style="red")
    if verdict.uncertain:
        return Text("uncertain: threshold inside the 95% CI", style="yellow")
    return Text(verdict.note, style="dim")


def slo_table(result: RunResult) -> Table:
    """Each SLO's verdict, the measured value against its threshold, and whether noise could flip it."""
    table = new_table("SLOs")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("", "center"), ("slo", "left"), ("value", "right"), ("target", "right"), ("note", "left"),
    )  # fmt: skip
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for verdict in result.slos:
        mark = Text("✓", style="bold green") if verdict.passed else Text("✗", style="bold red")
        fmt: Formatter = format_duration if is_time_metric(verdict.metric) else format_number
        target = Text(f"{verdict.op} {fmt(verdict.threshold)}")
        table.add_row(mark, Text(verdict.slo), _slo_value(verdict), target, _slo_note(verdict))
    return table


# ---- summary --------------------------------------------------------------------------------
def analysis_summary(result: RunResult) -> Text:
    """Where the design saturates first and how much headroom it has, before any simulation noise."""
    view = result.analysis
    text = Text()
    worst = bottleneck(result)  # the node the diagram outlines too
    if worst is not None and worst == view.bottleneck and view.bottleneck_utilization is not None:
        text.append("Bottleneck: ", style="bold").append(worst)
        text.append(f" (rho = {view.bottleneck_utilization:.2f})\n")
    elif worst is not None:
        text.append("Bottleneck: ", style="bold").append(worst)
        text.append(" (the highest simulated load; theory gives no node a finite capacity)\n")
    else:
        text.append("Bottleneck: ", style="bold").append("none (no node with finite servers)\n")
    if view.max_load_multiplier is not None:
        text.append("Capacity: ", style="bold")
        text.append(f"a node saturates at load multiplier {view.max_load_multiplier:.3g}")
        if view.max_input_rate_per_s is not None:
            text.append(f" (about {format_rate(view.max_input_rate_per_s)} in)")
        text.append(f"; this run: {result.load_multiplier:g}\n")
    if view.network_sojourn_s is not None:
        text.append("Predicted time in network (Little's law): ", style="bold")
        text.append(format_duration(view.network_sojourn_s))
        lossy = any(a.prediction is not None and a.prediction.drop_probability > 0 for a in view.nodes.values())
        copies = view.network_sojourn_adds_copies
        # L / lambda averages over every message that enters: one dropped on arrival counts 0 s, and
        # the fan-out copies of one message add up (each copy's own latency is shorter)
        notes = [
            n for n, on in (("dropped ones included", lossy), ("its fan-out copies' times added up", copies)) if on
        ]
        text.append(f" per message that enters, {' and '.join(notes)}\n" if notes else "\n")
    # the design's warnings, then what the run itself found (a deadlock, a stall): every one, once
    for warning in dict.fromkeys([*view.warnings, *result.warnings]):
        text.append("warning: ", style="bold yellow").append(warning + "\n")
    for note in view.notes:
        text.append("note: ", style="bold").append(note + "\n")
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
    text.append(f" · load {result.load_multiplier:g}x")
    if result.engine == "fluid" and result.fluid_step_s is not None:
        text.append(f" · fluid engine, step {format_duration(result.fluid_step_s)}")
    text.append("\n")
    totals = result.totals
    # the balance as it adds up: what came in (copies and what the window opened with, when any),
    # then where it went (merged into model versions, when any)
    came = [("arrivals", totals.arrivals), ("copies", totals.copies), ("inside at the start", totals.inside_at_start)]
    went = [("delivered", totals.delivered), ("dropped", totals.dropped), ("dead-lettered", totals.dead_lettered),
            ("lost", totals.lost), ("merged", totals.merged), ("inside at the end", totals.inside_at_end)]  # fmt: skip
    optional = {"copies", "inside at the start", "merged"}
    parts = [f"{label} {format_count(value)}" for label, value in came + went if value or label not in optional]
    text.append(
        " · ".join(parts)
        + f" · retries {format_count(totals.retries)}"
        + (f" · unmet demand (blocked sources) {format_count(totals.unmet_demand)}" if totals.unmet_demand else ""),
        style="dim",
    )
    versions = totals.model_versions
    if versions.made or versions.inside_at_start:
        text.append(
            f"\nmodel versions (apart from data): made {format_number(versions.made)} · promoted "
            f"{format_number(versions.promoted)} · "
            + (f"superseded {format_number(versions.superseded)} · " if versions.superseded else "")
            + f"rejected {format_number(versions.rejected)} · "
            f"in validation at the end {format_number(versions.inside_at_end)}",
            style="dim",
        )
    if abs(totals.unaccounted) > 1e-6 * max(totals.arrivals, 1.0):
        text.append(f"\n{format_number(totals.unaccounted)} messages unaccounted for", style="bold red")
    return text


def kind_figures_table(result: RunResult) -> Table | None:
    """Figures particular to a node's kind (consumer lag, duplicates, SLA misses, ...)."""
    rows = [(name, key, value, node.ci95.get(key))
            for name, node in result.nodes.items() for key, value in node.kind_figures.items()]  # fmt: skip
    if not rows:
        return None
    table = new_table("Kind figures")
    for column, justify in (("node", "left"), ("figure", "left"), ("value", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for name, key, value, ci in rows:
        fmt = format_duration if is_time_metric(key) else format_number
        table.add_row(name, key, cell(value, ci, fmt))
    return table


def report(result: RunResult, scenario: Scenario | None = None) -> Group:
    """Everything `flowsim run` prints, in reading order, a blank line between parts: with the
    scenario, its key figures (the lesson's first) and the per-sink table lead."""
    parts: list[RenderableType] = [header(result)]
    if scenario is not None:
        from flowsim.reports.key_tables import key_figures_table, sinks_table

        parts += [key_figures_table(result, scenario), sinks_table(result, scenario)]
    parts += [node_flow_table(result), node_time_table(result)]
    parts.append(end_to_end_table(result))
    kind = kind_figures_table(result)
    if kind is not None:
        parts.append(kind)
    if result.slos:
        parts.append(slo_table(result))
    from flowsim.reports.theory import theory_table

    theory = theory_table(result)
    if theory is not None:
        parts.append(theory)
    from flowsim.reports.streaming import streaming_table  # it builds on this module's helpers

    groups = streaming_table(result)
    if groups is not None:
        parts.append(groups)
    parts.append(analysis_summary(result))
    spaced: list[RenderableType] = []
    for part in parts:
        spaced += [part, Text("")]
    return Group(*spaced[:-1])


# ---- node kinds -----------------------------------------------------------------------------
def _unit_word(metadata: list[Any]) -> str | None:
    """Durations, rates and sizes carry a JSON-schema description starting with their name."""
    for item in metadata:
        schema = getattr(item, "json_schema", None)
        if isinstance(schema, dict) and isinstance(schema.get("description"), str):
            word = str(schema["description"]).split(";")[0]
            if word in ("duration", "rate", "size"):
                return word
    return None


def type_label(annotation: Any, metadata: list[Any] | None = None) -> str:
    """A field type as a YAML author reads it: duration, distribution, 'drop' | 'block', int | None."""
    unit = _unit_word(metadata or [])
    if unit is not None:
        return unit
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return type_label(args[0], list(args[1:]))
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if members and all(isinstance(m, type) and issubclass(m, BaseDistribution) for m in members):
            label = "distribution"
        else:
            label = " | ".join(type_label(m) for m in members)
        return label + (" | None" if len(members) < len(args) else "")
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_label(a) for a in args)}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation)


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "[bold]required[/]"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "—"
    if isinstance(value, str):
        return escape(repr(value))
    from pydantic_core import to_jsonable_python

    from flowsim.reports.kinds_doc import inline_yaml

    text = inline_yaml(to_jsonable_python(value, by_alias=True))  # a model, a mapping of models: as YAML
    return escape(text if len(text) <= 80 else text[:77] + "...")


def kind_table(kind: str, config: type[NodeConfig]) -> Table:
    """The fields of a node kind under the names YAML uses (aliases such as `mean`, `for`)."""
    table = new_table(f"{kind}: {config.summary}")
    for column in ("field", "type", "default", "description"):
        table.add_column(column, overflow="fold")
    for name, info in config.model_fields.items():
        label = escape(type_label(info.annotation, list(info.metadata)))
        table.add_row(f"[cyan]{info.alias or name}[/]", label, _default_text(info), escape(info.description or ""))
    return table


def declared_figures_table(kind: str, config: type[NodeConfig]) -> Table | None:
    """The figures a kind reports of its own, with units (what SLO and lesson paths may name)."""
    if not config.kind_figures:
        return None
    table = new_table(f"{kind}: figures of its own (nodes.<node>.kind_figures.<figure>)")
    for column in ("figure", "unit", "headline", "engines", "meaning"):
        table.add_column(column, overflow="fold")
    for f in config.kind_figures:
        table.add_row(
            f"[cyan]{escape(f.label)}[/]",
            f.unit,
            "yes" if f.headline else "",
            figure_engines(kind, config, f),
            escape(f.meaning),
        )
    return table
