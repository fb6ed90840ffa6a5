"""`flowsim run` and `flowsim check`: simulate one scenario, then report it or gate on its SLOs."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flowsim.cli.console import (
    EngineChoice,
    EngineOpt,
    FormatOpt,
    MaxEventsOpt,
    OutputFormat,
    QuietOpt,
    ScenarioArg,
    SeedOpt,
    assignments,
    command,
    echo_json,
    escape,
    fail,
    progress,
    read_input,
    say,
    show,
    source_name,
    user_errors,
    warn,
)
from flowsim.units import format_duration

if TYPE_CHECKING:
    from flowsim.analysis.view import AnalyticView
    from flowsim.api import Engine
    from flowsim.results import RunResult
    from flowsim.spec.scenario import Scenario


class SeriesFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


_SET_HELP = "override a value, e.g. nodes.api.servers=4 (repeatable)"
RepsOpt = Annotated[
    int | None, typer.Option("--replications", "-r", metavar="N", min=1, help="runs to average, with 95% CIs")
]
WorkersOpt = Annotated[int, typer.Option("--workers", "-w", metavar="N", min=1, help="processes for replications")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", metavar="PATH=VALUE", help=_SET_HELP)]
OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", metavar="DIR", help="also write result.json, series, plots here")
]
SeriesOpt = Annotated[SeriesFormat, typer.Option("--series-format", help="format of the tables in --out")]
TraceOpt = Annotated[
    Path | None,
    typer.Option(
        "--trace", metavar="FILE", show_default=False,
        help="write the per-message event log (time, node, event, item, replication) to FILE.csv or "
        "FILE.parquet; for small runs (refused, with the estimate, above 2 million events)",
    ),
]  # fmt: skip
TRACE_FORMATS = (".csv", ".parquet")


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
    engine: EngineChoice | None = None
    trace: Path | None = None

    @property
    def json(self) -> bool:
        return self.fmt is OutputFormat.json


def _simulate(path: Path, opts: RunOptions, gate: bool = False, reported: bool = False) -> tuple[Scenario, RunResult]:
    """Load, warn about overload before spending time, run, and write --out files if asked.

    `gate` (check): a scenario without SLOs is refused before the run, since a gate that checks
    nothing must not pass.  `reported`: the report printed after the run repeats the analytic
    warnings, so on a terminal that shows both they are not printed twice."""
    from flowsim.api import analyze_scenario, simulate
    from flowsim.loading import load_scenario
    from flowsim.optional import need

    if opts.out is not None and opts.series_format is SeriesFormat.parquet:
        need("pyarrow", "--series-format parquet")  # before the run, not after it
    if opts.trace is not None and opts.trace.suffix.lower() == ".parquet":
        need("pyarrow", "--trace FILE.parquet")
    if opts.out is not None and os.path.exists(opts.out) and not os.path.isdir(opts.out):
        raise typer.BadParameter(f"{opts.out} is a file; --out names a folder for result.json, series and plots",
                                 param_hint="--out")  # fmt: skip
    overrides = assignments(opts.sets)
    scenario = load_scenario(read_input(path), overrides=overrides, source=source_name(path))
    if gate and not scenario.slos:
        from flowsim.errors import FlowsimError

        raise FlowsimError(
            f"{source_name(path)}: scenario '{scenario.name}' defines no SLOs, so there is nothing to check "
            "(add an 'slos:' list, e.g. 'slos: [end_to_end.done.latency_s.p99 < 2s]'; "
            "'flowsim run' runs it without one)"
        )
    if opts.out is not None:  # a folder that cannot be made or written is said now, not after the run
        try:
            opts.out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise typer.BadParameter(
                f"cannot make the folder {opts.out}: {err.strerror or err}", param_hint="--out"
            ) from None
        if not os.access(opts.out, os.W_OK):
            raise typer.BadParameter(f"cannot write into {opts.out} (permission denied)", param_hint="--out")
    view = analyze_scenario(scenario)
    if not (reported and stdout_is_terminal()):
        for warning in dict.fromkeys(view.warnings):
            warn(f"{source_name(path)}: {warning}")  # each once, named by its file
    if not opts.quiet:
        for note in dict.fromkeys(view.notes):
            say(f"[bold]note:[/] {escape(source_name(path))}: {escape(note)}", to_stderr=True)
    engine: Engine | None = opts.engine.value if opts.engine is not None else None
    if not opts.quiet:
        _say_size(scenario, view, opts, engine, source_name(path))
    with progress(not opts.quiet) as callback:
        result = simulate(
            scenario, seed=opts.seed, replications=opts.replications, workers=opts.workers,
            progress=callback, max_events=opts.max_events, engine=engine, trace=opts.trace is not None,
        )  # fmt: skip
    if result.engine == "fluid" and (engine or scenario.engine) == "auto":
        limit = opts.max_events if opts.max_events is not None else scenario.limits.max_events
        warn(
            f"ran on the fluid engine (step {result.fluid_step_s:.3g}s): the per-message run is estimated above "
            f"limits.max_events ({limit:,}); --engine per_message with a larger --max-events runs every message"
        )
    if opts.trace is not None:
        _write_trace(result, opts.trace)
        if not opts.quiet:
            say(f"wrote {len(result.events):,} events to {escape(str(opts.trace))}", to_stderr=opts.json)
    if opts.out is not None:
        from flowsim.reports.export import write_outputs  # pandas and matplotlib load only here

        written = write_outputs(result, scenario, opts.out, opts.series_format.value)
        if not opts.quiet:
            say(f"wrote {len(written)} files to {escape(str(opts.out))}", to_stderr=opts.json)
    return scenario, result


#: estimated events a second of one per-message replication on one core (1.7e5-4.1e5 over the
#: shipped scenarios on a 2-core machine; a busy one does half): for the size note only
EVENTS_PER_S = 1.5e5
LONG_RUN_EVENTS = 2_000_000


def stdout_is_terminal() -> bool:
    """Whether the report goes to the screen (where stderr shows too), not to a file or a pipe."""
    return sys.stdout.isatty()


def _say_size(scenario: Scenario, view: AnalyticView, opts: RunOptions, engine: Engine | None, name: str) -> None:
    """A per-message run of millions of events says so before it starts, with a rough time."""
    from flowsim.api import choose_engine, estimate_events

    if choose_engine(scenario, view, opts.max_events, engine) != "per_message":
        return
    replications = opts.replications or scenario.replications
    events = estimate_events(scenario, view) * replications
    if events < LONG_RUN_EVENTS:
        return
    from flowsim.fluid import fluid_problems

    seconds = events / EVENTS_PER_S / max(1, min(opts.workers, replications))
    faster = "" if fluid_problems(scenario) else "; --engine fluid approximates it in steps, in seconds"
    say(f"[bold]note:[/] {escape(name)}: about {events / 1e6:.1f} million events on the per-message engine, "
        f"roughly {format_duration(seconds)} at {EVENTS_PER_S:,.0f} events/s{faster}", to_stderr=True)  # fmt: skip


def _write_trace(result: RunResult, path: Path) -> None:
    from flowsim.errors import FlowsimError
    from flowsim.optional import need

    events = result.events
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".parquet":
            need("pyarrow", "--trace FILE.parquet")
            events.to_parquet(path, engine="pyarrow", index=False)
        else:
            events.to_csv(path, index=False)
    except OSError as exc:
        raise FlowsimError(f"cannot write {path}: {exc.strerror or exc}") from None


def _trace_path(path: Path | None) -> Path | None:
    """Refuse an event-log file name flowsim cannot write before any work is done."""
    if path is not None and path.suffix.lower() not in TRACE_FORMATS:
        raise typer.BadParameter(f"{path}: name a .csv or .parquet file, e.g. --trace events.csv", param_hint="--trace")
    return path


def run(
    scenario: ScenarioArg, seed: SeedOpt = None, replications: RepsOpt = None, workers: WorkersOpt = 1,
    sets: SetOpt = None, fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    series_format: SeriesOpt = SeriesFormat.csv, max_events: MaxEventsOpt = None, quiet: QuietOpt = False,
    engine: EngineOpt = None, trace: TraceOpt = None,
) -> None:  # fmt: skip
    """Simulate a scenario and print per-node, end-to-end, SLO and theory tables (or JSON)."""
    opts = RunOptions(
        seed, replications, workers, sets or [], fmt, out, series_format, max_events, quiet, engine, _trace_path(trace)
    )
    with user_errors(opts.json):
        loaded, result = _simulate(scenario, opts, reported=not opts.json)
    if opts.json:
        echo_json(result)
        return
    from flowsim.reports.tables import report

    show(report(result, loaded))


def check(
    scenario: ScenarioArg, seed: SeedOpt = None, replications: RepsOpt = None, workers: WorkersOpt = 1,
    sets: SetOpt = None, fmt: FormatOpt = OutputFormat.table, out: OutOpt = None,
    series_format: SeriesOpt = SeriesFormat.csv, max_events: MaxEventsOpt = None, quiet: QuietOpt = False,
    engine: EngineOpt = None,
) -> None:  # fmt: skip
    """Simulate a scenario and exit 1 if any SLO fails: a gate for CI (2: the input was refused, or it has no SLOs)."""
    opts = RunOptions(seed, replications, workers, sets or [], fmt, out, series_format, max_events, quiet, engine)
    with user_errors(opts.json):
        _, result = _simulate(scenario, opts, gate=True)
    if opts.json:
        echo_json({"passed": result.passed(), "slos": [v.model_dump() for v in result.slos]})
    elif result.slos:
        from flowsim.reports.tables import slo_table

        show(slo_table(result))
    failed = sum(not v.passed for v in result.slos)
    if failed:
        raise fail(f"{failed} of {len(result.slos)} SLOs failed")
    count = len(result.slos)
    say(f"[bold green]✓[/] {'the SLO' if count == 1 else f'all {count} SLOs'} passed", to_stderr=opts.json)


def register(app: typer.Typer) -> None:
    """Add `run` and `check` to the `flowsim` app."""
    command(
        app,
        run,
        None,
        "flowsim run scenarios/baseline.yaml",
        "flowsim run scenarios/baseline.yaml -r 10 -w 4 --set nodes.api.servers=3 --out results/",
        "flowsim run scenarios/baseline.yaml --set duration=300s -r 1 --trace events.csv",
        "flowsim run scenarios/baseline.yaml --format json | jq .end_to_end",
        "cd scenarios && sed 's/multiplier: 3/multiplier: 2/' peak-3x.yaml | flowsim run -",
    )
    command(
        app,
        check,
        None,
        "flowsim check scenarios/baseline.yaml",
        "flowsim check scenarios/baseline.yaml -r 20 --set load.multiplier=1.5 --format json",
    )
