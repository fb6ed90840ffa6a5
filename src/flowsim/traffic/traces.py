"""Trace replay: a source's rate read from a CSV file, piecewise constant between rows.

The file starts with a header naming its two columns (lines starting with '#' and blank lines
are skipped anywhere, so a file can say where it came from):

    # clicks on a synthetic day, 5-minute resolution
    time_s,rate_per_s
    0,12.5
    300,11.8

- the first column is the time, `time` or `time_<unit>` (`time_s`, `time_min`, `time_h`; plain: seconds);
- the second is either `rate` / `rate_per_<unit>` (`rate_per_s`, `rate_per_min`; plain: per second):
  each rate holds from its row's time until the next row, and the last one until the run ends;
- or `count`: the arrivals counted from the row's time until the next row's, replayed as that
  count spread evenly over the interval (the last row's interval is as long as the one before,
  and after it the rate is 0: nothing was counted there).

Before the first row the rate is 0.  Times must increase, rates and counts cannot be negative.
A path is relative to the YAML file that names it.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import PlainSerializer, PlainValidator, ValidationInfo, WithJsonSchema

from flowsim.errors import not_a_file
from flowsim.traffic.shapes import Piecewise
from flowsim.units import HUGE, TIME_UNITS

MAX_BYTES = 32 * 1024 * 1024
_TIME = re.compile(r"^time(?:_([a-zµ]+))?$")
_RATE = re.compile(r"^rate(?:_per_([a-z]+))?$")
_HEADER_HINT = "start the file with a header naming the columns, e.g. 'time_s,rate_per_s' or 'time_s,count'"


@dataclass(frozen=True)
class Trace:
    """A replayed rate: `rates[i]` items per second from `times[i]` (seconds) to the next time."""

    path: str  # as the YAML file wrote it
    times: tuple[float, ...]
    rates: tuple[float, ...]

    def shape(self) -> Piecewise:
        return Piecewise(np.asarray(self.times), np.asarray(self.rates), before=0.0)


class TraceError(ValueError):
    """A trace file that cannot be replayed; the message names the file and its line."""


def _header(cells: list[str], where: str) -> tuple[float, str, float]:
    """(seconds per time unit, 'rate' or 'count', seconds per rate unit) from the header row."""
    names = [c.strip().lower() for c in cells]
    if len(names) != 2:
        raise TraceError(f"{where}: expected a header of two columns, got {len(names)} ({_HEADER_HINT})")
    time, value = _TIME.match(names[0]), _RATE.match(names[1])
    if time is None or (value is None and names[1] != "count"):
        raise TraceError(f"{where}: cannot read the header {','.join(cells)!r} ({_HEADER_HINT})")
    units = [time.group(1), value.group(1) if value else None]
    for unit in units:
        if unit is not None and unit not in TIME_UNITS:
            raise TraceError(f"{where}: unknown time unit {unit!r} in the header (use s, ms, min, h or d)")
    seconds = TIME_UNITS[units[0]] if units[0] else 1.0
    per = TIME_UNITS[units[1]] if units[1] else 1.0
    return seconds, "count" if value is None else "rate", per


def _number(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TraceError(f"{where}: cannot read {text.strip()!r} as the {what} (a number)") from None
    if not math.isfinite(value):
        raise TraceError(f"{where}: the {what} must be finite, got {text.strip()!r}")
    if abs(value) > HUGE:
        raise TraceError(f"{where}: the {what} {text.strip()} is out of range; the largest accepted is {HUGE:g}")
    return value


def parse_trace(text: str, name: str) -> tuple[list[float], list[float]]:
    """Times (s) and rates (per second) from the CSV text; TraceError names the line at fault."""
    header: tuple[float, str, float] | None = None
    times: list[float] = []
    values: list[float] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where, cells = f"{name}, line {number}", line.split(",")
        if header is None:
            header = _header(cells, where)
            continue
        if len(cells) != 2:
            raise TraceError(f"{where}: expected 2 values (time,{header[1]}), got {len(cells)}: {line!r}")
        t = _number(cells[0], "time", where) * header[0]
        value = _number(cells[1], header[1], where)
        if t < 0:
            raise TraceError(f"{where}: time {cells[0].strip()} is negative")
        if times and t <= times[-1]:
            raise TraceError(f"{where}: time {cells[0].strip()} is not after the previous row's (times must increase)")
        if value < 0:
            raise TraceError(f"{where}: the {header[1]} {cells[1].strip()} is negative")
        times.append(t)
        values.append(value)
    if header is None or not times:
        raise TraceError(f"{name}: no data rows ({_HEADER_HINT}, then one 'time,rate' row per line)")
    if header[1] == "rate":
        return times, [v / header[2] for v in values]
    if len(times) < 2:
        raise TraceError(f"{name}: a 'count' trace needs at least two rows (a count covers the time to the next row)")
    gaps = np.diff(times).tolist()
    gaps.append(gaps[-1])
    rates = [count / gap for count, gap in zip(values, gaps, strict=True)]
    if max(rates) > HUGE:
        row = rates.index(max(rates))
        raise TraceError(f"{name}: row {row + 1} gives {max(rates):.3g} arrivals/s (its count over the time to the "
                         f"next row), over the largest accepted rate {HUGE:g}/s")  # fmt: skip
    # the counts cover their intervals and no more: past the last one, nothing was counted
    return [*times, times[-1] + gaps[-1]], [*rates, 0.0]


def read_trace(path: str, base: Path) -> Trace:
    """Read the file at `path` (relative to `base`, the folder of the YAML file naming it)."""
    target = base / path
    if not os.path.isfile(target):  # os.path: an over-long or NUL-holding name is not an OSError
        why = not_a_file(path, target)
        raise TraceError(f"trace file '{path}' {why} (looked at {target}); give a path relative to this YAML file")
    if target.stat().st_size > MAX_BYTES:
        raise TraceError(f"trace file '{path}' is larger than {MAX_BYTES // 2**20} MB; resample it")
    try:
        text = target.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        byte = err.object[err.start : err.start + 1].hex()
        raise TraceError(
            f"trace file '{path}' is not UTF-8 text (byte 0x{byte}); save it with UTF-8 encoding"
        ) from None
    except OSError as err:
        raise TraceError(f"cannot read trace file '{path}': {err.strerror or err}") from None
    times, rates = parse_trace(text, path)
    return Trace(path, tuple(times), tuple(rates))


def _validate(value: Any, info: ValidationInfo) -> Trace:
    if isinstance(value, Trace):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected the path of a CSV file of 'time,rate' rows, e.g. traces/clicks.csv")
    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir")
    return read_trace(value, Path(base) if base is not None else Path.cwd())


TraceFile = Annotated[
    Trace,
    PlainValidator(_validate),
    PlainSerializer(lambda trace: trace.path, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "description": "CSV file of 'time,rate' rows, relative to this YAML file",
            "examples": ["traces/clicks.csv"],
        }
    ),
]
