"""From a validated scenario to the kernel's `Network`: resolve policies, check each kind's duties.

This is the elaboration step (as in desmod): every node's runtime class is checked against
what its kind declares (takes input, gives output, can fail, signals) before anything runs, so
a kind that forgot a duty is refused with its node and kind named, never a crash mid-run.
"""

from __future__ import annotations

from functools import partial

from flowsim.engine.context import SimContext
from flowsim.engine.contract import Duties, missing_duties
from flowsim.engine.model import Model, Network, Progress, ReplicationOutput
from flowsim.engine.node import NodeRuntime
from flowsim.errors import FlowsimError
from flowsim.nodes._airflow_installation import INSTALLATION
from flowsim.nodes.base import NodeConfig
from flowsim.spec.scenario import Scenario


def duties(config: NodeConfig) -> Duties:
    """What a node's kind declares it does."""
    return Duties(
        takes_input=config.takes_input,
        gives_output=config.gives_output,
        can_fail=config.can_fail,
        signals=frozenset(config.signals_in),
    )


def contract_problem(name: str, config: NodeConfig) -> str | None:
    """What a node's kind declares but its runtime does not do, as one sentence (None when all is done)."""
    try:
        runtime = config.runtime_class()
    except NotImplementedError as err:
        return f"node '{name}' (kind '{config.kind}'): {err}; its config must return one from runtime_class()"
    missing = missing_duties(runtime, duties(config))
    if not missing:
        return None
    return (
        f"node '{name}' (kind '{config.kind}'): its runtime {runtime.__name__} does not fulfil the kind's "
        f"declared duties: {'; '.join(missing)}. Implement them, or change what the kind declares."
    )


def check_contract(name: str, config: NodeConfig) -> None:
    """Refuse a kind whose runtime lacks a duty its config declares (named, before the run)."""
    problem = contract_problem(name, config)
    if problem is not None:
        raise FlowsimError(problem)


def _resolved(name: str, config: NodeConfig) -> NodeConfig:
    """The loader replaces retry-policy names by the policies; a scenario built by hand may not."""
    if isinstance(getattr(config, "retry", None), str):
        raise FlowsimError(
            f"node '{name}': retry names a policy that was never resolved; load the scenario with "
            "flowsim.load_scenario, which resolves the names of retry_policies"
        )
    return config


def _factory(config: NodeConfig, name: str, ctx: SimContext) -> NodeRuntime:
    return config.runtime(name, ctx)


def network(scenario: Scenario) -> Network:
    """The kernel's view of a scenario (checked against every kind's contract)."""
    arch = scenario.arch
    configs = {name: _resolved(name, config) for name, config in arch.nodes.items()}
    for name, config in configs.items():
        check_contract(name, config)
    return Network(
        factories={name: partial(_factory, config) for name, config in configs.items()},
        edges=[(edge.from_, edge.to, edge.weight) for edge in arch.edges],
        routing={name: config.routing for name, config in configs.items()},
        references={name: config.node_references() for name, config in configs.items()},
        faults=scenario.faults,
        seed=scenario.seed,
        duration=scenario.duration,
        warmup=scenario.warmup,
        sample_interval=scenario.sample_interval,
        load_multiplier=scenario.load.multiplier,
        fault_groups=fault_groups(scenario),
    )


def fault_groups(scenario: Scenario) -> dict[str, list[str]]:
    """A fault on `airflow` (the installation's scheduler) takes every airflow_dag down together."""
    arch = scenario.arch
    dags = list(arch.dags())
    return {INSTALLATION: dags} if dags and INSTALLATION not in arch.nodes else {}


def build_model(scenario: Scenario, replication: int = 0, trace: bool = False) -> Model:
    """One replication of `scenario`, built and connected, ready to `run`."""
    return Model(network(scenario), replication, trace=trace)


def run_replication(
    scenario: Scenario, replication: int = 0, progress: Progress | None = None, trace: bool = False
) -> ReplicationOutput:
    """Run replication `replication` of `scenario` (independent of any other replication).

    With `trace`, the output also holds every event (`ReplicationOutput.events`); tracing
    draws no random numbers, so the figures are those of the same run untraced.
    """
    return build_model(scenario, replication, trace=trace).run(progress)
