"""The app's tables and headline figures as plain data: functions of a `RunResult`, no plotting.

No Streamlit and no matplotlib here, so the page can show its key figures before the plotting
libraries are loaded, and a notebook can use the same frames: headline figures, the node, SLO,
theory and comparison tables, consumer lag and the model-version timeline as data frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from flowsim.key_figures import losses_ci, totals_ci
from flowsim.reports.key_tables import with_ci
from flowsim.reports.tables import format_number, format_rate, is_time_metric
from flowsim.reports.theory import Comparison, difference_text, relative_difference, theory_rows
from flowsim.results import NodeResult, RunResult
from flowsim.spec.architecture import Architecture
from flowsim.units import format_duration

Formatter = Callable[[float], str]
_LAG_SERIES = "lag_messages."
_TIME_KEYS = ("time_s", "time", "t", "at")
_VERSION_KEYS = ("version", "model_version", "name")


# ---- headline --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Headline:
    """One headline figure: its value (None when absent), as text, and which way is better.

    `text` is the value with its CI and unit, as tables write it; a metric card writes `card` under
    `card_label`, the unit moved into the label so that the large value fits its card.
    """

    label: str
    value: float | None
    text: str
    better: Literal["higher", "lower"]
    help: str = ""
    fmt: Formatter = format_number
    unit: str = ""  # the unit `card` leaves out (durations and counts of SLOs carry their own)

    @property
    def card_label(self) -> str:
        """'Input rate · messages/s (mean of 3)': the label with the unit the card leaves out."""
        if not self.unit:
            return self.label
        name, mean, rest = self.label.partition(" (mean of")
        return f"{name} · {self.unit}{mean}{rest}"

    @property
    def card(self) -> str:
        suffix = f" {self.unit}"
        return self.text.removesuffix(suffix) if self.unit and self.text.endswith(suffix) else self.text

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


def delivered_once(result: RunResult, arch: Architecture) -> float:
    """Messages delivered, each counted once however many copies reached sinks.

    Below a node that copies (a topic's consumer groups, fan-out edges) into branches that reach
    separate sinks, every branch carries the same messages: only the branch that delivered most
    counts.  Below any other node the branches share the messages and add up (as do branches
    that meet again in a sink, whose count cannot be split).  `totals.delivered` counts every copy.
    """
    counts = {s: result.end_to_end[s].count for s in delivery_sinks(arch) if s in result.end_to_end}
    below: dict[str, list[str]] = {}
    for edge in arch.edges:
        below.setdefault(edge.from_, []).append(edge.to)
    memo: dict[str, tuple[float, frozenset[str]]] = {}
    extra = 0.0

    def reached(name: str, path: frozenset[str]) -> tuple[float, frozenset[str]]:
        nonlocal extra
        if name in counts:
            return counts[name], frozenset({name})
        if name in memo:
            return memo[name]
        branches = [reached(t, path | {name}) for t in below.get(name, []) if t not in path]
        values = [v for v, _ in branches]
        sinks = frozenset().union(*(b for _, b in branches))
        copies = arch.nodes[name].routing == "fanout" and len(branches) > 1
        if copies and sum(len(b) for _, b in branches) == len(sinks):  # the branches reach separate sinks
            extra += sum(values) - max(values)
            memo[name] = (max(values), sinks)
        else:
            memo[name] = (sum(values), sinks)
        return memo[name]

    for source in arch.sources():
        reached(source, frozenset())
    return sum(counts.values()) - extra


def headline(result: RunResult, arch: Architecture) -> list[Headline]:
    """Input rate, end-to-end p99, messages lost, SLOs met: what a design review asks first.

    The input is what the sources produced (a fan-out's copies are not more work done: the
    per-sink table says what each sink received); losses count every way a message is lost;
    with replications each count is a mean, said with its 95% CI and unit."""
    sink = main_sink(result, arch)
    window = result.window_s
    rate = result.totals.arrivals / window if window > 0 else 0.0
    rate_ci = totals_ci(result, arch, "arrivals")
    p99 = _p99(result, sink)
    p99_ci = result.ci(f"end_to_end.{sink}.latency_s.p99") if sink else None
    t = result.totals
    lost = t.dropped + t.dead_lettered + t.lost
    met = sum(v.passed for v in result.slos)
    means = f" (mean of {result.replications} replications, ± 95% CI)" if result.replications > 1 else ""
    mean_of = f" (mean of {result.replications})" if result.replications > 1 else ""
    return [
        Headline("Input rate" + mean_of, rate, with_ci(rate, rate_ci and rate_ci / window, "messages/s"), "higher",
                 "messages the sources produced per second, each counted once (what each sink received, "
                 "copies of consumer groups and fan-out included, is in the per-sink table)" + means, format_rate,
                 "messages/s"),
        Headline(f"End-to-end p99 ({sink})" if sink else "End-to-end p99", p99,
                 with_ci(p99, p99_ci, "s") if p99 is not None else "—", "lower",
                 "99% of delivered items took less than this from creation to the sink" + means, format_duration),
        Headline("Messages lost" + mean_of, lost, with_ci(lost, losses_ci(result, arch), "messages"), "lower",
                 f"dropped {format_number(t.dropped)} + dead-lettered {format_number(t.dead_lettered)} + "
                 f"deleted unread (retention, expiry, failover) {format_number(t.lost)}" + means
                 + (f"; not counted: demand blocked sources never generated "
                    f"{format_number(t.unmet_demand)}" if t.unmet_demand else ""), format_number, "messages"),
        Headline("SLOs met", float(met) if result.slos else None,
                 f"{met} / {len(result.slos)}" if result.slos else "none defined", "higher",
                 "service-level objectives of the scenario that hold in this run"),
    ]  # fmt: skip


def headline_pair(a: RunResult, arch_a: Architecture, b: RunResult, arch_b: Architecture) -> pd.DataFrame:
    """The headline figures of runs A and B side by side, as tables write them (CI and unit)."""
    pairs = zip(headline(a, arch_a), headline(b, arch_b), strict=True)
    rows = [{"figure": x.label if x.label == y.label else f"{x.label} / {y.label}", "A": x.text, "B": y.text}
            for x, y in pairs]  # fmt: skip
    return pd.DataFrame(rows, columns=["figure", "A", "B"])


# ---- consumer lag ------------------------------------------------------------------------------
def lag_frame(result: RunResult) -> pd.DataFrame:
    """Consumer lag in messages over time, averaged over replications: one column per node/group."""
    series = result.series
    columns = [c for c in series.columns if str(c).startswith(_LAG_SERIES)] if not series.empty else []
    if not columns:
        return pd.DataFrame()
    long = series.melt(id_vars=["time_s", "node"], value_vars=columns, var_name="group", value_name="lag")
    long = long.dropna(subset=["lag"])
    long["line"] = long["node"].astype(str) + "/" + long["group"].str.removeprefix(_LAG_SERIES)
    return long.pivot_table(index="time_s", columns="line", values="lag", aggfunc="mean")


# ---- tables as data frames -------------------------------------------------------------------
def _stat(value: Any, stat: str) -> float | None:
    return None if value is None else float(getattr(value, stat))


def nodes_frame(result: RunResult) -> pd.DataFrame:
    """One row per node with the figures of the CLI's node tables, as numbers (seconds, fractions)."""
    rows = [{"node": name} | _node_row(node) for name, node in result.nodes.items()]
    return pd.DataFrame(rows).set_index("node")


def _node_row(node: NodeResult) -> dict[str, Any]:
    counts = ("arrivals", "completed", "dropped", "lost", "retries", "dead_lettered", "throughput_per_s")
    row: dict[str, Any] = {"kind": node.kind} | {k: getattr(node, k) for k in counts}
    row |= {"utilization": node.utilization, "mean_queue_length": node.mean_queue_length}
    row |= {"wait_p99_s": _stat(node.wait_s, "p99"), "sojourn_mean_s": _stat(node.sojourn_s, "mean")}
    return row | {"sojourn_p99_s": _stat(node.sojourn_s, "p99")}


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
        rows.append({"verdict": "pass" if verdict.passed else "fail", "SLO": verdict.slo, "value": value,
                     "target": f"{verdict.op} {fmt(verdict.threshold)}",
                     "note": "uncertain: threshold inside the 95% CI" if verdict.uncertain else ""})  # fmt: skip
    return pd.DataFrame(rows, columns=["verdict", "SLO", "value", "target", "note"])


def theory_frame(result: RunResult) -> pd.DataFrame:
    """Queueing-theory predictions beside the simulated figures (the CLI's theory table), each row
    exact, approximate or not applicable, and why."""
    rows = [{"node": name, "figure": row.figure,
             "predicted": _text(row.predicted, row.fmt), "simulated": _with_ci(row),
             "difference": difference_text(row), "theory": f"{row.status}: {row.why}", "formula": formula}
            for name, formula, row in theory_rows(result)]  # fmt: skip
    columns = ["node", "figure", "predicted", "simulated", "difference", "theory", "formula"]  # the long ones last
    return pd.DataFrame(rows, columns=columns)


def _with_ci(row: Comparison) -> str:
    """The simulated figure, with its 95% half-width over replications when there are several."""
    text = _text(row.simulated, row.fmt)
    ci = row.ci95
    return f"{text} ± {row.fmt(ci)}" if ci and math.isfinite(ci) and text != _text(None, row.fmt) else text


def _text(value: float | None, fmt: Formatter) -> str:
    return "—" if value is None or not math.isfinite(value) else fmt(value)


def comparison_metrics(a: RunResult, b: RunResult) -> list[str]:
    """Dotted paths worth comparing that exist in both runs: totals, sinks, loaded nodes."""
    paths = [f"totals.{k}" for k in ("delivered", "dropped", "dead_lettered", "lost", "retries")]
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
                     "B - A": diff, "± 95%": ci, "change": relative_difference(value_a, value_b),
                     "significant": significant})  # fmt: skip
    columns = ["figure", "A", "A ± 95%", "B", "B ± 95%", "B - A", "± 95%", "change", "significant"]
    return pd.DataFrame(rows, columns=columns)


# ---- model-version timeline (kinds that report `versions` in result.extra) --------------------
def _first(point: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((point[k] for k in keys if k in point), None)


def _timeline(value: Any) -> list[tuple[float, str, str]]:
    """[(time_s, version, event)] from {time_s, version[, event]} mappings or (time, version) pairs."""
    points: list[tuple[float, str, str]] = []
    for point in value if isinstance(value, list | tuple) else []:
        event: Any = ""
        if isinstance(point, dict):
            time, version, event = _first(point, _TIME_KEYS), _first(point, _VERSION_KEYS), point.get("event", "")
        elif isinstance(point, list | tuple) and len(point) == 2:
            time, version = point
        else:
            continue
        if isinstance(time, int | float) and version is not None:
            points.append((float(time), str(version), str(event)))
    return points


def versions_frame(result: RunResult) -> pd.DataFrame:
    """Every `versions` timeline in `result.extra`: node, replication, time_s, version, event."""
    rows = [
        {"node": node, "replication": replication, "time_s": time, "version": version, "event": event}
        for node, entries in result.extra.items()
        for replication, entry in enumerate(entries)
        if isinstance(entry, dict)
        for time, version, event in _timeline(entry.get("versions"))
    ]
    return pd.DataFrame(rows, columns=["node", "replication", "time_s", "version", "event"])
