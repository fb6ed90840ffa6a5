"""Cron-style schedules used by batch kinds: next firing times, aliases, intervals, bad input."""

from __future__ import annotations

import math

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
        ("every 2h30m", [0.0, 9000.0, 18000.0]),  # 2.5 h = 9000 s
        # 2024-01-01, 2025-01-01 (2024 is a leap year: 366 d = 31,622,400 s), 2026-01-01 (+365 d)
        ("@yearly", [0.0, 31_622_400.0, 63_158_400.0]),
        ("@annually", [0.0, 31_622_400.0, 63_158_400.0]),
        ("@once", [0.0, math.inf, math.inf]),  # Airflow's OnceTimetable: one run at the start
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


def test_first_firing_at_or_after() -> None:
    # the first data interval of a DAG starts here: at 0 for @hourly, at 00:10 for `10 * * * *`
    assert parse_schedule("@hourly").first_from(0.0) == 0.0
    assert parse_schedule("10 * * * *").first_from(0.0) == 600.0
    assert parse_schedule("every 1h offset 10m").first_from(0.0) == 600.0
    assert parse_schedule("every 1h offset 10m").first_from(600.0) == 600.0


def test_mean_period() -> None:
    assert parse_schedule("@once").mean_period() == math.inf
    assert parse_schedule("@hourly").mean_period() == pytest.approx(3600)
    assert parse_schedule("every 15m").mean_period() == 900
    assert parse_schedule("30 9 * * 1-5").mean_period() == pytest.approx(7 * 86400 / 5, rel=0.05)


@pytest.mark.parametrize(
    ("text", "message"),
    [("61 * * * *", "outside 0-59"), ("every", "cannot read"), ("every 5m offset", "cannot read"),
     ("@fortnightly", "cannot read"), ("every 0s", "above 0"), ("every 2h30", "cannot read")],
)  # fmt: skip
def test_bad_schedules(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(text)


@pytest.mark.parametrize("text", ["every 300ms", "every 700ms", "every 1100ms", "every 10.1s", "every 0.1h"])
def test_an_interval_steps_strictly_forward_where_floats_round_down(text: str) -> None:
    # 9.3 / 0.3 is 30.999999999999996 in floating point, so floor() + 1 gave back the tick 9.3
    # itself: a zero-delay timer loop (the run never ended).  Stepping from each tick reaches the
    # k-th tick at k x period, every time strictly later
    schedule = parse_schedule(text)
    assert schedule.period is not None
    t = 0.0
    for _ in range(20_000):
        following = schedule.next_after(t)
        assert following > t
        t = following
    assert t == pytest.approx(20_000 * schedule.period, rel=1e-12)
