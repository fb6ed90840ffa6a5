"""Consumer groups: the back-of-envelope lag growth and drain time beside the simulated ones.

Simulated lag growth is the group's backlog at the end minus at the start, over the window;
the simulated drain is the time from the lag's peak until it is back under 1% of that peak
(the estimate counts from the outage's end, when the buffered backlog lands in the log).
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from flowsim.reports.tables import format_rate, new_table
from flowsim.results import RunResult
from flowsim.units import format_duration

Row = dict[str, str]


def _drain_simulated(result: RunResult, topic: str, group: str) -> float | None:
    """Seconds from the group's peak lag until it is under 1% of the peak (None: no series, or never)."""
    column = f"lag_messages.{group}"
    series = result.series
    if series.empty or column not in series.columns:
        return None
    lag = series[(series.node == topic) & (series.replication == 0)].set_index("time_s")[column]
    if lag.empty or lag.max() <= 0:
        return None
    peak_at = float(lag.index[int(lag.to_numpy().argmax())])
    after = lag[(lag.index > peak_at) & (lag <= 0.01 * lag.max())]
    return float(after.index[0]) - peak_at if not after.empty else None


def streaming_rows(result: RunResult) -> list[Row]:
    """One row per consumer group: rates, lag growth and drain, estimated and simulated."""
    rows = []
    for estimate in result.analysis.streaming:
        node = result.nodes.get(estimate.topic)
        if node is None:
            continue
        figures, group = node.kind_figures, estimate.group
        start, end = figures.get(f"backlog_at_start.{group}"), figures.get(f"backlog_at_end.{group}")
        growth = (end - start) / result.window_s if start is not None and end is not None else None
        idle = not figures.get(f"consumed.{group}") and not end  # started after the window, or never fed
        drain = estimate.drain_after_outage_s
        simulated = _drain_simulated(result, estimate.topic, group) if drain is not None else None
        rows.append({
            "topic": estimate.topic, "group": group, "in": format_rate(estimate.in_per_s),
            "out (capacity)": "—" if estimate.out_per_s is None else format_rate(estimate.out_per_s),
            "limited by": estimate.limited_by,
            "lag growth, estimate": format_rate(estimate.lag_growth_per_s),
            "lag growth, simulated": "not reading" if idle else "—" if growth is None else format_rate(growth),
            "drain after outage, estimate": "—" if drain is None else format_duration(drain),
            "drain, simulated": "—" if simulated is None else format_duration(simulated),
        })  # fmt: skip
    return rows


def streaming_table(result: RunResult) -> Table | None:
    """The rows above as a table; None without consumer groups."""
    rows = streaming_rows(result)
    if not rows:
        return None
    table = new_table("Consumer groups: back-of-envelope vs simulated")
    for column in rows[0]:
        table.add_column(column, justify="left" if column in ("topic", "group", "limited by") else "right")
    for row in rows:
        table.add_row(*(Text(value) for value in row.values()))
    return table
