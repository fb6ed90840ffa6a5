"""Bursty arrivals: a Markov-modulated Poisson process (MMPP).

A hidden state switches after exponential sojourns (`mean_sojourn` each); while in state i,
arrivals are Poisson at `rate` i.  Without `transitions` the states take turns in order
(0 -> 1 -> ... -> 0, the usual quiet/burst alternation); with `transitions`, row i gives the
probabilities of jumping from state i to each other state (the diagonal must be 0).  The first
state is drawn from the time-stationary distribution, so the process is stationary from the
start: its mean rate is sum_i pi_i rate_i with pi_i proportional to (visits to i) x mean_sojourn_i.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from flowsim.specmodel import SpecModel
from flowsim.traffic.shapes import Piecewise
from flowsim.units import Number, Period, Rate


class MmppState(SpecModel):
    """One regime: Poisson arrivals at `rate` for an exponential time of mean `mean_sojourn`."""

    rate: Rate = Field(ge=0, description="arrivals per second in this state, e.g. 2000/s")
    mean_sojourn: Period = Field(gt=0, description="mean time spent in this state before switching, e.g. 10m")


class Mmpp(SpecModel):
    """A Markov-modulated Poisson process: states with their rates and mean sojourns."""

    states: list[MmppState] = Field(min_length=2, description="the regimes, visited in turn unless `transitions`")
    transitions: list[list[Number]] | None = Field(
        None, description="row i: probabilities of jumping from state i to each state (diagonal 0, rows sum to 1)"
    )

    @model_validator(mode="after")
    def _chain(self) -> Mmpp:
        n = len(self.states)
        if self.transitions is not None:
            rows = self.transitions
            if len(rows) != n or any(len(row) != n for row in rows):
                raise ValueError(f"'transitions' must be a {n} x {n} matrix (one row and column per state)")
            matrix = np.asarray(rows, dtype=float)
            if (matrix < 0).any() or not np.allclose(matrix.sum(axis=1), 1.0, atol=1e-9):
                raise ValueError("each row of 'transitions' holds probabilities (non-negative, summing to 1)")
            if np.diag(matrix).any():
                raise ValueError("'transitions' must have 0 on its diagonal (a sojourn ends by leaving the state)")
            reach = np.linalg.matrix_power(np.eye(n) + (matrix > 0), n - 1)
            if not (reach > 0).all():
                raise ValueError("every state must be reachable from every other through 'transitions'")
        if max(s.rate for s in self.states) <= 0:
            raise ValueError("at least one state needs a rate above 0")
        return self

    def jumps(self) -> np.ndarray:
        """The jump chain: row i, where state i goes when its sojourn ends."""
        n = len(self.states)
        if self.transitions is not None:
            return np.asarray(self.transitions, dtype=float)
        return np.roll(np.eye(n), 1, axis=1)  # i -> i + 1, the last back to the first

    def stationary(self) -> np.ndarray:
        """Share of time in each state: visits (the jump chain's stationary law) x mean sojourn."""
        jumps, n = self.jumps(), len(self.states)
        system = np.vstack([jumps.T - np.eye(n), np.ones(n)])
        visits = np.linalg.lstsq(system, np.append(np.zeros(n), 1.0), rcond=None)[0]
        time = np.maximum(visits, 0) * np.array([s.mean_sojourn for s in self.states])
        shares: np.ndarray = time / time.sum()
        return shares

    def switch_rate(self) -> float:
        """State switches per second in the long run: 1 / the mean sojourn over the jump chain's visits."""
        jumps, n = self.jumps(), len(self.states)
        system = np.vstack([jumps.T - np.eye(n), np.ones(n)])
        visits = np.maximum(np.linalg.lstsq(system, np.append(np.zeros(n), 1.0), rcond=None)[0], 0)
        return float(visits.sum() / np.dot(visits, [s.mean_sojourn for s in self.states]))

    def mean_rate(self) -> float:
        return float(np.dot(self.stationary(), [s.rate for s in self.states]))

    def peak_rate(self) -> float:
        return max(s.rate for s in self.states)

    def path(self, rng: np.random.Generator, horizon: float) -> Piecewise:
        """One realisation of the state's rate over [0, horizon], as a step function."""
        jumps = self.jumps()
        cyclic = self.transitions is None
        n = len(self.states)
        state = int(rng.choice(n, p=self.stationary()))
        t, times, levels = 0.0, [0.0], [self.states[state].rate]
        while True:
            t += float(rng.exponential(self.states[state].mean_sojourn))
            if t >= horizon:
                break
            state = (state + 1) % n if cyclic else int(rng.choice(n, p=jumps[state]))
            times.append(t)
            levels.append(self.states[state].rate)
        return Piecewise(np.asarray(times), np.asarray(levels), before=levels[0])
