"""How figures read in tables: three significant digits in the unit a person would use."""

from __future__ import annotations

import pytest

from flowsim.reports.key_tables import format_value
from flowsim.reports.tables import format_rate
from flowsim.units import format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.9999, "1s"),  # rounded to 3 digits before the unit is chosen: not '1e+03ms'
        (0.99949, "999ms"),
        (0.0009999, "1ms"),  # not '1e+03us'
        (0.0123, "12.3ms"),
        (119.99, "2min"),  # 120 s is 2 minutes
        (7199.0, "2h"),
        (3e-7, "0.3us"),
        (-0.9999, "-1s"),
        (1e9, "11,574d"),  # 1e9 / 86,400 = 11,574.07 days: no exponent
        (0.0, "0s"),
    ],
)
def test_durations_read_in_their_unit(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_slow_rate_reads_per_hour_and_one_is_singular() -> None:
    # one model version in a 3.83 h window: 1 / 13,793 s = 7.25e-05/s = 0.261 an hour
    assert format_rate(7.25e-05) == "0.261/h"
    assert format_value(7.25e-05, "messages/s") == "0.261 messages/h"
    assert format_value(5.0, "messages/s") == "5 messages/s"
    assert format_value(1.0, "messages") == "1 message" and format_value(2.0, "messages") == "2 messages"
    assert format_value(1.0, "queries") == "1 query" and format_value(1.0, "share") == "100.0%"
