"""Typed results: per-node and end-to-end figures, averaged over replications with 95% CIs.

The JSON form (``RunResult.model_dump_json``) is the contract for scripts and CI; its JSON
Schema is ``RunResult.model_json_schema()``.  Every figure is the mean over replications; the
half-width of its 95% confidence interval sits beside it in ``ci95`` under the same dotted name.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from flowsim.analysis.view import AnalyticView
from flowsim.confidence import student_t_halfwidth
from flowsim.cost import CostReport
from flowsim.engine.model import SERIES_COLUMNS, ReplicationOutput
from flowsim.engine.stats import linear_percentiles

if TYPE_CHECKING:
    import pandas as pd

STATS = ("mean", "p50", "p95", "p99", "max")


class Percentiles(BaseModel):
    """Summary of a time distribution, in seconds."""

    count: float = Field(
        description="samples the summary is over: every item on the per-message engine (an item of batch n "
        "is one sample), the latency samples drawn on the fluid engine (not a message count: see 'completed')"
    )
    mean: float
    p50: float
    p95: float
    p99: float
    max: float


class NodeResult(BaseModel):
    """One node over the measured window (messages, seconds)."""

    model_config = ConfigDict(extra="forbid")

    kind: str
    arrivals: float = Field(description="messages that reached the node (first attempts)")
    completed: float = Field(description="messages that left the node on its out-edges")
    dropped: float = Field(description="messages refused because the node was full (on_full: drop)")
    lost: float = Field(0.0, description="messages deleted before anyone read them (retention, expiry)")
    created: float = Field(0.0, description="messages the node added itself (a topic's copy per further group)")
    fanout_copies: float = Field(0.0, description="extra copies sent on fan-out out-edges")
    merged: float = Field(0.0, description="completed messages handed on merged into fewer items")
    retries: float = Field(description="attempts after the first")
    failed_attempts: float = 0.0
    dead_lettered: float = Field(0.0, description="messages that ran out of attempts")
    timeouts: float = 0.0
    inside_at_start: float = Field(description="messages inside when the window opened")
    inside_at_end: float = Field(description="messages inside when the run ended")
    throughput_per_s: float
    utilization: float | None = Field(None, description="time-weighted busy servers / servers")
    mean_queue_length: float | None = Field(None, description="time-weighted mean number waiting")
    mean_in_node: float | None = None
    blocked_time_s: float = Field(0.0, description="time spent holding items that downstream refused")
    downtime_s: float = 0.0
    wait_s: Percentiles | None = Field(
        None, description="time from entering the queue to service start, per attempt (a retry waits again)"
    )
    sojourn_s: Percentiles | None = Field(
        None, description="time from arrival to leaving the node, of the messages it handed on (completed)"
    )
    kind_figures: dict[str, float] = Field(default={}, description="figures specific to the kind")
    ci95: dict[str, float] = Field(default={}, description="95% CI half-widths by figure name")


class EndToEnd(BaseModel):
    """What reached one sink: count, rate and age (time since the item was created)."""

    count: float
    throughput_per_s: float
    latency_s: Percentiles | None
    ci95: dict[str, float] = Field(default={})


class VersionTotals(BaseModel):
    """Model versions, control payloads counted apart from data: `made + inside_at_start ==
    promoted + superseded + rejected + inside_at_end` over the nodes only versions reach (a model
    registry)."""

    made: float = Field(0.0, description="versions that reached those nodes (sent on by training)")
    promoted: float = Field(0.0, description="versions that passed and were sent to serving")
    superseded: float = Field(0.0, description="versions that passed after a newer one was promoted, not sent")
    rejected: float = Field(0.0, description="versions turned down (a registry's dropped)")
    inside_at_start: float = 0.0
    inside_at_end: float = Field(0.0, description="versions still in validation at the end")
    unaccounted: float = 0.0


class Totals(BaseModel):
    """The whole run's message balance: `arrivals + copies + inside_at_start == delivered + dropped
    + dead_lettered + lost + merged + inside_at_end`, summed from the identity every node keeps.

    Data only: training's messages are `merged` into model versions, and the versions (control
    payloads) are counted in `model_versions`, never as delivered or dropped messages."""

    arrivals: float = Field(description="messages created by sources")
    copies: float = Field(0.0, description="messages nodes and fan-out edges added (each further reader's copy)")
    delivered: float = Field(description="messages that reached a sink (dead-letter sinks excluded)")
    dropped: float
    dead_lettered: float
    lost: float = Field(0.0, description="messages deleted unread (retention, expiry)")
    merged: float = Field(0.0, description="messages merged into fewer items (training data into a model)")
    retries: float
    inside_at_start: float = 0.0
    inside_at_end: float
    unaccounted: float = Field(0.0, description="what the balance leaves over (0 when every message is accounted for)")
    loss_share: float = Field(
        0.0,
        description="share of the messages in play (arrivals, copies, inside at the start) that were dropped, "
        "dead-lettered or lost: an error budget (`totals.loss_share < 0.1%`)",
    )
    unmet_demand: float = Field(
        0.0, description="messages sources would have sent while blocked (never created, so not in the balance)"
    )
    model_versions: VersionTotals = Field(
        default_factory=lambda: VersionTotals(), description="model versions, apart from data"
    )


class SloVerdict(BaseModel):
    slo: str
    metric: str
    op: str
    threshold: float
    value: float | None
    unit: str = Field("", description="the unit of value and threshold: s, messages/s, messages, share, ...")
    ci95: float | None = None
    passed: bool
    uncertain: bool = Field(False, description="the threshold lies inside the value's 95% CI")
    note: str = Field(
        "", description="why a verdict has no value ('no data') or how it was compared (a fluid count, rounded)"
    )


class KeyFigureRow(BaseModel):
    """One of the figures that matter for this result (`flowsim.key_figures`), as the CLI's and the
    app's key-figure tables show it: the scenario's lesson figures first, then the input rate,
    every loss, each kind's non-zero headline figures, the cost and the SLOs."""

    path: str = Field(description="the figure's dotted result path ('' for a derived one, e.g. the input rate)")
    label: str
    value: float | None = Field(description="the mean over replications (null: nothing was measured)")
    unit: str
    meaning: str
    why: Literal["lesson", "input", "loss", "headline", "cost", "slo"] = Field(
        description="why it is shown: the lesson names it, the input rate, a loss, a kind's headline, cost or an SLO"
    )
    ci95: float | None = Field(None, description="half-width of the 95% CI over replications")
    verdict: str = Field("", description="SLO rows: passed, failed, uncertain or no data")


#: The version of the result's JSON shape: raised when a key is renamed, removed or changes
#: meaning (new keys alone do not raise it), so readers of stored results can tell what they hold.
RESULT_SCHEMA_VERSION = 1


class RunResult(BaseModel):
    """Everything a run reports; `flowsim run --format json` prints exactly this."""

    schema_version: int = Field(
        RESULT_SCHEMA_VERSION,
        description="version of this JSON shape; raised when a key is renamed, removed or changes meaning",
    )
    flowsim_version: str
    scenario: str
    architecture: str
    seed: int
    replications: int
    duration_s: float
    warmup_s: float
    window_s: float
    load_multiplier: float
    nodes: dict[str, NodeResult]
    end_to_end: dict[str, EndToEnd]
    totals: Totals
    cost: CostReport | None = Field(None, description="what the design costs (zero when nothing is priced)")
    slos: list[SloVerdict] = Field(default=[])
    analysis: AnalyticView
    warnings: list[str] = Field(default=[])
    engine: Literal["per_message", "fluid"] = Field(
        "per_message", description="the engine that ran: per_message (discrete events) or fluid (rates, backlogs)"
    )
    fluid_step_s: float | None = Field(None, description="the fluid engine's time step (none: per_message)")
    key_figures: list[KeyFigureRow] = Field(
        default=[], description="the figures that matter for this scenario, its lesson's first, with units"
    )

    _outputs: list[ReplicationOutput] = PrivateAttr(default=[])
    _series: Any = PrivateAttr(default=None)
    _latencies: dict[str, np.ndarray] = PrivateAttr(default={})
    _extra: dict[str, list[dict[str, Any]]] = PrivateAttr(default={})

    @property
    def series(self) -> pd.DataFrame:
        """Time series, one row per (replication, time, node); throughput per sample step."""
        if self._series is None:
            self._series = series_frame(self._outputs)
        frame: pd.DataFrame = self._series
        return frame

    @property
    def latencies(self) -> dict[str, np.ndarray]:
        """End-to-end latency samples per sink, pooled over replications."""
        return self._latencies

    @property
    def events(self) -> pd.DataFrame:
        """The per-message event log of a traced run (`simulate(..., trace=True)`): one row per
        event, in the order the kernel processed them (replication, time_s, node, event, item)."""
        if any(o.events is None for o in self._outputs) or not self._outputs:
            raise ValueError("this run kept no event log: run it with simulate(..., trace=True) or `--trace FILE`")
        return event_frame(self._outputs)

    @property
    def extra(self) -> dict[str, list[dict[str, Any]]]:
        """Kind-specific non-scalar results (e.g. timelines), per node, one entry per replication."""
        return self._extra

    def replications_figures(self) -> list[dict[str, dict[str, float]]]:
        """Each replication's flat figures by node (empty for a result read back from JSON)."""
        return [out.figures for out in self._outputs]

    def passed(self) -> bool:
        return all(v.passed for v in self.slos)

    def metric(self, path: str) -> float | None:
        """The figure at a dotted path of the JSON form, e.g. 'end_to_end.done.latency_s.p99'."""
        value: Any = self.model_dump()
        parts = path.split(".")
        while parts:
            if not isinstance(value, dict):
                return None
            # kind figures may hold dots themselves (lag_max_messages.enrich): take the longest key
            for size in range(len(parts), 0, -1):
                key = ".".join(parts[:size])
                if key in value:
                    value, parts = value[key], parts[size:]
                    break
            else:
                return None
        if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
            return None  # no data: a percentile of nothing is not a number
        return float(value)

    def ci(self, path: str) -> float | None:
        """The CI half-width of the figure at `path`, when there are replications."""
        parts = path.split(".")
        if len(parts) < 3 or parts[0] not in ("nodes", "end_to_end"):
            return None
        owner = self.nodes.get(parts[1]) if parts[0] == "nodes" else self.end_to_end.get(parts[1])
        return None if owner is None else owner.ci95.get(".".join(parts[2:]).removeprefix("kind_figures."))


# ---- aggregation ---------------------------------------------------------------------------
def percentiles(samples: np.ndarray) -> dict[str, float]:
    if samples.size == 0:
        return {}
    p50, p95, p99 = linear_percentiles(samples, (50, 95, 99))
    return {
        "count": float(samples.size), "mean": float(samples.mean()),
        "p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(samples.max()),
    }  # fmt: skip


def flat_node(out: ReplicationOutput, name: str) -> dict[str, float]:
    flat = dict(out.figures[name])
    for label, samples in (("wait_s", out.waits.get(name)), ("sojourn_s", out.sojourns.get(name))):
        if samples is not None:
            flat |= {f"{label}.{k}": v for k, v in percentiles(samples).items()}
    return flat


def flat_sink(out: ReplicationOutput, name: str, window: float) -> dict[str, float]:
    """Counts are messages (an item of batch n counts n); latency percentiles are per item."""
    samples = out.latencies[name]
    messages = out.figures[name]["completed"]
    flat = {"count": float(messages), "throughput_per_s": messages / window}
    return flat | {f"latency_s.{k}": v for k, v in percentiles(samples).items()}


def mean_and_ci(rows: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Mean of each figure over replications, and its 95% half-width (only with 2+ values)."""
    keys = sorted({k for row in rows for k in row})
    means: dict[str, float] = {}
    halfwidths: dict[str, float] = {}
    for key in keys:
        values = [row[key] for row in rows if key in row and not math.isnan(row[key])]
        if not values:
            means[key] = math.nan  # measured in no replication: reported as no data (null)
            continue
        means[key] = float(np.mean(values))
        if len(values) > 1:
            halfwidths[key] = float(student_t_halfwidth(values))
    return means, halfwidths


def _nest(flat: dict[str, float], groups: tuple[str, ...]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        head, _, tail = key.partition(".")
        if tail and head in groups:
            nested.setdefault(head, {})[tail] = value
        else:
            nested[key] = value
    for group in groups:
        if group in nested and "count" not in nested[group]:
            nested[group] = None
    return nested


STANDARD = set(NodeResult.model_fields) - {"kind", "kind_figures", "ci95"}


def node_result(kind: str, rows: list[dict[str, float]]) -> NodeResult:
    means, ci = mean_and_ci(rows)
    nested = _nest(means, ("wait_s", "sojourn_s"))
    standard = {k: v for k, v in nested.items() if k in STANDARD}
    kind_figures = {k: v for k, v in nested.items() if k not in STANDARD}
    return NodeResult(kind=kind, kind_figures=kind_figures, ci95=ci, **standard)


def sink_result(rows: list[dict[str, float]]) -> EndToEnd:
    means, ci = mean_and_ci(rows)
    nested = _nest(means, ("latency_s",))
    return EndToEnd(ci95=ci, latency_s=nested.get("latency_s"), count=nested["count"],
                    throughput_per_s=nested["throughput_per_s"])  # fmt: skip


EVENT_COLUMNS = ("replication", "time_s", "node", "event", "item")


def event_frame(outputs: list[ReplicationOutput]) -> pd.DataFrame:
    """The traced events of every replication in long form (`EVENT_COLUMNS`); `item` is the
    item's key at its source (-1 for node events such as an outage)."""
    import pandas as pd

    rows = [(o.replication, *event) for o in outputs for event in o.events or ()]
    frame = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
    return frame.astype({"replication": "int64", "time_s": "float64", "item": "int64"})


def series_frame(outputs: list[ReplicationOutput]) -> pd.DataFrame:
    """Long-form time series: replication, time_s, node, the sampled columns, throughput."""
    import pandas as pd  # imported here: pandas costs ~0.3 s at start-up

    frames = []
    for out in outputs:
        for node, rows in out.series.items():
            if rows.size == 0:
                continue
            frame = pd.DataFrame(rows, columns=list(SERIES_COLUMNS))
            frame.insert(0, "node", node)
            frame.insert(0, "time_s", out.times[: len(frame)])
            frame.insert(0, "replication", out.replication)
            step = np.diff(frame["time_s"].to_numpy(), prepend=np.nan)
            frame["throughput_per_s"] = np.diff(frame["completed"].to_numpy(), prepend=np.nan) / step
            extra = out.series_extra.get(node)
            if extra:
                frame = frame.join(pd.DataFrame(extra[: len(frame)]))
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
