"""`model_serving`: prediction requests served by replicas, with autoscaling and version rollouts.

Requests (items) wait in a FIFO queue for one of the ready replicas, hold it for `service_time`
and go on along the out-edges (to a sink, so end-to-end latency is measured); with
`features_from` each request first looks its features up in that feature store (the lookup
does not hold a replica).  A full node (`capacity`) drops arrivals, counted.

Autoscaling: every `evaluation_interval` the node measures utilization over the last interval
(busy replica-seconds / ready replica-seconds) and asks for ceil(ready x utilization / target)
replicas, within [min_replicas, max_replicas], unless utilization / target is within 1 +- `tolerance`
(the Kubernetes HPA's 10% by default: "the control plane skips any scaling action if the ratio is
sufficiently close to 1.0"), and adding at most 4 replicas or 100% a step, whichever is more (the
HPA's default scale-up policies).  Replicas asked for serve only after `warm_up`
(node start, image pull, model load).  A scale-down goes only to the most replicas asked for
over the last `scale_down_window` (the HPA's stabilization window, 300 s: a dip in load shorter
than that removes nothing), is immediate (a busy replica finishes its request first), and, with
a `cool_down`, waits that long after the last scaling action (a decision, or replicas becoming
ready).  The analytic view sees the starting `replicas`.

Rollouts: a `promote` signal (from a model_registry) starts a canary (`canary.share` of requests
to the new version for `canary.duration`, then 100%), a fixed A/B split (`ab_split`: the share
stays until the next promotion), a blue/green deployment (`blue_green`), or, with none, an
immediate switch; a canary or blue/green `alarm` rolls a bad version back, and each prediction
is wrong with its version's error rate (see `_serving_rollout`).  When a version reaches
100% the node records how long the stale model kept serving (from the version's `drift_at`,
when a drift monitor caused the retraining, else from `trained_at`) and sends `remediated`
along `notify` (a drift_monitor).  Each request served carries its version as `payload`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from flowsim.distributions import Distribution, LogNormal
from flowsim.engine.autoscaling import ScaleDownWindow, hpa_step
from flowsim.engine.context import SimContext
from flowsim.engine.figures import Figure
from flowsim.engine.flow import Delay, FlowLaw, Stage, per_second
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.engine.payloads import ModelVersion
from flowsim.engine.stats import max_of
from flowsim.nodes._serving_rollout import BlueGreenSpec, CanarySpec, RolloutRuntime
from flowsim.nodes.base import NodeConfig, QueueModel
from flowsim.nodes.registry import register
from flowsim.specmodel import SpecModel
from flowsim.units import Count, Duration, Number, Period


class AutoscaleSpec(SpecModel):
    """A target-tracking autoscaler (as the Kubernetes HPA on CPU)."""

    target_utilization: Number = Field(0.6, gt=0, le=1, description="utilization the autoscaler aims for")
    min_replicas: Count = Field(1, ge=1)
    max_replicas: Count = Field(10, ge=1)
    evaluation_interval: Period = Field(30.0, gt=0, description="how often utilization is measured")
    warm_up: Duration = Field(120.0, ge=0, description="from the scale-up decision until the replica serves")
    scale_down_window: Duration = Field(
        300.0, ge=0, le=3600,
        description="a scale-down goes only to the most replicas asked for over this window (the HPA's scale-down "
        "stabilization window, 300 s)",
    )  # fmt: skip
    cool_down: Duration = Field(
        0.0, ge=0,
        description="besides, no scale-down this soon after a scaling action (a cooldown as in AWS target tracking; "
        "the HPA has none)",
    )  # fmt: skip
    tolerance: Number = Field(
        0.1, ge=0, lt=1,
        description="no scaling while utilization / target is within 1 +- this (the HPA's tolerance, 0.1)",
    )  # fmt: skip
    scale_up_pods: Count = Field(4, ge=1, description="a step adds at most this many, or scale_up_percent")
    scale_up_percent: Number = Field(
        100.0, gt=0, description="a step adds at most this share of the replicas, or scale_up_pods (HPA: 4 or 100%)"
    )

    @model_validator(mode="after")
    def _bounds(self) -> AutoscaleSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas})")
        return self


@register
class ModelServingConfig(NodeConfig):
    """Replicas serving prediction requests, autoscaled, with canary or A/B version rollouts.

    Models: a FIFO queue in front of `replicas` servers; a target-utilization autoscaler whose new
    replicas serve only after a warm-up; optional feature lookups in a feature store; rollout of
    promoted versions (canary, fixed A/B split, blue/green with traffic shifting, or immediate),
    wrong predictions per version, alarm rollback, the billed green fleet, requests per version,
    and how long a stale model kept serving.

    Leaves out: per-version latency, GPU batching, load-balancer imbalance between replicas, and
    the green fleet's own queue (its replicas are billed, not added to the pool requests wait for).
    """

    summary = "prediction serving: replicas, autoscaling with warm-up, canary/A-B rollout of promoted versions"
    keeps_items = True
    kind_figures = (
        Figure("replicas_mean", "replicas", "time-weighted mean replicas running"),
        Figure("billed_units", "replicas", "replicas billed: the time-weighted mean that ran, warming ones included"),
        Figure("replicas_max", "replicas", "most replicas running at once"),
        Figure("scale_ups", "events", "autoscaler scale-ups"),
        Figure("scale_downs", "events", "autoscaler scale-downs"),
        Figure("stale_serving_max_s", "s", "longest time from drift (or training) to the new version serving", True),
        Figure("promotions", "versions", "versions promoted to full traffic"),
        Figure("requests_v", "messages", "requests served by model version N (requests_vN)", per="version"),
        Figure("rollbacks", "versions", "canaries rolled back", True),
        Figure("errors", "messages", "wrong predictions over every version"),
        Figure("error_rate", "share", "wrong predictions / requests served"),
        Figure("requests_rolled_back", "messages", "requests served by versions later rolled back"),
        Figure("errors_v", "messages", "wrong predictions of model version N (errors_vN)", per="version"),
    )  # fmt: skip
    signals_in = ("promote", "rejected")
    reference_kinds: ClassVar[dict[str, tuple[str, ...]]] = {
        "features_from": ("feature_store",),
        "notify": ("drift_monitor",),
    }

    kind: Literal["model_serving"]
    billed_unit = "replica"
    replicas: Count = Field(2, ge=1, description="ready replicas at the start (servers)")
    service_time: Distribution = Field(
        default_factory=lambda: LogNormal.model_validate({"mean": 0.05, "stdev": 0.03}),
        description="time one request holds a replica",
    )
    capacity: Count | None = Field(None, ge=1, description="most requests in the node; arrivals beyond are dropped")
    autoscale: AutoscaleSpec | None = Field(None, description="target-utilization autoscaling; none = fixed")
    canary: CanarySpec | None = Field(None, description="roll promoted versions out as a canary first")
    ab_split: Number | None = Field(None, gt=0, lt=1, description="fixed share of requests to the newest version")
    blue_green: BlueGreenSpec | None = Field(
        None, description="roll promoted versions out on a second fleet with traffic shifting and baking"
    )
    initial_version: Count = Field(0, ge=0, description="the version serving at the start")
    initial_error_rate: Number = Field(0.0, ge=0, le=1, description="share of wrong predictions of that version")
    features_from: str | None = Field(None, description="feature_store each request reads its features from")
    notify: str | None = Field(None, description="drift_monitor told (`remediated`) when a version serves 100%")

    @model_validator(mode="after")
    def _one_rollout(self) -> ModelServingConfig:
        if sum(x is not None for x in (self.canary, self.ab_split, self.blue_green)) > 1:
            raise ValueError("give at most one of 'canary', 'ab_split' and 'blue_green'")
        if self.autoscale is not None and not (
            self.autoscale.min_replicas <= self.replicas <= self.autoscale.max_replicas
        ):
            raise ValueError(f"replicas ({self.replicas}) must lie within autoscale min_replicas..max_replicas")
        return self

    def runtime_class(self) -> type[NodeRuntime]:
        return ModelServingNode

    def queue_model(self) -> QueueModel:
        """The starting replicas (an autoscaled pool's steady state depends on the load it meets)."""
        return QueueModel(self.replicas, self.service_time, self.capacity)

    def node_references(self) -> dict[str, str]:
        refs = {"features_from": self.features_from, "notify": self.notify}
        return {field: name for field, name in refs.items() if name}

    def events_per_item(self) -> float:
        return 2.0 if self.features_from else 1.0

    def cost_units(self) -> float:
        """Replicas are billed: the starting count here; a run bills its time-weighted mean replicas."""
        return float(self.replicas)

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """The starting replicas / mean service time (requests a second); the autoscaler's
        max_replicas is the stage's ceiling, reached only after warm-up (feature lookups hold no replica)."""
        scale = self.autoscale
        replicas = Stage(
            "replicas", self.replicas, per_second(self.service_time.mean()), per="item", unit_name="replicas",
            buffer=self.capacity, on_full="drop" if self.capacity is not None else "queue", scalable=True,
            ceiling=float(scale.max_replicas) if scale is not None else None,
            note=f"the autoscaler adds replicas after a {scale.warm_up:g}s warm-up" if scale is not None else "",
        )  # fmt: skip
        return FlowLaw((replicas,), Delay(self.replicas, self.service_time.mean(), self.service_time.scv()))


class ModelServingNode(RolloutRuntime):
    """Runtime of `model_serving`; see the module docstring."""

    config: ModelServingConfig

    def __init__(self, name: str, config: ModelServingConfig, ctx: SimContext) -> None:
        super().__init__(name, config, ctx, servers=config.replicas)
        self.warming = 0
        self.service_time = config.service_time.sampler(ctx.rng(name, "service"))
        self.hold_sampler = self.service_time
        self.replica_timeline: list[dict[str, float]] = [{"time_s": 0.0, "replicas": float(self.servers)}]
        self._last_scale = -math.inf
        self._window = ScaleDownWindow(config.autoscale.scale_down_window if config.autoscale else 0.0)
        self._eval_busy = self._eval_servers = 0.0

    # ---- bookkeeping ---------------------------------------------------------------------
    def reset_counters(self) -> None:
        super().reset_counters()
        self.scale_ups = self.scale_downs = 0
        self.replicas_max = self.servers + self.green
        self.area_warming, self._warming_since = 0.0, self.env.now  # replica-seconds started, not yet ready
        self._eval_busy = self._eval_servers = 0.0  # the autoscaler's last reading of the (reset) areas

    # ---- requests ------------------------------------------------------------------------
    def try_put(self, item: Item) -> bool:
        n = item.n
        if self.config.capacity is not None and self.n_inside + n > self.config.capacity:
            return self.refuse_or_drop(item, block=False)
        self.arrivals += n
        self.change_inside(n)
        item.t_in = self.env.now
        if self.tracing:
            self.log("arrive", item)
        store = self.references.get("features_from")
        if store is not None:
            store.read(item, self.enqueue)  # type: ignore[attr-defined]
        else:
            self.enqueue(item)
        return True

    # ---- autoscaling ---------------------------------------------------------------------
    def start(self) -> None:
        spec = self.config.autoscale
        if spec is not None:
            self.env.timeout(spec.evaluation_interval).callbacks.append(self._evaluate)

    def _evaluate(self, _event: object) -> None:
        spec = self.config.autoscale
        assert spec is not None
        busy, servers = self.area_busy - self._eval_busy, self.area_servers - self._eval_servers
        self._eval_busy, self._eval_servers = self.area_busy, self.area_servers
        # replicas needed at the target: the mean busy replicas over the interval / target (a queue
        # caps utilization at 1, so a scale-up asks for at most 1/target times the ready replicas)
        utilization = min(busy / servers, 1.0) if servers > 0 else 0.0
        ready = servers / spec.evaluation_interval
        desired = math.ceil(round(utilization * ready / spec.target_utilization, 9))
        ratio = utilization / spec.target_utilization
        now = self.env.now
        desired = hpa_step(self.servers + self.warming, desired, ratio, spec.tolerance, spec.scale_up_pods,
                           spec.scale_up_percent, self._window, now)  # fmt: skip
        desired = max(spec.min_replicas, min(spec.max_replicas, desired))
        if desired > self.servers + self.warming:
            self._scale_up(desired - self.servers - self.warming, spec.warm_up)
        elif desired < self.servers and not self.warming and now - self._last_scale >= spec.cool_down:
            self._set_servers(desired)
            self.scale_downs += 1
            self._last_scale = now
        self.env.timeout(spec.evaluation_interval).callbacks.append(self._evaluate)

    def _warming_by(self, count: int) -> None:
        """Replicas starting (count > 0) or ready (< 0): a warming replica runs, and is billed, already."""
        now = self.env.now
        self.area_warming += self.warming * (now - self._warming_since)
        self._warming_since = now
        self.warming += count

    def _scale_up(self, count: int, warm_up: float) -> None:
        self._warming_by(count)
        self.scale_ups += 1
        self._last_scale = self.env.now
        if self.tracing:
            self.log(f"scale up +{count} (ready in {warm_up:g}s)")
        self.env.timeout(warm_up, count).callbacks.append(self._warmed)

    def _warmed(self, event: object) -> None:
        count: int = event._value  # type: ignore[attr-defined]
        self._warming_by(-count)
        self._last_scale = self.env.now
        self._set_servers(self.servers + count)
        self.dispatch()

    def _set_servers(self, servers: int) -> None:
        if self.tracing:
            self.log(f"replicas {servers}")
        self.set_servers(servers)
        self._note_replicas()

    def green_changed(self) -> None:
        self._note_replicas()

    def _note_replicas(self) -> None:
        """Replicas running now, a blue/green rollout's green fleet included (what is billed)."""
        running = self.servers + self.green
        self.replicas_max = max(self.replicas_max, running)
        self.replica_timeline.append({"time_s": float(self.env.now), "replicas": float(running)})

    # ---- rollouts ------------------------------------------------------------------------
    def signal(self, name: str, payload: Any, sender: str) -> None:
        """`promote` (from a model_registry): roll the version in `payload` out.  `rejected`: the
        registry turned a version down; the drift monitor in `notify` hears of it (it re-arms the drift)."""
        if name == "rejected":
            self.send_signal("notify", "rejected", payload)
            return
        if name != "promote":
            super().signal(name, payload, sender)
        info = payload if isinstance(payload, ModelVersion) else ModelVersion(int(payload), self.env.now)
        self.roll_out(info)

    # ---- results -------------------------------------------------------------------------
    def series_extra(self) -> dict[str, float]:
        return {"replicas": float(self.servers + self.green), "replicas_warming": float(self.warming)}

    def extra(self) -> dict[str, Any]:
        return {"versions": list(self.versions), "replicas": list(self.replica_timeline)}

    def _warmed_area(self) -> float:
        return self.area_warming + self.warming * (self.env.now - self._warming_since)

    def figures(self, window: float) -> dict[str, float]:
        figures = super().figures(window) | self.queue_figures(window)
        span = window if window > 0 else 1.0
        figures |= {
            "replicas_mean": (self.area_servers + self.green_area()) / span,
            # the replicas that ran: green included, and warming ones (an instance is billed from its start)
            "billed_units": (self.area_servers + self._warmed_area() + self.green_area()) / span,
            "replicas_max": self.replicas_max,
            "scale_ups": self.scale_ups,
            "scale_downs": self.scale_downs,
            "stale_serving_max_s": max_of(self.stale_serving),
        }
        return figures | self.version_figures()
