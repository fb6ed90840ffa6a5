"""Deadlock detection: blocked senders waiting on each other in a cycle while nothing moves.

Each node keeps `waiting_on` (its hand-overs refused, by target): the wait-for graph.  At every
time-series sample the kernel looks for a cycle in it whose nodes completed and took in nothing
since the previous sample while holding items: such a cycle can never move again (every node
in it waits for room in the next), so the run reports it once, with the nodes and the time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowsim.engine.node import NodeRuntime


def _cycle(nodes: Mapping[str, NodeRuntime]) -> list[str] | None:
    """A cycle of the wait-for graph, if there is one (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 on the path, 2 done
    for root in nodes:
        if root in state or not nodes[root].waiting_on:
            continue
        path: list[str] = [root]
        stack = [iter(list(nodes[root].waiting_on))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt) :]
            if nxt not in state and nxt in nodes:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(list(nodes[nxt].waiting_on)))
    return None


def find_deadlock(nodes: Mapping[str, NodeRuntime], marks: dict[str, float], now: float) -> str | None:
    """A warning naming the deadlocked cycle, or None; `marks` keeps each node's last activity."""
    cycle = _cycle(nodes)
    if cycle is None:
        marks.clear()
        return None
    activity = {name: float(nodes[name].completed + nodes[name].arrivals) for name in cycle}
    still = all(marks.get(name) == value for name, value in activity.items()) and all(
        nodes[name].inside() > 0 for name in cycle
    )
    marks.clear()
    marks.update(activity)
    if not still:
        return None
    ring = " -> ".join([*cycle, cycle[0]])
    held = sum(nodes[name].inside() for name in cycle)
    return (
        f"deadlock at t={now:g}s: {ring} each wait for room in the next, holding {held} messages, and nothing "
        "has moved since the previous sample; a cycle of blocking nodes can fill up and hold each other forever "
        "(use on_full: drop on one of them, give it more capacity, or route the loop through an unbounded node)"
    )
