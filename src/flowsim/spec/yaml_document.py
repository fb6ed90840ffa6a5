"""The parsed form of a YAML spec: plain data plus the source position of every value and key.

Shared by the parser (spec.yamlio) and the translation of validation errors (spec.yaml_errors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DataPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    """A 1-based position in the source text, as editors show it."""

    line: int
    column: int


@dataclass
class YamlDocument:
    """Parsed data plus the positions needed to point users at the exact offending text."""

    source: str
    data: Any
    marks: dict[DataPath, Mark] = field(default_factory=dict)  # where each value starts
    key_marks: dict[DataPath, Mark] = field(default_factory=dict)  # where each mapping key starts
    #: plain scalars YAML 1.1 read as something other than they look (NO -> false, 0x10 -> 16): their text
    surprises: dict[DataPath, str] = field(default_factory=dict)

    def mark_for(self, path: DataPath) -> Mark | None:
        """Position of the deepest known prefix, so errors about absent values still land nearby."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark is not None:
                return mark
        return None


def format_path(path: DataPath) -> str:
    """Path as users see it: ``nodes.api.edges[2]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out
