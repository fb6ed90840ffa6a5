"""Tall tables as plain text in one pass, for output that is not a terminal (a pipe or a file).

rich lays out a table cell by cell (a measure, a padding, a wrap and a crop each), about 0.2 ms a
cell twice over: a design of 3,000 nodes has 150,000 cells in its theory table alone.  Without a
terminal there are no colours and no window to fit, so a table in the house style
(`flowsim.reports.tables.new_table`) whose cells are text is laid out here in one linear pass,
into the very lines rich would print.  Anything else (another box, a caption, a column of fixed
width, a cell that is not text) is left to rich.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

#: below this many rows rich's own layout costs little: small tables keep it
TALL = 100


class PlainLines:
    """Lines already laid out: measured and printed as they are."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.lines = list(lines)
        self.width = max((_width(line) for line in self.lines), default=0)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines:
            yield Segment(line)
            yield Segment.line()


def _house_style(table: Table) -> bool:
    """The options `new_table` sets and nothing that needs rich's own layout."""
    return (
        table.box is box.SIMPLE_HEAD and not table.show_edge and not table.pad_edge and table.collapse_padding
        and table.padding == (0, 1, 0, 1) and table.show_header and not table.show_footer
        and not table.show_lines and not table.leading and not table.row_styles and not table.expand
        and table.width is None and table.min_width is None and table.caption is None and table.title_justify == "left"
        and all(c.width is None and c.min_width is None and c.max_width is None and c.ratio is None
                and c.vertical == "top" for c in table.columns)
    )  # fmt: skip


def _text(console: Console, renderable: RenderableType) -> Text | None:
    if isinstance(renderable, str):
        return console.render_str(renderable, highlight=False)
    return renderable if isinstance(renderable, Text) else None


def _width(line: str) -> int:
    return len(line) if line.isascii() else cell_len(line)


def _cell_lines(console: Console, renderable: RenderableType) -> tuple[list[str], str | None] | None:
    """A cell's lines and its own justify; None when rich must lay it out (tabs, controls)."""
    if isinstance(renderable, str) and "[" not in renderable and ":" not in renderable:
        plain, justify = renderable, None  # no markup, no emoji code: rich would print it as it is
    else:
        text = _text(console, renderable)
        if text is None:
            return None
        plain, justify = text.plain, text.justify
    if not plain.replace("\n", "").isprintable() or justify == "full":
        return None  # tabs and control codes: rich lays them out
    return plain.split("\n"), justify


def _fit(line: str, width: int, justify: str) -> str:
    """One line of a cell in its column, as rich justifies it (right and center strip trailing blanks)."""
    if justify in ("right", "center"):
        line = line.rstrip()
    room = width - _width(line)
    if justify == "right":
        return " " * room + line
    if justify == "center":
        return " " * (room // 2) + line + " " * (room - room // 2)
    return line + " " * room


def plain_table_lines(table: Table, console: Console) -> list[str] | None:
    """The lines rich prints for `table` without colour at a width it fits in; None if rich must."""
    if not _house_style(table):
        return None
    columns = table.columns
    count = len(columns)
    if count == 0:
        return None
    cells = [list(column.cells) for column in columns]
    grid: list[list[tuple[list[str], str]]] = []  # per row (header first), per column: lines, justify
    for row_index in range(-1, table.row_count):
        row: list[tuple[list[str], str]] = []
        for column, column_cells in zip(columns, cells, strict=True):
            if row_index < 0:
                renderable: RenderableType = column.header
            else:
                renderable = column_cells[row_index] if row_index < len(column_cells) else ""
            found = _cell_lines(console, renderable)
            if found is None:
                return None
            lines, own = found
            row.append((lines, own or column.justify))
        grid.append(row)
    # padding: no left pad (collapsed, or the edge); one on the right except on the last column
    pads = [0 if i == count - 1 else 1 for i in range(count)]
    widths = [max(_width(line) for row in grid for line in row[i][0]) for i in range(count)]
    full = sum(widths) + sum(pads) + count - 1
    title = _text(console, table.title) if table.title else Text("")
    if title is None or "\n" in title.plain or "\t" in title.plain or cell_len(title.plain) > full:
        return None  # rich wraps or lays out the title itself
    out = [title.plain + " " * (full - cell_len(title.plain))] if title.plain else []
    sections = [r.end_section for r in table.rows]
    for index, row in enumerate(grid):
        height = max(len(lines) for lines, _ in row)
        for line_no in range(height):
            parts = []
            for i, (lines, justify) in enumerate(row):
                at = line_no - (height - len(lines) if index == 0 else 0)  # rich puts headers at the bottom
                line = lines[at] if 0 <= at < len(lines) else ""
                parts.append(_fit(line, widths[i], justify if 0 <= at < len(lines) else "left") + " " * pads[i])
            out.append(" ".join(parts))
        if index == 0:
            out.append("─" * full)
        elif sections[index - 1] and index < len(grid) - 1:
            out.append(" " * full)
    return out


def plain_tables(renderable: RenderableType, console: Console, tall: int = TALL) -> RenderableType:
    """`renderable` with each tall house-style table (inside groups too) replaced by its lines."""
    if isinstance(renderable, Group):
        return Group(*(plain_tables(part, console, tall) for part in renderable.renderables), fit=renderable.fit)
    if isinstance(renderable, Table) and renderable.row_count >= tall:
        lines = plain_table_lines(renderable, console)
        return renderable if lines is None else PlainLines(lines)
    return renderable
