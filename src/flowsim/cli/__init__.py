"""The `flowsim` command: a thin skin over the Python API (`flowsim.simulate` and friends).

One module per command group (`run`: run and check; `describe`: schema, graph and kinds;
`validate`; `sweeps`: sweep and compare), `console` for what they share (messages, the error
boundary, --format, exit codes: 0 ok; 1 a failed SLO; 2 refused input or usage), and
`root`, the typer app that registers them.  Commands import the simulator when they run, and
`flowsim --version` answers before typer is imported, so both start at once.
"""

from __future__ import annotations

import signal
import sys
from typing import TYPE_CHECKING, Any

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

    app(prog_name="flowsim")


__all__ = ["app", "main"]
