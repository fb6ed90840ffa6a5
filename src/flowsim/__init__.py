"""flowsim: architecture-as-code simulation of data and ML platforms.

>>> import flowsim
>>> scenario = flowsim.load_scenario("scenarios/baseline.yaml")
>>> result = flowsim.simulate(scenario, seed=7, replications=5)
>>> result.end_to_end["done"].latency_s.p99

The public names below are imported on first use (PEP 562), so `import flowsim`, and every
command that needs only part of the package (`flowsim --version`, `flowsim run`), pays only
for what it uses.  Type checkers and IDEs see the real imports through `TYPE_CHECKING`.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowsim.api import aggregate, analyze_architecture, analyze_scenario, estimate_events, simulate
    from flowsim.compare import Comparison, compare
    from flowsim.errors import Cancelled, FlowsimError, Problem, SimulationTooLarge, SpecError
    from flowsim.loading import load_architecture, load_scenario, parse_assignment
    from flowsim.results import RunResult
    from flowsim.spec.architecture import Architecture
    from flowsim.spec.scenario import Scenario
    from flowsim.sweep import SweepResult, sweep
    from flowsim.sweep_grid import expand_grid
    from flowsim.version import __version__

#: each public name, and the module that defines it
_HOMES: dict[str, str] = {
    "Architecture": "flowsim.spec.architecture",
    "Cancelled": "flowsim.errors",
    "Comparison": "flowsim.compare",
    "FlowsimError": "flowsim.errors",
    "Problem": "flowsim.errors",
    "RunResult": "flowsim.results",
    "Scenario": "flowsim.spec.scenario",
    "SimulationTooLarge": "flowsim.errors",
    "SpecError": "flowsim.errors",
    "SweepResult": "flowsim.sweep",
    "__version__": "flowsim.version",
    "aggregate": "flowsim.api",
    "analyze_architecture": "flowsim.api",
    "analyze_scenario": "flowsim.api",
    "compare": "flowsim.compare",
    "estimate_events": "flowsim.api",
    "expand_grid": "flowsim.sweep_grid",
    "load_architecture": "flowsim.loading",
    "load_scenario": "flowsim.loading",
    "parse_assignment": "flowsim.loading",
    "simulate": "flowsim.api",
    "sweep": "flowsim.sweep",
}

__all__ = [
    "Architecture",
    "Cancelled",
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
    "analyze_scenario",
    "compare",
    "estimate_events",
    "expand_grid",
    "load_architecture",
    "load_scenario",
    "parse_assignment",
    "simulate",
    "sweep",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module the first time it is asked for, then kept."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'flowsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps `flowsim.sweep` and `flowsim.compare` the functions.

    Importing the submodule `flowsim.sweep` sets the package attribute `sweep` to that module;
    an eager `from flowsim.sweep import sweep` used to rebind it to the function afterwards.
    Lazily nothing would, so the module is not stored there (it stays in `sys.modules`) and the
    name resolves through `__getattr__` to the function, as before.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _HOMES and _HOMES[name] == f"flowsim.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
