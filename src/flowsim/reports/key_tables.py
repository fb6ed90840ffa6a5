"""Key figures and the per-sink table, as text for the terminal and as frames for the app.

Both read `flowsim.key_figures`, so the CLI and the page show the same figures in the same
order: the lesson's first, with its sentence; every value with its unit and, with
replications, its 95% CI ("0.333 ± 0.94 messages, mean of 3 replications").
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from flowsim.key_figures import KeyFigure, key_figures
from flowsim.reports.tables import format_number, format_percent, new_table
from flowsim.results import RunResult
from flowsim.spec.scenario import Scenario
from flowsim.units import format_duration

if TYPE_CHECKING:
    import pandas as pd


def format_value(value: float | None, unit: str) -> str:
    """A value in its unit: durations as durations, shares as percentages, counts with the noun."""
    if value is None or math.isnan(value):
        return "no data"
    if not math.isfinite(value):
        return "—"
    if unit == "s":
        return format_duration(value)
    if unit == "share":
        return format_percent(value)
    if unit == "messages/s":
        if 0 < abs(value) < 0.01:  # a model version a day reads per hour, not as 7.25e-05 messages/s
            per_hour = value * 3600
            return f"{format_number(per_hour)} {_noun('messages', per_hour)}/h"
        return f"{format_number(value)} {_noun('messages', value)}/s"
    return f"{format_number(value)} {_noun(unit, value)}".rstrip()


def _noun(unit: str, value: float) -> str:
    """The unit's noun for one of it: 1 message, 1 query, 2 messages."""
    if value != 1 or not unit.endswith("s") or unit.endswith("ss"):
        return unit
    return unit[:-3] + "y" if unit.endswith("ies") else unit[:-1]


def with_ci(value: float | None, half: float | None, unit: str) -> str:
    """`value ± half-width unit` (durations and shares: each in its own unit)."""
    if not half or value is None or not math.isfinite(value) or not math.isfinite(half):
        return format_value(value, unit)
    if unit in ("s", "share"):
        return f"{format_value(value, unit)} ± {format_value(half, unit)}"
    return f"{format_number(value)} ± {format_value(half, unit)}"


def figure_text(figure: KeyFigure, replications: int = 1) -> str:
    """`value unit`, and `± half-width` of the 95% CI over replications when there are some."""
    if replications < 2 or figure.value is None or not math.isfinite(figure.value):
        return format_value(figure.value, figure.unit)
    return with_ci(figure.value, figure.ci95, figure.unit) + f" (mean of {replications})"


def key_figures_table(result: RunResult, scenario: Scenario) -> RenderableType:
    """The lesson's sentence, then the key figures, the lesson's marked."""
    figures = key_figures(result, scenario)
    table = new_table("Key figures")
    for column in ("", "figure", "value", "what it is"):
        table.add_column(column, overflow="fold")
    for figure in figures:
        mark = "▶" if figure.why == "lesson" else ""
        note = f"{figure.verdict}: {figure.meaning}" if figure.verdict else figure.meaning
        style = "bold red" if figure.verdict.startswith("failed") else "bold" if mark else ""
        table.add_row(mark, Text(figure.label, style=style), figure_text(figure, result.replications), note)
    if scenario.lesson is None:
        return table
    return Group(Text("Lesson: ", style="bold").append(scenario.lesson.text, style=""), table)


def sinks_table(result: RunResult, scenario: Scenario) -> Table:
    """Per sink: messages that reached it, their rate and latency percentiles (dead letters marked)."""
    table = new_table("Per sink")
    table.add_column("sink")
    for column in ("count", "throughput", "p50", "p95", "p99"):
        table.add_column(column, justify="right")
    for name, row in sink_rows(result, sink_notes(scenario)):
        table.add_row(name, *row)
    return table


def sink_notes(scenario: Scenario) -> dict[str, str]:
    """What a sink receives when it is not delivered data."""
    arch = scenario.arch
    notes = dict.fromkeys(arch.control_nodes(), "model versions")
    return notes | dict.fromkeys(arch.dead_letter_sinks(), "dead letters, not delivered")


def sink_rows(result: RunResult, notes: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Each sink's count, rate, p50, p95, p99 as text, with 95% CIs over replications."""
    rows = []
    for name, sink in result.end_to_end.items():
        half = sink.ci95 if result.replications > 1 else {}
        latency = sink.latency_s
        values: list[tuple[float | None, str, str]] = [
            (sink.count, "count", "messages"),
            (sink.throughput_per_s, "throughput_per_s", "messages/s"),
        ]
        values += [(getattr(latency, s) if latency else None, f"latency_s.{s}", "s") for s in ("p50", "p95", "p99")]
        cells = [with_ci(value, half.get(key), unit) for value, key, unit in values]
        rows.append((name + (f" ({notes[name]})" if name in notes else ""), cells))
    return rows


def key_figures_frame(result: RunResult, scenario: Scenario) -> pd.DataFrame:
    """The key figures for the app: figure, value (with unit and CI), what it is."""
    import pandas as pd

    rows = [{"": "▶" if f.why == "lesson" else "", "figure": f.label, "value": figure_text(f, result.replications),
             "what it is": f"{f.verdict}: {f.meaning}" if f.verdict else f.meaning}
            for f in key_figures(result, scenario)]  # fmt: skip
    return pd.DataFrame(rows, columns=["", "figure", "value", "what it is"])


def sinks_frame(result: RunResult, scenario: Scenario) -> pd.DataFrame:
    """The per-sink table for the app."""
    import pandas as pd

    rows = [[name, *values] for name, values in sink_rows(result, sink_notes(scenario))]
    return pd.DataFrame(rows, columns=["sink", "count", "throughput", "p50", "p95", "p99"])
