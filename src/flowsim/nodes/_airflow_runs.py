"""Runs of an `airflow_dag` beyond the schedule: dataset-triggered runs, `dagrun_timeout` and
clearing a failed run (manual recovery).

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

    def _launch(self) -> None:
        raise NotImplementedError  # AirflowDagNode: start due runs while the limits allow
