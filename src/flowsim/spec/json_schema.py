"""The JSON Schemas of flowsim's files, as editors and validators read them.

Generated from the same pydantic models that read the files, with three things pydantic leaves
out: the shorthands (`AlsoAccepts` on the fields that take them), numeric limits in standard
keywords (pydantic writes `gt`/`ge` beside a hand-written unit schema, which validators ignore),
and `$schema`/`$id`, so a validator knows the dialect and a reference has a name.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_LIMITS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}
_NUMERIC = {"number", "integer"}


def schema_id(name: str) -> str:
    """A stable name for the schema of `name` files (a URN: flowsim publishes no web address)."""
    return f"urn:flowsim:schema:{name}"


class FlowsimJsonSchema(GenerateJsonSchema):
    """pydantic's generator, with standard numeric keywords and the document header."""

    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> JsonSchemaValue:
        generated = _standard_limits(super().generate(schema, mode))
        return {"$schema": DIALECT, **generated}

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        """A default built by a factory (a distribution, a duration) is shown too: an editor and
        docs/nodes.md would otherwise say "none" for a field that has one (warehouse `load_overhead`
        30 s).  Done here, not in `get_default_value`, which pydantic 2.6 (the floor) lacks."""
        factory = schema.get("default_factory")
        if "default" not in schema and factory is not None and not schema.get("default_factory_takes_data"):
            schema = {**schema, "default": factory()}  # type: ignore[call-arg]
            schema.pop("default_factory", None)
        return super().default_schema(schema)


def _standard_limits(node: Any) -> Any:
    """Move pydantic's `gt`/`ge`/`lt`/`le` onto the numeric branches, in standard keywords."""
    if isinstance(node, list):
        return [_standard_limits(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _standard_limits(value) for key, value in node.items() if key not in _LIMITS}
    limits = {_LIMITS[key]: value for key, value in node.items() if key in _LIMITS}
    if limits:
        branches = [b for b in out.get("anyOf", []) if isinstance(b, dict) and b.get("type") in _NUMERIC]
        for branch in branches or [out]:
            branch.update(limits)
    return out


def json_schema(model: type[BaseModel], name: str | None = None) -> dict[str, Any]:
    """The JSON Schema of `model`; for `name` files (architecture, scenario, result) with its `$id`."""
    schema = model.model_json_schema(by_alias=True, schema_generator=FlowsimJsonSchema)
    head = {"$schema": schema.pop("$schema")} | ({"$id": schema_id(name)} if name else {})
    return head | schema
