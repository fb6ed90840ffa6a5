"""Runs in a worker thread that the page can stop, a shared result cache, and the run-time estimate.

A Streamlit script is interrupted (by the Stop button, or any other click) only at its next
Streamlit call, so the simulation does not run in the script's thread: a worker thread runs
`flowsim.simulate(stop=...)` while the script polls it every 0.05 s and redraws the progress every 0.5 s.
When the script is interrupted, it sets the job's stop flag and the engine ends the run at its
next chunk of events (1/500 of a replication): well within a second for a run the app allows.

No Streamlit here, so the jobs and the estimate are tested on their own.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import flowsim
from flowsim.analysis.view import AnalyticView
from flowsim.api import analyze_scenario, choose_engine, estimate_events, fluid_work
from flowsim.units import format_duration

EVENT_BUDGET = 5_000_000  # estimated events per run, all replications together (~30 s on one core)
#: the first look at a scenario: 1.5e4-3.5e5 events/s over the shipped scenarios on a busy 2-core machine,
#: so 40,000 events take 0.1-2.7 s at the slowest
QUICK_BUDGET = 40_000
#: a scenario whose cut would leave out its scheduled faults (what it is about) runs whole on arrival
#: up to this many events: the shipped ones of 190,000-440,000 events took 0.8-1.6 s of simulation
FAULT_LOOK_BUDGET = 450_000
CACHE_ENTRIES = 32
#: work per second, per engine, before this server has timed a run of the scenario (a busy 2-core machine:
#: 1.5e4-3.5e5 per-message events/s over the shipped scenarios; fluid work, steps x nodes, 4.5e3-3.4e4/s)
START_RATES = {"per_message": 5.0e4, "fluid": 1.5e4}


_VIEWS: OrderedDict[int, tuple[flowsim.Scenario, AnalyticView]] = OrderedDict()
_VIEWS_LOCK = threading.Lock()


def view_of(scenario: flowsim.Scenario) -> AnalyticView:
    """The scenario's analytic view, computed once per scenario object.

    One page run asks for it four times (the estimate beside Run, the first look's cut, the status
    label, the run's engine choice); an Airflow DAG's cron periods made each ask cost 0.2-0.8 s.
    The scenario is held with its view, so its id is not reused while the entry lives."""
    with _VIEWS_LOCK:
        hit = _VIEWS.get(id(scenario))
        if hit is not None and hit[0] is scenario:
            _VIEWS.move_to_end(id(scenario))
            return hit[1]
    view = analyze_scenario(scenario)  # the view `simulate` takes: the same engine choice
    with _VIEWS_LOCK:
        _VIEWS[id(scenario)] = (scenario, view)
        while len(_VIEWS) > 16:
            _VIEWS.popitem(last=False)
    return view


def first_look(scenario: flowsim.Scenario) -> tuple[dict[str, Any], str]:
    """Overrides cutting the scenario to about `QUICK_BUDGET` events, and a sentence saying what was cut.

    Duration and warm-up shrink by the same factor (the estimate grows with the horizon), so the
    first result of any scenario comes within seconds; Run then runs it as written.  A cut that
    would leave out a scheduled fault shows a scenario without what it is about (an outage's
    lesson beside figures from before the outage), so such a scenario runs whole when it is
    under `FAULT_LOOK_BUDGET`, and otherwise the note says the lesson's fault is not in it.
    """
    events = estimate_events(scenario, view_of(scenario)) * scenario.replications
    if events <= QUICK_BUDGET:
        return {}, ""
    factor = QUICK_BUDGET / events
    duration, warmup = round(scenario.duration * factor, 3), round(scenario.warmup * factor, 3)
    kept = [f for f in scenario.faults if f.at is None or f.at < duration]
    left_out = [f for f in scenario.faults if f not in kept]
    if left_out and events <= FAULT_LOOK_BUDGET:
        return {}, ""
    cut: dict[str, Any] = {"duration": duration, "warmup": warmup}
    note = (f"First look: the first {format_duration(duration)} of the {format_duration(scenario.duration)} "
            f"horizon (about {QUICK_BUDGET:,} of {events:,.0f} estimated events), so that a result shows "
            "within seconds.")  # fmt: skip
    if left_out:
        cut["faults"] = [f.model_dump(by_alias=True, exclude_none=True, mode="json") for f in kept]
        first = min(f.at for f in left_out if f.at is not None)
        count = f"{len(left_out)} scheduled faults, the first" if len(left_out) > 1 else "the scheduled fault"
        note += (f" It ends before {count} at {format_duration(first)}: what the scenario is about is not in "
                 "these figures yet.")  # fmt: skip
    return cut, note + " Press **▶ Run simulation** for the whole run."


def budget_per_replication(scenario: flowsim.Scenario, budget: int = EVENT_BUDGET) -> int:
    """The per-message events one replication may take: the app's budget shared by the replications,
    or the scenario's own `limits: {max_events: N}` when the YAML sets it (the limit the app can raise)."""
    if "max_events" in scenario.limits.model_fields_set:
        return scenario.limits.max_events
    return max(1, budget // max(1, scenario.replications))


@dataclass
class Estimate:
    """What a run will cost before it starts: the engine `auto` picks, its work and the seconds it takes."""

    engine: str
    work: float  # estimated events (per message) or steps x nodes (fluid), all replications
    seconds: float
    refused: str = ""  # why simulate would refuse it (too large for either engine), or ""


class Rates:
    """Work per second per (scenario, engine), learnt from this server's finished runs (a running mean).

    The cost of an event differs 20-fold between scenarios, so a scenario's own earlier run (its
    first look) predicts its full run far better than one rate for all."""

    def __init__(self) -> None:
        self._rates: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def get(self, scenario: str, engine: str) -> float:
        with self._lock:
            return self._rates.get((scenario, engine), START_RATES[engine])

    def learn(self, scenario: str, engine: str, work: float, seconds: float) -> None:
        if seconds < 0.05 or work <= 0:
            return  # too short to time
        with self._lock:
            old = self._rates.get((scenario, engine))
            rate = work / seconds
            self._rates[(scenario, engine)] = rate if old is None else 0.5 * old + 0.5 * rate


RATES = Rates()


def estimate(scenario: flowsim.Scenario, max_events: int, engine: str | None = None) -> Estimate:
    """The engine, work and seconds of `simulate(scenario, max_events=max_events)` (nothing runs)."""
    view = view_of(scenario)
    try:
        chosen = choose_engine(scenario, view, max_events, engine)  # type: ignore[arg-type]
    except flowsim.FlowsimError as exc:
        return Estimate(engine or scenario.engine, estimate_events(scenario, view), float("nan"), str(exc))
    per_replication = estimate_events(scenario, view) if chosen == "per_message" else fluid_work(scenario)
    work = per_replication * scenario.replications
    return Estimate(chosen, work, work / RATES.get(scenario.name, chosen))


@dataclass
class Job:
    """One simulation in a worker thread: its progress, its stop flag, and then its result or error."""

    run: Callable[[Callable[[float], None], Callable[[], bool]], flowsim.RunResult]
    fraction: float = 0.0
    result: flowsim.RunResult | None = None
    error: BaseException | None = None
    started: float = field(default_factory=time.monotonic)
    stop_flag: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    stopped_at: float | None = None  # when stop() was first called (monotonic)
    ended_at: float | None = None  # when the worker returned

    def start(self) -> Job:
        self.thread = threading.Thread(target=self._work, name="flowsim-run", daemon=True)
        self.thread.start()
        return self

    def _work(self) -> None:
        try:
            self.result = self.run(self._progress, self.stop_flag.is_set)
        except BaseException as exc:  # handed to the page, which shows a FlowsimError and re-raises a bug
            self.error = exc
        finally:
            self.ended_at = time.monotonic()

    def _progress(self, fraction: float) -> None:
        self.fraction = min(max(fraction, 0.0), 1.0)

    def stop(self) -> None:
        if self.stopped_at is None:
            self.stopped_at = time.monotonic()
        self.stop_flag.set()

    @property
    def stop_delay(self) -> float | None:
        """Seconds from the first stop() to the worker's return (None: not stopped, or not ended yet)."""
        if self.stopped_at is None or self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.stopped_at)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def wait(self, seconds: float) -> None:
        if self.thread is not None:
            self.thread.join(seconds)


class ResultCache:
    """Finished results by request, shared by every session of the server, the oldest dropped first."""

    def __init__(self, entries: int = CACHE_ENTRIES) -> None:
        self._entries = entries
        self._items: OrderedDict[object, flowsim.RunResult] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: object) -> flowsim.RunResult | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: object, result: flowsim.RunResult) -> None:
        with self._lock:
            self._items[key] = result
            self._items.move_to_end(key)
            while len(self._items) > self._entries:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = ResultCache()
#: first looks computed ahead (`flowsim.app.warm`), apart from CACHE so that 38+ of them do not push
#: out the runs a class asked for; a first look is small (at most ~40,000 events)
FIRST_LOOKS = ResultCache(entries=128)


def cached(key: object) -> flowsim.RunResult | None:
    """A finished result for the request, from the runs or from the first looks computed ahead."""
    return CACHE.get(key) or FIRST_LOOKS.get(key)
