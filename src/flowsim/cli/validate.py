"""`flowsim validate`: every problem of every file in one round, as lines or as one JSON document.

Each file is checked on its own (a refused file does not stop the next): its schema errors, then
the checks after the schema that can still run, then, for a valid design, the analytic view's
warnings (overload, retry storms), each once and located at its node where the file names it.
`--strict` makes a warning fail the command like an error (exit 1).

The JSON shape (`--format json`) is documented in docs/results.md ("validate --format json").
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flowsim.cli.console import (
    EXIT_FAILED,
    STDIN_HELP,
    FormatOpt,
    OutputFormat,
    echo_json,
    escape,
    read_input,
    say,
    source_name,
)
from flowsim.errors import FlowsimError, Problem, SpecError, message_lines

if TYPE_CHECKING:
    from flowsim.analysis.view import AnalyticView
    from flowsim.spec.architecture import Architecture
    from flowsim.spec.scenario import Scenario
    from flowsim.spec.yaml_document import YamlDocument

#: the version of the JSON document below; raised when a key changes meaning or goes away
VALIDATE_SCHEMA_VERSION = 1
_NODE_AT_START = re.compile(r"^'([^']+)'")


@dataclass
class Report:
    """One file's verdict (the `files[]` entries of the JSON document)."""

    file: str
    kind: str | None = None
    name: str | None = None
    nodes: int | None = None
    edges: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    #: facts that are not problems (a node idle in this run by its start time): never fail --strict
    notes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


def as_object(problem: Problem) -> dict[str, Any]:
    """A problem as JSON: where (file, line, column, field), what (message) and the fix if known."""
    return {
        "file": problem.source,
        "line": problem.line,
        "column": problem.column,
        "field": problem.field or None,
        "message": problem.message,
        "fix": problem.hint or None,
    }


def _where(arch_doc: YamlDocument, prefix: tuple[str, ...], name: str) -> tuple[int | None, int | None, str]:
    mark = arch_doc.key_marks.get((*prefix, "nodes", name)) or arch_doc.mark_for((*prefix, "nodes", name))
    field_path = ".".join((*prefix, "nodes", name))
    return (mark.line, mark.column, field_path) if mark else (None, None, field_path)


def _architecture_doc(path: Path, doc: YamlDocument) -> tuple[YamlDocument, tuple[str, ...]]:
    """The document an architecture's nodes are written in, and their prefix inside it."""
    from flowsim.spec.yamlio import load_yaml_file

    ref = doc.data.get("architecture")
    if "nodes" in doc.data or not isinstance(ref, str):
        return doc, () if "nodes" in doc.data else ("architecture",)
    base = path.parent if str(path) != "-" else Path.cwd()
    try:
        return load_yaml_file(os.path.normpath(base / ref)), ()
    except FlowsimError:
        return doc, ("architecture",)


def located_warnings(
    source: str, warnings: list[str], arch: Architecture, arch_doc: YamlDocument, prefix: tuple[str, ...]
) -> list[Problem]:
    """Each distinct warning once, named by the file validated (`source`), at the node it opens
    with ('api' is overloaded ...) when it does; a node written in another file (a scenario's
    architecture) is pointed at there."""
    found = []
    for text in dict.fromkeys(warnings):
        match = _NODE_AT_START.match(text)
        if not (match and match.group(1) in arch.nodes):
            found.append(Problem(text, source))
            continue
        line, column, where = _where(arch_doc, prefix, match.group(1))
        if arch_doc.source == source:
            found.append(Problem(text, source, line, column, where))
        else:
            at = f"{arch_doc.source}:{line}:{column}" if line is not None else arch_doc.source
            found.append(Problem(text, source, None, None, where, f"the node is written at {at}"))
    return found


def check_file(path: Path) -> Report:
    """Validate one file (or `-`, stdin), never raising for what is wrong in it."""
    from flowsim.analysis.view import analyze
    from flowsim.loading import load_architecture, load_scenario
    from flowsim.semantics import document_kind
    from flowsim.spec.yamlio import load_yaml_file, load_yaml_text

    source = source_name(path)
    report = Report(source)
    try:
        given = read_input(path)
        doc = load_yaml_text(given, source) if isinstance(given, str) else load_yaml_file(given)
        kind = document_kind(doc.data)
        if kind is None:
            hint = "an architecture has 'nodes:' and 'edges:'; a scenario has 'architecture:' and 'duration:'"
            message = "cannot tell whether this is an architecture or a scenario"
            raise SpecError([Problem(message, doc.source, 1, 1, hint=hint)])
        report.kind = kind
        if kind == "architecture":
            arch = load_architecture(given, source=source)
            report.name, view = arch.name, analyze(arch)
        else:  # at the scenario's load, for its run's length and outages
            from flowsim.api import analyze_scenario  # the run's API: only for scenarios

            scenario = load_scenario(given, source=source)
            arch, report.name, view = scenario.arch, scenario.name, analyze_scenario(scenario)
        report.nodes, report.edges = len(arch.nodes), len(arch.edges)
        arch_doc, prefix = _architecture_doc(path, doc)
        said = list(view.warnings)
        if kind == "scenario":
            said += _run_refusals(scenario, view)
        warnings = located_warnings(source, said, arch, arch_doc, prefix)
        report.warnings = [as_object(w) for w in warnings]
        report.notes = [as_object(n) for n in located_warnings(source, view.notes, arch, arch_doc, prefix)]
    except SpecError as exc:
        report.errors = [as_object(p) for p in exc.problems]
    except FlowsimError as exc:
        lines = [line.removeprefix(f"{source}: ") for line in message_lines(exc)]  # (the source is said once)
        report.errors = [as_object(Problem(line, source)) for line in lines]
    return report


def _run_refusals(scenario: Scenario, view: AnalyticView) -> list[str]:
    """What `flowsim run` would refuse before running, though the file is valid (an SLO on a figure
    the engine auto picks for a run this size does not compute): a warning here, so both agree."""
    from flowsim.api import choose_engine

    try:
        choose_engine(scenario, view)
    except FlowsimError as exc:
        return [f"flowsim run refuses this as it stands: {exc}"]
    return []


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Validation builds many small objects and frees them together; the cyclic collector, run
    over and over while they pile up, was a third of `validate`'s time on a 1,500-node chain
    (1.03 s -> 0.70 s CPU).  What it would collect is bounded by the file size cap."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _line(problem: dict[str, Any]) -> str:
    return str(Problem(problem["message"], problem["file"], problem["line"], problem["column"],
                       problem["field"] or "", problem["fix"] or ""))  # fmt: skip


def _print(report: Report, strict: bool = False) -> None:
    size = f"{report.nodes} node{'s' * (report.nodes != 1)}, {report.edges} edge{'s' * (report.edges != 1)}"
    what = f"{escape(report.file)}: {report.kind} '{escape(str(report.name))}' ({size})"
    if report.valid and strict and report.warnings:  # a failure: no tick beside it
        count = len(report.warnings)
        say(f"[bold red]✗[/] {what}: fails under --strict ({count} warning{'s' * (count != 1)})", to_stderr=True)
    elif report.valid:
        say(f"[bold green]✓[/] {what}")
    else:
        say(f"[bold red]✗[/] {escape(report.file)}", to_stderr=True)
        for problem in report.errors:
            say(f"[bold red]error:[/] {escape(_line(problem))}", to_stderr=True)
    for problem in report.warnings:
        say(f"[bold yellow]warning:[/] {escape(_line(problem))}", to_stderr=True)
    for problem in report.notes:
        say(f"[bold]note:[/] {escape(_line(problem))}", to_stderr=True)


def validate(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help=f"scenario or architecture YAML files; {STDIN_HELP}")
    ],
    fmt: FormatOpt = OutputFormat.table,
    strict: Annotated[bool, typer.Option("--strict", metavar="", help="fail (exit 1) on warnings too")] = False,
) -> None:
    """Check files without running them: every problem of each file in one round, with its line and column.

    Each file is checked on its own; exit 1 if any has an error (or, with --strict, a warning).
    """
    with _no_cyclic_gc():
        reports = [check_file(path) for path in files]
    failed = any(not r.valid or (strict and r.warnings) for r in reports)
    if fmt is OutputFormat.json:
        echo_json({
            "schema_version": VALIDATE_SCHEMA_VERSION,
            "valid": not failed,
            "strict": strict,
            "errors": sum(len(r.errors) for r in reports),
            "warnings": sum(len(r.warnings) for r in reports),
            "notes": sum(len(r.notes) for r in reports),
            "files": [asdict(r) | {"valid": r.valid} for r in reports],
        })  # fmt: skip
    else:
        for report in reports:
            _print(report, strict)
    if failed:
        raise typer.Exit(EXIT_FAILED)
