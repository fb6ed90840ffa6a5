"""`flowsim validate`, `schema`, `graph` and `kinds`: look at designs and at flowsim, run nothing."""

from __future__ import annotations

import difflib
import json
import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flowsim.cli import validate as validating
from flowsim.cli.console import (
    STDIN_HELP,
    FormatOpt,
    OutputFormat,
    command,
    echo_json,
    escape,
    read_input,
    say,
    show,
    source_name,
    user_errors,
    write_text,
)

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.table import Table

    from flowsim.spec.architecture import Architecture


class SchemaKind(StrEnum):
    architecture = "architecture"
    scenario = "scenario"
    result = "result"


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    png = "png"
    json = "json"


FileArg = Annotated[
    Path, typer.Argument(metavar="ARCHITECTURE_OR_SCENARIO", help=f"YAML file; {STDIN_HELP}", show_default=False)
]
GraphOpt = Annotated[
    GraphFormat, typer.Option("--format", "-f", help="mermaid or dot text, a png, or json (nodes, kinds, edges)")
]
GraphOutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", metavar="FILE", help="write here, not to stdout (png needs it)")
]


def _architecture_of(path: Path) -> Architecture:
    """The architecture a file (or `-`, stdin) describes: itself, or a scenario's."""
    from flowsim.loading import load_architecture, load_scenario
    from flowsim.semantics import document_kind
    from flowsim.spec.yamlio import load_yaml_file, load_yaml_text

    given, source = read_input(path), source_name(path)
    doc = load_yaml_text(given, source) if isinstance(given, str) else load_yaml_file(given)
    if document_kind(doc.data) == "architecture":
        return load_architecture(given, source=source)
    return load_scenario(given, source=source).arch


def _schemas() -> dict[str, type[BaseModel]]:
    from flowsim.results import RunResult
    from flowsim.spec.architecture import Architecture
    from flowsim.spec.scenario import Scenario

    return {"architecture": Architecture, "scenario": Scenario, "result": RunResult}


def schema(
    kind: Annotated[SchemaKind | None, typer.Option("--kind", "-k", help="default: scenario")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="DIR", help="write <kind>.schema.json files here")
    ] = None,
    fmt: Annotated[
        OutputFormat,
        typer.Option("--format", "-f", help="json: the schema itself; table: its top-level fields, for people"),
    ] = OutputFormat.json,
) -> None:
    """Print the JSON Schema of architecture, scenario or result files, for editor completion.

    With --out and no --kind, all three are written. Point your editor at one by starting a YAML file with:

    [cyan]# yaml-language-server: $schema=../schemas/scenario.schema.json[/]
    """
    from flowsim.spec.json_schema import json_schema

    models = _schemas()
    if out is None:
        name = (kind or SchemaKind.scenario).value
        document = json_schema(models[name], name)
        if fmt is OutputFormat.table:
            show(_fields_table(name, document))
            return
        typer.echo(json.dumps(document, indent=2))
        return
    chosen = [kind.value] if kind else list(models)
    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file; --out names a folder for the <kind>.schema.json files",
                                 param_hint="--out")  # fmt: skip
    with user_errors():
        for name in chosen:
            text = json.dumps(json_schema(models[name], name), indent=2) + "\n"
            write_text(out / f"{name}.schema.json", text)
            say(f"wrote {escape(str(out / f'{name}.schema.json'))}")


def _fields_table(name: str, document: dict[str, object]) -> Table:
    """The top-level fields of a schema: name, whether required, type and meaning."""
    from rich.table import Table

    properties = document.get("properties", {})
    required = set(document.get("required", []))  # type: ignore[call-overload]
    table = Table(title=f"{name} file: top-level fields (the full schema: --format json)")
    for column in ("field", "required", "type", "meaning"):
        table.add_column(column, overflow="fold")
    assert isinstance(properties, dict)
    for field, spec in properties.items():
        kind = spec.get("type") or ("one of several forms" if "anyOf" in spec else "object")
        table.add_row(field, "yes" if field in required else "", str(kind), str(spec.get("description", "")))
    return table


_GRAPH_SUFFIXES = {
    GraphFormat.png: (".png",),
    GraphFormat.dot: (".dot", ".gv"),
    GraphFormat.mermaid: (".mmd", ".md"),
    GraphFormat.json: (".json",),
}


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
    """Draw the architecture: Mermaid (paste into Markdown), Graphviz DOT, or a PNG.

    Each kind has its own colour and shape. The PNG is drawn by Graphviz when its `dot` program is
    installed, by matplotlib otherwise.
    """
    _check_graph_out(fmt, out)
    with user_errors():
        arch = _architecture_of(file)
        if fmt is GraphFormat.png:
            from flowsim.reports.diagram import save_png

            assert out is not None  # checked above
            drawn = save_png(arch, out)  # Graphviz when `dot` is installed, else matplotlib
            say(f"wrote {escape(str(out))} (drawn with {drawn})")
            return
        else:
            from flowsim.reports.diagram import to_dot, to_json, to_mermaid

            writers = {GraphFormat.mermaid: to_mermaid, GraphFormat.dot: to_dot, GraphFormat.json: to_json}
            text = writers[fmt](arch)
            if out is None:
                typer.echo(text, nl=False)
                return
            write_text(out, text)
    say(f"wrote {escape(str(out))}")


def list_kinds(
    kind: Annotated[
        str | None, typer.Argument(metavar="KIND", help="show the fields of this kind", show_default=False)
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", metavar="", help="print the reference of every kind as Markdown")
    ] = False,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """List the node kinds an architecture can use, or the fields of one kind."""
    from flowsim.nodes.registry import kinds

    registry = kinds()
    if markdown:
        from flowsim.reports.kinds_doc import kinds_markdown

        typer.echo(kinds_markdown(), nl=False)
        return
    if kind is not None and kind not in registry:  # a wrong argument is a usage error (exit 2), like a wrong option
        close = difflib.get_close_matches(kind, list(registry), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "known kinds: " + ", ".join(registry)
        raise typer.BadParameter(f"unknown node kind '{kind}' ({hint})", param_hint="KIND")
    if fmt is OutputFormat.json:
        from flowsim.reports.kinds_doc import kind_fields

        chosen = [kind] if kind is not None else list(registry)
        entries = [{"kind": k, "summary": registry[k].summary, "fields": kind_fields(registry[k])} for k in chosen]
        echo_json({"kinds": entries})
        return
    if kind is None:
        width = max(map(len, registry))
        for name, config in registry.items():
            say(f"[bold cyan]{name:<{width}}[/]  {escape(config.summary)}")
        return
    from flowsim.reports.tables import declared_figures_table, kind_table

    show(kind_table(kind, registry[kind]))
    figures = declared_figures_table(kind, registry[kind])
    if figures is not None:
        show(figures)


def register(app: typer.Typer) -> None:
    """Add `validate`, `schema`, `graph` and `kinds` to the `flowsim` app."""
    command(
        app,
        validating.validate,
        "validate",
        "flowsim validate scenarios/*.yaml architectures/*.yaml",
        "flowsim validate --strict --format json scenarios/baseline.yaml | jq .files[0].warnings",
        "cat design.yaml | flowsim validate -",
    )
    command(
        app,
        schema,
        None,
        "flowsim schema --kind scenario > scenario.schema.json",
        "flowsim schema --out schemas/",
    )
    command(
        app,
        graph,
        None,
        "flowsim graph architectures/two-stage.yaml",
        "flowsim graph scenarios/baseline.yaml --format dot | dot -Tsvg -o design.svg",
        "flowsim graph architectures/two-stage.yaml --format png --out design.png",
    )
    command(
        app,
        list_kinds,
        "kinds",
        "flowsim kinds",
        "flowsim kinds service",
        "flowsim kinds kafka_topic --format json",
    )
