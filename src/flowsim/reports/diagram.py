"""Diagrams of an architecture: Mermaid and Graphviz DOT text, and a PNG.

Text formats are written by hand (no pygraphviz), so they work anywhere and paste straight
into Markdown (Mermaid) or `dot -Tsvg` (DOT).  The PNG is Graphviz's rendering of the same DOT
when the `dot` program is installed (it lays out and sizes labels itself), else a matplotlib
drawing.  Data edges are solid; reference edges (e.g. a `dead_letter` target) are dashed and
labelled with the field that creates them.  Each kind has its own colour and shape in every
format (reports.kind_style).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from flowsim.errors import FlowsimError
from flowsim.graph import build_graph
from flowsim.nodes.registry import kinds
from flowsim.reports.kind_style import STYLES, KindStyle, style
from flowsim.spec.architecture import Architecture

GRAPHVIZ_TIMEOUT_S = 60.0
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_]")


@dataclass(frozen=True)
class DrawnEdge:
    """One edge as every format draws it."""

    source: str
    target: str
    role: str  # 'data' or the referencing field, e.g. 'dead_letter'
    weight: float

    @property
    def label(self) -> str:
        if self.role != "data":
            return self.role
        return "" if self.weight == 1 else f"weight {self.weight:g}"


def edges(arch: Architecture) -> list[DrawnEdge]:
    """Data edges in file order, then reference edges."""
    graph = build_graph(arch)
    found = [DrawnEdge(u, v, str(d["role"]), float(d["weight"])) for u, v, d in graph.edges(data=True)]
    order = {name: i for i, name in enumerate(arch.nodes)}  # one lookup per edge, not a scan
    return sorted(found, key=lambda e: (e.role != "data", order[e.source]))


def kind_styles(arch: Architecture) -> dict[str, KindStyle]:
    """The look of each kind present, fixed by kind (a plugin's by registry order): the same in every diagram."""
    plugins = [k for k in kinds() if k not in STYLES]  # registry order: the same index in every diagram
    present = sorted({arch.node(name).kind for name in arch.nodes})
    return {kind: style(kind, plugins.index(kind) if kind in plugins else 0) for kind in present}


def kind_colors(arch: Architecture) -> dict[str, str]:
    """Hex colour of each kind present."""
    return {kind: look.color for kind, look in kind_styles(arch).items()}


# ---- Mermaid --------------------------------------------------------------------------------
def _mermaid_ids(arch: Architecture) -> dict[str, str]:
    """Plain ids: names may hold '-' (read as an arrow) or be keywords such as `end`."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for name in arch.nodes:
        base = "n_" + _UNSAFE_ID.sub("_", name)
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        ids[name] = candidate
        taken.add(candidate)
    return ids


def to_mermaid(arch: Architecture) -> str:
    """A `flowchart LR` with node shapes and colours by kind."""
    ids = _mermaid_ids(arch)
    looks = kind_styles(arch)
    lines = ["flowchart LR"]
    for name in arch.nodes:
        kind = arch.node(name).kind
        left, right = looks[kind].mermaid
        lines.append(f'    {ids[name]}{left}"{name}<br/><i>{kind}</i>"{right}')
    for edge in edges(arch):
        arrow = "-->" if edge.role == "data" else "-.->"
        label = f'|"{edge.label}"|' if edge.label else ""
        lines.append(f"    {ids[edge.source]} {arrow}{label} {ids[edge.target]}")
    for kind, color in kind_colors(arch).items():
        members = ",".join(ids[n] for n in arch.nodes if arch.node(n).kind == kind)
        lines.append(f"    classDef k_{_UNSAFE_ID.sub('_', kind)} fill:{color}33,stroke:{color}")
        lines.append(f"    class {members} k_{_UNSAFE_ID.sub('_', kind)}")
    return "\n".join(lines) + "\n"


# ---- DOT ------------------------------------------------------------------------------------
def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(arch: Architecture) -> str:
    """Graphviz DOT, left to right; render with `dot -Tsvg file.dot -o file.svg`."""
    looks = kind_styles(arch)
    lines = [
        f"digraph {_quote(arch.name)} {{",
        "    rankdir=LR;",
        '    node [style=filled, fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    for name in arch.nodes:
        kind = arch.node(name).kind
        look = looks[kind]
        label = _quote(f"{name}\n{kind}")
        lines.append(
            f'    {_quote(name)} [label={label}, shape={look.dot}, fillcolor="{look.color}55", color="{look.color}"];'
        )
    for edge in edges(arch):
        attrs = [f"label={_quote(edge.label)}"] if edge.label else []
        if edge.role != "data":
            attrs.append("style=dashed")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"    {_quote(edge.source)} -> {_quote(edge.target)}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---- JSON -----------------------------------------------------------------------------------
def to_json(arch: Architecture) -> str:
    """The drawing as data, for scripts: each node with its kind's colour and shapes, each edge."""
    import json

    looks = kind_styles(arch)
    nodes = [{"name": n, "kind": c.kind, "color": looks[c.kind].color, "dot_shape": looks[c.kind].dot}
             for n, c in arch.nodes.items()]  # fmt: skip
    links = [{"from": e.source, "to": e.target, "role": e.role, "weight": e.weight} for e in edges(arch)]
    return json.dumps({"name": arch.name, "nodes": nodes, "edges": links}, indent=2) + "\n"


# ---- matplotlib -----------------------------------------------------------------------------
def layers(arch: Architecture) -> dict[str, int]:
    """Column of each node: topological generation of the graph with every cycle collapsed.

    Reference edges count too, so a dead-letter sink sits right of the node that feeds it.
    """
    graph = nx.DiGraph(build_graph(arch))
    condensed = nx.condensation(graph)
    column: dict[str, int] = {}
    for depth, generation in enumerate(nx.topological_generations(condensed)):
        for component in generation:
            for name in condensed.nodes[component]["members"]:
                column[name] = depth
    return column


def layout(arch: Architecture) -> dict[str, tuple[float, float]]:
    """Left-to-right layered positions; nodes of a column are spread evenly around y = 0."""
    column = layers(arch)
    positions: dict[str, tuple[float, float]] = {}
    for depth in sorted(set(column.values())):
        members = [n for n in arch.nodes if column[n] == depth]
        for index, name in enumerate(members):
            positions[name] = (float(depth), (len(members) - 1) / 2 - index)
    return positions


def draw_graph(ax: Axes, arch: Architecture) -> Axes:
    """Nodes coloured by kind, data edges solid (weights shown), reference edges dashed."""
    graph = build_graph(arch)
    pos = layout(arch)
    looks = kind_styles(arch)
    for kind, look in looks.items():  # one call per kind: a marker is per call
        members = [n for n in graph.nodes if arch.node(n).kind == kind]
        nx.draw_networkx_nodes(graph, pos, nodelist=members, ax=ax, node_color=look.color, node_shape=look.marker,
                               node_size=1400, alpha=0.85)  # fmt: skip
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=9)
    drawn = edges(arch)
    data = [(e.source, e.target) for e in drawn if e.role == "data"]
    refs = [(e.source, e.target) for e in drawn if e.role != "data"]
    common = {"ax": ax, "arrows": True, "arrowsize": 14, "node_size": 1400}
    bend = "arc3,rad=0.12"  # slight curve: a -> b and b -> a stay apart
    nx.draw_networkx_edges(nx.DiGraph(data), pos, edgelist=data, connectionstyle=bend, **common)
    nx.draw_networkx_edges(nx.DiGraph(refs), pos, edgelist=refs, style="dashed", edge_color="grey",
                           connectionstyle="arc3,rad=0.25", **common)  # fmt: skip
    labels = {(e.source, e.target): e.label for e in drawn if e.label and e.role == "data"}
    nx.draw_networkx_edge_labels(nx.DiGraph(data), pos, edge_labels=labels, ax=ax, font_size=8, connectionstyle=bend)
    ref_labels = {(e.source, e.target): e.label for e in drawn if e.role != "data"}
    nx.draw_networkx_edge_labels(nx.DiGraph(refs), pos, edge_labels=ref_labels, ax=ax, font_size=8,
                                 font_color="grey", connectionstyle="arc3,rad=0.25")  # fmt: skip
    handles = [Line2D([], [], color=look.color, marker=look.marker, linestyle="", markersize=10, label=kind)
               for kind, look in looks.items()]  # fmt: skip
    ax.legend(handles=handles, fontsize="small", loc="best")
    ax.set_title(arch.name)
    ax.margins(0.15)
    ax.set_axis_off()
    return ax


def graphviz() -> str | None:
    """The `dot` program's path, if Graphviz is installed."""
    return shutil.which("dot")


def save_png(arch: Architecture, path: Path, use_graphviz: bool | None = None) -> str:
    """Draw the architecture into a PNG: with Graphviz when it is installed (`use_graphviz=None`),
    else with matplotlib.  Returns which drew it: 'graphviz' or 'matplotlib'."""
    program = graphviz() if use_graphviz is not False else None
    if use_graphviz and program is None:
        raise FlowsimError("Graphviz's `dot` program is not installed (e.g. apt-get install graphviz)")
    if program is not None:
        _graphviz_png(program, arch, path)
        return "graphviz"
    _matplotlib_png(arch, path)
    return "matplotlib"


def _graphviz_png(program: str, arch: Architecture, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([program, "-Tpng", "-Gdpi=110", "-o", str(path)], input=to_dot(arch), text=True,
                              capture_output=True, timeout=GRAPHVIZ_TIMEOUT_S, check=False)  # fmt: skip
    except OSError as exc:
        raise FlowsimError(f"cannot write {path}: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        raise FlowsimError(f"Graphviz took over {GRAPHVIZ_TIMEOUT_S:g} s to lay out '{arch.name}'") from None
    if done.returncode != 0:
        raise FlowsimError(f"Graphviz could not draw '{arch.name}': {done.stderr.strip()[:300]}")


def _matplotlib_png(arch: Architecture, path: Path) -> None:
    """Draw the architecture into a PNG sized to its layers (thread-safe: no pyplot)."""
    column = layers(arch)
    depth = max(column.values(), default=0) + 1
    height = max(Counter(column.values()).values(), default=1)
    figure = Figure(figsize=(max(6.0, 2.2 * depth), max(3.5, 1.4 * height)), layout="constrained")
    FigureCanvasAgg(figure)
    draw_graph(figure.add_subplot(), arch)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=120)
    except OSError as exc:
        raise FlowsimError(f"cannot write {path}: {exc.strerror or exc}") from None
