"""flowsim: architecture-as-code simulation of data and ML platforms.

>>> import flowsim
>>> scenario = flowsim.load_scenario("scenarios/baseline.yaml")
>>> result = flowsim.simulate(scenario, seed=7, replications=5)
>>> result.end_to_end["done"].latency_s.p99
"""

from flowsim.api import __version__, aggregate, analyze_architecture, estimate_events, simulate
from flowsim.compare import Comparison, compare
from flowsim.errors import FlowsimError, Problem, SimulationTooLarge, SpecError
from flowsim.loading import load_architecture, load_scenario, parse_assignment
from flowsim.results import RunResult
from flowsim.spec.architecture import Architecture
from flowsim.spec.scenario import Scenario
from flowsim.sweep import SweepResult, expand_grid, sweep

__all__ = [
    "Architecture",
    "Comparison",
    "FlowsimError",
    "Problem",
    "RunResult",
    "Scenario",
    "SimulationTooLarge",
    "SpecError",
    "SweepResult",
    "__version__",
    "aggregate",
    "analyze_architecture",
    "compare",
    "estimate_events",
    "expand_grid",
    "load_architecture",
    "load_scenario",
    "parse_assignment",
    "simulate",
    "sweep",
]
