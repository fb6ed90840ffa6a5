"""Runs of an `airflow_dag` beyond the schedule: dataset-triggered runs, `dagrun_timeout`, and
failed runs: dead-lettered, or cleared to run again (manual recovery).

`AirflowDagNode` (in `airflow_dag`) inherits this; it adds the schedule, landing and run ends.
A dataset-scheduled DAG hears every update of its datasets through the installation; once
each was updated since its last run a run is queued for the interval spanning the producing
runs' intervals (Airflow's DatasetTriggeredTimetable), its data what landed until then.
"""

from __future__ import annotations

import math
from typing import Any

from flowsim.engine.item import Item
from flowsim.nodes._airflow_parts import Run
from flowsim.nodes._airflow_tasks import DagTasks


class DagRuns(DagTasks):
    """Run hooks of a DAG; the attributes below are set by `AirflowDagNode`."""

    _heard: dict[str, tuple[float, float]]
    _runs: int

    def _heard_update(self, dataset: str, start: float, end: float) -> None:
        """A run updated `dataset`; once all of this DAG's datasets were updated, a run is queued
        for the interval spanning the updates (DatasetTriggeredTimetable), its data landed by now."""
        old = self._heard.get(dataset)
        self._heard[dataset] = (min(start, old[0]), max(end, old[1])) if old else (start, end)
        if self.tracing:
            self.log(f"dataset updated {dataset}")
        if len(self._heard) < len(self.config.schedule_on):
            return
        start = min(s for s, _ in self._heard.values())
        end = max(e for _, e in self._heard.values())
        self._heard = {}
        self._runs += 1
        now = self.env.now
        run = Run(self._runs, start, end, Item(start, 0, self._runs), cut=math.nextafter(now, math.inf), logical=now)
        self._pending.append(run)
        self.pending_max = max(self.pending_max, len(self._pending))
        if self.tracing:
            self.log("run scheduled", run.item)
        self._launch()

    def _run_timed_out(self, event: Any) -> None:
        """dagrun_timeout: the run is still going, so it fails and its running tries are killed."""
        run, attempt = event._value
        if run.state == "running" and run.attempt == attempt:
            self.counts["runs_timed_out"] += 1
            if self.tracing:
                self.log("run timed out", run.item)
            self._fail_now(run)

    # ---- run ends ------------------------------------------------------------------------
    def _clear(self, event: Any) -> None:
        run: Run = event._value
        run.state = "cleared"
        if self.tracing:
            self.log("run cleared", run.item)
        self._launch()

    def _run_failed(self, run: Run) -> None:
        """The run ends failed: its whole interval is dead-lettered (no partial reprocessing),
        unless it is to be cleared: then it waits `clear_failed_after` and is due again."""
        self._active.remove(run)
        self.blocked = [(r, t) for r, t in self.blocked if r is not run]
        after = self.config.clear_failed_after
        if after is not None and run.attempt <= self.config.max_clears:
            run.state = "failed, to be cleared"
            self._cleared.append(run)
            self.counts["runs_cleared"] += 1
            self._record(run, run.n)
            if self.tracing:
                self.log("run failed, to be cleared", run.item)
            self.env.timeout(after, run).callbacks.append(self._clear)
            self._launch()
            return
        run.state = "failed"
        self.dead_lettered += run.n
        self.counts["runs_failed"] += 1
        self._record(run, run.n)
        if self.tracing:
            self.log("run failed", run.item)
        self.send_dead_letter(run.item)
        self._launch()

    def _launch(self) -> None:
        raise NotImplementedError  # AirflowDagNode: start due runs while the limits allow
