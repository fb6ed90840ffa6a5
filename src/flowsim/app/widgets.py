"""The app's inputs: scenario picker and upload, the YAML editor, located errors, the control form."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from flowsim.app.sources import describe, excerpt, inline_architecture, location, read_shipped
from flowsim.errors import FlowsimError, SpecError

if TYPE_CHECKING:  # controls loads the kinds (pydantic models): imported when the form is drawn
    from flowsim.app.controls import Control, Value

TEXT_KEY = "yaml_text"
CHOICE_KEY = "scenario_choice"
UPLOAD_KEY = "scenario_upload"
AUTO_RUN_KEY = "auto_run"
YAML_RUN_KEY = "run_yaml"


def request_auto_run() -> None:
    """Run once without waiting for the button: on first load and when a new scenario is picked."""
    st.session_state[AUTO_RUN_KEY] = True


def take_auto_run() -> bool:
    return bool(st.session_state.pop(AUTO_RUN_KEY, False))


def init_text(shipped: dict[str, Path], default: str) -> None:
    if TEXT_KEY not in st.session_state:
        st.session_state[TEXT_KEY] = read_shipped(shipped[default]) if default in shipped else ""
        request_auto_run()


def _load_choice(shipped: dict[str, Path]) -> None:
    st.session_state[TEXT_KEY] = read_shipped(shipped[st.session_state[CHOICE_KEY]])
    new_controls()
    request_auto_run()
    request_sidebar_close()


def _load_upload(bases: Sequence[Path]) -> None:
    upload = st.session_state.get(UPLOAD_KEY)
    if upload is None:
        return
    try:
        text = upload.getvalue().decode("utf-8")
    except UnicodeDecodeError:
        st.session_state["upload_error"] = f"{upload.name} is not UTF-8 text; upload a YAML file."
        return
    st.session_state[TEXT_KEY] = inline_architecture(text, bases)
    new_controls()
    request_auto_run()
    request_sidebar_close()


def scenario_picker(shipped: dict[str, Path], default: str, bases: Sequence[Path]) -> None:
    """Sidebar: a shipped scenario, or an uploaded file; either replaces the editor's text."""
    names = list(shipped)
    if names:
        st.sidebar.selectbox("Scenario", names, index=names.index(default) if default in names else 0,
                             key=CHOICE_KEY, on_change=_load_choice, args=(shipped,),
                             help="a shipped example; its YAML is in the 'Scenario YAML' tab")  # fmt: skip
    st.sidebar.file_uploader("…or upload a scenario", type=["yaml", "yml"], key=UPLOAD_KEY,
                             on_change=_load_upload, args=(bases,),
                             help="a scenario YAML file (architecture inline, or a path to a shipped one)")  # fmt: skip
    if "upload_error" in st.session_state:
        st.sidebar.error(st.session_state.pop("upload_error"))
    close_sidebar_on_a_phone()


def yaml_editor() -> str:
    """The scenario as text; edits apply when the box loses focus (or Ctrl+Enter)."""
    text = st.text_area("Scenario YAML: edit or paste, then press Run simulation", key=TEXT_KEY, height=480,
                        help="the architecture is inline under 'architecture:'; see docs/nodes.md")  # fmt: skip
    st.button("▶ Run simulation", key=YAML_RUN_KEY, type="primary", help="runs this text with the sidebar's settings")
    return text or ""


def yaml_run_pressed() -> bool:
    """The Run button under the editor: outside the sidebar's form, so the click carries the edited text."""
    return bool(st.session_state.get(YAML_RUN_KEY))


# ---- errors ----------------------------------------------------------------------------------
def show_problems(error: FlowsimError, text: str, where: DeltaGenerator | None = None) -> None:
    """Each problem with its line, column and field, and the lines of YAML around it."""
    show = st.error if where is None else where.error
    problems = error.problems if isinstance(error, SpecError) else []
    if not problems:
        show(str(error))
        return
    for problem in problems:
        snippet = excerpt(text, problem) if problem.source in ("<input>", "") else None
        body = describe(problem) + (f"\n\n{snippet}" if snippet else "")
        heading = location(problem).capitalize() or "Problem"
        show(f"**{heading}**\n\n```text\n{body}\n```")


# ---- controls --------------------------------------------------------------------------------
NAMESPACE_KEY, DEFAULTS_KEY = "controls_namespace", "control_defaults"


def new_controls() -> None:
    """A new scenario (picked or uploaded): the sidebar starts again from its values."""
    st.session_state[NAMESPACE_KEY] = st.session_state.get(NAMESPACE_KEY, 0) + 1


def _sync(control: Control, key: str) -> None:
    """Give the widget the scenario's value unless the user changed it.

    An edit of the YAML changes a control's default (its value in the text): a widget still at the
    old default follows it; a widget the user set keeps the user's value.
    """
    seen: dict[str, Value] = st.session_state.setdefault(DEFAULTS_KEY, {})
    default = str(control.default) if control.path == "seed" else control.default
    if key not in st.session_state or (st.session_state[key] == seen.get(key) and seen.get(key) != default):
        st.session_state[key] = default
    seen[key] = default


def _widget(control: Control, key: str) -> Value:
    """One control; no bounds in the widget itself, so an out-of-range value reaches `check` and is
    explained next to Run instead of being refused silently by the browser."""
    c = control
    _sync(c, key)
    if c.kind == "multiplier":
        value: Value = st.slider(c.label, float(c.minimum or 0.0), float(c.maximum or 1.0), step=float(c.step or 0.1),
                                 key=key, help=c.help, format="%.1fx")  # fmt: skip
    elif c.kind == "choice":
        value = st.selectbox(c.label, c.options, key=key, help=c.help)
    elif c.path == "seed":
        value = st.text_input(c.label, key=key, help=c.help + " (any whole number from 0)")
    elif c.kind == "int":
        value = int(st.number_input(c.label, step=1, key=key, help=c.help + _range_help(c)))
    else:
        value = float(st.number_input(c.label, step=c.step, format="%g", key=key, help=c.help + _range_help(c)))
    return value


def _range_help(c: Control) -> str:
    """The allowed range in the tooltip (the input itself takes any number, so that a value out of
    range is said in words under Run rather than silently clamped by the widget)."""
    if c.minimum is None and c.maximum is None:
        return ""
    if c.maximum is None:
        return f" (at least {c.minimum:g})"
    if c.minimum is None:
        return f" (at most {c.maximum:g})"
    return f" ({c.minimum:g} to {c.maximum:g})"


def control_form(controls: list[Control]) -> tuple[dict[str, Value], bool, DeltaGenerator]:
    """Sidebar controls, grouped; returns their values, whether Run was pressed, and the slot under
    the Run button where the page writes the estimate and any reason it cannot run.

    Not an `st.form`: a form sends its values only with its own submit, so a YAML edit run from the
    editor lost the sidebar's changes, and a click on the form's Run while the editor had the focus
    was lost to the editor's commit (two presses).  Plain widgets commit as they change (the page
    redraws, nothing runs), and either Run button carries the text and every setting at once.
    Widget keys carry a number that changes only when a new scenario is picked or uploaded.
    """
    from flowsim.app.controls import RETRIES

    namespace = st.session_state.setdefault(NAMESPACE_KEY, 0)
    values: dict[str, Value] = {}
    side = st.sidebar
    pressed = side.button("▶ Run simulation", type="primary", width="stretch", key="run_top")
    slot = side.container()
    for group in dict.fromkeys(c.group for c in controls):
        with side.expander(group, expanded=group != RETRIES):
            for control in (c for c in controls if c.group == group):
                values[control.path] = _widget(control, f"{namespace}:{control.path}")
    bottom = side.button("▶ Run simulation", type="primary", width="stretch", key="run_bottom")
    if pressed or bottom:  # on a phone the result is under the sidebar: close it, as after a pick
        request_sidebar_close()
        close_sidebar_on_a_phone()
    return values, pressed or bottom, slot


# ---- layout ----------------------------------------------------------------------------------
_PHONE_CSS = """<style>
@media (max-width: 640px) {
  .block-container, [data-testid="stMainBlockContainer"] { padding-left: 0.6rem; padding-right: 0.6rem; }
  [data-testid="stMetricValue"] { font-size: 1.4rem; }
  [data-testid="stTabs"] [role="tablist"] { flex-wrap: wrap; }
}
.stMain, [data-testid="stMain"] { overflow-x: hidden; }
</style>"""


def phone_layout() -> None:
    """At phone width (390 px) a little less padding and tabs that wrap instead of scrolling sideways;
    the charts are Vega (fixed-size text), columns stack (Streamlit does that under 640 px)."""
    st.html(_PHONE_CSS)


# ---- the sidebar on a phone ----------------------------------------------------------------------
CLOSE_KEY, CLOSE_COUNT_KEY = "close_sidebar", "close_sidebar_count"
#: Streamlit lays the sidebar over the page at or below its `md` breakpoint (768 px); there, and only
#: there, a pick closes it.  The button is Streamlit's own "Collapse sidebar", so the state Streamlit
#: remembers (and the chevron that opens it again) stays consistent.
_CLOSE_JS = """<script>/* pick %d */
if (window.innerWidth <= 768) {
  const button = document.querySelector('[data-testid="stSidebarCollapseButton"] button[aria-expanded="true"]');
  if (button) { button.click(); }
}
</script>"""


def request_sidebar_close() -> None:
    """After a pick, an upload or a press of the sidebar's Run: close the sidebar if it covers the page."""
    count = st.session_state.get(CLOSE_COUNT_KEY, 0) + 1  # never reset: each script's text is new, so it runs
    st.session_state[CLOSE_COUNT_KEY] = st.session_state[CLOSE_KEY] = count


def close_sidebar_on_a_phone() -> None:
    """Streamlit has no call that closes the sidebar: `set_page_config(initial_sidebar_state=...)`
    gives way to the state the browser stored when the user opened it, so a phone user who opened
    it to pick a scenario kept a sidebar covering the result.  A one-off script (numbered, so each
    pick runs it once) presses Streamlit's own collapse button, at phone width only."""
    pick = st.session_state.pop(CLOSE_KEY, None)
    if isinstance(pick, int):
        with st.sidebar:
            st.html(_CLOSE_JS % pick, unsafe_allow_javascript=True)
