"""Shipped files, mutated the way careless hands and hostile ones would, must never break flowsim.

Each mutant of a file in scenarios/ or architectures/ (a value swapped for `.inf`, `yes`, `NO`,
`0x10`, `1e308`, a list, a typo'd key; a line deleted, doubled or cut short) is validated.  The
answer must be exit 0 (still a valid design) or exit 1 with every error line located at
file:line; never a Python exception, never exit 2, and always an answer (the run is bounded by the
example count, with no per-example clock).  The fast lane runs 15 mutants; the full run
500 more (a few minutes), and `FLOWSIM_MUTANTS=2000 pytest tests/test_mutants.py` the long hunt.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flowsim.cli import app

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(
    p.relative_to(ROOT).as_posix() for d in ("scenarios", "architectures") for p in (ROOT / d).glob("*.yaml")
)
TOKENS = [
    ".inf", "-.inf", ".nan", "1e308", "-1", "0", "1e-320", "yes", "NO", "on", "0x10", "1_000", "010", "1:30",
    "~", "''", "[]", "{}", "[1, 2]", "{a: 1}", "1us", "0s", "-5s", "10000000000000000", "'0 0 31 2 *'",
    "every 1us", "servce", "x" * 300, "*anchor", "!!python/object:os.system", "'\\u0000'", "\"\"",
]  # fmt: skip
LOCATED = re.compile(r"^error: \S+?:\d+(:\d+)?: ")
EXCEPTION = re.compile(r"Traceback|Error:|Exception|Input should")
SEEN: list[int] = []


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped files, so a mutant can sit where its relative paths still resolve."""
    root = tmp_path_factory.mktemp("shipped")
    for folder in ("scenarios", "architectures", "traces"):
        if (ROOT / folder).is_dir():
            shutil.copytree(ROOT / folder, root / folder)
    return root


@pytest.fixture(scope="module", autouse=True)
def tally() -> Iterator[None]:
    """With -s, how the mutants were answered: exit 0 (still valid) and exit 1 (refused, located)."""
    yield
    print(f"\nmutants validated: {len(SEEN)}; still valid: {SEEN.count(0)}; refused: {SEEN.count(1)}")


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, str]:
    path = draw(st.sampled_from(SHIPPED))
    lines = (ROOT / path).read_text().splitlines()
    i = draw(st.integers(0, len(lines) - 1))
    how = draw(st.sampled_from(["value", "value", "value", "delete", "double", "insert", "cut", "key"]))
    token = draw(st.sampled_from(TOKENS))
    line = lines[i]
    if how == "value" and ":" in line:
        head, _, _ = line.partition(":")
        lines[i] = f"{head}: {token}"
    elif how == "delete":
        del lines[i]
    elif how == "double":
        lines.insert(i, line)
    elif how == "insert":
        indent = len(line) - len(line.lstrip())
        lines.insert(i, " " * indent + f"{draw(st.sampled_from(['servers', 'rate', 'x', 'kind']))}: {token}")
    elif how == "cut":
        lines = lines[: i + 1]
    elif how == "key" and ":" in line:
        head, sep, tail = line.partition(":")
        lines[i] = head[:-1] + head[-1:] * 2 + sep + tail if head.strip() else line
    return path, "\n".join(lines) + "\n"


def _check(tree: Path, mutant: tuple[str, str]) -> None:
    path, text = mutant
    target = tree / path
    original = target.read_text()
    target.write_text(text)
    try:
        result = CliRunner().invoke(app, ["validate", str(target)])
    finally:
        target.write_text(original)
    output = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert result.exit_code in (0, 1), output
    assert not EXCEPTION.search(output), output
    if result.exit_code == 1:
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert errors and all(LOCATED.match(line) for line in errors), output
    SEEN.append(result.exit_code)


@seed(20261201)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutant=mutants())
def test_a_few_mutants_of_shipped_files(tree: Path, mutant: tuple[str, str]) -> None:
    _check(tree, mutant)


MANY = int(os.environ.get("FLOWSIM_MUTANTS", "500"))


@pytest.mark.slow
@seed(12)
@settings(max_examples=MANY, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutant=mutants())
def test_many_mutants_of_shipped_files(tree: Path, mutant: tuple[str, str]) -> None:
    _check(tree, mutant)
