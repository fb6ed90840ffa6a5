"""Partition assignment at the end of a rebalance round: eager round robin and cooperative sticky.

Members are given by their index (their join order); partitions by number.  Both assignors are
balanced (every member gets floor or ceil of partitions / members); the sticky one moves as few
partitions as it can, so that under the cooperative protocol only those pause.
"""

from __future__ import annotations


def round_robin(members: list[int], partitions: int) -> dict[int, list[int]]:
    """Member k of the sorted list gets partitions k, k + m, k + 2m, ... (Kafka's RoundRobinAssignor
    on one topic; with every member present it is the static assignment flowsim always used)."""
    order = sorted(members)
    count = len(order)
    return {member: list(range(k, partitions, count)) for k, member in enumerate(order)}


def sticky(owned: dict[int, list[int]], partitions: int) -> dict[int, list[int]]:
    """A balanced assignment that keeps each member's partitions where it can (the sticky goal
    of Kafka's CooperativeStickyAssignor).

    `owned`: each live member's partitions now (partitions of members gone are in no list).
    Members keep up to their quota, lowest partitions first; `extra` members (those owning the
    most, ties by index) may keep one more; freed and unowned partitions go, lowest first, to the
    members furthest below their quota.
    """
    if not owned:
        return {}
    base, extra = divmod(partitions, len(owned))
    order = sorted(owned, key=lambda m: (-len(owned[m]), m))
    target: dict[int, list[int]] = {}
    for member in order:
        keep = sorted(owned[member])
        limit = base + 1 if extra and len(keep) > base else base
        if limit > base:
            extra -= 1
        target[member] = keep[:limit]
    taken = {p for kept in target.values() for p in kept}
    free = [p for p in range(partitions) if p not in taken]
    for p in free:
        short = [m for m in sorted(target) if len(target[m]) < base]
        if not short:
            short = [m for m in sorted(target) if len(target[m]) == base and extra]
            extra -= 1
        member = min(short, key=lambda m: (len(target[m]), m))
        target[member].append(p)
    return {member: sorted(parts) for member, parts in target.items()}
