"""What every `flowsim` command shares: consoles, messages, the error boundary, --format, exit codes.

Exit codes: 0 ok; 1 the answer is no (a failed SLO, an invalid file for `validate`); 2 refused input
or a usage error (click's own).
A `FlowsimError` is caught at the command boundary (`user_errors`) and printed without a
traceback: a traceback from this command always means a bug in flowsim, never in the input.

Only typer and rich are imported here; each command imports the simulator when it runs, so
`flowsim --help` and `flowsim --version` start at once.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from flowsim.errors import FlowsimError, SpecError, message_lines

if TYPE_CHECKING:
    from rich.console import Console, RenderableType


_MARKUP_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def escape(text: str) -> str:
    """rich's `markup.escape`, here so that registering the commands' help does not load rich
    (a JSON run that prints nothing else never does): a `[tag]`-like text, and the backslashes
    before it, are escaped; a trailing lone backslash is doubled."""
    escaped = _MARKUP_TAG.sub(lambda match: f"{match[1]}{match[1]}\\{match[2]}", text)
    if escaped.endswith("\\") and not escaped.endswith("\\\\"):
        return escaped + "\\"
    return escaped


EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and the answer is no: a failed SLO, a file `validate` finds invalid
EXIT_REFUSED = 2  # the command could not do its work: invalid input or options (click's usage errors too)


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


# ---- options every command group uses -------------------------------------------------------
STDIN = "-"
STDIN_HELP = "'-' reads stdin (its relative paths are resolved from the current directory)"
ScenarioArg = Annotated[
    Path, typer.Argument(metavar="SCENARIO", help=f"scenario YAML file; {STDIN_HELP}", show_default=False)
]
SeedOpt = Annotated[
    int | None, typer.Option("--seed", metavar="N", min=0, help="random seed (default: the scenario's)")
]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="table for people, json for scripts")]
MaxEventsOpt = Annotated[
    int | None,
    typer.Option(
        "--max-events",
        metavar="N",
        min=1,
        help="per-message event budget: above it auto runs fluid, per_message refuses",
    ),
]


class EngineChoice(StrEnum):
    auto = "auto"
    per_message = "per_message"
    fluid = "fluid"


EngineOpt = Annotated[
    EngineChoice | None,
    typer.Option(
        "--engine",
        help="auto: per-message within the event budget, fluid above it; wins over the scenario's `engine`",
        show_default=False,
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", metavar="", help="no progress bar or status lines")]


def _plain_help(params: list[Any], help_option: Any) -> None:
    """No `<bool>` beside --help and the flags, no `<path>` beside an argument that names itself."""
    if help_option is not None:
        help_option.metavar = ""
    for param in params:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", None) is None:
            param.metavar = ""
        if getattr(param, "param_type_name", "") == "argument" and getattr(param, "metavar", None):
            setattr(param, "display_type_rich", lambda ctx: None)  # noqa: B010 - typer >= 0.19 reads it


class Command(TyperCommand):
    """Every `flowsim` command: help that shows names, not Python types."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        _plain_help(list(self.params), option)
        return option


class Group(TyperGroup):
    """The `flowsim` group itself, with the same plain help."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        _plain_help(list(self.params), option)
        return option


def prose(doc: str | None) -> str:
    """A docstring as help: paragraphs kept, the line breaks inside them dropped.

    typer's rich mode keeps every newline of a docstring, so a paragraph wrapped at 100 columns in
    the source breaks mid-sentence in an 80-column terminal; joined, rich wraps it to the window.
    """
    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def command(app: typer.Typer, function: Callable[..., None], name: str | None = None, *examples: str,
            cls: type[TyperCommand] = Command) -> None:  # fmt: skip
    """Register `function` as a command: its docstring as prose, `examples` as the epilog."""
    app.command(name, cls=cls, help=prose(function.__doc__), epilog=example(*examples))(function)


def example(*lines: str) -> str:
    """The Examples section of a command's help."""
    return "[bold]Examples[/]\n\n" + "\n\n".join(f"  [cyan]{escape(line)}[/]" for line in lines)


def read_input(path: Path) -> Path | str:
    """The file to load: the path itself, or for `-` the text of stdin.

    Stdin text is given to the loaders as text (their `base_dir` is the current directory, so the
    `architecture:` path of a scenario read from stdin is relative to where the command runs).
    A trailing newline keeps a one-line text from being taken for a file name.
    """
    import sys

    from flowsim.spec.yamlio import MAX_BYTES

    stream = str(path) == STDIN
    if not stream and (path.is_file() or not path.exists()):
        return path
    # stdin, or a pipe such as <(cat x.yaml), which can be read once only: read it here, once
    what = source_name(path)
    try:  # at most one byte over the size a file may have: an endless stream is refused, not read on
        if stream:
            raw: bytes | str = (
                sys.stdin.buffer.read(MAX_BYTES + 1) if hasattr(sys.stdin, "buffer") else sys.stdin.read(MAX_BYTES + 1)
            )
        else:
            with path.open("rb") as handle:
                raw = handle.read(MAX_BYTES + 1)
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start : exc.start + 1].hex()
        raise FlowsimError(f"{what}: the text is not UTF-8 (byte 0x{byte}); save it with UTF-8 encoding") from None
    except OSError as exc:
        raise FlowsimError(f"{what}: cannot read it: {exc.strerror or exc}") from None
    if len(text) > MAX_BYTES:
        big = "standard input" if stream else what
        raise FlowsimError(f"{big} is too large (over {MAX_BYTES} bytes); split it into smaller files")
    return text if text.endswith("\n") else text + "\n"


def assignments(sets: list[str] | None) -> dict[str, Any]:
    """`--set PATH=VALUE` options as overrides; one without `=` is a usage error (exit 2), as
    click's own are."""
    from flowsim.loading import parse_assignment

    found: dict[str, Any] = {}
    for text in sets or []:
        try:
            path, value = parse_assignment(text)
        except SpecError as err:
            raise typer.BadParameter(err.problems[0].message, param_hint="--set") from None
        if path in found and found[path] != value:  # which one was meant is a guess
            raise typer.BadParameter(
                f"{path} is set twice ({found[path]!r} and {value!r}); give it once (a sweep takes "
                "several values: flowsim sweep --set PATH=V1,V2)",
                param_hint="--set",
            )
        found[path] = value
    return found


def source_name(path: Path) -> str:
    """What messages call an input: its path, or `<stdin>` for `-`."""
    return "<stdin>" if str(path) == STDIN else str(path)


# ---- output ---------------------------------------------------------------------------------
def stdout() -> Console:
    from rich.console import Console

    return Console(soft_wrap=False)


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def show(renderable: RenderableType) -> None:
    """A table (or any rich renderable) on stdout, at full width.

    In a terminal rich fits it to the window; into a pipe or a file (where rich would assume 80
    columns and crop the last ones) it is printed as wide as it needs, so nothing is lost, and a
    tall table is laid out as plain lines in one pass (`flowsim.reports.plain_table`): rich's
    layout costs about 0.2 ms a cell, seconds for the theory table of a design of 1,000 nodes.
    """
    console = stdout()
    if not console.is_terminal:
        from rich.console import Console
        from rich.measure import Measurement

        if console.color_system is None:  # plain text: tall tables are laid out in one pass, not by rich
            from flowsim.reports.plain_table import plain_tables

            renderable = plain_tables(renderable, console)
        wide = Measurement.get(console, console.options.update(width=10_000), renderable).maximum
        console = Console(soft_wrap=False, width=max(console.width, wide))
    console.print(renderable)


def echo_json(data: Any) -> None:
    """`--format json`: the document alone on stdout (status lines go to stderr), for jq and scripts."""
    dump = getattr(data, "model_dump_json", None)
    typer.echo(dump(indent=2) if callable(dump) else json.dumps(data, indent=2, default=str))


def say(text: str, to_stderr: bool = False) -> None:
    """Print a status line; soft-wrapped so paths and messages stay whole in logs."""
    (stderr() if to_stderr else stdout()).print(text, soft_wrap=True, highlight=False)


def warn(text: str) -> None:
    say(f"[bold yellow]warning:[/] {escape(text)}", to_stderr=True)


def error(text: str) -> None:
    say(f"[bold red]error:[/] {escape(text)}", to_stderr=True)


def report_error(exc: FlowsimError) -> None:
    """Each located problem on its own line, so editors and CI logs can jump to it."""
    lines = [str(p) for p in exc.problems] if isinstance(exc, SpecError) else message_lines(exc)
    for line in lines or [type(exc).__name__]:
        error(line)


def fail(message: str) -> typer.Exit:
    """A red ✗ line on stderr and the exit (code 1) to raise: the check ran, and the answer is no."""
    say(f"[bold red]✗[/] {message}", to_stderr=True)
    return typer.Exit(EXIT_FAILED)


def error_document(exc: FlowsimError) -> dict[str, Any]:
    """A refusal as `--format json` prints it: what went wrong, each problem located."""
    if isinstance(exc, SpecError):
        problems = [
            {"source": p.source, "line": p.line, "column": p.column, "field": p.field, "message": p.message,
             "hint": p.hint, "text": str(p)}
            for p in exc.problems
        ]  # fmt: skip
    else:
        problems = [{"source": None, "line": None, "column": None, "field": "", "message": line, "hint": "",
                     "text": line} for line in message_lines(exc)]  # fmt: skip
    return {"error": {"type": type(exc).__name__, "exit_code": EXIT_REFUSED, "problems": problems}}


@contextmanager
def user_errors(json_output: bool = False) -> Iterator[None]:
    """The command boundary: input mistakes become a message and exit code 2, never a traceback.

    With `json_output` (`--format json`) the refusal is also a JSON document on stdout, so a
    script that parses stdout reads why instead of an empty string.
    """
    try:
        yield
    except FlowsimError as exc:
        report_error(exc)
        if json_output:
            echo_json(error_document(exc))
        raise typer.Exit(EXIT_REFUSED) from None


def write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise FlowsimError(f"cannot write {path}: {exc.strerror or exc}") from None


def _stderr_may_be_a_terminal() -> bool:
    """Without a terminal (a pipe, a file, CI) rich is not loaded just to learn that; rich's own
    test (FORCE_TERMINAL and the like) decides when one may be there."""
    import sys

    return sys.stderr.isatty() or bool(os.environ.get("FORCE_TERMINAL") or os.environ.get("TTY_COMPATIBLE"))


@contextmanager
def progress(enabled: bool, label: str = "simulating") -> Iterator[Callable[[float], None] | None]:
    """A progress bar on stderr, only where someone can see it (a terminal, not --quiet)."""
    if not enabled or not _stderr_may_be_a_terminal():
        yield None
        return
    console = stderr()
    if not console.is_terminal:
        yield None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(escape(label)), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
        TextColumn("left"), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=1.0)
        yield lambda fraction: bar.update(task, completed=fraction)
