"""flowsim against another simulator, Ciw, on systems without a closed form.

Both simulators run the same system over independent seeded replications; for each figure the
difference of the two means must lie within twice its 95% confidence half-width (Welch), and
within 5% of the Ciw mean unless that half-width is itself wider (a noisy figure cannot be held
to a bound tighter than its own uncertainty).

Ciw's `queue_capacities` count the waiting room only, flowsim's `capacity` counts every message in
the node, so capacity = waiting room + servers; both block after service when the next node is full.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import pytest

import flowsim

ciw = pytest.importorskip("ciw")

REPLICATIONS = 10
HORIZON, WARMUP = 20_000.0, 2_000.0


def welch_halfwidth(a: list[float], b: list[float]) -> float:
    from scipy import stats

    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(stats.t.ppf(0.975, dof)) * math.sqrt(va + vb)


def ciw_figures(network: object, figures: Callable[[list[object]], dict[str, float]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for r in range(REPLICATIONS):
        ciw.seed(1000 + r)
        sim = ciw.Simulation(network)
        sim.simulate_until_max_time(HORIZON)
        records = [x for x in sim.get_all_records() if x.arrival_date > WARMUP]
        for key, value in figures(records).items():
            out.setdefault(key, []).append(value)
    return out


def flowsim_figures(text: str, figures: Callable[[flowsim.RunResult], dict[str, float]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    scenario = flowsim.load_scenario(text)
    for r in range(REPLICATIONS):
        result = flowsim.simulate(scenario, seed=r)
        for key, value in figures(result).items():
            out.setdefault(key, []).append(value)
    return out


def assert_agree(ours: dict[str, list[float]], theirs: dict[str, list[float]]) -> None:
    for key in theirs:
        a, b = ours[key], theirs[key]
        diff = statistics.mean(a) - statistics.mean(b)
        halfwidth = welch_halfwidth(a, b)
        message = f"{key}: flowsim {statistics.mean(a):.4f} vs Ciw {statistics.mean(b):.4f} (± {halfwidth:.4f})"
        assert abs(diff) <= max(2 * halfwidth, 1e-9), message
        bound = max(0.05 * abs(statistics.mean(b)), halfwidth)
        assert abs(diff) <= bound, f"{key}: off by {diff / statistics.mean(b):+.1%}"


@pytest.mark.slow
def test_tandem_with_blocking_after_service() -> None:
    # lambda 0.5; station 1: mu 1; station 2: mu 0.8 with room for 1 waiting -> blocks station 1
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=0.5), None],
        service_distributions=[ciw.dists.Exponential(rate=1.0), ciw.dists.Exponential(rate=0.8)],
        routing=[[0.0, 1.0], [0.0, 0.0]],
        number_of_servers=[1, 1],
        queue_capacities=[float("inf"), 1],
    )

    def theirs(records: list[object]) -> dict[str, float]:
        one = [x for x in records if x.node == 1]  # type: ignore[attr-defined]
        two = [x for x in records if x.node == 2]  # type: ignore[attr-defined]
        return {
            "wait_1": statistics.mean(x.waiting_time for x in one),  # type: ignore[attr-defined]
            "blocked_1": statistics.mean(x.time_blocked for x in one),  # type: ignore[attr-defined]
            "wait_2": statistics.mean(x.waiting_time for x in two),  # type: ignore[attr-defined]
            "throughput": len(two) / (HORIZON - WARMUP),
        }

    text = f"""
name: tandem-blocking
architecture:
  name: tandem
  nodes:
    arrivals: {{kind: source, rate: 0.5/s}}
    one: {{kind: service, service_time: {{dist: exponential, mean: 1s}}}}
    two: {{kind: service, service_time: {{dist: exponential, mean: 1.25s}}, capacity: 2, on_full: block}}
    done: {{kind: sink}}
  edges: [arrivals -> one, one -> two, two -> done]
duration: {HORIZON}s
warmup: {WARMUP}s
"""

    def ours(result: flowsim.RunResult) -> dict[str, float]:
        one, two = result.nodes["one"], result.nodes["two"]
        assert one.wait_s is not None and two.wait_s is not None
        return {
            "wait_1": one.wait_s.mean,
            "blocked_1": one.blocked_time_s / one.completed,
            "wait_2": two.wait_s.mean,
            "throughput": two.throughput_per_s,
        }

    assert_agree(flowsim_figures(text, ours), ciw_figures(network, theirs))


@pytest.mark.slow
def test_general_arrivals_and_gamma_service_on_two_servers() -> None:
    # G/G/2: uniform interarrivals (mean 1s), gamma service (shape 2, mean 1.6s): rho = 0.8
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Uniform(lower=0.5, upper=1.5)],
        service_distributions=[ciw.dists.Gamma(shape=2.0, scale=0.8)],
        number_of_servers=[2],
    )

    def theirs(records: list[object]) -> dict[str, float]:
        waits = [x.waiting_time for x in records]  # type: ignore[attr-defined]
        return {"wait": statistics.mean(waits), "sojourn": statistics.mean(
            x.exit_date - x.arrival_date for x in records  # type: ignore[attr-defined]
        )}  # fmt: skip

    text = f"""
name: gg2
architecture:
  name: gg2
  nodes:
    arrivals: {{kind: source, interarrival: {{dist: uniform, low: 0.5s, high: 1.5s}}}}
    pool: {{kind: service, servers: 2, service_time: {{dist: gamma, shape: 2, mean: 1.6s}}}}
    done: {{kind: sink}}
  edges: [arrivals -> pool, pool -> done]
duration: {HORIZON}s
warmup: {WARMUP}s
"""

    def ours(result: flowsim.RunResult) -> dict[str, float]:
        pool = result.nodes["pool"]
        assert pool.wait_s is not None and pool.sojourn_s is not None
        return {"wait": pool.wait_s.mean, "sojourn": pool.sojourn_s.mean}

    assert_agree(flowsim_figures(text, ours), ciw_figures(network, theirs))
