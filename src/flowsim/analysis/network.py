"""Graph walks of the analytic view that stay linear in nodes + edges on designs of any size.

The traffic equations lambda = gamma + P^T lambda are block-triangular over the strongly connected
components of the routing graph: solved component by component in topological order, a chain of
1,500 nodes costs 1,500 one-by-one solves instead of one dense 1,500 x 1,500 eigenvalue problem
(the spectral radius of P is the largest over its diagonal blocks, so the check is unchanged).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np

from flowsim.analysis import queueing as q


def components(succ: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Strongly connected components, upstream first (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in succ:
        if root in index:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(succ[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    part.append(member)
                    if member == node:
                        break
                found.append(part)
    return found[::-1]  # Tarjan emits downstream components first


def solve_blocks(shares: Mapping[str, Sequence[tuple[str, float]]], external: Mapping[str, float]) -> dict[str, float]:
    """lambda = gamma + P^T lambda, where `shares[i]` lists (j, P[i, j]); raises ValueError naming
    the nodes of a cycle that keeps or multiplies its flow."""
    succ = {name: [target for target, _ in out] for name, out in shares.items()}
    rates = {name: float(external[name]) for name in shares}
    for part in components(succ):
        if _plain(part, shares, rates):  # most components of a real design: lambda = gamma
            for target, share in shares[part[0]]:
                rates[target] += rates[part[0]] * share
            continue
        members = {name: i for i, name in enumerate(part)}
        inflow = np.array([rates[name] for name in part])
        block = np.zeros((len(part), len(part)))
        for name in part:
            for target, share in shares[name]:
                if target in members:
                    block[members[name], members[target]] += share
        try:
            solved = q.traffic_equations(block, inflow)
        except ValueError as err:
            cycle = ", ".join(part[:8]) + (", ..." if len(part) > 8 else "")
            raise ValueError(f"the cycle through {cycle}: {err}") from None
        for name, value in zip(part, solved, strict=True):
            rates[name] = float(value)
        for name in part:
            for target, share in shares[name]:
                if target not in members:
                    rates[target] += rates[name] * share
    return rates


def _plain(part: Sequence[str], shares: Mapping[str, Sequence[tuple[str, float]]], rates: Mapping[str, float]) -> bool:
    """One node without a self-loop, finite input: its block is the identity, solved without numpy.

    `traffic_equations` gives the same lambda = gamma on a 1 x 1 zero block, at numpy's per-call
    cost: on a chain of 1,500 nodes that cost was most of `flowsim validate`'s time.
    """
    if len(part) != 1:
        return False
    name = part[0]
    finite = all(math.isfinite(share) and share >= 0.0 for _, share in shares[name])
    return finite and math.isfinite(rates[name]) and rates[name] >= 0.0 and all(t != name for t, _ in shares[name])


def reached_by_others(succ: Mapping[str, Sequence[str]], starts: Sequence[str]) -> set[str]:
    """Nodes that some start other than themselves reaches, in O(nodes + edges)."""
    return {name for name, seen in first_origins(succ, starts).items() if set(seen) - {name}}


def first_origins(succ: Mapping[str, Sequence[str]], starts: Sequence[str]) -> dict[str, list[str]]:
    """For each node, up to two of the `starts` that reach it in one or more steps, nearest first.

    Each node keeps at most two distinct origins, so it is visited at most twice (O(nodes + edges));
    a node with an origin other than itself is reached by another start (a full node passes both
    origins on)."""
    origins: dict[str, list[str]] = {name: [] for name in succ}
    queue: deque[tuple[str, str]] = deque((start, start) for start in starts)
    while queue:
        node, origin = queue.popleft()
        for target in succ[node]:
            seen = origins[target]
            if origin not in seen and len(seen) < 2:
                seen.append(origin)
                queue.append((target, origin))
    return origins
