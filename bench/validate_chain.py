"""`flowsim validate` on a chain of N nodes (source -> N - 2 services -> sink), the whole command.

Validation must stay linear in nodes + edges: a chain of 1,500 nodes is the size the hostile-input
issue found hanging. Each run is a fresh `python -m flowsim validate` (start-up and imports
included), best of --repeat; wall and CPU (user + system of the child) are printed, and the load
average, since on a shared machine CPU time is the steadier figure. Not a test: nothing is asserted.

    PYTHONPATH=src python bench/validate_chain.py --nodes 1500 --repeat 3
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def chain(nodes: int) -> str:
    """An architecture: one source, `nodes - 2` two-server services in a row, one sink."""
    names = ["src", *(f"s{i}" for i in range(nodes - 2)), "done"]
    lines = ["name: chain", "nodes:", "  src: {kind: source, rate: 1/s}"]
    service = "{kind: service, servers: 2, service_time: {dist: exponential, mean: 0.1s}}"
    lines += [f"  {name}: {service}" for name in names[1:-1]]
    lines += ["  done: {kind: sink}", "edges:"]
    lines += [f"  - {a} -> {b}" for a, b in itertools.pairwise(names)]
    return "\n".join(lines) + "\n"


def timed(path: Path, src: Path) -> tuple[float, float]:
    """(wall, cpu) seconds of one `python -m flowsim validate path`, flowsim imported from `src`."""
    env = dict(os.environ, PYTHONPATH=str(src))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "flowsim", "validate", str(path)], env=env, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode())
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 500, 1500])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the flowsim sources to time")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        for nodes in args.nodes:
            path = Path(folder) / f"chain-{nodes}.yaml"
            path.write_text(chain(nodes), encoding="utf-8")
            runs = [timed(path, args.src) for _ in range(args.repeat)]
            wall, cpu = min(w for w, _ in runs), min(c for _, c in runs)
            print(f"{nodes:>6} nodes  {path.stat().st_size / 1024:6.0f} KiB  wall {wall:5.2f} s  cpu {cpu:5.2f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
