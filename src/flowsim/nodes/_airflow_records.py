"""Bookkeeping of `airflow_dag`: what is inside, the run timeline, SLA misses and the figures.

`AirflowDagNode` (in `airflow_dag`) inherits this and adds scheduling, tasks and outages; the
leading underscore keeps the registry from treating this module as a kind.
"""

from __future__ import annotations

from array import array
from collections import deque
from typing import TYPE_CHECKING, Any

from flowsim.engine.node import NodeRuntime
from flowsim.nodes._airflow_parts import Run

if TYPE_CHECKING:
    from flowsim.nodes.airflow_dag import AirflowDagConfig


class DagRecords(NodeRuntime):
    """Counters, the run timeline and figures of a DAG; the attributes below are set by `AirflowDagNode`."""

    config: AirflowDagConfig
    _landed_n: int
    _active: list[Run]
    _pending: deque[Run]
    _cleared: list[Run]

    # ---- bookkeeping ---------------------------------------------------------------------
    def reset_counters(self) -> None:
        super().reset_counters()
        self.timeline: list[dict[str, Any]] = []
        self.run_durations: array[float] = array("d")
        self.fresh_newest: array[float] = array("d")
        self.fresh_oldest: array[float] = array("d")
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
            "freshness_mean_s": _mean(self.fresh_newest),
            "freshness_max_s": max(self.fresh_newest, default=0.0),
            "oldest_age_mean_s": _mean(self.fresh_oldest),
            "oldest_age_max_s": max(self.fresh_oldest, default=0.0),
            "run_duration_mean_s": _mean(self.run_durations),
            "run_duration_max_s": max(self.run_durations, default=0.0),
        }
        return figures

    def series_extra(self) -> dict[str, float]:
        return {"runs_pending": float(len(self._pending)), "runs_active": float(len(self._active))}

    def extra(self) -> dict[str, Any]:
        return {"runs": list(self.timeline)} if self.timeline else {}


def _mean(values: array[float]) -> float:
    return sum(values) / len(values) if values else 0.0
