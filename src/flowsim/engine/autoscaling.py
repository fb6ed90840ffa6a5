"""The Kubernetes HPA's rules for a scaling decision, shared by every autoscaled kind.

The HPA "skips any scaling action if the ratio is sufficiently close to 1.0" (its tolerance,
10% by default), and its default scale-up policies let one step add at most 4 pods or 100% of
the current ones, whichever allows more.  A scale-down is stabilised: the HPA scales down only to
the highest count it recommended over the last `stabilizationWindowSeconds` (300 s by default),
so a brief dip in load does not remove replicas that the next minute needs again (the
controller's `stabilizeRecommendation`; a scale-up has no window by default).  A kind measures
its own metric (utilization, lag per consumer) and asks here how many it may have.
"""

from __future__ import annotations

import math
from collections import deque


def hpa_step(
    have: int, wanted: int, ratio: float, tolerance: float, pods: int, percent: float,
    window: ScaleDownWindow | None = None, now: float = 0.0,
) -> int:  # fmt: skip
    """The count after one decision: `have` while `ratio` (metric / target) is within 1 +- `tolerance`,
    else `wanted`; a scale-down no lower than the `window`'s highest recent recommendation; a
    scale-up of at most max(`pods`, `percent`% of `have`) in one step."""
    if have and abs(ratio - 1.0) <= tolerance:
        wanted = have  # the replica calculator's answer within the tolerance: what is running
    if window is not None:
        wanted = window.stabilized(now, have, wanted)
    return min(wanted, have + max(pods, math.floor(have * percent / 100)))


class ScaleDownWindow:
    """The HPA's scale-down stabilisation: the recommendations of the last `window` seconds.

    `stabilized(now, have, wanted)` records `wanted` and returns what the HPA acts on: `wanted`
    when it is no scale-down, else the highest recommendation within the window (this one
    included), which is never below `wanted` and never above `have` for a scale-down.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._recent: deque[tuple[float, int]] = deque()  # (time, recommendation), oldest first

    def stabilized(self, now: float, have: int, wanted: int) -> int:
        recent = self._recent
        while recent and recent[0][0] <= now - self.window:  # the HPA keeps those after the cutoff
            recent.popleft()
        highest = max((n for _, n in recent), default=wanted)
        recent.append((now, wanted))
        if wanted >= have:
            return wanted
        return min(have, max(wanted, highest))
