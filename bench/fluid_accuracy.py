"""Fluid engine against the per-message engine on the same scenarios.

Per-message figures are means over seeded replications with 95% CIs; the fluid figure is one
run (it is deterministic without random faults).  Prints a Markdown table for docs/fluid.md.

    PYTHONPATH=src python3 bench/fluid_accuracy.py [--replications 3] [--only NAME] [--cache FILE]

With `--cache FILE` the per-message figures (means, CIs, wall time) are read from FILE when it
holds the case with as many replications, and written to it otherwise: the per-message side of a
case takes up to 20 minutes (the retry storm), so a change to the fluid engine is measured
against the same replications without running them again.  `--exact-only` fills the cache and
skips the fluid runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import flowsim

ROOT = Path(__file__).resolve().parent.parent
T = "nodes.events_topic.kind_figures."
#: (scenario, overrides, figures compared)
CASES: list[tuple[str, str, dict[str, object], list[str]]] = [
    ("kafka steady state", "kafka-baseline", {},
     ["nodes.serving.throughput_per_s", "end_to_end.serving.latency_s.p99"]),
    ("broker outage, backlog drains", "broker-outage", {},
     ["nodes.serving.throughput_per_s", T + "lag_mean_messages.enrich", T + "lag_max_messages.enrich",
      T + "lag_max_seconds.enrich", "end_to_end.serving.latency_s.p99"]),
    ("retention loss (slow replay group)", "slow-consumer-retention", {},
     [T + "lost_to_retention", T + "lag_mean_messages.replay_job", "nodes.serving_v2.throughput_per_s"]),
    ("blocking backpressure (slow partitions)", "kafka-baseline",
     {"nodes.events_topic.partition_write_rate": "150/s", "nodes.events_topic.buffer_messages": 2000},
     ["nodes.events.throughput_per_s", "nodes.events.blocked_time_s", "end_to_end.serving.latency_s.p99"]),
    ("diurnal cycle saturating at its peak", "kafka-baseline",
     {"nodes.events.rate": "320/s", "duration": "20m", "warmup": "0s",
      "nodes.events.profile": [{"diurnal": {"low": 0.3, "peak_at": "10m", "period": "20m"}}]},
     ["nodes.serving.throughput_per_s", T + "lag_mean_messages.enrich", T + "lag_max_messages.enrich",
      T + "lag_max_seconds.enrich", "end_to_end.serving.latency_s.p99"]),
    ("saturating peak (3x)", "kafka-peak-3x", {},
     ["nodes.serving.throughput_per_s", T + "lag_mean_messages.enrich", T + "lag_max_messages.enrich"]),
    ("checkout at 1,000/s, drops at the gateway", "checkout-baseline",
     {"nodes.requests.rate": "1000/s", "nodes.gateway.servers": 20, "nodes.orders.servers": 130,
      "nodes.payments.servers": 150, "nodes.payments.capacity": 2000, "nodes.orders.capacity": 2000},
     ["nodes.confirmed.throughput_per_s", "totals.dropped", "nodes.payments.dead_lettered",
      "end_to_end.confirmed.latency_s.p99"]),
    ("gateway overloaded 1.25x, drops", "checkout-baseline",
     {"nodes.requests.rate": "1000/s", "nodes.gateway.servers": 16, "nodes.orders.servers": 130,
      "nodes.payments.servers": 150, "nodes.payments.capacity": 2000, "nodes.orders.capacity": 2000},
     ["nodes.confirmed.throughput_per_s", "totals.dropped", "nodes.gateway.utilization"]),
    ("retry storm at 1,000/s", "retry-storm",
     {"nodes.requests.rate": "1000/s", "nodes.gateway.servers": 25, "nodes.orders.servers": 130,
      "nodes.payments.servers": 150, "nodes.payments.capacity": 3000, "nodes.orders.capacity": 2000},
     ["nodes.confirmed.throughput_per_s", "nodes.payments.retries", "nodes.payments.dead_lettered"]),
    ("Airflow batch window (lambda)", "lambda-baseline", {},
     ["nodes.batch_views.throughput_per_s", "nodes.realtime_views.throughput_per_s",
      "end_to_end.batch_views.latency_s.p99", "end_to_end.realtime_views.latency_s.p99"]),
]  # fmt: skip


def exact_figures(scenario: flowsim.Scenario, figures: list[str], replications: int) -> dict[str, object]:
    """The per-message side of a case: each figure's mean and 95% CI half-width, and the wall time."""
    start = time.perf_counter()
    exact = flowsim.simulate(scenario, engine="per_message", replications=replications, workers=2)
    wall = time.perf_counter() - start
    return {"replications": replications, "wall_s": wall,
            "figures": {path: [exact.metric(path), ci_of(exact, scenario, path)] for path in figures}}  # fmt: skip


def ci_of(result: flowsim.RunResult, scenario: flowsim.Scenario, path: str) -> float | None:
    """A figure's 95% half-width over replications; a total's from its per-replication sums."""
    from flowsim.key_figures import totals_ci

    parts = path.split(".")
    return totals_ci(result, scenario.arch, parts[1]) if parts[0] == "totals" else result.ci(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replications", type=int, default=3)
    parser.add_argument("--only", default=None)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--exact-only", action="store_true")
    args = parser.parse_args()
    cache: dict[str, dict[str, object]] = {}
    if args.cache is not None and args.cache.exists():
        cache = json.loads(args.cache.read_text())
    print("| scenario | figure | per-message (95% CI) | fluid | difference |")
    print("| --- | --- | ---: | ---: | ---: |")
    for label, name, overrides, figures in CASES:
        if args.only and args.only not in label:
            continue
        scenario = flowsim.load_scenario(ROOT / "scenarios" / f"{name}.yaml", overrides=overrides or None)
        scenario = scenario.model_copy(update={"limits": scenario.limits.model_copy(update={"max_events": 10**12})})
        known = cache.get(label)
        if known is None or known["replications"] != args.replications or set(known["figures"]) != set(figures):  # type: ignore[arg-type]
            known = cache[label] = exact_figures(scenario, figures, args.replications)
            if args.cache is not None:
                args.cache.write_text(json.dumps(cache, indent=1))
        if args.exact_only:
            continue
        middle = time.perf_counter()
        fluid = flowsim.simulate(scenario, engine="fluid")
        end = time.perf_counter()
        for path in figures:
            a, ci = known["figures"][path]  # type: ignore[index]
            b = fluid.metric(path)
            diff = "" if a is None or b is None or a == 0 else f"{(b - a) / abs(a):+.1%}"
            ci_text = f" ± {ci:.3g}" if ci is not None else ""
            a_text = "no data" if a is None else f"{a:.4g}{ci_text}"
            b_text = "no data" if b is None else f"{b:.4g}"
            print(f"| {label} | `{path.split('.', 1)[1]}` | {a_text} | {b_text} | {diff} |")
        print(f"| {label} | wall time | {known['wall_s']:.1f}s | {end - middle:.2f}s | |", flush=True)


if __name__ == "__main__":
    main()
