"""The kernel's clock: a `simpy.Environment` with a lean event loop and cheap timers.

Everything SimPy offers keeps working (processes, resources, conditions, `step`,
`run(until=event)`), and events are processed in exactly SimPy's order: by (time, priority,
insertion id), with the ids drawn from the same counter, so a run gives the same trace event for
event.  What it saves is what flowsim does not need on each event:

- `run(until=t)` is one loop over the heap: no `step()` call per event, no stop event and its
  `StopSimulation` exception, no `EmptySchedule` check.  It still draws the id SimPy's urgent
  stop event at `t` would take, and stops exactly where that event would have been processed.
- `now` is a plain attribute (SimPy's is a property), read several times per event by the nodes;
  SimPy's own `_now` is an alias of it.
- `timeout(delay, value)` builds a `simpy.Timeout` without the constructor chain
  (`Timeout.__init__`, then `schedule`), and `later(delay, callback, value)` also attaches the
  callback: a timer in one call.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from types import MethodType
from typing import Any

import simpy
from simpy.core import SimTime
from simpy.events import NORMAL, URGENT, AllOf, AnyOf, Event, EventPriority, Process, Timeout

Callback = Callable[[Any], None]
_new_timeout = Timeout.__new__


class Clock(simpy.Environment):
    """A `simpy.Environment` whose loop and timers cost less per event (same order of events)."""

    #: the simulation time, a plain attribute
    now: SimTime = 0  # SimPy's is a read-only property

    def __init__(self, initial_time: SimTime = 0) -> None:
        super().__init__(initial_time)
        # SimPy binds its event classes early only for the class's own attributes: bind the inherited ones.
        self.process = MethodType(Process, self)  # type: ignore[method-assign]
        self.event = MethodType(Event, self)  # type: ignore[method-assign]
        self.all_of = MethodType(AllOf, self)  # type: ignore[method-assign]
        self.any_of = MethodType(AnyOf, self)  # type: ignore[method-assign]

    # ---- timers --------------------------------------------------------------------------
    def timeout(self, delay: SimTime = 0, value: Any = None) -> Timeout:
        """A `simpy.Timeout` of `delay`, as SimPy's own (same id, same place in the order)."""
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")
        event = _new_timeout(Timeout)
        event.env = self
        event.callbacks = []
        event._value = value
        event._delay = delay
        event._ok = True  # an instance attribute: a class default would make every read of it slower
        heappush(self._queue, (self.now + delay, NORMAL, next(self._eid), event))
        return event

    def later(self, delay: SimTime, callback: Callback, value: Any = None) -> Timeout:
        """Call `callback(event)` after `delay`; `event.value` is `value`.

        The same as `timeout(delay, value).callbacks.append(callback)`, in one call.
        """
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")
        event = _new_timeout(Timeout)
        event.env = self
        event.callbacks = [callback]
        event._value = value
        event._delay = delay
        event._ok = True
        heappush(self._queue, (self.now + delay, NORMAL, next(self._eid), event))
        return event

    # ---- the loop ------------------------------------------------------------------------
    @property
    def _now(self) -> SimTime:
        """SimPy's own name for the time (its `step` and `schedule` use it): the same attribute."""
        return self.now

    @_now.setter
    def _now(self, value: SimTime) -> None:
        self.now = value

    def schedule(self, event: Event, priority: EventPriority = NORMAL, delay: SimTime = 0) -> None:
        heappush(self._queue, (self.now + delay, priority, next(self._eid), event))

    def run(self, until: SimTime | Event | None = None) -> Any | None:
        """As SimPy's `run`; a numeric `until` takes the lean loop."""
        if until is None or isinstance(until, Event):
            return super().run(until)
        at: SimTime = until if isinstance(until, int) else float(until)
        if at <= self.now:
            raise ValueError(f"until ({at}) must be greater than the current simulation time")
        # SimPy would schedule an urgent stop event at `at` with the next id and stop when it pops it.
        # Drawing that id and comparing with it instead keeps the heap one entry smaller (cheaper
        # pushes and pops while few events are pending, as in most flowsim models).
        stop = next(self._eid)
        queue = self._queue
        pop = heappop
        while queue:
            now, priority, eid, event = pop(queue)
            if now >= at and (now > at or priority > URGENT or eid > stop):
                heappush(queue, (now, priority, eid, event))  # after the stop: for the next run
                break
            self.now = now
            callbacks, event.callbacks = event.callbacks, None  # type: ignore[assignment]
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                _crash(event)
        self.now = at
        return None


def _crash(event: Event) -> None:
    """A failed event nobody handled ends the run, as in SimPy."""
    exc = type(event._value)(*event._value.args)
    exc.__cause__ = event._value
    raise exc
