"""Timing shared by the benchmarks: flowsim against a hand-written SimPy model, side by side.

Each benchmark module defines two models of the same network, each a function that runs it and
returns its figures (counts, mean waits), and calls `compare`, which measures both ways:

- whole process: the model run by a fresh `python -c ...` interpreter (start-up, imports and,
  for flowsim, loading the scenario and aggregating the results included: what a user waits for);
- in process: the model run here, simulation only (for flowsim: building the replication from
  an already loaded scenario and running it).

Every measure is the best of `repeat` runs, the two models taking turns so that a load that
comes and goes on the machine falls on both.  Wall time is the figure; CPU time (user + system)
is printed beside it, since on a shared machine it is the steadier of the two.  The load average
before and after says how busy the machine was.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
Figures = Mapping[str, float]


@dataclass(frozen=True)
class Side:
    """One model of the benchmark: a function of this bench module, run in process or as a process."""

    label: str
    module: str  # bench module that defines `function`
    function: str  # name of a zero-argument-friendly function returning the figures
    kwargs: Mapping[str, object]
    prepare: Callable[[], Callable[[], Figures]]  # in process: setup (not timed) -> the timed run

    def code(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.kwargs.items())
        return (
            f"import sys; sys.path.insert(0, {str(BENCH)!r}); import {self.module}; "
            f"print({self.module}.{self.function}({args}))"
        )


@dataclass
class Timing:
    wall: float = float("inf")
    cpu: float = float("inf")

    def keep_best(self, wall: float, cpu: float) -> None:
        self.wall = min(self.wall, wall)
        self.cpu = min(self.cpu, cpu)


def parser(description: str | None) -> argparse.ArgumentParser:
    """The options every benchmark takes."""
    parse = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parse.add_argument("--repeat", type=int, default=5, help="best of this many runs per measure (default 5)")
    parse.add_argument("--skip-process", action="store_true", help="in process only (no fresh interpreters)")
    return parse


def _child_env() -> dict[str, str]:
    """The child interpreters import the flowsim this one would (else the repository's)."""
    env = dict(os.environ)
    spec = importlib.util.find_spec("flowsim")
    src = str(Path(spec.origin).parent.parent) if spec is not None and spec.origin else str(ROOT / "src")
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != src]
    env["PYTHONPATH"] = os.pathsep.join([src, *paths])
    return env


def time_process(side: Side) -> tuple[float, float]:
    """Wall and CPU time of one fresh interpreter running `side`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, "-c", side.code()]
    subprocess.run(command, check=True, cwd=ROOT, env=_child_env(), stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def time_in_process(side: Side) -> tuple[float, float, Figures]:
    """Wall and CPU time of one run of `side` here (its setup not timed), and its figures."""
    run = side.prepare()
    cpu0, start = time.process_time(), time.perf_counter()
    figures = run()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    return wall, cpu, figures


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


def compare(
    title: str, hand: Side, flow: Side, repeat: int, skip_process: bool = False, theory: Figures | None = None
) -> dict[str, Timing]:
    """Time both sides both ways, print the table and both sides' figures; returns the timings."""
    load_before = _load()
    timings = {key: Timing() for key in ("hand_process", "flow_process", "hand_in", "flow_in")}
    if not skip_process:
        for _ in range(repeat):
            timings["hand_process"].keep_best(*time_process(hand))
            timings["flow_process"].keep_best(*time_process(flow))
    figures: dict[str, Figures] = {}
    for _ in range(repeat):
        wall, cpu, figures["hand"] = time_in_process(hand)
        timings["hand_in"].keep_best(wall, cpu)
        wall, cpu, figures["flow"] = time_in_process(flow)
        timings["flow_in"].keep_best(wall, cpu)
    print(f"{title}: best of {repeat}; {os.cpu_count()} CPUs, load average {load_before} before, {_load()} after")
    print(f"  {'':28}{hand.label:>14}{flow.label:>12}{'ratio':>8}")
    rows = [("in process", "hand_in", "flow_in")]
    if not skip_process:
        rows.insert(0, ("whole process", "hand_process", "flow_process"))
    for name, h, f in rows:
        for measure in ("wall", "cpu"):
            hv, fv = getattr(timings[h], measure), getattr(timings[f], measure)
            label = f"{name}, {measure}" if measure == "wall" else f"{'':>{len(name)}}  {measure}"
            print(f"  {label:28}{hv:12.2f} s{fv:10.2f} s{fv / hv:8.2f}")
    keys = list(dict.fromkeys([*figures["hand"], *figures["flow"]]))
    for key in keys:
        hv, fv = figures["hand"].get(key, float("nan")), figures["flow"].get(key, float("nan"))
        extra = f"   theory {theory[key]:.4g}" if theory and key in theory else ""
        print(f"  {key:28}{hv:14.4g}{fv:12.4g}{extra}")
    return timings
