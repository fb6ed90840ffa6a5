"""Shared test helpers: tiny scenarios written as YAML text, run once with tracing on.

`run_traced` is the one way the trace tests build, run and read a model (`traced_events` reads
the trace of a model already run); `scenario_yaml` writes the usual one-architecture scenario
around a block of node lines.
"""

from __future__ import annotations

import textwrap
from collections.abc import Collection
from functools import cache
from pathlib import Path

import flowsim
from flowsim.build import build_model
from flowsim.engine.model import Model

Event = tuple[float, str, str, int]
Trace = list[Event]


def scenario_yaml(nodes: str, edges: str, duration: str, extra: str = "", name: str = "trace") -> str:
    """A scenario named `name` around one architecture: `nodes` is a block of `name: {...}` lines,
    `edges` a flow list such as `[src -> api, api -> done]`, `extra` more top-level scenario lines."""
    node_lines = textwrap.indent(textwrap.dedent(nodes).strip(), "    ")
    return (
        f"name: {name}\narchitecture:\n  name: tiny\n  nodes:\n{node_lines}\n  edges: {edges}\n"
        f"duration: {duration}\n" + textwrap.dedent(extra)
    )


def traced_events(model: Model, nodes: Collection[str] | None = None, digits: int = 9) -> Trace:
    """The trace of a model built with tracing on, as `(time, node, event, key)` tuples with times
    rounded to `digits`, only for `nodes` if given."""
    return [
        (round(t, digits), node, event, key) for t, node, event, key in model.trace if nodes is None or node in nodes
    ]


def run_traced(
    scenario: str | flowsim.Scenario, nodes: Collection[str] | None = None, digits: int = 9
) -> tuple[Model, Trace]:
    """Build the scenario (YAML text, or one already loaded) with tracing on, run it once, and return
    the model (for its nodes' figures: `model.nodes[name].figures(model.network.window)`) and its
    `traced_events`."""
    if isinstance(scenario, str):
        scenario = flowsim.load_scenario(scenario)
    model = build_model(scenario, trace=True)
    model.run()
    return model, traced_events(model, nodes, digits)


def dags_scenario(dags: dict[str, str], airflow: str = "", duration: str = "1.9h", extra: str = "") -> str:
    """A source feeding every DAG by fan-out, each DAG landing in its own sink; `airflow` is the
    installation block, `extra` more top-level scenario lines."""
    nodes = "    src: {kind: source, interarrival: 10m, routing: fanout}\n"
    edges = []
    for name, body in dags.items():
        nodes += f"    {name}: {{kind: airflow_dag, schedule: every 1h, {body}}}\n    {name}_out: {{kind: sink}}\n"
        edges += [f"src -> {name}", f"{name} -> {name}_out"]
    block = f"  airflow: {airflow}\n" if airflow else ""
    return (
        f"name: dags\narchitecture:\n  name: dags\n{block}  nodes:\n{nodes}  edges: [{', '.join(edges)}]\n"
        f"duration: {duration}\n{extra}"
    )


def node_figures(m: Model, name: str) -> dict[str, float]:
    """A node's figures over the model's measured window."""
    return m.nodes[name].figures(m.network.window)


@cache
def run_shipped(name: str, **overrides: object) -> flowsim.RunResult:
    """A shipped scenario run once per test process (the lesson tests read many figures of each)."""
    root = Path(__file__).resolve().parent.parent
    return flowsim.simulate(flowsim.load_scenario(root / "scenarios" / f"{name}.yaml", overrides=overrides or None))


def assert_fault_located(topic: str, fault: str, where: str, message: str) -> None:
    """A scenario whose one fault (`fault`, on line 12) is wrong is refused at that line and field.

    The model: a source, a service `api`, a kafka_topic `topic` written as `{kind: kafka_topic, <topic>}`
    and a sink `done`, for 10 s.
    """
    import pytest

    from flowsim.errors import FlowsimError

    text = scenario_yaml(
        f"""
        src: {{kind: source, interarrival: 1s, limit: 6}}
        api: {{kind: service, service_time: 0.1s}}
        topic: {{kind: kafka_topic, {topic}}}
        done: {{kind: sink}}
        """,
        "[src -> api, api -> topic, topic -> done]",
        "10s",
        f"faults:\n  - {fault}\n",
    )
    with pytest.raises(FlowsimError) as caught:
        flowsim.load_scenario(text)
    said = str(caught.value)
    assert ":12:" in said and f"{where}: " in said and message in said
