"""The base of every model a user writes in YAML: unknown keys are errors, never silently ignored.

Numbers follow one rule (flowsim.units: Number, Count and the unit types): finite, in a stated
range, never a boolean.  `allow_inf_nan=False` backs it up for a float field a plug-in kind
declares without those types.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class SpecModel(BaseModel):
    """A part of an architecture or scenario file as the user writes it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True, allow_inf_nan=False)


_JSON_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


def _bounds_named(node: Any) -> Any:
    if isinstance(node, list):
        return [_bounds_named(item) for item in node]
    if not isinstance(node, dict):
        return node
    numeric = node.get("type") in ("number", "integer")
    return {(_JSON_BOUNDS.get(k, k) if numeric else k): _bounds_named(v) for k, v in node.items()}


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema for editors.

    Pydantic writes a bound it cannot push into a validated type (`gt=0` on `Number | None`)
    under its own name (`gt`); JSON Schema calls it `exclusiveMinimum`, so it is renamed here.
    """
    return dict(_bounds_named(model.model_json_schema(by_alias=True)))
