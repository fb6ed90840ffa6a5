"""The scenario file: what to run against an architecture, for how long, and what must hold."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from flowsim.policies import FaultSpec, RetryPolicy
from flowsim.spec.architecture import Architecture
from flowsim.specmodel import AlsoAccepts, SpecModel
from flowsim.units import Count, Duration, Number, parse_duration, parse_rate

if TYPE_CHECKING:  # not exported by pydantic 2.6, the floor in pyproject.toml
    from pydantic import ModelWrapValidatorHandler

_SLO = re.compile(r"^\s*(?P<metric>[A-Za-z0-9_.\-]+)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>\S.*?)\s*$")
MAX_SAMPLES = 100_000
MAX_FLUID_STEPS = 1_000_000  # ~40 s of the fluid engine on the baseline architecture (36 us a step)


ThresholdUnit = Literal["number", "share", "duration", "rate"]


def read_threshold(text: str) -> tuple[float, ThresholdUnit]:
    """An SLO's threshold as written: '0.5' (a number), '5%' (a share), '2s' (a duration) or '10/s'."""
    text = text.strip()
    try:
        return float(text.rstrip("%")) / (100 if text.endswith("%") else 1), "share" if text.endswith("%") else "number"
    except ValueError:
        pass
    if "/" in text or " per " in text:
        return parse_rate(text), "rate"
    try:
        return parse_duration(text), "duration"
    except ValueError:
        raise ValueError(
            f"cannot read the threshold {text!r}; write a number (0.5), a share (5%), a duration (2s, 500ms) "
            "or a rate (10/s)"
        ) from None


def _slo_shorthand(value: Any) -> Any:
    """`"end_to_end.done.latency_s.p99 < 2s"` is short for {metric, op, value}."""
    if isinstance(value, str):
        match = _SLO.match(value)
        if match is None:
            raise ValueError(
                f"cannot read SLO {value!r}; write '<metric> <op> <value>', "
                "e.g. 'end_to_end.done.latency_s.p99 < 2s' or 'totals.dropped == 0'"
            )
        if match["value"][0] in "<>=!":
            raise ValueError(
                f"cannot read the comparison in SLO {value!r}; use one of <, <=, >, >=, ==, != "
                "(e.g. 'end_to_end.done.latency_s.p99 < 2s')"
            )
        return {"metric": match["metric"], "op": match["op"], "value": match["value"], "name": value.strip()}
    return value


class SloSpec(SpecModel):
    """A service-level objective: a result figure compared with a threshold."""

    metric: str = Field(description="a path into the JSON result, e.g. end_to_end.done.latency_s.p99")
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    value: Annotated[
        Number,
        AlsoAccepts({"type": "string", "description": "a number, a share (5%), a duration (2s) or a rate (10/s)"}),
    ]
    name: str = ""

    #: how the threshold was written: a plain number, a share (5%), a duration (2s) or a rate (10/s);
    #: checked against the metric's own unit when the scenario loads (`utilization < 0.5s` is a typo)
    _unit: ThresholdUnit = PrivateAttr("number")

    @model_validator(mode="wrap")
    @classmethod
    def _value_units(cls, data: Any, handler: ModelWrapValidatorHandler[SloSpec]) -> SloSpec:
        unit: ThresholdUnit = "number"
        if isinstance(data, dict) and isinstance(data.get("value"), str):
            value, unit = read_threshold(data["value"])
            data = {**data, "value": value}
        slo = handler(data)
        slo._unit = unit
        return slo

    @property
    def unit(self) -> ThresholdUnit:
        return self._unit

    def label(self) -> str:
        return self.name or f"{self.metric} {self.op} {self.value:g}"


Slo = Annotated[SloSpec, BeforeValidator(_slo_shorthand), AlsoAccepts({"type": "string", "pattern": _SLO.pattern})]


class LoadSpec(SpecModel):
    """Scales every source's arrival rate (3 = three times the designed peak)."""

    multiplier: Number = Field(1.0, gt=0)


class Limits(SpecModel):
    """Guards against runs that would not finish; raise them deliberately."""

    max_events: Count = Field(50_000_000, ge=1, description="refuse runs estimated above this many events")
    max_points: Count = Field(1_000, ge=1, description="refuse sweeps with more grid points than this")


class Lesson(SpecModel):
    """What a teaching scenario is about: one sentence and the figures that show it, put first."""

    text: str = Field(min_length=1, description="the lesson in one sentence, shown above its figures")
    figures: list[str] = Field(
        default=[],
        description="result paths the lesson is about, e.g. nodes.events_topic.kind_figures.lost_to_retention",
    )


class Scenario(SpecModel):
    """One experiment: an architecture, a horizon, load, faults, policies and SLOs."""

    name: str = Field(min_length=1)
    description: str = ""
    architecture: str | Architecture = Field(
        description="path relative to this file, or the architecture written inline"
    )
    duration: Duration = Field(gt=0, description="simulated time, warm-up included")
    warmup: Duration = Field(0.0, ge=0, description="figures cover only the time after warm-up")
    seed: Count = Field(0, ge=0)
    replications: Count = Field(1, ge=1, le=10_000)
    load: LoadSpec = Field(default_factory=lambda: LoadSpec())
    faults: list[FaultSpec] = Field(default=[])
    retry_policies: dict[str, RetryPolicy] = Field(default={})
    overrides: dict[str, Any] = Field(
        default={}, description="dotted paths set before validation, e.g. nodes.api.servers: 4"
    )
    slos: list[Slo] = Field(default=[])
    lesson: Lesson | None = Field(None, description="the sentence and figures the scenario teaches, shown first")
    sample_interval: Duration | None = Field(None, gt=0, description="time-series step; default window/200")
    limits: Limits = Field(default_factory=lambda: Limits())
    engine: Literal["auto", "per_message", "fluid"] = Field(
        "auto",
        description="per_message: every message is an event; fluid: rates and backlogs in time steps "
        "(see docs/fluid.md); auto: per_message when the run fits limits.max_events, else fluid",
    )
    step: Duration | None = Field(
        None, gt=0, description="fluid engine: time step; default from the architecture's shortest time constant"
    )

    @field_validator("warmup")
    @classmethod
    def _warmup_inside(cls, warmup: float, info: ValidationInfo) -> float:
        """A field validator, so the error points at `warmup:`, not at the top of the file."""
        duration = info.data.get("duration")
        if duration is not None and warmup >= duration:
            raise ValueError(f"warmup ({warmup:g}s) must be shorter than duration ({duration:g}s)")
        return warmup

    @field_validator("sample_interval", "step")
    @classmethod
    def _bounded_count(cls, value: float | None, info: ValidationInfo) -> float | None:
        """A step so short the run would hold millions of samples or steps is refused at its own line."""
        duration, warmup = info.data.get("duration"), info.data.get("warmup")
        if value is None or duration is None or warmup is None:
            return value
        window = duration - warmup
        if value > window:
            what = (
                "the time series would hold one sample"
                if info.field_name == "sample_interval"
                else "the fluid engine would take the window in one step"
            )
            raise ValueError(
                f"{info.field_name} {value:g}s is longer than the measured window ({window:g}s): {what}; "
                f"use at most {window:g}s, or leave {info.field_name} out"
            )  # fmt: skip
        if info.field_name == "sample_interval" and window / value > MAX_SAMPLES:
            raise ValueError(
                f"sample_interval {value:g}s gives over {MAX_SAMPLES:,} time-series samples over the "
                f"{window:g}s window; use at least {window / MAX_SAMPLES:.3g}s"
            )
        if info.field_name == "step" and info.data.get("engine") == "per_message":
            raise ValueError(
                "step is the fluid engine's time step, and this scenario says engine: per_message, which "
                "has no step; remove step, or write engine: fluid (or auto)"
            )
        if info.field_name == "step" and window / value > MAX_FLUID_STEPS:
            raise ValueError(
                f"step {value:g}s gives over {MAX_FLUID_STEPS:,} fluid-engine steps over the {window:g}s "
                f"window; use at least {window / MAX_FLUID_STEPS:.3g}s, or leave step out (the default "
                "follows the architecture's shortest time constant)"
            )
        return value

    @property
    def arch(self) -> Architecture:
        """The architecture, once the loader has resolved a path to it."""
        if not isinstance(self.architecture, Architecture):
            raise TypeError("scenario architecture is still a path; load it with flowsim.load_scenario")
        return self.architecture

    @property
    def window(self) -> float:
        return self.duration - self.warmup
