"""flowsim in the browser: `streamlit run app.py`.

Page layout only. The parts live in `flowsim.app` (sources, controls, runner, widgets, views)
and every figure comes from the public API (`flowsim.load_scenario`, `flowsim.simulate`) and
`flowsim.reports`; nothing is simulated or computed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

import flowsim
from flowsim.app import controls, runner, views, widgets
from flowsim.app.sources import shipped_scenarios

ROOT = Path(__file__).resolve().parent
SCENARIOS = ROOT / "scenarios"
DEFAULT_SCENARIO = "checkout-outage"
INTRO = (
    "Pick a scenario, change a setting in the sidebar, press **▶ Run simulation**: see throughput, "
    "latency, losses, and which part of the design saturates first (red in the diagram)."
)


def load(text: str, overrides: dict[str, Any]) -> flowsim.Scenario | flowsim.FlowsimError:
    try:
        return flowsim.load_scenario(text, overrides, base_dir=SCENARIOS)  # relative paths as in scenarios/
    except flowsim.FlowsimError as exc:
        return exc


def show_last_run(tab: Any, request: runner.RunRequest | None) -> None:
    runs = runner.kept_runs()
    with tab:
        if runs:
            previous = runs[-2] if len(runs) > 1 else None
            views.results_view(runs[-1], previous, stale=request != runs[-1].request)


def main() -> None:
    st.set_page_config(page_title="flowsim", page_icon="🔀", layout="wide")
    shipped = shipped_scenarios(SCENARIOS)
    widgets.init_text(shipped, DEFAULT_SCENARIO)
    widgets.scenario_picker(shipped, DEFAULT_SCENARIO, [SCENARIOS, Path.cwd()])
    st.header("flowsim · architecture under load", divider="blue")
    st.markdown(INTRO)
    results_tab, compare_tab, yaml_tab = st.tabs(["Results", "Compare runs", "Scenario YAML"])
    with yaml_tab:
        text = widgets.yaml_editor()
    base = load(text, {})
    if isinstance(base, flowsim.FlowsimError):
        widgets.take_auto_run()
        st.sidebar.info("Fix the scenario YAML to see its settings here.")
        results_tab.error("The scenario YAML has problems; see the **Scenario YAML** tab. Nothing was run.")
        with yaml_tab:
            widgets.show_problems(base, text)
        request = None
    else:
        request = settings_and_run(text, base, results_tab, yaml_tab)
    show_last_run(results_tab, request)
    with compare_tab:
        views.compare_view(runner.kept_runs())
        st.button("Forget all but the latest run", on_click=runner.forget_older_runs)


def settings_and_run(text: str, base: flowsim.Scenario, results_tab: Any, yaml_tab: Any) -> runner.RunRequest | None:
    """Controls from the scenario; run when asked (or on first view); returns the current request."""
    results_tab.caption(base.description or base.name)
    found = controls.derive_controls(base)
    values, pressed = widgets.control_form(found, widgets.text_digest(text))
    overrides = controls.overrides_from(base, found, values)
    scenario = load(text, overrides)
    if isinstance(scenario, flowsim.FlowsimError):
        widgets.take_auto_run()
        widgets.show_problems(scenario, text, st.sidebar)
        results_tab.error("These settings make the scenario invalid (see the sidebar). Nothing was run.")
        return None
    with yaml_tab:
        views.effective_yaml_view(text, scenario)
    request = runner.RunRequest.of(text, overrides, scenario, str(SCENARIOS))
    if widgets.take_auto_run() or pressed:
        runner.execute(request, scenario, results_tab)
    return request


main()
