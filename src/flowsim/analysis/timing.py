"""When a time-varying load saturates a node: rho over the day, not only at the peak.

The analytic view takes every source at its peak rate at once (conservative, `rate_basis:
"peak"`).  Offered load is linear in the sources' rates, so each node's rho at every stage is
a sum over the nodes that emit flow: rho(t) = sum_e rho_e x g_e(t), where rho_e is the load
emitter e causes alone at its peak and g_e(t) its rate at t over that peak (0 outside its
start..stop).  Scanning rho(t) on a one-minute grid (every knot of every profile included) and
bisecting the first crossing gives the moment a node first saturates and the moment it peaks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from flowsim.analysis.loads import node_flows, solve_rates
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.source import SourceConfig
from flowsim.spec.architecture import Architecture

Gain = Callable[[np.ndarray], np.ndarray]
STEP_S = 60.0
MAX_TIMED_GROUPS = 64  # time-varying emitters solved one by one; beyond this the view says rho at the peak only


@dataclass(frozen=True)
class Timing:
    """A node's load over time: when it first reaches rho = 1, and when and how high it peaks."""

    saturates_at: float | None
    peak_at: float
    peak_rho: float


def varies(arch: Architecture) -> bool:
    """True when some source's rate changes over time (a profile, a trace, an MMPP)."""
    return any(isinstance(c, SourceConfig) and c.time_varying() for c in arch.nodes.values())


def clock(seconds: float) -> str:
    """Simulation time as a time of day: 13:20, 13:20:05, or 'day 2 13:20' past the first day."""
    whole = round(seconds)
    day, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")
    return f"day {day + 1} {text}" if day else text


def _gain(config: NodeConfig) -> Gain:
    """The emitter's rate at t as a share of the rate the view uses for it."""
    if not isinstance(config, SourceConfig):
        return lambda t: np.ones(np.shape(t))
    stop = config.stop if config.stop is not None else math.inf
    law, peak = config.rate_law("peak"), config.external_rate()

    def gain(t: np.ndarray) -> np.ndarray:
        on = (t >= config.start) & (t <= stop)
        share = law.values(t) / peak if config.time_varying() else np.ones(np.shape(t))
        out: np.ndarray = np.where(on, share, 0.0)
        return out

    return gain


def _window(arch: Architecture) -> tuple[float, float, np.ndarray]:
    """The span scanned (every varying source's rate window) and the knots inside it."""
    sources = [c for c in arch.nodes.values() if isinstance(c, SourceConfig)]
    spans = [c.rate_window() for c in sources if c.time_varying()]
    a, b = 0.0, max(end for _, end in spans)
    knots = [c.rate_law().edges(a, b, grid=False) for c in sources if c.time_varying()]
    knots += [np.array([c.start, c.stop if c.stop is not None else a]) for c in sources]
    return a, b, np.concatenate(knots)


def load_timings(arch: Architecture, load_multiplier: float, names: Sequence[str]) -> dict[str, Timing]:
    """Timing of rho for each node in `names` (nodes with a finite load at some stage)."""
    emitters = [n for n, c in arch.nodes.items() if c.external_rate() > 0 or _emits(c)]
    steady = [n for n in emitters if _steady(arch.nodes[n])]  # rate never changes: solved together
    groups = [[n] for n in emitters if n not in set(steady)] + ([steady] if steady else [])
    if len(groups) > MAX_TIMED_GROUPS:  # one solve per group: bounded, so the view stays O(nodes + edges)
        return {}
    passes = {name: config.pass_fraction() for name, config in arch.nodes.items()}
    shares: dict[str, list[tuple[Gain, dict[str, float]]]] = {name: [] for name in names}
    for group in groups:
        members = set(group)
        external = {n: (c.external_rate() * load_multiplier if n in members else 0.0) for n, c in arch.nodes.items()}
        flows = node_flows(arch, solve_rates(arch, external, passes), load_multiplier, only=members)
        gain = _gain(arch.nodes[group[0]])
        for name in names:
            if name in flows:
                loads = {s: rho for s, rho in flows[name].loads.items() if math.isfinite(rho)}
                shares[name].append((gain, loads))
    a, b, knots = _window(arch)
    grid = np.unique(np.concatenate([np.arange(a, b + STEP_S, STEP_S), knots]))
    grid = grid[(grid >= a) & (grid <= b)]
    return {name: _timing(shares[name], grid) for name in names if shares[name]}


def _steady(config: NodeConfig) -> bool:
    """An emitter whose share of its rate is 1 at every t (its gain is constant)."""
    if not isinstance(config, SourceConfig):
        return True
    return not config.time_varying() and config.start <= 0 and config.stop is None


def _emits(config: NodeConfig) -> bool:
    law = config.flow_law()
    return law is not None and law.emits_per_s > 0


def _rho(parts: list[tuple[Gain, dict[str, float]]], t: np.ndarray) -> np.ndarray:
    stages: dict[str, np.ndarray] = {}
    for gain, loads in parts:
        g = gain(t)
        for stage, rho in loads.items():
            stages[stage] = stages.get(stage, 0.0) + rho * g
    if not stages:
        return np.zeros(np.shape(t))
    out: np.ndarray = np.max(np.vstack(list(stages.values())), axis=0)
    return out


def _timing(parts: list[tuple[Gain, dict[str, float]]], grid: np.ndarray) -> Timing:
    rho = _rho(parts, grid)
    top = int(np.argmax(rho))
    over = np.flatnonzero(rho >= 1.0)
    if over.size == 0:
        return Timing(None, float(grid[top]), float(rho[top]))
    hit = int(over[0])
    if hit == 0:
        return Timing(float(grid[0]), float(grid[top]), float(rho[top]))
    lo, hi = float(grid[hit - 1]), float(grid[hit])
    while hi - lo > 0.5:  # the first crossing, to the second
        mid = (lo + hi) / 2
        if _rho(parts, np.array([mid]))[0] >= 1.0:
            hi = mid
        else:
            lo = mid
    return Timing(hi, float(grid[top]), float(rho[top]))
