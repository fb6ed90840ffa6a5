"""The runtime side of a node: receiving items, routing them on, backpressure, outages, counting.

Life cycle (as in desmod): build (``__init__``) -> connect (``connect``, ``wire``) -> open the
window (``reset_counters``, called by the kernel once every node is built, and again when the
warm-up ends) -> run (``start``, then the SimPy clock drives callbacks) -> results (``figures``).
Because the kernel opens the window, a subclass may set its own state after ``super().__init__``.

What the kernel owns, written once here (the hooks a kind supplies are in `engine.contract`):
- backpressure: ``forward`` hands an item to a downstream ``try_put``, which takes it (or drops
  it, counted) and returns True, or refuses it (full, blocking).  The sender then waits in the
  target's line of waiting senders and keeps the item (and, for a service, the server).  Each
  time the target frees room (``space_freed``) it wakes waiters in FIFO order until one is
  refused again; that one keeps its place at the head.  Blocked time counts blocks still in
  progress when the run ends.
- outages and slow-downs: ``fault_begin`` / ``fault_end`` count nested and overlapping faults;
  the kind's ``on_down`` / ``on_up`` run once per outage; ``downtime_s`` includes an outage
  still running at the end.  ``slowdown`` is the product of the running brownouts' factors.
- counting: ``arrivals + created + inside_at_start == completed + dropped + dead_lettered + lost
  + inside_at_end`` per node, over the measured window (`created`: messages the node adds itself,
  such as a topic's copy for each further consumer group or a job's re-emitted duplicates).
  Copies made on fan-out out-edges are `fanout_copies`, and completed messages handed on merged
  into fewer items (training data into one model version) are `merged`: the scenario totals
  add both in.

No SimPy process per item: two callbacks per visit keep the kernel lean.
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, ClassVar

import numpy as np

from flowsim.engine.context import SimContext
from flowsim.engine.item import Item
from flowsim.engine.sampling import block_sampler

Later = Callable[[Item, float], None] | None
Waiter = Callable[[], bool]

_SINGLE, _RANDOM, _FANOUT, _ROUND_ROBIN, _NONE = range(5)


class NodeRuntime:
    """Base class of every node kind's behaviour."""

    #: True for kinds that record waiting time and time-weighted queue length
    has_queue: ClassVar[bool] = False
    #: True for kinds where items end (sinks): they record end-to-end latency
    measures_latency: ClassVar[bool] = False

    def __init__(self, name: str, config: Any, ctx: SimContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.env = ctx.env
        #: ``call_later(delay, callback, value)``: the clock's cheapest timer (see `SimContext.later`)
        self.call_later = ctx.later
        # for timers pushed without a call (see `SimContext.heap`); `_ids` is read only when `_heap` is set
        self._heap = ctx.heap
        self._ids: Iterator[int] = ctx.ids if ctx.ids is not None else iter(())
        self._mode = _NONE
        self._targets: list[NodeRuntime] = []
        #: the one out-edge's node when there is exactly one (and no fan-out): hot paths hand over to it directly
        self.single_target: NodeRuntime | None = None
        self._blocked: deque[Waiter] = deque()  # senders waiting for room here, oldest first
        self._waking = False
        self._open_blocks = 0  # this node's hand-overs refused and not yet done
        self._open_since = 0.0  # sum of their (window-clipped) start times
        self.waiting_on: dict[str, int] = {}  # open blocks by target (the wait-for graph)
        self.dead_letter: NodeRuntime | None = None
        self.references: dict[str, NodeRuntime] = {}
        self.tracing = ctx.trace is not None
        self._faults = 0
        self._down_since = 0.0
        self.slowdown = 1.0
        self._brownouts: list[float] = []
        self._window_start = 0.0

    @property
    def down(self) -> bool:
        """True while at least one outage is running."""
        return self._faults > 0

    # ---- connect -------------------------------------------------------------------------
    def connect(self, targets: list[tuple[NodeRuntime, float]], routing: str) -> None:
        """Wire the out-edges; `routing` is random (by weight), fanout or round_robin."""
        self._targets = [t for t, _ in targets]
        self.single_target = None
        if not targets:
            self._mode = _NONE
        elif routing == "fanout":
            self._mode = _FANOUT
        elif len(targets) == 1:
            self._mode = _SINGLE
            self._target = self.single_target = targets[0][0]
        elif routing == "round_robin":
            self._mode = _ROUND_ROBIN
            self._cycle = itertools.cycle(self._targets)
        else:
            self._mode = _RANDOM
            weights = np.array([w for _, w in targets], dtype=float)
            self._cumulative = list(np.cumsum(weights / weights.sum())[:-1])
            rng = self.ctx.rng(self.name, "routing")
            self._uniform = block_sampler(rng.random)

    def wire(self, field: str, target: NodeRuntime) -> None:
        """Connect a reference field (a dead-letter target, a control signal's receiver)."""
        if field == "dead_letter":
            self.dead_letter = target
        else:
            self.references[field] = target

    def start(self) -> None:
        """Schedule the node's own first events (sources, timers); most nodes have none."""

    # ---- data path -----------------------------------------------------------------------
    def try_put(self, item: Item) -> bool:
        """Take `item` (or drop it, counted) and return True; False means: full, wait."""
        raise NotImplementedError(f"{type(self).__name__} takes no input")

    def when_space(self, waiter: Waiter) -> None:
        """Call `waiter` when this node has room again; it returns True once it got in."""
        self._blocked.append(waiter)

    def space_freed(self) -> None:
        """Room was freed: wake waiting senders, oldest first, until one is refused again."""
        if self._waking:
            return  # the loop further up the stack goes on
        blocked = self._blocked
        self._waking = True
        try:
            while blocked:
                waiter = blocked.popleft()
                if not waiter():
                    blocked.appendleft(waiter)  # refused again: it keeps its place
                    return
        finally:
            self._waking = False

    def log(self, event: str, item: Item | None = None) -> None:
        """Append to the replication's trace (only called when tracing is on)."""
        assert self.ctx.trace is not None
        self.ctx.trace.append((float(self.env.now), self.name, event, item.key if item is not None else -1))

    def refuse_or_drop(self, item: Item, block: bool, refusal: str = "refuse") -> bool:
        """The node is full: refuse `item` (backpressure) or drop it, counted.

        Returns what `try_put` must return: False when refused (the sender waits), True when dropped.
        """
        if block:
            if self.tracing:
                self.log(refusal, item)
            return False
        self.arrivals += item.n
        self.dropped += item.n
        if self.tracing:
            self.log("drop", item)
        return True

    def forward(self, item: Item, later: Later) -> bool:
        """Send `item` along the out-edges.

        Returns True when it was handed over at once.  False means a downstream node was full
        and blocks: the caller keeps holding the item (and its server), and `later(item, t_in)`
        is called at hand-over, with the item's arrival time at this node captured beforehand.
        """
        mode = self._mode
        if mode == _SINGLE:  # the common case, kept to one call
            target = self._target
            return target.try_put(item) or self._blocked_on(target, item, later, item.t_in)
        if mode == _RANDOM:
            target = self._targets[bisect.bisect(self._cumulative, self._uniform())]
        elif mode == _FANOUT:
            return self._fanout(item, later)
        elif mode == _ROUND_ROBIN:
            target = next(self._cycle)
        else:
            return True
        return self.deliver(target, item, later)

    def deliver(self, target: NodeRuntime, item: Item, later: Later) -> bool:
        """Hand `item` to one chosen `target` (not along the routing): as `forward`."""
        t_in = item.t_in
        return target.try_put(item) or self._blocked_on(target, item, later, t_in)

    def _blocked_on(self, target: NodeRuntime, item: Item, later: Later, t_in: float) -> bool:
        """`target` refused `item`: wait in its line; returns False (not handed over yet)."""
        now = self.env.now
        self.blocked_count += 1
        self._open_blocks += 1
        self._open_since += now
        self.waiting_on[target.name] = self.waiting_on.get(target.name, 0) + 1
        target.when_space(partial(self._retry_delivery, target, item, later, now, t_in))
        return False

    def _retry_delivery(self, target: NodeRuntime, item: Item, later: Later, since: float, t_in: float) -> bool:
        if not target.try_put(item):
            return False
        since = max(since, self._window_start)
        self._open_blocks -= 1
        self._open_since -= since
        self.blocked_time += self.env.now - since
        left = self.waiting_on[target.name] - 1
        if left:
            self.waiting_on[target.name] = left
        else:
            del self.waiting_on[target.name]
        if later is not None:
            later(item, t_in)
        return True

    def withdraw(self, target: NodeRuntime, item: Item) -> bool:
        """Take back `item`, refused by `target` and still waiting in its line (its reader died
        holding it); its block ends now.  False when it is not waiting there."""
        for waiter in target._blocked:
            if isinstance(waiter, partial) and waiter.func == self._retry_delivery and waiter.args[1] is item:
                target._blocked.remove(waiter)
                since = max(waiter.args[3], self._window_start)
                self._open_blocks -= 1
                self._open_since -= since
                self.blocked_time += self.env.now - since
                self.waiting_on[target.name] -= 1
                if not self.waiting_on[target.name]:
                    del self.waiting_on[target.name]
                return True
        return False

    def _fanout(self, item: Item, later: Later) -> bool:
        """Copy to every out-edge; the hand-over is complete when the last copy is delivered."""
        t_in = item.t_in
        copies = [item] + [item.copy() for _ in self._targets[1:]]
        self.fanout_copies += item.n * (len(copies) - 1)
        pending = [len(copies)]

        def one_delivered(_copy: Item, _t: float) -> None:
            pending[0] -= 1
            if pending[0] == 0 and later is not None:
                later(item, t_in)

        for target, copy in zip(self._targets, copies, strict=True):
            if self.deliver(target, copy, one_delivered):
                pending[0] -= 1
        return pending[0] == 0

    def record_latency(self, item: Item) -> None:
        """Where items end: their age since the source created them."""
        self.latencies.append(self.env.now - item.born)

    # ---- signals -------------------------------------------------------------------------
    def signal(self, name: str, payload: Any, sender: str) -> None:
        """Receive a control signal (a training trigger, a model promotion) from another node."""
        raise NotImplementedError(f"{type(self).__name__} takes no '{name}' signal (from {sender})")

    def send_signal(self, field: str, name: str, payload: Any = None) -> None:
        """Send a control signal along the reference `field`, if it is wired."""
        target = self.references.get(field)
        if target is not None:
            if self.tracing:
                self.log(f"signal {name} -> {target.name}")
            target.signal(name, payload, self.name)

    def send_dead_letter(self, item: Item) -> None:
        """Exhausted items go to the dead-letter node if one is wired, else only counted."""
        if self.dead_letter is not None:
            self.deliver(self.dead_letter, item, None)

    # ---- outages and slow-downs ----------------------------------------------------------
    def fault_begin(self) -> None:
        """An outage begins; the kind hears of it only when the node was up until now."""
        self._faults += 1
        if self._faults == 1:
            self._down_since = self.env.now
            self.on_down()

    def fault_end(self) -> None:
        """An outage ends; the node is up again only when no other outage is still running."""
        self._faults -= 1
        if self._faults == 0:
            self.downtime += self.env.now - max(self._down_since, self._window_start)
            self.on_up()

    def brownout_begin(self, factor: float) -> None:
        """Work started from now on takes `factor` times longer (until the brownout ends)."""
        if self.tracing:
            self.log(f"slowdown x{factor:g}")
        self._brownouts.append(factor)
        self.slowdown = float(np.prod(self._brownouts))
        self.on_speed_change()

    def brownout_end(self, factor: float) -> None:
        if self.tracing:
            self.log("recovered")
        self._brownouts.remove(factor)
        self.slowdown = float(np.prod(self._brownouts)) if self._brownouts else 1.0
        self.on_speed_change()

    def fault_target(self, plan: Any) -> Any:
        """Hook: what a fault naming a part of the node hits (a topic's consumers); None: the node."""
        return None

    def reads_log(self, log: Any) -> bool:
        """Hook: `log` (a replayable log, `engine.replay`) feeds this node; True when the node keeps
        its place in it and re-reads it after a crash (the log then tags records with positions)."""
        return False

    def on_down(self) -> None:
        """Hook: the node just went down (kinds that can fail implement it)."""

    def on_up(self) -> None:
        """Hook: the node is up again."""

    def on_speed_change(self) -> None:
        """Hook: `slowdown` changed (kinds whose running work must follow it at once)."""

    # ---- results -------------------------------------------------------------------------
    def reset_counters(self) -> None:
        """Open the measured window: counters and samples cover only what follows."""
        now = self.env.now
        self._window_start = now
        self.arrivals = 0
        self.completed = 0
        self.dropped = 0
        self.lost = 0
        self.created = 0
        self.fanout_copies = 0
        self.merged = 0
        self.retries = 0
        self.failed_attempts = 0
        self.dead_lettered = 0
        self.blocked_count = 0
        self.blocked_time = 0.0
        self._open_since = self._open_blocks * now  # blocks in progress count from the window's start
        self.downtime = 0.0
        self.waits: array[float] = array("d")
        self.sojourns: array[float] = array("d")
        self.latencies: array[float] = array("d")
        self.inside_at_start = self.inside()

    def close_window(self) -> None:
        """Hook: the run is over (before `figures`); kinds settle time-weighted figures here."""

    def inside(self) -> int:
        """Messages in the node now (waiting, in service, blocked, backing off)."""
        return 0

    def waiting(self) -> int:
        return 0

    def busy_servers(self) -> float:
        return 0.0

    def blocked_time_s(self) -> float:
        """Time spent holding items downstream refused, blocks still in progress included."""
        return self.blocked_time + self._open_blocks * self.env.now - self._open_since

    def downtime_s(self) -> float:
        """Time down in the window, an outage still running at the end included."""
        if self._faults:
            return self.downtime + self.env.now - max(self._down_since, self._window_start)
        return self.downtime

    def figures(self, window: float) -> dict[str, float]:
        """Scalar results over the measured window (flat names; nested by the results layer)."""
        return {
            "arrivals": self.arrivals,
            "completed": self.completed,
            "dropped": self.dropped,
            "lost": self.lost,
            "created": self.created,
            "fanout_copies": self.fanout_copies,
            "merged": self.merged,
            "retries": self.retries,
            "failed_attempts": self.failed_attempts,
            "dead_lettered": self.dead_lettered,
            "inside_at_start": self.inside_at_start,
            "inside_at_end": self.inside(),
            "blocked_time_s": self.blocked_time_s(),
            "downtime_s": self.downtime_s(),
            "throughput_per_s": self.completed / window if window > 0 else 0.0,
        }

    def series_row(self) -> tuple[float, float, float, float, float]:
        """(inside, waiting, busy servers, cumulative completed, cumulative dropped) now."""
        return (self.inside(), self.waiting(), self.busy_servers(), self.completed, self.dropped)

    def series_extra(self) -> dict[str, float]:
        """Kind-specific gauges read with the time series.

        Reading must not change what the node does or any of its figures (exact time-weighted
        figures are kept on every change of state, not here); a gauge defined per sampling
        interval, such as the p95 of the queries started since the last sample, may move its mark.
        """
        return {}

    def extra(self) -> dict[str, Any]:
        """Kind-specific results that are not plain figures (e.g. a model-version timeline)."""
        return {}
