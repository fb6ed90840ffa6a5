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

from collections import deque
from collections.abc import Sequence
from functools import partial
from typing import Any, Literal

from pydantic import Field, model_validator

from flowsim.distributions import Constant, Distribution
from flowsim.engine.context import SimContext
from flowsim.engine.figures import PER_MESSAGE, Figure
from flowsim.engine.flow import Delay, FlowLaw, Stage, per_second
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime
from flowsim.engine.stats import max_of, mean_of
from flowsim.nodes._stream_replay import ReplaySide
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.registry import register
from flowsim.units import Count, Period, format_duration

_MASK = (1 << 64) - 1


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
    meanwhile are lost; a micro_batch job checkpoints its offsets as each batch ends (Spark).
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


class StreamProcessorNode(ReplaySide):
    """Runtime of `stream_processor`; see the module docstring for the counting."""

    config: StreamProcessorConfig

    def __init__(self, name: str, config: StreamProcessorConfig, ctx: SimContext) -> None:
        self.queue: deque[Item] = deque()
        self.n_inside = 0
        self.n_held = 0  # exactly-once output waiting for a commit (in the sink's transaction)
        self.busy = 0.0
        self._t_last = 0.0
        super().__init__(name, config, ctx)
        self.exactly_once = config.guarantee == "exactly_once"
        self.micro_batch = config.mode == "micro_batch"
        cost = config.per_event_cost
        self._constant = cost.value if isinstance(cost, Constant) else None
        self._cost = cost.sampler(ctx.rng(name, "cost"))
        self._processing: dict[Item, int] = {}  # items in a task (-1: shared or micro-batch) -> its task
        self.keyed = config.task_routing == "by_key" and not self.micro_batch
        self._lines: list[deque[Item]] = [deque() for _ in range(config.parallelism)] if self.keyed else []
        self._task_busy = [False] * config.parallelism
        self._since_checkpoint: list[Item] = []  # emitted (at-least-once) or held (exactly-once)
        self._processed_at: dict[Item, float] = {}
        self._replays: set[Item] = set()
        self._generation = 0
        self._batch_pending = False
        self.setup_replay()

    # ---- bookkeeping ---------------------------------------------------------------------
    def reset_counters(self) -> None:
        super().reset_counters()
        self.duplicates = 0
        self.reprocessed = 0
        self.checkpoints = 0
        self.restarts = 0
        self.area_busy = 0.0
        self.added: list[float] = []
        self._t_last = self.env.now

    def _advance(self) -> None:
        now = self.env.now
        self.area_busy += self.busy * (now - self._t_last)
        self._t_last = now

    def _cost_of(self, n: int) -> float:
        """Task time for n events, `slowdown` times longer during a brownout."""
        if self._constant is not None:
            return self._constant * n * self.slowdown
        return sum(self._cost() for _ in range(n)) * self.slowdown

    def inside(self) -> int:
        return self.n_inside

    def waiting(self) -> int:
        return sum(item.n for item in self.queue) + sum(item.n for line in self._lines for item in line)

    def _line(self, item: Item) -> deque[Item]:
        """by_key: the queue of the task the item's key hashes to (a splitmix64 mix of the key,
        as Flink hashes keys into key groups: spread like random, the same key always alike)."""
        z = (item.key + 0x9E3779B97F4A7C15) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return self._lines[(z ^ (z >> 31)) % len(self._lines)]

    def busy_servers(self) -> float:
        return self.busy

    def start(self) -> None:
        self.env.timeout(self.config.checkpoint_interval).callbacks.append(self._checkpoint)
        if self.micro_batch:
            self.env.timeout(self.config.batch_interval).callbacks.append(self._trigger)

    # ---- data path -----------------------------------------------------------------------
    def try_put(self, item: Item) -> bool:
        """Take an item unless full, or down: a crashed job reads nothing, so its input waits
        upstream (in Kafka: the group's lag grows at the input rate during the crash)."""
        buffered = self.n_inside - self.n_held
        if self._faults or (buffered and buffered + item.n > self.config.capacity):
            if self.tracing:
                self.log("refuse", item)
            return False
        self.arrivals += item.n
        self.n_inside += item.n
        item.t_in = self.env.now
        (self._line(item) if self.keyed else self.queue).append(item)
        if self.logs:
            pos = self.position(item)
            if pos is not None:
                self.noted(pos, item.n)
        if self.tracing:
            self.log("arrive", item)
        if not self.micro_batch:
            self._next()
        return True

    def _next(self) -> None:
        """per_event: start queued items on free tasks (by_key: each task on its own queue)."""
        if self.keyed:
            for task, line in enumerate(self._lines):
                if line and not self._faults and not self._task_busy[task]:
                    self._task_busy[task] = True
                    self._begin(line.popleft(), task)
            return
        while self.queue and not self._faults and self.busy < self.config.parallelism:
            self._begin(self.queue.popleft(), -1)

    def _begin(self, item: Item, task: int) -> None:
        self._advance()
        self.busy += 1
        self._processing[item] = task
        if self.tracing:
            self.log("start", item)
        job = self.env.timeout(self._cost_of(item.n), (item, self._generation))
        job.callbacks.append(self._task_done)

    def _task_done(self, event: Any) -> None:
        item, generation = event._value
        if generation != self._generation:
            return  # the crash discarded this work
        task = self._processing.pop(item)
        self._processed(item, partial(self._task_free, task))

    def _task_free(self, task: int) -> None:
        self._advance()
        self.busy -= 1
        if task >= 0:
            self._task_busy[task] = False
        self._next()

    def _trigger(self, _event: Any) -> None:
        """micro_batch: start a batch of everything queued (or right after the running one)."""
        self.env.timeout(self.config.batch_interval).callbacks.append(self._trigger)
        if self._processing:
            self._batch_pending = True
        else:
            self._run_batch()

    def _run_batch(self) -> None:
        self._batch_pending = False
        if self._faults or not self.queue:
            return
        batch = list(self.queue)
        self.queue.clear()
        work = sum(self._cost_of(item.n) for item in batch)
        self._advance()
        self.busy = float(self.config.parallelism)
        self._processing = dict.fromkeys(batch, -1)
        if self.tracing:
            self.log(f"batch {sum(item.n for item in batch)}")
        job = self.env.timeout(work / self.config.parallelism, (batch, self._generation))
        job.callbacks.append(self._batch_done)

    def _batch_done(self, event: Any) -> None:
        batch, generation = event._value
        if generation != self._generation:
            return
        self._advance()
        self.busy = 0.0
        self._processing.clear()
        for item in batch:
            self._processed(item, None)
        if self.logs:  # Spark: a batch's end commits its offsets (the checkpoint location's commit log)
            self.snapshot(self.queue)
        if self.exactly_once:
            self._commit()  # Spark commits a micro-batch's output (its sink's batch id) as it ends
        elif self.logs:  # emitted output the offsets now cover is never read again
            self._since_checkpoint = [item for item in self._since_checkpoint if not self.covered(item)]
        else:  # Spark's commit log: a finished batch never runs again, only the one a crash stops
            self._since_checkpoint = []
        if self._batch_pending:
            self._run_batch()

    def _processed(self, item: Item, free: Any) -> None:
        """Processing is over: emit now (at-least-once) or hold until the next commit."""
        if self.exactly_once:
            self._processed_at[item] = self.env.now
            self._since_checkpoint.append(item)
            self.n_held += item.n
            if self.tracing:
                self.log("hold", item)
            if free is not None:
                free()
            self.space_freed()
            return
        self._emit(item, free)

    def _emit(self, item: Item, free: Any) -> None:
        if self.forward(item, partial(self._emitted_late, free)):
            self._emitted(item, free)

    def _emitted_late(self, free: Any, item: Item, _t_in: float) -> None:
        self._emitted(item, free)

    def _emitted(self, item: Item, free: Any) -> None:
        n = item.n
        self.n_inside -= n
        self.completed += n
        self.sojourns.append(self.env.now - item.t_in)
        again = item in self._replays
        if again:
            self._replays.discard(item)
            self.duplicates += n
        elif self.expecting:
            echoed = self.again(item)  # re-read from the log, emitted before the crash
            self.duplicates += echoed
            again = echoed > 0
        if not self.exactly_once:
            self._since_checkpoint.append(item)
        if self.tracing:
            self.log("emit again" if again else "emit", item)
        if free is not None:
            free()
        self.space_freed()

    # ---- checkpoints and crashes ---------------------------------------------------------
    def on_down(self) -> None:
        """A crash: work since the last checkpoint is lost and re-done after the restart."""
        self._advance()
        self._generation += 1
        self.restarts += 1
        if self.tracing:
            self.log("crash")
        interrupted = list(self._processing)
        for task in self._processing.values():
            if task >= 0:
                self._task_busy[task] = False
        self._processing.clear()
        self.busy = 0.0 if self.micro_batch else self.busy - len(interrupted)
        if self.logs:
            interrupted = self.rewind_logs(interrupted)
        rolled_back = self._rolled_back()
        for item in reversed(rolled_back + interrupted):
            (self._line(item) if self.keyed else self.queue).appendleft(item)

    def on_up(self) -> None:
        if self.tracing:
            self.log("restart")
        self.resume_logs()  # (first: a micro-batch job's first batch re-runs what they re-deliver at once)
        if self.micro_batch:
            self._run_batch()
        else:
            self._next()
        self.space_freed()  # the senders refused during the crash

    # ---- results -------------------------------------------------------------------------
    def figures(self, window: float) -> dict[str, float]:
        self._advance()
        figures = super().figures(window)
        span = window if window > 0 else 1.0
        return figures | {
            "utilization": self.area_busy / (self.config.parallelism * span),
            "duplicates": self.duplicates,
            "reprocessed": self.reprocessed,
            "checkpoints": self.checkpoints,
            "restarts": self.restarts,
            # at-least-once output waits for nothing; exactly-once output that never committed: no data
            "output_latency_added_mean_s": mean_of(self.added) if self.exactly_once else 0.0,
            "output_latency_added_max_s": max_of(self.added) if self.exactly_once else 0.0,
        }
