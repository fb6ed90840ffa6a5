"""The stationary queue formulas the fluid engine evaluates at each step's load.

Infinite waiting room: M/M/c's chance to wait (Erlang C) and the mean wait of those who wait,
1 / (c mu - lambda), scaled by Allen-Cunneen's (ca^2 + cs^2) / 2 for general arrivals and service.

A finite room (K in the node) that drops: M/M/c/K with its waiting room scaled by
2 / (ca^2 + cs^2).  In heavy traffic the queue is a reflected Brownian motion whose variance
grows with (ca^2 + cs^2) / 2 (Whitt, "Heavy-traffic limits for loss proportions in single-server
queues", Queueing Systems 46, 2004); M/M/c/K' with K' - c = (K - c) 2 / (ca^2 + cs^2) has the
same loss to that order (at rho = 1 the loss is about 1 / (waiting room): scaling the room by
the variability scales the loss by it), and its waits, counted in the scaled room, are
multiplied back by (ca^2 + cs^2) / 2.  With Poisson arrivals and exponential service it is
M/M/c/K itself.
"""

from __future__ import annotations

import math
from functools import lru_cache

from flowsim.analysis.queueing import erlang_b, mmck_states

#: waiting places past this are evaluated as this many: below saturation the chance to find more
#: waiting is under rho^10,000 (nothing), and in overload the loss share, 1 - 1/rho to first order,
#: does not depend on the room (M/M/c/K sums one term per place: a capacity of 10^8 would be 10^8)
MAX_ROOM = 10_000


def erlang_c(c: int, a: float) -> float:
    """The chance an arrival waits in M/M/c with offered load a (< c) erlangs (Erlang B's recursion,
    in closed form past 10,000 servers)."""
    b = erlang_b(c, a)
    return c * b / (c - a * (1 - b))


@lru_cache(maxsize=8192)
def finite(a: float, c: int, k: int) -> tuple[float, float, float]:
    """M/M/c/K at a erlangs (time in mean services): (P(full) = the loss, the chance an admitted
    arrival waits, the mean wait of those who wait), from the same state distribution as mmck."""
    if a <= 0:
        return 0.0, 0.0, 0.0
    p = mmck_states(a, c, k)
    admitted = 1.0 - p[k]
    p_wait = math.fsum(p[c:k]) / admitted if admitted > 0 else 1.0
    lq = math.fsum((n - c) * p[n] for n in range(c + 1, k + 1))
    wq = lq / (a * admitted) if admitted > 0 else 0.0  # Little, over the admitted
    return p[k], p_wait, (wq / p_wait if p_wait > 0 else 0.0)


def variability(ca2: float, cs2: float) -> float:
    """(ca^2 + cs^2) / 2, kept off 0 (a deterministic D/D/c never queues; the room never fills)."""
    return max((ca2 + cs2) / 2, 0.02)


def bounded(a: float, c: int, k: int, ca2: float, cs2: float) -> tuple[float, float, float, float, int, float]:
    """A dropping node of K places at a erlangs: (loss share, P(wait), mean wait when waiting, rho,
    the waiting places J, the time a place ahead takes), times in mean services, by M/M/c/K with the
    waiting room scaled by the variability (module docstring).  An admitted arrival that waits finds
    j others waiting with chance proportional to rho^j (j < J; PASTA), and waits for j + 1
    departures, each 1 / c service apart (times the variability): an Erlang(j + 1) wait.  Its mean is
    M/M/c/K's Wq / P(wait) (Little's Lq / admitted rate), so W - Wq is the mean service."""
    spread = variability(ca2, cs2)
    room = min(max(0, round((k - c) / spread)), MAX_ROOM)
    rounded = float(f"{a:.3g}")
    loss, p_wait, wq = finite(rounded, c, c + room)
    return loss, p_wait, wq * spread, rounded / c, room, spread / c
