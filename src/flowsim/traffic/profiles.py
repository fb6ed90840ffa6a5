"""Load profiles: factors that multiply a source's rate over time (a day, steps, a ramp, a spike).

A profile is a list; each entry names one shape, and the factors multiply each other:

    profile:
      - diurnal: {low: 0.3, peak_at: 14h}          # a 24 h cosine between 0.3x and 1x, highest at 14:00
      - spike: {at: 20h, for: 15m, factor: 3}      # 3x from 20:00 for 15 minutes
      - steps: [{at: 0s, factor: 1}, {at: 6h, factor: 2}]

Times are simulation times (0 is the start of the run, read as midnight).
"""

from __future__ import annotations

import difflib
import itertools
from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from flowsim.specmodel import SpecModel
from flowsim.traffic.shapes import Cosine, Linear, Piecewise, Shape
from flowsim.units import Duration, Number

HOUR = 3600.0
MIN_PERIOD = 1.0  # a cycle shorter than a second is a service-time distribution, not a profile


class Diurnal(SpecModel):
    """A daily (or weekly, with `period`) cycle: a cosine from `low` to 1, or one factor per hour.

    `hourly` factors are piecewise constant: hour h's factor holds from h:00 to h+1:00.
    """

    low: Number | None = Field(None, ge=0, le=1, description="the factor at the trough (the peak is 1)")
    peak_at: Duration | None = Field(None, ge=0, description="time of day of the peak, e.g. 14h")
    hourly: list[Number] | None = Field(None, description="one factor per hour of the period (24 for a day)")
    period: Duration = Field(
        86400.0, gt=0, description="length of the cycle: 24h, or 7d for a weekly shape (a second at least)"
    )

    @field_validator("period")
    @classmethod
    def _a_second_at_least(cls, period: float) -> float:
        if period < MIN_PERIOD:
            raise ValueError(
                f"a cycle of {period:g}s is too short for a traffic profile (a second at least); for "
                "load that changes faster, use the source's interarrival distribution or an mmpp"
            )
        return period

    @model_validator(mode="after")
    def _one_form(self) -> Diurnal:
        cosine = self.low is not None or self.peak_at is not None
        if cosine == (self.hourly is not None):
            raise ValueError("give either 'low' and 'peak_at' (a cosine) or 'hourly' (one factor per hour)")
        if cosine and (self.low is None or self.peak_at is None):
            raise ValueError("a cosine needs both 'low' (e.g. 0.3) and 'peak_at' (e.g. 14h)")
        if self.peak_at is not None and self.peak_at >= self.period:
            raise ValueError(f"'peak_at' ({self.peak_at:g} s) must fall within the period ({self.period:g} s)")
        if self.hourly is not None:
            hours = self.period / HOUR
            if abs(hours - round(hours)) > 1e-9 or len(self.hourly) != round(hours):
                raise ValueError(f"'hourly' needs one factor per hour of the period: {hours:g}, got {len(self.hourly)}")
            if any(f < 0 for f in self.hourly):
                raise ValueError("'hourly' factors cannot be negative")
        return self

    def shape(self) -> Shape:
        if self.hourly is not None:
            times = np.arange(len(self.hourly)) * HOUR
            return Piecewise(times, np.asarray(self.hourly, dtype=float), cycle=self.period)
        assert self.low is not None and self.peak_at is not None
        return Cosine(self.low, self.peak_at, self.period)


class Step(SpecModel):
    """From `at` on, the factor is `factor` (until the next step)."""

    at: Duration = Field(ge=0)
    factor: Number = Field(ge=0)


def _steps_shape(steps: list[Step]) -> Shape:
    """Factor 1 before the first step."""
    return Piecewise(np.array([s.at for s in steps]), np.array([s.factor for s in steps]))


class Ramp(SpecModel):
    """`from` until `at`, a straight line to `to` at `until`, then `to`."""

    from_: Number = Field(alias="from", ge=0, description="the factor before `at`")
    to: Number = Field(ge=0, description="the factor from `until` on")
    at: Duration = Field(ge=0, description="the ramp begins")
    until: Duration = Field(description="the ramp ends")

    @model_validator(mode="after")
    def _ordered(self) -> Ramp:
        if self.until <= self.at:
            raise ValueError(f"'until' ({self.until:g} s) must come after 'at' ({self.at:g} s)")
        return self

    def shape(self) -> Shape:
        return Linear(self.at, self.until, self.from_, self.to)


class Spike(SpecModel):
    """`factor` for `for` from `at`, 1 otherwise (a factor below 1 is a dip)."""

    at: Duration = Field(ge=0)
    for_: Duration = Field(alias="for", gt=0, description="how long the spike lasts")
    factor: Number = Field(ge=0)

    def shape(self) -> Shape:
        return Piecewise(np.array([self.at, self.at + self.for_]), np.array([self.factor, 1.0]))


SHAPES = ("diurnal", "steps", "ramp", "spike")


class ProfileFactor(SpecModel):
    """One entry of a profile: exactly one of `diurnal`, `steps`, `ramp` or `spike`."""

    diurnal: Diurnal | None = None
    steps: list[Step] | None = Field(None, min_length=1, description="times and factors; 1 before the first")
    ramp: Ramp | None = None
    spike: Spike | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_key(cls, data: Any) -> Any:
        if isinstance(data, dict):
            named = [k for k in data if k in SHAPES]
            if len(named) != 1 or len(data) != 1:
                found = ", ".join(map(str, data)) or "nothing"
                guesses = [g for k in data if k not in SHAPES for g in difflib.get_close_matches(str(k), SHAPES, 1)]
                guess = f" (did you mean '{guesses[0]}'?)" if guesses else ""
                raise ValueError(
                    f"each profile entry names exactly one shape of {', '.join(SHAPES)}; found {found}{guess}"
                )
        return data

    @model_validator(mode="after")
    def _increasing(self) -> ProfileFactor:
        times = [s.at for s in self.steps or []]
        for before, after in itertools.pairwise(times):
            if after <= before:
                raise ValueError(f"step times must increase: {after:g} s follows {before:g} s")
        return self

    def shape(self) -> Shape:
        if self.diurnal is not None:
            return self.diurnal.shape()
        if self.steps is not None:
            return _steps_shape(self.steps)
        if self.ramp is not None:
            return self.ramp.shape()
        assert self.spike is not None
        return self.spike.shape()
