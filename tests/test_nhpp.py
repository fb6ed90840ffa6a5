"""Time-varying arrivals against theory, over seeded replications with confidence intervals.

1. The rate is recovered from the simulated arrivals: for each profile shape, arrivals are counted
   in bins (the source's cumulative count, sampled at the bin edges) over R replications, and each
   bin's mean count must cover its expected count, the integral of the rate over the bin.  With
   B bins per shape the intervals are Bonferroni-corrected (simultaneous 99.9%: a correct engine
   fails a shape 1 time in 1,000), and for a Poisson process the pooled counts must also pass a
   chi-square test (sum over bins of (N - R Lambda)^2 / (R Lambda) below the 99.9% quantile).
2. A sinusoidal M_t/M/c queue, lambda(t) = lambda_bar (1 + a sin(2 pi t / T)), c = 2 servers,
   exponential service of mean 1 s:
   - in slow cycles (T = 20,000 s, relaxation ~30 s) the pointwise stationary approximation, the
     Erlang-C L of M/M/c at lambda(t), holds: the simulated mean number in system averaged over
     windows around four phases matches PSA averaged over the same windows;
   - in fast cycles (T = 10 s, shorter than the relaxation) PSA is wrong (the queue cannot follow
     lambda(t): its swing is damped and lags), and the simulation must match the transient
     solution instead: the Kolmogorov forward equations of the birth-death chain, truncated at
     N = 60 and integrated with scipy's solve_ivp, at eight phases of the periodic regime.
Run with ``-s`` to print each comparison.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy import stats
from scipy.integrate import solve_ivp

import flowsim
from flowsim.analysis.queueing import mmc
from flowsim.build import run_replication
from flowsim.engine.model import ReplicationOutput

ROOT = Path(__file__).resolve().parent.parent
SEED = 4242
H = 3600.0


def scenario(nodes: dict[str, Any], edges: list[str], duration: float, interval: float) -> flowsim.Scenario:
    doc = {"name": "nhpp", "architecture": {"name": "nhpp", "nodes": nodes, "edges": edges},
           "duration": duration, "sample_interval": interval, "seed": SEED}  # fmt: skip
    return flowsim.load_scenario(yaml.safe_dump(doc, sort_keys=False))


def replications(s: flowsim.Scenario, count: int) -> list[ReplicationOutput]:
    return [run_replication(s, r) for r in range(count)]


# ---- 1. the rate recovered from the arrivals ------------------------------------------------------
def bin_counts(outputs: list[ReplicationOutput], node: str = "src") -> tuple[np.ndarray, np.ndarray]:
    """(bin edges, counts per replication x bin) from the sampled cumulative count of arrivals."""
    times = outputs[0].times
    completed = np.array([o.series[node][:, 3] for o in outputs])  # column 3: cumulative completed
    return times, np.diff(completed, axis=1)


def recovered(source: dict[str, Any], duration: float, bins: int, count: int, poisson: bool = True) -> float:
    """Checks every bin; returns the largest relative error of a bin's mean count."""
    s = scenario({"src": {"kind": "source", **source}, "done": {"kind": "sink"}}, ["src -> done"],
                 duration, duration / bins)  # fmt: skip
    config = s.arch.nodes["src"]
    edges, counts = bin_counts(replications(s, count))
    law = config.rate_law("mean")
    expected = np.array([law.integral(a, b, step=1.0) for a, b in itertools.pairwise(edges)])
    mean, sd = counts.mean(axis=0), counts.std(axis=0, ddof=1)
    t = stats.t.ppf(1 - 0.001 / (2 * bins), count - 1)  # simultaneous 99.9% over the bins
    halfwidth = t * sd / math.sqrt(count)
    errors = np.abs(mean - expected)
    worst = int(np.argmax(errors / halfwidth))
    total = f"total {counts.sum() / count:.0f} vs {expected.sum():.0f} expected"
    worst_text = f"max |err| / CI {errors[worst] / halfwidth[worst]:.2f}, max rel err {np.max(errors / expected):.2%}"
    print(f"  {bins} bins, {count} reps: {total}; {worst_text}")
    bad = f"bin {worst}: {mean[worst]:.1f} vs {expected[worst]:.1f} ± {halfwidth[worst]:.1f}"
    assert (errors <= halfwidth).all(), bad
    if poisson:
        pooled = counts.sum(axis=0)
        chi2 = float(np.sum((pooled - count * expected) ** 2 / (count * expected)))
        print(f"  chi-square {chi2:.1f} on {bins} bins (99.9% bound {stats.chi2.ppf(0.999, bins):.1f})")
        assert chi2 < stats.chi2.ppf(0.999, bins)
    return float(np.max(errors / expected))


def test_the_briefs_combined_profile_is_recovered() -> None:
    # diurnal x spike x steps over a day at a base of 0.1/s: ~ 11,000 arrivals per replication
    profile = [
        {"diurnal": {"low": 0.3, "peak_at": "14h"}},
        {"spike": {"at": "20h", "for": "15m", "factor": 3}},
        {"steps": [{"at": "0s", "factor": 1}, {"at": "6h", "factor": 2}]},
    ]
    assert recovered({"rate": 0.1, "profile": profile}, 24 * H, 96, 8) < 0.15


CLICKS = str(ROOT / "traces" / "clicks.csv")
HOURLY = [0.2 + 0.8 * ((h * 7) % 24) / 23 for h in range(24)]  # a shuffled table of 24 factors
SHAPES: dict[str, tuple[dict[str, Any], float, int]] = {  # source, duration, bins
    "diurnal cosine": ({"rate": 0.1, "profile": [{"diurnal": {"low": 0.3, "peak_at": "14h"}}]}, 24 * H, 24),
    "diurnal hourly": ({"rate": 0.1, "profile": [{"diurnal": {"hourly": HOURLY}}]}, 24 * H, 24),
    "weekly cosine": (
        {"rate": 0.02, "profile": [{"diurnal": {"low": 0.2, "peak_at": "3d", "period": "7d"}}]},
        168 * H,
        28,
    ),
    "steps": ({"rate": 1, "profile": [{"steps": [{"at": "10m", "factor": 3}, {"at": "40m", "factor": 0.5}]}]}, H, 12),
    "ramp": ({"rate": 1, "profile": [{"ramp": {"from": 0.5, "to": 4, "at": "10m", "until": "50m"}}]}, H, 12),
    "spike": ({"rate": 1, "profile": [{"spike": {"at": "30m", "for": "10m", "factor": 10}}]}, H, 12),
    "trace": ({"trace": CLICKS}, 24 * H, 48),
    "trace x spike": ({"trace": CLICKS, "profile": [{"spike": {"at": "12h", "for": "1h", "factor": 3}}]}, 24 * H, 48),
}


@pytest.mark.slow
@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_profile_shape_is_recovered(shape: str) -> None:
    source, duration, bins = SHAPES[shape]
    print(f"\n{shape}:")
    assert recovered(source, duration, bins, 20) < 0.1


@pytest.mark.slow
def test_mmpp_mean_rate_and_burstiness() -> None:
    # states 1/s for 5 min on average and 10/s for 1 min: time shares 5/6 and 1/6, mean rate
    # 1 x 5/6 + 10 x 1/6 = 2.5/s (the first state drawn from these shares, so every bin expects 2.5/s)
    mmpp = {"states": [{"rate": "1/s", "mean_sojourn": "5m"}, {"rate": "10/s", "mean_sojourn": "1m"}]}
    print("\nmmpp:")
    recovered({"mmpp": mmpp}, 4 * H, 16, 30, poisson=False)
    # bursts: counts in 15-minute bins vary far more than a Poisson count's (variance = mean)
    s = scenario({"src": {"kind": "source", "mmpp": mmpp}, "done": {"kind": "sink"}}, ["src -> done"], 24 * H, 900)
    _, counts = bin_counts(replications(s, 2))
    dispersion = counts.var() / counts.mean()
    print(f"  index of dispersion of 15-minute counts: {dispersion:.0f} (Poisson: 1)")
    assert dispersion > 20


# ---- 2. sinusoidal M_t/M/c --------------------------------------------------------------------------
LAM, AMP, C, MU = 1.0, 0.5, 2, 1.0  # rho(t) = lambda(t) / (c mu) from 0.25 to 0.75


def mt_mc(period: float, duration: float, interval: float) -> flowsim.Scenario:
    """lambda(t) = LAM (1 + AMP sin(2 pi t / T)) as a diurnal cosine: with low = (1 - a) / (1 + a) and
    rate = 2 LAM / (1 + low), low + (1 - low)(1 + cos(2 pi (t - T/4) / T)) / 2 times rate is exactly that."""
    low = (1 - AMP) / (1 + AMP)
    source = {"kind": "source", "rate": 2 * LAM / (1 + low),
              "profile": [{"diurnal": {"low": low, "peak_at": period / 4, "period": period}}]}  # fmt: skip
    queue = {"kind": "service", "servers": C, "service_time": {"dist": "exponential", "mean": 1 / MU}}
    return scenario({"src": source, "q": queue, "done": {"kind": "sink"}}, ["src -> q", "q -> done"],
                    duration, interval)  # fmt: skip


def lam_at(t: np.ndarray, period: float) -> np.ndarray:
    return LAM * (1 + AMP * np.sin(2 * np.pi * t / period))


def psa(t: np.ndarray, period: float) -> np.ndarray:
    """Pointwise stationary approximation: Erlang-C L of M/M/c at lambda(t)."""
    return np.array([mmc(float(lam), MU, C).l for lam in lam_at(t, period)])


def kolmogorov(times: np.ndarray, period: float, states: int = 60) -> np.ndarray:
    """E[N(t)] from dp/dt = Q(t)^T p for the birth-death chain (births lambda(t), deaths min(n, c) mu),
    empty at t = 0, truncated at `states` (P(N >= 60) < 1e-20 at rho <= 0.75)."""
    n = np.arange(states + 1)
    deaths = np.minimum(n, C) * MU

    def generator(t: float) -> np.ndarray:
        lam = float(lam_at(np.array([t]), period)[0])
        births = np.where(n < states, lam, 0.0)
        q = np.diag(births[:-1], 1) + np.diag(deaths[1:], -1)
        q -= np.diag(births + deaths)
        return q.T

    p0 = np.zeros(states + 1)
    p0[0] = 1.0
    solution = solve_ivp(lambda t, p: generator(t) @ p, (0.0, float(times[-1])), p0, method="LSODA",
                         jac=lambda t, _p: generator(t), t_eval=times, rtol=1e-8, atol=1e-11)  # fmt: skip
    assert solution.success
    assert np.allclose(solution.y.sum(axis=0), 1.0, atol=1e-6)
    return n @ solution.y


def in_system(outputs: list[ReplicationOutput]) -> tuple[np.ndarray, np.ndarray]:
    """(sample times, number in the queue node per replication x sample)."""
    return outputs[0].times, np.array([o.series["q"][:, 0] for o in outputs])


def compare(label: str, sim: np.ndarray, theory: float) -> tuple[float, float, float]:
    """sim: one value per replication. Asserts theory within 2 x the 95% half-width (and 5%)."""
    mean = float(sim.mean())
    halfwidth = float(stats.t.ppf(0.975, sim.size - 1) * sim.std(ddof=1) / math.sqrt(sim.size))
    error = abs(mean - theory)
    print(f"  {label:<28} theory {theory:7.4f}  sim {mean:7.4f} ± {halfwidth:6.4f}  err {error / theory:6.2%}")
    assert error <= 2 * halfwidth, f"{label}: {theory:.4f} outside {mean:.4f} ± 2 x {halfwidth:.4f}"
    assert error <= 0.05 * theory
    return mean, halfwidth, theory


@pytest.mark.slow
def test_slow_cycles_follow_the_pointwise_stationary_approximation() -> None:
    period, step = 20_000.0, 5.0
    outputs = replications(mt_mc(period, 2 * period, step), 12)
    times, inside = in_system(outputs)
    ode = kolmogorov(times, period)
    print(f"\nM_t/M/2, T = {period:g} s (slow): mean in system around each phase, +-T/16")
    for phase, name in ((0.25, "peak"), (0.5, "falling mean"), (0.75, "trough"), (1.0, "rising mean")):
        centres = [c for c in (phase * period, (phase + 1) * period) if c + period / 16 <= times[-1]]
        window = np.zeros(times.size, dtype=bool)
        for centre in centres:
            window |= np.abs(times - centre) <= period / 16
        theory = float(psa(times[window], period).mean())
        compare(f"phase {phase:.2f} ({name}) vs PSA", inside[:, window].mean(axis=1), theory)
        exact = float(ode[window].mean())
        print(f"  {'':<28} the forward equations give {exact:.4f} ({exact / theory - 1:+.2%} from PSA)")
        assert exact == pytest.approx(theory, rel=0.01)  # slow cycles: PSA is all but the exact solution


@pytest.mark.slow
def test_fast_cycles_follow_the_forward_equations_not_psa() -> None:
    period, phases = 10.0, 8
    outputs = replications(mt_mc(period, 6000.0, period / phases), 20)
    times, inside = in_system(outputs)
    ode = kolmogorov(times, period)
    steady = times >= 600  # 60 cycles: 20 relaxation times, the periodic regime
    index = np.rint(times / (period / phases)).astype(int) % phases
    print(f"\nM_t/M/2, T = {period:g} s (fast): mean in system at each phase of the periodic regime")
    gaps = []
    for j in range(phases):
        at = steady & (index == j)
        theory = float(ode[at].mean())
        mean, halfwidth, _ = compare(f"phase {j}/{phases} vs ODE", inside[:, at].mean(axis=1), theory)
        gaps.append(abs(float(psa(times[at][:1], period)[0]) - mean) / halfwidth)
    # the fast queue cannot follow lambda(t): PSA misses it by many confidence intervals somewhere
    print(f"  PSA is off by up to {max(gaps):.0f} half-widths")
    assert max(gaps) > 10
