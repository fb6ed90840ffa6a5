"""The typer app of the `flowsim` command: the root options and every command group registered.

`flowsim.cli.main` imports this only when a command runs (not for `--version`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from flowsim.cli import describe, run, sweeps
from flowsim.cli.console import EXIT_OK, Group

HELP = (
    "[bold]flowsim[/] simulates data and ML platforms described as code.\n\n"
    "Write the architecture (nodes and edges) and a scenario (load, faults, SLOs) in YAML; flowsim runs a "
    "discrete-event simulation, compares it with queueing theory, and reports throughput, queues, "
    "latency percentiles and SLO verdicts.\n\n"
    "Start with:  [cyan]flowsim run scenarios/baseline.yaml[/]"
)

app = typer.Typer(
    name="flowsim", cls=Group, help=HELP, rich_markup_mode="rich", no_args_is_help=True,
    add_completion=True, context_settings={"help_option_names": ["-h", "--help"]},
)  # fmt: skip


def _version(value: bool) -> None:
    if value:
        from flowsim.version import __version__

        typer.echo(f"flowsim {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", metavar="", callback=_version, is_eager=True, help="show the version and exit")
    ] = False,
) -> None:
    """Options that apply before any command."""


run.register(app)
describe.register(app)
sweeps.register(app)


__all__ = ["app"]
