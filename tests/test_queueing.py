"""Check flowsim.analysis.queueing against textbook values and independent direct formulas."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import integrate

from flowsim.analysis.queueing import (
    erlang_b,
    erlang_c,
    ggc_approx,
    jackson_from_routing,
    jackson_network,
    mg1,
    mmc,
    mmck,
    retry_visits,
    traffic_equations,
)
from flowsim.confidence import student_t_halfwidth, student_t_quantile


def _erlang_c_direct(c: int, a: float | Fraction) -> float:
    """Textbook Erlang C: (a^c/c! * c/(c-a)) / (sum_{k<c} a^k/k! + a^c/c! * c/(c-a))."""
    a = Fraction(a)
    tail = a**c / math.factorial(c) * Fraction(c) / (c - a)
    head = sum(a**k / math.factorial(k) for k in range(c))
    return float(tail / (head + tail))


def _erlang_b_direct(c: int, a: Fraction) -> float:
    return float((a**c / math.factorial(c)) / sum(a**k / math.factorial(k) for k in range(c + 1)))


# --- Erlang B / C ------------------------------------------------------------------------------


@pytest.mark.parametrize(("c", "a"), [(1, 0.5), (2, 1.8), (5, 3.0), (10, 9.5)])
def test_erlang_c_matches_direct_formula(c: int, a: float) -> None:
    assert erlang_c(c, a) == pytest.approx(_erlang_c_direct(c, a), rel=1e-12)


def test_erlang_c_c2_a18_value() -> None:
    # (1.8^2/2 * 2/0.2) / (1 + 1.8 + 16.2) = 16.2 / 19
    assert erlang_c(2, 1.8) == pytest.approx(16.2 / 19.0, rel=1e-12)


@pytest.mark.parametrize(("c", "a"), [(1, 1), (10, 5), (30, 25)])
def test_erlang_b_matches_direct_formula(c: int, a: int) -> None:
    assert erlang_b(c, a) == pytest.approx(_erlang_b_direct(c, Fraction(a)), rel=1e-12)


def test_erlang_c_requires_stability() -> None:
    with pytest.raises(ValueError, match="a < c"):
        erlang_c(2, 2.0)


def test_large_c_is_stable() -> None:
    assert erlang_c(200, 190.0) == pytest.approx(_erlang_c_direct(200, Fraction(190)), rel=1e-10)
    assert erlang_b(200, 190.0) == pytest.approx(_erlang_b_direct(200, Fraction(190)), rel=1e-10)
    m = mmc(190.0, 1.0, 200)
    assert all(math.isfinite(x) for x in (m.p_wait, m.lq, m.l, m.wq, m.w))
    assert 0.0 < m.p_wait < 1.0


# --- M/M/c -------------------------------------------------------------------------------------


def test_mm1_textbook_values() -> None:
    m = mmc(0.9, 1.0, 1)
    assert m.rho == pytest.approx(0.9)
    assert m.p_wait == pytest.approx(0.9)
    assert m.wq == pytest.approx(9.0)
    assert m.w == pytest.approx(10.0)
    assert m.lq == pytest.approx(8.1)
    assert m.l == pytest.approx(9.0)


def test_mmc_littles_law_and_relations() -> None:
    m = mmc(1.8, 1.0, 2)
    assert m.rho == pytest.approx(0.9)
    assert m.wq == pytest.approx(erlang_c(2, 1.8) / 0.2)
    assert m.lq == pytest.approx(1.8 * m.wq)
    assert m.l == pytest.approx(m.lq + 1.8)


def test_mmc_unstable_raises() -> None:
    with pytest.raises(ValueError, match="unstable"):
        mmc(2.0, 1.0, 2)
    with pytest.raises(ValueError, match="unstable"):
        mmc(1.5, 1.0, 1)


def test_mm1_sojourn_distribution_is_exponential() -> None:
    m = mmc(0.9, 1.0, 1)
    for t in (0.0, 1.0, 10.0, 50.0):
        assert m.w_cdf(t) == pytest.approx(-math.expm1(-0.1 * t), abs=1e-14)
    assert m.w_quantile(0.95) == pytest.approx(-math.log(0.05) / 0.1)
    assert m.w_quantile(0.5) == pytest.approx(math.log(2.0) / 0.1)


@pytest.mark.parametrize(("lam", "mu", "c"), [(1.8, 1.0, 2), (1.0, 1.0, 2), (9.0, 1.0, 10), (190.0, 1.0, 200)])
@pytest.mark.parametrize("q", [0.01, 0.5, 0.9, 0.99, 0.999999])
def test_quantiles_invert_cdf(lam: float, mu: float, c: int, q: float) -> None:
    m = mmc(lam, mu, c)
    assert m.w_cdf(m.w_quantile(q)) == pytest.approx(q, rel=1e-9, abs=1e-12)
    tq = m.wq_quantile(q)
    if q > 1.0 - m.p_wait:
        assert m.wq_cdf(tq) == pytest.approx(q, rel=1e-12)
    else:
        assert tq == 0.0
        assert m.wq_cdf(0.0) >= q


@pytest.mark.parametrize(("lam", "mu", "c"), [(1.8, 1.0, 2), (1.0, 1.0, 2), (2.5, 0.5, 7)])
def test_sojourn_cdf_integrates_to_mean(lam: float, mu: float, c: int) -> None:
    m = mmc(lam, mu, c)
    mean, _ = integrate.quad(m.w_survival, 0.0, math.inf)
    assert mean == pytest.approx(m.w, rel=1e-8)


def test_sojourn_cdf_continuous_at_equal_rates() -> None:
    # c*mu - lam == mu exactly when lam = (c-1)*mu: the hypoexponential becomes Erlang-2.
    exact = mmc(1.0, 1.0, 2)
    near = mmc(1.0 - 1e-9, 1.0, 2)
    for t in (0.1, 1.0, 5.0):
        assert near.w_cdf(t) == pytest.approx(exact.w_cdf(t), abs=1e-8)
    c_wait = exact.p_wait
    t = 2.0
    expected = 1.0 - ((1.0 - c_wait) * math.exp(-t) + c_wait * (1.0 + t) * math.exp(-t))
    assert exact.w_cdf(t) == pytest.approx(expected, rel=1e-14)


# --- M/M/c/K -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("rho", "k"), [(0.5, 5), (0.9, 10), (1.5, 8), (3.0, 20)])
def test_mm1k_blocking_formula(rho: float, k: int) -> None:
    m = mmck(rho, 1.0, 1, k)
    assert m.p_block == pytest.approx((1 - rho) * rho**k / (1 - rho ** (k + 1)), rel=1e-12)
    assert m.lambda_eff == pytest.approx(rho * (1.0 - m.p_block))


@pytest.mark.parametrize("k", [1, 4, 50])
def test_mm1k_rho_one_limit(k: int) -> None:
    m = mmck(2.0, 2.0, 1, k)
    assert m.p_block == pytest.approx(1.0 / (k + 1))
    assert m.l == pytest.approx(k / 2.0)


def test_mmcc_is_erlang_b() -> None:
    assert mmck(7.0, 1.0, 10, 10).p_block == pytest.approx(erlang_b(10, 7.0), rel=1e-12)


def test_mmck_large_k_matches_mmc() -> None:
    fin, inf = mmck(190.0, 1.0, 200, 1000), mmc(190.0, 1.0, 200)
    assert fin.p_block < 1e-15
    assert fin.lq == pytest.approx(inf.lq, rel=1e-9)
    assert fin.w == pytest.approx(inf.w, rel=1e-9)


def test_mmck_overload_is_finite_and_consistent() -> None:
    m = mmck(300.0, 1.0, 200, 1000)
    assert all(math.isfinite(x) for x in (m.p0, m.p_block, m.l, m.lq, m.w, m.wq))
    assert m.rho == pytest.approx(1.5)
    assert m.p_block == pytest.approx(1.0 - 1.0 / 1.5, rel=1e-6)
    assert m.utilization == pytest.approx(1.0, rel=1e-6)
    assert m.l == pytest.approx(m.lq + m.utilization * 200)
    assert m.w == pytest.approx(m.wq + 1.0)


def test_mmck_rejects_k_below_c() -> None:
    with pytest.raises(ValueError, match="capacity"):
        mmck(1.0, 1.0, 3, 2)


# --- M/G/1 and G/G/c ---------------------------------------------------------------------------


def test_md1() -> None:
    lam, mu = 0.8, 1.0
    m = mg1(lam, 1.0 / mu, 0.0)
    rho = lam / mu
    assert m.wq == pytest.approx(rho / (2 * mu * (1 - rho)))
    assert m.lq == pytest.approx(lam * m.wq)


def test_mg1_exponential_service_is_mm1() -> None:
    a, b = mg1(0.9, 1.0, 1.0), mmc(0.9, 1.0, 1)
    assert (a.wq, a.w, a.lq, a.l) == pytest.approx((b.wq, b.w, b.lq, b.l))


def test_mg1_unstable() -> None:
    with pytest.raises(ValueError, match="unstable"):
        mg1(1.0, 1.0, 0.0)


def test_allen_cunneen_exact_cases() -> None:
    assert ggc_approx(1.8, 1.0, 2, 1.0, 1.0).wq == pytest.approx(mmc(1.8, 1.0, 2).wq)
    # c = 1 with Poisson arrivals reduces to Pollaczek-Khinchine.
    assert ggc_approx(0.7, 2.0 / 3.0, 1, 1.0, 0.25).wq == pytest.approx(mg1(0.7, 2.0 / 3.0, 0.25 * 4 / 9).wq)
    assert ggc_approx(1.8, 1.0, 2, 0.5, 0.5).wq == pytest.approx(0.5 * mmc(1.8, 1.0, 2).wq)


# --- networks ----------------------------------------------------------------------------------


def test_traffic_tandem() -> None:
    p = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=float)
    assert traffic_equations(p, [2.0, 0.0, 0.0]) == pytest.approx([2.0, 2.0, 2.0])


@pytest.mark.parametrize("p", [0.0, 0.3, 0.9])
def test_traffic_feedback(p: float) -> None:
    assert traffic_equations([[p]], [1.5]) == pytest.approx([1.5 / (1 - p)])


def test_traffic_fan_out() -> None:
    p = np.array([[0, 1, 1], [0, 0, 0], [0, 0, 0]], dtype=float)
    assert traffic_equations(p, [1.0, 0.0, 0.0]) == pytest.approx([1.0, 1.0, 1.0])
    loop = np.array([[0.0, 2.0], [0.4, 0.0]])  # gain 0.8 around the cycle
    assert traffic_equations(loop, [1.0, 0.0]) == pytest.approx([5.0, 10.0])


@pytest.mark.parametrize(
    "p",
    [
        [[0.0, 1.0], [1.0, 0.0]],  # closed cycle, no exit
        [[1.0]],  # self-loop with probability 1
        [[0.0, 2.0], [0.6, 0.0]],  # fan-out amplification 1.2 around a cycle
    ],
)
def test_traffic_non_convergent(p: list[list[float]]) -> None:
    with pytest.raises(ValueError, match="spectral radius"):
        traffic_equations(p, [1.0] * len(p))


def test_traffic_bad_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        traffic_equations([[0.0, 1.0]], [1.0])
    with pytest.raises(ValueError, match="shape"):
        traffic_equations([[0.0]], [1.0, 2.0])


def test_jackson_tandem() -> None:
    net = jackson_network([1.0, 1.0], [2.0, 3.0], [1, 1], external_rate=1.0)
    assert net.l_total == pytest.approx(1.0 + 0.5)
    assert net.w_total == pytest.approx(1.0 / (2 - 1) + 1.0 / (3 - 1))


def test_jackson_feedback_via_routing() -> None:
    gamma, p, mu = 1.0, 0.5, 4.0
    net = jackson_from_routing([[p]], [gamma], [mu], [1])
    lam = gamma / (1 - p)
    rho = lam / mu
    assert net.nodes[0].lam == pytest.approx(lam)
    assert net.l_total == pytest.approx(rho / (1 - rho))
    assert net.w_total == pytest.approx(net.l_total / gamma)


def test_jackson_unstable_node_named() -> None:
    with pytest.raises(ValueError, match="node 1"):
        jackson_network([1.0, 3.0], [2.0, 2.0], [1, 1], external_rate=1.0)


# --- retries and confidence intervals ----------------------------------------------------------


def test_retry_visits() -> None:
    assert retry_visits(0.5, 3) == pytest.approx((1.75, 0.875))
    assert retry_visits(0.0, 5) == (1.0, 1.0)
    assert retry_visits(1.0, 4) == (4.0, 0.0)
    assert retry_visits(0.2, 1) == pytest.approx((1.0, 0.8))
    attempts, success = retry_visits(0.3, 10_000)
    assert attempts == pytest.approx(1 / 0.7) and success == pytest.approx(1.0)


def test_student_t_halfwidth() -> None:
    xs = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert student_t_halfwidth(xs) == pytest.approx(2.7764451 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)
    assert student_t_halfwidth(xs, 0.99) > student_t_halfwidth(xs, 0.95)
    assert student_t_halfwidth([3.0, 3.0, 3.0]) == 0.0
    assert math.isnan(student_t_halfwidth([1.0]))
    assert math.isnan(student_t_halfwidth([]))


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 5, 9, 19, 29, 99, 1000, 100_000])
@pytest.mark.parametrize("p", [0.75, 0.9, 0.95, 0.975, 0.995, 0.9995])
def test_student_t_quantile_matches_scipy(p: float, dof: int) -> None:
    """flowsim computes t quantiles itself (no scipy at run time); scipy is the reference here.

    1e-8: scipy 1.11 (the floor) is itself off by ~2e-9 (t_{1, 0.9995}: 636.61924943 where the
    closed form tan(0.4995 pi) is 636.61924877, which flowsim and scipy >= 1.13 give)."""
    from scipy import stats

    assert student_t_quantile(p, dof) == pytest.approx(float(stats.t.ppf(p, dof)), rel=1e-8)


def test_student_t_quantile_known_values() -> None:
    # closed forms: t_{1,p} = tan(pi (p - 1/2)); t_{2,p} = (2p - 1) sqrt(2 / (4p(1 - p))) = 0.95 x 4.52911 = 4.30265
    assert student_t_quantile(0.975, 1) == pytest.approx(math.tan(0.475 * math.pi), rel=1e-10)
    assert student_t_quantile(0.975, 2) == pytest.approx(4.302652729911275, rel=1e-10)
    assert student_t_quantile(0.5, 7) == 0.0


def test_gim1_with_poisson_gaps_is_mm1_and_dm1_has_its_sigma() -> None:
    from flowsim.analysis.queueing import gim1

    # exponential gaps of rate 0.6: A*(s) = 0.6 / (0.6 + s), sigma = rho = 0.6, Wq = 0.6 / 0.4 = 1.5
    assert gim1(0.6, 1.0, lambda s: 0.6 / (0.6 + s)).wq == pytest.approx(1.5, rel=1e-9)
    # D/M/1, gaps 1.25 s: sigma = exp(-1.25 (1 - sigma)) = 0.628626..., Wq = sigma / (1 - sigma)
    metrics = gim1(0.8, 1.0, lambda s: math.exp(-1.25 * s))
    assert metrics.p_wait == pytest.approx(math.exp(-1.25 * (1 - metrics.p_wait)), abs=1e-12)
    assert metrics.wq == pytest.approx(metrics.p_wait / (1 - metrics.p_wait)) and metrics.l == pytest.approx(
        0.8 * metrics.w
    )
    with pytest.raises(ValueError, match="unstable"):
        gim1(1.0, 1.0, lambda s: math.exp(-s))


@pytest.mark.parametrize(("lam", "c", "k"), [(0.9, 1, 5), (3.6, 3, 6), (3.8, 4, 4), (1.0, 1, 10), (2.0, 1, 10),
                                             (950.0, 1000, 1200)])  # fmt: skip
def test_block_probability_in_closed_form_equals_the_state_sum(lam: float, c: int, k: int) -> None:
    from flowsim.analysis.queueing import mmck_block_probability

    assert mmck_block_probability(lam, 1.0, c, k) == pytest.approx(mmck(lam, 1.0, c, k).p_block, rel=1e-9)


def test_block_probability_of_a_huge_capacity_is_the_overload_share() -> None:
    from flowsim.analysis.queueing import mmck_block_probability

    # K = 10^7 at rho 1.2: what cannot be served, 1 - 1/1.2 = 1/6, is dropped; at rho 0.9, nothing
    assert mmck_block_probability(1.2, 1.0, 1, 10**7) == pytest.approx(1 / 6, rel=1e-9)
    assert mmck_block_probability(0.9, 1.0, 1, 10**7) == 0.0
