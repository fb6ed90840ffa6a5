"""Key figures: every kind reports exactly the figures it declares, per engine, on every shipped
scenario; SLO and lesson paths are checked against those declarations."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

import flowsim
from flowsim.engine.figures import Figure, undeclared, unreported
from flowsim.fluid import fluid_problems
from flowsim.nodes.registry import kinds
from flowsim.spec.scenario import Scenario

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))


def short(name: str) -> Scenario:
    """The shipped scenario over a twentieth of its duration, one replication, no warm-up: the
    names a kind reports do not depend on how long it runs."""
    scenario = flowsim.load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    update = {"duration": scenario.duration / 20, "warmup": 0.0, "replications": 1}
    return scenario.model_copy(update=update | {"step": update["duration"] / 200})


@cache
def reported(name: str, engine: str) -> dict[str, tuple[str, frozenset[str]]]:
    """Per node: its kind and the keys of its `kind_figures` in a short run on `engine`."""
    result = flowsim.simulate(short(name), engine=engine)  # type: ignore[arg-type]
    return {n: (node.kind, frozenset(node.kind_figures)) for n, node in result.nodes.items()}


def groups(scenario: Scenario, node: str) -> list[str]:
    """A topic's consumer groups: one per out-edge, named after its target."""
    return list(dict.fromkeys(e.to for e in scenario.arch.edges if e.from_ == node))


#: the fast lane's share (every kind the shipped scenarios use, on both engines); the rest: full run
FAST = ("airflow-sla-miss", "checkout-baseline", "drift-retraining")
CASES = [(n, "per_message") for n in SCENARIOS] + [(n, "fluid") for n in SCENARIOS if not fluid_problems(short(n))]


def test_the_fast_share_uses_every_kind_the_shipped_scenarios_use() -> None:
    used = {c.kind for n in SCENARIOS for c in short(n).arch.nodes.values()}
    assert used == {c.kind for n in FAST for c in short(n).arch.nodes.values()}


@pytest.mark.parametrize(
    ("name", "engine"),
    [pytest.param(n, e, marks=() if n in FAST else pytest.mark.slow, id=f"{n}-{e}") for n, e in CASES],
)
def test_every_kind_reports_exactly_what_it_declares(name: str, engine: str) -> None:
    scenario = short(name)
    for node, (kind, keys) in reported(name, engine).items():
        declared = kinds()[kind].kind_figures
        assert not undeclared(declared, keys), f"{node} ({kind}, {engine}) reports undeclared figures"
        missing = unreported(declared, keys, engine, groups(scenario, node))  # type: ignore[arg-type]
        assert not missing, f"{node} ({kind}, {engine}) declares figures it does not report"


def test_a_figure_matches_its_keys() -> None:
    lag = Figure("lag_max_seconds", "s", "", per="group")
    assert lag.matches("lag_max_seconds.enrich") and not lag.matches("lag_max_seconds")
    assert lag.keys(["a", "b"]) == ["lag_max_seconds.a", "lag_max_seconds.b"]
    version = Figure("requests_v", "messages", "", per="version")
    assert version.matches("requests_v12") and not version.matches("requests_vx")
    assert Figure("duplicates", "messages", "").matches("duplicates")


def test_kinds_and_the_reference_list_each_kinds_figures_with_units() -> None:
    from typer.testing import CliRunner

    from flowsim.cli import app
    from flowsim.reports.kinds_doc import kinds_markdown

    out = CliRunner().invoke(app, ["kinds", "kafka_topic"], env={"COLUMNS": "200"}).stdout
    assert "lag_max_seconds.<group>" in out and "hot_partition_share" in out
    markdown = kinds_markdown()
    for kind, config in kinds().items():
        for figure in config.kind_figures:
            assert f"| `{figure.label}` | {figure.unit} |" in markdown, (kind, figure.name)
