"""The figures that matter for one result, picked the same way for the CLI, the app and scripts.

A scenario's lesson names the figures it is about (`lesson.figures`); they come first.  Then
what any review asks: the input rate (what the sources produced, not a sum of fan-out copies),
every way a message was lost (dropped, dead-lettered, deleted unread) broken down by node, each
kind's declared headline figures that are not zero (lag, duplicates, SLA misses, drift times),
the cost, and the SLO verdicts.  Every figure carries its unit and, with replications, the
half-width of its 95% CI: a mean over three runs of 0.333 messages is said as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from flowsim.confidence import student_t_halfwidth
from flowsim.engine.figures import Figure, declared
from flowsim.nodes.registry import kind_config
from flowsim.results import NodeResult, RunResult, SloVerdict, Totals
from flowsim.spec.architecture import Architecture
from flowsim.spec.scenario import Scenario
from flowsim.units import format_duration

Why = Literal["lesson", "input", "loss", "headline", "cost", "slo"]

#: the ways a message is lost, as (NodeResult field, words)
LOSSES = (("dropped", "dropped (node full)"), ("dead_lettered", "dead-lettered (out of attempts)"),
          ("lost", "deleted unread (retention, expiry)"))  # fmt: skip


@dataclass(frozen=True)
class KeyFigure:
    """One figure worth showing first: where it is in the result, its value, unit and CI."""

    path: str  # a dotted result path (`RunResult.metric`), or "" for a derived figure (the input rate)
    label: str
    value: float | None  # None: not measured (no data)
    unit: str  # messages, messages/s, s, share, cost, or what a kind counts (runs, replicas, ...)
    meaning: str
    why: Why
    ci95: float | None = None
    verdict: str = ""  # SLO rows: passed, failed, uncertain, no data


def declared_of(kind: str) -> tuple[Figure, ...]:
    """The figures a kind declares (none for a kind not installed here, e.g. a result read back)."""
    config = kind_config(kind)
    return config.kind_figures if config is not None else ()


def unit_of(path: str, result: RunResult) -> str:
    """The unit of the figure at a result path (kind figures: what the kind declares)."""
    parts = path.split(".")
    head, leaf = parts[0], parts[-1]
    if head == "cost":
        return "cost/h" if leaf == "per_hour" else "cost"
    if head == "totals":
        return "versions" if "model_versions" in parts else "share" if leaf.endswith("_share") else "messages"
    if head == "nodes" and parts[2:3] == ["kind_figures"]:
        node = result.nodes.get(parts[1])
        figure = declared(declared_of(node.kind), ".".join(parts[3:])) if node else None
        return figure.unit if figure else ""
    if leaf == "throughput_per_s":
        return "messages/s"
    if leaf in ("retries", "failed_attempts", "timeouts"):
        return "attempts"
    if leaf == "utilization":
        return "share"
    if leaf != "count" and any(p.endswith("_s") and not p.endswith("per_s") for p in parts):
        return "s"
    return "messages"


def key_figures(result: RunResult, scenario: Scenario) -> list[KeyFigure]:
    """The lesson's figures, then input, losses, non-zero headline kind figures, cost and SLOs."""
    picked: list[KeyFigure] = []
    if scenario.lesson is not None:
        picked += [_at(result, scenario, path, "lesson") for path in scenario.lesson.figures]
    seen = {f.path for f in picked}
    rest = [_input(result, scenario), *_losses(result, scenario), *_headlines(result), *_cost(result)]
    picked += [f for f in rest if not f.path or f.path not in seen]
    picked += [_slo(result, verdict) for verdict in result.slos]
    return picked


def _at(result: RunResult, scenario: Scenario, path: str, why: Why, label: str = "", meaning: str = "") -> KeyFigure:
    parts = path.split(".")
    if not meaning and parts[0] == "nodes" and len(parts) > 3 and parts[1] in result.nodes:
        figure = declared(declared_of(result.nodes[parts[1]].kind), ".".join(parts[3:]))
        meaning = figure.meaning if figure else ""
    ci = result.ci(path) if parts[0] != "totals" else totals_ci(result, scenario.arch, parts[1])
    if not meaning and parts[0] == "totals" and parts[1] in Totals.model_fields:
        meaning = Totals.model_fields[parts[1]].description or ""
    if not label:
        label = f"{parts[1]}: {'.'.join(parts[3:] if parts[2:3] == ['kind_figures'] else parts[2:])}"
        label = label if parts[0] in ("nodes", "end_to_end") else path
    return KeyFigure(path, label, result.metric(path), unit_of(path, result), meaning, why, ci)


def totals_ci(result: RunResult, arch: Architecture, field: str) -> float | None:
    """The 95% half-width of a total over replications, summed per replication as `Totals` is
    (sources' arrivals; every data node for the rest)."""
    if result.replications < 2 or field not in ("arrivals", "dropped", "dead_lettered", "lost", "retries"):
        return None
    names = arch.sources() if field == "arrivals" else [n for n in arch.nodes if n not in arch.control_nodes()]
    rows = [
        sum(row.get(field, 0.0) for name, row in rep.items() if name in names) for rep in result.replications_figures()
    ]
    return float(student_t_halfwidth(rows)) if len(rows) > 1 else None


def _input(result: RunResult, scenario: Scenario) -> KeyFigure:
    window = result.window_s
    ci = totals_ci(result, scenario.arch, "arrivals")
    return KeyFigure(
        "", "input rate", result.totals.arrivals / window if window > 0 else None, "messages/s",
        "messages the sources produced per second of the window, each once (not a sum of fan-out copies)",
        "input", ci / window if ci is not None and window > 0 else None,
    )  # fmt: skip


def _losses(result: RunResult, scenario: Scenario) -> list[KeyFigure]:
    """Messages lost every way, in total and by node and cause; nothing when none was."""
    totals = result.totals
    every = totals.dropped + totals.dead_lettered + totals.lost
    if every <= 0:
        return []
    parts = ", ".join(f"{words} {getattr(totals, field):,.6g}" for field, words in LOSSES if getattr(totals, field))
    every_ci = losses_ci(result, scenario.arch)
    rows = [KeyFigure("", "messages lost, every way", every, "messages", parts, "loss", every_ci)]
    control = scenario.arch.control_nodes()
    for name, node in result.nodes.items():
        for field, words in LOSSES:
            if name not in control and getattr(node, field) > 0:
                rows.append(_at(result, scenario, f"nodes.{name}.{field}", "loss", f"{name}: {field}", words))
    return rows


def losses_ci(result: RunResult, arch: Architecture) -> float | None:
    """The 95% half-width of dropped + dead-lettered + lost over replications."""
    if result.replications < 2:
        return None
    data = [n for n in arch.nodes if n not in arch.control_nodes()]
    rows = [
        sum(rep[n].get(f, 0.0) for n in data if n in rep for f, _ in LOSSES) for rep in result.replications_figures()
    ]
    return float(student_t_halfwidth(rows)) if len(rows) > 1 else None


def _headlines(result: RunResult) -> list[KeyFigure]:
    rows = []
    for name, node in result.nodes.items():
        figures = declared_of(node.kind)
        for key, value in node.kind_figures.items():
            figure = declared(figures, key)
            if figure is not None and figure.headline and math.isfinite(value) and value != 0:
                path = f"nodes.{name}.kind_figures.{key}"
                rows.append(KeyFigure(path, f"{name}: {key}", value, figure.unit, figure.meaning, "headline",
                                      node.ci95.get(key)))  # fmt: skip
    return rows


def _cost(result: RunResult) -> list[KeyFigure]:
    if result.cost is None or result.cost.total <= 0:
        return []
    return [KeyFigure("cost.total", "cost of the window", result.cost.total, "cost",
                      f"{result.cost.per_hour:,.4g} per hour over {result.cost.hours:.3g} h", "cost")]  # fmt: skip


def _slo(result: RunResult, verdict: SloVerdict) -> KeyFigure:
    state = "no data" if verdict.value is None else "passed" if verdict.passed else "failed"
    state += ", uncertain (the target is inside the 95% CI)" if verdict.uncertain else ""
    unit = unit_of(verdict.metric, result)
    # the target in the figure's unit, as the value beside it is shown (2h, not 7200s)
    if unit == "s":
        target = format_duration(verdict.threshold)
    elif unit == "share":
        target = f"{verdict.threshold * 100:g}%"
    else:
        target = f"{verdict.threshold:g}" + (f" {unit}" if unit else "")
    return KeyFigure(verdict.metric, f"SLO {verdict.slo}", verdict.value, unit, f"target {verdict.op} {target}",
                     "slo", verdict.ci95, state)  # fmt: skip


# ---- simulated load and the bottleneck -------------------------------------------------------------
LAG_FULL_SCALE_S = 60.0  # in the diagram, a consumer group a minute behind is as red as a saturated server
_LAG_FIGURES = ("lag_mean_seconds", "lag_seconds")


def _kind_max(node: NodeResult, names: Callable[[str], bool]) -> float | None:
    """Largest kind figure whose name (before any '.group' suffix) passes `names`."""
    values = [v for k, v in node.kind_figures.items() if names(k.split(".")[0]) and math.isfinite(v)]
    return max(values, default=None)


def node_utilization(node: NodeResult) -> float | None:
    """Busy fraction: the node's own, or the largest `*utilization` kind figure (consumers, GPUs, writes)."""
    if node.utilization is not None:
        return float(node.utilization)
    return _kind_max(node, lambda name: name.endswith("utilization"))


def node_lag_s(node: NodeResult) -> float | None:
    """Mean consumer lag in seconds (the largest over consumer groups), for kinds that report one."""
    return _kind_max(node, lambda name: name in _LAG_FIGURES)


def node_load(node: NodeResult) -> float | None:
    """Load in [0, 1]: utilization, or lag on a scale where LAG_FULL_SCALE_S behind counts as saturated."""
    lag = node_lag_s(node)
    present = [v for v in (node_utilization(node), None if lag is None else lag / LAG_FULL_SCALE_S) if v is not None]
    return min(1.0, max(present)) if present else None


def node_loads(result: RunResult) -> dict[str, float]:
    return {name: load for name, node in result.nodes.items() if (load := node_load(node)) is not None}


def bottleneck(result: RunResult) -> str | None:
    """The node the design saturates first, named alike by the diagram, the theory summary and
    the key figures: the analytic view's bottleneck (the highest offered load at its binding
    stage, every kind through its flow law); when the analysis names none (no node with a
    finite capacity), the node with the highest simulated load."""
    named = result.analysis.bottleneck
    if named is not None and named in result.nodes:
        return named
    loads = node_loads(result)
    return max(loads, key=lambda n: loads[n], default=None)
