"""Scenario text for the app: shipped files made self-contained, the effective YAML, error excerpts.

A shipped scenario names its architecture by a path relative to its own file, which means
nothing once the text sits in a browser's editor.  The app therefore shows the scenario with
the architecture file's text inlined under `architecture:`; every line number in an error then
points into the text the user sees, and the text (or its download) runs anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from flowsim.errors import Problem

_ARCHITECTURE_LINE = re.compile(
    r"^architecture:[ \t]*(?P<quote>['\"]?)(?P<path>[^'\"#\n]+?\.ya?ml)(?P=quote)[ \t]*(?:#.*)?$", re.MULTILINE
)
_SCHEMA_COMMENT = re.compile(r"^#\s*yaml-language-server:.*\n?", re.MULTILINE)
_TOP_LEVEL_KEY = re.compile(r"^[^\s#-][^:]*:")


def shipped_scenarios(directory: Path) -> dict[str, Path]:
    """Scenario files by name (file stem), sorted; empty when the directory does not exist."""
    if not directory.is_dir():
        return {}
    return {path.stem: path for path in sorted(directory.glob("*.y*ml"))}


def _find(reference: str, bases: Sequence[Path]) -> Path | None:
    for base in bases:
        candidate = base / reference
        if candidate.is_file():
            return candidate
    return None


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" if line.strip() else "" for line in text.splitlines())


def inline_architecture(text: str, bases: Sequence[Path]) -> str:
    """Replace a top-level `architecture: <file>.yaml` by that file's text, indented under the key.

    The file is looked up relative to each of `bases` in turn; the text is returned unchanged
    when there is no such line or no such file (loading will then report where it looked).
    """
    text = _SCHEMA_COMMENT.sub("", text)
    match = _ARCHITECTURE_LINE.search(text)
    target = _find(match["path"].strip(), bases) if match else None
    if match is None or target is None:
        return text
    try:
        body = _SCHEMA_COMMENT.sub("", target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return text
    block = f"architecture:  # inlined from {match['path'].strip()}\n{_indented(body)}"
    return text[: match.start()] + block + text[match.end() :]


def read_shipped(path: Path) -> str:
    """A shipped scenario's text, its architecture inlined."""
    return inline_architecture(path.read_text(encoding="utf-8"), [path.parent])


# ---- the effective YAML ----------------------------------------------------------------------
def _without_top_level(text: str, key: str) -> str:
    """The text without the block of top-level `key:` (the key line and its indented lines)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if re.match(rf"^{re.escape(key)}\s*:", line)), None)
    if start is None:
        return text
    end = next((i for i in range(start + 1, len(lines)) if _TOP_LEVEL_KEY.match(lines[i])), len(lines))
    return "\n".join(lines[:start] + lines[end:])


def _dump(data: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=None, allow_unicode=True, width=100)


def _same(candidate: str, text: str, overrides: Mapping[str, Any]) -> bool:
    """Whether `candidate` parses to the original document with exactly these overrides."""
    try:
        new, old = yaml.safe_load(candidate), yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    if not isinstance(new, dict) or not isinstance(old, dict):
        return False
    old = {k: v for k, v in old.items() if k != "overrides"} | ({"overrides": dict(overrides)} if overrides else {})
    return new == old


def effective_yaml(text: str, overrides: Mapping[str, Any]) -> str:
    """The scenario text with its `overrides:` section replaced by `overrides` (comments kept).

    `overrides` should be the merged set a loaded scenario carries (`scenario.overrides`).
    Documents the line-based edit cannot handle (e.g. one flow mapping) are re-dumped instead.
    """
    body = _without_top_level(text, "overrides").rstrip()
    candidate = body + "\n"
    if overrides:
        candidate += "\n# set in the flowsim app; applied before validation\n" + _dump({"overrides": overrides})
    if _same(candidate, text, overrides):
        return candidate
    data = yaml.safe_load(text)
    data.pop("overrides", None)
    return _dump(data | ({"overrides": dict(overrides)} if overrides else {}))


# ---- errors ----------------------------------------------------------------------------------
def excerpt(text: str, problem: Problem, context: int = 1) -> str | None:
    """The lines around a problem, numbered, with a caret under its column; None without a line."""
    if problem.line is None:
        return None
    lines = text.splitlines()
    if not 1 <= problem.line <= len(lines):
        return None
    first, last = max(1, problem.line - context), min(len(lines), problem.line + context)
    width = len(str(last))
    shown = []
    for number in range(first, last + 1):
        shown.append(f"{number:>{width}} | {lines[number - 1]}")
        if number == problem.line and problem.column is not None:
            shown.append(" " * (width + 3 + problem.column - 1) + "^")
    return "\n".join(shown)


def location(problem: Problem) -> str:
    """'line 12, column 5' in the editor's text, or the file the problem is in."""
    where = [] if problem.source in ("<input>", "") else [problem.source]
    if problem.line is not None:
        where.append(f"line {problem.line}" + (f", column {problem.column}" if problem.column else ""))
    return ", ".join(where)


def describe(problem: Problem) -> str:
    """'nodes.api.servers: message (hint)': what is wrong and what would be accepted."""
    text = (f"{problem.field}: " if problem.field else "") + problem.message
    return f"{text} ({problem.hint})" if problem.hint else text


def without_server_paths(problems: Sequence[Problem], root: Path) -> list[Problem]:
    """The problems with this server's folders cut to paths inside the project (`scenarios/...`).

    A relative path in pasted text is read against the shipped scenarios folder; when it names no
    file, the user is told which shipped files exist, not where the server keeps them.
    """
    prefix = str(root.resolve()) + "/"
    shipped = ", ".join(sorted(p.name for p in (root / "architectures").glob("*.yaml")))
    fixed = []
    for problem in problems:
        message, hint = problem.message.replace(prefix, ""), problem.hint.replace(prefix, "")
        if "not found" in message and shipped:
            hint = (f"a relative path is read from the shipped scenarios folder: '../architectures/<file>' names a "
                    f"shipped architecture ({shipped}); otherwise paste or upload the scenario with its "
                    "architecture inline")  # fmt: skip
        fixed.append(Problem(message, problem.source, problem.line, problem.column, problem.field, hint))
    return fixed
