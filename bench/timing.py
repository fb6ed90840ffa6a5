"""Timing shared by the benchmarks: flowsim against a hand-written SimPy model, side by side.

Each benchmark module defines, for each side, a function that runs the whole thing and returns
its figures (counts, mean waits) and a function that does the setup and returns the run to time.
`compare` measures both ways, each run in a fresh `python -c ...` interpreter:

- whole process: the child's wall time, start-up, imports and, for flowsim, loading the
  scenario, `flowsim.simulate` and reading its results included (what a user waits for);
- in process: the simulation only, timed inside the child after its setup (for flowsim:
  building and running one replication of an already loaded scenario).

A fresh interpreter for the in-process measure too keeps the two sides from sharing a heap: a
model run in a process that has imported flowsim and run it before pays more for the cyclic
garbage collector (flowsim pauses it during a run; the hand-written models keep Python's
defaults, as their authors would).

Both sides run from compiled bytecode: SimPy's was written when pip installed it; flowsim's
sources are compiled first (`compileall`), as any second run of Python would have them, since
an environment with PYTHONDONTWRITEBYTECODE set would otherwise recompile them in every child.

Every measure is the best of `repeat` runs, the two models taking turns so that a load that
comes and goes on the machine falls on both.  Wall time is the figure; CPU time (user + system)
is printed beside it, since on a shared machine it is the steadier of the two.  The load average
before and after says how busy the machine was.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
Figures = Mapping[str, float]
Prepared = Callable[[], Figures]


@dataclass(frozen=True)
class Side:
    """One model of a benchmark: functions of a bench module, called in a fresh interpreter."""

    label: str
    module: str  # the bench module that defines both functions
    whole: str  # function(**kwargs) -> figures: everything, as a user runs it
    prepare: str  # function(**kwargs) -> run: the setup; run() -> figures is what is timed in process
    kwargs: Mapping[str, object]

    def _head(self) -> str:
        return f"import sys\nsys.path.insert(0, {str(BENCH)!r})\nimport json, time, {self.module}\n"

    def _args(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.kwargs.items())

    def whole_code(self) -> str:
        return f"{self._head()}{self.module}.{self.whole}({self._args()})\n"

    def in_process_code(self) -> str:
        return (
            f"{self._head()}run = {self.module}.{self.prepare}({self._args()})\n"
            "cpu, wall = time.process_time(), time.perf_counter()\n"
            "figures = run()\n"
            "wall, cpu = time.perf_counter() - wall, time.process_time() - cpu\n"
            "print(json.dumps({'wall': wall, 'cpu': cpu, 'figures': {k: float(v) for k, v in figures.items()}}))\n"
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
    parse.add_argument("--skip-process", action="store_true", help="in process only (no whole-process runs)")
    return parse


def child_env() -> dict[str, str]:
    """The child interpreters import the flowsim this one would (else the repository's)."""
    env = dict(os.environ)
    spec = importlib.util.find_spec("flowsim")
    src = str(Path(spec.origin).parent.parent) if spec is not None and spec.origin else str(ROOT / "src")
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != src]
    env["PYTHONPATH"] = os.pathsep.join([src, *paths])
    return env


def compile_flowsim() -> None:
    """Write flowsim's bytecode once, so no child compiles its sources (SimPy's is installed compiled)."""
    spec = importlib.util.find_spec("flowsim")
    if spec is not None and spec.origin:
        compileall.compile_dir(Path(spec.origin).parent, quiet=1)


def _child(code: str) -> tuple[float, float, str]:
    """Run `code` in a fresh interpreter: its wall and CPU time, and what it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=ROOT, env=child_env(), capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def time_process(side: Side) -> tuple[float, float]:
    """Wall and CPU time of one fresh interpreter running `side` from start to end."""
    wall, cpu, _ = _child(side.whole_code())
    return wall, cpu


def time_in_process(side: Side) -> tuple[float, float, Figures]:
    """Wall and CPU time of one run of `side`'s simulation (setup excluded), and its figures."""
    _, _, out = _child(side.in_process_code())
    measured: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return measured["wall"], measured["cpu"], measured["figures"]


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


def compare(
    title: str, hand: Side, flow: Side, repeat: int, skip_process: bool = False, theory: Figures | None = None
) -> dict[str, Timing]:
    """Time both sides both ways, print the table and both sides' figures; returns the timings."""
    compile_flowsim()
    load_before = _load()
    timings = {key: Timing() for key in ("hand_process", "flow_process", "hand_in", "flow_in")}
    figures: dict[str, Figures] = {}
    for _ in range(repeat):
        if not skip_process:
            timings["hand_process"].keep_best(*time_process(hand))
            timings["flow_process"].keep_best(*time_process(flow))
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
    for key in dict.fromkeys([*figures["hand"], *figures["flow"]]):
        hv, fv = figures["hand"].get(key, float("nan")), figures["flow"].get(key, float("nan"))
        extra = f"   theory {theory[key]:.4g}" if theory and key in theory else ""
        print(f"  {key:28}{hv:14.4g}{fv:12.4g}{extra}")
    return timings
