"""Instructions, not seconds: flowsim against the hand-written SimPy models, counted by valgrind.

Wall time on a shared machine moves by 20% from one run to the next; the instructions a run
executes do not (to a percent).  Each side runs whole, in a fresh interpreter under
`valgrind --tool=cachegrind`, at two sizes; the difference over the extra customers is the cost
per customer, and what is left at size zero is the fixed cost (interpreter, imports, loading).
The whole-process ratio at N customers follows from the two:

    ratio(N) = (fixed_flowsim + N x per_customer_flowsim) / (fixed_simpy + N x per_customer_simpy)

Instructions are not time (start-up misses caches more than the event loop does), so the wall
benchmarks (mm1.py, tandem.py) stay the measure; this one tells a change's effect apart from the
machine's noise.  Needs valgrind (`apt-get install valgrind`); a run takes a few minutes.

Usage: PYTHONPATH=src python bench/instructions.py [--bench mm1 tandem] [--small 10000] [--large 60000]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

from timing import child_env, compile_flowsim

BENCH = Path(__file__).resolve().parent
WHOLE = {"flowsim": "with_flowsim", "SimPy": "hand_written"}


def instructions(bench: str, side: str, customers: int) -> int:
    """Instructions of one whole run of `side` of `bench` with `customers` customers."""
    code = f"import sys; sys.path.insert(0, {str(BENCH)!r}); import {bench}; {bench}.{WHOLE[side]}({customers})"
    env = child_env() | {"PYTHONHASHSEED": "0"}  # string hashes fixed: the same dict probes each run
    done = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, "-c", code],
        capture_output=True, text=True, env=env, cwd=BENCH.parent, check=True,
    )  # fmt: skip
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no instruction count:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> None:
    parse = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parse.add_argument("--bench", nargs="+", default=["mm1", "tandem"], choices=["mm1", "tandem"])
    parse.add_argument("--small", type=int, default=10_000, help="customers of the smaller run")
    parse.add_argument("--large", type=int, default=60_000, help="customers of the larger run")
    parse.add_argument("--at", type=int, default=200_000, help="customers the whole-process ratio is given for")
    args = parse.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    if args.large <= args.small:
        raise SystemExit("--large must be more customers than --small")
    compile_flowsim()  # no run compiles flowsim's sources (SimPy's are installed compiled)
    extra = args.large - args.small
    for bench in args.bench:
        costs = {}
        for side in ("SimPy", "flowsim"):
            small, large = instructions(bench, side, args.small), instructions(bench, side, args.large)
            per = (large - small) / extra
            costs[side] = (small - per * args.small, per)
        (fixed_s, per_s), (fixed_f, per_f) = costs["SimPy"], costs["flowsim"]
        whole = (fixed_f + args.at * per_f) / (fixed_s + args.at * per_s)
        print(f"{bench}: instructions per customer, fixed cost, and the whole-process ratio at {args.at:,}")
        print(f"  {'':10s} {'per customer':>14s} {'fixed':>16s}")
        for side, (fixed, per) in costs.items():
            print(f"  {side:10s} {per:14,.0f} {fixed:16,.0f}")
        print(f"  ratio      {per_f / per_s:14.2f} {fixed_f / fixed_s:16.2f}")
        print(f"  whole process at {args.at:,} customers: {whole:.2f} of SimPy's instructions")


if __name__ == "__main__":
    main()
