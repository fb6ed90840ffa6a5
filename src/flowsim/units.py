"""Human units for the quantities users type: durations, rates and sizes.

Plain numbers mean seconds (durations), per-second (rates) and bytes (sizes), so a YAML file
written without units still means something definite.  The parsed values are plain floats in SI
base units; these annotated types are what the spec models use for every user-facing quantity.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"

TIME_UNITS: dict[str, float] = {
    "us": 1e-6, "µs": 1e-6, "ms": 1e-3,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
    "w": 604800.0, "week": 604800.0, "weeks": 604800.0,
}  # fmt: skip

SIZE_UNITS: dict[str, float] = {
    "b": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
    "kib": 2.0**10, "mib": 2.0**20, "gib": 2.0**30, "tib": 2.0**40,
}  # fmt: skip

_DURATION_RE = re.compile(rf"^\s*({_NUMBER})\s*([a-zµ]*)\s*$", re.IGNORECASE)
_RATE_RE = re.compile(rf"^\s*({_NUMBER})\s*(?:/|per\s+)\s*({_NUMBER})?\s*([a-z]+)\s*$", re.IGNORECASE)
_PART_RE = re.compile(rf"\s*({_NUMBER})\s*([a-zµ]+)", re.IGNORECASE)
_SIZE_RE = re.compile(rf"^\s*({_NUMBER})\s*([a-z]*)\s*$", re.IGNORECASE)


#: The range every number a user types must fall in: finite, at most HUGE in magnitude, and zero
#: or at least TINY.  Past it a float is no longer a quantity of a platform but an overflow (1e308
#: doubled is inf) or an underflow (1 / 1e-320 is inf) waiting to happen.
HUGE = 1e15
TINY = 1e-12
_BOOLEAN = "expected a number, got a boolean"


@dataclass(frozen=True)
class NumberRule:
    """Marks a field type that checks the shared range; a test finds unchecked numbers by its absence."""

    what: str


#: Marks a field whose value sets a timer (a period, a schedule): the run-size estimate counts it.
@dataclass(frozen=True)
class Timer:
    """A field that makes a node act on its own every so often, whatever the traffic."""


TIMER = Timer()


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        raise ValueError(_BOOLEAN)
    if isinstance(value, int | float):
        return float(value)
    return None


def checked(value: float, what: str) -> float:
    """The shared range: finite, |value| <= HUGE, and 0 or |value| >= TINY."""
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, not {value}")
    if abs(value) > HUGE:
        raise ValueError(f"{what} of {value:g} is out of range; the largest accepted is {HUGE:g}")
    if value != 0 and abs(value) < TINY:
        raise ValueError(f"{what} of {value:g} is out of range; write 0 or at least {TINY:g}")
    return value


def _number(value: Any) -> Any:
    """Before the float parse: no booleans; after it (pydantic turns '3' into 3.0): the range."""
    if isinstance(value, bool):
        raise ValueError(_BOOLEAN)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value  # pydantic reports the text as not a number
    return checked(float(value), "a number") if isinstance(value, int | float) else value


def _count(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a whole number, got a boolean")
    if isinstance(value, int) and abs(value) > HUGE:
        raise ValueError(f"a count of {value} is out of range; the largest accepted is {HUGE:.0e}")
    return value


def parse_duration(value: Any) -> float:
    """'250ms' -> 0.25; '5m' -> 300; a plain number is seconds."""
    number = _as_number(value)
    if number is not None:
        return checked(number, "a duration")
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 500ms, 2s, 5m, 24h, 2d; got {value!r}")
    if value.strip().lower() in ("none", "never", "forever", "off"):  # the descriptions' "none = keep"
        raise ValueError(
            f"cannot read {value!r} as a duration; where a field may have none (retention: keep forever), "
            "write null or leave the field out"
        )
    match = _DURATION_RE.match(value)
    unit = match.group(2).lower() if match else ""
    if match is not None:
        _refuse_ambiguous_time(match.group(2), value, "a duration")
    if match is None:
        compound = _compound_duration(value)
        if compound is not None:
            return compound
    if match is None or (unit and unit not in TIME_UNITS):
        raise ValueError(
            f"cannot read {value!r} as a duration; write a number with a unit: "
            "us, ms, s, m/min, h, d, w (e.g. 500ms, 2s, 5m, 24h, 2h30m)"
        )
    return checked(float(match.group(1)) * TIME_UNITS.get(unit, 1.0), "a duration")


def _refuse_ambiguous_time(unit: str, value: str, what: str) -> None:
    """'M', 'Ms', 'MS': a month? mega? what they mean is a guess, so they are refused, not read."""
    if unit in ("M", "Ms", "MS"):
        raise ValueError(
            f"cannot read {value!r} as {what}: {unit} could mean "
            + ("months or minutes" if unit == "M" else "megaseconds or milliseconds")
            + "; write min or m for minutes, ms for milliseconds, d for days"
        )


def _compound_duration(text: str) -> float | None:
    """'2h30m' or '1d 6h' (as Airflow users write timedeltas) -> seconds; None if not of that form."""
    parts = _PART_RE.findall(text)
    if len(parts) < 2 or "".join(_PART_RE.sub("", text).split()):
        return None
    if any(unit.lower() not in TIME_UNITS for _, unit in parts):
        return None
    sizes = [TIME_UNITS[unit.lower()] for _, unit in parts]
    if any(number[0] in "+-" for number, _ in parts) or any(a <= b for a, b in itertools.pairwise(sizes)):
        return None  # '1h-30m', '30m2h', '1m1m': largest unit first, each once, no signs inside
    return checked(sum(float(number) * TIME_UNITS[unit.lower()] for number, unit in parts), "a duration")


def parse_rate(value: Any) -> float:
    """'250/s' -> 250; '15000/min' -> 250; a plain number is per second."""
    number = _as_number(value)
    if number is not None:
        return checked(number, "a rate")
    if not isinstance(value, str):
        raise ValueError(f"expected a rate such as 250/s or 15000/min; got {value!r}")
    match = _RATE_RE.match(value)
    if match is None:
        try:
            number = float(value)  # YAML 1.1 reads `1e3` (no dot) as text
        except ValueError:
            raise ValueError(f"cannot read {value!r} as a rate; write count/unit, e.g. 250/s, 15000/min, 3/h") from None
        return checked(number, "a rate")
    count, per, unit = match.groups()
    _refuse_ambiguous_time(unit, value, "a rate")
    unit = unit.lower()
    if unit not in TIME_UNITS:
        raise ValueError(f"unknown time unit {unit!r} in rate {value!r}; use s, min, h or d")
    span = (float(per) if per else 1.0) * TIME_UNITS[unit]
    if span <= 0:
        raise ValueError(f"cannot read {value!r} as a rate: the time after '/' must be above 0 (e.g. 250/s, 5/10s)")
    return checked(float(count) / span, "a rate")


def _bytes_unit(unit: str) -> str:
    """'Mb' -> 'MB', 'kib' -> 'KiB': the byte unit a bit-looking one was probably meant as."""
    head = unit[:-1]
    return head[0].upper() + "iB" if head.lower().endswith("i") else head.upper() + "B"


def parse_size(value: Any) -> float:
    """'1GB' -> 1e9 bytes, '512MiB' -> 2**29; a plain number is bytes."""
    number = _as_number(value)
    if number is not None:
        return checked(number, "a size")
    if not isinstance(value, str):
        raise ValueError(f"expected a size such as 500MB or 1GiB; got {value!r}")
    match = _SIZE_RE.match(value)
    unit = match.group(2).lower() if match else ""
    if match is not None and len(match.group(2)) >= 2 and match.group(2).endswith("b"):  # 100Mb: megabits?
        raise ValueError(
            f"cannot read {value!r} as a size: a lower-case b reads as bits, and sizes here are bytes; "
            f"write {match.group(1)}{_bytes_unit(match.group(2))} for bytes (or divide bits by 8)"
        )
    if match is None or (unit and unit not in SIZE_UNITS):
        raise ValueError(f"cannot read {value!r} as a size; use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB")
    return checked(float(match.group(1)) * SIZE_UNITS.get(unit, 1.0), "a size")


def _schema(example: str, description: str) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "string"}],
            "description": description,
            "examples": [example],
        }
    )


Duration = Annotated[
    float, BeforeValidator(parse_duration), NumberRule("duration"), _schema("500ms", "duration; plain number = seconds")
]
Rate = Annotated[
    float, BeforeValidator(parse_rate), NumberRule("rate"), _schema("250/s", "rate; plain number = per second")
]
Size = Annotated[float, BeforeValidator(parse_size), NumberRule("size"), _schema("1GB", "size; plain number = bytes")]
#: Every plain float a user types: a number in the shared range, never a boolean.  One
#: BeforeValidator (not an AfterValidator), so `gt=0` on `Number | None` stays a JSON-schema bound.
Number = Annotated[float, BeforeValidator(_number), NumberRule("number")]
#: Every int a user types: a whole number, never a boolean (`servers: yes` is not one server).
Count = Annotated[int, BeforeValidator(_count), NumberRule("count")]
#: A duration that is the period of a timer (a poll, a trigger, a check): the estimate counts it.
Period = Annotated[Duration, TIMER]


def format_duration(seconds: float) -> str:
    """Short human form used in tables: 0.0123 -> '12.3ms', 0.9999 -> '1s' (not '1e+03ms')."""
    if not math.isfinite(seconds):
        return str(seconds)
    if seconds == 0:
        return "0s"
    # (unit, its length in seconds, the magnitude from which the next unit is used)
    units = (("us", 1e-6, 1e-3), ("ms", 1e-3, 1.0), ("s", 1.0, 120.0), ("min", 60.0, 7200.0),
             ("h", 3600.0, 172800.0), ("d", 86400.0, math.inf))  # fmt: skip
    magnitude = abs(seconds)
    for index, (name, size, upper) in enumerate(units):
        if magnitude >= upper:
            continue
        text = f"{seconds / size:.3g}"
        if abs(float(text)) * size >= upper and index + 1 < len(units):  # rounds up into the next unit
            name, size, _ = units[index + 1]
            text = f"{seconds / size:.3g}"
        if "e" in text:  # only days grow that large
            text = f"{seconds / size:,.0f}"
        return f"{text}{name}"
    raise AssertionError("unreachable: the last unit has no upper bound")
