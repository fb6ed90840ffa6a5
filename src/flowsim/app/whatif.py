"""The What-if tab: pick a control and a range, run the grid on the sweep API, plot it with CIs.

The grid is a `flowsim.sweep.SweepPlan` built from the editor's text (so a pasted or edited
scenario sweeps as shown), run by `run_sweep` in a worker thread (`sweep_job`): on local
processes, one per core, when the grid has several points; Stop ends it within a second.
The last two what-ifs are kept as A and B and drawn on the same axes.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import streamlit as st

import flowsim
from flowsim.app.controls import NODES, POOL_FIELDS, Control, derive_controls
from flowsim.app.jobs import budget_per_replication, estimate
from flowsim.app.sweep_job import SweepJob
from flowsim.reports.whatif import WhatIf, grid_values, paired_differences, slo_lines, whatif_charts
from flowsim.sweep import SweepPlan

KEY, JOB_KEY, STOPPED_KEY = "whatifs", "whatif_job", "whatif_stopped"
MAX_POINTS, MAX_REPLICATIONS = 12, 10


def sweepable(scenario: flowsim.Scenario) -> list[Control]:
    """The load multiplier and every pool size (servers, consumers, partitions, ...)."""
    return [c for c in derive_controls(scenario)
            if c.kind == "multiplier" or (c.group == NODES and c.path.rsplit(".", 1)[-1] in POOL_FIELDS)]  # fmt: skip


def plan(
    text: str,
    base_dir: str,
    control: Control,
    values: list[Any],
    replications: int,
    settings: dict[str, Any] | None = None,
) -> SweepPlan:
    """Every point loaded from the editor's text with the sidebar's `settings` (errors name the point);
    nothing runs."""
    scenarios = []
    for value in values:
        overrides = (settings or {}) | {control.path: value, "replications": replications}
        try:
            scenario = flowsim.load_scenario(text, overrides, base_dir=base_dir)
        except flowsim.SpecError as exc:
            raise flowsim.FlowsimError(f"at {control.label} = {value}: {exc}") from None
        scenarios.append(scenario)
    return SweepPlan([control.path], [{control.path: v} for v in values], scenarios)


def _form(controls: list[Control]) -> tuple[Control, list[Any], int, bool]:
    with st.form("whatif"):
        labels = [c.label for c in controls]
        pick = st.selectbox("Control", labels, help="the setting to vary; everything else stays as the sidebar says")
        control = controls[labels.index(pick)]
        integer = control.kind == "int"
        default = float(control.default)
        low_default, high_default = (max(1.0, default - 2), default + 2) if integer else (0.5 * default, 2.0 * default)
        left, right = st.columns(2)
        low = left.number_input("From", value=low_default, step=1.0 if integer else 0.1, format="%g")
        high = right.number_input("To", value=high_default, step=1.0 if integer else 0.1, format="%g")
        left, right = st.columns(2)
        count = int(left.number_input("Points", value=5, step=1, help=f"1 to {MAX_POINTS}"))
        reps = int(right.number_input("Replications per point", value=3, step=1,
                                      help=f"2 to {MAX_REPLICATIONS}: a 95% CI needs at least 2"))  # fmt: skip
        pressed = st.form_submit_button("▶ Run what-if", type="primary")
    values = grid_values(min(low, high), max(low, high), min(max(count, 1), MAX_POINTS), integer)
    return control, values, max(2, min(reps, MAX_REPLICATIONS)), pressed


def whatif_view(text: str, base: flowsim.Scenario, base_dir: str, settings: dict[str, Any] | None = None) -> None:
    """The form, the run, and the kept what-ifs; every point takes the sidebar's `settings` (seed,
    horizon, the other nodes' sizes) and varies one control."""
    settings = settings or {}
    with contextlib.suppress(flowsim.FlowsimError):  # the sidebar says why next to Run; ranges from the YAML
        base = flowsim.load_scenario(text, settings, base_dir=base_dir) if settings else base
    controls = sweepable(base)
    st.markdown("#### What if …")
    st.caption("Vary one setting over a range and see latency, throughput, utilization, losses and cost with "
               "95% confidence intervals; the red line is the scenario's SLO, the dashed green line the highest "
               "value at which every SLO holds and no server is saturated. The last two what-ifs are drawn "
               "as A and B on the same axes.")  # fmt: skip
    note = st.session_state.pop(STOPPED_KEY, None)
    if isinstance(note, str):
        st.warning(note)
    control, values, reps, pressed = _form(controls)
    if pressed:
        try:
            swept = plan(text, base_dir, control, values, reps, settings)
        except flowsim.FlowsimError as exc:
            st.error(str(exc))
            swept = None
        if swept is not None:
            _run(swept, control)
    kept: list[WhatIf] = st.session_state.get(KEY, [])
    if kept:
        _show(kept, base)


def _note_stop() -> None:
    """The Stop button's callback, run before the page runs again: end the sweep, say what is kept."""
    job = st.session_state.pop(JOB_KEY, None)
    if isinstance(job, SweepJob):
        job.stop()
        job.wait(2.0)
        delay = job.stop_delay
        ended = "not yet ended" if delay is None else f"it ended {delay:.2f} s after the Stop reached it"
        kept = len(st.session_state.get(KEY, []))
        earlier = f"the {kept} earlier what-if{'s' if kept != 1 else ''} are"
        st.session_state[STOPPED_KEY] = (
            f"What-if stopped after {job.elapsed:.1f} s ({ended}); nothing of it is kept, {earlier}."
        )


def _run(swept: SweepPlan, control: Control) -> None:
    budget = budget_per_replication(swept.scenarios[0])
    seconds = sum(estimate(s, budget).seconds for s in swept.scenarios)
    job = SweepJob.of(swept, budget)
    where = f"on {job.workers} processes" if job.workers > 1 else "in one thread"
    status = st.status(f"Running {len(swept.points)} points x {swept.scenarios[0].replications} replications "
                       f"{where} (estimated {seconds / job.workers:,.0f} s)…", expanded=True)  # fmt: skip
    job.start()
    st.session_state[JOB_KEY] = job
    status.button("■ Stop what-if", key="stop_whatif", on_click=_note_stop, help="end this what-if; earlier ones stay")
    bar = status.progress(0.0)
    started = time.monotonic()
    try:
        while job.running:
            bar.progress(job.fraction, text=f"{job.fraction:.0%} · {job.elapsed:.1f} s")
            job.wait(0.1)
    finally:
        job.stop()  # a no-op when it finished; otherwise the page was interrupted and the sweep must end
        st.session_state.pop(JOB_KEY, None)
    if isinstance(job.error, flowsim.FlowsimError):
        status.update(label=str(job.error), state="error")
        return
    if job.error is not None:
        raise job.error
    runs: list[WhatIf] = st.session_state.get(KEY, [])
    label = "B" if runs and runs[-1].label == "A" else "A"
    result = job.sweep
    assert result is not None
    st.session_state[KEY] = [*runs[-1:], WhatIf(label, control.path, control.label, result)]
    status.update(label=f"What-if {label}: {len(swept.points)} points in {time.monotonic() - started:.1f} s "
                        f"{where}", state="complete", expanded=False)  # fmt: skip


def _show(kept: list[WhatIf], scenario: flowsim.Scenario) -> None:
    same = [k for k in kept if k.path == kept[-1].path]
    latest = same[-1]
    lines = slo_lines(latest.sweep.points[0].result.slos)
    mark, sentence = latest.sustainable()
    if mark is None:
        st.warning(f"No value of {latest.control} in what-if {latest.label} meets every SLO without saturating.")
    else:
        st.success(f"What-if {latest.label}: {sentence} (of the values tried).")
    st.altair_chart(whatif_charts(same, lines, mark, latest.mark_name()), width="stretch")
    if len(same) == 2:
        st.markdown("##### B - A, paired by replication (common random numbers)")
        st.dataframe(paired_differences(same[0], same[1]), hide_index=True, width="stretch", placeholder="—")
    with st.expander("Every point (the sweep table)"):
        st.dataframe(latest.sweep.table, width="stretch")
