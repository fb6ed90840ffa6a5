"""The public Python API; the CLI and the Streamlit app are thin skins over these functions."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from concurrent.futures import Executor
from dataclasses import asdict
from functools import partial
from typing import Literal

import numpy as np

from flowsim.analysis.view import AnalyticView, analyze, fault_caveat
from flowsim.build import run_replication
from flowsim.cost import cost_report
from flowsim.engine.model import ReplicationOutput
from flowsim.errors import Cancelled, FlowsimError, SimulationTooLarge
from flowsim.executors import SerialExecutor, open_executor
from flowsim.key_figures import key_figures
from flowsim.loading import with_settings
from flowsim.metric_paths import path_issues
from flowsim.results import (
    EndToEnd,
    KeyFigureRow,
    NodeResult,
    RunResult,
    Totals,
    VersionTotals,
    flat_node,
    flat_sink,
    node_result,
    sink_result,
)
from flowsim.sizing import sample_events, timer_events
from flowsim.slo import evaluate
from flowsim.spec.architecture import Architecture
from flowsim.spec.scenario import Scenario
from flowsim.spec.yaml_document import format_path
from flowsim.units import format_duration
from flowsim.version import __version__

Progress = Callable[[float], None]
Stop = Callable[[], bool]
Runner = Callable[[Scenario, int, Progress | None], ReplicationOutput]
Engine = Literal["auto", "per_message", "fluid"]


def analyze_architecture(arch: Architecture, load_multiplier: float = 1.0) -> AnalyticView:
    """The analytic view (traffic equations, rho, queueing predictions) of an architecture."""
    return analyze(arch, load_multiplier)


def analyze_scenario(scenario: Scenario) -> AnalyticView:
    """The analytic view of a scenario's design at its load, for its run's length (a consumer group
    that starts after the end is said to receive nothing instead of warned as overloaded)."""
    view = analyze(scenario.arch, scenario.load.multiplier, scenario.duration, outages(scenario), rereads(scenario),
                   faulted(scenario))  # fmt: skip
    for index, fault in enumerate(scenario.faults):
        if (
            fault.at is not None
            and fault.for_ is not None
            and fault.every is None
            and fault.at + fault.for_ <= scenario.warmup
        ):
            view.notes.append(
                f"faults[{index}] on '{fault.node}' is over at {format_duration(fault.at + fault.for_)}, within the "
                f"warm-up ({format_duration(scenario.warmup)}): the figures see only its aftermath; start it after "
                "the warm-up to measure it"
            )
    retries = [getattr(config, "retry", None) for config in scenario.arch.nodes.values()]
    for name, policy in scenario.retry_policies.items():
        if not any(policy == retry for retry in retries):  # (names are resolved to the policies by now)
            view.notes.append(f"retry_policies.{name} is not used: no node names it in 'retry'")
    if scenario.warmup and scenario.window < 0.01 * scenario.duration:
        view.warnings.append(
            f"the figures cover {format_duration(scenario.window)} of a {format_duration(scenario.duration)} run "
            f"(warm-up {format_duration(scenario.warmup)}): shorten 'warmup' or lengthen 'duration'"
        )
    return view


def outages(scenario: Scenario) -> dict[str, float]:
    """The longest scheduled outage of each node (a brownout is not one, nor a crash of some of a
    topic's consumers, nor the loss of one of its brokers): for the drain estimates."""
    longest: dict[str, float] = {}
    for fault in scenario.faults:
        if fault.for_ is not None and fault.slowdown is None and fault.group is None and fault.broker is None:
            longest[fault.node] = max(longest.get(fault.node, 0.0), fault.for_)
    return longest


def faulted(scenario: Scenario) -> dict[str, str]:
    """What the scenario's faults do to each node they name (outages, slow-downs), in words."""
    kinds: dict[str, set[str]] = {}
    for fault in scenario.faults:
        if fault.group is None and fault.broker is None:
            kinds.setdefault(fault.node, set()).add("slow-downs" if fault.slowdown is not None else "outages")
    return {node: fault_caveat(what) for node, what in kinds.items()}


def rereads(scenario: Scenario) -> dict[str, float]:
    """Seconds of input a stream_processor reads again after its longest scheduled outage: the time
    since its last checkpoint when it crashed (`at` mod `checkpoint_interval`; a micro-batch job's
    offsets commit with each batch: `at` mod `batch_interval`), as a job fed by a topic re-reads it."""
    longest: dict[str, tuple[float, float]] = {}
    for fault in scenario.faults:
        config = scenario.arch.nodes.get(fault.node)
        if config is None or config.kind != "stream_processor" or fault.at is None or fault.for_ is None:
            continue
        if fault.slowdown is None and fault.for_ > longest.get(fault.node, (0.0, 0.0))[0]:
            micro = getattr(config, "mode", "") == "micro_batch"
            period = getattr(config, "batch_interval" if micro else "checkpoint_interval")
            longest[fault.node] = (fault.for_, math.fmod(fault.at, period))
    return {node: since for node, (_, since) in longest.items()}


def _mean_rate(view: AnalyticView, name: str) -> float:
    """A node's mean arrival rate over the run (its peak overstates the work of a spiky profile)."""
    entry = view.nodes[name]
    mean = entry.mean_arrival_rate_per_s
    return mean if mean is not None else entry.arrival_rate_per_s


def estimate_events(scenario: Scenario, view: AnalyticView | None = None) -> float:
    """Rough count of simulation events per replication: traffic (from the traffic equations),
    timers, schedules and faults (flowsim.sizing), and time-series samples."""
    return sum(event_sources(scenario, view).values())


def event_sources(scenario: Scenario, view: AnalyticView | None = None) -> dict[str, float]:
    """The estimate by what makes the events: 'traffic', 'samples', and each timer's field path."""
    view = view or analyze_scenario(scenario)
    nodes = scenario.arch.nodes
    per_second = sum(_mean_rate(view, name) * config.events_per_item() for name, config in nodes.items())
    return {"traffic": per_second * scenario.duration, "samples": sample_events(scenario)} | timer_events(scenario)


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    replications: int | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    max_events: int | None = None,
    executor: Executor | None = None,
    engine: Engine | None = None,
    trace: bool = False,
    stop: Stop | None = None,
) -> RunResult:
    """Run a scenario's replications and aggregate them into one `RunResult`.

    Replication r always uses the r-th child of SeedSequence(seed), so the figures are the same
    whether replications run in this process, in `workers` processes, or on any `executor`.
    `engine` (per_message, fluid or auto) wins over the scenario's `engine` field.  With `trace`
    the run keeps every event (`RunResult.events`), refused when the log would pass `MAX_TRACE_EVENTS`.
    `stop` is asked between chunks of events (1/500 of a per-message replication, 1,000 fluid steps)
    and between replications; when it returns True the run ends with `Cancelled`.
    """
    updates: dict[str, object] = {}
    if seed is not None:
        updates["seed"] = seed
    if replications is not None:
        updates["replications"] = replications
    scenario = with_settings(scenario, **updates)
    view = analyze_scenario(scenario)
    chosen = choose_engine(scenario, view, max_events, engine)
    progress = stoppable(progress, stop)
    if trace:
        check_trace_size(scenario, view, chosen)
        outputs = _run_all(scenario, workers, progress, executor, partial(run_replication, trace=True))
        return aggregate(scenario, outputs, view)
    if chosen == "fluid":
        from flowsim.fluid import run_fluid_replication

        outputs = _run_all(scenario, workers, progress, executor, run_fluid_replication)
        return mark_fluid(aggregate(scenario, outputs, view), scenario)
    outputs = _run_all(scenario, workers, progress, executor)
    return aggregate(scenario, outputs, view)


#: the most events a traced run keeps (about 100 bytes each in memory): a log is for small runs
MAX_TRACE_EVENTS = 2_000_000


def check_trace_size(scenario: Scenario, view: AnalyticView, engine: str) -> None:
    """An event log is for a small per-message run: refuse a fluid run or a log too long to read."""
    if engine != "per_message":
        raise FlowsimError("an event log needs the per-message engine: add --engine per_message (or engine=...)")
    events = estimate_events(scenario, view) * scenario.replications
    if events > MAX_TRACE_EVENTS:
        raise SimulationTooLarge(
            f"the event log of scenario '{scenario.name}' would hold about {events:.3g} events "
            f"({scenario.replications} replication(s)), over the {MAX_TRACE_EVENTS:,} a log keeps; "
            "shorten 'duration' (--set duration=...), lower the load or run one replication (-r 1)"
        )


def mark_fluid(result: RunResult, scenario: Scenario) -> RunResult:
    """Say on a result that the fluid engine ran it, and at which time step."""
    from flowsim.fluid import choose_step

    result.engine, result.fluid_step_s = "fluid", choose_step(scenario)[0]
    result.slos = [evaluate(slo, result) for slo in scenario.slos]  # its counts are expected numbers
    return result


def fluid_work(scenario: Scenario) -> float:
    """A fluid replication's work in event equivalents (steps x nodes), to size tasks by."""
    from flowsim.fluid import choose_step

    return scenario.window / choose_step(scenario)[0] * len(scenario.arch.nodes)


def choose_engine(
    scenario: Scenario, view: AnalyticView, max_events: int | None = None, engine: Engine | None = None
) -> Literal["per_message", "fluid"]:
    """Which engine runs: the one asked for, or with `auto` per-message when the run fits the event
    limit and fluid otherwise.  A kind the fluid engine cannot follow, or an SLO on a figure the
    chosen engine does not compute, is refused before anything runs.

    The fluid package is imported only when it may run, so a per-message run does not load it."""
    chosen = _pick_engine(scenario, view, max_events, engine)
    gaps = [gap for gap in path_issues(scenario, scenario.arch, chosen) if gap[0][0] == "slos"]
    if gaps:  # a lesson figure without data only reads 'no data'; an SLO on one could never pass
        why = ""
        if chosen == "fluid" and (engine or scenario.engine) == "auto":
            why = (". auto chose the fluid engine because the per-message run is estimated above limits.max_events; "
                   "shorten 'duration', or set engine: per_message with a larger --max-events")  # fmt: skip
        raise FlowsimError(
            "; ".join(f"{format_path(where)}: {message} ({hint})" for where, message, hint in gaps) + why
        )
    return chosen


def _pick_engine(
    scenario: Scenario, view: AnalyticView, max_events: int | None, engine: Engine | None
) -> Literal["per_message", "fluid"]:
    wanted = engine or scenario.engine
    if wanted not in ("auto", "per_message", "fluid"):
        raise FlowsimError(f"unknown engine {wanted!r}; choose auto, per_message or fluid")
    if wanted == "per_message":
        check_size(scenario, view, max_events)
        return "per_message"
    if wanted == "fluid":
        from flowsim.fluid import fluid_problems

        problems = fluid_problems(scenario)
        if problems:
            raise FlowsimError("the fluid engine cannot run this scenario: " + "; ".join(problems))
        return "fluid"
    try:
        check_size(scenario, view, max_events)
        return "per_message"
    except SimulationTooLarge as err:
        from flowsim.fluid import fluid_problems

        problems = fluid_problems(scenario)
        if problems:
            raise SimulationTooLarge(
                f"{err} The fluid engine, which auto would pick for a run this large, cannot run it: "
                + "; ".join(problems)
            ) from None
        return "fluid"


def check_size(scenario: Scenario, view: AnalyticView, max_events: int | None) -> None:
    limit = max_events if max_events is not None else scenario.limits.max_events
    sources = event_sources(scenario, view)
    events = sum(sources.values())
    if not math.isfinite(events) or events > limit:
        biggest = max(sources, key=lambda k: sources[k])
        cause = {"traffic": "the traffic", "samples": "time-series samples ('sample_interval')"}.get(biggest, biggest)
        fix = "lower the load" if biggest == "traffic" else "lengthen that interval"
        raise SimulationTooLarge(
            f"scenario '{scenario.name}' would take about {events:.3g} events per replication, "
            f"over the limit of {limit:.3g}; most come from {cause} ({sources[biggest]:.3g}). "
            f"Shorten 'duration', {fix}, or raise the limit "
            "(scenario 'limits: {max_events: N}' or --max-events N) if you mean it."
        )


def stoppable(progress: Progress | None, stop: Stop | None) -> Progress | None:
    """`progress` that first asks `stop` and raises `Cancelled` when it says so.

    The engines call progress between chunks of events, so this is where a run can end cleanly:
    the kernel needs no knowledge of who wants it stopped (a UI's Stop button, a deadline).
    """
    if stop is None:
        return progress

    def step(fraction: float) -> None:
        if stop():
            raise Cancelled("the run was stopped before it finished")
        if progress is not None:
            progress(fraction)

    return step


def _run_all(
    scenario: Scenario,
    workers: int,
    progress: Progress | None,
    executor: Executor | None,
    runner: Runner = run_replication,
) -> list[ReplicationOutput]:
    """Every replication, in index order, on the executor `flowsim.executors` chooses."""
    count = scenario.replications
    with open_executor(count, executor, workers=workers) as pool:
        if isinstance(pool, SerialExecutor):  # in this thread: progress moves within each replication
            outputs = []
            for r in range(count):
                if progress is not None:
                    progress(r / count)  # a stop hook is asked before each replication too
                step = None if progress is None else (lambda f, r=r: progress((r + f) / count))
                outputs.append(runner(scenario, r, step))
            return outputs
        futures = [pool.submit(runner, scenario, r, None) for r in range(count)]
        outputs = []
        for done, future in enumerate(futures, start=1):
            outputs.append(future.result())
            if progress is not None:
                progress(done / count)
        return outputs


def _billed_units(nodes: dict[str, NodeResult]) -> dict[str, float]:
    """Units a kind measured for billing (`billed_units`, e.g. an autoscaled pool's mean replicas)."""
    return {n: r.kind_figures["billed_units"] for n, r in nodes.items() if "billed_units" in r.kind_figures}


def _totals(
    nodes: dict[str, NodeResult],
    sources: list[str],
    delivered: list[EndToEnd],
    control: Collection[str] = (),
    control_sinks: Collection[str] = (),
) -> Totals:
    """The scenario's balance, summed from the identity every node keeps (see `Totals`).

    The `control` nodes (only model versions reach them) are summed apart, in `model_versions`."""
    every = [n for name, n in nodes.items() if name not in control]
    totals = Totals(
        arrivals=sum(nodes[s].arrivals for s in sources),
        copies=sum(n.created + n.fanout_copies for n in every),
        delivered=sum(e.count for e in delivered),
        dropped=sum(n.dropped for n in every),
        dead_lettered=sum(n.dead_lettered for n in every),
        lost=sum(n.lost for n in every),
        merged=sum(n.merged for n in every),
        retries=sum(n.retries for n in every),
        inside_at_start=sum(n.inside_at_start for n in every),
        inside_at_end=sum(n.inside_at_end for n in every),
    )
    came = totals.arrivals + totals.copies + totals.inside_at_start
    went = totals.delivered + totals.dropped + totals.dead_lettered + totals.lost + totals.merged
    went += totals.inside_at_end
    totals.unaccounted = came - went
    totals.loss_share = (totals.dropped + totals.dead_lettered + totals.lost) / came if came > 0 else 0.0
    totals.unmet_demand = sum(nodes[s].kind_figures.get("unmet_demand", 0.0) for s in sources)
    totals.model_versions = _versions(nodes, control, control_sinks)
    return totals


def _versions(nodes: dict[str, NodeResult], control: Collection[str], sinks: Collection[str]) -> VersionTotals:
    """Versions arriving at a control node are made upstream (training) unless another control node
    handed them on; they are promoted where they end (a registry's completed), unless superseded."""
    chain = [nodes[n] for n in control]
    handed_on = sum(nodes[n].completed for n in control if n not in sinks)
    superseded = sum(nodes[n].kind_figures.get("superseded", 0.0) for n in sinks)
    versions = VersionTotals(
        made=sum(n.arrivals for n in chain) - handed_on,
        promoted=sum(nodes[n].completed for n in sinks) - superseded,
        superseded=superseded,
        rejected=sum(n.dropped + n.dead_lettered + n.lost for n in chain),
        inside_at_start=sum(n.inside_at_start for n in chain),
        inside_at_end=sum(n.inside_at_end for n in chain),
    )
    went = versions.promoted + versions.superseded + versions.rejected + versions.inside_at_end
    versions.unaccounted = versions.made + versions.inside_at_start - went
    return versions


def aggregate(scenario: Scenario, outputs: list[ReplicationOutput], view: AnalyticView) -> RunResult:
    """Means over replications with 95% CIs, SLO verdicts, and the analytic view beside them."""
    arch = scenario.arch
    window = scenario.window
    nodes = {name: node_result(arch.nodes[name].kind, [flat_node(o, name) for o in outputs]) for name in arch.nodes}
    sinks = arch.sinks()
    end_to_end = {name: sink_result([flat_sink(o, name, window) for o in outputs]) for name in sinks}
    control = arch.control_nodes()
    delivered = [end_to_end[name] for name in arch.delivery_sinks()]
    totals = _totals(nodes, arch.sources(), delivered, control, control & set(sinks))
    result = RunResult(
        flowsim_version=__version__, scenario=scenario.name, architecture=arch.name,
        seed=scenario.seed, replications=scenario.replications, duration_s=scenario.duration,
        warmup_s=scenario.warmup, window_s=window, load_multiplier=scenario.load.multiplier,
        nodes=nodes, end_to_end=end_to_end, totals=totals, cost=cost_report(arch, window, _billed_units(nodes)),
        analysis=view, warnings=list(view.warnings),
    )  # fmt: skip
    result.slos = [evaluate(slo, result) for slo in scenario.slos]
    result._outputs = outputs
    result.warnings += sorted({w for o in outputs for w in o.warnings})
    result._latencies = {s: np.concatenate([o.latencies[s] for o in outputs]) for s in sinks}
    result._extra = {n: [o.extra[n] for o in outputs if n in o.extra] for n in arch.nodes}
    result.key_figures = [KeyFigureRow(**asdict(figure)) for figure in key_figures(result, scenario)]
    return result
