"""Wall time of the per-message and the fluid engine on the same scenario, and the speed-up;
then the scale run: 24 h of a Lambda platform at 100,000 messages/s with a one-hour broker
outage (bench/lambda-100k-24h.yaml), fluid only, with its peak memory.

    PYTHONPATH=src python3 bench/fluid_speed.py
"""

from __future__ import annotations

import resource
import time
from pathlib import Path

import flowsim

ROOT = Path(__file__).resolve().parent.parent


def timed(scenario: flowsim.Scenario, engine: str) -> tuple[float, flowsim.RunResult]:
    start = time.perf_counter()
    result = flowsim.simulate(scenario, engine=engine)  # type: ignore[arg-type]
    return time.perf_counter() - start, result


def main() -> None:
    feasible = flowsim.load_scenario(ROOT / "scenarios" / "broker-outage.yaml")
    slow, _ = timed(feasible, "per_message")
    fast, fluid = timed(feasible, "fluid")
    print(f"broker-outage (2,000 msg/s, 11 min): per-message {slow:.2f}s, fluid {fast:.2f}s "
          f"(step {fluid.fluid_step_s:.3g}s): {slow / fast:.1f}x")  # fmt: skip
    big = flowsim.load_scenario(ROOT / "bench" / "lambda-100k-24h.yaml")
    wall, result = timed(big, "fluid")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"lambda-100k-24h: {result.totals.arrivals:.3g} messages in {wall:.2f}s (step {result.fluid_step_s:.3g}s), "
          f"peak memory {rss:.0f} MB; delivered {result.totals.delivered:.3g}, "
          f"unaccounted {result.totals.unaccounted:.3g}")  # fmt: skip


if __name__ == "__main__":
    main()
