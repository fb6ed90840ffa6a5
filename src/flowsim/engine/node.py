"""The runtime side of a node: receiving items, routing them on, backpressure, and counting.

Life cycle (as in desmod): build (``__init__``) -> connect (``connect``) -> run (``start``,
then the SimPy clock drives callbacks) -> results (``figures``, ``series_row``).

Items move by synchronous calls: ``forward`` hands an item to a downstream node's ``try_put``,
which either takes it (or drops it, counting the drop) and returns True, or refuses it because
the node is full and blocks; the sender then waits in that node's ``when_space`` line and keeps
the item (and, for a service, the server) until the node calls it back.  No SimPy process per
item: two callbacks per visit keep the kernel lean.
"""

from __future__ import annotations

import bisect
import itertools
from array import array
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from flowsim.distributions import block_sampler
from flowsim.engine.context import SimContext
from flowsim.engine.item import Item

if TYPE_CHECKING:
    from flowsim.nodes.base import NodeConfig

Later = Callable[[Item, float], None] | None

_SINGLE, _RANDOM, _FANOUT, _ROUND_ROBIN, _NONE = range(5)


class NodeRuntime:
    """Base class of every node kind's behaviour."""

    #: True for kinds that record waiting time and time-weighted queue length
    has_queue: ClassVar[bool] = False

    def __init__(self, name: str, config: NodeConfig, ctx: SimContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self.env = ctx.env
        self._mode = _NONE
        self._targets: list[NodeRuntime] = []
        self._blocked: deque[Callable[[], None]] = deque()
        self.dead_letter: NodeRuntime | None = None
        self.references: dict[str, NodeRuntime] = {}
        self.tracing = ctx.trace is not None
        self.reset_counters()

    # ---- connect -------------------------------------------------------------------------
    def connect(self, targets: list[tuple[NodeRuntime, float]], routing: str) -> None:
        """Wire the out-edges; `routing` is random (by weight), fanout or round_robin."""
        self._targets = [t for t, _ in targets]
        if not targets:
            self._mode = _NONE
        elif routing == "fanout":
            self._mode = _FANOUT
        elif len(targets) == 1:
            self._mode = _SINGLE
            self._target = targets[0][0]
        elif routing == "round_robin":
            self._mode = _ROUND_ROBIN
            self._cycle = itertools.cycle(self._targets)
        else:
            self._mode = _RANDOM
            weights = np.array([w for _, w in targets], dtype=float)
            self._cumulative = list(np.cumsum(weights / weights.sum())[:-1])
            rng = self.ctx.rng(self.name, "routing")
            self._uniform = block_sampler(rng.random)

    def start(self) -> None:
        """Schedule the node's own first events (sources, timers); most nodes have none."""

    # ---- data path -----------------------------------------------------------------------
    def try_put(self, item: Item) -> bool:
        """Take `item` (or drop it, counted) and return True; False means: full, wait."""
        raise NotImplementedError(f"{type(self).__name__} takes no input")

    def when_space(self, callback: Callable[[], None]) -> None:
        """Call `callback` when this node has room again (FIFO among blocked senders)."""
        self._blocked.append(callback)

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

    def _space_freed(self) -> None:
        if self._blocked:
            self._blocked.popleft()()

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
        return self._deliver(target, item, later)

    def _deliver(self, target: NodeRuntime, item: Item, later: Later) -> bool:
        t_in = item.t_in
        return target.try_put(item) or self._blocked_on(target, item, later, t_in)

    def _blocked_on(self, target: NodeRuntime, item: Item, later: Later, t_in: float) -> bool:
        """`target` refused `item`: wait in its line; returns False (not handed over yet)."""
        self.blocked_count += 1
        target.when_space(partial(self._retry_delivery, target, item, later, self.env.now, t_in))
        return False

    def _retry_delivery(self, target: NodeRuntime, item: Item, later: Later, since: float, t_in: float) -> None:
        if target.try_put(item):
            self.blocked_time += self.env.now - max(since, self.ctx.warmup)
            if later is not None:
                later(item, t_in)
        else:
            target.when_space(partial(self._retry_delivery, target, item, later, since, t_in))

    def _fanout(self, item: Item, later: Later) -> bool:
        """Copy to every out-edge; the hand-over is complete when the last copy is delivered."""
        t_in = item.t_in
        copies = [item] + [item.copy() for _ in self._targets[1:]]
        pending = [len(copies)]

        def one_delivered(_copy: Item, _t: float) -> None:
            pending[0] -= 1
            if pending[0] == 0 and later is not None:
                later(item, t_in)

        for target, copy in zip(self._targets, copies, strict=True):
            if self._deliver(target, copy, one_delivered):
                pending[0] -= 1
        return pending[0] == 0

    def wire(self, field: str, target: NodeRuntime) -> None:
        """Connect a reference field (a dead-letter target, a control signal's receiver)."""
        if field == "dead_letter":
            self.dead_letter = target
        else:
            self.references[field] = target

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
            self._deliver(self.dead_letter, item, None)

    # ---- results -------------------------------------------------------------------------
    def reset_counters(self) -> None:
        """Start the measured window: counters and samples cover only what follows."""
        self.arrivals = 0
        self.completed = 0
        self.dropped = 0
        self.retries = 0
        self.failed_attempts = 0
        self.dead_lettered = 0
        self.blocked_count = 0
        self.blocked_time = 0.0
        self.waits: array[float] = array("d")
        self.sojourns: array[float] = array("d")
        self.inside_at_start = self.inside()

    def inside(self) -> int:
        """Messages in the node now (waiting, in service, blocked, backing off)."""
        return 0

    def waiting(self) -> int:
        return 0

    def busy_servers(self) -> float:
        return 0.0

    def figures(self, window: float) -> dict[str, float]:
        """Scalar results over the measured window (flat names; nested by the results layer)."""
        return {
            "arrivals": self.arrivals,
            "completed": self.completed,
            "dropped": self.dropped,
            "retries": self.retries,
            "failed_attempts": self.failed_attempts,
            "dead_lettered": self.dead_lettered,
            "inside_at_start": self.inside_at_start,
            "inside_at_end": self.inside(),
            "blocked_time_s": self.blocked_time,
            "throughput_per_s": self.completed / window if window > 0 else 0.0,
        }

    def series_row(self) -> tuple[float, float, float, float, float]:
        """(inside, waiting, busy servers, cumulative completed, cumulative dropped) now."""
        return (self.inside(), self.waiting(), self.busy_servers(), self.completed, self.dropped)

    def series_extra(self) -> dict[str, float]:
        """Kind-specific gauges sampled with the time series (e.g. consumer lag per group)."""
        return {}

    def extra(self) -> dict[str, Any]:
        """Kind-specific results that are not plain figures (e.g. a model-version timeline)."""
        return {}


class HoldingRuntime(NodeRuntime):
    """A node without servers that holds items for a while, then hands them on (a delay, a tap).

    `admit` counts an item in; `pass_on` forwards it and, once handed over, counts it completed
    with its time inside (captured before the hand-over, which resets the item's arrival time).
    """

    def __init__(self, name: str, config: NodeConfig, ctx: SimContext) -> None:
        self.n_inside = 0
        super().__init__(name, config, ctx)

    def admit(self, item: Item) -> None:
        self.arrivals += item.n
        self.n_inside += item.n
        item.t_in = self.env.now

    def pass_on(self, item: Item) -> None:
        t_in = item.t_in
        if self.forward(item, self._handed_on):
            self._handed_on(item, t_in)

    def _handed_on(self, item: Item, t_in: float) -> None:
        self.n_inside -= item.n
        self.completed += item.n
        self.sojourns.append(self.env.now - t_in)

    def inside(self) -> int:
        return self.n_inside
