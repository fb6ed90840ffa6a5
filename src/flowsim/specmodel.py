"""The base of every model a user writes in YAML: unknown keys are errors, never silently ignored.

Numbers follow one rule (flowsim.units: Number, Count and the unit types): finite, in a stated
range, never a boolean.  `allow_inf_nan=False` backs it up for a float field a plug-in kind
declares without those types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue


class SpecModel(BaseModel):
    """A part of an architecture or scenario file as the user writes it."""

    # defer_build: a model's validator is built when it first validates, not at import, so a run
    # pays only for the kinds and options its files use (every kind's config is imported).
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, validate_default=True, allow_inf_nan=False, defer_build=True
    )

    @model_validator(mode="before")
    @classmethod
    def _aliases_as_written(cls, data: Any) -> Any:
        """A field named after a Python keyword (`for`, `from`, `mean`) is written by that name only:
        its attribute name (`for_`) would otherwise be taken silently."""
        if isinstance(data, dict):
            for name, info in cls.model_fields.items():
                if info.alias is not None and info.alias != name and name in data:
                    raise ValueError(f"unknown field '{name}': write '{info.alias}'")
        return data


@dataclass(frozen=True)
class AlsoAccepts:
    """Field metadata: the JSON Schema also accepts this shorthand, which a before-validator expands.

    Without it a schema knows only the expanded form, and editors flag `a -> b` edges, string
    SLOs and bare quantities that flowsim reads well.
    """

    shorthand: dict[str, Any] = field(default_factory=dict)

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"anyOf": [handler(core_schema), dict(self.shorthand)]}

    def __hash__(self) -> int:
        return hash(repr(self.shorthand))
