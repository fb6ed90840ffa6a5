"""Arrival times of a non-homogeneous Poisson process, exactly, by thinning (Lewis and Shedler).

The time axis is cut at every knot of the rate (steps, a spike's ends, a cosine's peaks and
troughs, a trace's rows) and on a grid where the rate is smooth; on each segment the rate is
bounded by the largest value it takes there (`RateLaw.upper`).  Candidates are a homogeneous
Poisson process at that bound, drawn with numpy a block of segments at a time (a Poisson count
per segment, uniform times within it); each is kept with probability rate(t) / bound.  The
kept points are exactly a Poisson process of intensity rate(t), and because the bound follows
the rate, a 3x spike at 20:00 costs rejected candidates only around 20:00.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from flowsim.traffic.shapes import RateLaw

CHUNK = 4096.0  # expected candidates drawn at once


def _segments(law: RateLaw, start: float, end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(segment starts, widths, bounds), long segments split so none expects more than CHUNK."""
    edges = law.edges(start, end)
    lo, hi = edges[:-1], edges[1:]
    bound = law.upper(lo, hi)
    live = bound > 0
    lo, width, bound = lo[live], (hi - lo)[live], bound[live]
    pieces = np.maximum(np.ceil(bound * width / CHUNK), 1).astype(np.int64)
    owner = np.repeat(np.arange(lo.size), pieces)
    rank = np.arange(owner.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    width = width[owner] / pieces[owner]
    return lo[owner] + rank * width, width, bound[owner]


def nhpp_times(law: RateLaw, start: float, end: float, rng: np.random.Generator) -> Iterator[float]:
    """The points of a Poisson process of intensity `law` on [start, end), in increasing order."""
    if not end > start:
        return
    lo, width, bound = _segments(law, start, end)
    expected = np.cumsum(bound * width)
    cuts = np.searchsorted(expected, np.arange(CHUNK, expected[-1] if expected.size else 0.0, CHUNK))
    for first, last in zip(np.r_[0, cuts + 1], np.r_[cuts + 1, lo.size], strict=True):
        if last <= first:
            continue
        block = slice(int(first), int(last))
        counts = rng.poisson(bound[block] * width[block])
        n = int(counts.sum())
        if n == 0:
            continue
        seg = np.repeat(np.arange(first, last), counts)
        times = lo[seg] + width[seg] * rng.random(n)
        order = np.argsort(times, kind="stable")
        times, seg = times[order], seg[order]
        keep = rng.random(n) * bound[seg] < law.values(times)
        yield from times[keep].tolist()
