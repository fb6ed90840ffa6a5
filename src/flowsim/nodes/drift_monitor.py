"""`drift_monitor`: detects drift in the data passing through it and asks for retraining.

Items pass through unchanged (an inline tap, or fed by a fan-out copy).  The input data drifts
at `drift_at`, or at intervals drawn from `drift_every`; a drift is detected once `window` has
elapsed since its onset and at least `min_samples` messages have passed since it (a statistical
test needs both).  On detection the monitor sends `retrain` along `trigger` (a training node)
with a `RetrainRequest(drift_at, detected_at)`; the drift onset travels with the model version through the registry to
serving, and serving sends `remediated` back (its `notify` field names this monitor) when the
new version serves 100%: remediation time = that moment - the drift onset.

A drift that starts while an earlier one is still undetected merges into it (counted in
`drifts_merged`).  A detected drift is remediated when a version trained on data from after its
onset serves 100%: the one its `retrain` asked for, or a scheduled run that already saw the
drifted data; one never remediated by the end is counted in `unremediated`.  When that version is rejected (the
registry's `rejected`, relayed by serving) the drift is still there: the monitor looks again and
detects it once more after another `window` and `min_samples` (counted in `detections`).

Scheduled checks (`check_every`, as SageMaker Model Monitor's hourly schedule): detection is
then decided only by monitoring jobs.  The job for the interval ending at k x `check_every`
(clock-aligned) reads the samples up to that boundary and reports `check_offset` later (the
job's start buffer); it flags the drift when the window and the samples had passed by the
boundary.  Every later job finds the drift again while it persists (`violations`); the first
one asks for the retrain.  A drift raises the error rate of every version trained on data from
before its onset by `error_increase` until it is remediated (serving reads it when it counts
wrong predictions).

`predictions_during_drift` counts the stale model's predictions: those made from the onset until
the drift is remediated, except the ones the version trained for it served (serving's `canary`
signal names it when its canary or A/B share begins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from flowsim.distributions import Distribution
from flowsim.engine.context import SimContext
from flowsim.engine.figures import Figure
from flowsim.engine.flow import FlowLaw
from flowsim.engine.holding import HoldingRuntime
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.engine.payloads import ModelVersion, RetrainRequest
from flowsim.engine.stats import mean_of
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import register
from flowsim.units import TIMER, Count, Duration, Number, Period, format_duration


@register
class DriftMonitorConfig(NodeConfig):
    """A pass-through tap that detects data drift after a window and triggers retraining.

    Models: drift onsets at a fixed time or at random intervals; detection when both a time
    window and a sample count have passed since the onset; a `retrain` signal to a training node;
    time to detect and, with serving's `remediated` signal, time to remediate.

    Leaves out: the statistics of detection (no false alarms, no missed drifts, no effect size) and
    gradual drift; the loss of prediction quality is one fixed step, `error_increase`, in the error
    rate of the versions trained before the onset (read by the model_serving whose `notify` names
    this monitor), besides the count of predictions made during the drift.
    """

    summary = "pass-through drift detector: onset, detection after a window, retrain trigger, remediation"
    keeps_items = True
    kind_figures = (
        Figure("drifts", "drifts", "drift onsets in the window"),
        Figure("drifts_merged", "drifts", "onsets that came while a drift was still open"),
        Figure("detections", "drifts", "detections of drifts with onsets in the window (again after a rejected fix)"),
        Figure("unremediated", "drifts", "drifts not remediated by a promoted model when the run ended", True),
        Figure("time_to_detect_mean_s", "s", "mean time from a drift's onset to its detection", True),
        Figure("time_to_remediate_mean_s", "s", "mean time from onset to a retrained model serving", True),
        Figure("predictions_during_drift", "messages", "predictions made by the stale model after an onset", True),
        Figure("checks", "checks", "scheduled data checks run", only_with="check_every"),
        Figure("violations", "checks", "checks that found a violation", True, only_with="check_every"),
    )  # fmt: skip
    signals_in = ("remediated", "canary", "rejected")
    reference_kinds: ClassVar[dict[str, tuple[str, ...]]] = {"trigger": ("training",)}

    kind: Literal["drift_monitor"]
    drift_at: Duration | None = Field(None, ge=0, description="a drift starts at this time")
    drift_every: Annotated[Distribution | None, TIMER] = Field(None, description="time between random drift onsets")
    window: Duration = Field(900.0, ge=0, description="time after the onset before a test can flag the drift")
    min_samples: Count = Field(1000, ge=0, description="messages after the onset that the test needs")
    trigger: str | None = Field(None, description="training node that receives `retrain`")
    check_every: Period | None = Field(
        None, gt=0, description="monitoring jobs on the clock (e.g. 1h, at each multiple); none = a continuous test"
    )
    check_offset: Duration = Field(0.0, ge=0, description="a job reports this long after its interval ends")
    error_increase: Number = Field(
        0.0, ge=0, le=1, description="added to the error rate of versions trained before the drift, until remediated"
    )

    @model_validator(mode="after")
    def _one_process(self) -> DriftMonitorConfig:
        if self.drift_at is not None and self.drift_every is not None:
            raise ValueError("give at most one of 'drift_at' (one drift) and 'drift_every' (recurring drifts)")
        if self.drift_every is not None and self.drift_every.mean() <= 0:
            raise ValueError("the mean time between drifts must be above 0")
        if self.check_every is None and self.check_offset:
            raise ValueError("'check_offset' needs 'check_every' (the monitoring schedule it delays)")
        return self

    def horizon_warnings(self, name: str, horizon: float) -> list[str]:
        if self.drift_at is None or self.drift_at < horizon:
            return []
        return [f"'{name}' sees no drift in this run: drift_at ({format_duration(self.drift_at)}) is after its end "
                f"({format_duration(horizon)}); lengthen 'duration' or drift earlier"]  # fmt: skip

    def link_warnings(self, name: str, nodes: Mapping[str, NodeConfig]) -> list[str]:
        """Without `trigger` no drift is retrained; `error_increase` reaches only a model_serving
        whose `notify` names this monitor."""
        drifts = self.drift_at is not None or self.drift_every is not None
        found = []
        if drifts and self.trigger is None:
            found.append(f"'{name}' detects drifts but has no 'trigger': nothing retrains, so every drift stays "
                         "unremediated; set trigger: <training node>")  # fmt: skip
        told = [n for n, c in nodes.items() if getattr(c, "notify", None) == name]
        if drifts and self.error_increase > 0 and not told:
            found.append(f"'{name}' has error_increase {self.error_increase:g}, which a model_serving reads only "
                         f"when its 'notify' names '{name}'; none does, so the drift raises no errors")  # fmt: skip
        return found

    def runtime_class(self) -> type[NodeRuntime]:
        return DriftMonitorNode

    def node_references(self) -> dict[str, str]:
        return {"trigger": self.trigger} if self.trigger else {}

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """A tap: items pass at once, so it neither limits nor delays the flow."""
        return FlowLaw(note="a pass-through tap: no capacity limit, no delay")


class DriftMonitorNode(HoldingRuntime):
    """Runtime of `drift_monitor`; see the module docstring."""

    config: DriftMonitorConfig

    def __init__(self, name: str, config: DriftMonitorConfig, ctx: SimContext) -> None:
        super().__init__(name, config, ctx)
        every = config.drift_every
        self.gap = every.sampler(ctx.rng(name, "drift")) if every is not None else None
        self.records: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the drift not yet detected
        self.unremediated = 0  # detected drifts still waiting for their version
        self.fresh: set[int] = set()  # versions trained for a drift not yet remediated: not stale

    def reset_counters(self) -> None:
        super().reset_counters()
        self.drifts = self.drifts_merged = self.detections = 0
        self.checks = self.violations = 0
        self.during_drift = 0

    # ---- data (passes through) -----------------------------------------------------------
    def try_put(self, item: Item) -> bool:
        n = item.n
        self.admit(item)
        if (self.open is not None or self.unremediated) and item.payload not in self.fresh:
            self.during_drift += n
        if self.open is not None:
            self.open["samples"] += n
            if self.config.check_every is None:
                self._maybe_detect()
        self.pass_on(item)
        return True

    # ---- drift process -------------------------------------------------------------------
    def start(self) -> None:
        if self.config.check_every is not None:
            self.call_later(self.config.check_every, self._interval_ends)
        if self.config.drift_at is not None:
            self.env.timeout(self.config.drift_at).callbacks.append(self._onset)
        elif self.gap is not None:
            self.env.timeout(self.gap()).callbacks.append(self._onset)

    def _onset(self, _event: object) -> None:
        if self.gap is not None:
            self.env.timeout(self.gap()).callbacks.append(self._onset)
        self.drifts += 1
        if self.open is not None:
            self.drifts_merged += 1
            return
        now = float(self.env.now)
        if self.tracing:
            self.log("drift")
        self.open = {"drift_at": now, "samples": 0, "detected_at": None, "remediated_at": None, "since": now}
        self.records.append(self.open)
        self._arm()

    def _arm(self) -> None:
        """A continuous test looks again once the window has passed (scheduled jobs look anyway)."""
        if self.config.check_every is None:
            self.env.timeout(self.config.window).callbacks.append(lambda _e: self._maybe_detect())

    # ---- scheduled monitoring jobs -------------------------------------------------------
    def _interval_ends(self, _value: object) -> None:
        """A clock boundary: the job over the interval just ended reads it now, reports after the offset."""
        every = self.config.check_every
        assert every is not None
        self.call_later(every, self._interval_ends)
        drift, now = self.open, float(self.env.now)
        due = drift is not None and drift["samples"] >= self.config.min_samples
        due = due and drift is not None and now >= drift["since"] + self.config.window
        self.call_later(self.config.check_offset, self._job_reports, drift if due else None)

    def _job_reports(self, timer: Any) -> None:
        drift: dict[str, Any] | None = timer._value
        self.checks += 1
        if drift is not None and drift is self.open:
            self.violations += 1
            self._detect(drift)
        elif any(r["detected_at"] is not None and r["remediated_at"] is None for r in self.records):
            self.violations += 1  # the drift persists: this job flags it again
            if self.tracing:
                self.log("drift flagged again")

    def _maybe_detect(self) -> None:
        drift = self.open
        if drift is None or drift["samples"] < self.config.min_samples:
            return
        if self.env.now < drift["since"] + self.config.window:
            return
        self._detect(drift)

    def _detect(self, drift: dict[str, Any]) -> None:
        now = float(self.env.now)
        if drift["detected_at"] is None:  # time to detect counts from the onset to the first detection
            drift["detected_at"] = now
        self.open = None
        if drift["drift_at"] >= self.ctx.warmup:  # as `drifts`: only onsets in the measured window
            self.detections += 1
        self.unremediated += 1
        if self.tracing:
            self.log("drift detected")
        self.send_signal("trigger", "retrain", RetrainRequest(drift_at=drift["drift_at"], detected_at=now))

    def signal(self, name: str, payload: Any, sender: str) -> None:
        """From model_serving: `remediated` (the version trained for a drift serves 100%), `canary`
        (it serves a share), `rejected` (the registry turned it down: look for the drift again)."""
        if name not in self.config.signals_in:
            super().signal(name, payload, sender)
        if name in ("canary", "remediated"):
            self._served(name, payload)
            return
        record = self._waiting_for(payload)
        if record is None:
            return
        self.fresh.discard(payload.version)
        self.unremediated -= 1
        now = float(self.env.now)
        if self.open is None:  # rejected: the drift persists; a new window starts now
            record["since"], record["samples"] = now, 0
            self.open = record
            if self.tracing:
                self.log("drift persists (version rejected)")
            self._arm()
        else:  # a newer onset is already open: the two drifts merge
            self.drifts_merged += 1

    def _served(self, name: str, payload: Any) -> None:
        """A version trained on data from after a detected drift's onset serves a share (`canary`)
        or all traffic (`remediated`): that drift is remediated, whichever retrain made the version
        (the one this monitor asked for, or a scheduled run that already saw the drifted data)."""
        if not isinstance(payload, ModelVersion):
            return
        covered = [
            r for r in self.records
            if r["detected_at"] is not None and r["remediated_at"] is None and r is not self.open
            and r["drift_at"] <= payload.data_up_to
        ]  # fmt: skip
        if not covered:
            return
        if name == "canary":
            self.fresh.add(payload.version)
            return
        self.fresh.discard(payload.version)
        now = float(self.env.now)
        for record in covered:
            record["remediated_at"] = now
            self.unremediated -= 1
        if self.tracing:
            self.log("drift remediated")

    def _waiting_for(self, payload: Any) -> dict[str, Any] | None:
        """The detected, unremediated drift a version was trained for (None: not one of ours)."""
        drift_at = payload.drift_at if isinstance(payload, ModelVersion) else None
        for record in self.records:
            waiting = record["detected_at"] is not None and record["remediated_at"] is None
            if record["drift_at"] == drift_at and waiting and record is not self.open:
                return record
        return None

    def drifted_since(self, data_up_to: float) -> bool:
        """True while a drift that began after `data_up_to` is unremediated: a version trained on
        data up to then is stale, and serves with `error_increase` more errors."""
        return any(r["remediated_at"] is None and r["drift_at"] > data_up_to for r in self.records)

    # ---- results -------------------------------------------------------------------------
    def _measured(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["drift_at"] >= self.ctx.warmup]

    def figures(self, window: float) -> dict[str, float]:
        measured = self._measured()
        detect = [r["detected_at"] - r["drift_at"] for r in measured if r["detected_at"] is not None]
        remedy = [r["remediated_at"] - r["drift_at"] for r in measured if r["remediated_at"] is not None]
        return (
            super().figures(window)
            | {
                "drifts": self.drifts,
                "drifts_merged": self.drifts_merged,
                "detections": self.detections,
                "unremediated": sum(1 for r in measured if r["remediated_at"] is None),
                "time_to_detect_mean_s": mean_of(detect),
                "time_to_remediate_mean_s": mean_of(remedy),
                "predictions_during_drift": self.during_drift,
            }
            | ({"checks": self.checks, "violations": self.violations} if self.config.check_every is not None else {})
        )

    def extra(self) -> dict[str, Any]:
        keys = ("drift_at", "detected_at", "remediated_at", "samples")
        return {"drifts": [{k: r[k] for k in keys} for r in self.records]} if self.records else {}
