"""The base of every model a user writes in YAML: unknown keys are errors, never silently ignored."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SpecModel(BaseModel):
    """A part of an architecture or scenario file as the user writes it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)
