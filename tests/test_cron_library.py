"""Cron lines read by cronsim: names, lists, `L`, cron's day rule; refusals in cron's own terms.

Simulation time 0 is Monday 2024-01-01 00:00 (2024 is a leap year). Firing times are computed
from the calendar, written beside each case.
"""

from __future__ import annotations

import pytest

from flowsim.schedule import parse_schedule

DAY = 86400.0


def firings(text: str, n: int) -> list[float]:
    schedule, t, seen = parse_schedule(text), -1.0, []
    for _ in range(n):
        t = schedule.next_after(t)
        seen.append(t)
    return seen


def test_day_names_fire_as_the_numbers_do() -> None:
    # two weeks of weekday mornings: MON-FRI is 1-5
    assert firings("30 9 * * MON-FRI", 10) == firings("30 9 * * 1-5", 10)
    assert firings("0 0 * * SUN", 2) == [6 * DAY, 13 * DAY]  # Sunday 2024-01-07 is day 6


def test_month_names_and_lists() -> None:
    # Jan 1, then Jul 1 2024: Jan..Jun = 31 + 29 + 31 + 30 + 31 + 30 = 182 days
    assert firings("0 0 1 JAN,JUL *", 2) == [0.0, 182 * DAY]


def test_last_day_of_the_month() -> None:
    # Jan 31 (day 30), Feb 29 (day 31 + 28 = 59), Mar 31 (day 59 + 31 = 90)
    assert firings("0 0 L * *", 3) == [30 * DAY, 59 * DAY, 90 * DAY]


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # cron's rule: '13 * FRI' fires on every Friday and on every 13th (Fri Jan 5, Fri Jan 12, Sat Jan 13)
    assert firings("0 0 13 * FRI", 3) == [4 * DAY, 11 * DAY, 12 * DAY]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 0 30 2 *", "never fires"),  # February has at most 29 days
        ("0 0 * * FUNDAY", "day of week field 'FUNDAY' is not a number, a name"),
        ("0 0 * FOO *", "month field 'FOO' is not a number, a name"),
        ("0 25 * * *", "hour field '25' is outside 0-23"),
        ("0 0 * * * *", "5-field cron line"),  # a seconds field is not cron's
    ],
)
def test_refusals_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(text)
