"""Work items: what flows along the edges of an architecture."""

from __future__ import annotations

from typing import Any


class Item:
    """A unit of work standing for ``n`` messages (one Kafka batch, one request, one file).

    The per-visit fields (``t_in``, ``t_queue``, ``attempt``, ``job``) belong to the node the item
    is in right now; an item is inside exactly one node at a time (fan-out makes copies).
    """

    __slots__ = ("attempt", "born", "job", "key", "n", "payload", "t_in", "t_queue", "timer")

    def __init__(self, born: float, n: int = 1, key: int = 0) -> None:
        self.born = born  # creation time at the source: end-to-end latency starts here
        self.n = n
        self.key = key
        self.t_in = born
        self.t_queue = born
        self.attempt = 0
        self.job: Any = None  # the pending completion event of the current attempt
        self.timer: Any = None  # the pending timeout event of the current attempt
        self.payload: Any = None  # kind-specific data (e.g. a model version)

    def copy(self) -> Item:
        twin = Item(self.born, self.n, self.key)
        twin.payload = self.payload
        return twin

    def __repr__(self) -> str:
        return f"Item(born={self.born:g}, n={self.n})"
