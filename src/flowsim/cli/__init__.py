"""The `flowsim` command: a thin skin over the Python API (`flowsim.simulate` and friends).

One module per command group (`run`: run and check; `describe`: schema, graph and kinds;
`validate`; `sweeps`: sweep and compare), `console` for what they share (messages, the error
boundary, --format, exit codes: 0 ok; 1 a failed SLO; 2 refused input or usage), and
`root`, the typer app that registers them.  Commands import the simulator when they run, and
`flowsim --version` answers before typer is imported, so both start at once.
"""

from __future__ import annotations

import itertools
import signal
import sys
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from flowsim.cli.root import app


def __getattr__(name: str) -> Any:
    """the typer app (`flowsim.cli.root.app`) on first use, so importing this package stays cheap."""
    if name == "app":
        from flowsim.cli.root import app

        return app
    raise AttributeError(f"module 'flowsim.cli' has no attribute {name!r}")


def main() -> None:
    """Console-script entry point (`flowsim = flowsim.cli:main`).

    `flowsim --version` alone is answered here, before typer, rich and the commands are imported.
    A closed pipe (`flowsim validate ... | head -1`) ends the command quietly, as it ends `ls` or
    `git log`, instead of an error and exit code 1 from a failed write.
    """
    if sys.argv[1:] == ["--version"]:
        from flowsim.version import __version__

        print(f"flowsim {__version__}")
        return
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    from flowsim.cli.root import app

    if not _wants_json(sys.argv[1:]):
        app(prog_name="flowsim")
        return
    # --format json promises a JSON document on stdout for a refusal too, the parser's own included
    import json

    import typer

    # the parser's usage error, whichever click typer carries (its own copy since typer 0.24)
    usage_error = cast(
        "type[typer.BadParameter]", next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    )
    try:
        code = app(prog_name="flowsim", standalone_mode=False)
    except usage_error as exc:
        exc.show()
        said = {"type": "UsageError", "exit_code": 2, "message": exc.format_message(), "problems": []}
        print(json.dumps({"error": said}, indent=2))
        sys.exit(2)
    except typer.Abort:
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _wants_json(args: list[str]) -> bool:
    """Whether the command line asks for `--format json` (`-f json`, `--format=json`)."""
    pairs = itertools.pairwise(args)
    return "--format=json" in args or "-fjson" in args or any(a in ("--format", "-f") and b == "json" for a, b in pairs)


__all__ = ["app", "main"]
