"""The fluid engine on cycles and in the stationary case: every message is accounted for around a
feedback loop, a loop it cannot follow is refused, and node waits and sojourns agree with the exact
M/M/1/K and M/M/1 formulas (and with each other: W - Wq is the mean service)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

import flowsim
from flowsim.errors import FlowsimError, SimulationTooLarge
from flowsim.fluid import fluid_problems
from flowsim.fluid.latency import queue_waits
from flowsim.fluid.queues import bounded


def scenario(
    nodes: dict[str, object], edges: list[object], duration: str = "1000s", **extra: object
) -> flowsim.Scenario:
    doc = {"name": "t", "duration": duration, **extra, "architecture": {"name": "a", "nodes": nodes, "edges": edges}}
    return flowsim.load_scenario(yaml.safe_dump(doc, sort_keys=False))


def balance(result: flowsim.RunResult) -> tuple[float, float]:
    """(what came in, what the balance leaves over) over the totals, and per node."""
    t = result.totals
    came = t.arrivals + t.copies + t.inside_at_start
    went = t.delivered + t.dropped + t.dead_lettered + t.lost + t.merged + t.inside_at_end
    for name, n in result.nodes.items():
        node_in = n.arrivals + n.created + n.inside_at_start
        node_out = n.completed + n.dropped + n.dead_lettered + n.lost + n.inside_at_end
        if n.kind == "source":
            continue  # a source's arrivals are its completed
        assert node_in == pytest.approx(node_out, rel=1e-9, abs=1e-6), name
    assert t.unaccounted == pytest.approx(came - went)
    return came, t.unaccounted


LOOP = {"src": {"kind": "source", "rate": "100/s"}, "a1": {"kind": "service", "servers": 150, "service_time": "10ms"},
        "done": {"kind": "sink"}}  # fmt: skip


def test_a_self_loop_keeps_every_message() -> None:
    # 100/s into a 150-server service (10 ms) that sends 99% back to itself, 1000 s, step 0.05 s.
    # A message visits 1 / 0.01 = 100 times (99 rounds of the loop), so a1 carries 100 x 100 = 10,000/s,
    # 9,900/s of it round the loop.  The loop's closing edge hands its flow on a step late: at the end
    # 9,900/s x 0.05 s = 495 messages are on it, inside a1 (they were 495 unaccounted before).
    # Balance: arrivals 100,000 = delivered 99,505 + inside_at_end 495.
    edges = ["src -> a1", {"from": "a1", "to": "a1", "weight": 0.99}, {"from": "a1", "to": "done", "weight": 0.01}]
    result = flowsim.simulate(scenario(LOOP, edges), engine="fluid")
    came, left = balance(result)
    assert came == pytest.approx(100_000)
    assert abs(left) < 1e-9 * came  # float rounding only
    assert result.totals.inside_at_end == pytest.approx(9_900 * result.fluid_step_s, rel=1e-6)
    assert result.nodes["a1"].inside_at_end == pytest.approx(result.totals.inside_at_end)
    # end to end: 100 visits x 10 ms = 1.00 s (the route sampler no longer stops at 256 visits,
    # which cut it to E[min(N, 256)] x 10 ms = (1 - 0.99^256) s = 0.92 s); 4,000 samples of a
    # geometric sum of sd ~1 s: standard error 0.016 s, so 5% is 3 standard errors
    assert result.end_to_end["done"].latency_s.mean == pytest.approx(1.0, rel=0.05)


def test_a_two_node_cycle_with_a_warmup_keeps_every_message() -> None:
    # src 50/s -> a -> b; b sends half back to a.  a and b each see 50 / (1 - 0.5) = 100/s, 50/s on the
    # closing edge b -> a.  With a warm-up the loop is full when the window opens: the 50/s x step on
    # the edge then counts inside a at the start (sent before, arriving in the window), and at the end.
    # Balance: arrivals (window) + inside_at_start = delivered + inside_at_end.
    nodes = {"src": {"kind": "source", "rate": "50/s"}, "a": {"kind": "service", "servers": 4, "service_time": "10ms"},
             "b": {"kind": "delay", "time": "20ms"}, "done": {"kind": "sink"}}  # fmt: skip
    edges = ["src -> a", "a -> b", {"from": "b", "to": "a", "weight": 0.5}, {"from": "b", "to": "done", "weight": 0.5}]
    result = flowsim.simulate(scenario(nodes, edges, duration="400s", warmup="100s"), engine="fluid")
    came, left = balance(result)
    assert abs(left) < 1e-9 * came
    step = result.fluid_step_s
    assert result.nodes["a"].inside_at_start == pytest.approx(50 * step, rel=1e-3)
    assert result.nodes["a"].inside_at_end == pytest.approx(50 * step, rel=1e-3)
    assert result.nodes["done"].throughput_per_s == pytest.approx(50, rel=1e-3)


def test_a_zero_time_loop_with_almost_no_exit_is_refused() -> None:
    # zero service time, 0.999999 back: 10^6 rounds a message, each a step late in the fluid engine
    # (10^6 x 0.05 s = 5 x 10^4 s, against a 100 s window): refused, and `auto` says so
    nodes = {"src": {"kind": "source", "rate": "1/s"}, "a1": {"kind": "service", "servers": 2, "service_time": "0s"},
             "done": {"kind": "sink"}}  # fmt: skip
    edges = ["src -> a1", {"from": "a1", "to": "a1", "weight": 0.999999}, {"from": "a1", "to": "done", "weight": 1e-6}]
    loop = scenario(nodes, edges, duration="100s")
    assert any("cycle through 'a1'" in p for p in fluid_problems(loop))
    with pytest.raises(FlowsimError, match="cycle through 'a1'"):
        flowsim.simulate(loop, engine="fluid")
    with pytest.raises(SimulationTooLarge, match="cycle through 'a1'"):
        flowsim.simulate(loop, max_events=1000)


# ---- stationary waits against the exact formulas ----------------------------------------------


def mm1k(lam: float, mu: float, k: int) -> tuple[float, float, float, float]:
    """Exact M/M/1/K: (L, throughput, W, Wq).  p_n = (1 - rho) rho^n / (1 - rho^(K+1)),
    L = sum n p_n, throughput = lambda (1 - p_K), W = L / throughput (Little), Wq = W - 1/mu."""
    rho = lam / mu
    p = [(1 - rho) * rho**n / (1 - rho ** (k + 1)) for n in range(k + 1)]
    big_l = sum(n * pn for n, pn in enumerate(p))
    x = lam * (1 - p[k])
    return big_l, x, big_l / x, big_l / x - 1 / mu


def test_mm1k_exact_formulas() -> None:
    # the numbers beside the assertions below: lambda 0.8, mu 1, K 5: L 1.868, X 0.7289, W 2.563 s,
    # Wq 1.563 s; lambda 1.2: L 3.021, X 0.8993, W 3.359 s, Wq 2.359 s
    assert mm1k(0.8, 1.0, 5) == pytest.approx((1.8683, 0.72894, 2.5630, 1.5630), abs=1e-4)
    assert mm1k(1.2, 1.0, 5) == pytest.approx((3.0212, 0.89933, 3.3594, 2.3594), abs=1e-4)


@pytest.mark.parametrize("lam", [0.8, 1.2, 2.0])
def test_bounded_room_wait_law_is_mm1k(lam: float) -> None:
    # the sampled law of those who wait: j ahead with chance ~ rho^j (j < K - 1), an Erlang(j + 1)
    # wait; its mean times P(wait) is M/M/1/K's Wq (exact, above).  200,000 draws of a law with sd
    # under 1.6 s: standard error < 0.004 s, so 1% (>= 0.016 s) is over 4 standard errors
    _, p_wait, mean, rho, room, unit = bounded(lam, 1, 5, 1.0, 1.0)
    wq = mm1k(lam, 1.0, 5)[3]
    assert p_wait * mean == pytest.approx(wq, rel=1e-9)
    n = 200_000
    draws = queue_waits(np.full(n, unit), np.full(n, float(room)), np.full(n, rho), np.random.default_rng(1))
    assert p_wait * draws.mean() == pytest.approx(wq, rel=0.01)
    assert draws.max() > 0 and np.all(draws >= 0)


def run(rate: str, capacity: int | None) -> flowsim.RunResult:
    q: dict[str, object] = {"kind": "service", "servers": 1, "service_time": {"dist": "exponential", "mean": "1s"}}
    if capacity is not None:
        q |= {"capacity": capacity, "on_full": "drop"}
    nodes = {"src": {"kind": "source", "rate": rate}, "q": q, "done": {"kind": "sink"}}
    return flowsim.simulate(scenario(nodes, ["src -> q", "q -> done"], duration="100000s", warmup="2000s", seed=5),
                            engine="fluid")  # fmt: skip


# Tolerances: a node's wait_s and sojourn_s are 2,000 sampled visits.  Those that wait are P(wait) to
# within 1/2,000 (stratified); the rest is the spread of the waits: sd <= 1.6 s (M/M/1/K) and 5 s
# (M/M/1), so standard errors <= 0.036 s and 0.11 s: 5% of Wq (0.078 s, 0.12 s, 0.2 s) is 2 or more
# of them, far under the -23% the old law gave (1.207 s against 1.563 s).  W - Wq is the mean of
# 2,000 exponential service draws (sd 1 s): standard error 0.022 s, 0.07 s is 3 of them.


@pytest.mark.parametrize(("lam", "wq", "w"), [(0.8, 1.5630, 2.5630), (1.2, 2.3594, 3.3594)])
def test_mm1k_waits_and_sojourns(lam: float, wq: float, w: float) -> None:
    result = run(f"{lam}/s", 5)
    q = result.nodes["q"]
    big_l, x, _, _ = mm1k(lam, 1.0, 5)
    assert q.mean_in_node == pytest.approx(big_l, rel=1e-3)  # the flow arithmetic: exact
    assert q.throughput_per_s == pytest.approx(x, rel=1e-3)
    assert q.wait_s is not None and q.sojourn_s is not None
    assert q.wait_s.mean == pytest.approx(wq, rel=0.05)
    assert q.sojourn_s.mean == pytest.approx(w, rel=0.05)
    assert q.sojourn_s.mean == pytest.approx(q.mean_in_node / q.throughput_per_s, rel=0.05)  # Little
    assert q.sojourn_s.mean - q.wait_s.mean == pytest.approx(1.0, abs=0.07)


def test_mm1_waits_and_sojourns() -> None:
    # M/M/1, lambda 0.8, mu 1: Wq = rho / (mu - lambda) = 4 s, W = 1 / (mu - lambda) = 5 s, W - Wq = 1 s
    q = run("0.8/s", None).nodes["q"]
    assert q.wait_s is not None and q.sojourn_s is not None
    assert q.wait_s.mean == pytest.approx(4.0, rel=0.05)
    assert q.sojourn_s.mean == pytest.approx(5.0, rel=0.05)
    assert q.sojourn_s.mean - q.wait_s.mean == pytest.approx(1.0, abs=0.07)
    assert math.isclose(q.mean_in_node or 0.0, 4.0, rel_tol=1e-3)  # L = rho / (1 - rho)
