"""Bookkeeping of `airflow_dag`: what is inside, the run timeline, SLA misses and the figures.

`AirflowDagNode` (in `airflow_dag`) inherits this and adds scheduling, tasks and outages; the
leading underscore keeps the registry from treating this module as a kind.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from typing import TYPE_CHECKING, Any

from flowsim.engine.figures import FLUID, PER_MESSAGE, Figure
from flowsim.engine.node import NodeRuntime
from flowsim.engine.stats import NO_DATA, max_of, mean_of
from flowsim.nodes._airflow_parts import Run

if TYPE_CHECKING:
    from flowsim.nodes.airflow_dag import AirflowDagConfig


DAG_FIGURES = (
    Figure("runs", "runs", "runs finished (the fluid engine does not tell outcomes apart)", engines=FLUID),
    Figure("runs_succeeded", "runs", "runs whose every task succeeded", engines=PER_MESSAGE),
    Figure("runs_failed", "runs", "runs with a task out of tries", True, engines=PER_MESSAGE),
    Figure("runs_skipped", "runs", "never started (catchup off, or a failed upstream)", True, engines=PER_MESSAGE),
    Figure("sla_misses", "runs", "runs that landed later than interval end + sla, or never", True),
    Figure("task_tries", "tries", "task attempts, retries included", engines=PER_MESSAGE),
    Figure("task_timeouts", "tries", "task attempts cut off by execution_timeout", engines=PER_MESSAGE),
    Figure("runs_queued_max", "runs", "most runs waiting for a free active-run slot", engines=PER_MESSAGE),
    Figure("runs_pending_at_end", "runs", "runs scheduled or waiting when the run ended"),
    Figure("runs_active_at_end", "runs", "runs started and not over when the run ended (held by depends_on_past, "
           "a sensor, a pool)", engines=PER_MESSAGE),
    Figure("messages_skipped", "messages", "data of skipped or failed runs (its dropped)", engines=PER_MESSAGE),
    Figure("freshness_mean_s", "s", "mean landing lag: a landing's time - its interval's end (the newest data's "
           "age as it lands)", engines=PER_MESSAGE),
    Figure("freshness_max_s", "s", "longest landing lag", True, engines=PER_MESSAGE),
    Figure("staleness_mean_s", "s", "time-weighted mean age of the newest landed data: now - the latest interval "
           "end landed, over the window from the first landing", engines=PER_MESSAGE),
    Figure("staleness_max_s", "s", "the newest landed data's age at its worst: just before a landing, or at "
           "the end", True, engines=PER_MESSAGE),
    Figure("oldest_age_mean_s", "s", "mean age of the oldest message of a landing", engines=PER_MESSAGE),
    Figure("oldest_age_max_s", "s", "age of the oldest message of a landing at its worst", engines=PER_MESSAGE),
    Figure("run_duration_mean_s", "s", "mean time from a run's start to its end"),
    Figure("run_duration_max_s", "s", "longest run"),
    Figure("runs_cleared", "runs", "failed runs cleared to run again (clear_failed_after)", engines=PER_MESSAGE),
    Figure("runs_timed_out", "runs", "runs failed by dagrun_timeout, running tries killed", True,
           engines=PER_MESSAGE),
    Figure("sensor_pokes", "pokes", "pokes the sensors made", engines=PER_MESSAGE),
    Figure("sensor_slot_s", "s", "slot-seconds the sensors held", engines=PER_MESSAGE),
    Figure("sensor_timeouts", "tries", "sensor tries that timed out", engines=PER_MESSAGE),
)  # fmt: skip


class Staleness:
    """The age of the newest landed data, `now - the latest interval end landed`, integrated
    exactly: a sawtooth that grows at 1 s/s and drops at each landing of newer data, so its peaks
    are just before those landings and at the end."""

    def __init__(self) -> None:
        self.newest: float | None = None  # the latest interval end landed (kept across the warm-up)
        self.reset(0.0)

    def reset(self, now: float) -> None:
        self.area, self.peak = 0.0, NO_DATA
        self.since = self.start = now if self.newest is not None else None

    def advance(self, now: float) -> None:
        if self.newest is None or self.since is None:
            return
        a, newest = self.since, self.newest
        self.area += (now - a) * ((a + now) / 2 - newest)
        self.peak = now - newest if math.isnan(self.peak) else max(self.peak, now - newest)
        self.since = now

    def landed(self, now: float, end: float) -> None:
        self.advance(now)
        if self.newest is None or end > self.newest:
            self.newest = end
        if self.since is None:
            self.since = self.start = now

    def figures(self, now: float) -> dict[str, float]:
        self.advance(now)
        span = now - self.start if self.start is not None else 0.0
        return {"staleness_mean_s": self.area / span if span > 0 else NO_DATA, "staleness_max_s": self.peak}


class DagRecords(NodeRuntime):
    """Counters, the run timeline and figures of a DAG; the attributes below are set by `AirflowDagNode`."""

    config: AirflowDagConfig
    _landed_n: int
    _active: list[Run]
    _pending: deque[Run]
    _cleared: list[Run]
    staleness: Staleness

    # ---- bookkeeping ---------------------------------------------------------------------
    def reset_counters(self) -> None:
        super().reset_counters()
        self.timeline: list[dict[str, Any]] = []
        self.run_durations: array[float] = array("d")
        self.fresh_newest: array[float] = array("d")
        self.fresh_oldest: array[float] = array("d")
        self.staleness.reset(self.env.now)
        self.counts: dict[str, float] = dict.fromkeys(
            ("runs_succeeded", "runs_failed", "runs_skipped", "runs_cleared", "runs_timed_out", "sla_misses",
             "task_tries", "task_timeouts", "sensor_pokes", "sensor_timeouts", "sensor_slot_s"), 0.0
        )  # fmt: skip
        self.pending_max = len(self._pending)

    def inside(self) -> int:
        return self._landed_n + sum(r.n for r in self._active) + sum(r.n for r in self._cleared)

    def waiting(self) -> int:
        return self._landed_n

    def busy_servers(self) -> float:
        return float(len(self._active))

    # ---- run records ---------------------------------------------------------------------
    def _missed_sla(self, run: Run, now: float) -> bool:
        sla = self.config.sla
        return sla is not None and now > run.end + sla

    def _record(self, run: Run, n: int) -> None:
        """A run's line in the timeline.  With an `sla`, a run that failed or was skipped misses it
        too (its data never lands), counted when it ends; a successful one when it lands late."""
        now = self.env.now
        never = run.state in ("failed", "skipped") and self.config.sla is not None
        late = never or (run.state == "success" and self._missed_sla(run, now))
        if late:
            self.counts["sla_misses"] += 1
            if self.tracing:
                self.log("sla miss", run.item)
        started = run.started if run.state != "skipped" else None
        self.timeline.append({"run": run.rid, "interval_start_s": run.start, "interval_end_s": run.end,
                              "started_s": started, "ended_s": now, "state": run.state,
                              "messages": n, "sla_missed": late})  # fmt: skip

    # ---- results -------------------------------------------------------------------------
    def _open_sla_misses(self) -> int:
        """Runs still scheduled, active or waiting to be cleared at the end whose SLA deadline has passed."""
        now = self.env.now
        return sum(self._missed_sla(r, now) for r in [*self._pending, *self._active, *self._cleared])

    def figures(self, window: float) -> dict[str, float]:
        figures = super().figures(window)
        figures |= {k: float(v) for k, v in self.counts.items()}
        figures["sla_misses"] += self._open_sla_misses()
        figures["timeouts"] = figures["task_timeouts"]  # the standard figure every kind reports
        figures |= {
            "runs_queued_max": float(self.pending_max),
            "runs_pending_at_end": float(len(self._pending)),
            "runs_active_at_end": float(len(self._active)),
            "messages_skipped": float(self.dropped),
            "freshness_mean_s": mean_of(self.fresh_newest),
            "freshness_max_s": max_of(self.fresh_newest),
            "oldest_age_mean_s": mean_of(self.fresh_oldest),
            "oldest_age_max_s": max_of(self.fresh_oldest),
            "run_duration_mean_s": mean_of(self.run_durations),
            "run_duration_max_s": max_of(self.run_durations),
        }
        return figures | self.staleness.figures(self.env.now)

    def series_extra(self) -> dict[str, float]:
        return {"runs_pending": float(len(self._pending)), "runs_active": float(len(self._active))}

    def extra(self) -> dict[str, Any]:
        return {"runs": list(self.timeline)} if self.timeline else {}
