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


def evaluate(slo: SloSpec, result: RunResult) -> SloVerdict:
    """A figure with no data (e.g. p99 of a sink nothing reached) fails the SLO, saying so."""
    value = result.metric(slo.metric)
    halfwidth = result.ci(slo.metric)
    passed = value is not None and OPERATORS[slo.op](value, slo.value)
    uncertain = (
        value is not None
        and halfwidth is not None
        and slo.op in ("<", "<=", ">", ">=")
        and abs(value - slo.value) <= halfwidth
    )
    return SloVerdict(
        slo=slo.label(), metric=slo.metric, op=slo.op, threshold=slo.value,
        value=value, unit=unit_of(slo.metric, result), ci95=halfwidth, passed=passed, uncertain=uncertain,
        note="no data" if value is None else "",
    )  # fmt: skip
