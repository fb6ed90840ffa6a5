"""Bookkeeping shared by every node that queues messages for a pool of servers.

Counts of messages waiting and inside, busy servers, and their time integrals: the basis of
utilization (busy / servers, time-weighted), mean queue length and Little's law checks.  Kinds
call `_advance()` before each change of state; `queue_figures()` turns the integrals into figures.
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
        self._t_last = 0.0

    def reset_counters(self) -> None:
        super().reset_counters()
        self.area_waiting = self.area_busy = self.area_inside = self.area_servers = 0.0
        self._t_last = self.env.now

    def _advance(self) -> None:
        now = self.env.now
        dt = now - self._t_last
        if dt:
            self.area_waiting += self.n_waiting * dt
            self.area_busy += self.busy * dt
            self.area_inside += self.n_inside * dt
            self.area_servers += self.servers * dt
            self._t_last = now

    def inside(self) -> int:
        return self.n_inside

    def waiting(self) -> int:
        return self.n_waiting

    def busy_servers(self) -> float:
        return float(self.busy)

    def queue_figures(self, window: float) -> dict[str, float]:
        """Utilization and time-weighted means over the measured window."""
        self._advance()
        span = window if window > 0 else 1.0
        return {
            "utilization": self.area_busy / self.area_servers if self.area_servers else 0.0,
            "mean_queue_length": self.area_waiting / span,
            "mean_in_node": self.area_inside / span,
        }
