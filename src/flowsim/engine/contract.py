"""The node runtime contract: what a kind declares it does, and the check that its runtime does it.

A kind declares its duties (takes input, gives output, can fail, the control signals it takes);
the build step calls `missing_duties` for every node before anything runs, so a forgotten duty
is an error naming the node and kind at build time rather than a `KeyError` mid-run.

The hooks a runtime supplies, by duty (everything else is the kernel's, in `NodeRuntime`):
- takes input: `try_put(item) -> bool` (take it, or refuse with False when full and blocking);
- gives no output (items end here): `measures_latency = True` and `record_latency(item)`;
- can fail: `on_down()` and `on_up()` (called once per outage, however faults nest), and reading
  `self.slowdown` when work starts (brownouts);
- takes signals: `signal(name, payload, sender)`.

What a kind reports of its own is declared beside its duties (`flowsim.engine.figures.Figure`,
the config's `kind_figures`), and held to `figures()` by tests/test_figures.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowsim.engine.node import NodeRuntime


@dataclass(frozen=True)
class Duties:
    takes_input: bool = True
    gives_output: bool = True
    can_fail: bool = False
    signals: frozenset[str] = frozenset()


def _overrides(runtime: type[NodeRuntime], method: str) -> bool:
    return getattr(runtime, method, None) is not getattr(NodeRuntime, method)


def missing_duties(runtime: type[NodeRuntime], duties: Duties) -> list[str]:
    """Each declared duty the runtime class does not implement, as a sentence."""
    missing = []
    if duties.takes_input and not _overrides(runtime, "try_put"):
        missing.append("it takes input, but try_put is not implemented")
    if not duties.gives_output and not runtime.measures_latency:
        missing.append("it gives no output (items end here), but measures_latency is not set")
    if duties.can_fail:
        for hook in ("on_down", "on_up"):
            if not _overrides(runtime, hook):
                missing.append(f"it can fail, but {hook} is not implemented")
    if duties.signals and not _overrides(runtime, "signal"):
        names = ", ".join(sorted(duties.signals))
        missing.append(f"it takes the signals {names}, but signal is not implemented")
    return missing
