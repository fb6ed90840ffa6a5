"""`stream_processor`: a streaming job with checkpoints (Flink, Spark Structured Streaming, Kafka Streams).

Counting (messages): `completed` counts every message emitted, duplicates included.  A crash
rolls back to the last checkpoint: at-least-once puts the messages emitted since then back in
(counted `reprocessed`; emitting them again counts `duplicates`), so
`arrivals + inside_at_start + reprocessed == completed + inside_at_end` (give or take the copies
re-emitted before the window opened); exactly-once holds its output until a checkpoint commits
it (per_event, as Flink's two-phase-commit sinks do) or when its micro-batch ends (micro_batch,
as Spark commits each batch), re-processes the held output after a crash (counted
`reprocessed`, never emitted twice), and keeps `arrivals + inside_at_start == completed +
inside_at_end`.  A crashed job takes no input: it waits upstream (in a topic: lag).

Fed by a `kafka_topic`, the job restores a crash from the log instead (`_stream_replay`): its
checkpoint keeps the offsets read up to, the crash drops every log record it holds (taken back by
the topic: its `arrivals` fall by them) and the topic's group re-delivers from the checkpoint's
offsets (`reread`), so the re-processed records arrive again and their copies are the topic's
`created`; at-least-once output emitted since the checkpoint is emitted again (`duplicates`).
Items from anything that is not a log (a source, a service) keep the in-memory rollback above.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from flowsim.distributions import Constant, Distribution
from flowsim.engine.figures import PER_MESSAGE, Figure
from flowsim.engine.flow import Delay, FlowLaw, Stage, per_second
from flowsim.engine.node import NodeRuntime
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import register
from flowsim.units import Count, Period, format_duration


@register
class StreamProcessorConfig(NodeConfig):
    """Models: a job of `parallelism` tasks that processes events one item at a time
    (`per_event`: an item goes to a free task) or in micro-batches (every `batch_interval` the
    queued items are split over the tasks); periodic checkpoints; and a crash (an outage) that
    restarts from the last checkpoint and re-processes what followed it; while down it takes no
    input, so its input waits upstream (a topic's lag grows). At-least-once emits at once and
    emits re-processed events again (duplicates); exactly-once emits per_event output when a
    checkpoint commits (Flink) and micro_batch output when its batch ends (Spark): added
    latency, no duplicates. A `slowdown` stretches work started during it. A bounded input
    buffer backpressures.

    Leaves out: state size and checkpoint duration (a checkpoint is instantaneous), operator
    chains and shuffles (one stage), watermarks and windows, and restart delay beyond the
    outage. Fed by a kafka_topic, a crash re-reads the topic from the last checkpoint's offsets
    (Flink's KafkaSource, Spark's checkpoint location, Kafka Streams' committed offsets): the
    group's lag jumps back by what the job consumed since, and records retention deleted
    meanwhile are lost; a micro_batch job checkpoints its offsets as each batch ends (Spark), and
    runs one task per topic partition in the batch (the Kafka source's default), handed to free
    tasks in partition order: a hot partition's task sets the batch's length (the analytic view
    assumes an even split).
    Fed by anything else, what followed the checkpoint is re-processed from the job's memory; a
    micro_batch job's checkpoint is its last finished batch (Spark's commit log).
    Output blocked downstream at the crash still goes out.
    """

    summary = "streaming job: parallel tasks, per-event or micro-batch, checkpoints, at-least/exactly-once"
    kind_figures = (
        Figure("duplicates", "messages", "emitted again after a crash (at-least-once)", True, engines=PER_MESSAGE),
        Figure("reprocessed", "messages", "processed again after a rollback to a checkpoint", engines=PER_MESSAGE),
        Figure("checkpoints", "checkpoints", "checkpoints completed", engines=PER_MESSAGE),
        Figure("restarts", "restarts", "restarts after a crash", True, engines=PER_MESSAGE),
        Figure("output_latency_added_mean_s", "s", "mean time output waited for its commit (exactly-once)",
               engines=PER_MESSAGE),
        Figure("output_latency_added_max_s", "s", "longest time output waited for its commit", engines=PER_MESSAGE),
    )  # fmt: skip
    can_fail = True

    kind: Literal["stream_processor"]
    billed_unit = "slot"
    parallelism: Count = Field(4, ge=1, description="parallel tasks (task slots, executor cores, stream threads)")
    per_event_cost: Distribution = Field(
        Constant(value=0.001), description="task time per event (an item of n events costs n draws)"
    )
    mode: Literal["per_event", "micro_batch"] = Field(
        "per_event", description="per_event: each item as it comes (Flink); micro_batch: every batch_interval (Spark)"
    )
    batch_interval: Period = Field(1.0, gt=0, description="micro_batch: trigger interval")
    task_routing: Literal["shared", "by_key"] = Field(
        "shared",
        description="per_event: shared = a free task takes the next item; by_key = the task the item's "
        "key hashes to (Flink keyBy), waiting even while other tasks are free",
    )
    checkpoint_interval: Period = Field(10.0, gt=0, description="how often progress (and exactly-once output) commits")
    guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="at_least_once: emit at once, duplicates after a crash; exactly_once: emit on commit",
    )
    capacity: Count = Field(
        10_000, ge=1, description="messages buffered in the job (input, in a task); then it blocks upstream"
    )

    @model_validator(mode="after")
    def _positive_cost(self) -> StreamProcessorConfig:
        if self.per_event_cost.mean() <= 0 and self.mode == "micro_batch":
            raise ValueError("micro_batch needs a per_event_cost above 0 (a batch of zero cost never ends)")
        if self.mode == "per_event" and "batch_interval" in self.model_fields_set:
            raise ValueError("batch_interval only applies with mode: micro_batch (a per_event job has no trigger)")
        return self

    def horizon_warnings(self, name: str, horizon: float) -> list[str]:
        micro = self.mode == "micro_batch"
        every = self.batch_interval if micro else self.checkpoint_interval
        if every < horizon or not (micro or self.guarantee == "exactly_once"):
            return []
        what, knob = ("its first micro-batch triggers", "batch_interval") if micro else (
            "its exactly-once output commits at checkpoints", "checkpoint_interval")  # fmt: skip
        return [f"'{name}' delivers nothing in this run: {what} every {format_duration(every)}, and the run ends "
                f"at {format_duration(horizon)}; shorten '{knob}' or lengthen 'duration'"]  # fmt: skip

    def runtime_class(self) -> type[NodeRuntime]:
        from flowsim.nodes._stream_job import StreamProcessorNode  # the runtime imports this module

        return StreamProcessorNode

    def events_per_item(self) -> float:
        return 2.0  # processing end and hand-over (checkpoint timers are per interval, not per item)

    def cost_units(self) -> float:
        """Every task slot is billed."""
        return float(self.parallelism)

    def flow_law(self, outputs: Sequence[str] = ()) -> FlowLaw:
        """parallelism / mean per_event_cost events a second, in either mode; a full buffer blocks upstream.

        Delay: per_event queues items for the tasks (an item of n events holds one task for n
        costs); micro_batch waits half a trigger interval, then the batch's run, which grows with
        the rate (rate x interval x cost / parallelism); exactly-once per_event holds output until
        the next checkpoint commits it (half an interval on average), micro_batch commits each batch
        as it ends.
        """
        cost = self.per_event_cost.mean()
        tasks = Stage(
            "tasks", self.parallelism, per_second(cost), unit_name="tasks",
            buffer=self.capacity, on_full="block", scalable=True,
        )  # fmt: skip
        commit = self.checkpoint_interval / 2 if self.guarantee == "exactly_once" else 0.0
        if self.mode == "micro_batch":
            commit = 0.0  # a micro-batch's output commits as the batch ends
            per_rate = self.batch_interval * cost / self.parallelism
            delay = Delay(hold_s=self.batch_interval / 2 + commit, hold_per_rate_s=per_rate)
        elif self.task_routing == "by_key":  # one queue per task, each offered 1 / parallelism of the flow
            delay = Delay(1, cost, self.per_event_cost.scv(), per_message=True, hold_s=commit, split=self.parallelism)
        else:
            delay = Delay(self.parallelism, cost, self.per_event_cost.scv(), per_message=True, hold_s=commit)
        return FlowLaw((tasks,), delay)
