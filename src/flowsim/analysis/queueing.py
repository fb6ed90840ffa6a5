"""Queueing-theory results as pure functions: analytic predictions to set beside simulated figures.

Times are in seconds, rates per second; ``a = lam / mu`` is the offered load in Erlangs and
``rho = lam / (c * mu)`` the per-server utilisation. Invalid or unstable inputs raise ``ValueError``.

References: [GH] Gross, Shortle, Thompson & Harris, *Fundamentals of Queueing Theory*, 4th ed. (2008);
[K] Kleinrock, *Queueing Systems, Vol. 1* (1975); [AC] Allen, *Probability, Statistics, and Queueing
Theory*, 2nd ed. (1990); [J] Jackson, "Jobshop-like queueing systems", Mgmt. Sci. 10(1) (1963);
[L] Law, *Simulation Modeling and Analysis*, 5th ed. (2015).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from flowsim.confidence import solve_decreasing

_RADIUS_TOLERANCE = 1e-9  # spectral radius this close to 1 counts as "never drains"


def _check_nonneg(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _check_servers(c: int) -> None:
    if c < 1 or int(c) != c:
        raise ValueError(f"number of servers c must be an integer >= 1, got {c!r}")


def _check_quantile(q: float) -> None:
    if not 0.0 <= q < 1.0:
        raise ValueError(f"quantile level q must satisfy 0 <= q < 1, got {q!r}")


def _hypoexp_survival(r1: float, r2: float, t: float) -> float:
    """P(X1 + X2 > t) for independent Exp(r1), Exp(r2) (hypoexponential) [GH ch. 2].

    Written as e^{-r t}(1 + r t (1 - e^{-d t})/(d t)) with r = min rate and d = |r1 - r2|, which is
    stable for r1 -> r2 and tends to the Erlang-2 survival (1 + r t) e^{-r t} at r1 == r2.
    """
    lo, hi = min(r1, r2), max(r1, r2)
    x = (hi - lo) * t
    phi = 1.0 if x == 0.0 else -math.expm1(-x) / x
    return math.exp(-lo * t) * (1.0 + lo * t * phi)


def erlang_b(c: int, a: float) -> float:
    """Erlang B (loss) formula for M/M/c/c, via B(k) = a B(k-1) / (k + a B(k-1)), B(0) = 1 [GH ch. 2]."""
    if c < 0 or int(c) != c:
        raise ValueError(f"number of servers c must be an integer >= 0, got {c!r}")
    _check_nonneg("offered load a", a)
    if c > _RECURSION_UP_TO and a > 0:
        return _erlang_b_closed(int(c), a)
    b = 1.0
    for k in range(1, int(c) + 1):
        b = a * b / (k + a * b)
    return b


MAX_STATES = 1_000_000  # M/M/c/K evaluates one term per state; bigger capacities get no formula
_RECURSION_UP_TO = 10_000  # the recursion costs one step per server; past this, the closed form


def _erlang_b_closed(c: int, a: float) -> float:
    """B(c, a) = P(N = c) / P(N <= c) for N ~ Poisson(a), in log space: O(1) for 10^12 servers."""
    from scipy.special import gammaincc, gammaln  # local: only designs this large pay the import

    log_pmf = -a + c * math.log(a) - float(gammaln(c + 1))
    cdf = float(gammaincc(c + 1, a))  # regularised upper incomplete gamma = P(N <= c)
    return math.exp(log_pmf) / cdf if cdf > 0 else 1.0


def erlang_c(c: int, a: float) -> float:
    """Erlang C: probability an M/M/c arrival waits, C = c B / (c - a (1 - B)) [GH ch. 2, K ch. 3]."""
    _check_servers(c)
    _check_nonneg("offered load a", a)
    if a >= c:
        raise ValueError(f"Erlang C needs offered load a < c (a stable queue); got a={a!r}, c={c!r}")
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


@dataclass(frozen=True)
class QueueMetrics:
    """Steady-state means of a queue with unlimited waiting room."""

    rho: float  # per-server utilisation lam / (c * mu)
    p_wait: float  # probability that an arrival has to wait
    lq: float  # mean number waiting
    l: float  # mean number in system  # noqa: E741
    wq: float  # mean waiting time, s
    w: float  # mean sojourn (waiting + service) time, s


@dataclass(frozen=True)
class MMcMetrics(QueueMetrics):
    """M/M/c (FCFS) metrics, plus the waiting- and sojourn-time distributions [GH ch. 2]."""

    lam: float
    mu: float
    c: int

    @property
    def drain_rate(self) -> float:
        """c*mu - lam: the rate of the exponential tail of the waiting time."""
        return self.c * self.mu - self.lam

    def wq_cdf(self, t: float) -> float:
        """P(Wq <= t) = 1 - C e^{-(c mu - lam) t}, with an atom 1 - C at 0."""
        return 0.0 if t < 0.0 else 1.0 - self.p_wait * math.exp(-self.drain_rate * t)

    def wq_quantile(self, q: float) -> float:
        """Closed-form q-quantile of Wq: 0 if q <= 1 - C, else ln(C / (1 - q)) / (c mu - lam)."""
        _check_quantile(q)
        if q <= 1.0 - self.p_wait:
            return 0.0
        return math.log(self.p_wait / (1.0 - q)) / self.drain_rate

    def w_survival(self, t: float) -> float:
        """P(W > t) for W = Wq + S: (1 - C) e^{-mu t} + C P(Exp(c mu - lam) + Exp(mu) > t)."""
        if t < 0.0:
            return 1.0
        busy = _hypoexp_survival(self.drain_rate, self.mu, t)
        return (1.0 - self.p_wait) * math.exp(-self.mu * t) + self.p_wait * busy

    def w_cdf(self, t: float) -> float:
        """P(W <= t); for c = 1 this is 1 - e^{-(mu - lam) t}."""
        return 1.0 - self.w_survival(t)

    def w_quantile(self, q: float) -> float:
        """q-quantile of the sojourn time: closed form for M/M/1, else bisection on ``w_survival``."""
        _check_quantile(q)
        if q == 0.0:
            return 0.0
        if self.c == 1:
            return -math.log1p(-q) / self.drain_rate
        return solve_decreasing(self.w_survival, 1.0 - q, 1.0 / min(self.mu, self.drain_rate), 1e-15)


def mmck_states(a: float, c: int, k: int) -> list[float]:
    """P(n in system), n = 0..K, of M/M/c/K at offered load a > 0 erlangs, in log space so that
    large c and K neither overflow nor underflow: p_n ∝ a^n/n! (n <= c), p_c (a/c)^(n-c) above."""
    logs = [n * math.log(a) - math.lgamma(n + 1) for n in range(c + 1)]
    logs += [logs[c] + (n - c) * math.log(a / c) for n in range(c + 1, k + 1)]
    top = max(logs)
    weights = [math.exp(x - top) for x in logs]
    total = math.fsum(weights)
    return [x / total for x in weights]


def mmc(lam: float, mu: float, c: int) -> MMcMetrics:
    """M/M/c via Erlang C: Wq = C / (c mu - lam), Lq = lam Wq, W = Wq + 1/mu, L = lam W [GH ch. 2]."""
    _check_nonneg("arrival rate lam", lam)
    _check_positive("service rate mu", mu)
    _check_servers(c)
    a = lam / mu
    rho = a / c
    if rho >= 1.0:
        raise ValueError(f"M/M/{c} queue is unstable: rho = lam/(c*mu) = {rho:.6g} >= 1 (lam={lam}, mu={mu})")
    p_wait = erlang_c(c, a)
    wq = p_wait / (c * mu - lam)
    w = wq + 1.0 / mu
    return MMcMetrics(rho=rho, p_wait=p_wait, lq=lam * wq, l=lam * w, wq=wq, w=w, lam=lam, mu=mu, c=int(c))


@dataclass(frozen=True)
class FiniteQueueMetrics:
    """Steady state of M/M/c/K; ``w``/``wq`` are per *admitted* item (Little's law with lambda_eff)."""

    rho: float  # offered per-server load lam / (c * mu); may be >= 1
    p0: float  # probability the system is empty
    p_block: float  # p_K: probability an arrival finds K items and is lost
    lambda_eff: float  # admitted (= served) rate lam * (1 - p_K)
    l: float  # noqa: E741
    lq: float
    w: float
    wq: float
    utilization: float  # lambda_eff / (c * mu): mean fraction of busy servers


def mmck(lam: float, mu: float, c: int, k: int) -> FiniteQueueMetrics:
    """M/M/c/K birth-death solution (K = capacity incl. those in service), any rho [GH ch. 2, K ch. 3].

    p_n is proportional to a^n/n! for n <= c and a^c/c! rho^(n-c) above; evaluated in log space so
    that e.g. c = 200, K = 1000 neither overflows nor underflows.
    """
    _check_nonneg("arrival rate lam", lam)
    _check_positive("service rate mu", mu)
    _check_servers(c)
    if k < c or int(k) != k:
        raise ValueError(f"capacity K must be an integer >= c = {c}, got {k!r}")
    c, k = int(c), int(k)
    if lam == 0.0:
        return FiniteQueueMetrics(0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0 / mu, 0.0, 0.0)
    a = lam / mu
    p = mmck_states(a, c, k)
    lam_eff = lam * (1.0 - p[k])
    l_sys = math.fsum(n * pn for n, pn in enumerate(p))
    lq = math.fsum((n - c) * p[n] for n in range(c + 1, k + 1))
    return FiniteQueueMetrics(
        rho=a / c,
        p0=p[0],
        p_block=p[k],
        lambda_eff=lam_eff,
        l=l_sys,
        lq=lq,
        w=l_sys / lam_eff,
        wq=lq / lam_eff,
        utilization=lam_eff / (c * mu),
    )


def mmck_block_probability(lam: float, mu: float, c: int, k: int) -> float:
    """p_K of M/M/c/K in O(c), whatever K: the states above c form a geometric tail in r = a/c,
    summed in closed form (log space), so a capacity of millions costs no more than one of ten."""
    if lam <= 0.0:
        return 0.0
    a = lam / mu
    logs = [n * math.log(a) - math.lgamma(n + 1) for n in range(c + 1)]
    m, log_r = k - c, math.log(a / c)
    if m > 0:
        if abs(log_r) < 1e-12:
            log_tail = math.log(m)
        elif log_r < 0:
            log_tail = log_r + math.log1p(-math.exp(m * log_r)) - math.log1p(-math.exp(log_r))
        else:
            log_tail = m * log_r + math.log1p(-math.exp(-m * log_r)) - math.log1p(-math.exp(-log_r))
        logs.append(logs[c] + log_tail)
    top = max(logs)
    log_total = top + math.log(math.fsum(math.exp(x - top) for x in logs))
    return math.exp(logs[c] + m * log_r - log_total)


def mg1(lam: float, mean_s: float, var_s: float) -> QueueMetrics:
    """M/G/1 Pollaczek-Khinchine mean value: Wq = lam E[S^2] / (2 (1 - rho)) [GH ch. 5, K ch. 5].

    ``var_s = 0`` gives M/D/1, Wq = rho / (2 mu (1 - rho)); p_wait = rho (PASTA).
    """
    _check_nonneg("arrival rate lam", lam)
    _check_positive("mean service time mean_s", mean_s)
    _check_nonneg("service time variance var_s", var_s)
    rho = lam * mean_s
    if rho >= 1.0:
        raise ValueError(f"M/G/1 queue is unstable: rho = lam*mean_s = {rho:.6g} >= 1")
    wq = lam * (var_s + mean_s * mean_s) / (2.0 * (1.0 - rho))
    w = wq + mean_s
    return QueueMetrics(rho=rho, p_wait=rho, lq=lam * wq, l=lam * w, wq=wq, w=w)


def gim1(lam: float, mu: float, laplace: Callable[[float], float]) -> QueueMetrics:
    """GI/M/1, exact for renewal arrivals of rate lam with gap transform A*(s) [GH ch. 6, K ch. 6.4].

    The arrival sees n waiting with P = (1 - sigma) sigma^n, where sigma in (0, 1) solves
    sigma = A*(mu (1 - sigma)); then Wq = sigma / (mu (1 - sigma)) and W = Wq + 1/mu (Poisson
    arrivals give sigma = rho, M/M/1).  The fixed point is approached from 0, monotonically."""
    _check_positive("arrival rate lam", lam)
    _check_positive("service rate mu", mu)
    rho = lam / mu
    if rho >= 1.0:
        raise ValueError(f"GI/M/1 queue is unstable: rho = lam/mu = {rho:.6g} >= 1")
    sigma = 0.0
    for _ in range(100_000):
        nxt = laplace(mu * (1.0 - sigma))
        if abs(nxt - sigma) < 1e-14:
            sigma = nxt
            break
        sigma = nxt
    wq = sigma / (mu * (1.0 - sigma))
    w = wq + 1.0 / mu
    return QueueMetrics(rho=rho, p_wait=sigma, lq=lam * wq, l=lam * w, wq=wq, w=w)


def ggc_approx(lam: float, mean_s: float, c: int, ca2: float, cs2: float) -> QueueMetrics:
    """G/G/c Allen-Cunneen *approximation*: Wq ~ Wq(M/M/c) (ca2 + cs2) / 2 [AC; GH ch. 7].

    ca2, cs2 are the squared coefficients of variation of inter-arrival and service times. Exact for
    ca2 = cs2 = 1 (M/M/c) and for c = 1, ca2 = 1 (Pollaczek-Khinchine); otherwise an estimate, best
    in heavy traffic. ``p_wait`` is the Erlang C value of the M/M/c queue with the same means.
    """
    _check_positive("mean service time mean_s", mean_s)
    _check_nonneg("ca2", ca2)
    _check_nonneg("cs2", cs2)
    base = mmc(lam, 1.0 / mean_s, c)
    wq = base.wq * (ca2 + cs2) / 2.0
    w = wq + mean_s
    return QueueMetrics(rho=base.rho, p_wait=base.p_wait, lq=lam * wq, l=lam * w, wq=wq, w=w)


def traffic_equations(routing: npt.ArrayLike, external: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Solve the open-network traffic equations lam = gamma + P^T lam [J; GH ch. 4].

    ``routing[i, j]`` is the mean number of items node j receives per item leaving node i: a routing
    probability (a row summing to < 1 lets items leave the network) or, for fan-out copies, a row
    summing to > 1. A unique finite solution exists when the spectral radius of P is < 1; otherwise
    some cycle keeps (or multiplies) its flow forever and ``ValueError`` is raised.
    """
    p = np.asarray(routing, dtype=np.float64)
    g = np.asarray(external, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise ValueError(f"routing must be a square n x n matrix, got shape {p.shape}")
    if g.shape != (p.shape[0],):
        raise ValueError(f"external rates must have shape ({p.shape[0]},), got {g.shape}")
    if not (np.all(np.isfinite(p)) and np.all(p >= 0.0)):
        raise ValueError("routing entries must be finite and >= 0")
    if not (np.all(np.isfinite(g)) and np.all(g >= 0.0)):
        raise ValueError("external arrival rates must be finite and >= 0")
    n = p.shape[0]
    if n == 0:
        return np.zeros(0)
    radius = float(np.max(np.abs(np.linalg.eigvals(p))))
    if radius >= 1.0 - _RADIUS_TOLERANCE:
        raise ValueError(
            f"traffic equations have no finite solution: routing matrix has spectral radius "
            f"{radius:.6g} >= 1, i.e. some cycle returns flow with probability 1 and no exit, or "
            f"fan-out copies amplify flow around a cycle"
        )
    try:
        lam = np.linalg.solve(np.eye(n) - p.T, g)
    except np.linalg.LinAlgError as exc:
        raise ValueError(f"traffic equations are singular: {exc}") from exc
    return np.asarray(lam, dtype=np.float64)


@dataclass(frozen=True)
class NetworkMetrics:
    """Open Jackson network: per-node M/M/c metrics and network totals."""

    nodes: tuple[MMcMetrics, ...]
    external_rate: float  # sum of external arrival rates gamma, items/s
    l_total: float  # mean number of items in the whole network
    w_total: float  # mean time in the network per external arrival (Little: l_total / external_rate)


def jackson_network(
    arrival_rates: npt.ArrayLike,
    service_rates: npt.ArrayLike,
    servers: npt.ArrayLike,
    external_rate: float,
) -> NetworkMetrics:
    """Jackson's theorem: each node behaves as an independent M/M/c with its total rate lam_i [J; GH ch. 4].

    With fan-out copies, ``w_total`` counts the time of every copy an external arrival spawns.
    """
    lams = np.asarray(arrival_rates, dtype=np.float64).ravel()
    mus = np.asarray(service_rates, dtype=np.float64).ravel()
    cs = np.asarray(servers).ravel()
    if not lams.shape == mus.shape == cs.shape:
        raise ValueError(f"need one rate and server count per node, got {lams.size}, {mus.size}, {cs.size}")
    _check_positive("external arrival rate", external_rate)
    nodes: list[MMcMetrics] = []
    for i, (lam, mu, c) in enumerate(zip(lams, mus, cs, strict=True)):
        try:
            nodes.append(mmc(float(lam), float(mu), int(c)))
        except ValueError as exc:
            raise ValueError(f"node {i}: {exc}") from exc
    l_total = math.fsum(node.l for node in nodes)
    return NetworkMetrics(tuple(nodes), external_rate, l_total, l_total / external_rate)


def jackson_from_routing(
    routing: npt.ArrayLike, external: npt.ArrayLike, service_rates: npt.ArrayLike, servers: npt.ArrayLike
) -> NetworkMetrics:
    """Solve ``traffic_equations`` and then ``jackson_network`` with external_rate = sum(gamma)."""
    lams = traffic_equations(routing, external)
    total = float(np.sum(np.asarray(external, dtype=np.float64)))
    return jackson_network(lams, service_rates, servers, total)


def retry_visits(p_fail: float, max_attempts: int) -> tuple[float, float]:
    """Truncated geometric retries: (E[attempts], P(success)) = ((1 - p^m) / (1 - p), 1 - p^m).

    Each attempt fails independently with probability p; an item stops at its first success or after m.
    """
    if not 0.0 <= p_fail <= 1.0:
        raise ValueError(f"p_fail must be in [0, 1], got {p_fail!r}")
    if max_attempts < 1 or int(max_attempts) != max_attempts:
        raise ValueError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")
    if p_fail == 0.0:
        return 1.0, 1.0
    if p_fail == 1.0:
        return float(max_attempts), 0.0
    success = -math.expm1(max_attempts * math.log(p_fail))  # 1 - p^m without cancellation
    return success / (1.0 - p_fail), success
