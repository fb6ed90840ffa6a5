"""Nodes without servers that hold items for a while and hand them on (delay, data_quality, ...)."""

from __future__ import annotations

from typing import Any

from flowsim.engine.context import SimContext
from flowsim.engine.item import Item
from flowsim.engine.node import NodeRuntime


class HoldingRuntime(NodeRuntime):
    """A node without servers that holds items for a while, then hands them on (a delay, a tap).

    `admit` counts an item in; `pass_on` forwards it and, once handed over, counts it completed
    with its time inside (captured before the hand-over, which resets the item's arrival time).
    """

    def __init__(self, name: str, config: Any, ctx: SimContext) -> None:
        super().__init__(name, config, ctx)
        self.n_inside = 0

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
