"""Faults as the fluid engine sees them: per node and step, the share of the step it was up and
the capacity it had (outages take it to 0, brownouts divide it by the product of the slowdowns).

Same semantics as the kernel: overlapping outages count once (a node is down while at least one
runs), scheduled faults repeat with `every`, random ones alternate mtbf / mttr draws from a
seeded stream per fault.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flowsim.fluid.support import rng
from flowsim.policies import FaultSpec


@dataclass
class Interval:
    start: float
    end: float
    slowdown: float | None  # None: an outage


def intervals(fault: FaultSpec, horizon: float, seed: np.random.SeedSequence, index: int) -> list[Interval]:
    """Every interval a fault is active before `horizon`."""
    result: list[Interval] = []
    if fault.at is not None and fault.for_ is not None:
        t = fault.at
        while t < horizon:
            result.append(Interval(t, t + fault.for_, fault.slowdown))
            if fault.every is None:
                break
            t += fault.every
        return result
    assert fault.mtbf is not None and fault.mttr is not None
    stream = rng(seed, fault.node, f"fault{index}")
    t = fault.start
    while True:
        t += float(fault.mtbf.draw(stream, 1)[0])
        if t >= horizon:
            return result
        repair = float(fault.mttr.draw(stream, 1)[0])
        result.append(Interval(t, t + repair, fault.slowdown))
        t += repair


@dataclass
class NodeTimeline:
    """Per step: capacity factor (0 down .. 1 nominal) and seconds down."""

    capacity: np.ndarray
    down_s: np.ndarray
    slowdown: np.ndarray  # mean slowdown while up (1 without brownouts)


def timelines(
    faults: Sequence[FaultSpec], times: np.ndarray, seed: np.random.SeedSequence,
    groups: dict[str, list[str]] | None = None,
) -> dict[str, NodeTimeline]:  # fmt: skip
    """Each faulty node's timeline on the step grid `times` (step k spans times[k]..times[k+1]);
    a fault on a group (`groups`: the Airflow installation -> its DAGs) is one on each member."""
    horizon = float(times[-1])
    by_node: dict[str, list[Interval]] = {}
    for index, fault in enumerate(faults):
        spans = intervals(fault, horizon, seed, index)
        for node in (groups or {}).get(fault.node, [fault.node]):
            by_node.setdefault(node, []).extend(spans)
    result = {}
    dt = np.diff(times)
    for node, spans in by_node.items():
        cuts = sorted({0.0, horizon, *(min(max(s.start, 0.0), horizon) for s in spans),
                       *(min(s.end, horizon) for s in spans)})  # fmt: skip
        down_area, speed_area, slow_area = [0.0], [0.0], [0.0]
        for a, b in itertools.pairwise(cuts):
            mid = (a + b) / 2
            active = [s for s in spans if s.start <= mid < s.end]
            down = any(s.slowdown is None for s in active)
            factor = float(np.prod([s.slowdown for s in active if s.slowdown is not None])) if active else 1.0
            down_area.append(down_area[-1] + (b - a if down else 0.0))
            speed_area.append(speed_area[-1] + (0.0 if down else (b - a) / factor))
            slow_area.append(slow_area[-1] + (b - a) * factor)
        down_s = np.diff(np.interp(times, cuts, down_area))
        capacity = np.diff(np.interp(times, cuts, speed_area)) / dt
        slowdown = np.diff(np.interp(times, cuts, slow_area)) / dt
        result[node] = NodeTimeline(capacity, down_s, slowdown)
    return result
