"""How figures read in tables: three significant digits in the unit a person would use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_the_compare_table_writes_each_figure_in_its_unit() -> None:
    # as `flowsim compare` prints them: a p99 of 295 s against 0.652 s was '0.652  295  294  ± 1.6',
    # and 181 dropped read '± 1.8e+02'
    from rich.console import Console

    from flowsim.compare import Comparison, Difference
    from flowsim.reports.sweep_tables import comparison_table

    def diff(metric: str, a: float, b: float, ci: float) -> Difference:
        return Difference(metric=metric, a=a, b=b, diff=b - a, ci95=ci, relative=(b - a) / a if a else None,
                          significant=abs(b - a) > ci, pairs=3)  # fmt: skip

    comparison = Comparison(a="base", b="outage", seed=1, replications=3, differences=[
        diff("end_to_end.confirmed.latency_s.p99", 0.652, 295.0, 1.55),
        diff("totals.dropped", 0.0, 11081.0, 181.0),
        diff("end_to_end.review.throughput_per_s", 0.000222, 0.000222, 0.0),
    ])  # fmt: skip
    console = Console(width=200, record=True)
    console.print(comparison_table(comparison))
    text = console.export_text()
    assert "confirmed: p99 end-to-end latency" in text and "652ms" in text and "4.92min" in text
    assert "± 1.55s" in text and "± 181" in text and "e+0" not in text
    assert "0.799/h" in text  # 0.000222/s x 3,600


@pytest.mark.parametrize("text", ["1h-30m", "30m2h", "1m1m", "5s-10s"])
def test_a_compound_duration_reads_largest_unit_first_each_once(text: str) -> None:
    # '1h-30m' read as 1,800 s and '30m2h' as 9,000 s; a compound is written as Airflow's and Go's
    # timedeltas are: '2h30m', '1d 6h'
    from flowsim.units import parse_duration

    with pytest.raises(ValueError, match="cannot read"):
        parse_duration(text)
    assert parse_duration("2h30m") == 9000 and parse_duration("1d 6h") == 108_000


def test_a_set_option_without_an_equals_sign_is_a_usage_error() -> None:
    from typer.testing import CliRunner

    from flowsim.cli import app

    result = CliRunner().invoke(app, ["run", "scenarios/baseline.yaml", "--set", "nodes.api.servers"])
    assert result.exit_code == 2 and "write PATH=VALUE" in result.output


def test_none_as_a_duration_says_to_write_null() -> None:
    # the descriptions say "none = keep"; YAML's none is null (or the field left out)
    from flowsim.units import parse_duration

    with pytest.raises(ValueError, match="write null or leave the field out"):
        parse_duration("none")


def test_counts_near_a_thousand_and_fluid_traces_of_a_message_read_plainly() -> None:
    from flowsim.reports.tables import format_count, format_number

    assert format_number(999.6) == "1,000"  # three significant digits printed 1e+03
    assert format_number(123.4) == "123" and format_number(0.5) == "0.5"
    assert format_count(7.92e-05) == "<0.01" and format_count(0.02) == "0.02" and format_count(12.345) == "12.35"
    assert format_count(900) == "900" and format_count(1234.4) == "1,234"


@given(st.text(alphabet="ab[]/#@\\\\ x1", max_size=30))
def test_the_cli_escapes_markup_exactly_as_rich_does(text: str) -> None:
    # the CLI keeps its own copy so that registering the commands' help does not load rich
    from rich.markup import escape as rich_escape

    from flowsim.cli.console import escape

    if text.endswith("\\") and not text.endswith("\\\\"):
        # a lone trailing backslash is doubled (rich 14 on; rich 13 left it to escape the closing
        # tag the help wraps the text in): the rest must match any rich
        assert escape(text) == escape(text[:-1]) + "\\\\"
        return
    assert escape(text) == rich_escape(text)
