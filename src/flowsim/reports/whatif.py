"""What-if sweeps for the app (JMT-style): one control over a range, figures with 95% CIs against it.

The sweep itself is `flowsim.sweep` (`SweepPlan` built from the editor's text, then `run_sweep`);
this module turns its points into tidy rows, marks the highest sustainable load or the fewest of
a pool that hold (every SLO met and no server saturated), pairs two sweeps point by point, and
draws the charts.  Replication r of every point shares its seed (common random numbers), so a
paired difference B - A has a narrower CI than the two CIs side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from flowsim.reports.charts import FIT_WIDTH
from flowsim.results import RunResult, SloVerdict, mean_and_ci
from flowsim.spec.scenario import Scenario
from flowsim.sweep import SweepResult, dead_letter_sinks, replication_figures

#: (figure key, title with unit, how the axis reads)
FIGURES = (
    ("p99_s", "p99 end-to-end latency", "time"),
    ("throughput_per_s", "delivered throughput (messages/s)", "~s"),
    ("max_utilization", "highest utilization", "%"),
    ("losses", "lost: dropped + dead-lettered + deleted unread (messages)", "~s"),
    ("cost_per_hour", "cost ($/h)", "$.2f"),
)


def _per_replication(point_result: RunResult, scenario: Scenario) -> list[dict[str, float]]:
    """The figures the charts show, once per replication (p99: the slowest delivering sink's)."""
    rows = replication_figures(point_result, scenario)
    sinks = [n for n, c in scenario.arch.nodes.items() if not c.gives_output]
    delivering = [s for s in sinks if s not in dead_letter_sinks(scenario)]
    out = []
    for row in rows:
        p99 = [row.get(f"end_to_end.{s}.latency_s.p99", math.nan) for s in delivering]
        p99 = [v for v in p99 if not math.isnan(v)]
        figures = {"throughput_per_s": row["throughput_per_s"],
                   "losses": row["totals.dropped"] + row["totals.dead_lettered"] + row["totals.lost"],
                   "p99_s": max(p99) if p99 else math.nan}  # fmt: skip
        if "max_utilization" in row:
            figures["max_utilization"] = row["max_utilization"]
        if "cost.per_hour" in row:
            figures["cost_per_hour"] = row["cost.per_hour"]
        out.append(figures)
    return out


@dataclass
class WhatIf:
    """A finished what-if: which control, its values, and the rows of every point's figures."""

    label: str  # 'A', 'B'
    path: str
    control: str
    sweep: SweepResult

    def replications(self) -> list[list[dict[str, float]]]:
        return [_per_replication(p.result, p.scenario) for p in self.sweep.points]

    def frame(self) -> pd.DataFrame:
        """One row per (point, figure): value, mean, 95% low and high (NaN without 2 replications)."""
        rows = []
        for point, reps in zip(self.sweep.points, self.replications(), strict=True):
            means, halves = mean_and_ci(reps)
            for key, mean in means.items():
                half = halves.get(key, math.nan)
                rows.append({"run": self.label, "value": float(point.params[self.path]), "figure": key,
                             "mean": mean, "low": mean - half, "high": mean + half, "ci95": half,
                             "holds": point.result.passed() and means.get("max_utilization", 0.0) < 1.0})  # fmt: skip
        return pd.DataFrame(rows)

    def highest_holding(self) -> float | None:
        """The highest control value at which every SLO is met and no server is saturated, walking up
        from the lowest: the first value that fails ends the walk (a load that holds above a failing
        one is luck, not capacity)."""
        best = None
        for value, ok in self._holds():
            if not ok:
                break
            best = value
        return best

    def fewest_holding(self) -> float | None:
        """The smallest pool size from which every larger value tried holds, walking down from the
        largest: the first that fails ends the walk (more servers never make a design fail)."""
        best = None
        for value, ok in reversed(self._holds()):
            if not ok:
                break
            best = value
        return best

    @property
    def is_load(self) -> bool:
        """Whether the control scales the load (more fails sooner) rather than sizing a pool (more holds)."""
        return self.path == "load.multiplier"

    def sustainable(self) -> tuple[float | None, str]:
        """The value to mark and the sentence saying what it is: the highest sustainable load, or the
        fewest of a pool that carry the load."""
        at = self.highest_holding() if self.is_load else self.fewest_holding()
        if at is None:
            return None, ""
        if self.is_load:
            return at, f"the highest sustainable load is {at:g}x: every SLO holds and no server saturates up to it"
        return at, f"{self.control} = {at:g} is the fewest that hold: every SLO met, no server saturated, from it up"

    def mark_name(self) -> str:
        return "highest sustainable load" if self.is_load else "fewest that hold"

    def _holds(self) -> list[tuple[float, bool]]:
        frame = self.frame()
        if frame.empty:
            return []
        holds = frame.drop_duplicates("value").sort_values("value")
        return [(float(v), bool(ok)) for v, ok in zip(holds["value"], holds["holds"], strict=True)]


def paired_differences(a: WhatIf, b: WhatIf) -> pd.DataFrame:
    """B - A at each shared control value, figure by figure, with the 95% CI of the paired difference."""
    rows = []
    for pa, ra in zip(a.sweep.points, a.replications(), strict=True):
        value = pa.params[a.path]
        match = [i for i, pb in enumerate(b.sweep.points) if pb.params.get(b.path) == value]
        if not match:
            continue
        rb = b.replications()[match[0]]
        count = min(len(ra), len(rb))
        diffs = [{k: rb[r][k] - ra[r][k] for k in ra[r] if k in rb[r]} for r in range(count)]
        means, halves = mean_and_ci(diffs)
        a_means, _ = mean_and_ci(ra)
        for key, _title, _fmt in FIGURES:
            if key in means:
                rows.append({a.control: value, "figure": key, "A": a_means.get(key, math.nan),
                             "B - A": means[key], "± 95%": halves.get(key, math.nan),
                             "significant": abs(means[key]) > halves.get(key, math.inf)})  # fmt: skip
    return pd.DataFrame(rows)


def grid_values(low: float, high: float, count: int, integer: bool) -> list[float | int]:
    """`count` values from low to high (whole numbers for pool sizes, without repeats)."""
    if integer:
        return sorted({round(v) for v in np.linspace(low, high, max(1, count))})
    return sorted({round(float(v), 3) for v in np.linspace(low, high, max(1, count))})


def _time_unit(frame: pd.DataFrame) -> tuple[str, float]:
    top = float(frame["high"].max()) if not frame.empty and frame["high"].notna().any() else float(frame["mean"].max())
    for name, seconds in (("h", 3600.0), ("min", 60.0), ("s", 1.0)):
        if top >= 3 * seconds:
            return name, seconds
    return "ms", 1e-3


_LOSS_TOTALS = ("totals.dropped", "totals.dead_lettered", "totals.lost")


def slo_lines(verdicts: Sequence[SloVerdict]) -> dict[str, float]:
    """Where each chart draws its SLO line: the tightest bound among the scenario's SLOs on what it plots.

    A p99 SLO on any sink bounds the p99 chart (which plots the slowest delivering sink); an SLO on a
    total loss (dropped, dead-lettered, deleted unread) bounds the losses chart (their sum: a bound
    on one part is one on the sum only where the others are 0, so the line reads "at most"); one on
    a node's utilization bounds the highest-utilization chart; one on the cost per hour, the cost.
    """
    upper = [v for v in verdicts if v.op in ("<", "<=", "==")]  # bounds from above: what a line marks
    chosen: dict[str, list[float]] = {}
    for verdict in upper:
        metric = verdict.metric
        if metric.startswith("end_to_end.") and metric.endswith(".p99"):
            chosen.setdefault("p99_s", []).append(verdict.threshold)
        elif metric in _LOSS_TOTALS:
            chosen.setdefault("losses", []).append(verdict.threshold)
        elif metric.startswith("nodes.") and metric.endswith(".utilization"):
            chosen.setdefault("max_utilization", []).append(verdict.threshold)
        elif metric == "cost.per_hour":
            chosen.setdefault("cost_per_hour", []).append(verdict.threshold)
    return {key: min(values) for key, values in chosen.items()}


def whatif_charts(
    runs: Sequence[WhatIf], slo_lines: dict[str, float], mark_at: float | None, mark_name: str = "holds up to"
) -> Any:
    """One chart per figure, A and B overlaid on the same axes: mean with its 95% CI as error bars,
    the SLO threshold as a red line, the highest sustainable load (or the fewest of a pool that
    hold) as a dashed green rule named in its tooltip."""
    frame = pd.concat([r.frame() for r in runs], ignore_index=True)
    control = runs[0].control
    charts = []
    for key, title, fmt in FIGURES:
        part = frame[frame["figure"] == key].copy()
        if part.empty or part["mean"].isna().all():
            continue
        axis_title, scale = title, 1.0
        if fmt == "time":
            unit, scale = _time_unit(part)
            axis_title, fmt = f"{title} ({unit})", "~g"
        part[["mean", "low", "high"]] = part[["mean", "low", "high"]] / scale
        x = alt.X("value:Q", title=control, scale=alt.Scale(zero=False))
        color = alt.Color("run:N", title="what-if", legend=alt.Legend(orient="top"))
        y = alt.Y("mean:Q", title=axis_title, axis=alt.Axis(format=fmt))
        tip = [alt.Tooltip("run:N"), alt.Tooltip("value:Q", title=control), alt.Tooltip("mean:Q", format=".4~g"),
               alt.Tooltip("low:Q", title="95% low", format=".4~g"),
               alt.Tooltip("high:Q", title="95% high", format=".4~g")]  # fmt: skip
        layer = alt.Chart(part).mark_line(point=True).encode(x=x, y=y, color=color, tooltip=tip)
        layer += (
            alt.Chart(part.dropna(subset=["low"]))
            .mark_errorbar(ticks=True)
            .encode(x=x, y=alt.Y("low:Q", title=axis_title), y2="high:Q", color=color)
        )
        if key in slo_lines:
            slo = pd.DataFrame({"slo": [slo_lines[key] / scale], "name": [f"SLO {slo_lines[key] / scale:g}"]})
            layer += (
                alt.Chart(slo).mark_rule(color="red").encode(y="slo:Q", tooltip=[alt.Tooltip("name:N", title="SLO")])
            )
        if mark_at is not None:
            marked = pd.DataFrame({"at": [mark_at], "mark": [f"{mark_name}: {mark_at:g}"]})
            layer += (
                alt.Chart(marked)
                .mark_rule(color="green", strokeDash=[6, 3])
                .encode(x="at:Q", tooltip=[alt.Tooltip("mark:N", title="marked")])
            )
        charts.append(layer.properties(height=180, width="container", title=axis_title))
    return alt.vconcat(*charts).properties(autosize=FIT_WIDTH)  # layered panels inside the column
