"""The runtime of `stream_processor`: tasks per event or micro-batches, emission, crashes and
restarts, over the checkpoint and rewind side `_stream_replay` brings; see `stream_processor`
for how messages are counted.

Kept apart from the kind module so that each file stays short; the leading underscore keeps
the registry from treating it as a kind.
"""

from __future__ import annotations

import heapq
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any

from flowsim.distributions import Constant
from flowsim.engine.context import SimContext
from flowsim.engine.item import Item
from flowsim.engine.stats import max_of, mean_of
from flowsim.nodes._stream_replay import ReplaySide

if TYPE_CHECKING:
    from flowsim.nodes.stream_processor import StreamProcessorConfig

_MASK = (1 << 64) - 1


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
        self.call_later(self._cost_of(item.n), self._task_done, (item, self._generation))

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
        work, span = self._batch_time(batch)
        self._advance()
        self.busy = work / span if span > 0 else float(self.config.parallelism)  # mean busy tasks
        self._processing = dict.fromkeys(batch, -1)
        if self.tracing:
            self.log(f"batch {sum(item.n for item in batch)}")
        self.call_later(span, self._batch_done, (batch, self._generation))

    def _batch_time(self, batch: list[Item]) -> tuple[float, float]:
        """(task time, how long the batch takes).  Spark plans one task per Kafka partition of a
        micro-batch (its Kafka source's default), handed to the free cores in partition order, so
        the batch lasts as long as its busiest cores: a hot partition's task sets the pace.  Items
        from anything that is not a log split evenly over the cores."""
        per_task: dict[int, float] = {}
        even = 0.0
        for item in batch:
            cost = self._cost_of(item.n)
            where = self.position(item)
            if where is None:
                even += cost
            else:
                per_task[where.partition] = per_task.get(where.partition, 0.0) + cost
        cores = self.config.parallelism
        if not per_task:
            return even, even / cores
        free = [even / cores] * cores  # (the even share first, on every core)
        for partition in sorted(per_task):
            heapq.heapreplace(free, free[0] + per_task[partition])
        return even + sum(per_task.values()), max(free)

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
