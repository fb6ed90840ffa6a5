"""Many scenarios on one executor, one aggregated result each: what sweeps and comparisons share.

It sits above `flowsim.api` (it sizes runs and aggregates them the way `simulate` does) and
above `flowsim.executors` (it packs the replications into tasks and runs them there), so
that `simulate` itself can use the executor seam without importing upwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

from flowsim.api import Engine, aggregate, analyze_scenario, choose_engine, estimate_events, fluid_work, mark_fluid
from flowsim.engine.model import ReplicationOutput
from flowsim.executors import Progress, parallelism, plan_tasks, run_tasks
from flowsim.results import RunResult
from flowsim.spec.scenario import Scenario


def run_scenarios(
    scenarios: Sequence[Scenario],
    executor: Executor,
    progress: Progress | None = None,
    max_events: int | None = None,
    engine: Engine | None = None,
) -> list[RunResult]:
    """Run every replication of every scenario on `executor`; one aggregated result per scenario.

    Each scenario runs on the engine `simulate` would choose for it (`engine` wins over the
    scenario's own), and sizes are checked before anything runs.  Results do not depend on the
    executor, on how work was batched, or on the order tasks finish: each point's replications
    are sorted by index.
    """
    views = [analyze_scenario(s) for s in scenarios]
    engines = [choose_engine(s, v, max_events, engine) for s, v in zip(scenarios, views, strict=True)]
    events = [
        estimate_events(s, v) if e == "per_message" else fluid_work(s)
        for s, v, e in zip(scenarios, views, engines, strict=True)
    ]
    tasks = plan_tasks(scenarios, events, parallelism(executor), engines)
    outputs: list[list[ReplicationOutput]] = [[] for _ in scenarios]
    total = sum(s.replications for s in scenarios)
    done = 0
    for batch in run_tasks(executor, tasks):
        for point, output in batch:
            outputs[point].append(output)
        done += len(batch)
        if progress is not None:
            progress(done / total)
    results = []
    for scenario, outs, view, chosen in zip(scenarios, outputs, views, engines, strict=True):
        result = aggregate(scenario, sorted(outs, key=lambda o: o.replication), view)
        results.append(mark_fluid(result, scenario) if chosen == "fluid" else result)
    return results
