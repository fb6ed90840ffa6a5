"""Runs for the app: cached on the request, in a worker thread the Stop button ends, kept for comparison.

Results are cached in `jobs.CACHE`, shared by every session of the server: a class that opens the
same shipped scenario runs it once.  Each per-message run is bounded to `EVENT_BUDGET` estimated
events over all its replications (or the scenario's own `limits: {max_events: N}`): with the
scenario's engine `auto` a bigger one goes to the fluid engine, with `per_message`
`flowsim.simulate` refuses it with `SimulationTooLarge`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

import flowsim
from flowsim.app.controls import describe_overrides
from flowsim.app.jobs import CACHE, EVENT_BUDGET, RATES, Estimate, Job, budget_per_replication, cached, estimate

MAX_KEPT_RUNS = 8  # each holds its latency samples; a class of sessions shares one server
JOB_KEY, STOPPED_KEY = "running_job", "stopped_job"
#: how often the page looks for a click while a run works, and redraws its progress: every redraw is a
#: message the browser lays out, which on a busy 2-core machine delayed the Stop's own message by seconds
POLL_S, REDRAW_S = 0.05, 0.5


@dataclass(frozen=True)
class RunRequest:
    """Everything that determines a run's result, hashable: the cache key."""

    text: str
    overrides_json: str
    seed: int
    replications: int
    base_dir: str = "."  # where the text's relative paths (architecture, traces) are read from
    note: str = ""  # what a first look cut short ("" for a run as the settings say)

    @classmethod
    def of(cls, text: str, overrides: dict[str, Any], scenario: flowsim.Scenario, base_dir: str = ".",
           note: str = "") -> RunRequest:  # fmt: skip
        return cls(text, json.dumps(overrides, sort_keys=True), scenario.seed, scenario.replications, base_dir, note)

    @property
    def overrides(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.overrides_json)
        return loaded


def run_estimate(scenario: flowsim.Scenario) -> Estimate:
    """Engine and seconds of this scenario's run in the app, before it starts."""
    return estimate(scenario, budget_per_replication(scenario))


def describe_estimate(guess: Estimate) -> str:
    if guess.refused:
        return "Too large to run here: " + guess.refused
    unit = "events" if guess.engine == "per_message" else "fluid steps x nodes"
    seconds = "under 1 s" if guess.seconds < 1 else f"about {guess.seconds:,.0f} s"
    return f"Estimated run time {seconds} ({guess.work:,.0f} {unit}, {guess.engine.replace('_', '-')} engine)"


def _note_stop() -> None:
    """The Stop button's callback, run before the page's next run: set the job's stop flag and go on.

    It does not wait for the engine (up to one chunk of events, 0.1-0.6 s on a busy machine): the
    page draws the note and the earlier runs at once, and says how long the engine took at its end."""
    job = st.session_state.pop(JOB_KEY, None)
    if isinstance(job, Job):
        job.stop()
        st.session_state[STOPPED_KEY] = job


def stopped_note(where: DeltaGenerator) -> Callable[[], None] | None:
    """Say at once that a run was stopped and that the earlier runs are kept; returns the call, for
    the end of the page, that waits for the engine (at most 2 s) and adds when it ended."""
    job = st.session_state.pop(STOPPED_KEY, None)
    if not isinstance(job, Job):
        return None
    slot = where.empty()
    kept = len(kept_runs())
    after = (job.stopped_at or time.monotonic()) - job.started
    text = (f"Stopped after {after:.1f} s; nothing of that run is kept, the {kept} earlier "
            f"run{'s' if kept != 1 else ''} {'are' if kept != 1 else 'is'}.")  # fmt: skip
    slot.warning(text)

    def finish() -> None:
        job.wait(2.0)
        delay = job.stop_delay
        ended = "not yet ended" if delay is None else f"the simulation ended {delay:.2f} s after the Stop reached it"
        slot.warning(f"{text} ({ended})")

    return finish


def _simulate(request: RunRequest, scenario: flowsim.Scenario, status: Any) -> flowsim.RunResult | None:
    """Run in a worker thread, polling its progress into `status`; None when refused (reason shown).

    Streamlit interrupts a script only inside its own calls: reading `st.session_state` is one that
    sends nothing, so the loop takes a click within `POLL_S` while it redraws only every `REDRAW_S`.
    If the script is interrupted (Stop, or any other click reruns the page), the `finally` stops the
    job: the engine ends it at its next chunk of events, and no result of it is cached or kept.
    """
    budget = budget_per_replication(scenario)
    guess = estimate(scenario, budget)

    def work(progress: Any, stop: Any) -> flowsim.RunResult:
        return flowsim.simulate(scenario, seed=request.seed, replications=request.replications, progress=progress,
                                stop=stop, max_events=budget)  # fmt: skip

    job = Job(work).start()
    st.session_state[JOB_KEY] = job
    status.button("■ Stop", key="stop_run", on_click=_note_stop, help="end this run; earlier runs stay")
    bar = status.progress(0.0, text="Simulating…")
    drawn = -REDRAW_S
    try:
        while job.running:
            if job.elapsed - drawn >= REDRAW_S:
                drawn = job.elapsed
                bar.progress(job.fraction, text=f"Simulating… {job.fraction:.0%} · {drawn:.1f} s")
            job.wait(POLL_S)
            st.session_state.get(JOB_KEY)  # a read of the session state is where Streamlit takes a click (Stop)
    finally:
        job.stop()  # a no-op when it finished; otherwise the page was interrupted and the run must end
    # reached only when the run ended by itself: an interrupted page leaves the job for the Stop's callback,
    # which Streamlit may run before or after this unwinding (the next run overwrites it in any case)
    st.session_state.pop(JOB_KEY, None)
    bar.empty()
    if isinstance(job.error, flowsim.SimulationTooLarge):
        status.error(f"{job.error}\n\nThe app runs at most {EVENT_BUDGET:,} events per run (all replications "
                     "together) unless the scenario raises it with `limits: {max_events: N}` (per replication); "
                     "for longer runs use the command line, `flowsim run`.")  # fmt: skip
        return None
    if isinstance(job.error, flowsim.FlowsimError):
        status.error(str(job.error))
        return None
    if job.error is not None:
        raise job.error
    assert job.result is not None
    RATES.learn(scenario.name, guess.engine, guess.work, job.elapsed)
    return job.result


# ---- runs kept for comparison ----------------------------------------------------------------
@dataclass(frozen=True)
class KeptRun:
    """A finished run, kept in the session to be shown again or compared."""

    number: int
    request: RunRequest
    scenario: flowsim.Scenario
    result: flowsim.RunResult
    cached: bool = False  # taken from the server's cache (an earlier run, or a first look computed ahead)

    @property
    def label(self) -> str:
        settings = describe_overrides(self.request.overrides) or "as written"
        runs = f"{self.result.replications} rep" + ("s" if self.result.replications != 1 else "")
        return f"#{self.number} {self.result.scenario} · {settings} · seed {self.result.seed} · {runs}"


def kept_runs() -> list[KeptRun]:
    runs: list[KeptRun] = st.session_state.setdefault("runs", [])
    return runs


def keep(request: RunRequest, scenario: flowsim.Scenario, result: flowsim.RunResult, cached: bool = False) -> KeptRun:
    """Add a run to the session's list (a repeated request replaces its earlier copy)."""
    number = st.session_state.get("run_counter", 0) + 1
    st.session_state["run_counter"] = number
    runs = [r for r in kept_runs() if r.request != request]
    kept = KeptRun(number, request, scenario, result, cached)
    st.session_state["runs"] = [*runs, kept][-MAX_KEPT_RUNS:]
    return kept


def forget_older_runs() -> None:
    st.session_state["runs"] = kept_runs()[-1:]


def execute(request: RunRequest, scenario: flowsim.Scenario, where: DeltaGenerator) -> tuple[KeptRun | None, Any]:
    """Run (or take from the cache) inside an `st.status` in `where`, and keep the result.

    Returns the kept run (None when refused, the reason shown) and the status, which the page
    closes once the results are drawn.
    """
    started = time.monotonic()
    hit = cached(request)
    label = f"Simulating {scenario.name}… {describe_estimate(run_estimate(scenario))}"
    status = where.status("Taken from the cache" if hit else label, expanded=hit is None)
    result = hit or _simulate(request, scenario, status)
    if result is None:
        status.update(label=f"{scenario.name}: not run", state="error", expanded=True)
        return None, status
    if hit is None:
        CACHE.put(request, result)
    status.update(label=f"Simulated {scenario.name} in {time.monotonic() - started:.1f} s; drawing…")
    return keep(request, scenario, result, cached=hit is not None), status
