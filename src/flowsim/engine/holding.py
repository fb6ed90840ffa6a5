"""Nodes without servers that hold items for a while and hand them on (delay, data_quality, ...)."""

from __future__ import annotations

import math
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
        self.n_inside = 0
        self._inside_area = 0.0  # integral of n_inside over the window (exact: it changes only here)
        self._inside_since = 0.0
        super().__init__(name, config, ctx)

    def reset_counters(self) -> None:
        super().reset_counters()
        self._inside_area, self._inside_since = 0.0, self.env.now

    def change_inside(self, delta: int) -> None:
        """Every change of `n_inside` goes through here, so its time average is exact."""
        now = self.env.now
        self._inside_area += self.n_inside * (now - self._inside_since)
        self._inside_since = now
        self.n_inside += delta

    def figures(self, window: float) -> dict[str, float]:
        """`mean_in_node`: the time-weighted mean of the messages inside over the window."""
        self.change_inside(0)
        mean = self._inside_area / window if window > 0 else math.nan
        return super().figures(window) | {"mean_in_node": mean}

    def admit(self, item: Item) -> None:
        self.arrivals += item.n
        self.change_inside(item.n)
        item.t_in = self.env.now

    def pass_on(self, item: Item) -> None:
        t_in = item.t_in
        if self.forward(item, self._handed_on):
            self._handed_on(item, t_in)

    def _handed_on(self, item: Item, t_in: float) -> None:
        self.change_inside(-item.n)
        self.completed += item.n
        self.sojourns.append(self.env.now - t_in)

    def inside(self) -> int:
        return self.n_inside
