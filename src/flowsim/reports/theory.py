"""Theory beside simulation: each row says whether its formula is exact, approximate or does not
apply here, and why, so a difference is read against what the formula leaves out.

The reasons, per row: a formula exact only for Poisson arrivals (and, for M/M/c and M/M/c/K,
exponential service) is approximate otherwise; a node that blocks its senders drops nothing,
so a drop probability does not apply to it, and its waits are those of an unbounded queue only
approximately; the formulas know nothing of outages, so a node that was down is approximate;
and counts are in messages everywhere, a batched item counting its batch size (the formula's
queue of items is multiplied by the messages per item the traffic equations give).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from flowsim.analysis.view import FAULTED_OUTAGES, NodeAnalysis, Prediction
from flowsim.confidence import student_t_halfwidth
from flowsim.reports.tables import Formatter, cell, format_number, format_percent, new_table
from flowsim.results import NodeResult, Percentiles, RunResult
from flowsim.units import format_duration

Status = Literal["exact", "approximate", "not applicable"]
_MISSING = "—"


@dataclass(frozen=True)
class Comparison:
    """One figure of one node: predicted, simulated, and how far the prediction is to be trusted."""

    figure: str
    predicted: float | None
    simulated: float | None
    fmt: Formatter
    status: Status
    why: str
    ci95: float | None = None  # the simulated figure's 95% half-width over replications


#: where each simulated figure's CI sits in `NodeResult.ci95`
_CI_KEYS = {"utilization": "utilization", "wait mean": "wait_s.mean", "sojourn mean": "sojourn_s.mean",
            "queue length (messages)": "mean_queue_length"}  # fmt: skip


def _mean(percentiles: Percentiles | None) -> float:
    """A mean of no samples is no data (NaN), shown as such rather than as 0."""
    return percentiles.mean if percentiles is not None else math.nan


def relative_difference(predicted: float | None, simulated: float | None) -> float | None:
    """(simulated - predicted) / predicted; None when either is missing or the base is zero."""
    if predicted is None or simulated is None or not math.isfinite(predicted) or not math.isfinite(simulated):
        return None
    if predicted == 0:
        return 0.0 if simulated == 0 else None
    return (simulated - predicted) / predicted


def messages_per_item(analysis: NodeAnalysis) -> float:
    """Messages an arriving item carries on average (a source's batch), from the traffic equations."""
    items, messages = analysis.arrival_rate_per_s, analysis.message_rate_per_s
    return messages / items if messages and items > 0 else 1.0


def _formula_status(prediction: Prediction) -> tuple[Status, str]:
    if prediction.exact:
        if prediction.formula == "GI/M/1":
            return "exact", "GI/M/1 holds for renewal arrivals and one exponential server"
        return "exact", f"{prediction.formula} holds for Poisson arrivals and this service law"
    if "blocking" in prediction.formula:
        return "approximate", "it blocks its senders when full: treated as an unbounded queue"
    why = prediction.why or "its arrivals are not Poisson"
    if "Allen-Cunneen" in prediction.formula or "Kingman" in prediction.formula:
        name = prediction.formula.split(" (")[1][:-1]
        return "approximate", why if name in why else f"{name} is an approximation; {why}"
    return "approximate", why


def _arrivals_gap(node: NodeResult, analysis: NodeAnalysis, window: float) -> str | None:
    """What the node received, when it is far from the rate the formula assumes: more than 10% and
    more than five Poisson standard deviations of the expected count away."""
    rate = analysis.message_rate_per_s if analysis.message_rate_per_s is not None else analysis.arrival_rate_per_s
    expected = rate * window
    if window <= 0 or expected <= 0:
        return None
    gap = abs(node.arrivals - expected)
    if gap <= 0.1 * expected or gap <= 5 * math.sqrt(expected):
        return None
    return (f"the formula assumes {format_number(rate)}/s in; the node received {format_number(node.arrivals / window)}"
            "/s over the window (a source's start, stop or profile, or losses or holds upstream)")  # fmt: skip


def _status(
    figure: str, node: NodeResult, analysis: NodeAnalysis, prediction: Prediction, gap: str | None
) -> tuple[Status, str]:
    """Exact only when the formula is and nothing it leaves out happened; every reason said."""
    blocking = analysis.on_full == "block" or "blocking" in prediction.formula
    if figure == "drop probability" and blocking:
        return "not applicable", "it blocks its senders instead of dropping"
    status, why = _formula_status(prediction)
    left_out = [gap] if gap is not None else []  # what happened in the run that the formula leaves out
    if node.downtime_s > 0:  # said with the time down, for the faults the analytic view named
        why = "; ".join(part for part in why.split("; ") if part != FAULTED_OUTAGES)
        left_out.append(f"the formula ignores outages (down {format_duration(node.downtime_s)})")
    if node.failed_attempts > 0:
        timed_out = f", {format_number(node.timeouts)} timed out" if node.timeouts else ""
        left_out.append(
            f"the formula ignores failed attempts ({format_number(node.failed_attempts)} failed{timed_out}; "
            f"{format_number(node.retries)} retries came back as more load)"
        )
    if not left_out:
        return status, why
    return "approximate", "; ".join(left_out if status == "exact" or not why else [why, *left_out])


def _carried_load(analysis: NodeAnalysis, prediction: Prediction) -> float | None:
    """Busy fraction the formula implies: offered load minus what is dropped, at most 1."""
    if analysis.utilization is None:
        return None
    return min(analysis.utilization * (1 - prediction.drop_probability), 1.0)


def comparisons(
    node: NodeResult, analysis: NodeAnalysis, prediction: Prediction, window: float, drop_ci: float | None = None
) -> list[Comparison]:
    """The rows of one node, counts in messages (a batched item counts its batch size); `drop_ci`:
    the 95% half-width of the dropped share over replications (`drop_share_ci`)."""
    per_item = messages_per_item(analysis)
    gap = _arrivals_gap(node, analysis, window)
    drop = node.dropped / node.arrivals if node.arrivals > 0 else None
    rows: list[tuple[str, float | None, float | None, Formatter]] = [
        ("utilization", _carried_load(analysis, prediction), node.utilization, format_percent),
        ("wait mean", prediction.wait_s, _mean(node.wait_s), format_duration),
        ("sojourn mean", prediction.sojourn_s, _mean(node.sojourn_s), format_duration),
        ("queue length (messages)", prediction.mean_queue_length * per_item, node.mean_queue_length, format_number),
        ("drop probability", prediction.drop_probability, drop, format_percent),
    ]
    found = []
    for figure, predicted, simulated, fmt in rows:
        status, why = _status(figure, node, analysis, prediction, gap)
        if figure.startswith("queue length") and per_item != 1:
            why += f"; {format_number(per_item)} messages per item"
        key = _CI_KEYS.get(figure)
        ci = node.ci95.get(key) if key is not None else drop_ci if figure == "drop probability" else None
        found.append(Comparison(figure, predicted, simulated, fmt, status, why, ci))
    return found


def difference_text(row: Comparison) -> str:
    """Relative difference, percentage points for probabilities; a dash where the row does not apply."""
    if row.status == "not applicable" or row.predicted is None or row.simulated is None:
        return _MISSING
    if row.figure == "drop probability":  # percentage points: tiny bases make ratios meaningless
        return f"{(row.simulated - row.predicted) * 100:+.2f} pp"
    diff = relative_difference(row.predicted, row.simulated)
    return _MISSING if diff is None else f"{diff * 100:+.1f}%"


def _difference_cell(row: Comparison) -> Text:
    text = difference_text(row)
    if text == _MISSING:
        return Text(text, style="dim")
    if row.figure == "drop probability":
        return Text(text, style="green" if abs(float(text.split()[0])) <= 1 else "yellow")
    diff = abs(float(text.rstrip("%")))
    return Text(text, style="green" if diff <= 5 else ("yellow" if diff <= 15 else "red"))


def drop_share_ci(result: RunResult, name: str) -> float | None:
    """95% half-width of node `name`'s dropped share (dropped / arrivals) over the replications that
    had arrivals; None with fewer than two."""
    shares = [
        figures[name]["dropped"] / figures[name]["arrivals"]
        for figures in result.replications_figures()
        if name in figures and figures[name]["arrivals"] > 0
    ]
    return float(student_t_halfwidth(shares)) if len(shares) > 1 else None


def theory_rows(result: RunResult) -> list[tuple[str, str, Comparison]]:
    """(node, formula, row) for every node with a prediction, in the order of the analysis."""
    found = []
    for name, analysis in result.analysis.nodes.items():
        if analysis.prediction is not None and name in result.nodes:
            drop_ci = drop_share_ci(result, name)
            rows = comparisons(result.nodes[name], analysis, analysis.prediction, result.window_s, drop_ci)
            found += [(name, analysis.prediction.formula, row) for row in rows]
    return found


_STYLE = {"exact": "green", "approximate": "yellow", "not applicable": "dim"}


def theory_table(result: RunResult) -> Table | None:
    """Queueing-theory predictions beside the simulated figures; None when no node has one."""
    table = new_table("Theory vs simulation")
    for column in ("node", "formula", "figure"):
        table.add_column(column)
    for column in ("predicted", "simulated", "difference"):
        table.add_column(column, justify="right")
    table.add_column("theory", overflow="fold")
    rows = theory_rows(result)
    for index, (name, formula, row) in enumerate(rows):
        first = index == 0 or rows[index - 1][0] != name
        last = index == len(rows) - 1 or rows[index + 1][0] != name
        lead: list[RenderableType] = [Text(name, style="bold"), formula] if first else ["", ""]
        quality = Text(row.status, style=_STYLE[row.status]).append(f": {row.why}", style="dim")
        table.add_row(*lead, row.figure, cell(row.predicted, None, row.fmt), cell(row.simulated, row.ci95, row.fmt),
                      _difference_cell(row), quality, end_section=last)  # fmt: skip
    return table if table.row_count else None
