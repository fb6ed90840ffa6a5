"""Service-level objectives evaluated on a result: the verdicts `flowsim check` turns into exit codes."""

from __future__ import annotations

import operator
from collections.abc import Callable

from flowsim.key_figures import unit_of
from flowsim.results import RunResult, SloVerdict
from flowsim.spec.scenario import SloSpec

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}  # fmt: skip


#: units of figures that count whole things: the fluid engine gives their expected number
WHOLE_UNITS = ("messages", "attempts", "versions")


def evaluate(slo: SloSpec, result: RunResult) -> SloVerdict:
    """A figure with no data (e.g. p99 of a sink nothing reached) fails the SLO, saying so.

    The fluid engine's counts are expected numbers (0.000712 drops: a 1-in-1,400 chance of one);
    an SLO compares them as whole messages, rounded, as a run of messages could only count them.
    """
    value = result.metric(slo.metric)
    halfwidth = result.ci(slo.metric)
    unit = unit_of(slo.metric, result)
    note = "no data" if value is None else ""
    compared = value
    if value is not None and result.engine == "fluid" and unit in WHOLE_UNITS and value != round(value):
        compared = float(round(value))
        note = f"fluid: an expected {value:.3g}, compared as {compared:g} whole {unit}"
    passed = compared is not None and OPERATORS[slo.op](compared, slo.value)
    uncertain = (
        value is not None
        and halfwidth is not None
        and slo.op in ("<", "<=", ">", ">=")
        and abs(value - slo.value) <= halfwidth
    )
    return SloVerdict(
        slo=slo.label(), metric=slo.metric, op=slo.op, threshold=slo.value,
        value=value, unit=unit, ci95=halfwidth, passed=passed, uncertain=uncertain, note=note,
    )  # fmt: skip
