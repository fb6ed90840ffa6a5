"""The paired-difference table of two runs, as the app shows it: readable names, units, B - A ± 95%.

The statistics are `flowsim.compare` (what `flowsim compare` prints): replication r of A paired
with replication r of B, a paired-t interval on the differences.  This module only names each
figure and writes its numbers with their units.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from flowsim.compare import Comparison, Difference
from flowsim.reports.tables import format_number, format_rate
from flowsim.units import format_duration

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["figure", "A", "B", "B - A", "95% CI of B - A", "change", "significant", "metric"]
_TOTALS = {
    "dropped": "dropped (messages)",
    "dead_lettered": "dead-lettered (messages)",
    "lost": "lost unread: retention, expiry (messages)",
}


def figure_name(metric: str) -> str:
    """'end_to_end.done.latency_s.p99' -> 'done: p99 end-to-end latency'; units go with the values."""
    parts = metric.split(".")
    if metric == "throughput_per_s":
        return "delivered throughput, all sinks (messages/s)"
    if metric == "cost.per_hour":
        return "cost ($/h)"
    if parts[0] == "totals" and len(parts) == 2:
        return _TOTALS.get(parts[1], parts[1])
    if parts[0] == "nodes" and len(parts) == 3:
        return f"{parts[1]}: utilization"
    if parts[0] == "end_to_end" and parts[-1] == "throughput_per_s":
        return f"{'.'.join(parts[1:-1])}: delivered throughput (messages/s)"
    if parts[0] == "end_to_end" and len(parts) >= 4 and parts[-2] == "latency_s":
        stat = "mean" if parts[-1] == "mean" else parts[-1]
        return f"{'.'.join(parts[1:-2])}: {stat} end-to-end latency"
    return metric


def _formats(metric: str) -> tuple[Callable[[float], str], Callable[[float], str]]:
    """(how a value reads, how a difference reads): seconds as durations, utilization in %, points."""
    if ".latency_s." in metric:
        return format_duration, lambda d: ("+" if d > 0 else "") + format_duration(d)
    if metric.endswith(".utilization"):
        return (lambda v: f"{v:.1%}"), (lambda d: f"{100 * d:+.1f} pp")
    if metric.startswith("cost."):
        return (lambda v: f"${v:,.2f}"), (lambda d: f"{'+' if d >= 0 else '-'}${abs(d):,.2f}")
    if metric.endswith("throughput_per_s"):
        return format_rate, (lambda d: ("+" if d > 0 else "") + format_rate(d))
    return format_number, lambda d: ("+" if d > 0 else "") + format_number(d)


def paired_row(d: Difference) -> dict[str, str]:
    """One figure's row as text with units (the app's table and `flowsim compare`'s)."""
    value, change = _formats(d.metric)
    known = not math.isnan(d.diff)
    ci = "—" if d.ci95 is None else "± " + change(d.ci95).lstrip("+")
    return {
        "figure": figure_name(d.metric),
        "A": value(d.a) if known else "—",
        "B": value(d.b) if known else "—",
        "B - A": change(d.diff) if known else "—",
        "95% CI of B - A": ci,
        "change": "—" if d.relative is None or not known else f"{d.relative:+.1%}",
        "significant": "—" if d.ci95 is None else ("yes" if d.significant else "no"),
        "metric": d.metric,
    }


def paired_table(comparison: Comparison) -> pd.DataFrame:
    """One row per figure both runs have, in `flowsim compare`'s order, as text with units."""
    import pandas as pd

    return pd.DataFrame([paired_row(d) for d in comparison.differences], columns=COLUMNS)
