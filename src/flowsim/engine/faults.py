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


def start_fault(fault: FaultSpec, node: Fallible, ctx: SimContext, index: int) -> None:
    """Start the SimPy process that drives one fault of one node."""
    if fault.at is not None and fault.for_ is not None:
        ctx.env.process(_scheduled(ctx.env, node, fault.at, fault.for_, fault.every))
    else:
        assert fault.mtbf is not None and fault.mttr is not None
        rng = ctx.rng(fault.node, f"fault{index}")
        up, repair = fault.mtbf.sampler(rng), fault.mttr.sampler(rng)
        ctx.env.process(_random(ctx.env, node, fault.start, up, repair))


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
