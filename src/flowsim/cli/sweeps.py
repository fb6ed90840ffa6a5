"""`flowsim sweep` and `flowsim compare`: choosing between designs from the command line.

Both are skins over `flowsim.sweep` (`plan_sweep`, then `run_sweep`) and `flowsim.compare`;
where runs go is `flowsim.executors.choose_executor`'s decision, fed from --executor,
--workers and --scheduler.  Exit codes follow the rest of the CLI: 0 ok; 1 no point meets the
SLOs with --objective; 2 invalid input or usage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flowsim.cli.console import (
    STDIN_HELP,
    Command,
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
from flowsim.errors import FlowsimError

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from flowsim.api import Engine
    from flowsim.executors import ExecutorKind
    from flowsim.sweep import SweepResult

#: what a bare --objective means (flowsim.sweep.DEFAULT_OBJECTIVE, spelt out so help costs no import)
DEFAULT_OBJECTIVE = "min cost.per_hour"


class ExecutorName(StrEnum):
    serial = "serial"
    process = "process"
    dask = "dask"


@contextmanager
def _executor(name: ExecutorName | None, workers: int | None, scheduler: str | None, jobs: int) -> Iterator[Executor]:
    """--executor/--workers/--scheduler as an open executor; a contradiction among them is a usage error."""
    from flowsim.executors import choose_executor, make_executor

    kind: ExecutorKind | None = None if name is None else name.value
    try:
        choice = choose_executor(jobs, kind, workers, scheduler)
    except FlowsimError as exc:
        raise typer.BadParameter(f"{exc}; drop --executor or use --executor dask", param_hint="'--scheduler'") from None
    with make_executor(choice.kind, choice.workers, choice.scheduler_address) as executor:
        yield executor


# ---- options -------------------------------------------------------------------------------
GridOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="PATH=V1,V2,...",
        help="a swept parameter and its values (repeatable); A..B[:STEP] for whole numbers: 1..8, 4..32:4",
    ),
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", "-s", metavar="PATH=VALUE", help="override in both designs (repeatable)")
]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", "-w", metavar="N", min=1, help="local processes (default: all cores)")
]
ExecutorOpt = Annotated[ExecutorName | None, typer.Option("--executor", "-e", help="where runs go (default: process)")]
_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ws|wss|ucx)://)?(?:\[[0-9A-Fa-f:.]+\]|[\w.-]+):(\d{1,5})$")


def _scheduler_address(value: str | None) -> str | None:
    """A Dask scheduler address as Dask reads it (scheme://host:port), checked before any work."""
    if value is None:
        return None
    match = _ADDRESS.match(value.strip())
    if match is None or not 0 < int(match.group(1)) < 65536:
        raise typer.BadParameter(
            f"{value!r} is not a scheduler address: give tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786 "
            "(tls://, ws://, wss:// and ucx:// work too)"
        )
    return value.strip()


SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler", metavar="tcp://HOST:PORT", help="a Dask scheduler to send runs to", callback=_scheduler_address
    ),
]
ObjectiveOpt = Annotated[
    str | None,
    typer.Option(
        "--objective",
        metavar="[min|max FIGURE]",
        help=f"pick the best point meeting every SLO; alone it means '{DEFAULT_OBJECTIVE}'",
    ),
]


class _SweepCommand(Command):
    """Lets `--objective` stand alone: with no value it means the default objective."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, bare_objective(args))


def bare_objective(args: list[str]) -> list[str]:
    """`--objective` followed by nothing, another option or a YAML file gets the default value."""
    fixed = list(args)
    for i, arg in enumerate(fixed):
        following = fixed[i + 1] if i + 1 < len(fixed) else None
        bare = following is None or following.startswith("-") or following.endswith((".yaml", ".yml"))
        if arg == "--objective" and bare:
            fixed[i] = f"--objective={DEFAULT_OBJECTIVE}"
    return fixed


# ---- sweep ---------------------------------------------------------------------------------
def _engine(choice: EngineChoice | None) -> Engine | None:
    return choice.value if choice is not None else None


def sweep_command(
    scenario: ScenarioArg,
    sets: GridOpt = None,
    replications: Annotated[
        int | None, typer.Option("--replications", "-r", metavar="N", min=1, help="runs per point")
    ] = None,
    seed: SeedOpt = None,
    objective: ObjectiveOpt = None,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", metavar="DIR", help="write sweep.csv, sweep.parquet and plots")
    ] = None,
    max_events: MaxEventsOpt = None,
    engine: EngineOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run a scenario over a grid of parameter values; with --objective, pick the best design.

    Every combination of the --set values is a point; all points share the seed, so they differ by
    design, not by luck.
    """
    from flowsim.sweep import plan_sweep, run_sweep
    from flowsim.sweep_grid import parse_sets

    with user_errors(fmt is OutputFormat.json):
        given = read_input(scenario)  # a path, or the text of stdin for `-`
        plan = plan_sweep(given, parse_sets(sets or []), replications, seed=seed, objective=objective)
        label = f"sweeping {len(plan.points)} points x {plan.scenarios[0].replications} replications"
        with _executor(executor, workers, scheduler, plan.jobs) as pool, progress(not quiet, label) as bar:
            result = run_sweep(plan, executor=pool, progress=bar, max_events=max_events, engine=_engine(engine))
        best = result.best_index(objective) if objective is not None else None
        if out is not None:
            from flowsim.reports.export import write_sweep_outputs  # matplotlib loads only here

            written = write_sweep_outputs(result, out, objective)
            if not quiet:
                say(f"wrote {len(written)} files to {escape(str(out))}", to_stderr=True)
    _report_sweep(result, objective, best, fmt)
    if objective is not None and best is None:
        raise fail(f"no point meets every SLO ({len(result.points)} tried)")


def _report_sweep(result: SweepResult, objective: str | None, best: int | None, fmt: OutputFormat) -> None:
    from flowsim.sweep import parse_objective

    about_cost = objective is not None and parse_objective(objective)[1].startswith("cost.")
    if about_cost and all(not p.result.cost or not p.result.cost.by_node for p in result.points):
        warn("no node has a price, so every point costs 0; add 'price: {per_hour: ...}' to nodes")
    if fmt is OutputFormat.json:
        echo_json({"parameters": result.parameters, "objective": objective, "best": best, "points": result.records()})
        return
    from flowsim.reports.sweep_tables import sweep_table

    show(sweep_table(result, best))
    if best is not None:
        say(f"[bold green]best[/] ({escape(str(objective))}): {escape(result.points[best].label)}")


# ---- compare -------------------------------------------------------------------------------
def compare_command(
    a: Annotated[Path, typer.Argument(metavar="A", help=f"scenario of design A; {STDIN_HELP}", show_default=False)],
    b: Annotated[Path, typer.Argument(metavar="B", help="scenario of design B", show_default=False)],
    replications: Annotated[int, typer.Option("--replications", "-r", metavar="N", min=2, help="paired runs")] = 10,
    seed: SeedOpt = None,
    sets: SetOpt = None,
    executor: ExecutorOpt = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    max_events: MaxEventsOpt = None,
    engine: EngineOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Compare two designs under the same arrivals: B - A per figure, with paired 95% CIs.

    Both run with A's seed (or --seed) and the same replication indices, so sources with the
    same names draw the same arrivals (common random numbers): differences are the designs'.
    """
    from flowsim.compare import compare
    from flowsim.loading import load_scenario

    with user_errors(fmt is OutputFormat.json):
        overrides = assignments(sets)
        if str(a) == str(b) == "-":
            raise typer.BadParameter("only one of A and B can be '-' (stdin)", param_hint="B")
        first, second = (load_scenario(read_input(p), overrides=overrides, source=source_name(p)) for p in (a, b))
        with _executor(executor, workers, scheduler, 2 * replications) as pool, progress(not quiet, "comparing") as bar:
            comparison = compare(
                first, second, replications, seed=seed, executor=pool, progress=bar, max_events=max_events,
                engine=_engine(engine),
            )  # fmt: skip
    for warning in comparison.warnings:
        warn(warning)
    if fmt is OutputFormat.json:
        echo_json(comparison)
        return
    from flowsim.reports.sweep_tables import comparison_table

    show(comparison_table(comparison))
    say(
        f"{comparison.replications} paired replications, seed {comparison.seed} (common random numbers); "
        "sig. = the 95% CI of B - A excludes 0"
    )


def register(app: typer.Typer) -> None:
    """Add `sweep` and `compare` to the `flowsim` app."""
    command(
        app,
        sweep_command,
        "sweep",
        "flowsim sweep scenarios/baseline.yaml --set nodes.api.servers=1,2,3,4 -r 5",
        "flowsim sweep scenarios/baseline.yaml -s nodes.api.servers=2,3 -s load.multiplier=1,1.5 --objective",
        "flowsim sweep s.yaml -s nodes.api.servers=1,2,4 --objective 'min end_to_end.done.latency_s.p99' -o out/",
        "flowsim sweep s.yaml -s nodes.api.servers=1,2,4 --scheduler tcp://10.0.0.5:8786",
        cls=_SweepCommand,
    )
    command(
        app,
        compare_command,
        "compare",
        "flowsim compare scenarios/baseline.yaml scenarios/peak-3x.yaml",
        "flowsim compare a.yaml b.yaml -r 20 --format json",
    )
