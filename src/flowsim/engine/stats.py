"""Summaries of samples that say "no data" when there is none.

A mean or percentile of an empty sample is NaN, never 0: the results layer reports it as null
("no data" in tables) and an SLO on it fails saying so, the same for every kind.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

NO_DATA = math.nan


def _data(values: Sequence[float] | Any) -> np.ndarray:
    return np.asarray(values, dtype=float)  # an array("d") is read through its buffer, not copied


def mean_of(values: Sequence[float] | Any) -> float:
    data = _data(values)
    return float(data.mean()) if data.size else NO_DATA


def percentile_of(values: Sequence[float] | Any, q: float) -> float:
    data = _data(values)
    return float(linear_percentiles(data, (q,))[0]) if data.size else NO_DATA


def linear_percentiles(data: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """`np.percentile(data, qs)` (its default 'linear' method), bit for bit, for a non-empty
    sample without NaN: one partition at the indices around each (n - 1) q / 100, then numpy's
    own interpolation.  numpy's sorts the indices with `np.unique`, whose masked-array check
    imports `numpy.ma` (9 ms on the first percentile of a process) and costs ~20 us a call."""
    n = data.size
    virtual = (n - 1) * (np.asarray(qs, dtype=float) / 100)
    below = np.floor(virtual).astype(np.intp)
    above = np.minimum(below + 1, n - 1)
    below = np.minimum(below, n - 1)
    part = np.partition(data, sorted({*below.tolist(), *above.tolist()}))
    a, b = part[below], part[above]
    t = virtual - below
    diff = b - a
    lerp = a + diff * t
    return np.where(t >= 0.5, b - diff * (1 - t), lerp)  # numpy's _lerp: exact at both ends


def max_of(values: Sequence[float] | Any) -> float:
    data = _data(values)
    return float(data.max()) if data.size else NO_DATA
