"""Rollouts of `model_serving`: canary, A/B split and blue/green with traffic shifting, model
quality (wrong predictions per version) and the metric alarm that rolls a bad version back.

Blue/green follows SageMaker's deployment guardrails: a green fleet as large as the blue one is
provisioned, traffic shifts to it all at once, as a canary then the rest, or in linear steps;
each step is followed by a baking period (`wait_interval`) during which the alarm watches; after
the last step's baking and `termination_wait` the blue fleet is terminated.  An alarm at any
point shifts all traffic back to blue and terminates green.  The green fleet is billed from
provisioning to the end of the rollout; it is not added to the request queue's replicas (each
fleet serves only its share, so one pool of both would understate the wait).

The alarm is a CloudWatch alarm on the new version's error rate: every `period` from the start
of the rollout, a datapoint breaches when the period had at least `min_requests` predictions of
the new version and more than `threshold` of them were wrong; the alarm fires when
`datapoints_to_alarm` of the last `evaluation_periods` datapoints breach.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Literal, Protocol

from pydantic import Field, model_validator

from flowsim.engine.context import SimContext
from flowsim.engine.item import Item
from flowsim.engine.payloads import ModelVersion
from flowsim.engine.pool import ServerPool
from flowsim.engine.sampling import block_sampler
from flowsim.engine.stats import NO_DATA
from flowsim.specmodel import SpecModel
from flowsim.units import Count, Duration, Number, Period, format_duration


class AlarmSpec(SpecModel):
    """A metric alarm on the new version's error rate (CloudWatch: period, M of N datapoints)."""

    threshold: Number = Field(gt=0, lt=1, description="error rate above which a period's datapoint breaches")
    period: Period = Field(60.0, gt=0, description="length of one datapoint, from the start of the rollout")
    evaluation_periods: Count = Field(1, ge=1, description="N: datapoints the alarm looks back on")
    datapoints_to_alarm: Count | None = Field(None, ge=1, description="M of the N that must breach; none = N")
    min_requests: Count = Field(1, ge=1, description="fewer predictions in a period: no datapoint (not breaching)")

    @model_validator(mode="after")
    def _m_of_n(self) -> AlarmSpec:
        if (self.datapoints_to_alarm or 0) > self.evaluation_periods:
            m, n = self.datapoints_to_alarm, self.evaluation_periods
            raise ValueError(f"datapoints_to_alarm ({m}) exceeds evaluation_periods ({n})")
        return self


def _alarm_can_fire(alarm: AlarmSpec | None, watched: float, what: str, longer: str) -> None:
    """The alarm fires once M datapoints have closed, the first at `period` from the rollout's start,
    so a rollout that is watched for less than M x period can never be rolled back."""
    if alarm is None:
        return
    needs = alarm.datapoints_to_alarm or alarm.evaluation_periods
    if needs * alarm.period > watched * (1 + 1e-9):
        raise ValueError(
            f"the alarm can never fire: it needs {needs} datapoint(s) of {format_duration(alarm.period)} "
            f"({format_duration(needs * alarm.period)}) and {what} lasts {format_duration(watched)}; shorten the "
            f"alarm's 'period', lower 'datapoints_to_alarm', or lengthen {longer}"
        )


class CanarySpec(SpecModel):
    """A canary rollout on the same replicas: a share of requests to the new version, then all of them."""

    share: Number = Field(0.1, gt=0, lt=1, description="share of requests the new version serves meanwhile")
    duration: Duration = Field(1800.0, ge=0, description="how long the canary lasts before full promotion")
    alarm: AlarmSpec | None = Field(None, description="roll the new version back when this alarm fires")

    @model_validator(mode="after")
    def _alarm_within(self) -> CanarySpec:
        _alarm_can_fire(self.alarm, self.duration, "the canary", "'duration'")
        return self


class BlueGreenSpec(SpecModel):
    """A blue/green deployment: a second fleet, traffic shifted to it in steps, baked, then blue terminated."""

    traffic: Literal["all_at_once", "canary", "linear"] = Field("all_at_once", description="traffic shifting mode")
    canary_size: Number = Field(0.1, gt=0, le=0.5, description="share of the first step (canary mode)")
    linear_step: Number = Field(0.1, gt=0, le=0.5, description="share added at each step (linear mode)")
    wait_interval: Duration = Field(600.0, ge=0, description="baking period after each traffic step")
    termination_wait: Duration = Field(0.0, ge=0, description="after the last baking, before blue is terminated")
    alarm: AlarmSpec | None = Field(None, description="roll back to blue when this alarm fires")

    @model_validator(mode="after")
    def _alarm_within(self) -> BlueGreenSpec:
        watched = len(self.steps()) * self.wait_interval + self.termination_wait
        _alarm_can_fire(
            self.alarm, watched, "the rollout (steps x wait_interval + termination_wait)", "'wait_interval'"
        )
        return self

    def steps(self) -> list[float]:
        """The green fleet's share after each step (the last is 1)."""
        if self.traffic == "all_at_once":
            return [1.0]
        if self.traffic == "canary":
            return [self.canary_size, 1.0]
        count = math.ceil(round(1 / self.linear_step, 9))
        return [min(1.0, round(self.linear_step * k, 9)) for k in range(1, count + 1)]


class _RolloutFields(Protocol):
    canary: CanarySpec | None
    ab_split: float | None
    blue_green: BlueGreenSpec | None
    initial_version: int
    initial_error_rate: float


class Alarm:
    """The datapoints of one rollout's alarm."""

    def __init__(self, spec: AlarmSpec, started: float = 0.0) -> None:
        self.spec = spec
        self.requests = self.errors = 0
        self.breaches: deque[bool] = deque(maxlen=spec.evaluation_periods)
        self.started = self.closed_at = started

    def closes_at(self, now: float) -> bool:
        """A period ends now and its datapoint is not closed yet (a canary ending on a period's end)."""
        periods = (now - self.started) / self.spec.period
        return now > self.closed_at and abs(periods - round(periods)) < 1e-9

    def period_ends(self, now: float | None = None) -> bool:
        """Close the period's datapoint; True when the alarm fires."""
        if now is not None:
            self.closed_at = now
        spec = self.spec
        enough = self.requests >= spec.min_requests
        self.breaches.append(enough and self.errors > spec.threshold * self.requests)
        self.requests = self.errors = 0
        return sum(self.breaches) >= (spec.datapoints_to_alarm or spec.evaluation_periods)


class RolloutRuntime(ServerPool):
    """The version side of a serving node: which version serves a request, whether its prediction
    is wrong, and the rollout of promoted versions with alarm and rollback."""

    config: Any

    def __init__(self, name: str, config: _RolloutFields, ctx: SimContext, servers: int) -> None:
        super().__init__(name, config, ctx, servers)
        self._uniform = block_sampler(ctx.rng(name, "versions").random)
        self._wrong = block_sampler(ctx.rng(name, "errors").random)
        self._wrong_counts = ctx.rng(name, "error counts")  # items of many requests: one binomial draw
        self.current = config.initial_version
        self.candidate: int | None = None
        self.share = 0.0
        self.info: dict[int, ModelVersion] = {
            self.current: ModelVersion(self.current, 0.0, error_rate=config.initial_error_rate)
        }
        self.versions: list[dict[str, Any]] = [
            {"time_s": 0.0, "version": self.current, "event": "serving", "share": 1.0}
        ]
        self.green = 0  # replicas of a blue/green rollout's green fleet (billed, not in the queue)
        self._green_area = 0.0
        self._t_green = 0.0
        self._rollout = 0  # the id of the rollout in progress (timers of an earlier one are stale)
        self.alarm: Alarm | None = None
        self.rolled_back: set[int] = set()

    def reset_counters(self) -> None:
        super().reset_counters()
        self.per_version: dict[int, int] = {}
        self.errors_by_version: dict[int, int] = {}
        self.stale_serving: list[float] = []
        self.promotions = self.rollbacks = 0
        self._green_area, self._t_green = 0.0, self.env.now

    # ---- requests ------------------------------------------------------------------------
    def error_rate(self, version: int) -> float:
        """The version's error rate now: its own, plus a drift's increase when it predates the drift."""
        info = self.info.get(version)
        rate = info.error_rate if info is not None else 0.0
        monitor: Any = self.references.get("notify")  # a drift_monitor (checked when the model loads)
        increase = monitor.config.error_increase if monitor is not None else 0.0
        if increase and monitor.drifted_since(info.data_up_to if info is not None else 0.0):
            rate += increase
        return min(rate, 1.0)

    def on_start(self, item: Item) -> None:
        """Each request is served by the current version, or the candidate for its share; its
        prediction is wrong with the version's error rate (drawn only when that is strictly between 0 and 1)."""
        version = self.current
        if self.candidate is not None and self._uniform() < self.share:
            version = self.candidate
        item.payload = version
        n = item.n
        self.per_version[version] = self.per_version.get(version, 0) + n
        rate = self.error_rate(version)
        if rate <= 0 or rate >= 1:
            wrong = n if rate >= 1 else 0
        else:
            wrong = int(self._wrong() < rate) if n == 1 else int(self._wrong_counts.binomial(n, rate))
        if wrong:
            self.errors_by_version[version] = self.errors_by_version.get(version, 0) + wrong
        if self.alarm is not None and version == self.candidate:
            self.alarm.requests += n
            self.alarm.errors += wrong
        if self.tracing:
            self.log(f"start v{version}" + (" wrong" if wrong else ""), item)

    # ---- rollouts ------------------------------------------------------------------------
    def roll_out(self, info: ModelVersion) -> None:
        """Roll a promoted version out as the config says."""
        version = info.version
        self.info[version] = info
        self._rollout += 1
        config = self.config
        if config.blue_green is not None:
            self._provision_green(self.servers)
            self.candidate = version
            self._step(self._rollout, info, config.blue_green.steps())
            self._begin(info, config.blue_green.alarm)
            return
        if config.canary is None and config.ab_split is None:
            self._set_green(0)
            self.alarm = None
            self._promote(version, info)
            return
        share = config.canary.share if config.canary is not None else float(config.ab_split)
        self.candidate = version
        self._shift(version, "canary", share)
        self._begin(info, config.canary.alarm if config.canary is not None else None)
        if config.canary is not None:
            self.call_later(config.canary.duration, self._canary_over, (self._rollout, info))

    def _begin(self, info: ModelVersion, alarm: AlarmSpec | None) -> None:
        self.send_signal("notify", "canary", info)  # its predictions are no longer the stale model's
        self.alarm = Alarm(alarm, self.env.now) if alarm is not None else None
        if alarm is not None:
            self.call_later(alarm.period, self._alarm_period, self._rollout)

    def _shift(self, version: int, event: str, share: float) -> None:
        self.share = share
        self._timeline(version, event, share)

    def _canary_over(self, timer: Any) -> None:
        rollout, info = timer._value
        if rollout == self._rollout and self.candidate == info.version:  # not rolled back or replaced
            alarm = self.alarm
            if alarm is not None and alarm.closes_at(self.env.now) and alarm.period_ends(self.env.now):
                self._roll_back(info.version)  # the datapoint closing as the canary ends counts, as in blue/green
                return
            self.alarm = None
            self._promote(info.version, info)

    def _step(self, rollout: int, info: ModelVersion, shares: list[float]) -> None:
        """Shift to the next share and bake; after the last, wait and terminate blue."""
        if rollout != self._rollout or self.candidate != info.version:
            return
        spec = self.config.blue_green
        if not shares:
            self.call_later(spec.termination_wait, self._blue_terminated, (rollout, info))
            return
        self._shift(info.version, "shift", shares[0])
        self.call_later(spec.wait_interval, lambda _v: self._step(rollout, info, shares[1:]))

    def _blue_terminated(self, timer: Any) -> None:
        rollout, info = timer._value
        if rollout == self._rollout and self.candidate == info.version:
            self.alarm = None
            self._promote(info.version, info)
            self._set_green(0)  # green is the fleet now: its replicas are the ones counted in the pool

    def _alarm_period(self, timer: Any) -> None:
        rollout: int = timer._value
        alarm = self.alarm
        if rollout != self._rollout or alarm is None or self.candidate is None:
            return
        if alarm.closed_at == self.env.now:  # the canary's end closed this period already
            return
        if alarm.period_ends(self.env.now):
            self._roll_back(self.candidate)
            return
        self.call_later(alarm.spec.period, self._alarm_period, rollout)

    def _roll_back(self, version: int) -> None:
        """The alarm fired: all traffic back to the current version, the new one out (and the drift
        monitor told, as for a rejected version: the drift persists)."""
        self.rollbacks += 1
        self.rolled_back.add(version)
        self.candidate, self.share, self.alarm = None, 0.0, None
        self._set_green(0)
        self._timeline(version, "rolled back", 0.0)
        self.send_signal("notify", "rejected", self.info[version])

    def _promote(self, version: int, info: ModelVersion) -> None:
        now = self.env.now
        self.current, self.candidate, self.share = version, None, 0.0
        self.promotions += 1
        self._timeline(version, "promoted", 1.0)
        since = info.drift_at if info.drift_at is not None else info.trained_at
        self.stale_serving.append(now - since)
        self.send_signal("notify", "remediated", info.stamped(serving_at=now))

    def _timeline(self, version: int, event: str, share: float) -> None:
        if self.tracing:
            self.log(f"{event} v{version} share {share:g}")
        self.versions.append({"time_s": float(self.env.now), "version": version, "event": event, "share": share})

    # ---- the green fleet -----------------------------------------------------------------
    def _provision_green(self, replicas: int) -> None:
        if not self.green:
            self._set_green(replicas)

    def _set_green(self, replicas: int) -> None:
        now = self.env.now
        self._green_area += self.green * (now - self._t_green)
        self._t_green = now
        if replicas != self.green:
            self.green = replicas
            self.green_changed()

    def green_changed(self) -> None:
        """Hook: the green fleet was provisioned or terminated (the replica timeline notes it)."""

    def green_area(self) -> float:
        """Green replica-seconds in the window so far."""
        return self._green_area + self.green * (self.env.now - self._t_green)

    def version_figures(self) -> dict[str, float]:
        requests = sum(self.per_version.values())
        errors = sum(self.errors_by_version.values())
        figures = {
            "promotions": self.promotions,
            "rollbacks": self.rollbacks,
            "errors": errors,
            "error_rate": errors / requests if requests else NO_DATA,
            "requests_rolled_back": sum(n for v, n in self.per_version.items() if v in self.rolled_back),
        }
        figures |= {f"requests_v{v}": float(count) for v, count in sorted(self.per_version.items())}
        figures |= {f"errors_v{v}": float(self.errors_by_version.get(v, 0)) for v in sorted(self.per_version)}
        return figures
