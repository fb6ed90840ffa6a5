"""The kernel's `Clock` processes events exactly as `simpy.Environment` does, in the same order.

The same SimPy program (processes, resources, conditions, callbacks on timers, events at the
very instant a `run(until=...)` stops) runs on both, the clock's `later` timers standing in for
timeouts with a callback; the logs of (time, what) must be equal.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
import pytest
import simpy
from simpy.events import URGENT

from flowsim.engine.clock import Clock
from flowsim.engine.context import SimContext

Log = list[tuple[float, str]]


def after(env: simpy.Environment, delay: float, callback: Callable[[Any], None], value: Any) -> None:
    """A callback after `delay`: the clock's `later` timer, or a SimPy timeout with the callback."""
    if isinstance(env, Clock):
        env.later(delay, callback, value)
    else:
        env.timeout(delay, value).callbacks.append(callback)


def program(env: simpy.Environment, seed: int) -> Log:
    """Processes, a Resource, conditions and bare callbacks, on a grid of times that collide."""
    rng = random.Random(seed)
    log: Log = []
    server = simpy.Resource(env, capacity=2)

    def customer(name: str) -> Generator[simpy.Event, Any, None]:
        log.append((env.now, f"{name} arrives"))
        with server.request() as request:
            yield request
            log.append((env.now, f"{name} starts"))
            yield env.timeout(rng.choice([0, 0.5, 1.0, 2.0]))
        log.append((env.now, f"{name} leaves"))
        done = env.timeout(0.5, value=name) | env.timeout(rng.choice([0.25, 0.5, 1.0]))
        values = yield done
        log.append((env.now, f"{name} condition {sorted(str(v) for v in values.values())}"))

    def source() -> Generator[simpy.Event, Any, None]:
        for k in range(60):
            yield env.timeout(rng.choice([0, 0.5, 1.0]))
            env.process(customer(f"c{k}"))

    def tick(event: Any) -> None:
        log.append((env.now, f"tick {event.value}"))
        if event.value < 40:
            after(env, rng.choice([0.5, 1.0]), tick, event.value + 1)

    def urgent(event: simpy.Event) -> None:
        # scheduled by hand with URGENT priority on the stop times: from an integer time, in a later
        # run (processed before that run's stop); from a half, in the same run (processed after it)
        log.append((env.now, f"urgent {event.value}"))
        if event.value < 30:
            again = env.event()
            again._ok, again._value = True, event.value + 1
            again.callbacks.append(urgent)
            env.schedule(again, URGENT, 2.0 if event.value % 2 == 0 else 0.5)

    env.process(source())
    after(env, 0, tick, 0)
    first = env.event()
    first._ok, first._value = True, 0
    first.callbacks.append(urgent)
    env.schedule(first, URGENT, 1.0)
    return log


@pytest.mark.parametrize("seed", range(5))
def test_same_order_as_simpy_in_steps(seed: int) -> None:
    def run(env: simpy.Environment) -> Log:
        log = program(env, seed)
        for step in range(1, 41):
            env.run(until=step * 1.0)  # many events fall exactly on the stop times
            log.append((env.now, "stop"))
        return log

    expected = run(simpy.Environment())
    assert run(Clock()) == expected
    assert len(expected) > 300


def test_same_order_as_simpy_to_the_end_and_until_an_event() -> None:
    def run(env: simpy.Environment) -> Log:
        log = program(env, 7)
        stop = env.timeout(5.0, "five")
        assert env.run(until=stop) == "five"  # SimPy's own loop, calling `step`: timers too
        log.append((env.now, "stop at the event"))
        for _ in range(25):
            env.step()
            log.append((env.now, "step"))
        env.run()
        log.append((env.now, "empty"))
        return log

    assert run(Clock()) == run(simpy.Environment())


def test_now_is_kept_in_step() -> None:
    env = Clock()
    seen: list[float] = []
    env.timeout(1.5).callbacks.append(lambda _e: seen.append(env.now))
    env.step()
    assert seen == [1.5] and env.now == 1.5
    env.run(until=4)
    assert env.now == 4 and env.peek() == float("inf")
    with pytest.raises(ValueError, match="must be greater"):
        env.run(until=3)


def test_later_is_a_timeout_with_its_callback() -> None:
    def run(schedule: Callable[[Clock, float, Callable[[Any], None], int], None]) -> Log:
        env = Clock()
        log: Log = []
        for k, delay in enumerate([2.0, 1.0, 1.0, 0.0, 2.0]):
            schedule(env, delay, lambda e: log.append((env.now, f"timer {e._value}")), k)
        env.run(until=10)
        return log

    with_later = run(lambda env, d, cb, v: env.later(d, cb, v) and None)
    with_timeout = run(lambda env, d, cb, v: env.timeout(d, v).callbacks.append(cb))
    assert (
        with_later
        == with_timeout
        == [(0.0, "timer 3"), (1.0, "timer 1"), (1.0, "timer 2"), (2.0, "timer 0"), (2.0, "timer 4")]
    )
    with pytest.raises(ValueError, match="Negative delay"):
        Clock().later(-1, print)


def test_a_failed_process_nobody_waits_for_crashes_the_run() -> None:
    def broken(env: simpy.Environment) -> Generator[simpy.Event, Any, None]:
        yield env.timeout(1)
        raise KeyError("boom")

    env = Clock()
    env.process(broken(env))
    with pytest.raises(KeyError, match="boom"):
        env.run(until=5)


@pytest.mark.parametrize("make", [Clock, simpy.Environment])
def test_context_later_on_any_environment(make: Callable[[], simpy.Environment]) -> None:
    env = make()
    ctx = SimContext(env=env, seed=np.random.SeedSequence(1), warmup=0.0, horizon=10.0)
    log: Log = []
    event = ctx.later(2.0, lambda e: log.append((env.now, e._value)), "two")
    ctx.later(1.0, lambda e: log.append((env.now, e._value)))
    env.run(until=5)
    assert log == [(1.0, None), (2.0, "two")] and event._value == "two"
