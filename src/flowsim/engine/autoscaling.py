"""The Kubernetes HPA's rule for one scaling decision, shared by every autoscaled kind.

The HPA "skips any scaling action if the ratio is sufficiently close to 1.0" (its tolerance,
10% by default), and its default scale-up policies let one step add at most 4 pods or 100% of
the current ones, whichever allows more.  A kind measures its own metric (utilization, lag per
consumer) and asks here how many it may have.
"""

from __future__ import annotations

import math


def hpa_step(have: int, wanted: int, ratio: float, tolerance: float, pods: int, percent: float) -> int:
    """The count after one decision: `have` while `ratio` (metric / target) is within 1 +- `tolerance`,
    else `wanted`, raised by at most max(`pods`, `percent`% of `have`) in one step."""
    if have and abs(ratio - 1.0) <= tolerance:
        return have
    return min(wanted, have + max(pods, math.floor(have * percent / 100)))
