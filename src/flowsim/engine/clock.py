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
  (`Timeout.__init__`, then `schedule`).
- `later(delay, callback, value)` schedules a `Timer`: one callback and a value, no callback
  list, no success flag, no environment.  It takes its place in the heap and the order like any
  event (same id counter, normal priority); the loop calls its callback directly.  A `Timer` is
  not a SimPy event: a process cannot yield it (use `timeout`).
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


class Timer:
    """A callback due at a time, made by `Clock.later`: `callback(timer)` runs then.

    `_value` (also `value`) is what it carries, as a `simpy.Timeout`'s, so callbacks read
    either the same way.  Identity is what tells timers apart (a node ignores a superseded one).
    """

    __slots__ = ("_value", "callback")

    def __init__(self, callback: Callback, value: Any = None) -> None:
        self.callback = callback
        self._value = value

    @property
    def value(self) -> Any:
        return self._value

    def __repr__(self) -> str:
        return f"Timer({getattr(self.callback, '__qualname__', self.callback)!r}, value={self._value!r})"


_new_timer = Timer.__new__


class Clock(simpy.Environment):
    """A `simpy.Environment` whose loop and timers cost less per event (same order of events)."""

    #: the simulation time, a plain attribute
    now: SimTime = 0  # SimPy's is a read-only property
    #: SimPy's heap of (time, priority, id, event), where timers take their places too
    _queue: list[tuple[SimTime, EventPriority, int, Event | Timer]]  # type: ignore[assignment]

    def __init__(self, initial_time: SimTime = 0) -> None:
        super().__init__(initial_time)
        #: the heap and the id counter, for hot paths that push `(now + delay, NORMAL, next(ids), timer)`
        #: themselves (a reused `Timer`, no call): the same entry `later` would push
        self.heap = self._queue
        self.ids = self._eid
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

    def later(self, delay: SimTime, callback: Callback, value: Any = None) -> Timer:
        """Call `callback(timer)` after `delay`; `timer.value` is `value`.

        Where `timeout(delay, value).callbacks.append(callback)` would be processed, at a
        fraction of the cost; returns the `Timer`.
        """
        if delay < 0:
            raise ValueError(f"Negative delay {delay}")
        timer = _new_timer(Timer)
        timer.callback = callback
        timer._value = value
        heappush(self._queue, (self.now + delay, NORMAL, next(self._eid), timer))
        return timer

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

    def step(self) -> None:
        """Process the next event or timer (SimPy's `step`, which `run(until=event)` uses)."""
        if self._queue:
            timer = self._queue[0][3]
            if type(timer) is Timer:
                self.now = heappop(self._queue)[0]
                timer.callback(timer)
                return
        super().step()

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
            if type(event) is Timer:
                event.callback(event)
                continue
            # a SimPy event (mypy does not narrow on `type(...) is` after the `continue`)
            callbacks, event.callbacks = event.callbacks, None  # type: ignore[union-attr]
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):  # type: ignore[union-attr]
                _crash(event)  # type: ignore[arg-type]
        self.now = at
        return None


def _crash(event: Event) -> None:
    """A failed event nobody handled ends the run, as in SimPy."""
    exc = type(event._value)(*event._value.args)
    exc.__cause__ = event._value
    raise exc
