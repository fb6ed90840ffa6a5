"""Cron-style schedules used by batch kinds: next firing times, aliases, intervals, bad input."""

from __future__ import annotations

import pytest

from flowsim.schedule import parse_schedule


@pytest.mark.parametrize(
    ("text", "first_three"),
    [
        ("@hourly", [0.0, 3600.0, 7200.0]),
        ("*/15 * * * *", [0.0, 900.0, 1800.0]),
        ("0 2 * * *", [7200.0, 93600.0, 180000.0]),
        ("every 6h", [0.0, 21600.0, 43200.0]),
        ("every 1h offset 10m", [600.0, 4200.0, 7800.0]),
        ("0 0 * * 0", [6 * 86400.0, 13 * 86400.0, 20 * 86400.0]),  # t = 0 is a Monday
        ("30 9 * * 1-5", [34200.0, 120600.0, 207000.0]),
    ],
)
def test_firing_times(text: str, first_three: list[float]) -> None:
    schedule, t, seen = parse_schedule(text), -1.0, []
    for _ in range(3):
        t = schedule.next_after(t)
        seen.append(t)
    assert seen == first_three


def test_weekdays_skip_the_weekend() -> None:
    schedule, t = parse_schedule("30 9 * * 1-5"), 4 * 86400.0 + 40000  # Friday after 09:30
    assert schedule.next_after(t) == 7 * 86400.0 + 34200  # next Monday


def test_mean_period() -> None:
    assert parse_schedule("@hourly").mean_period() == pytest.approx(3600)
    assert parse_schedule("every 15m").mean_period() == 900
    assert parse_schedule("30 9 * * 1-5").mean_period() == pytest.approx(7 * 86400 / 5, rel=0.05)


@pytest.mark.parametrize(
    ("text", "message"),
    [("61 * * * *", "outside 0-59"), ("every", "cannot read"), ("every 5m offset", "cannot read"),
     ("@yearly", "cannot read"), ("every 0s", "above 0")],
)  # fmt: skip
def test_bad_schedules(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(text)
