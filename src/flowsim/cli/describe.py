"""`flowsim validate`, `schema`, `graph` and `kinds`: look at designs and at flowsim, run nothing."""

from __future__ import annotations

import difflib
import json
import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.markup import escape

from flowsim.cli.console import EXIT_FAILED, example, report_error, say, show, user_errors, warn, write_text
from flowsim.errors import FlowsimError, Problem, SpecError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from flowsim.spec.architecture import Architecture


class SchemaKind(StrEnum):
    architecture = "architecture"
    scenario = "scenario"
    result = "result"


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    png = "png"


FileArg = Annotated[Path, typer.Argument(metavar="ARCHITECTURE_OR_SCENARIO", help="YAML file", show_default=False)]
GraphOpt = Annotated[GraphFormat, typer.Option("--format", "-f", help="mermaid or dot text, or a png")]
GraphOutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="write here, not to stdout (png needs it)")]
DocKind = Literal["architecture", "scenario"]


def _document_kind(path: Path) -> DocKind:
    """An architecture has `nodes`; a scenario has `architecture` or `duration`."""
    from flowsim.spec.yamlio import load_yaml_file

    doc = load_yaml_file(path)
    keys = set(doc.data)
    if "nodes" in keys:
        return "architecture"
    if keys & {"architecture", "duration"}:
        return "scenario"
    hint = "an architecture has 'nodes:' and 'edges:'; a scenario has 'architecture:' and 'duration:'"
    message = "cannot tell whether this is an architecture or a scenario"
    raise SpecError([Problem(message, doc.source, 1, 1, hint=hint)])


def _architecture_of(path: Path) -> tuple[DocKind, str, Architecture, list[str]]:
    """The architecture a file describes (itself, or a scenario's), and the analysis warnings."""
    from flowsim.api import analyze_architecture, analyze_scenario
    from flowsim.loading import load_architecture, load_scenario

    if _document_kind(path) == "architecture":
        arch = load_architecture(path)
        return "architecture", arch.name, arch, analyze_architecture(arch).warnings
    scenario = load_scenario(path)
    warnings = analyze_scenario(scenario).warnings
    return "scenario", scenario.name, scenario.arch, warnings


def validate(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="scenario or architecture YAML files")],
) -> None:
    """Check files without running them; every problem is reported with its line and column."""
    invalid = 0
    for path in files:
        try:
            kind, name, arch, warnings = _architecture_of(path)
        except FlowsimError as exc:
            invalid += 1
            say(f"[bold red]✗[/] {escape(str(path))}", to_stderr=True)
            report_error(exc)
            continue
        size = f"{len(arch.nodes)} nodes, {len(arch.edges)} edges"
        say(f"[bold green]✓[/] {escape(str(path))}: {kind} '{escape(name)}' ({size})")
        for warning in warnings:
            warn(warning)
    if invalid:
        raise typer.Exit(EXIT_FAILED)


def _schemas() -> dict[str, type[BaseModel]]:
    from flowsim.results import RunResult
    from flowsim.spec.architecture import Architecture
    from flowsim.spec.scenario import Scenario

    return {"architecture": Architecture, "scenario": Scenario, "result": RunResult}


def schema(
    kind: Annotated[SchemaKind | None, typer.Option("--kind", "-k", help="default: scenario")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write <kind>.schema.json files here")] = None,
) -> None:
    """Print the JSON Schema of architecture, scenario or result files, for editor completion.

    With --out and no --kind, all three are written. Point your editor at one by starting a YAML file with:

    [cyan]# yaml-language-server: $schema=../schemas/scenario.schema.json[/]
    """
    from flowsim.spec.json_schema import json_schema

    models = _schemas()
    if out is None:
        name = (kind or SchemaKind.scenario).value
        typer.echo(json.dumps(json_schema(models[name], name), indent=2))
        return
    chosen = [kind.value] if kind else list(models)
    with user_errors():
        for name in chosen:
            text = json.dumps(json_schema(models[name], name), indent=2) + "\n"
            write_text(out / f"{name}.schema.json", text)
            say(f"wrote {escape(str(out / f'{name}.schema.json'))}")


_GRAPH_SUFFIXES = {GraphFormat.png: (".png",), GraphFormat.dot: (".dot", ".gv"), GraphFormat.mermaid: (".mmd", ".md")}


def _check_graph_out(fmt: GraphFormat, out: Path | None) -> None:
    """--out must agree with --format before any work: `--format png --out design.txt` would
    write a PNG under a text name, `--out x.svg` an SVG-named PNG, `--out DIR` a file beside DIR."""
    if out is None:
        if fmt is GraphFormat.png:
            raise typer.BadParameter("--format png needs a file, e.g. --out design.png", param_hint="--out")
        return
    if os.path.isdir(out):
        raise typer.BadParameter(
            f"{out} is a directory; give a file name, e.g. {out / 'design.png'}", param_hint="--out"
        )
    wanted = _GRAPH_SUFFIXES[fmt]
    if out.suffix.lower() not in wanted:
        raise typer.BadParameter(
            f"--format {fmt.value} writes {' or '.join(wanted)} files, not '{out.suffix or out.name}'; "
            f"name it e.g. {out.with_suffix(wanted[0]).name}, or choose the --format that matches",
            param_hint="--out",
        )


def graph(file: FileArg, fmt: GraphOpt = GraphFormat.mermaid, out: GraphOutOpt = None) -> None:
    """Draw the architecture: Mermaid (paste into Markdown), Graphviz DOT, or a PNG."""
    _check_graph_out(fmt, out)
    with user_errors():
        _, _, arch, _ = _architecture_of(file)
        if fmt is GraphFormat.png:
            from flowsim.reports.diagram import save_png

            assert out is not None  # checked above
            save_png(arch, out)
        else:
            from flowsim.reports.diagram import to_dot, to_mermaid

            text = to_mermaid(arch) if fmt is GraphFormat.mermaid else to_dot(arch)
            if out is None:
                typer.echo(text, nl=False)
                return
            write_text(out, text)
    say(f"wrote {escape(str(out))}")


def list_kinds(
    kind: Annotated[str | None, typer.Argument(help="show the fields of this kind")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="print the reference of every kind as Markdown")] = False,
) -> None:
    """List the node kinds an architecture can use, or the fields of one kind."""
    from flowsim.nodes.registry import kinds

    registry = kinds()
    if markdown:
        from flowsim.reports.kinds_doc import kinds_markdown

        typer.echo(kinds_markdown(), nl=False)
        return
    if kind is None:
        width = max(map(len, registry))
        for name, config in registry.items():
            say(f"[bold cyan]{name:<{width}}[/]  {escape(config.summary)}")
        return
    if kind not in registry:  # a wrong argument is a usage error (exit 2), like a wrong option
        close = difflib.get_close_matches(kind, list(registry), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "known kinds: " + ", ".join(registry)
        raise typer.BadParameter(f"unknown node kind '{kind}' ({hint})", param_hint="KIND")
    from flowsim.reports.tables import kind_table

    show(kind_table(kind, registry[kind]))


def register(app: typer.Typer) -> None:
    """Add `validate`, `schema`, `graph` and `kinds` to the `flowsim` app."""
    app.command(epilog=example("flowsim validate scenarios/*.yaml architectures/*.yaml"))(validate)
    app.command(epilog=example(
        "flowsim schema --kind scenario > scenario.schema.json",
        "flowsim schema --out schemas/",
    ))(schema)  # fmt: skip
    app.command(epilog=example(
        "flowsim graph architectures/two-stage.yaml",
        "flowsim graph scenarios/baseline.yaml --format dot | dot -Tsvg -o design.svg",
        "flowsim graph architectures/two-stage.yaml --format png --out design.png",
    ))(graph)  # fmt: skip
    app.command("kinds", epilog=example("flowsim kinds", "flowsim kinds service"))(list_kinds)
