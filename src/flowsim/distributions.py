"""Probability distributions of durations, with their moments and fast block samplers.

Each distribution knows its mean and variance (the analytic view uses them) and builds a sampler
that draws values from a numpy ``Generator`` in blocks: one vectorised call per few thousand
values keeps random numbers off the simulation's hot path.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BeforeValidator, Field, model_validator

from flowsim.engine.sampling import Sampler, block_sampler
from flowsim.specmodel import AlsoAccepts, SpecModel
from flowsim.units import Count, Duration, Number, Rate


class BaseDistribution(SpecModel):
    def mean(self) -> float:
        raise NotImplementedError

    def variance(self) -> float:
        raise NotImplementedError

    def scv(self) -> float:
        """Squared coefficient of variation, Var/mean^2 (1 for exponential)."""
        m = self.mean()
        return self.variance() / (m * m) if m > 0 else 0.0

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        raise NotImplementedError

    def lowest(self) -> float:
        """The least value a draw can take (0 for the laws that reach down to it)."""
        return 0.0

    def laplace(self, s: float) -> float | None:
        """E[exp(-s X)], the Laplace-Stieltjes transform at s >= 0, where it has a closed form (else
        None): the exact GI/M/1 queue behind a renewal source needs it."""
        return None

    def sampler(self, rng: np.random.Generator) -> Sampler:
        return block_sampler(lambda n: self.draw(rng, n))


class Constant(BaseDistribution):
    """Always the same value (deterministic service, fixed schedule)."""

    dist: Literal["constant"] = "constant"
    value: Duration = Field(ge=0)

    def mean(self) -> float:
        return self.value

    def variance(self) -> float:
        return 0.0

    def lowest(self) -> float:
        return self.value

    def laplace(self, s: float) -> float:
        return math.exp(-s * self.value)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, self.value)

    def sampler(self, rng: np.random.Generator) -> Sampler:
        value = self.value
        return lambda: value


class Exponential(BaseDistribution):
    """Memoryless: Poisson arrivals, M/M/c service. Give `mean` (a duration) or `rate`."""

    dist: Literal["exponential"] = "exponential"
    mean_: Duration | None = Field(default=None, alias="mean", gt=0)
    rate: Rate | None = Field(default=None, gt=0, description="events per second (5/s, 300/min)")

    @model_validator(mode="after")
    def _one_of(self) -> Exponential:
        if (self.mean_ is None) == (self.rate is None):
            raise ValueError("give exactly one of 'mean' (e.g. 200ms) or 'rate' (per second)")
        return self

    def mean(self) -> float:
        return self.mean_ if self.mean_ is not None else 1.0 / float(self.rate or 1.0)

    def variance(self) -> float:
        return self.mean() ** 2

    def laplace(self, s: float) -> float:
        return 1.0 / (1.0 + s * self.mean())

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.exponential(self.mean(), size)


class Uniform(BaseDistribution):
    """Equally likely anywhere in [low, high]."""

    dist: Literal["uniform"] = "uniform"
    low: Duration = Field(ge=0)
    high: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("'high' must be at least 'low'")
        return self

    def mean(self) -> float:
        return (self.low + self.high) / 2

    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12

    def lowest(self) -> float:
        return self.low

    def laplace(self, s: float) -> float:
        width = self.high - self.low
        if s == 0 or width == 0:
            return math.exp(-s * self.low)
        return (math.exp(-s * self.low) - math.exp(-s * self.high)) / (s * width)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, size)


def _phi(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _Phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


class Normal(BaseDistribution):
    """Normal truncated at 0 (negative draws are redrawn), so durations stay non-negative."""

    dist: Literal["normal"] = "normal"
    mean_: Duration = Field(alias="mean")
    stdev: Duration = Field(gt=0)

    def _alpha(self) -> tuple[float, float]:
        alpha = -self.mean_ / self.stdev
        return alpha, _phi(alpha) / max(1 - _Phi(alpha), 1e-300)

    def mean(self) -> float:
        _, lam = self._alpha()
        return self.mean_ + self.stdev * lam

    def variance(self) -> float:
        alpha, lam = self._alpha()
        return self.stdev**2 * (1 + alpha * lam - lam * lam)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        values = rng.normal(self.mean_, self.stdev, size)
        bad = values < 0
        while bad.any():
            values[bad] = rng.normal(self.mean_, self.stdev, int(bad.sum()))
            bad = values < 0
        return values

    @model_validator(mode="after")
    def _mostly_positive(self) -> Normal:
        """Redrawing the negative draws raises the mean: refused when it would be 5% above the one
        written (mean below 1.76 stdev, 4% of draws redrawn), so `mean` means what it says."""
        if self.mean_ <= 0:
            raise ValueError(f"mean {self.mean_:g}s: a normal law needs a mean above 0 (negative draws are redrawn)")
        actual = self.mean()
        if actual > 1.05 * self.mean_:
            share = _Phi(-self.mean_ / self.stdev)
            raise ValueError(
                f"with stdev {self.stdev:g}s about {share:.0%} of draws fall below 0 and are redrawn, so the "
                f"mean would be {actual:.3g}s, not {self.mean_:g}s; keep stdev below {self.mean_ / 1.761:.3g}s, "
                "or use lognormal or gamma for a skewed positive value"
            )
        return self


class LogNormal(BaseDistribution):
    """Heavy right tail, typical of request latencies; given by the mean and stdev of the value."""

    dist: Literal["lognormal"] = "lognormal"
    mean_: Duration = Field(alias="mean", gt=0)
    stdev: Duration = Field(gt=0)

    def _params(self) -> tuple[float, float]:
        sigma2 = math.log(1 + (self.stdev / self.mean_) ** 2)
        return math.log(self.mean_) - sigma2 / 2, math.sqrt(sigma2)

    def mean(self) -> float:
        return self.mean_

    def variance(self) -> float:
        return self.stdev**2

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        mu, sigma = self._params()
        return rng.lognormal(mu, sigma, size)


class Gamma(BaseDistribution):
    """Gamma by `shape` and `mean`; less variable than exponential when shape > 1."""

    dist: Literal["gamma"] = "gamma"
    shape: Number = Field(gt=0, description="at least 0.01: below it draws underflow to exactly 0")
    mean_: Duration = Field(alias="mean", gt=0)

    @model_validator(mode="after")
    def _drawable(self) -> Gamma:
        if self.shape < 0.01:
            raise ValueError(
                f"shape {self.shape:g}: a gamma this skewed draws exactly 0 most of the time in floating point "
                "(shape 0.001: half the draws), so gaps or durations of 0 would repeat without end; use a shape "
                "of at least 0.01, or an empirical law for a few huge values among many tiny ones"
            )
        return self

    def mean(self) -> float:
        return self.mean_

    def variance(self) -> float:
        return self.mean_**2 / self.shape

    def laplace(self, s: float) -> float:
        return float((1.0 + s * self.mean_ / self.shape) ** -self.shape)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.gamma(self.shape, self.mean_ / self.shape, size)


class Erlang(BaseDistribution):
    """Sum of `k` exponential phases with total `mean` (gamma with integer shape)."""

    dist: Literal["erlang"] = "erlang"
    k: Count = Field(ge=1)
    mean_: Duration = Field(alias="mean", gt=0)

    def mean(self) -> float:
        return self.mean_

    def variance(self) -> float:
        return self.mean_**2 / self.k

    def laplace(self, s: float) -> float:
        return float((1.0 + s * self.mean_ / self.k) ** -self.k)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.gamma(self.k, self.mean_ / self.k, size)


class Empirical(BaseDistribution):
    """Resample measured values (optionally weighted): replay what production showed."""

    dist: Literal["empirical"] = "empirical"
    values: list[Duration] = Field(min_length=1)
    weights: list[Number] | None = None

    @model_validator(mode="after")
    def _check(self) -> Empirical:
        if any(v < 0 for v in self.values):
            raise ValueError("durations cannot be negative")
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError("'weights' must have one entry per value")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("'weights' must be non-negative with a positive sum")
        return self

    def _probs(self) -> np.ndarray:
        w = np.ones(len(self.values)) if self.weights is None else np.asarray(self.weights, float)
        probs: np.ndarray = w / w.sum()
        return probs

    def mean(self) -> float:
        return float(np.dot(self._probs(), self.values))

    def variance(self) -> float:
        v = np.asarray(self.values, float)
        return float(np.dot(self._probs(), (v - self.mean()) ** 2))

    def lowest(self) -> float:
        return float(min(v for v, p in zip(self.values, self._probs(), strict=True) if p > 0))

    def laplace(self, s: float) -> float:
        return float(np.dot(self._probs(), np.exp(-s * np.asarray(self.values, float))))

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.choice(np.asarray(self.values, float), size=size, p=self._probs())


def _shorthand(value: Any) -> Any:
    """A bare quantity (`2s`, `0.5`) means a constant."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return {"dist": "constant", "value": value}
    return value


_Tagged = Annotated[
    Constant | Exponential | Uniform | Normal | LogNormal | Gamma | Erlang | Empirical,
    Field(discriminator="dist"),
]
#: a bare quantity is a constant: `2s`, `0.5`, `1KB`
_CONSTANT = {"anyOf": [{"type": "number"}, {"type": "string"}], "description": "a constant, e.g. 2s"}
Distribution = Annotated[_Tagged, BeforeValidator(_shorthand), AlsoAccepts(_CONSTANT)]
