"""Errors that flowsim raises on purpose.

Every error a user can cause is a :class:`FlowsimError`; the CLI and the app catch exactly this
type and print its message, so a traceback always means a bug in flowsim, never in the input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located as precisely as we can."""

    message: str
    source: str = "<input>"
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    field: str = ""  # dotted path inside the document, e.g. "nodes.api.servers"
    hint: str = ""  # what would be accepted, e.g. "did you mean 'servers'?"

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: "
        if self.field:
            text += f"{self.field}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class FlowsimError(Exception):
    """Base class of every error caused by the user's input or request."""


def message_lines(exc: FlowsimError) -> list[str]:
    """An error's message one line per entry (its type's name when it says nothing), for the
    reports that list problems: a `SpecError` has located problems, any other error only these."""
    return str(exc).splitlines() or [type(exc).__name__]


class SpecError(FlowsimError):
    """An architecture or scenario file is invalid; carries one or more located problems."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SimulationTooLarge(FlowsimError):
    """The estimated number of events exceeds the configured limit."""


class Cancelled(FlowsimError):
    """The caller's `stop` hook asked a run to end; nothing of it is returned (earlier runs are untouched)."""


def not_a_file(written: str, target: str | os.PathLike[str]) -> str:
    """Why `target` (what `written` names) cannot be read as a file, in words: 'not found', 'is a
    directory', ... (for a path the caller found is not a regular file)."""
    if not written.strip():
        return "is empty: no path is given"
    if os.path.isdir(target):
        return "is a directory, not a file"
    if os.path.exists(target):
        return "is not a regular file (a device, a pipe or a socket)"
    return "not found"
