"""Schedules for batch work (Airflow DAGs, training jobs): cron, `@hourly`-style, or `every 15m`.

Simulation time 0 is Monday 2024-01-01 00:00 (a Monday, so weekly schedules line up with the
week); a schedule maps a time to the next firing time strictly after it.  `@once` fires once, at
t = 0 (Airflow's `OnceTimetable`: one run at the start date).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from flowsim.units import TIMER, parse_duration

EPOCH = datetime(2024, 1, 1)
_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
ONCE = "@once"
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")


def _field(text: str, index: int) -> frozenset[int]:
    low, high = _RANGES[index]
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        numbers = [n for n in (*body.split("-", 1), step_text) if n and n != "*"]
        if not all(n.isdigit() and len(n) <= 3 for n in numbers):
            raise ValueError(
                f"cron {_NAMES[index]} field {part!r} is not a number, '*', a range a-b or a step */n "
                "(names such as MON or JAN are not supported)"
            )
        step = int(step_text) if step_text else 1
        if body == "*":
            start, stop = low, high
        elif "-" in body:
            a, b = body.split("-", 1)
            start, stop = int(a), int(b)
        else:
            start = stop = int(body)
            if step_text:
                stop = high
        if not (low <= start <= stop <= high) or step < 1:
            raise ValueError(f"cron {_NAMES[index]} field {part!r} is outside {low}-{high}")
        values.update(range(start, stop + 1, step))
    if index == 4 and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    """When a job fires: every `period` seconds from `offset`, or at the times a cron line names."""

    text: str
    period: float | None = None
    offset: float = 0.0
    cron: tuple[frozenset[int], ...] | None = None
    once: bool = False

    def next_after(self, t: float) -> float:
        """The first firing time strictly after `t` (seconds since the epoch); inf when none is left."""
        if self.once:
            return 0.0 if t < 0 else math.inf
        if self.period is not None:
            k = math.floor((t - self.offset) / self.period) + 1
            return self.offset + max(k, 0) * self.period
        assert self.cron is not None
        minutes, hours, days, months, weekdays = self.cron
        start = EPOCH + timedelta(seconds=math.floor(t / 60) * 60 + 60)
        day = start.replace(hour=0, minute=0)
        dom_any, dow_any = len(days) == 31, len(weekdays) == 7
        for _ in range(366 * 5):
            weekday = (day.weekday() + 1) % 7  # cron: Sunday = 0
            dom_ok, dow_ok = day.day in days, weekday in weekdays
            day_ok = dom_ok and dow_ok if (dom_any or dow_any) else dom_ok or dow_ok
            if day.month in months and day_ok:
                for hour in sorted(hours):
                    for minute in sorted(minutes):
                        moment = day.replace(hour=hour, minute=minute)
                        if moment >= start:
                            return (moment - EPOCH).total_seconds()
            day += timedelta(days=1)
        raise ValueError(f"schedule {self.text!r} never fires (no date in five years matches it)")

    def first_from(self, t: float) -> float:
        """The first firing time at or after `t` (a cron fires on whole minutes)."""
        return self.next_after(t - 1e-6)

    def mean_period(self) -> float:
        """Average time between firings (for estimates), measured over the first four weeks (inf: `@once`)."""
        if self.once:
            return math.inf
        if self.period is not None:
            return self.period
        first = t = self.next_after(-1.0)
        count = 0
        while count < 500 and t < first + 28 * 86400:
            t = self.next_after(t)
            count += 1
        return (t - first) / count


def parse_schedule(text: str) -> Schedule:
    """`@hourly`, `*/15 * * * *`, `every 15m`, `every 2h30m`, `every 1h offset 10m`, `@once` -> a `Schedule`."""
    raw = text.strip()
    if raw == ONCE:
        return Schedule(raw, once=True)
    if raw.startswith("every "):
        words = raw.split()
        if len(words) not in (2, 4) or (len(words) == 4 and words[2] != "offset"):
            raise ValueError(f"cannot read schedule {text!r}; write e.g. 'every 15m' or 'every 1h offset 10m'")
        period = parse_duration(words[1])
        offset = parse_duration(words[3]) if len(words) == 4 else 0.0
        if period <= 0:
            raise ValueError(f"schedule {text!r}: the period must be above 0")
        return Schedule(raw, period=period, offset=offset)
    line = _ALIASES.get(raw, raw)
    parts = line.split()
    if len(parts) != 5:
        raise ValueError(
            f"cannot read schedule {text!r}; use @hourly, @daily, @weekly, @monthly, @yearly, @once, "
            "a 5-field cron line ('*/15 * * * *') or 'every 15m'"
        )
    try:
        cron = tuple(_field(part, i) for i, part in enumerate(parts))
    except ValueError as err:
        raise ValueError(f"cannot read schedule {text!r}: {err}") from None
    return Schedule(raw, cron=cron)


def _check(text: str) -> str:
    """A schedule must read and fire: `0 0 31 2 *` (February 31st) reads but never runs."""
    parse_schedule(text).next_after(-1.0)
    return text


ScheduleText = Annotated[
    str,
    AfterValidator(_check),
    TIMER,
    WithJsonSchema({"type": "string", "examples": ["@hourly", "*/15 * * * *", "every 6h"]}),
]
