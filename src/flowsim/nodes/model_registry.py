"""`model_registry`: the validation gate between training and serving.

Each arriving model version (an Item whose payload is a `ModelVersion`, from `training`) is
validated for `validation_time` (versions are validated in parallel); it passes with probability
`pass_rate`, and only when its offline error rate is at most `max_error_rate` (an evaluation
gate, as a pipeline's condition step on the evaluation metric; the version's own `error_rate`
is taken as the offline measurement).  A passing version is promoted: the control signal
`promote` goes along `deploy_to` (a model_serving) with the `ModelVersion` stamped
`validated_at`.  A rejected version is counted and `rejected` goes along `deploy_to` too
(serving tells its drift monitor, which looks again).  Validations run in parallel, so an older
version (trained earlier) can pass after a newer one was promoted: by default (`promote_older: false`) it is
counted `superseded` and not sent, since promoting it would take serving back to an older model.

The registry ends the model path (no data out-edges, so the results treat it as a sink): versions
count in the message balance as completed when promoted and dropped when rejected, and its
end-to-end latency is the age of a promoted version (time since its training run ended).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from flowsim.distributions import Constant, Distribution
from flowsim.engine.context import SimContext
from flowsim.engine.figures import Figure
from flowsim.engine.flow import Delay, FlowLaw
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.engine.payloads import ModelVersion
from flowsim.engine.sampling import block_sampler
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import register
from flowsim.units import Number


@register
class ModelRegistryConfig(NodeConfig):
    """A validation gate that promotes passing model versions to a serving node.

    Models: a validation time per version (in parallel), a pass probability, promotion of a
    passing version by a `promote` control signal to the serving node named in `deploy_to`, and
    counts of promoted and rejected versions.

    Leaves out: what is validated beyond one error rate (shadow traffic), the gap between offline
    and online error (the gate reads the rate serving will see), manual approval queues, version
    storage, and rollback of a promoted version (serving's alarm does that).
    """

    summary = "validates model versions (time, pass rate) and promotes passing ones to serving"
    kind_figures = (
        Figure("promoted", "versions", "model versions that passed validation"),
        Figure("rejected", "versions", "model versions turned down", True),
        Figure("superseded", "versions", "passed after a newer version was promoted, so not promoted"),
    )  # fmt: skip
    gives_output = False
    reference_kinds: ClassVar[dict[str, tuple[str, ...]]] = {"deploy_to": ("model_serving",)}

    kind: Literal["model_registry"]
    validation_time: Distribution = Field(
        default_factory=lambda: Constant(value=600.0), description="time to validate one version"
    )
    pass_rate: Number = Field(0.9, ge=0, le=1, description="probability that a version passes validation")
    deploy_to: str | None = Field(None, description="model_serving node that receives `promote` signals")
    max_error_rate: Number | None = Field(
        None, ge=0, le=1, description="versions whose error rate exceeds this are rejected; none = no quality gate"
    )
    promote_older: bool = Field(
        False,
        description="promote a version that passes after a newer one was promoted (serving goes back to "
        "the older model); false counts it superseded",
    )

    def link_warnings(self, name: str, nodes: Mapping[str, NodeConfig]) -> list[str]:
        """A registry with no `deploy_to` counts versions promoted that nothing ever serves."""
        if self.deploy_to is not None:
            return []
        return [f"'{name}' has no 'deploy_to': the versions it promotes are counted but no model_serving ever "
                "serves them; set deploy_to: <model_serving node>"]  # fmt: skip

    def runtime_class(self) -> type[NodeRuntime]:
        return ModelRegistryNode

    def node_references(self) -> dict[str, str]:
        return {"deploy_to": self.deploy_to} if self.deploy_to else {}

    def events_per_item(self) -> float:
        return 1.0

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """Versions are validated in parallel (M/G/inf): no limit, a validation's time each; they end here."""
        law = self.validation_time
        return FlowLaw(delay=Delay(service_s=law.mean(), scv=law.scv()), passes=0.0, note="parallel validation")


class ModelRegistryNode(NodeRuntime):
    """Runtime of `model_registry`; see the module docstring."""

    config: ModelRegistryConfig
    measures_latency = True

    def __init__(self, name: str, config: ModelRegistryConfig, ctx: SimContext) -> None:
        self.validating = 0
        super().__init__(name, config, ctx)
        self.validation = config.validation_time.sampler(ctx.rng(name, "validation"))
        self._uniform = block_sampler(ctx.rng(name, "verdicts").random)
        self.timeline: list[dict[str, Any]] = []
        self.newest_trained_at = -math.inf  # the newest promoted version's training end (kept over resets)

    def reset_counters(self) -> None:
        super().reset_counters()
        self.promoted = 0
        self.rejected = 0
        self.superseded = 0

    def inside(self) -> int:
        return self.validating

    def try_put(self, item: Item) -> bool:
        self.arrivals += item.n
        self.validating += item.n
        item.t_in = self.env.now
        if self.tracing:
            self.log("validate", item)
        self.env.timeout(self.validation(), item).callbacks.append(self._validated)
        return True

    def _validated(self, event: object) -> None:
        item: Item = event._value  # type: ignore[attr-defined]
        now = self.env.now
        self.validating -= item.n
        self.sojourns.append(now - item.t_in)
        info = item.payload if isinstance(item.payload, ModelVersion) else ModelVersion(item.key, item.born)
        version = info.version
        limit = self.config.max_error_rate
        good = limit is None or info.error_rate <= limit
        if self._uniform() < self.config.pass_rate and good:
            self.completed += item.n
            if info.trained_at < self.newest_trained_at and not self.config.promote_older:
                self.superseded += 1
                self.timeline.append({"time_s": now, "version": version, "event": "superseded"})
                if self.tracing:
                    self.log("superseded", item)
                return
            self.newest_trained_at = max(self.newest_trained_at, info.trained_at)
            self.promoted += 1
            self.latencies.append(now - item.born)
            self.timeline.append({"time_s": now, "version": version, "event": "passed"})
            if self.tracing:
                self.log("pass", item)
            self.send_signal("deploy_to", "promote", info.stamped(validated_at=now))
        else:
            self.dropped += item.n
            self.rejected += 1
            self.timeline.append({"time_s": now, "version": version, "event": "rejected"})
            if self.tracing:
                self.log("reject", item)
            self.send_signal("deploy_to", "rejected", info.stamped(validated_at=now))

    def figures(self, window: float) -> dict[str, float]:
        counts = {"promoted": self.promoted, "rejected": self.rejected, "superseded": self.superseded}
        return super().figures(window) | counts

    def extra(self) -> dict[str, Any]:
        return {"validations": list(self.timeline)} if self.timeline else {}
