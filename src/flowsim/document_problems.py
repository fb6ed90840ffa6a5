"""Problems found in a YAML document after its schema passed, each located at its line and field.

Names and edges checked in the raw data (so they come with the schema's own errors), a cycle
with no steady state, faults and SLOs against the architecture, retry policies against the
scenario's, and the override to blame when a value came from `--set`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from flowsim.errors import FlowsimError, Problem
from flowsim.metric_paths import path_issues
from flowsim.references import close, fault_issues, slo_issues
from flowsim.semantics import scenario_issues
from flowsim.spec.architecture import NODE_NAME, Architecture
from flowsim.spec.scenario import Scenario
from flowsim.spec.yamlio import YamlDocument, format_path

ARROW_ENDS = re.compile(r"^\s*(\S+?)\s*->\s*(\S+?)\s*$")


def traffic_problems(arch: Architecture, doc: YamlDocument, prefix: tuple[str | int, ...]) -> list[Problem]:
    """A cycle that keeps or multiplies its flow has no steady state: said at the edges, in the file."""
    from flowsim.analysis.view import arrival_rates  # local: the analytic layer loads only to check

    try:
        arrival_rates(arch)
    except FlowsimError as err:
        hint = "give the cycle an exit edge, lower its weights, or drop fan-out copies around it"
        return [located(doc, (*prefix, "edges"), str(err).removeprefix(f"architecture '{arch.name}': "), hint)]
    return []


def name_problems(data: Any, doc: YamlDocument, prefix: tuple[str | int, ...]) -> list[Problem]:
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        return []
    return [
        located(
            doc,
            (*prefix, "nodes", name),
            f"node name {name!r} is not allowed",
            "start with an ASCII letter or '_'; then ASCII letters, digits, '_' or '-'",
        )
        for name in data["nodes"]
        if not NODE_NAME.match(str(name))
    ]


def edge_problems(data: Any, doc: YamlDocument, prefix: tuple[str | int, ...]) -> list[Problem]:
    """Edges to unknown nodes, found in the raw data so they are reported with schema errors."""
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict) or not isinstance(data.get("edges"), list):
        return []
    names = [str(n) for n in data["nodes"]]
    problems = []
    for index, edge in enumerate(data["edges"]):
        ends = ARROW_ENDS.findall(edge) if isinstance(edge, str) else []
        pairs = list(zip(("from", "to"), ends[0], strict=True)) if len(ends) == 1 else []
        if isinstance(edge, dict):
            pairs = [(f, edge[f]) for f in ("from", "to") if isinstance(edge.get(f), str)]
        for field, name in pairs:
            if name not in names:
                problems.append(
                    located(doc, (*prefix, "edges", index, field), f"unknown node '{name}'", close(name, names))
                )
    return problems


def blame_overrides(
    problems: list[Problem],
    prefix: tuple[str | int, ...],
    overrides: dict[str, Any],
    scenario_doc: YamlDocument | None = None,
    written: tuple[str, ...] = (),
) -> list[Problem]:
    """A problem in a value an override set names the override.  One written in the scenario's
    `overrides:` (`written`, keys as there) is located at its own line in `scenario_doc`; one
    given on the command line keeps the file's line and says which `--set` it was."""
    if not overrides:
        return problems
    base = format_path(prefix)
    blamed = []
    for problem in problems:
        field = problem.field.removeprefix(base).lstrip(".")
        culprit = next((p for p in overrides if field == p or field.startswith(p + ".")), None)
        key = next((k for k in written if culprit in (k, k.removeprefix("architecture."))), None)
        if culprit is not None and key is not None and scenario_doc is not None:
            elsewhere = f" in {Path(problem.source).name}" if problem.source != scenario_doc.source else ""
            note = f"this override sets {problem.field}{elsewhere}"
            problem = located(scenario_doc, ("overrides", key), problem.message, _joined(problem.hint, note))
        elif culprit is not None:
            note = f"the value comes from the override {culprit}={overrides[culprit]!r}"
            problem = replace(problem, hint=_joined(problem.hint, note))
        blamed.append(problem)
    return blamed


def _joined(hint: str, note: str) -> str:
    return f"{hint}; {note}" if hint else note


def located(doc: YamlDocument, path: tuple[str | int, ...], message: str, hint: str = "") -> Problem:
    mark = doc.key_marks.get(path) or doc.mark_for(path)
    return Problem(
        message, doc.source, mark.line if mark else None, mark.column if mark else None, format_path(path), hint
    )


# ---- cross-references ---------------------------------------------------------------------
def reference_problems(
    scenario: Scenario, doc: YamlDocument, arch: Architecture | None, written: list[str] | None = None
) -> list[Problem]:
    """Faults and SLOs against the architecture (`arch` may be the part of a refused one that
    validated, `written` every node name its file holds), and faults against the run's span."""
    issues = scenario_issues(scenario)
    if arch is not None:
        names = written if written is not None else list(arch.nodes)
        faults, slos = dict(enumerate(scenario.faults)), dict(enumerate(scenario.slos))
        issues = fault_issues(faults, arch, names) + issues + slo_issues(slos, arch, names)
        issues += path_issues(scenario, arch)
    return [located(doc, path, message, hint) for path, message, hint in issues]


def policy_problems(scenario: Scenario, doc: YamlDocument, prefix: tuple[str, ...]) -> list[Problem]:
    """Retry policies named by nodes must be defined in the scenario's retry_policies."""
    problems = []
    known = list(scenario.retry_policies)
    for name, config in scenario.arch.nodes.items():
        retry = getattr(config, "retry", None)
        if isinstance(retry, str) and retry not in scenario.retry_policies:
            hint = close(retry, known) if known else "define it under the scenario's retry_policies"
            message = f"retry policy '{retry}' is not defined in the scenario"
            problems.append(located(doc, (*prefix, "nodes", name, "retry"), message, hint))
    return problems
