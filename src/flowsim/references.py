"""Cross-references by name, and what can still be checked when the schema refused part of a file.

A name is a promise that something of that name exists: an edge's ends, a fault's node, an SLO's
node and figure, a task's `depends_on`.  Each broken promise gets a did-you-mean.  These checks
run even when the schema refused other parts of the file: each node, edge, fault and SLO is
validated on its own, and the ones that pass are checked, so one `flowsim validate` reports every
problem instead of one layer per round.  Each problem is an Issue (path, message, hint) for the
loader to locate in the file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from flowsim.metric_paths import check_metric, threshold_issue
from flowsim.nodes._airflow_installation import INSTALLATION
from flowsim.nodes.registry import kinds
from flowsim.policies import FaultSpec
from flowsim.spec.architecture import Architecture, Edge, EdgeSpec, NodeSpec
from flowsim.spec.scenario import Scenario, Slo, SloSpec
from flowsim.units import format_duration

Issue = tuple[tuple[str | int, ...], str, str]


def close(word: str, options: Iterable[str]) -> str:
    """'did you mean ...?' for the nearest option, else the options themselves."""
    known = list(options)
    match = difflib.get_close_matches(word, known, n=1)
    return f"did you mean '{match[0]}'?" if match else "choose from: " + ", ".join(known)


# ---- parts that validate alone ---------------------------------------------------------------
def valid_items(adapter: TypeAdapter[Any], values: Any, context: Mapping[str, Any] | None = None) -> dict[Any, Any]:
    """index (list) or key (mapping) -> the validated item, for the items that validate alone."""
    pairs = values.items() if isinstance(values, dict) else enumerate(values) if isinstance(values, list) else ()
    found = {}
    for key, value in pairs:
        try:
            found[key] = adapter.validate_python(value, context=context)
        except (ValidationError, ValueError, TypeError):
            continue
    return found


_NODE: TypeAdapter[Any] = TypeAdapter(NodeSpec)
_EDGE: TypeAdapter[Any] = TypeAdapter(Edge)
_FAULT: TypeAdapter[Any] = TypeAdapter(FaultSpec)
_SLO: TypeAdapter[Any] = TypeAdapter(Slo)
_DURATION_FIELD = Scenario.model_fields["duration"]
_DURATION: TypeAdapter[Any] = TypeAdapter(Annotated[_DURATION_FIELD.annotation, *_DURATION_FIELD.metadata])


def partial_architecture(data: Any, context: Mapping[str, Any]) -> Architecture | None:
    """The nodes of a refused architecture that validate alone, and its edges if all of them do.

    Built without validating the whole (no graph rules hold for it): enough for the checks that
    read one node or one edge at a time.  None when even the node mapping is missing.
    """
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        return None
    nodes = valid_items(_NODE, data["nodes"], context)
    given = data.get("edges")
    raw_edges: list[Any] = given if isinstance(given, list) else []
    edges = valid_items(_EDGE, raw_edges)
    kept: list[EdgeSpec] = [edges[i] for i in range(len(raw_edges))] if len(edges) == len(raw_edges) else []
    name = str(data.get("name") or "?")
    return Architecture.model_construct(name=name, nodes={str(k): v for k, v in nodes.items()}, edges=kept)


def raw_node_names(data: Any) -> list[str]:
    """Every node name written in an architecture's data, valid or not, in file order."""
    nodes = data.get("nodes") if isinstance(data, dict) else None
    return [str(name) for name in nodes] if isinstance(nodes, dict) else []


# ---- names ---------------------------------------------------------------------------------
def task_issues(data: Any) -> list[Issue]:
    """`depends_on` naming a task its DAG does not have, at the name itself, with a did-you-mean."""
    nodes = data.get("nodes") if isinstance(data, dict) else None
    issues: list[Issue] = []
    for node, config in (nodes or {}).items() if isinstance(nodes, dict) else ():
        tasks = config.get("tasks") if isinstance(config, dict) and config.get("kind") == "airflow_dag" else None
        if not isinstance(tasks, dict):
            continue
        names = [str(t) for t in tasks]
        for task, spec in tasks.items():
            deps = spec.get("depends_on") if isinstance(spec, dict) else None
            for index, dep in enumerate(deps if isinstance(deps, list) else []):
                if isinstance(dep, str) and dep not in tasks:
                    path = ("nodes", str(node), "tasks", str(task), "depends_on", index)
                    issues.append((path, f"task '{task}' depends on unknown task '{dep}'", close(dep, names)))
    return issues


def fault_issues(faults: Mapping[int, FaultSpec], arch: Architecture, written: list[str]) -> list[Issue]:
    """Faults on nodes that do not exist or cannot fail; nodes the schema refused are not judged."""
    issues: list[Issue] = []
    for index, fault in faults.items():
        where = ("faults", index, "node")
        if fault.node == INSTALLATION and fault.node not in arch.nodes:
            if not arch.dags():
                issues.append((where, "a fault on 'airflow' (the scheduler) needs an airflow_dag",
                               "add an airflow_dag node, or name the node to take down"))  # fmt: skip
        elif fault.node not in arch.nodes:
            if fault.node not in set(written):
                issues.append((where, f"unknown node '{fault.node}'", close(fault.node, written or list(arch.nodes))))
        elif not arch.nodes[fault.node].can_fail:
            here = sorted(name for name, c in arch.nodes.items() if c.can_fail)
            hint = (
                "take down one of " + ", ".join(f"'{n}'" for n in here)
                if here
                else "faults apply to nodes of the kinds " + ", ".join(k for k, c in kinds().items() if c.can_fail)
            )
            issues.append((where, f"a {arch.nodes[fault.node].kind} cannot be taken down", hint))
        elif fault.group is not None:
            outputs = [edge.to for edge in arch.edges if edge.from_ == fault.node]
            found = arch.nodes[fault.node].fault_part_problem(fault.group, fault.consumer, fault.consumers, outputs)
            if found is not None:
                issues.append((("faults", index, found[0]), found[1], found[2]))
        elif fault.broker is not None:
            problem = arch.nodes[fault.node].fault_broker_problem(fault.broker)
            if problem is not None:
                issues.append((("faults", index, "broker"), problem[0], problem[1]))
    return issues


def slo_issues(slos: Mapping[int, SloSpec], arch: Architecture, written: list[str]) -> list[Issue]:
    """SLO metrics that name no figure the result will have (a refused node's figures are not judged)."""
    issues: list[Issue] = []
    refused_nodes = set(written) - set(arch.nodes)
    for index, slo in slos.items():
        parts = slo.metric.split(".")
        refused = len(parts) > 1 and parts[0] in ("nodes", "end_to_end") and parts[1] in refused_nodes
        message, hint = ("", "") if refused else check_metric(slo.metric, arch, written)
        if not message:
            message, hint = threshold_issue(slo.metric, slo.unit, slo.op, slo.value, arch)
        if message:
            issues.append((("slos", index), message, hint))
    return issues


def salvaged_scenario_issues(data: Any, arch: Architecture | None, written: list[str]) -> list[Issue]:
    """Fault and SLO names of a scenario the schema refused, for the entries that validate alone."""
    if not isinstance(data, dict) or arch is None:
        return []
    faults = valid_items(_FAULT, data.get("faults"))
    slos = valid_items(_SLO, data.get("slos"))
    return fault_issues(faults, arch, written) + slo_issues(slos, arch, written) + _late_faults(data, faults)


def _late_faults(data: dict[str, Any], faults: Mapping[int, FaultSpec]) -> list[Issue]:
    """Outages after the run ends, when the scenario's `duration` validates alone."""
    try:
        duration = float(_DURATION.validate_python(data.get("duration")))
    except (ValidationError, ValueError, TypeError):
        return []
    end = format_duration(duration)
    return [
        (("faults", i, "at"), f"the outage starts at {format_duration(f.at)}, after the run ends ({end})",
         "start it before 'duration'")
        for i, f in faults.items()
        if f.at is not None and f.at >= duration
    ]  # fmt: skip
