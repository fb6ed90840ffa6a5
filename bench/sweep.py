"""Sweep speed-up on local processes and on Dask, against running the same sweep in one thread.

An 8-point sweep (2 designs x 4 load levels of an API with a bounded queue) runs three ways:
serially in this thread, on a local process pool, and on a Dask LocalCluster of as many worker
processes.  The tables must come out identical (the seeds travel with the tasks); the wall times
give the speed-up.  Pool and cluster start-up are timed apart, since a session pays them once.
A pure-CPU run on the same processes gives the ceiling (on a shared machine, the cores really
free).  Then the per-task overhead: N trivial tasks submitted at once, time / N, on each executor.

Usage: python bench/sweep.py [--workers 2] [--replications 4] [--duration 20000] [--tasks 500]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, wait
from contextlib import AbstractContextManager
from pathlib import Path
from tempfile import TemporaryDirectory

import pandas as pd

from flowsim.executors import make_executor
from flowsim.sweep import SweepResult, sweep

SCENARIO = """
name: bench-sweep
architecture:
  name: api
  nodes:
    arrivals: {{kind: source, rate: 0.9/s}}
    api: {{kind: service, servers: 2, service_time: {{dist: exponential, mean: 1s}}, capacity: 50,
          price: {{per_hour: 0.2}}}}
    done: {{kind: sink}}
  edges: [arrivals -> api, api -> done]
duration: {duration}s
warmup: 1000s
seed: 1
replications: {replications}
slos: ["end_to_end.done.latency_s.p99 < 8s"]
"""
GRID: dict[str, list[float]] = {"nodes.api.servers": [2, 3], "load.multiplier": [1.0, 1.25, 1.5, 1.75]}


def trivial(x: int) -> int:
    return x


Opener = Callable[[], AbstractContextManager[Executor]]


def spin(count: int) -> int:
    total = 0
    for i in range(count):
        total += i
    return total


def cpu_ceiling(workers: int, count: int = 5_000_000) -> float:
    """Speed-up of pure CPU work on `workers` processes here, now: the most a sweep can get.

    On a shared machine other people's jobs take cores; this says how many are really free.
    """
    start = time.perf_counter()
    for _ in range(workers):
        spin(count)
    serial = time.perf_counter() - start
    with make_executor("process", workers) as pool:
        wait([pool.submit(spin, 1) for _ in range(workers)])
        start = time.perf_counter()
        wait([pool.submit(spin, count) for _ in range(workers)])
        return serial / (time.perf_counter() - start)


def timed(open_executor: Opener, path: Path) -> tuple[float, float, SweepResult]:
    """(start-up seconds, sweep seconds, result) for one executor."""
    start = time.perf_counter()
    with open_executor() as executor:
        ready = time.perf_counter()
        result = sweep(path, GRID, executor=executor)
        done = time.perf_counter()
    return ready - start, done - ready, result


def per_task_overhead(open_executor: Opener, tasks: int) -> float:
    """Seconds per trivial task, the executor already running (one warm-up round excluded)."""
    with open_executor() as executor:
        wait([executor.submit(trivial, i) for i in range(8)])
        start = time.perf_counter()
        wait([executor.submit(trivial, i) for i in range(tasks)])
        return (time.perf_counter() - start) / tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--replications", type=int, default=4)
    parser.add_argument("--duration", type=float, default=20_000)
    parser.add_argument("--tasks", type=int, default=500)
    args = parser.parse_args()
    n = args.workers
    executors: dict[str, Opener] = {
        "serial": lambda: make_executor("serial"),
        f"process x{n}": lambda: make_executor("process", n),
        f"dask LocalCluster x{n}": lambda: make_executor("dask", n),
    }
    with TemporaryDirectory() as folder:
        path = Path(folder) / "bench.yaml"
        path.write_text(SCENARIO.format(duration=args.duration, replications=args.replications), encoding="utf-8")
        points = len(GRID["nodes.api.servers"]) * len(GRID["load.multiplier"])
        print(f"{points} points x {args.replications} replications, {args.duration:g}s each; {os.cpu_count()} cores")
        runs = {name: timed(open_executor, path) for name, open_executor in executors.items()}
    reference = runs["serial"][2].table
    serial_time = runs["serial"][1]
    print(f"{'executor':<24}{'start-up s':>12}{'sweep s':>10}{'speed-up':>10}  identical")
    for name, (startup, seconds, result) in runs.items():
        same = result.table.equals(reference)
        pd.testing.assert_frame_equal(result.table, reference, check_exact=True)
        print(f"{name:<24}{startup:>12.2f}{seconds:>10.2f}{serial_time / seconds:>10.2f}  {same}")
    print(f"ceiling: pure-CPU speed-up on {n} processes here, now = {cpu_ceiling(n):.2f}")
    print(f"per-task overhead ({args.tasks} trivial tasks, executor running):")
    for name, open_executor in list(executors.items())[1:]:
        print(f"  {name:<22}{per_task_overhead(open_executor, args.tasks) * 1e3:8.2f} ms/task")


if __name__ == "__main__":  # Dask and process pools may re-import this module in their workers
    main()
