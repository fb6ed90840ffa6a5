"""The `flowsim` command: a thin skin over the Python API (`flowsim.simulate` and friends).

Exit codes: 0 ok; 1 invalid input, failed SLO or refused run; 2 usage error (click's own).
A `FlowsimError` is caught here and only here, and printed without a traceback: a traceback
from this command always means a bug in flowsim, never a mistake in the input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from flowsim.api import __version__, analyze_architecture, simulate
from flowsim.errors import FlowsimError, Problem, SpecError
from flowsim.loading import load_architecture, load_scenario, parse_assignment
from flowsim.nodes.registry import kinds
from flowsim.results import RunResult
from flowsim.spec.architecture import Architecture
from flowsim.spec.scenario import Scenario
from flowsim.spec.yamlio import load_yaml_file

HELP = (
    "[bold]flowsim[/] simulates data and ML platforms described as code.\n\n"
    "Write the architecture (nodes and edges) and a scenario (load, faults, SLOs) in YAML; flowsim runs a "
    "discrete-event simulation, compares it with queueing theory, and reports throughput, queues, "
    "latency percentiles and SLO verdicts.\n\n"
    "Start with:  [cyan]flowsim run scenarios/baseline.yaml[/]"
)

app = typer.Typer(
    name="flowsim", help=HELP, rich_markup_mode="rich", no_args_is_help=True,
    add_completion=False, context_settings={"help_option_names": ["-h", "--help"]},
)  # fmt: skip


def _example(*lines: str) -> str:
    return "[bold]Examples[/]\n\n" + "\n\n".join(f"  [cyan]{line}[/]" for line in lines)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


class SeriesFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


class SchemaKind(StrEnum):
    architecture = "architecture"
    scenario = "scenario"
    result = "result"


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"
    png = "png"


SCHEMAS: dict[str, type[BaseModel]] = {
    "architecture": Architecture,
    "scenario": Scenario,
    "result": RunResult,
}


# ---- console helpers ------------------------------------------------------------------------
def _stdout() -> Console:
    return Console(soft_wrap=False)


def _stderr() -> Console:
    return Console(stderr=True)


def _say(text: str, to_stderr: bool = False) -> None:
    """Print a status line; soft-wrapped so paths and messages stay whole in logs."""
    (_stderr() if to_stderr else _stdout()).print(text, soft_wrap=True, highlight=False)


def _warn(text: str) -> None:
    _say(f"[bold yellow]warning:[/] {escape(text)}", to_stderr=True)


def _error(text: str) -> None:
    _say(f"[bold red]error:[/] {escape(text)}", to_stderr=True)


def _report_error(exc: FlowsimError) -> None:
    """Each located problem on its own line, so editors and CI logs can jump to it."""
    lines = [str(p) for p in exc.problems] if isinstance(exc, SpecError) else str(exc).splitlines()
    for line in lines or [type(exc).__name__]:
        _error(line)


@contextmanager
def _user_errors() -> Iterator[None]:
    """The CLI boundary: input mistakes become a message and exit code 1, never a traceback."""
    try:
        yield
    except FlowsimError as exc:
        _report_error(exc)
        raise typer.Exit(1) from None


def _write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise FlowsimError(f"cannot write {path}: {exc.strerror or exc}") from None


# ---- shared options -------------------------------------------------------------------------
_SET_HELP = "override a value, e.g. nodes.api.servers=4 (repeatable)"
ScenarioArg = Annotated[Path, typer.Argument(metavar="SCENARIO", help="scenario YAML file", show_default=False)]
SeedOpt = Annotated[int | None, typer.Option("--seed", min=0, help="random seed (default: the scenario's)")]
RepsOpt = Annotated[int | None, typer.Option("--replications", "-r", min=1, help="runs to average, with 95% CIs")]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", min=1, help="processes for replications")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", metavar="PATH=VALUE", help=_SET_HELP)]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people, json for scripts")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="also write result.json, series, plots here")]
SeriesOpt = Annotated[SeriesFormat, typer.Option("--series-format", help="format of the tables in --out")]
MaxEventsOpt = Annotated[int | None, typer.Option("--max-events", min=1, help="refuse larger runs (estimated)")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar or status lines")]
FileArg = Annotated[Path, typer.Argument(metavar="ARCHITECTURE_OR_SCENARIO", help="YAML file", show_default=False)]
GraphOpt = Annotated[GraphFormat, typer.Option("--format", "-f", help="mermaid or dot text, or a png")]
GraphOutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="write here, not to stdout (png needs it)")]


@dataclass(frozen=True)
class RunOptions:
    """Everything `run` and `check` share, gathered so helpers take one argument."""

    seed: int | None
    replications: int | None
    workers: int
    sets: list[str]
    fmt: OutputFormat
    out: Path | None
    series_format: SeriesFormat
    max_events: int | None
    quiet: bool

    @property
    def json(self) -> bool:
        return self.fmt is OutputFormat.json


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[float], None] | None]:
    """A progress bar on stderr, only where someone can see it (a terminal, not --quiet)."""
    console = _stderr()
    if not enabled or not console.is_terminal:
        yield None
        return
    columns = (TextColumn("simulating"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("simulating", total=1.0)
        yield lambda fraction: bar.update(task, completed=fraction)


def _simulate(path: Path, opts: RunOptions) -> RunResult:
    """Load, warn about overload before spending time, run, and write --out files if asked."""
    scenario = load_scenario(path, overrides=dict(parse_assignment(s) for s in opts.sets))
    for warning in analyze_architecture(scenario.arch, scenario.load.multiplier).warnings:
        _warn(warning)
    with _progress(not opts.quiet) as callback:
        result = simulate(
            scenario, seed=opts.seed, replications=opts.replications, workers=opts.workers,
            progress=callback, max_events=opts.max_events,
        )  # fmt: skip
    if opts.out is not None:
        from flowsim.reports.export import write_outputs  # matplotlib loads only when needed

        written = write_outputs(result, scenario, opts.out, opts.series_format.value)
        if not opts.quiet:
            _say(f"wrote {len(written)} files to {escape(str(opts.out))}", to_stderr=opts.json)
    return result


# ---- commands -------------------------------------------------------------------------------
@app.command(epilog=_example(
    "flowsim run scenarios/baseline.yaml",
    "flowsim run scenarios/baseline.yaml -r 10 -w 4 --set nodes.api.servers=3 --out results/",
    "flowsim run scenarios/baseline.yaml --format json | jq .end_to_end",
))  # fmt: skip
def run(
    scenario: ScenarioArg, seed: SeedOpt = None, replications: RepsOpt = None, workers: WorkersOpt = 1,
    sets: SetOpt = None, fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    series_format: SeriesOpt = SeriesFormat.csv, max_events: MaxEventsOpt = None, quiet: QuietOpt = False,
) -> None:  # fmt: skip
    """Simulate a scenario and print per-node, end-to-end, SLO and theory tables (or JSON)."""
    opts = RunOptions(seed, replications, workers, sets or [], fmt, out, series_format, max_events, quiet)
    with _user_errors():
        result = _simulate(scenario, opts)
    if opts.json:
        typer.echo(result.model_dump_json(indent=2))
        return
    from flowsim.reports.tables import report

    _stdout().print(report(result))


@app.command(epilog=_example(
    "flowsim check scenarios/baseline.yaml",
    "flowsim check scenarios/baseline.yaml -r 20 --set load.multiplier=1.5 --format json",
))  # fmt: skip
def check(
    scenario: ScenarioArg, seed: SeedOpt = None, replications: RepsOpt = None, workers: WorkersOpt = 1,
    sets: SetOpt = None, fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    series_format: SeriesOpt = SeriesFormat.csv, max_events: MaxEventsOpt = None, quiet: QuietOpt = False,
) -> None:  # fmt: skip
    """Simulate a scenario and exit 1 if any SLO fails: a gate for CI."""
    opts = RunOptions(seed, replications, workers, sets or [], fmt, out, series_format, max_events, quiet)
    with _user_errors():
        result = _simulate(scenario, opts)
    if not result.slos:
        _warn(f"scenario '{result.scenario}' defines no SLOs: nothing to check (add an 'slos:' list)")
    if opts.json:
        verdicts = [v.model_dump() for v in result.slos]
        typer.echo(json.dumps({"passed": result.passed(), "slos": verdicts}, indent=2))
    elif result.slos:
        from flowsim.reports.tables import slo_table

        _stdout().print(slo_table(result))
    failed = sum(not v.passed for v in result.slos)
    if failed:
        _say(f"[bold red]✗[/] {failed} of {len(result.slos)} SLOs failed", to_stderr=True)
        raise typer.Exit(1)
    if result.slos:
        _say(f"[bold green]✓[/] all {len(result.slos)} SLOs passed", to_stderr=opts.json)


DocKind = Literal["architecture", "scenario"]


def _document_kind(path: Path) -> DocKind:
    """An architecture has `nodes`; a scenario has `architecture` or `duration`."""
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
    if _document_kind(path) == "architecture":
        arch = load_architecture(path)
        return "architecture", arch.name, arch, analyze_architecture(arch).warnings
    scenario = load_scenario(path)
    warnings = analyze_architecture(scenario.arch, scenario.load.multiplier).warnings
    return "scenario", scenario.name, scenario.arch, warnings


@app.command(epilog=_example("flowsim validate scenarios/*.yaml architectures/*.yaml"))
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
            _say(f"[bold red]✗[/] {escape(str(path))}", to_stderr=True)
            _report_error(exc)
            continue
        size = f"{len(arch.nodes)} nodes, {len(arch.edges)} edges"
        _say(f"[bold green]✓[/] {escape(str(path))}: {kind} '{escape(name)}' ({size})")
        for warning in warnings:
            _warn(warning)
    if invalid:
        raise typer.Exit(1)


@app.command(epilog=_example(
    "flowsim schema --kind scenario > scenario.schema.json",
    "flowsim schema --out schemas/",
))  # fmt: skip
def schema(
    kind: Annotated[SchemaKind | None, typer.Option("--kind", "-k", help="default: scenario")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write <kind>.schema.json files here")] = None,
) -> None:
    """Print the JSON Schema of architecture, scenario or result files, for editor completion.

    With --out and no --kind, all three are written. Point your editor at one by starting a YAML file with:

    [cyan]# yaml-language-server: $schema=../schemas/scenario.schema.json[/]
    """
    if out is None:
        model = SCHEMAS[(kind or SchemaKind.scenario).value]
        typer.echo(json.dumps(model.model_json_schema(by_alias=True), indent=2))
        return
    chosen = [kind.value] if kind else list(SCHEMAS)
    with _user_errors():
        for name in chosen:
            text = json.dumps(SCHEMAS[name].model_json_schema(by_alias=True), indent=2) + "\n"
            _write_text(out / f"{name}.schema.json", text)
            _say(f"wrote {escape(str(out / f'{name}.schema.json'))}")


@app.command(epilog=_example(
    "flowsim graph architectures/two-stage.yaml",
    "flowsim graph scenarios/baseline.yaml --format dot | dot -Tsvg -o design.svg",
    "flowsim graph architectures/two-stage.yaml --format png --out design.png",
))  # fmt: skip
def graph(file: FileArg, fmt: GraphOpt = GraphFormat.mermaid, out: GraphOutOpt = None) -> None:
    """Draw the architecture: Mermaid (paste into Markdown), Graphviz DOT, or a PNG."""
    if fmt is GraphFormat.png and out is None:
        raise typer.BadParameter("--format png needs a file, e.g. --out design.png", param_hint="--out")
    with _user_errors():
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
            _write_text(out, text)
    _say(f"wrote {escape(str(out))}")


@app.command("kinds", epilog=_example("flowsim kinds", "flowsim kinds service"))
def list_kinds(
    kind: Annotated[str | None, typer.Argument(help="show the fields of this kind")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="print the reference of every kind as Markdown")] = False,
) -> None:
    """List the node kinds an architecture can use, or the fields of one kind."""
    registry = kinds()
    if markdown:
        from flowsim.reports.kinds_doc import kinds_markdown

        typer.echo(kinds_markdown(), nl=False)
        return
    if kind is None:
        width = max(map(len, registry))
        for name, config in registry.items():
            _say(f"[bold cyan]{name:<{width}}[/]  {escape(config.summary)}")
        return
    if kind not in registry:
        with _user_errors():
            raise FlowsimError(f"unknown node kind '{kind}'; known kinds: {', '.join(registry)}")
    from flowsim.reports.tables import kind_table

    _stdout().print(kind_table(kind, registry[kind]))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"flowsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="show the version and exit")
    ] = False,
) -> None:
    """Options that apply before any command."""


def main() -> None:
    """Console-script entry point (`flowsim = flowsim.cli:main`)."""
    app(prog_name="flowsim")


from flowsim.cli_sweep import register as _register_sweep  # noqa: E402 - registered last, after every command

_register_sweep(app)
