"""The `flowsim` command: a thin skin over the Python API (`flowsim.simulate` and friends).

One module per command group (`run`: run and check; `describe`: validate, schema, graph and
kinds; `sweeps`: sweep and compare), and `console` for what they share: messages, the error
boundary, --format and exit codes (0 ok; 1 invalid input, failed SLO or refused run; 2 usage).
Commands import the simulator when they run, so `--help` and `--version` start at once.
"""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from flowsim.cli import describe, run, sweeps
from flowsim.cli.console import EXIT_OK

HELP = (
    "[bold]flowsim[/] simulates data and ML platforms described as code.\n\n"
    "Write the architecture (nodes and edges) and a scenario (load, faults, SLOs) in YAML; flowsim runs a "
    "discrete-event simulation, compares it with queueing theory, and reports throughput, queues, "
    "latency percentiles and SLO verdicts.\n\n"
    "Start with:  [cyan]flowsim run scenarios/baseline.yaml[/]"
)

app = typer.Typer(
    name="flowsim", help=HELP, rich_markup_mode="rich", no_args_is_help=True,
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
        bool, typer.Option("--version", callback=_version, is_eager=True, help="show the version and exit")
    ] = False,
) -> None:
    """Options that apply before any command."""


run.register(app)
describe.register(app)
sweeps.register(app)


def main() -> None:
    """Console-script entry point (`flowsim = flowsim.cli:main`).

    A closed pipe (`flowsim validate ... | head -1`) ends the command quietly, as it ends `ls` or
    `git log`, instead of an error and exit code 1 from a failed write.
    """
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    app(prog_name="flowsim")


__all__ = ["app", "main"]
