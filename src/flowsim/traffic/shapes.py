"""The arithmetic of time-varying rates: shapes, their product, and bounds for thinning.

A shape is a non-negative function of time that knows where it is not smooth (its knots) and
how large it can be between two knots.  Between consecutive knots every shape here is constant
or monotone, so its largest value on such a segment is its value at the midpoint (piecewise
constant) or at one of the ends (continuous): exact upper bounds, cheap enough to take per
segment, which is what lets the engine thin a non-homogeneous Poisson process with a bound that
follows the rate (a spike raises the bound only where it is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

Array = np.ndarray


class Shape(Protocol):
    """A factor on a rate (or the rate itself): values, knots, and bounds between knots."""

    def values(self, t: Array) -> Array: ...

    def knots(self, a: float, b: float) -> Array:
        """Times in (a, b) where the shape jumps or turns (monotone or constant in between)."""
        ...

    def upper(self, a: Array, b: Array) -> Array:
        """The largest value on each segment [a, b] that holds no knot inside."""
        ...

    @property
    def spacing(self) -> float | None:
        """A grid step that keeps the bound tight on smooth stretches (None: knots suffice)."""
        ...

    @property
    def period(self) -> float | None:
        """The shape repeats after this long (None: it does not)."""
        ...

    @property
    def last_knot(self) -> float:
        """After this time the shape is constant or merely periodic."""
        ...


@dataclass(frozen=True, eq=False)
class Piecewise:
    """Constant from each time to the next: `values[i]` on [times[i], times[i+1]), `before` earlier.

    With `cycle`, time is taken modulo the cycle (an hourly table repeating every day).
    """

    times: Array
    levels: Array
    before: float = 1.0
    cycle: float | None = None

    def values(self, t: Array) -> Array:
        t = np.asarray(t, dtype=float)
        if self.cycle is not None:
            t = np.mod(t, self.cycle)
        index = np.searchsorted(self.times, t, side="right") - 1
        out: Array = np.where(index < 0, self.before, self.levels[np.maximum(index, 0)])
        return out

    def knots(self, a: float, b: float) -> Array:
        times = self.times
        if self.cycle is not None:
            first, last = math.floor(a / self.cycle), math.ceil(b / self.cycle)
            times = (np.arange(first, last + 1)[:, None] * self.cycle + self.times[None, :]).ravel()
        inside: Array = times[(times > a) & (times < b)]
        return inside

    def upper(self, a: Array, b: Array) -> Array:
        return self.values((np.asarray(a) + np.asarray(b)) / 2)

    @property
    def spacing(self) -> float | None:
        return None

    @property
    def period(self) -> float | None:
        return self.cycle

    @property
    def last_knot(self) -> float:
        return 0.0 if self.cycle is not None or self.times.size == 0 else float(self.times[-1])


@dataclass(frozen=True, eq=False)
class Cosine:
    """Between `low` and 1 over `cycle` seconds, 1 at `peak_at`.

    f(t) = low + (1 - low) (1 + cos(2 pi (t - peak_at) / cycle)) / 2
    """

    low: float
    peak_at: float
    cycle: float

    def values(self, t: Array) -> Array:
        phase = 2 * math.pi * (np.asarray(t, dtype=float) - self.peak_at) / self.cycle
        out: Array = self.low + (1 - self.low) * (1 + np.cos(phase)) / 2
        return out

    def knots(self, a: float, b: float) -> Array:
        half = self.cycle / 2  # peaks at peak_at + k cycle, troughs half a cycle later
        k = np.arange(math.floor((a - self.peak_at) / half), math.ceil((b - self.peak_at) / half) + 1)
        turns = self.peak_at + k * half
        inside: Array = turns[(turns > a) & (turns < b)]
        return inside

    def upper(self, a: Array, b: Array) -> Array:
        top: Array = np.maximum(self.values(a), self.values(b))
        return top

    @property
    def spacing(self) -> float | None:
        return self.cycle / 96  # 15 minutes in a day: the bound is within ~3% of the rate

    @property
    def period(self) -> float | None:
        return self.cycle

    @property
    def last_knot(self) -> float:
        return 0.0


@dataclass(frozen=True, eq=False)
class Linear:
    """`start` until `t0`, then a straight line to `end` at `t1`, `end` after."""

    t0: float
    t1: float
    start: float
    end: float

    def values(self, t: Array) -> Array:
        out: Array = np.interp(np.asarray(t, dtype=float), [self.t0, self.t1], [self.start, self.end])
        return out

    def knots(self, a: float, b: float) -> Array:
        ends = np.array([self.t0, self.t1])
        inside: Array = ends[(ends > a) & (ends < b)]
        return inside

    def upper(self, a: Array, b: Array) -> Array:
        top: Array = np.maximum(self.values(a), self.values(b))
        return top

    @property
    def spacing(self) -> float | None:
        return (self.t1 - self.t0) / 32

    @property
    def period(self) -> float | None:
        return None

    @property
    def last_knot(self) -> float:
        return self.t1


DAY = 86400.0
MAX_GRID = 2_000_000  # grid points for smooth shapes over one span (a minute's cosine over 230 days at 96 a cycle)


@dataclass(frozen=True, eq=False)
class RateLaw:
    """An intensity: `level` times the product of `shapes` (items per second)."""

    level: float
    shapes: tuple[Shape, ...] = ()

    def values(self, t: Array) -> Array:
        out = np.full(np.shape(t), self.level, dtype=float)
        for shape in self.shapes:
            out *= shape.values(t)
        return out

    def at(self, t: float) -> float:
        return float(self.values(np.array([t]))[0])

    def scaled(self, factor: float) -> RateLaw:
        return RateLaw(self.level * factor, self.shapes)

    def edges(self, a: float, b: float, grid: bool = True) -> Array:
        """Segment ends on [a, b]: every shape's knots, and a grid where a shape is smooth."""
        parts = [np.array([a, b])] + [s.knots(a, b) for s in self.shapes]
        steps = [s.spacing for s in self.shapes if s.spacing]
        if grid and steps:
            step = max(min(steps), (b - a) / MAX_GRID)  # a bound on memory for many short cycles
            parts.append(np.arange(math.ceil(a / step), math.floor(b / step) + 1) * step)
        edges = np.unique(np.concatenate(parts))
        return edges[(edges >= a) & (edges <= b)]

    def upper(self, a: Array, b: Array) -> Array:
        out = np.full(np.shape(a), self.level, dtype=float)
        for shape in self.shapes:
            out *= shape.upper(a, b)
        return out

    def fine(self, a: float, b: float, step: float = 60.0) -> tuple[Array, Array]:
        """Midpoints and lengths of a grid on [a, b] no coarser than `step` that keeps every knot."""
        edges = self.edges(a, b)
        widths = np.diff(edges)
        pieces = np.maximum(np.ceil(widths / step), 1).astype(int)
        # each segment cut in `pieces` equal parts, all at once (as np.linspace would, one by one)
        first = np.repeat(np.cumsum(pieces) - pieces, pieces)
        cuts = np.repeat(edges[:-1], pieces) + (np.arange(first.size) - first) * np.repeat(widths / pieces, pieces)
        cuts = np.append(cuts, b)
        return (cuts[:-1] + cuts[1:]) / 2, np.diff(cuts)

    def mean(self, a: float, b: float) -> float:
        """The time average over [a, b] (midpoint rule between knots: exact for steps)."""
        if b <= a:
            return self.at(a)
        mids, widths = self.fine(a, b)
        return float(np.dot(self.values(mids), widths) / (b - a))

    def integral(self, a: float, b: float, step: float = 10.0) -> float:
        """The expected number of arrivals in [a, b]."""
        if b <= a:
            return 0.0
        mids, widths = self.fine(a, b, step)
        return float(np.dot(self.values(mids), widths))

    def peak(self, a: float, b: float) -> tuple[float, float]:
        """(largest rate, first time it is reached) over [a, b], on a grid of a minute or finer."""
        mids, _ = self.fine(a, b)
        times = np.sort(np.concatenate([self.edges(a, b), mids]))
        rates = self.values(times)
        top = float(rates.max())
        return top, float(times[np.argmax(rates >= top * (1 - 1e-12))])

    def window(self, start: float, stop: float | None) -> tuple[float, float]:
        """The span the analytic view describes: [start, stop], or whole cycles past the last knot.

        Whole cycles of the longest period (a day without one) up to the last knot: a day for a
        diurnal shape with a spike, a week for a weekly one, the trace's days for a trace.
        """
        if stop is not None:
            return start, max(stop, start)
        cycle = max((s.period for s in self.shapes if s.period), default=DAY)
        last = max((s.last_knot for s in self.shapes), default=0.0)
        end = math.ceil(max(last, start) / cycle - 1e-9) * cycle
        return start, end if end > start else end + cycle
