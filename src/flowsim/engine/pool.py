"""The serve path every pool of servers shares: a line of waiting items, start, finish, hand on.

`ServerPool` is what `service`, `model_serving` and `warehouse` build on.  It owns the line (FIFO
by default), starting the head whenever enough servers are free, the service timer (stretched by
the kernel's `slowdown`), the hand-over downstream with blocking after service (the item keeps
its server until the next node takes it), and the bookkeeping of servers, waits and sojourns.

A kind supplies what is its own through hooks:
- `hold_time(item)`: how long the item holds its servers (required);
- `slots_for(item)`: servers one item takes (1; a warehouse load may take several);
- `on_start(item)` / `on_left(item, sojourn)`: kind figures and trace lines;
- `served(item) -> bool`: after the hold; False when the kind took the item over (an error sent
  to the retry policy); `abandoned(job)`: a job ended whose item had given up on it (a timeout);
- `route(item, later) -> bool`: where the item goes (the out-edges by default);
- `peek()` / `pop()`: which waiting item goes next (the line's head by default).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from heapq import heappush
from typing import Any, ClassVar

from simpy.events import NORMAL

from flowsim.engine.clock import Timer
from flowsim.engine.context import SimContext
from flowsim.engine.item import Item
from flowsim.engine.queueing import QueueingRuntime

_new_timer = Timer.__new__  # a Timer without its __init__ call, as `Clock.later` makes one


class ServerPool(QueueingRuntime):
    """A FIFO line in front of `servers` servers, with blocking after service.

    The per-item path is the engine's hottest: hooks a kind does not override are not called
    at all (`_custom` records which are), and a kind whose hold does not depend on the item can
    set `hold_sampler` (a zero-argument draw) instead of overriding `hold_time`.
    """

    #: every item takes one server (False for kinds that override `slots_for`)
    unit_slots: ClassVar[bool] = True

    def __init__(self, name: str, config: Any, ctx: SimContext, servers: int) -> None:
        super().__init__(name, config, ctx, servers)
        self.queue: deque[Item] = deque()
        self.serving: dict[Item, None] = {}  # items holding servers, in start order
        self.hold_sampler: Callable[[], float] | None = None
        kind = type(self)
        self._custom_start = kind.on_start is not ServerPool.on_start
        self._custom_left = kind.on_left is not ServerPool.on_left
        self._custom_served = kind.served is not ServerPool.served
        self._custom_route = kind.route is not ServerPool.route
        self._on_finished = self._finished
        self._fifo = self.unit_slots and kind.peek is ServerPool.peek and kind.pop is ServerPool.pop
        self._plain_line = self._fifo and kind.line_up is ServerPool.line_up

    # ---- hooks ---------------------------------------------------------------------------
    def hold_time(self, item: Item) -> float:
        raise NotImplementedError(f"{type(self).__name__} must say how long an item holds a server")

    def slots_for(self, item: Item) -> int:
        return 1

    def on_start(self, item: Item) -> None:
        if self.tracing:
            self.log("start", item)

    def on_left(self, item: Item, sojourn: float) -> None:
        if self.tracing:
            self.log("leave", item)

    def served(self, item: Item) -> bool:
        return True

    def abandoned(self, job: Any) -> None:
        """A job whose item no longer waits for it ended (a timed-out attempt's work is over)."""

    def route(self, item: Item, later: Any) -> bool:
        return self.forward(item, later)

    def peek(self) -> Item | None:
        return self.queue[0] if self.queue else None

    def pop(self) -> Item:
        return self.queue.popleft()

    # ---- the serve path ------------------------------------------------------------------
    def enqueue(self, item: Item) -> None:
        """The item wants a server: start it now if it is next and fits, else it waits in line
        (where a kind's own order, such as query priority, may still let it start at once)."""
        now = item.t_queue = self.env.now
        if self._plain_line:  # the common case: one server each, FIFO, the default line
            if not self._faults and not self.n_waiting and self.busy < self.servers:
                self._start(item)
                return
            self.queue.append(item)
            self.n_waiting += item.n  # change_waiting(item.n), inlined
            self._waiting_acc -= item.n * now
            if not self._faults and self.busy < self.servers:
                self.dispatch()
            return
        need = 1 if self.unit_slots else self.slots_for(item)
        if not self._faults and not self.n_waiting and self.busy + need <= self.servers:
            self._start(item)
        else:
            self.line_up(item)
            if not self._fifo or (not self._faults and self.busy < self.servers):
                self.dispatch()  # a kind's own order may start it at once; FIFO only if a server is free

    def line_up(self, item: Item) -> None:
        self.queue.append(item)
        self.change_waiting(item.n)

    def dispatch(self) -> None:
        """Start waiting items, head first, while the head fits and the node is up."""
        if self._fifo:  # the common case, without the hooks
            queue = self.queue
            while queue and self.busy < self.servers and not self._faults:
                item = queue.popleft()
                self.change_waiting(-item.n)
                self._start(item)
            return
        while not self._faults:
            head = self.peek()
            if head is None or self.busy + self.slots_for(head) > self.servers:
                return
            self.pop()
            self.change_waiting(-head.n)
            self._start(head)

    def _start(self, item: Item) -> None:
        slots = 1 if self.unit_slots else self.slots_for(item)
        self.busy += slots  # change_busy(slots), inlined
        self._busy_acc -= slots * self.env.now
        self._serve(item)

    def _serve(self, item: Item) -> None:
        """The item has its servers: record its wait and set the timer of its hold."""
        now = self.env.now
        self.waits.append(now - item.t_queue)
        if self._custom_start:
            self.on_start(item)
        elif self.tracing:
            self.log("start", item)
        hold = self.hold_sampler() if self.hold_sampler is not None else self.hold_time(item)
        heap = self._heap
        if heap is not None:  # call_later(hold, self._finished, item), inlined
            job = _new_timer(Timer)
            job.callback = self._on_finished
            job._value = item
            heappush(heap, (now + hold * self.slowdown, NORMAL, next(self._ids), job))
            item.job = job
        else:
            item.job = self.call_later(hold * self.slowdown, self._finished, item)
        self.serving[item] = None

    def _finished(self, job: Any) -> None:
        item: Item = job._value
        if item.job is not job:
            self.abandoned(job)
            return
        item.job = None  # the hold is over; the item keeps its servers until it is handed on
        del self.serving[item]
        if self._custom_served and not self.served(item):
            return
        t_in = item.t_in
        if self._custom_route:
            if not self.route(item, self._left):
                return
        elif self.single_target is not None:  # forward(item, ...), inlined for one out-edge
            target = self.single_target
            if not (target.try_put(item) or self._blocked_on(target, item, self._left, t_in)):
                return
        elif not self.forward(item, self._left):
            return
        self._left(item, t_in)

    def free_servers(self, item: Item) -> None:
        """The item gives its servers back without leaving (an error, a timeout): start the next."""
        self.change_busy(-1 if self.unit_slots else -self.slots_for(item))
        self.dispatch()

    def release(self, item: Item) -> None:
        """Hand the served item on; it keeps its servers until the next node takes it."""
        t_in = item.t_in
        if self.route(item, self._left) if self._custom_route else self.forward(item, self._left):
            self._left(item, t_in)

    def _left(self, item: Item, t_in: float) -> None:
        """The item was handed on: count it and give its server to the head of the line."""
        now = self.env.now
        n = item.n
        self.n_inside -= n  # change_inside(-n), inlined
        self._inside_acc += n * now
        self.completed += n
        self.sojourns.append(now - t_in)
        if self._custom_left:
            self.on_left(item, now - t_in)
        elif self.tracing:
            self.log("leave", item)
        queue = self.queue
        if not self._fifo:
            self.change_busy(-self.slots_for(item))
            if self.n_waiting:
                self.dispatch()
        elif queue and not self._faults and self.busy <= self.servers:
            # the server goes straight to the head (`busy -= 1` then `_start(head)`, inlined: busy stands)
            head = queue.popleft()
            self.n_waiting -= head.n  # change_waiting(-head.n), inlined
            self._waiting_acc += head.n * now
            self._serve(head)
            if queue and self.busy < self.servers:
                self.dispatch()
        else:
            self.busy -= 1  # change_busy(-1), inlined
            self._busy_acc += now
        if self._blocked:
            self.space_freed()

    def interrupt(self) -> list[Item]:
        """An outage: every item in service gives its servers back; returned in start order."""
        interrupted = list(self.serving)
        self.serving.clear()
        for item in interrupted:
            self.change_busy(-self.slots_for(item))
            item.job = None
        return interrupted
