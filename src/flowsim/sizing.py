"""What a run will cost in events, counted from everything that makes events, not only traffic.

Items are the obvious cost (the traffic equations give their rates), but a node also acts on its
own: a consumer polls, a micro-batch triggers, retention checks, an autoscaler evaluates, a cron
fires, a fault fails and repairs the node.  A field typed `Period` or `ScheduleText` (marked with
`flowsim.units.TIMER`) is such a timer wherever it sits in a kind's config, so every kind's timers
are counted without each kind writing an estimate; a kind whose timers run in several copies (a
topic's consumers each poll, each consumer group autoscales) says how many (`timer_copies`).
`every 1us` over a day is 8.6e10 events: the estimate refuses it before the run, instead of the
run never ending.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from flowsim.distributions import BaseDistribution
from flowsim.schedule import parse_schedule
from flowsim.spec.scenario import Scenario
from flowsim.units import Timer


def _period(value: Any) -> float | None:
    """Seconds between firings of a timer field's value (None: it sets no timer)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if value > 0 else None  # 0 switches a timer off (a Kafka long poll)
    if isinstance(value, str):
        schedule = parse_schedule(value)
        return schedule.period if schedule.period is not None else schedule.mean_period()
    if isinstance(value, BaseDistribution):
        return value.mean()
    return None


def _timers(model: BaseModel, path: str) -> Iterator[tuple[str, float]]:
    """(field path, period) of every timer field in a config, nested models and lists included."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        where = f"{path}.{info.alias or name}"
        if any(isinstance(m, Timer) for m in info.metadata) or _marked(info.annotation):
            period = _period(value)
            if period is not None:
                yield where, period
        elif isinstance(value, BaseModel):
            yield from _timers(value, where)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _timers(item, f"{where}[{i}]")
        elif isinstance(value, dict):  # a DAG's tasks by name (a sensor's poke_interval)
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    yield from _timers(item, f"{where}.{key}")


def _marked(annotation: Any) -> bool:
    """`Period | None` keeps the marker inside the union."""
    metadata = getattr(annotation, "__metadata__", ())
    if any(isinstance(m, Timer) for m in metadata):
        return True
    return any(_marked(arg) for arg in getattr(annotation, "__args__", ()))


def _per_run(period: float, span: float) -> float:
    return math.inf if period <= 0 else span / period


def timer_events(scenario: Scenario) -> dict[str, float]:
    """Events per replication from timers, schedules and faults, by the field that sets them."""
    span = scenario.duration
    found: dict[str, float] = {}
    targets: dict[str, list[str]] = {}  # one pass over the edges: per node, a scan of them all is quadratic
    for edge in scenario.arch.edges:
        targets.setdefault(edge.from_, []).append(edge.to)
    for name, config in scenario.arch.nodes.items():
        copies = config.timer_copies(targets.get(name, []))
        prefix = f"nodes.{name}."
        for where, period in _timers(config, prefix[:-1]):
            times = copies.get(where.removeprefix(prefix), 1.0)
            if times:
                found[where] = found.get(where, 0.0) + times * _per_run(period, span)
    for index, fault in enumerate(scenario.faults):
        where = f"faults[{index}]"
        if fault.mtbf is not None and fault.mttr is not None:  # a failure and a repair per cycle
            found[where] = 2 * _per_run(fault.mtbf.mean() + fault.mttr.mean(), max(span - fault.start, 0.0))
        elif fault.every is not None and fault.at is not None:
            found[where] = 2 * _per_run(fault.every, max(span - fault.at, 0.0))
    return found


def sample_events(scenario: Scenario) -> float:
    """Time-series samples: one per node (and one for the run) per step."""
    samples = scenario.window / (scenario.sample_interval or scenario.window / 200)
    return samples * (len(scenario.arch.nodes) + 1)
