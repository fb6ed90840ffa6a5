"""What arrives at each node, as queueing theory sees it: Poisson, renewal, or neither, and why.

A formula is exact only for the arrival process it assumes.  Poisson streams stay Poisson through
product-form nodes (Burke, Jackson: exponential servers without a capacity, delays, random
splits and merges); a node whose output is not Poisson spoils every node downstream of it, its
own input included when a loop brings its output back.  Two cases keep an exact answer one step
further: a constant-rate source with non-exponential gaps feeds the node behind it a renewal
stream, and a round-robin split of a Poisson stream gives each branch Erlang-k gaps; a single
exponential server behind either is GI/M/1, exact (`queueing.gim1`), and more servers get the
gaps' variability in the Allen-Cunneen approximation.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from flowsim.analysis.network import first_origins
from flowsim.nodes.base import NodeConfig
from flowsim.nodes.source import SourceConfig
from flowsim.spec.architecture import Architecture


@dataclass(frozen=True)
class Arrivals:
    """The arrival process at one node (items)."""

    poisson: bool
    scv: float = 1.0  # squared coefficient of variation of the gaps (1: Poisson, or unknown)
    laplace: Callable[[float], float] | None = None  # E[exp(-s gap)] of a renewal stream
    why: str = ""  # why the arrivals are not Poisson (empty when they are)


def arrival_processes(arch: Architecture, rates: Mapping[str, float], load_multiplier: float) -> dict[str, Arrivals]:
    """Each node's arrivals, from which node's output spoils them first (in O(nodes + edges))."""
    from flowsim.graph import successors  # local: the graph layer sits beside this one

    succ = successors(arch, data_only=True)
    reasons = {name: why for name, config in arch.nodes.items() if (why := _output_breaks(name, config, succ))}
    origins = first_origins(succ, list(reasons))
    preds: dict[str, set[str]] = {name: set() for name in arch.nodes}
    for name, targets in succ.items():
        for target in targets:
            preds[target].add(name)
    result: dict[str, Arrivals] = {}
    for name in arch.nodes:
        seen = origins[name]
        if not seen:
            result[name] = Arrivals(True)
            continue
        origin = next((o for o in seen if o != name), name)
        why = reasons[origin] if origin != name else f"its own output comes back through a loop ({reasons[name]})"
        direct = preds[name] == {origin} and origin != name and not origins[origin]  # its input is Poisson
        renewal = _renewal(arch, origin, succ, rates, load_multiplier) if direct else None
        if renewal is not None and len(seen) == 1:
            scv, laplace = renewal
            result[name] = Arrivals(False, scv, laplace, why)
        else:
            result[name] = Arrivals(False, why=why)
    return result


def _output_breaks(name: str, config: NodeConfig, succ: Mapping[str, Sequence[str]]) -> str:
    """Why the node's output is not Poisson when its input is ('' when it stays Poisson)."""
    if config.attempts_per_item() != 1.0:
        return f"'{name}' retries failed attempts, and retries are not Poisson"
    if isinstance(config, SourceConfig):
        if config.time_varying():
            return f"'{name}' varies its rate over time: the formula takes its peak rate"
        law = config.law()
        if law.dist != "exponential":
            return f"'{name}' sends at {law.dist} gaps (scv {law.scv():.2g}), not Poisson"
    outs = succ[name]
    if config.routing == "round_robin" and len(outs) > 1:
        return f"'{name}' deals its output in turn (round robin): each branch gets every {len(outs)}th item"
    if config.routing == "fanout" and _copies_meet(succ, outs):
        return f"copies from '{name}' meet again downstream"
    model = config.queue_model()
    if model is None or not config.takes_input:
        return ""
    if model.capacity is not None:
        return f"'{name}' is a finite queue: its departures are not Poisson"
    if not model.exponential and not math.isinf(model.servers):
        return f"'{name}' has {getattr(model.service, 'dist', 'general')} service: its departures are not Poisson"
    return ""


def _copies_meet(succ: Mapping[str, Sequence[str]], targets: Sequence[str]) -> bool:
    """Whether two of a fan-out's copies can reach the same node (one is then two arrivals)."""
    if len(set(targets)) < len(targets):
        return True
    owner: dict[str, str] = {}
    for start in targets:
        queue, seen = deque([start]), {start}
        while queue:
            node = queue.popleft()
            if owner.setdefault(node, start) != start:
                return True
            for nxt in succ[node]:
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
    return False


def _renewal(
    arch: Architecture,
    origin: str,
    succ: Mapping[str, Sequence[str]],
    rates: Mapping[str, float],
    load_multiplier: float,
) -> tuple[float, Callable[[float], float] | None] | None:
    """The gaps' scv and transform when `origin`, fed Poisson (or a source), hands the node a
    renewal stream: a constant-rate source's own gaps down its one edge, or one branch of a
    round-robin split of a Poisson stream (every k-th item: Erlang-k gaps)."""
    config = arch.nodes[origin]
    outs = succ[origin]
    if config.routing == "round_robin":
        total = rates[origin] * config.pass_fraction()
        if total <= 0 or _output_breaks(origin, config.model_copy(update={"routing": "random"}), succ):
            return None  # what it splits is not Poisson itself
        k = len(outs)
        return 1.0 / k, lambda s: float((total / (total + s)) ** k)
    if isinstance(config, SourceConfig) and not config.time_varying() and len(outs) == 1:
        law, scale = config.law(), 1.0 / load_multiplier  # gaps shrink as the multiplier grows
        if law.laplace(0.0) is None:
            return law.scv(), None
        return law.scv(), lambda s: law.laplace(s * scale) or 0.0
    return None
