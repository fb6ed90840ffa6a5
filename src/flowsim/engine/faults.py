"""Faults: take a node down on a schedule or at random, and bring it back.

The kernel drives every fault through the node's `fault_begin` / `fault_end` (an outage) or
`brownout_begin` / `brownout_end` (a slow-down); the node counts nested and overlapping faults
itself, so a kind only ever sees its first outage begin and its last one end.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Protocol

import simpy

from flowsim.engine.context import SimContext
from flowsim.engine.sampling import Sampler


class Law(Protocol):
    def sampler(self, rng: Any) -> Sampler: ...


class FaultPlan(Protocol):
    """What the kernel needs of a fault (the scenario's `FaultSpec` is one)."""

    @property
    def node(self) -> str: ...
    @property
    def at(self) -> float | None: ...
    @property
    def for_(self) -> float | None: ...
    @property
    def every(self) -> float | None: ...
    @property
    def mtbf(self) -> Law | None: ...
    @property
    def mttr(self) -> Law | None: ...
    @property
    def start(self) -> float: ...
    @property
    def slowdown(self) -> float | None: ...


class Fallible(Protocol):
    def fault_begin(self) -> None: ...
    def fault_end(self) -> None: ...
    def brownout_begin(self, factor: float) -> None: ...
    def brownout_end(self, factor: float) -> None: ...


def start_fault(fault: FaultPlan, node: Fallible, ctx: SimContext, index: int) -> None:
    """Start the SimPy process that drives one fault of one node."""
    if fault.slowdown is None:
        begin: Callable[[], None] = node.fault_begin
        end: Callable[[], None] = node.fault_end
    else:
        factor = fault.slowdown
        begin, end = (lambda: node.brownout_begin(factor)), (lambda: node.brownout_end(factor))
    if fault.at is not None and fault.for_ is not None:
        ctx.env.process(_scheduled(ctx.env, begin, end, fault.at, fault.for_, fault.every))
    else:
        assert fault.mtbf is not None and fault.mttr is not None
        rng = ctx.rng(fault.node, f"fault{index}")
        up, repair = fault.mtbf.sampler(rng), fault.mttr.sampler(rng)
        ctx.env.process(_random(ctx.env, begin, end, fault.start, up, repair))


def _scheduled(
    env: simpy.Environment, begin: Callable[[], None], end: Callable[[], None], at: float, length: float,
    every: float | None,
) -> Generator[simpy.Event, Any, None]:  # fmt: skip
    yield env.timeout(at)
    while True:
        begin()
        yield env.timeout(length)
        end()
        if every is None:
            return
        yield env.timeout(every - length)


def _random(
    env: simpy.Environment, begin: Callable[[], None], end: Callable[[], None], start: float, up: Sampler,
    repair: Sampler,
) -> Generator[simpy.Event, Any, None]:  # fmt: skip
    yield env.timeout(start)
    while True:
        yield env.timeout(up())
        begin()
        yield env.timeout(repair())
        end()
