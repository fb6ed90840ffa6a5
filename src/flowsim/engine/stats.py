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
    return float(np.percentile(data, q)) if data.size else NO_DATA


def max_of(values: Sequence[float] | Any) -> float:
    data = _data(values)
    return float(data.max()) if data.size else NO_DATA
