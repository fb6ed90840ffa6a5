"""What every node of one replication shares: the clock, the random streams, the window."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import simpy

from flowsim.engine.clock import Timer


def _key(text: str) -> int:
    """A stable 32-bit key for a name (Python's hash() differs between processes)."""
    return zlib.crc32(text.encode("utf-8"))


class Later(Protocol):
    """`later(delay, callback, value)`: call `callback(timer)` after `delay`; `timer._value` is `value`.

    The timer (a `Timer` of the kernel's clock, a `simpy.Timeout` elsewhere) is returned; a node
    keeps it to recognise a superseded one by identity.
    """

    def __call__(self, delay: float, callback: Callable[[Any], None], value: Any = None, /) -> Timer | simpy.Event: ...


def _later_on(env: simpy.Environment) -> Later:
    """`later` for an environment without one: a timeout and its callback."""

    def later(delay: float, callback: Callable[[Any], None], value: Any = None, /) -> Timer | simpy.Event:
        event = env.timeout(delay, value)
        event.callbacks.append(callback)
        return event

    return later


@dataclass
class SimContext:
    """One replication's shared state.

    Random streams are derived from the replication's seed sequence and the (node, purpose)
    names, never from creation order: adding a node does not shift another node's numbers,
    and two designs with the same source names see the same arrivals (common random numbers).
    """

    env: simpy.Environment
    seed: np.random.SeedSequence
    warmup: float
    horizon: float
    load_multiplier: float = 1.0
    #: when a list, nodes append (time, node, event, item key) to it: exact traces for tests and debugging
    trace: list[tuple[float, str, str, int]] | None = None
    streams: dict[tuple[str, str], np.random.Generator] = field(default_factory=dict)
    #: state several nodes of one replication share, by name (the DAGs' Airflow installation)
    shared: dict[str, Any] = field(default_factory=dict)
    #: schedule a callback: ``ctx.later(delay, callback, value)`` is processed where
    #: ``env.timeout(delay, value).callbacks.append(callback)`` would be, at less cost with the kernel's clock
    later: Later = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        own = getattr(self.env, "later", None)
        self.later = own if own is not None else _later_on(self.env)
        #: the kernel clock's heap and id counter (None on a plain SimPy environment): a hot path may
        #: push ``(now + delay, NORMAL, next(ids), timer)`` itself, the very entry ``later`` would push
        self.heap: list[Any] | None = getattr(self.env, "heap", None)
        self.ids: Iterator[int] | None = getattr(self.env, "ids", None)

    def rng(self, node: str, purpose: str) -> np.random.Generator:
        key = (node, purpose)
        if key not in self.streams:
            seq = np.random.SeedSequence(self.seed.entropy, spawn_key=(*self.seed.spawn_key, _key(node), _key(purpose)))
            self.streams[key] = np.random.Generator(np.random.PCG64(seq))
        return self.streams[key]

    @property
    def now(self) -> float:
        return float(self.env.now)
