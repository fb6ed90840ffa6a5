"""Many scenarios on one executor, one aggregated result each: what sweeps and comparisons share.

It sits above `flowsim.api` (it sizes runs and aggregates them the way `simulate` does) and
above `flowsim.executors` (it packs the replications into tasks and runs them there), so
that `simulate` itself can use the executor seam without importing upwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

from flowsim.analysis.view import analyze
from flowsim.api import aggregate, check_size, estimate_events
from flowsim.engine.model import ReplicationOutput
from flowsim.executors import Progress, parallelism, plan_tasks, run_tasks
from flowsim.results import RunResult
from flowsim.spec.scenario import Scenario


def run_scenarios(
    scenarios: Sequence[Scenario],
    executor: Executor,
    progress: Progress | None = None,
    max_events: int | None = None,
) -> list[RunResult]:
    """Run every replication of every scenario on `executor`; one aggregated result per scenario.

    Sizes are checked before anything runs.  Results do not depend on the executor, on how
    work was batched, or on the order tasks finish: each point's replications are sorted by index.
    """
    views = [analyze(s.arch, s.load.multiplier) for s in scenarios]
    for scenario, view in zip(scenarios, views, strict=True):
        check_size(scenario, view, max_events)
    events = [estimate_events(s, v) for s, v in zip(scenarios, views, strict=True)]
    tasks = plan_tasks(scenarios, events, parallelism(executor))
    outputs: list[list[ReplicationOutput]] = [[] for _ in scenarios]
    total = sum(s.replications for s in scenarios)
    done = 0
    for batch in run_tasks(executor, tasks):
        for point, output in batch:
            outputs[point].append(output)
        done += len(batch)
        if progress is not None:
            progress(done / total)
    return [
        aggregate(s, sorted(outs, key=lambda o: o.replication), view)
        for s, outs, view in zip(scenarios, outputs, views, strict=True)
    ]
