"""How fast a backlog spread over partitions drains: the closed-network view of a producer buffer.

A topic's buffered items sit at random partitions (by the partitioner's shares) and each partition
writes its own at its own rate, so with n items buffered some partitions can be empty while others
queue.  Given the total n, the items are spread as in a closed network of single-server stations
(the conditional law of a Jackson network given its population; Gordon & Newell 1967), whose
throughput X(n) follows from mean value analysis (Reiser & Lavenberg 1980).  A blocked producer
keeps the buffer full, so it sees exactly that closed network with n = buffer / item size: the
partitions write X(n) < their nominal rate.  With equal shares X(n) = c mu n / (n + c - 1).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

#: beyond this many items the skewed table is extended by its last value (converged by then)
MVA_ITEMS = 5000


class PartitionSpread:
    """X(n) / X(infinity) for n items over partitions with the given shares of the writes."""

    def __init__(self, weights: np.ndarray) -> None:
        self.c = len(weights)
        self.uniform = bool(np.allclose(weights, weights[0]))
        self.table: np.ndarray | None = None
        if not self.uniform:
            demand = np.asarray(weights, dtype=float) / float(np.max(weights))  # X(inf) = 1
            queue = np.zeros(self.c)
            table = [0.0]
            for n in range(1, MVA_ITEMS + 1):
                response = demand * (1.0 + queue)
                x = n / float(response.sum())
                queue = x * response
                table.append(x)
            self.table = np.asarray(table)

    def share(self, items: float) -> float:
        """The partitions' write rate with `items` buffered, as a share of their nominal rate."""
        if items <= 0:
            return 0.0
        if self.uniform:
            return items / (items + self.c - 1)
        assert self.table is not None
        if items >= MVA_ITEMS:
            return float(self.table[-1])
        low = math.floor(items)
        frac = items - low
        return float(self.table[low] * (1 - frac) + self.table[min(low + 1, MVA_ITEMS)] * frac)


@lru_cache(maxsize=1024)
def _poll_law(items: int, c: int, batch: int) -> np.ndarray:
    """Cumulative law of j, the client batches queued at the partition a poll comes from, with
    `items` over c equal partitions: the closed network's marginal P(j) ~ C(items - j + c - 2, c - 2),
    weighted by polls, a partition with j queued writing batches of min(j, batch) at a time."""
    j = np.arange(items + 1, dtype=float)
    logs = np.array([math.lgamma(items - k + c - 1) - math.lgamma(items - k + 1) for k in range(items + 1)])
    weights = np.exp(logs - logs.max()) / np.maximum(np.minimum(j, batch), 1.0)
    weights[0] = 0.0
    cumulative: np.ndarray = np.cumsum(weights) / weights.sum()
    return cumulative


def poll_waits(items: np.ndarray, unit: np.ndarray, c: int, batch: np.ndarray,
               stream: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Waits in a full buffer spread over c equal partitions, per poll (latency is per item): j
    client batches ahead at its partition (see `_poll_law`), each `unit` seconds of writes."""
    out = np.zeros(len(items))
    n = np.maximum(np.rint(items), 1).astype(int)
    b = np.maximum(np.rint(batch), 1).astype(int)
    u = stream.random(len(items))
    for key in set(zip(n.tolist(), b.tolist(), strict=True)):
        mine = (n == key[0]) & (b == key[1])
        law = _poll_law(min(key[0], 20_000), c, key[1])
        out[mine] = np.searchsorted(law, u[mine]) * unit[mine]
    return out
