"""Schedules for batch work (Airflow DAGs, training jobs): cron, `@hourly`-style, or `every 15m`.

Simulation time 0 is Monday 2024-01-01 00:00 (a Monday, so weekly schedules line up with the
week); a schedule maps a time to the next firing time strictly after it.  `@once` fires once, at
t = 0 (Airflow's `OnceTimetable`: one run at the start date).  Cron lines are read by cronsim
(kept up, used by Sentry and Home Assistant since croniter announced its end of maintenance):
day and month names, ranges, lists, steps and `L`; flowsim adds the `@yearly`-style aliases,
`@once` and `every 15m`, and says a refusal in cron's terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Annotated

from cronsim import CronSim, CronSimError
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
_FORMS = "a number, a name (JAN, MON), '*', a range a-b, a list a,b or a step */n"


def _check_numbers(parts: list[str]) -> None:
    """Numbers out of their field's range, said in cron's terms before the library reads the line
    (its own message is only 'Bad minute')."""
    for index, text in enumerate(parts):
        low, high = _RANGES[index]
        for part in text.split(","):
            body, _, step = part.partition("/")
            numbers = [n for n in body.split("-", 1) if n.isdigit()]
            if any(len(n) > 3 or not low <= int(n) <= high for n in numbers):
                raise ValueError(f"cron {_NAMES[index]} field {part!r} is outside {low}-{high}")
            if step.isdigit() and int(step) < 1:
                raise ValueError(f"cron {_NAMES[index]} field {part!r}: the step must be at least 1")


def _cron(line: str, after: datetime) -> CronSim:
    """The library's iterator over `line` from `after`; its refusal in cron's terms."""
    try:
        return CronSim(line, after)
    except CronSimError as err:
        parts = line.split()
        try:  # a day refused, but the same line in every month reads: only the months lack that day
            if str(err) != "Bad day-of-month":
                raise
            CronSim(" ".join([*parts[:3], "*", parts[4]]), after)
        except CronSimError:
            field = str(err).removeprefix("Bad ").replace("-", " ")
            written = f" {parts[_NAMES.index(field)]!r}" if field in _NAMES else ""
            raise ValueError(f"cron {field} field{written} is not {_FORMS}") from None
        raise ValueError(f"schedule {line!r} never fires (no month has the days it names)") from None


@dataclass(frozen=True)
class Schedule:
    """When a job fires: every `period` seconds from `offset`, or at the times a cron line names.

    Cron lines are read and stepped by cronsim (names, ranges, lists, steps, `L`, Debian cron's
    rule for day of month with day of week); `@yearly`-style aliases and `@once` are flowsim's.
    """

    text: str
    period: float | None = None
    offset: float = 0.0
    cron: str | None = None  # the five-field line, an alias already expanded
    once: bool = False

    def next_after(self, t: float) -> float:
        """The first firing time strictly after `t` (seconds since the epoch); inf when none is left."""
        if self.once:
            return 0.0 if t < 0 else math.inf
        if self.period is not None:
            k = max(math.floor((t - self.offset) / self.period) + 1, 0)
            tick = self.offset + k * self.period
            while tick <= t:  # (t - offset) / period can round down to the tick t already is
                k += 1
                tick = self.offset + k * self.period
            return tick
        assert self.cron is not None
        after = EPOCH + timedelta(seconds=math.floor(t))  # cronsim steps whole seconds, strictly after
        try:
            moment = next(_cron(self.cron, after))
        except StopIteration:  # cronsim gives up after 50 years without a match
            raise ValueError(f"schedule {self.text!r} never fires (no date in 50 years matches it)") from None
        return (moment - EPOCH).total_seconds()

    def first_from(self, t: float) -> float:
        """The first firing time at or after `t` (a cron fires on whole minutes)."""
        return self.next_after(t - 1e-6)

    def mean_period(self) -> float:
        """Average time between firings (for estimates), measured over the first four weeks (inf: `@once`)."""
        if self.once:
            return math.inf
        if self.period is not None:
            return self.period
        return _cron_mean_period(self)


@cache
def _cron_mean_period(schedule: Schedule) -> float:
    """A cron line's mean period, stepped once per schedule (up to 500 firings, ~0.1 ms each): the
    estimates ask for it per DAG and per analysis, tens of times for one page of the app."""
    first = t = schedule.next_after(-1.0)
    count = 0
    while count < 500 and t < first + 28 * 86400:
        t = schedule.next_after(t)
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
        _check_numbers(parts)
        _cron(line, EPOCH)
    except ValueError as err:
        raise ValueError(f"cannot read schedule {text!r}: {err}") from None
    return Schedule(raw, cron=" ".join(parts))


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
