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


def item_waits(items: np.ndarray, unit: np.ndarray, c: int, write_scv: float,
               stream: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Waits of items entering a full buffer spread over c equal partitions.

    By the arrival theorem an item joining the closed network of `items` sees the other
    items - 1 spread as in equilibrium: the share J/(items - 1) at its partition is Beta(1, c - 1)
    in the product form (exponential writes), mean 1/c, so the mean wait (J + 1) x unit is
    ((items - 1)/c + 1) x unit, which is Little's buffer / throughput.  Writes of a given length
    spread the partitions more evenly: the variance of the share is scaled by (1 + write_scv)/2,
    the heavy-traffic factor of the writes' variability, keeping its mean (Beta(a, a(c - 1)) with
    a = ((c + 1)/f - 1)/c); the kernel writes batches in fixed time (write_scv 0: half the spread).
    """
    f = max((1.0 + write_scv) / 2.0, 1e-3)
    if c <= 1:
        share = np.ones(len(items))
    else:
        a = ((c + 1) / f - 1) / c
        share = stream.beta(a, a * (c - 1), size=len(items))
    ahead = np.maximum(items - 1.0, 0.0) * share
    waits: np.ndarray = (ahead + 1.0) * unit
    return waits
