"""Rich tables of a sweep (one row per point) and of a comparison (B - A per figure).

Kept apart from `sweep_plots` so that printing a sweep on a terminal does not load matplotlib;
the plots import `primary_latency` from here, so a table and its plots are about the same sink.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from flowsim.compare import Comparison
    from flowsim.sweep import SweepResult


def primary_latency(table: pd.DataFrame, stat: str = "p99") -> str | None:
    """The latency column of the busiest sink (most throughput): the one a trade-off is about."""
    sinks = [c.split(".")[1] for c in table.columns if re.fullmatch(r"end_to_end\.[^.]+\.throughput_per_s", c)]
    columns = [(s, f"end_to_end.{s}.latency_s.{stat}") for s in sinks]
    columns = [(s, c) for s, c in columns if c in table.columns and table[c].notna().any()]
    if not columns:
        return None
    return max(columns, key=lambda sc: float(table[f"end_to_end.{sc[0]}.throughput_per_s"].mean()))[1]


def _num(value: float, digits: int = 3) -> str:
    return f"{value:.0f}" if abs(value) >= 10**digits else f"{value:.{digits}g}"


def _fmt(value: Any, ci: Any = None) -> str:
    """A number for a table cell, with its 95% half-width when there is one."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    text = _num(value) if isinstance(value, float) else str(value)
    return text + (f" ± {_num(ci, 2)}" if isinstance(ci, float) and ci == ci and ci > 0 else "")


def _in_unit(column: str, value: Any, ci: Any = None) -> str:
    """A sweep figure in its unit (a p99 as 23.6s ± 1.2s, utilization in %, cost in $/h)."""
    if not isinstance(value, float) or value != value:
        return _fmt(value, ci)
    from flowsim.units import format_duration

    has_ci = isinstance(ci, float) and ci == ci and ci > 0
    if ".latency_s." in column:
        return format_duration(value) + (f" ± {format_duration(ci)}" if has_ci else "")
    if column == "max_utilization":
        return f"{value:.1%}"
    if column == "cost.per_hour":
        return f"${value:,.2f}"
    if column.endswith("throughput_per_s"):
        return f"{_num(value)}/s"
    return _fmt(value, ci)


def sweep_table(result: SweepResult, best: int | None = None) -> Table:
    """The figures people choose by: parameters, SLO verdict, cost, throughput, p99, losses, utilization.

    Parameters that take one value are shown once, in the caption; only p99 carries its CI here
    (every figure's CI is in --format json and the --out tables).
    """
    frame = result.table
    varying = [p for p in result.parameters if frame[p].nunique(dropna=False) > 1]
    fixed = [f"{p}={frame[p].iloc[0]}" for p in result.parameters if p not in varying]
    latency = primary_latency(frame)
    figures = [("cost.per_hour", "cost/h"), ("throughput_per_s", "out/s")]
    figures += [(latency, "p99 " + latency.split(".")[1])] if latency else []
    figures += [("totals.dropped", "dropped"), ("max_utilization", "max util")]
    figures = [(c, h) for c, h in figures if c in frame.columns]
    caption = "also: " + ", ".join(fixed) if fixed else None
    title = f"Sweep: {len(frame)} point{'s' * (len(frame) != 1)}"
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for name in varying:
        table.add_column(_short(name, varying), style="cyan", no_wrap=True)
    table.add_column("SLOs", no_wrap=True, min_width=4)
    for _, header in figures:
        table.add_column(header, justify="right", no_wrap=True, min_width=min(len(header), 8))
    for index, row in frame.iterrows():
        cells = [_fmt(row[p]) for p in varying]
        verdict = "[green]✓[/]" if row["slo_passed"] else f"[red]✗ {row['slos_failed']}[/]"
        cells.append(verdict + (" ★" if index == best else ""))
        cells += [_in_unit(c, row[c], row.get(c + "_ci95") if c == latency else None) for c, _ in figures]
        table.add_row(*cells, style="bold" if index == best else None)
    return table


def _short(path: str, paths: list[str]) -> str:
    """The last part of a parameter path, when that is enough to tell it from the others."""
    last = path.rsplit(".", 1)[-1]
    return last if sum(p.rsplit(".", 1)[-1] == last for p in paths) == 1 else path


def comparison_table(comparison: Comparison) -> Table:
    """One row per figure: A, B, B - A with its paired 95% CI, the relative change, significance."""
    table = Table(title=f"B - A: {comparison.b} vs {comparison.a}", title_justify="left")
    table.add_column("figure", overflow="fold", min_width=24)
    for header in ("A", "B", "B - A", "95% CI", "change", "sig."):
        table.add_column(header, justify="right", no_wrap=True)
    from flowsim.reports.compare_tables import paired_row

    for d in comparison.differences:
        row = paired_row(d)  # in the figure's unit, as the app writes it
        mark = "[bold]yes[/]" if row["significant"] == "yes" else f"[dim]{row['significant']}[/]"
        table.add_row(escape(row["figure"]), row["A"], row["B"], row["B - A"], row["95% CI of B - A"],
                      row["change"], mark)  # fmt: skip
    return table
