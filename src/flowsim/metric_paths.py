"""Metric paths (SLOs, sweep measures, lessons) checked against the figures a result will have.

A node's standard figures are `NodeResult`'s fields; its kind's own figures are what the kind
declares (`NodeConfig.kind_figures`, flowsim.engine.figures), so a typo in
`nodes.events.kind_figures.lag_mx_s` is refused when the scenario loads, naming the real ones.
"""

from __future__ import annotations

import difflib
import math
from typing import Literal

from flowsim.cost import COST_FIGURES
from flowsim.engine.figures import Figure
from flowsim.engine.figures import declared as declared_figure
from flowsim.nodes.base import NodeConfig
from flowsim.results import NodeResult, Percentiles, Totals, VersionTotals
from flowsim.spec.architecture import Architecture
from flowsim.spec.scenario import Scenario


def _close(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"did you mean '{close[0]}'?" if close else "choose from: " + ", ".join(options)


_NODE_FIGURES = sorted(set(NodeResult.model_fields) - {"kind", "kind_figures", "ci95"})
_STATS = sorted(set(Percentiles.model_fields))
_SINK_FIGURES = ["count", "throughput_per_s", "latency_s"]


def check_metric(metric: str, arch: Architecture, written: list[str] | None = None) -> tuple[str, str]:
    """('', '') when `metric` names a figure the result will have; else (message, hint)."""
    parts = metric.split(".")
    head = parts[0]
    if head == "totals":
        fields = [f for f in Totals.model_fields if f != "model_versions"]
        if len(parts) == 2 and parts[1] in fields:
            return "", ""
        if len(parts) == 3 and parts[1] == "model_versions" and parts[2] in VersionTotals.model_fields:
            return "", ""
        return f"unknown metric '{metric}'", _close(parts[-1], fields)
    if head == "cost":
        if len(parts) == 2 and parts[1] in COST_FIGURES:
            return "", ""
        return f"unknown metric '{metric}'", _close(parts[-1], list(COST_FIGURES))
    if head not in ("nodes", "end_to_end") or len(parts) < 3:
        return (
            f"unknown metric '{metric}'",
            "write nodes.<node>.<figure>, end_to_end.<sink>.<figure>, totals.<figure> or cost.<total|per_hour>",
        )
    name = parts[1]
    if name not in arch.nodes:
        return f"unknown node '{name}' in metric '{metric}'", _close(name, written or list(arch.nodes))
    if head == "end_to_end":
        if arch.nodes[name].gives_output:
            sinks = [n for n, c in arch.nodes.items() if not c.gives_output]
            return f"'{name}' is not a sink; end-to-end figures exist for sinks only", _close(name, sinks)
        return _check_figure(metric, parts[2:], _SINK_FIGURES, "latency_s")
    declared = kind_figure_keys(arch, name)
    if parts[2] == "kind_figures" and len(parts) >= 4:
        return _check_kind_figure(metric, ".".join(parts[3:]), arch.nodes[name], declared)
    if parts[2] not in _NODE_FIGURES and any(f.matches(".".join(parts[2:])) for f in arch.nodes[name].kind_figures):
        return f"unknown figure '{parts[2]}' in metric '{metric}'", f"a figure of its kind: write {_kind_path(metric)}"
    config = arch.nodes[name]
    if parts[2] in _HELD_FIGURES and not (config.takes_input and config.gives_output):
        what = "a source" if not config.takes_input else "a sink"
        return (
            f"'{name}' ({config.kind}) never has '{parts[2]}': {what} has no queue and no servers (it is null in "
            "every run)",
            "put the SLO on a node that serves or holds work, or on end_to_end.<sink>.latency_s",
        )
    return _check_figure(metric, parts[2:], _NODE_FIGURES, "wait_s", "sojourn_s")


#: figures of what a node holds: none for a source or a sink (they are null in every run)
_HELD_FIGURES = frozenset({"utilization", "mean_queue_length", "mean_in_node", "wait_s", "sojourn_s"})


def metric_unit(metric: str, arch: Architecture | None = None) -> Literal["time", "rate", "plain"]:
    """What a figure measures: a kind's own figure in the unit it declares (`lag_max_seconds.<group>`
    is in s, whatever the group is called); else by flowsim's naming rule: `*_per_s` a rate,
    `*_s` / `*_seconds` a time in seconds (a statistic of one too: `latency_s.p99`, but its
    `count` is a count), anything else a count or a ratio."""
    parts = metric.split(".")
    if arch is not None and parts[0] == "nodes" and parts[2:3] == ["kind_figures"] and parts[1] in arch.nodes:
        figure = declared_figure(arch.nodes[parts[1]].kind_figures, ".".join(parts[3:]))
        if figure is not None:
            return "time" if figure.unit == "s" else "rate" if figure.unit.endswith("/s") else "plain"
    if parts[-1] == "count" and len(parts) > 1:
        return "plain"
    name = parts[-2] if len(parts) > 1 and parts[-1] in _STATS else parts[-1]
    if name.endswith("_per_s"):
        return "rate"
    return "time" if name.endswith(("_s", "_seconds")) else "plain"


def is_fraction(metric: str, arch: Architecture | None = None) -> bool:
    """A figure from 0 to 1: utilization, a `*_share`, a totals share, or a kind figure declared in
    the unit "share" (`consumer_utilization.<group>`)."""
    parts = metric.split(".")
    if arch is not None and parts[0] == "nodes" and parts[2:3] == ["kind_figures"] and parts[1] in arch.nodes:
        figure = declared_figure(arch.nodes[parts[1]].kind_figures, ".".join(parts[3:]))
        if figure is not None:
            return figure.unit == "share"
    name = parts[-1]
    return name in ("utilization", "error_rate") or name.endswith("_share")


def threshold_issue(metric: str, unit: str, op: str, value: float, arch: Architecture | None = None) -> tuple[str, str]:
    """('', '') when an SLO's threshold fits its metric; else (message, hint).

    A duration threshold on a count (`utilization < 0.5s`) or a rate on a time is a slip, not a
    unit to convert; so is a share (5%) on a count (`totals.dropped < 5%` would compare 58
    messages with 0.05). A negative threshold on a time or a rate, which are never below 0, makes
    the SLO always fail (<, <=, ==) or always pass (>, >=, !=)."""
    kind = metric_unit(metric, arch)
    fraction = is_fraction(metric, arch)
    fits = {"time": ("number", "duration"), "rate": ("number", "rate"), "plain": ("number", "share")}[kind]
    if unit not in fits:
        wanted = {
            "time": "a duration (2s, 500ms)",
            "rate": "a rate (10/s, 600/min)",
            "plain": "a number or a share (5%)" if fraction else "a number",
        }
        what = {"time": "a time in seconds", "rate": "a rate per second", "plain": "a count or a ratio"}[kind]
        return f"'{metric}' is {what}, but its threshold is written as a {unit}", f"write {wanted[kind]}"
    if unit == "share" and not fraction:
        share = f"'totals.loss_share {op} {value * 100:g}%'" if metric.startswith("totals.") else "utilization"
        return (
            f"'{metric}' is a count, not a share: its threshold {value * 100:g}% would be compared with "
            f"a number ({value:g})",
            f"write a count, e.g. '{metric} {op} 100', or put the percentage on a share such as {share}",
        )
    if fraction and not 0 <= value <= 1:
        return (
            f"'{metric}' is a fraction from 0 to 1: a threshold of {value:g} decides nothing",
            "write a fraction or a share, e.g. 0.8 or 80%",
        )
    if metric == "totals.unaccounted":  # the one figure that may be negative
        return "", ""
    high = 1.0 if fraction else math.inf
    always = decided(op, value, 0.0, high)
    if always:
        bound = "below 0" if value <= 0 else "above 1"
        return (
            f"'{metric}' is never {bound}, so this SLO would always {always} (threshold {value:g})",
            "compare with a threshold inside the figure's range"
            + (", e.g. '> 0' or '== 0'" if bound == "below 0" else ", e.g. '< 0.9'"),
        )
    return "", ""


def decided(op: str, value: float, low: float, high: float) -> str:
    """'fail' or 'pass' when `figure op value` holds for no or for every figure in [low, high]; else ''."""
    never = {"<": value <= low, "<=": value < low, ">": value >= high, ">=": value > high,
             "==": value < low or value > high, "!=": False}[op]  # fmt: skip
    every = {"<": value > high, "<=": value >= high, ">": value < low, ">=": value <= low,
             "==": False, "!=": value < low or value > high}[op]  # fmt: skip
    return "fail" if never else "pass" if every else ""


def engine_gap(metric: str, arch: Architecture, engine: str) -> tuple[str, str]:
    """('', '') unless `metric` is a kind figure that `engine` does not compute (then: message, hint)."""
    found = _kind_figure_of(metric, arch)
    if engine not in ("per_message", "fluid") or found is None:
        return "", ""
    config, _key, figure = found
    if engine in figure.engines:
        return "", ""
    message = f"the {engine} engine does not compute '{figure.name}' of kind '{config.kind}': '{metric}' has no data"
    other = "per_message" if engine == "fluid" else "fluid"
    return message, f"only the {other} engine does: set engine: {other} (or auto)"


def kind_figure_keys(arch: Architecture, name: str) -> list[str]:
    """The keys of the figures node `name`'s kind declares (a topic's per group: one per out-edge)."""
    groups = list(dict.fromkeys(edge.to for edge in arch.edges if edge.from_ == name))
    return [key for figure in arch.nodes[name].kind_figures for key in figure.keys(groups)]


def _kind_path(metric: str) -> str:
    parts = metric.split(".")
    return ".".join([*parts[:2], "kind_figures", *parts[2:]])


def _check_kind_figure(metric: str, key: str, config: NodeConfig, declared: list[str]) -> tuple[str, str]:
    """A `kind_figures` path against what the node's kind declares (flowsim.engine.figures)."""
    figure = declared_figure(config.kind_figures, key)
    if figure is not None and (figure.per != "group" or key in declared):
        return "", ""
    if not declared:
        return (
            f"kind '{config.kind}' reports no figures of its own, so metric '{metric}' never has a value",
            "its figures are the node's own: " + ", ".join(_NODE_FIGURES),
        )
    message = f"'{key}' is not a figure of kind '{config.kind}' in metric '{metric}'"
    close = difflib.get_close_matches(key, declared, n=1)
    listed = ", ".join(declared)
    return message, (f"did you mean '{close[0]}'? " if close else "") + f"its figures are: {listed}"


def _check_figure(metric: str, rest: list[str], figures: list[str], *timed: str) -> tuple[str, str]:
    if rest[0] not in figures:
        return f"unknown figure '{rest[0]}' in metric '{metric}'", _close(rest[0], figures)
    if rest[0] in timed:
        if len(rest) == 2 and rest[1] not in _STATS:
            return f"'{rest[1]}' is not a statistic of '{rest[0]}' in metric '{metric}'", _close(rest[1], _STATS)
        if len(rest) != 2:
            return f"'{rest[0]}' needs a statistic in metric '{metric}'", "one of: " + ", ".join(_STATS)
    elif len(rest) != 1:
        return f"unknown metric '{metric}'", f"'{rest[0]}' is a single number"
    return "", ""


def path_issues(
    scenario: Scenario, arch: Architecture, engine: str | None = None
) -> list[tuple[tuple[str | int, ...], str, str]]:
    """The lesson's figures checked like SLO metrics, and every SLO or lesson path to a kind figure
    the engine (the scenario's own when not given) does not compute, as (field path, message, hint)."""
    engine = engine or scenario.engine
    issues: list[tuple[tuple[str | int, ...], str, str]] = []
    for index, metric in enumerate(scenario.lesson.figures if scenario.lesson else []):
        message, hint = check_metric(metric, arch)
        message, hint = (message, hint) if message else engine_gap(metric, arch, engine)
        if message:
            issues.append((("lesson", "figures", index), message, hint))
    for index, slo in enumerate(scenario.slos):
        if not check_metric(slo.metric, arch)[0]:
            message, hint = engine_gap(slo.metric, arch, engine)
            message, hint = (message, hint) if message else never_reported(slo.metric, scenario, arch)
            if message:
                issues.append((("slos", index), message, hint))
    return issues


def _kind_figure_of(metric: str, arch: Architecture) -> tuple[NodeConfig, str, Figure] | None:
    """(node config, result key, declared figure) of a `nodes.<node>.kind_figures.<key>` metric."""
    parts = metric.split(".")
    if parts[0] != "nodes" or parts[2:3] != ["kind_figures"] or parts[1] not in arch.nodes:
        return None
    config, key = arch.nodes[parts[1]], ".".join(parts[3:])
    figure = declared_figure(config.kind_figures, key)
    return None if figure is None else (config, key, figure)


def never_reported(metric: str, scenario: Scenario, arch: Architecture) -> tuple[str, str]:
    """('', '') unless `metric` is a conditional kind figure its node's config never reports (an SLO
    on it would fail every run with "no data"): then (message, hint)."""
    found = _kind_figure_of(metric, arch)
    if found is None or not found[2].only_with:
        return "", ""
    config, key, figure = found
    node = metric.split(".")[1]
    groups = {fault.group for fault in scenario.faults if fault.node == node and fault.group is not None}
    absent = config.figure_never_reported(figure, key, groups)
    if absent is None:
        return "", ""
    return f"'{metric}' is never reported: {absent[0]} (this SLO would fail every run with no data)", absent[1]
