"""One rule for numbers: every float or int field a user can write goes through the shared types.

The walk covers every spec model reachable from a scenario and every registered kind, so a new
field typed as a bare `float` or `int` fails here instead of letting `.inf`, `.nan`, `1e308` or
`yes` through.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin

import pydantic
import pytest
from pydantic import TypeAdapter

from flowsim.nodes.registry import kinds
from flowsim.spec.scenario import Scenario
from flowsim.specmodel import SpecModel
from flowsim.units import HUGE, TINY, Count, Duration, Number, NumberRule, Rate


def _bare_numbers(tp: Any, models: list[type[pydantic.BaseModel]]) -> list[str]:
    """Bare float/int inside a type (through unions, lists and dicts); models are collected."""
    if get_origin(tp) is Annotated:
        base, *meta = get_args(tp)
        return [] if any(isinstance(m, NumberRule) for m in meta) else _bare_numbers(base, models)
    if tp in (float, int):
        return [tp.__name__]
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        models.append(tp)
        return []
    return [found for arg in get_args(tp) for found in _bare_numbers(arg, models)]


def _unchecked_fields() -> tuple[list[str], int]:
    todo: list[type[pydantic.BaseModel]] = [Scenario, SpecModel, *kinds().values()]
    seen: set[type[pydantic.BaseModel]] = set()
    bad = []
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        todo.extend(model.__subclasses__())
        if not model.__module__.startswith("flowsim."):
            continue  # plug-in kinds of other tests: SpecModel's allow_inf_nan=False still covers them
        for name, info in model.model_fields.items():
            if any(isinstance(m, NumberRule) for m in info.metadata):
                continue
            if _bare_numbers(info.annotation, todo):
                bad.append(f"{model.__module__}.{model.__qualname__}.{name}")
    return bad, len(seen)


def test_every_number_field_of_every_spec_model_uses_the_shared_types() -> None:
    bad, models = _unchecked_fields()
    assert models > 40  # scenario, SLO, faults, retries, prices, profiles, distributions and all 13 kinds
    assert bad == [], "type these with flowsim.units Number/Count (or a unit type): " + ", ".join(bad)


@pytest.mark.parametrize(
    ("tp", "value", "fragment"),
    [
        (Number, True, "got a boolean"),
        (Number, float("inf"), "must be finite"),
        (Number, float("nan"), "must be finite"),
        (Number, 1e308, "out of range"),
        (Number, 5e-324, "write 0 or at least"),
        (Count, True, "whole number, got a boolean"),
        (Count, 10**16, "out of range"),
        (Duration, "1e300s", "out of range"),
        (Rate, "1e308", "out of range"),  # YAML 1.1 reads 1e308 (no dot) as text
    ],
)
def test_the_rule_refuses(tp: Any, value: Any, fragment: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=fragment):
        TypeAdapter(tp).validate_python(value)


def test_the_rule_keeps_ordinary_numbers() -> None:
    assert TypeAdapter(Number).validate_python("2.5") == 2.5  # quoted numbers still read
    assert TypeAdapter(Number).validate_python(HUGE) == HUGE  # the bounds themselves are inside
    assert TypeAdapter(Number).validate_python(-TINY) == -TINY
    assert TypeAdapter(Number).validate_python(0) == 0.0
    assert TypeAdapter(Count).validate_python(4) == 4


def test_a_lower_case_b_in_a_size_is_refused_as_bits() -> None:
    from flowsim.units import parse_size

    assert parse_size("100MB") == 100e6 and parse_size("1KiB") == 1024
    for text, fix in (("100Mb", "100MB"), ("2gb", "2GB"), ("1kib", "1KiB")):
        with pytest.raises(ValueError, match=f"reads as bits.*write {fix} for bytes"):
            parse_size(text)
