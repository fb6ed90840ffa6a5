"""flowsim against a hand-written SimPy M/M/1 of the same system, side by side.

Both models simulate one M/M/1 queue (lambda = 0.9/s, mu = 1/s) for N customers and report the
mean wait and the mean sojourn; both are printed, with the theory, so that the two times are
for the same work.  The hand-written model is the idiomatic SimPy one: a generator source, a
process per customer and a `simpy.Resource` for the server.  See bench/timing.py for what is timed.

Usage: PYTHONPATH=src python bench/mm1.py [--customers 200000] [--repeat 5]
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import simpy
from timing import Figures, Prepared, Side, compare, parser

LAM, MU = 0.9, 1.0


def hand_written(customers: int, seed: int = 1) -> Figures:
    """The idiomatic SimPy model: a process per customer and a Resource for the server."""
    rng = random.Random(seed)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)
    waits: list[float] = []
    sojourns: list[float] = []

    def customer(env: simpy.Environment) -> Any:
        arrive = env.now
        with server.request() as request:
            yield request
            waits.append(env.now - arrive)
            yield env.timeout(rng.expovariate(MU))
        sojourns.append(env.now - arrive)

    def source(env: simpy.Environment) -> Any:
        for _ in range(customers):
            yield env.timeout(rng.expovariate(LAM))
            env.process(customer(env))

    env.process(source(env))
    env.run()
    return {"customers": len(sojourns), "mean wait (s)": sum(waits) / len(waits), "mean sojourn (s)": _mean(sojourns)}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


SCENARIO = """
name: bench-mm1
architecture:
  name: mm1
  nodes:
    arrivals: {{kind: source, rate: {lam}/s, limit: {customers}}}
    server: {{kind: service, servers: 1, service_time: {{dist: exponential, mean: {mean}s}}}}
    done: {{kind: sink}}
  edges: [arrivals -> server, server -> done]
duration: {duration}s
seed: 1
limits: {{max_events: 1000000000}}
"""


def scenario_text(customers: int) -> str:
    # long enough for every customer to leave: the source stops after `customers` arrivals
    return SCENARIO.format(lam=LAM, mean=1 / MU, customers=customers, duration=int(customers / LAM * 1.2) + 1000)


def with_flowsim(customers: int) -> Figures:
    """What a user runs: load the scenario, simulate, read the results."""
    import flowsim

    result = flowsim.simulate(flowsim.load_scenario(scenario_text(customers)))
    server = result.nodes["server"]
    assert server.wait_s is not None and server.completed == customers
    return {"customers": server.completed, "mean wait (s)": server.wait_s.mean, "mean sojourn (s)": _sojourn(result)}


def _sojourn(result: Any) -> float:
    latency = result.end_to_end["done"].latency_s
    return float(latency.mean)


def flowsim_in_process(customers: int) -> Prepared:
    """Setup (loading the scenario) outside the timing; the timed part builds and runs one replication."""
    import flowsim
    from flowsim.build import run_replication

    scenario = flowsim.load_scenario(scenario_text(customers))

    def run() -> Figures:
        out = run_replication(scenario)
        waits, latencies = out.waits["server"], out.latencies["done"]
        return {"customers": len(latencies), "mean wait (s)": waits.mean(), "mean sojourn (s)": latencies.mean()}

    return run


def hand_in_process(customers: int) -> Prepared:
    return partial(hand_written, customers)


def sides(customers: int) -> tuple[Side, Side]:
    kwargs = {"customers": customers}
    hand = Side("SimPy", "mm1", "hand_written", "hand_in_process", kwargs)
    flow = Side("flowsim", "mm1", "with_flowsim", "flowsim_in_process", kwargs)
    return hand, flow


def main(argv: list[str] | None = None) -> None:
    parse = parser(__doc__)
    parse.add_argument("--customers", type=int, default=200_000)
    args = parse.parse_args(argv)
    theory = {"mean wait (s)": LAM / (MU * (MU - LAM)), "mean sojourn (s)": 1 / (MU - LAM)}
    compare(f"M/M/1 (lambda {LAM}, mu {MU}), {args.customers:,} customers", *sides(args.customers),
            repeat=args.repeat, skip_process=args.skip_process, theory=theory)  # fmt: skip


if __name__ == "__main__":
    main()
