"""flowsim in the browser: `streamlit run app.py`.

Page layout only. The parts live in `flowsim.app` (sources, controls, runner, widgets, views)
and every figure comes from the public API (`flowsim.load_scenario`, `flowsim.simulate`) and
`flowsim.reports`; nothing is simulated or computed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from flowsim.app import widgets
from flowsim.app.activity import ACTIVITY
from flowsim.app.sources import shipped_scenarios

if TYPE_CHECKING:
    import flowsim
    from flowsim.app import runner

ROOT = Path(__file__).resolve().parent
SCENARIOS = ROOT / "scenarios"
DEFAULT_SCENARIO = "checkout-outage"
INTRO = (
    "Pick a scenario, change a setting in the sidebar, press **▶ Run simulation**: see throughput, "
    "latency, losses, and which part of the design saturates first (red in the diagram)."
)


def load(text: str, overrides: dict[str, Any]) -> flowsim.Scenario | flowsim.FlowsimError:
    import flowsim
    from flowsim.app.sources import without_server_paths

    try:
        return flowsim.load_scenario(text, overrides, base_dir=SCENARIOS)  # relative paths as in scenarios/
    except flowsim.SpecError as exc:
        return flowsim.SpecError(without_server_paths(exc.problems, ROOT))
    except flowsim.FlowsimError as exc:
        return exc


def show_last_run(tab: Any, request: runner.RunRequest | None, status: Any = None) -> None:
    from flowsim.app import runner, views

    runs = runner.kept_runs()
    with tab:
        if runs:
            previous = runs[-2] if len(runs) > 1 else None
            views.results_view(runs[-1], previous, stale=request != runs[-1].request)
    if status is not None:
        status.update(label=status_label(runs[-1]) if runs else "Not run", state="complete", expanded=False)


def status_label(kept: runner.KeptRun) -> str:
    how = "taken from the cache" if kept.cached else "simulated"
    return f"Run #{kept.number} {kept.result.scenario}: {how} and drawn"


def main() -> None:
    st.set_page_config(page_title="flowsim", page_icon="🔀", layout="wide")
    widgets.phone_layout()
    st.header("flowsim · architecture under load", divider="blue")  # first: the page has content at once
    st.markdown(INTRO)
    shipped = shipped_scenarios(SCENARIOS)
    widgets.init_text(shipped, DEFAULT_SCENARIO)
    widgets.scenario_picker(shipped, DEFAULT_SCENARIO, [SCENARIOS, Path.cwd()])
    results_tab, compare_tab, yaml_tab, whatif_tab = st.tabs(["Results", "Compare runs", "Scenario YAML", "What-if"])
    with results_tab, st.spinner("Loading the simulator…"):  # the page shows first; these take seconds cold
        import flowsim
        from flowsim.app import runner, views  # no plotting yet: the key figures are drawn before the charts
    finish_stop_note = runner.stopped_note(results_tab)  # first, before the page is drawn again: Stop shows at once
    with yaml_tab:
        text = widgets.yaml_editor()
    base = load(text, {})
    status, effective = None, None
    if isinstance(base, flowsim.FlowsimError):
        widgets.take_auto_run()
        st.sidebar.info("Fix the scenario YAML to see its settings here.")
        results_tab.error("The scenario YAML has problems; see the **Scenario YAML** tab. Nothing was run.")
        with yaml_tab:
            widgets.show_problems(base, text)
        request = None
    else:
        request, status, effective = settings_and_run(text, base, results_tab)
    show_last_run(results_tab, request, status)
    if effective is not None:  # after the results: a long highlighted YAML block takes the browser a while
        with yaml_tab:
            views.effective_yaml_view(text, effective)
    with compare_tab:
        views.compare_view(runner.kept_runs())
        st.button("Forget all but the latest run", on_click=runner.forget_older_runs)
    if not isinstance(base, flowsim.FlowsimError):
        from flowsim.app import whatif  # Altair: after the results are on the page

        with whatif_tab:
            whatif.whatif_view(text, base, str(SCENARIOS), request.overrides if request is not None else {})
    if finish_stop_note is not None:
        finish_stop_note()


def settings_and_run(
    text: str, base: flowsim.Scenario, results_tab: Any
) -> tuple[runner.RunRequest | None, Any, flowsim.Scenario | None]:
    """Controls from the scenario; run when asked (or a first look on arrival); the current request, the
    run's status and the scenario as the settings make it (None when they cannot)."""
    import flowsim
    from flowsim.app import controls, runner

    results_tab.caption(base.description or base.name)
    found = controls.derive_controls(base)
    raw, pressed, slot = widgets.control_form(found)
    pressed = pressed or widgets.yaml_run_pressed()
    values, problems = controls.check(found, raw)
    if problems:
        widgets.take_auto_run()
        slot.error("Cannot run with these settings:\n\n" + "\n".join(f"- {p}" for p in problems))
        results_tab.error("Some settings are out of range (see under **▶ Run simulation** in the sidebar). "
                          "Nothing was run.")  # fmt: skip
        return None, None, None
    overrides = controls.overrides_from(base, found, values)
    scenario = load(text, overrides) if overrides else base  # the sidebar at the scenario's values: loaded once
    if isinstance(scenario, flowsim.FlowsimError):
        widgets.take_auto_run()
        widgets.show_problems(scenario, text, slot)
        results_tab.error("These settings make the scenario invalid (see under **▶ Run simulation** in the "
                          "sidebar). Nothing was run.")  # fmt: skip
        return None, None, None
    slot.caption(runner.describe_estimate(runner.run_estimate(scenario)))
    request = runner.RunRequest.of(text, overrides, scenario, str(SCENARIOS))
    if widgets.take_auto_run() and not pressed:
        return request, first_look(text, overrides, scenario, results_tab), scenario
    if pressed:
        return request, runner.execute(request, scenario, results_tab)[1], scenario
    return request, None, scenario


def first_look(text: str, overrides: dict[str, Any], scenario: flowsim.Scenario, results_tab: Any) -> Any:
    """On arrival: the scenario cut short to show a result within seconds (said on the page)."""
    from flowsim.app import runner

    request, short = first_look_request(text, overrides, scenario)
    return runner.execute(request, short, results_tab)[1]


def first_look_request(
    text: str, overrides: dict[str, Any], scenario: flowsim.Scenario
) -> tuple[runner.RunRequest, flowsim.Scenario]:
    """The first look's request and scenario: the page's and the cache warmer's, so they meet in the cache."""
    import flowsim
    from flowsim.app import jobs, runner

    cut, note = jobs.first_look(scenario)
    short = load(text, overrides | cut) if cut else scenario
    if isinstance(short, flowsim.FlowsimError):  # a cut the scenario refuses (a fault inside the warm-up): run it all
        cut, note, short = {}, "", scenario
    return runner.RunRequest.of(text, overrides | cut, short, str(SCENARIOS), note), short


def shipped_first_looks() -> Iterator[tuple[object, flowsim.Scenario]]:
    """Every shipped scenario's first look as a pick would ask for it (its text as the editor holds it,
    the sidebar at the scenario's own values: no overrides); the default scenario first."""
    import flowsim
    from flowsim.app.sources import read_shipped

    shipped = shipped_scenarios(SCENARIOS)
    for name in sorted(shipped, key=lambda n: n != DEFAULT_SCENARIO):
        text = read_shipped(shipped[name])
        scenario = load(text, {})
        if not isinstance(scenario, flowsim.FlowsimError):
            yield first_look_request(text, {}, scenario)


def page() -> None:
    """The page, counted as running while it runs: the cache warmer waits for a quiet second."""
    with ACTIVITY.running():
        main()
    from flowsim.app import warm

    warm.start_once(shipped_first_looks)  # once per server, after its first page is drawn


page()
