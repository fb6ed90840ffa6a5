"""Retry policies and faults: the generic failure vocabulary shared by every node kind."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from flowsim.distributions import Distribution
from flowsim.specmodel import SpecModel
from flowsim.units import Count, Duration, Number


class RetryPolicy(SpecModel):
    """What a caller does after a failed attempt: wait (backoff, jitter) and try again, or give up.

    After `max_attempts` attempts in all, the item is dead-lettered (counted, and sent to the
    node's `dead_letter` node if it has one).
    """

    max_attempts: Count = Field(3, ge=1, description="attempts in all, the first included")
    backoff: Literal["fixed", "exponential"] = "exponential"
    base: Duration = Field(0.1, ge=0, description="first backoff delay")
    multiplier: Number = Field(2.0, ge=1, description="growth per attempt (exponential backoff)")
    cap: Duration | None = Field(None, gt=0, description="longest backoff delay")
    jitter: Literal["none", "full", "equal"] = Field(
        "full", description="none: exact delay; full: uniform in [0, d]; equal: d/2 + uniform [0, d/2]"
    )
    timeout: Duration | None = Field(
        None, gt=0, description="an attempt not finished this long after it entered the node fails"
    )

    @model_validator(mode="after")
    def _cap_above_base(self) -> RetryPolicy:
        if self.cap is not None and self.cap < self.base:
            raise ValueError(
                f"cap ({self.cap:g}s) is below base ({self.base:g}s): every backoff would be the cap, and the "
                "base and its growth would mean nothing; raise cap above base or lower base"
            )
        return self

    def delay(self, attempt: int, uniform: float) -> float:
        """Backoff before attempt `attempt + 1`, given a uniform(0,1) draw for the jitter."""
        d = self.base if self.backoff == "fixed" else self.base * self.multiplier ** (attempt - 1)
        if self.cap is not None:
            d = min(d, self.cap)
        if self.jitter == "full":
            return d * uniform
        if self.jitter == "equal":
            return d / 2 + d / 2 * uniform
        return d


NO_RETRY = RetryPolicy(max_attempts=1, base=0.0)


class FaultSpec(SpecModel):
    """Either a scheduled outage (`at`, `for`) or random failures (`mtbf`, `mttr`).

    With `slowdown: k` the node stays up but every attempt started during the fault takes k
    times longer: the brownout that turns timeouts and retries into a storm.
    """

    node: str
    at: Duration | None = Field(None, ge=0)
    for_: Duration | None = Field(None, alias="for", gt=0)
    every: Duration | None = Field(None, gt=0, description="repeat a scheduled outage with this period")
    mtbf: Distribution | None = None
    mttr: Distribution | None = None
    start: Duration = Field(0.0, ge=0, description="random failures begin after this time")
    slowdown: Number | None = Field(
        None, gt=1, description="instead of going down, the node works this many times slower (a brownout)"
    )
    group: str | None = Field(
        None, description="kafka_topic: the fault hits this consumer group's consumers, not the topic"
    )
    consumer: Count = Field(0, ge=0, description="with group: the first consumer it hits (0-based)")
    consumers: Count = Field(1, ge=1, description="with group: how many consumers from `consumer` on")
    broker: Count | None = Field(
        None, ge=0, description="kafka_topic with a brokers block: the fault takes this broker down, not the topic"
    )
    leave: bool = Field(
        False,
        description="with group: a clean stop (the consumer leaves the group at once) instead of a crash "
        "detected after session_timeout",
    )

    @field_validator("mtbf", "mttr")
    @classmethod
    def _positive_mean(cls, law: Distribution | None, info: ValidationInfo) -> Distribution | None:
        """A field validator, so the error points at the field's line."""
        if law is not None and not law.mean() > 0:
            if info.field_name == "mtbf":
                raise ValueError(
                    "'mtbf' averages 0s: the node would fail again the moment it recovers (down all the time); "
                    "give the mean time between failures, e.g. 6h"
                )
            raise ValueError("'mttr' averages 0s: each failure would end the moment it begins; give the mean "
                             "time to repair, e.g. 5m")  # fmt: skip
        return law

    @model_validator(mode="after")
    def _one_form(self) -> FaultSpec:
        scheduled = self.at is not None or self.for_ is not None
        random = self.mtbf is not None or self.mttr is not None
        if scheduled == random:
            raise ValueError("a fault is either scheduled ('at' and 'for') or random ('mtbf' and 'mttr')")
        if scheduled and (self.at is None or self.for_ is None):
            raise ValueError("a scheduled outage needs both 'at' and 'for'")
        if random and (self.mtbf is None or self.mttr is None):
            raise ValueError("random failures need both 'mtbf' and 'mttr'")
        if self.every is not None and self.for_ is not None and self.every <= self.for_:
            raise ValueError("'every' must be longer than 'for'")
        if self.broker is not None and self.group is not None:
            raise ValueError("a fault hits either a consumer group ('group') or a broker ('broker'), not both")
        if self.broker is not None and self.slowdown is not None:
            raise ValueError("a broker fault is an outage: 'slowdown' does not apply to a broker")
        if self.group is None and (self.consumer or self.consumers != 1 or self.leave):
            raise ValueError("'consumer', 'consumers' and 'leave' need 'group' (the consumer group they hit)")
        return self
