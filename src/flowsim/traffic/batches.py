"""Batch sizes: how many messages one arrival carries, fixed (`batch: 10`) or drawn per arrival.

A client batch, a producer flush or a bulk upload is one work item of several messages; when
its size varies, the burstiness of the message stream grows with the size's variance even when
arrivals are Poisson.  Sizes are whole numbers of at least 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from flowsim.engine.sampling import block_sampler
from flowsim.specmodel import SpecModel
from flowsim.units import Count, Number

SizeSampler = Callable[[], int]


class _Batch(SpecModel):
    def mean(self) -> float:
        raise NotImplementedError

    def variance(self) -> float:
        raise NotImplementedError

    def share_above(self, size: int) -> float:
        """P(a drawn batch has more than `size` messages)."""
        raise NotImplementedError

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        raise NotImplementedError

    def sampler(self, rng: np.random.Generator) -> SizeSampler:
        return block_sampler(lambda n: self.draw(rng, n))  # type: ignore[return-value]


class ConstantBatch(_Batch):
    """Always `value` messages."""

    dist: Literal["constant"]
    value: Count = Field(ge=1)

    def mean(self) -> float:
        return float(self.value)

    def share_above(self, size: int) -> float:
        return 1.0 if self.value > size else 0.0

    def variance(self) -> float:
        return 0.0

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, self.value)


class GeometricBatch(_Batch):
    """1, 2, 3, ... with P(k) = p (1 - p)^(k - 1), p = 1 / mean: many small batches, a few large."""

    dist: Literal["geometric"]
    mean_: Number = Field(alias="mean", ge=1, description="mean messages per arrival")

    def mean(self) -> float:
        return self.mean_

    def variance(self) -> float:
        p = 1 / self.mean_
        return (1 - p) / (p * p)

    def share_above(self, size: int) -> float:
        return (1 - 1 / self.mean_) ** size  # P(K > k) = (1 - p)^k

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.geometric(1 / self.mean_, size)


class PoissonBatch(_Batch):
    """1 + Poisson(mean - 1): sizes close to the mean (variance mean - 1)."""

    dist: Literal["poisson"]
    mean_: Number = Field(alias="mean", ge=1, description="mean messages per arrival")

    def mean(self) -> float:
        return self.mean_

    def variance(self) -> float:
        return self.mean_ - 1

    def share_above(self, size: int) -> float:
        m = self.mean_ - 1  # P(1 + X > k) = 1 - P(X <= k - 1), X ~ Poisson(m)
        if size < 1:
            return 1.0
        if size - 1 > m + 40 * math.sqrt(m) + 40:
            return 0.0  # past 40 standard deviations
        term = cdf = math.exp(-m)
        for k in range(1, size):
            term *= m / k
            cdf += term
        return max(0.0, 1.0 - cdf)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return 1 + rng.poisson(self.mean_ - 1, size)


class UniformBatch(_Batch):
    """Any whole number from `low` to `high`, both included, equally likely."""

    dist: Literal["uniform"]
    low: Count = Field(ge=1)
    high: Count = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> UniformBatch:
        if self.high < self.low:
            raise ValueError("'high' must be at least 'low'")
        return self

    def mean(self) -> float:
        return (self.low + self.high) / 2

    def share_above(self, size: int) -> float:
        return max(0, self.high - max(size, self.low - 1)) / (self.high - self.low + 1)

    def variance(self) -> float:
        return ((self.high - self.low + 1) ** 2 - 1) / 12

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.integers(self.low, self.high + 1, size)


class EmpiricalBatch(_Batch):
    """Sizes seen in production, resampled (optionally weighted)."""

    dist: Literal["empirical"]
    values: list[Count] = Field(min_length=1)
    weights: list[Number] | None = None

    @model_validator(mode="after")
    def _check(self) -> EmpiricalBatch:
        if any(v < 1 for v in self.values):
            raise ValueError("batch sizes are at least 1")
        if self.weights is not None and (
            len(self.weights) != len(self.values) or any(w < 0 for w in self.weights) or sum(self.weights) <= 0
        ):
            raise ValueError("'weights' needs one non-negative entry per value, with a positive sum")
        return self

    def share_above(self, size: int) -> float:
        weights = self.weights if self.weights is not None else [1.0] * len(self.values)
        return sum(w for v, w in zip(self.values, weights, strict=True) if v > size) / sum(weights)

    def _probs(self) -> np.ndarray:
        w = np.ones(len(self.values)) if self.weights is None else np.asarray(self.weights, dtype=float)
        probs: np.ndarray = w / w.sum()
        return probs

    def mean(self) -> float:
        return float(np.dot(self._probs(), self.values))

    def variance(self) -> float:
        values = np.asarray(self.values, dtype=float)
        return float(np.dot(self._probs(), (values - self.mean()) ** 2))

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.choice(np.asarray(self.values), size=size, p=self._probs())


BatchSize = Annotated[
    ConstantBatch | GeometricBatch | PoissonBatch | UniformBatch | EmpiricalBatch, Field(discriminator="dist")
]
