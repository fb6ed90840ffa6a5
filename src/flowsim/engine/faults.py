"""Faults: take a node down on a schedule or at random, and bring it back."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Protocol

import simpy

from flowsim.engine.context import SimContext
from flowsim.spec.policies import FaultSpec


class Fallible(Protocol):
    def go_down(self) -> None: ...
    def go_up(self) -> None: ...
    def slow_down(self, factor: float) -> None: ...
    def speed_up(self, factor: float) -> None: ...


class _Brownout:
    """Adapts a slowdown fault to the down/up protocol the fault processes drive."""

    def __init__(self, node: Fallible, factor: float) -> None:
        self.node, self.factor = node, factor

    def go_down(self) -> None:
        self.node.slow_down(self.factor)

    def go_up(self) -> None:
        self.node.speed_up(self.factor)


def start_fault(fault: FaultSpec, node: Fallible, ctx: SimContext, index: int) -> None:
    """Start the SimPy process that drives one fault of one node."""
    target: Any = node if fault.slowdown is None else _Brownout(node, fault.slowdown)
    if fault.at is not None and fault.for_ is not None:
        ctx.env.process(_scheduled(ctx.env, target, fault.at, fault.for_, fault.every))
    else:
        assert fault.mtbf is not None and fault.mttr is not None
        rng = ctx.rng(fault.node, f"fault{index}")
        up, repair = fault.mtbf.sampler(rng), fault.mttr.sampler(rng)
        ctx.env.process(_random(ctx.env, target, fault.start, up, repair))


def _scheduled(
    env: simpy.Environment, node: Fallible, at: float, length: float, every: float | None
) -> Generator[simpy.Event, Any, None]:
    yield env.timeout(at)
    while True:
        node.go_down()
        yield env.timeout(length)
        node.go_up()
        if every is None:
            return
        yield env.timeout(every - length)


def _random(
    env: simpy.Environment, node: Fallible, start: float, up: Any, repair: Any
) -> Generator[simpy.Event, Any, None]:
    yield env.timeout(start)
    while True:
        yield env.timeout(up())
        node.go_down()
        yield env.timeout(repair())
        node.go_up()
