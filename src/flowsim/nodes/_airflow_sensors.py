"""Sensors of an `airflow_dag`: a task that pokes until the data it waits for has landed.

As Airflow 2's BaseSensorOperator.execute: the first poke is at the try's start t0; a poke that
finds the data makes the sensor succeed; a poke that does not, more than `timeout` after t0,
ends it: failed without retries (AirflowSensorTimeout), or skipped with `soft_fail` (so the
trigger rules skip its downstream).  Otherwise the next poke is `poke_interval` later.  In `poke`
mode the try sleeps between pokes and keeps its worker and pool slots all along; in
`reschedule` mode it frees them (state up_for_reschedule) and each poke is a new start through
the scheduler's queue, paying the installation's `task_startup` again.  Pokes take no time.

The data the sensor waits for lands `data_late_by` after the run's data interval ends (drawn
once per run), so a late upstream is a distribution of waits; or, with `dataset`, when a run of
the DAG that updates that dataset, for an interval reaching at least as far, succeeds (as an
ExternalTaskSensor on the producing DAG): then each poke looks at the installation's datasets.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from flowsim.distributions import Constant, Distribution
from flowsim.specmodel import SpecModel
from flowsim.units import Duration, Period

#: BaseSensorOperator's defaults: poke every 60 s, time out after 7 days
POKE_INTERVAL, SENSOR_TIMEOUT = 60.0, 7 * 86400.0


class SensorSpec(SpecModel):
    """What a sensor task waits for and how it waits."""

    mode: Literal["poke", "reschedule"] = Field(
        "poke", description="poke holds its slots while waiting; reschedule frees them"
    )
    poke_interval: Period = Field(POKE_INTERVAL, gt=0, description="time between pokes (Airflow default 60 s)")
    timeout: Duration = Field(
        SENSOR_TIMEOUT, gt=0, description="a poke finding nothing this long after the first fails it"
    )
    soft_fail: bool = Field(False, description="on timeout the sensor is skipped instead of failed")
    data_late_by: Distribution = Field(
        default_factory=lambda: Constant(value=0.0),
        description="the awaited data lands this long after the run's data interval ends",
    )
    dataset: str | None = Field(
        None, description="wait instead for this dataset's update covering the run's interval (a producing DAG's run)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> SensorSpec:
        if self.dataset is not None and "data_late_by" in self.model_fields_set:
            raise ValueError("a sensor waits either for 'data_late_by' or for a 'dataset', not both")
        return self


def poke_outcome(sensor: SensorSpec, first: float, now: float, lands: float) -> tuple[str, float]:
    """The result of the pokes from `now` on, for a sensor first poked at `first` whose data lands
    at `lands`: ("success" | "timeout", time) for the poke that ends it, found in one step (the
    pokes fall at first + k x poke_interval; poke k succeeds once first + k p >= lands, and fails
    once k p > timeout, success winning a tie)."""
    p = float(sensor.poke_interval)
    k_now = max(0, math.ceil((now - first) / p - 1e-9))
    k_success = max(k_now, math.ceil((lands - first) / p - 1e-9))
    k_timeout = max(k_now, math.floor(float(sensor.timeout) / p + 1e-9) + 1)
    if k_success <= k_timeout:
        return "success", first + k_success * p
    return "timeout", first + k_timeout * p


def next_poke(sensor: SensorSpec, first: float, now: float, lands: float) -> str:
    """What a single poke at `now` finds (reschedule mode): "success", "timeout" or "reschedule"."""
    if now >= lands:
        return "success"
    if now - first > float(sensor.timeout):
        return "timeout"
    return "reschedule"
