"""The architecture as a networkx graph, and the structural checks a valid design must pass.

Data edges carry items; reference edges (a `dead_letter` target, later control signals such
as triggers and promotions) are kept apart so that drawings and checks can tell them apart.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowsim.nodes._airflow_installation import DEFAULT_POOL, pool_conflicts
from flowsim.spec.architecture import Architecture

if TYPE_CHECKING:
    import networkx as nx

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class GraphIssue:
    """A structural problem, located by its path in the architecture document."""

    path: Path
    message: str
    hint: str = ""


def build_graph(arch: Architecture) -> nx.MultiDiGraph:
    """Nodes carry `kind` and `config`; edges carry `role` ('data' or the referencing field).

    For drawing; the checks below walk plain adjacency lists, so loading a design does not pay
    for importing networkx.
    """
    import networkx as nx

    graph = nx.MultiDiGraph(name=arch.name)
    for name, config in arch.nodes.items():
        graph.add_node(name, kind=config.kind, config=config)
    for index, edge in enumerate(arch.edges):
        if edge.from_ in arch.nodes and edge.to in arch.nodes:
            graph.add_edge(edge.from_, edge.to, role="data", weight=edge.weight, index=index)
    for name, config in arch.nodes.items():
        for field, target in config.node_references().items():
            if target in arch.nodes:
                graph.add_edge(name, target, role=field, weight=0.0, index=-1)
    return graph


def _suggest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f"did you mean '{close[0]}'?" if close else "known nodes: " + ", ".join(sorted(names))


def graph_issues(arch: Architecture) -> list[GraphIssue]:
    """Every structural problem at once, so a user fixes them in one pass."""
    issues = _endpoint_issues(arch) + _reference_issues(arch) + _pool_issues(arch) + _dataset_issues(arch)
    if issues:  # degree and flow checks would only echo broken edges
        return issues
    return _degree_issues(arch) or _flow_issues(arch)


def successors(arch: Architecture, data_only: bool = False) -> dict[str, list[str]]:
    """Each node's out-neighbours: along data edges, and (unless `data_only`) reference fields."""
    out: dict[str, list[str]] = {name: [] for name in arch.nodes}
    for edge in arch.edges:
        if edge.from_ in out and edge.to in out:
            out[edge.from_].append(edge.to)
    if not data_only:
        for name, config in arch.nodes.items():
            out[name] += [target for target in config.node_references().values() if target in out]
    return out


def predecessors(arch: Architecture, data_only: bool = False) -> dict[str, list[str]]:
    """Each node's in-neighbours (the reverse of `successors`)."""
    back: dict[str, list[str]] = {name: [] for name in arch.nodes}
    for name, targets in successors(arch, data_only).items():
        for target in targets:
            back[target].append(name)
    return back


def reachable(neighbours: dict[str, list[str]], starts: Iterable[str]) -> set[str]:
    """Every node reached from `starts` in one or more steps (a start only if a cycle returns to it)."""
    seen: set[str] = set()
    stack = [n for start in starts for n in neighbours.get(start, [])]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(neighbours.get(node, []))
    return seen


def _endpoint_issues(arch: Architecture) -> list[GraphIssue]:
    names = list(arch.nodes)
    issues: list[GraphIssue] = []
    seen: dict[tuple[str, str], int] = {}
    for index, edge in enumerate(arch.edges):
        for end, field in ((edge.from_, "from"), (edge.to, "to")):
            if end not in arch.nodes:
                issues.append(GraphIssue(("edges", index, field), f"unknown node '{end}'", _suggest(end, names)))
        pair = (edge.from_, edge.to)
        if pair in seen:
            issues.append(
                GraphIssue(
                    ("edges", index),
                    f"duplicate edge {edge.from_} -> {edge.to} (also edges[{seen[pair]}])",
                    "keep one edge and set its weight",
                )
            )
        seen.setdefault(pair, index)
        if edge.to in arch.nodes and not arch.nodes[edge.to].takes_input:
            issues.append(
                GraphIssue(("edges", index, "to"), f"'{edge.to}' is a {arch.nodes[edge.to].kind} and takes no input")
            )
        if edge.from_ in arch.nodes and not arch.nodes[edge.from_].gives_output:
            kind = arch.nodes[edge.from_].kind
            issues.append(GraphIssue(("edges", index, "from"), f"'{edge.from_}' is a {kind} and sends nothing on"))
    return issues


def _reference_issues(arch: Architecture) -> list[GraphIssue]:
    issues: list[GraphIssue] = []
    for name, config in arch.nodes.items():
        for field, target in config.node_references().items():
            if target not in arch.nodes:
                issues.append(
                    GraphIssue(("nodes", name, field), f"unknown node '{target}'", _suggest(target, list(arch.nodes)))
                )
            elif target == name:
                issues.append(GraphIssue(("nodes", name, field), "a node cannot reference itself here"))
            elif field in config.reference_kinds and arch.nodes[target].kind not in config.reference_kinds[field]:
                allowed = " or ".join(config.reference_kinds[field])
                kind = arch.nodes[target].kind
                message = f"'{target}' is a {kind}; {field} must name a {allowed}"
                issues.append(GraphIssue(("nodes", name, field), message))
    return issues


def _pool_issues(arch: Architecture) -> list[GraphIssue]:
    """Pools are installation-wide: one size per name, and every task's pool declared somewhere."""
    dags = arch.dags()
    issues = [
        GraphIssue(("nodes", dag, "pools", pool), message)
        for dag, pool, message in pool_conflicts(arch.airflow, {n: c.pools for n, c in dags.items()})
    ]
    for name, config in dags.items():
        pools = config.installation().all_pools()
        for task_name, task in config.tasks.items():
            where = ("nodes", name, "tasks", task_name)
            if task.pool is not None and task.pool not in pools:
                close = difflib.get_close_matches(task.pool, list(pools), n=1)
                declare = "declare it under the DAG's 'pools' or the architecture's airflow.pools"
                hint = f"did you mean '{close[0]}'? or {declare}" if close else declare
                issues.append(GraphIssue((*where, "pool"), f"task '{task_name}' uses unknown pool '{task.pool}'", hint))
            elif task.pool_slots > pools[task.pool or DEFAULT_POOL]:
                size = pools[task.pool or DEFAULT_POOL]
                message = f"task '{task_name}' needs {task.pool_slots} slots of a pool that has {size}: it never starts"
                issues.append(GraphIssue((*where, "pool_slots"), message, "lower pool_slots or enlarge the pool"))
    return issues


def _dataset_issues(arch: Architecture) -> list[GraphIssue]:
    """A DAG scheduled on a dataset that no DAG's outlets update would never run."""
    dags = arch.dags()
    produced = sorted({d for config in dags.values() for d in config.outlets})
    issues = []
    for name, config in dags.items():
        wanted: list[tuple[Path, str, str]] = [
            (("nodes", name, "schedule_on", index), dataset, f"'{name}' never runs")
            for index, dataset in enumerate(config.schedule_on)
        ]
        wanted += [
            (("nodes", name, "tasks", task_name, "sensor", "dataset"), task.sensor.dataset, "the sensor only times out")
            for task_name, task in config.tasks.items()
            if task.sensor is not None and task.sensor.dataset is not None
        ]
        for path, dataset, outcome in wanted:
            if dataset not in produced:
                close = difflib.get_close_matches(dataset, produced, n=1)
                hint = f"did you mean '{close[0]}'?" if close else (
                    "datasets updated by a DAG's outlets: " + (", ".join(produced) or "none")
                )  # fmt: skip
                message = f"no DAG updates dataset '{dataset}' (none lists it in its outlets), so {outcome}"
                issues.append(GraphIssue(path, message, hint))
    return issues


def _degree_issues(arch: Architecture) -> list[GraphIssue]:
    issues: list[GraphIssue] = []
    data_out = {name: len(targets) for name, targets in successors(arch, data_only=True).items()}
    for name, config in arch.nodes.items():
        if config.gives_output and data_out[name] == 0:
            issues.append(
                GraphIssue(
                    ("nodes", name),
                    f"'{name}' has no out-edge, so its items would vanish uncounted",
                    "add an edge from it, or end the path with a node of kind 'sink'",
                )
            )
    data_targets = successors(arch, data_only=True)  # one pass over the edges, not one per node
    for name, config in arch.nodes.items():
        outputs = data_targets[name]
        issues += [GraphIssue(("nodes", name, f), m, h) for f, m, h in config.edge_problems(outputs)]
    if not any(not config.takes_input for config in arch.nodes.values()):
        issues.append(GraphIssue(("nodes",), "the architecture has no source", "add a node of kind 'source'"))
    return issues


def _flow_issues(arch: Architecture) -> list[GraphIssue]:
    sources = [n for n, c in arch.nodes.items() if not c.takes_input]
    sinks = [n for n, c in arch.nodes.items() if not c.gives_output]
    reached: set[str] = set(sources) | reachable(successors(arch), sources)
    issues = [
        GraphIssue(("nodes", name), f"no source reaches '{name}'", "connect it, or remove it")
        for name in arch.nodes
        if name not in reached
    ]
    can_exit: set[str] = set(sinks) | reachable(predecessors(arch), sinks)
    after = successors(arch)
    for name in arch.nodes:
        if name in reached and name not in can_exit:
            what = f"what '{name}' sends" if name in sources else f"items that reach '{name}'"
            looped = name in reachable(after, [name])
            hint = "give the cycle an exit edge towards a sink" if looped else "connect it, or what follows, to a sink"
            issues.append(GraphIssue(("nodes", name), f"{what} can never leave: no path from it to a sink", hint))
    return issues
