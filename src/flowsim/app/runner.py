"""Runs for the app: cached on (scenario text, overrides, seed, replications), bounded in size.

The cache is `st.cache_data`, shared by every session of the server: a class that opens the
same shipped scenario runs it once.  Each per-message run is bounded to `EVENT_BUDGET` estimated
events over all its replications: with the scenario's engine `auto` a bigger one goes to the fluid
engine, with `per_message` `flowsim.simulate` refuses it with `SimulationTooLarge`.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

import flowsim
from flowsim.app.controls import describe_overrides

EVENT_BUDGET = 5_000_000  # estimated events per run, all replications together (~30 s on one core)
MAX_KEPT_RUNS = 8  # each holds its latency samples; a class of sessions shares one server
Progress = Callable[[float], None]


@dataclass(frozen=True)
class RunRequest:
    """Everything that determines a run's result, hashable: the cache key."""

    text: str
    overrides_json: str
    seed: int
    replications: int
    base_dir: str = "."  # where the text's relative paths (architecture, traces) are read from

    @classmethod
    def of(cls, text: str, overrides: dict[str, Any], scenario: flowsim.Scenario, base_dir: str = ".") -> RunRequest:
        return cls(text, json.dumps(overrides, sort_keys=True), scenario.seed, scenario.replications, base_dir)

    @property
    def overrides(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.overrides_json)
        return loaded


def max_events_per_replication(replications: int) -> int:
    return max(1, EVENT_BUDGET // max(1, replications))


@st.cache_data(max_entries=32, show_spinner=False)
def _run_cached(
    text: str, overrides_json: str, seed: int, replications: int, base_dir: str, _progress: Progress | None = None
) -> flowsim.RunResult:
    """Load and simulate; a FlowsimError propagates (and is not cached)."""
    scenario = flowsim.load_scenario(text, json.loads(overrides_json), base_dir=base_dir)
    # the scenario's engine (the Engine control overrides it): with auto, a run over the page's event
    # budget goes to the fluid engine instead of being refused
    return flowsim.simulate(scenario, seed=seed, replications=replications, progress=_progress,
                            max_events=max_events_per_replication(replications))  # fmt: skip


def run(request: RunRequest, progress: Progress | None = None) -> flowsim.RunResult:
    """The result for a request, from the cache or by simulating (raises FlowsimError)."""
    return _run_cached(
        request.text, request.overrides_json, request.seed, request.replications, request.base_dir, progress
    )


def progress_bar(where: DeltaGenerator) -> Progress:
    """A progress bar in `where`, updated from inside the cached run.

    The updates run in the context captured here, outside the cached function, so Streamlit
    does not record them as part of the cached output (a cache hit would otherwise replay them).
    """
    bar = where.progress(0.0, text="Simulating…")
    context = contextvars.copy_context()

    def update(fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        context.run(bar.progress, fraction, text=f"Simulating… {fraction:.0%}")

    return update


# ---- runs kept for comparison ----------------------------------------------------------------
@dataclass(frozen=True)
class KeptRun:
    """A finished run, kept in the session to be shown again or compared."""

    number: int
    request: RunRequest
    scenario: flowsim.Scenario
    result: flowsim.RunResult

    @property
    def label(self) -> str:
        settings = describe_overrides(self.request.overrides) or "as written"
        runs = f"{self.result.replications} rep" + ("s" if self.result.replications != 1 else "")
        return f"#{self.number} {self.result.scenario} · {settings} · seed {self.result.seed} · {runs}"


def kept_runs() -> list[KeptRun]:
    runs: list[KeptRun] = st.session_state.setdefault("runs", [])
    return runs


def keep(request: RunRequest, scenario: flowsim.Scenario, result: flowsim.RunResult) -> KeptRun:
    """Add a run to the session's list (a repeated request replaces its earlier copy)."""
    number = st.session_state.get("run_counter", 0) + 1
    st.session_state["run_counter"] = number
    runs = [r for r in kept_runs() if r.request != request]
    kept = KeptRun(number, request, scenario, result)
    st.session_state["runs"] = [*runs, kept][-MAX_KEPT_RUNS:]
    return kept


def forget_older_runs() -> None:
    st.session_state["runs"] = kept_runs()[-1:]


def execute(request: RunRequest, scenario: flowsim.Scenario, where: DeltaGenerator) -> KeptRun | None:
    """Run with a progress bar in `where` and keep the result; a refused run shows its reason."""
    slot = where.empty()
    try:
        result = run(request, progress_bar(slot))
    except flowsim.SimulationTooLarge as exc:
        where.error(f"{exc}\n\nThe app runs at most {EVENT_BUDGET:,} events per run (all replications "
                    "together); for longer runs use the command line, `flowsim run`.")  # fmt: skip
        return None
    except flowsim.FlowsimError as exc:
        where.error(str(exc))
        return None
    finally:
        slot.empty()
    return keep(request, scenario, result)
