"""Tall tables laid out as plain lines (flowsim.reports.plain_table) print what rich prints, and
`show` gives rich's own table layout none of them: no timing, the work is counted instead."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import rich.console
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

import flowsim
from flowsim.cli import console as cli_console
from flowsim.reports.plain_table import PlainLines, plain_table_lines, plain_tables
from flowsim.reports.tables import new_table, report

ROOT = Path(__file__).resolve().parent.parent


def rich_text(renderable: RenderableType, width: int = 10_000) -> str:
    buffer = io.StringIO()
    Console(file=buffer, soft_wrap=False, width=width).print(renderable)
    return buffer.getvalue()


def tables(renderable: RenderableType) -> list[Table]:
    if isinstance(renderable, Group):
        return [t for part in renderable.renderables for t in tables(part)]
    return [renderable] if isinstance(renderable, Table) else []


def mixed_table(rows: int) -> Table:
    table = new_table("Mixed cells")
    table.add_column("node\n[dim]kind[/]")
    table.add_column("count", justify="right")
    table.add_column("mark", justify="center")
    table.add_column("note", overflow="fold")
    for i in range(rows):
        label = Text(f"n{i}", style="bold").append(f"\n{'kind' * (i % 3)}", style="dim cyan")
        value = Text(f"{i * 37:,}") if i % 4 else Text(f"{i}\n± 0.{i}", style="dim")
        note = "" if i % 2 else f"[yellow]note[/] {i} ·  trailing  "
        table.add_row(label, value, Text("✓" if i % 2 else "✗"), note, end_section=i % 5 == 4)
    return table


@pytest.mark.parametrize("rows", [1, 2, 7, 120])
def test_plain_lines_are_what_rich_prints(rows: int) -> None:
    table = mixed_table(rows)
    lines = plain_table_lines(table, Console(file=io.StringIO()))
    assert lines is not None
    assert "\n".join(lines) + "\n" == rich_text(table)


def test_a_report_prints_the_same_either_way() -> None:
    scenario = flowsim.load_scenario(ROOT / "scenarios" / "baseline.yaml")
    result = flowsim.simulate(scenario, replications=2)
    whole = report(result, scenario)
    found = tables(whole)
    assert found
    for table in found:
        lines = plain_table_lines(table, Console(file=io.StringIO()))
        assert lines is not None, table.title
        assert "\n".join(lines) + "\n" == rich_text(table), table.title
    plain = plain_tables(whole, Console(file=io.StringIO()), tall=0)
    assert rich_text(plain) == rich_text(whole)


def test_other_styles_are_left_to_rich() -> None:
    table = Table(title="boxed")  # rich's default box: not the house style
    table.add_column("a")
    table.add_row("1")
    assert plain_table_lines(table, Console(file=io.StringIO())) is None
    assert plain_tables(table, Console(file=io.StringIO()), tall=0) is table


def test_show_lays_out_tall_tables_without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    """Into a pipe, `show` hands rich's table layout only the small table of three."""
    whole = Group(Text("head"), mixed_table(500), mixed_table(3))
    expected = rich_text(whole)  # as wide as it needs, as `show` prints into a pipe
    printed = io.StringIO()
    real_console = Console  # `show` imports rich's Console when it prints: patched there

    def pipe(*args: object, **kwargs: object) -> Console:
        return real_console(*args, file=printed, **kwargs)  # type: ignore[arg-type]

    calls = {"layout": 0}
    original = Table.__rich_console__

    def counted(self: Table, *args: object) -> object:
        calls["layout"] += 1
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(rich.console, "Console", pipe)
    monkeypatch.setattr(Table, "__rich_console__", counted)
    cli_console.show(whole)
    assert calls["layout"] == 1
    assert printed.getvalue() == expected
    assert isinstance(plain_tables(mixed_table(500), Console(file=io.StringIO())), PlainLines)
