"""Arrival times of a non-homogeneous Poisson process, exactly, by thinning (Lewis and Shedler).

The time axis is cut at every knot of the rate (steps, a spike's ends, a cosine's peaks and
troughs, a trace's rows) and on a grid where the rate is smooth; on each segment the rate is
bounded by the largest value it takes there (`RateLaw.upper`).  Candidates are a homogeneous
Poisson process at that bound: a Poisson count and sorted uniform times, drawn a few thousand
at a time with numpy; each is kept with probability rate(t) / bound.  The kept points are
exactly a Poisson process of intensity rate(t), and because the bound follows the rate, a
3x spike at 20:00 costs rejected candidates only around 20:00.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from flowsim.traffic.shapes import RateLaw

CHUNK = 4096.0  # expected candidates drawn at once


def nhpp_times(law: RateLaw, start: float, end: float, rng: np.random.Generator) -> Iterator[float]:
    """The points of a Poisson process of intensity `law` on [start, end), in increasing order."""
    if not end > start:
        return
    edges = law.edges(start, end)
    bounds = law.upper(edges[:-1], edges[1:])
    for a, b, bound in zip(edges[:-1].tolist(), edges[1:].tolist(), bounds.tolist(), strict=True):
        if bound <= 0:
            continue
        pieces = max(1, math.ceil(bound * (b - a) / CHUNK))
        width = (b - a) / pieces
        for k in range(pieces):
            n = int(rng.poisson(bound * width))
            if n == 0:
                continue
            times = (a + k * width) + width * np.sort(rng.random(n))
            keep = rng.random(n) * bound < law.values(times)
            yield from times[keep].tolist()
