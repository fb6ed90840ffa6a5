"""flowsim against a hand-written SimPy tandem of three M/M/1 stations, side by side.

Customers arrive at lambda = 0.5/s and visit three single-server stations in turn, each
exponential with mu = 1/s (unbounded queues: a Jackson network, each station an M/M/1 with
rho = 0.5).  Both models report the mean wait per station and the mean end-to-end sojourn,
printed with the theory so that the two times are for the same work.  The hand-written model is
the idiomatic SimPy one: a generator source, a process per customer, a `simpy.Resource` per
station.  See bench/timing.py for what is timed.

Usage: PYTHONPATH=src python bench/tandem.py [--customers 200000] [--repeat 5]
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import simpy
from timing import Figures, Prepared, Side, compare, parser

LAM, MU, STATIONS = 0.5, 1.0, ("s1", "s2", "s3")


def hand_written(customers: int, seed: int = 1) -> Figures:
    """The idiomatic SimPy model: a process per customer walking through a Resource per station."""
    rng = random.Random(seed)
    env = simpy.Environment()
    servers = [simpy.Resource(env, capacity=1) for _ in STATIONS]
    waits: list[list[float]] = [[] for _ in STATIONS]
    sojourns: list[float] = []

    def customer(env: simpy.Environment) -> Any:
        born = env.now
        for server, station_waits in zip(servers, waits, strict=True):
            arrive = env.now
            with server.request() as request:
                yield request
                station_waits.append(env.now - arrive)
                yield env.timeout(rng.expovariate(MU))
        sojourns.append(env.now - born)

    def source(env: simpy.Environment) -> Any:
        for _ in range(customers):
            yield env.timeout(rng.expovariate(LAM))
            env.process(customer(env))

    env.process(source(env))
    env.run()
    figures: dict[str, float] = {"customers": len(sojourns)}
    figures |= {f"mean wait {name} (s)": sum(w) / len(w) for name, w in zip(STATIONS, waits, strict=True)}
    return figures | {"mean sojourn (s)": sum(sojourns) / len(sojourns)}


SCENARIO = """
name: bench-tandem
architecture:
  name: tandem
  nodes:
    arrivals: {{kind: source, rate: {lam}/s, limit: {customers}}}
    s1: {{kind: service, servers: 1, service_time: {{dist: exponential, mean: {mean}s}}}}
    s2: {{kind: service, servers: 1, service_time: {{dist: exponential, mean: {mean}s}}}}
    s3: {{kind: service, servers: 1, service_time: {{dist: exponential, mean: {mean}s}}}}
    done: {{kind: sink}}
  edges: [arrivals -> s1, s1 -> s2, s2 -> s3, s3 -> done]
duration: {duration}s
seed: 1
limits: {{max_events: 1000000000}}
"""


def scenario_text(customers: int) -> str:
    # long enough for every customer to leave: the source stops after `customers` arrivals
    return SCENARIO.format(lam=LAM, mean=1 / MU, customers=customers, duration=int(customers / LAM * 1.1) + 1000)


def with_flowsim(customers: int) -> Figures:
    """What a user runs: load the scenario, simulate, read the results."""
    import flowsim

    result = flowsim.simulate(flowsim.load_scenario(scenario_text(customers)))
    figures: dict[str, float] = {"customers": result.nodes["done"].completed}
    for name in STATIONS:
        wait = result.nodes[name].wait_s
        assert wait is not None
        figures[f"mean wait {name} (s)"] = wait.mean
    latency = result.end_to_end["done"].latency_s
    assert latency is not None and figures["customers"] == customers
    return figures | {"mean sojourn (s)": latency.mean}


def flowsim_in_process(customers: int) -> Prepared:
    """Setup (loading the scenario) outside the timing; the timed part builds and runs one replication."""
    import flowsim
    from flowsim.build import run_replication

    scenario = flowsim.load_scenario(scenario_text(customers))

    def run() -> Figures:
        out = run_replication(scenario)
        figures: dict[str, float] = {"customers": len(out.latencies["done"])}
        figures |= {f"mean wait {name} (s)": out.waits[name].mean() for name in STATIONS}
        return figures | {"mean sojourn (s)": out.latencies["done"].mean()}

    return run


def hand_in_process(customers: int) -> Prepared:
    return partial(hand_written, customers)


def sides(customers: int) -> tuple[Side, Side]:
    kwargs = {"customers": customers}
    hand = Side("SimPy", "tandem", "hand_written", "hand_in_process", kwargs)
    flow = Side("flowsim", "tandem", "with_flowsim", "flowsim_in_process", kwargs)
    return hand, flow


def main(argv: list[str] | None = None) -> None:
    parse = parser(__doc__)
    parse.add_argument("--customers", type=int, default=200_000)
    args = parse.parse_args(argv)
    wait, sojourn = LAM / (MU * (MU - LAM)), 1 / (MU - LAM)
    theory = {f"mean wait {name} (s)": wait for name in STATIONS} | {"mean sojourn (s)": len(STATIONS) * sojourn}
    compare(f"Tandem of 3 M/M/1 (lambda {LAM}, mu {MU}), {args.customers:,} customers", *sides(args.customers),
            repeat=args.repeat, skip_process=args.skip_process, theory=theory)  # fmt: skip


if __name__ == "__main__":
    main()
