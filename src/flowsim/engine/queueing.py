"""Bookkeeping shared by every node that queues messages for a pool of servers.

Counts of messages waiting and inside, busy servers, and their time integrals: the basis of
utilization (busy / servers, time-weighted), mean queue length and Little's law checks.

Each integral is kept exactly without a step between changes: a count `n` that changes by `d` at
time `t` adds `-d * t` to its accumulator, so at any time `T` the area under `n` since the window
opened is `accumulator + n * T`.  A change costs one multiply-add and nothing runs while the count
stands still.  Every change goes through `change_waiting`, `change_busy`, `change_inside` or
`set_servers` (the serve path inlines the same two statements).
"""

from __future__ import annotations

from typing import Any

from flowsim.engine.context import SimContext
from flowsim.engine.node import NodeRuntime


class QueueingRuntime(NodeRuntime):
    """A node runtime with a queue in front of `servers` servers (their number may change)."""

    has_queue = True

    def __init__(self, name: str, config: Any, ctx: SimContext, servers: int) -> None:
        super().__init__(name, config, ctx)
        self.n_waiting = 0  # messages waiting for a server
        self.n_inside = 0  # messages anywhere in the node
        self.busy = 0  # servers occupied
        self.servers = servers
        self._waiting_acc = self._busy_acc = self._inside_acc = self._servers_acc = 0.0

    def reset_counters(self) -> None:
        super().reset_counters()
        now = self.env.now  # the areas start at 0 now: acc + n * now == 0
        self._waiting_acc = -self.n_waiting * now
        self._busy_acc = -self.busy * now
        self._inside_acc = -self.n_inside * now
        self._servers_acc = -self.servers * now

    # ---- changes of the counts -----------------------------------------------------------
    def change_waiting(self, delta: int) -> None:
        self._waiting_acc -= delta * self.env.now
        self.n_waiting += delta

    def change_busy(self, delta: int) -> None:
        self._busy_acc -= delta * self.env.now
        self.busy += delta

    def change_inside(self, delta: int) -> None:
        self._inside_acc -= delta * self.env.now
        self.n_inside += delta

    def set_servers(self, servers: int) -> None:
        self._servers_acc -= (servers - self.servers) * self.env.now
        self.servers = servers

    # ---- time integrals over the window, up to now ---------------------------------------
    @property
    def area_waiting(self) -> float:
        return self._waiting_acc + self.n_waiting * self.env.now

    @property
    def area_busy(self) -> float:
        return self._busy_acc + self.busy * self.env.now

    @property
    def area_inside(self) -> float:
        return self._inside_acc + self.n_inside * self.env.now

    @property
    def area_servers(self) -> float:
        return self._servers_acc + self.servers * self.env.now

    def inside(self) -> int:
        return self.n_inside

    def waiting(self) -> int:
        return self.n_waiting

    def busy_servers(self) -> float:
        return float(self.busy)

    def queue_figures(self, window: float) -> dict[str, float]:
        """Utilization and time-weighted means over the measured window."""
        span = window if window > 0 else 1.0
        area_servers = self.area_servers
        return {
            "utilization": self.area_busy / area_servers if area_servers else 0.0,
            "mean_queue_length": self.area_waiting / span,
            "mean_in_node": self.area_inside / span,
        }
