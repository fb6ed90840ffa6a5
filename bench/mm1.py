"""flowsim against a hand-written SimPy M/M/1 of the same system, side by side.

Both models simulate the same M/M/1 queue (lambda = 0.9/s, mu = 1/s) for N customers and
report the mean wait.  Two ratios are printed (flowsim time / hand-written time):
- whole process: each model started as `python -c ...` in a fresh interpreter, start-up and
  imports included (what a user waits for);
- in process: both models run here, one after the other, simulation only.
Each measurement is the best of --repeat runs.  Usage: python bench/mm1.py [--customers N]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time

import simpy

LAM, MU = 0.9, 1.0


def hand_written(customers: int, seed: int = 1) -> float:
    """The idiomatic SimPy model: a process per customer and a Resource for the server."""
    rng = random.Random(seed)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)
    waits: list[float] = []

    def customer(env: simpy.Environment):  # type: ignore[no-untyped-def]
        arrive = env.now
        with server.request() as request:
            yield request
            waits.append(env.now - arrive)
            yield env.timeout(rng.expovariate(MU))

    def source(env: simpy.Environment):  # type: ignore[no-untyped-def]
        for _ in range(customers):
            yield env.timeout(rng.expovariate(LAM))
            env.process(customer(env))

    env.process(source(env))
    env.run()
    return sum(waits) / len(waits)


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


def with_flowsim(customers: int) -> float:
    import flowsim

    text = SCENARIO.format(lam=LAM, mean=1 / MU, customers=customers, duration=int(customers / LAM * 1.2) + 1000)
    result = flowsim.simulate(flowsim.load_scenario(text))
    wait = result.nodes["server"].wait_s
    assert wait is not None and result.nodes["server"].completed == customers
    return wait.mean


def _best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _process(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, repeat = args.customers, args.repeat
    here = "import sys; sys.path.insert(0, 'bench'); import mm1; "
    hand_proc = _best(lambda: _process(here + f"mm1.hand_written({n})"), repeat)
    flow_proc = _best(lambda: _process(here + f"mm1.with_flowsim({n})"), repeat)
    hand_in = _best(lambda: hand_written(n), repeat)
    flow_in = _best(lambda: with_flowsim(n), repeat)
    print(f"M/M/1, {n:,} customers, best of {repeat}")
    print(
        f"  whole process: hand-written SimPy {hand_proc:6.2f} s   flowsim {flow_proc:6.2f} s   "
        f"ratio {flow_proc / hand_proc:.2f}"
    )
    print(
        f"  in process:    hand-written SimPy {hand_in:6.2f} s   flowsim {flow_in:6.2f} s   "
        f"ratio {flow_in / hand_in:.2f}"
    )
    print(
        f"  mean wait: hand-written {hand_written(n):.3f} s, flowsim {with_flowsim(n):.3f} s, "
        f"theory {LAM / (MU * (MU - LAM)):.3f} s"
    )


if __name__ == "__main__":
    main()
