"""End-to-end latency by sampling routes backwards (in the spirit of Parsimon).

A sample picks the step it reached the sink by the flow into the sink, then walks upstream:
the edge it came on is drawn by the edges' flows at that step, its time at the sender is the FIFO
wait of what the sender sent then plus a draw of the sender's stationary delay (wait with the
M/M/c chance, exponential around its mean; service drawn from the kind's law; holds fixed),
which gives the step it entered, and so on up to a source, or to a batch run that gives its data
the interval's start as birth time.  Memory: a few arrays per step, none per message.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from flowsim.fluid.base import Record
from flowsim.fluid.closed import item_waits

Service = Callable[[np.ndarray], np.ndarray] | None  # the steps of the visits -> their service times
#: visits a route may make (each sample walks until it reaches a source or the run's start; a cycle
#: gone round V times on average takes about V ln(samples) visits for the last sample to finish)
MAX_HOPS = 1_000_000


def queue_waits(
    scale: np.ndarray, cap: np.ndarray, ratio: np.ndarray | None, stream: np.random.Generator
) -> np.ndarray:  # fmt: skip
    """Waits of those who wait: exponential of mean `scale` (Erlang C's tail C e^{-(c mu - lambda) t});
    in a bounded room of `cap` waiting places, j others ahead with chance proportional to rho^j
    (`ratio`, j < cap: M/M/c/K's states seen on arrival) and an Erlang(j + 1) wait, `scale` a place."""
    scale, cap = scale.astype(float), cap.astype(float)
    u = stream.random(len(scale))
    bounded = np.isfinite(cap)
    waits = -np.log1p(-u) * scale
    if bounded.any():
        s, places = scale[bounded], np.maximum(cap[bounded], 1.0)
        rho = np.ones_like(s) if ratio is None else np.maximum(ratio.astype(float)[bounded], 1e-12)
        v = stream.random(len(s))
        flat = np.abs(rho - 1.0) < 1e-9
        safe = np.where(flat, 2.0, rho)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # the smallest j with P(ahead <= j) = (1 - rho^(j+1)) / (1 - rho^J) >= v
            ahead = np.ceil(np.log1p(-v * -np.expm1(places * np.log(safe))) / np.log(safe)) - 1.0
        ahead = np.where(flat, np.floor(v * places), ahead)
        ahead = np.clip(np.nan_to_num(ahead, nan=0.0), 0.0, places - 1.0)
        waits[bounded] = stream.gamma(ahead + 1.0) * s
    result: np.ndarray = waits
    return result


def _pick_edges(
    rec: Record, edges: np.ndarray, ks: np.ndarray, uniform: np.ndarray, fallback: np.ndarray,
    by: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """For each sample, one of `edges` drawn by its flow (or `by`) at the sample's step."""
    if len(edges) == 1:
        return np.full(len(ks), edges[0])
    flows = (rec.flow if by is None else by)[edges][:, ks].astype(float)
    totals = flows.sum(axis=0)
    empty = totals <= 0
    if empty.any():
        flows[:, empty] = fallback[:, None]
        totals[empty] = fallback.sum()
    cumulative = np.cumsum(flows, axis=0) / totals
    picked: np.ndarray = edges[np.minimum((cumulative < uniform).sum(axis=0), len(edges) - 1)]
    return picked


def trace(
    rec: Record, times: np.ndarray, sink_edges: list[int], edge_source: np.ndarray, in_edges: dict[int, np.ndarray],
    is_source: np.ndarray, services: list[Service], stream: np.random.Generator, first_step: int, size: int,
) -> np.ndarray:  # fmt: skip
    """`size` end-to-end latencies of what reached a sink on `sink_edges` from step `first_step` on."""
    sinks = np.asarray(sink_edges)
    weights = rec.items[sinks, first_step:].astype(float).sum(axis=0)  # latency is per item, as the kernel's
    total = float(weights.sum())
    if total <= 0 or size <= 0:
        return np.empty(0)
    totals = rec.flow.astype(float).sum(axis=1)
    dt = np.diff(times)
    ks = first_step + stream.choice(len(weights), size=size, p=weights / total)
    edges = _pick_edges(rec, sinks, ks, stream.random(size), totals[sinks], rec.items)
    t = times[ks] + stream.random(size) * dt[ks]
    end = t.copy()
    latency = np.full(size, np.nan)
    alive = np.ones(size, dtype=bool)
    for _hop in range(MAX_HOPS):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        for edge, births in rec.born.items():
            hit = idx[(edges[idx] == edge)]
            if hit.size:
                born = np.array([births.get(int(k), np.nan) for k in ks[hit]])
                ok = ~np.isnan(born)
                latency[hit[ok]] = end[hit[ok]] - born[ok]
                alive[hit[ok]] = False
        idx = np.flatnonzero(alive)
        nodes = edge_source[edges[idx]]
        start = is_source[nodes]
        latency[idx[start]] = end[idx[start]] - t[idx[start]]
        alive[idx[start]] = False
        idx, nodes = idx[~start], nodes[~start]
        if idx.size == 0:
            break
        k = ks[idx]
        stay = rec.wait[edges[idx], k] + rec.hold[nodes, k]
        waits = stream.random(idx.size) < rec.p_wait[nodes, k]
        stay += np.where(
            waits, queue_waits(rec.wq[nodes, k], rec.wcap[nodes, k], _at(rec.ratio, nodes, k), stream), 0.0
        )
        if rec.burst is not None:  # a uniform place among the items delivered with it
            stay += 2.0 * stream.random(idx.size) * rec.burst[nodes, k]
        for node, (partitions, _batch) in rec.closed.items():  # a full producer buffer: waits by partition
            assert rec.closed_n is not None and rec.closed_unit is not None
            mine = (nodes == node) & (rec.closed_n[node, k] > 0)
            if mine.any():
                km = k[mine]
                stay[mine] = rec.hold[node, km] + item_waits(
                    rec.closed_n[node, km], rec.closed_unit[node, km], partitions, 0.0, stream
                )
        for node in np.unique(nodes):
            draw = services[int(node)]
            if draw is not None:
                mine = nodes == node
                stay[mine] += draw(k[mine]) * rec.slow[node, k[mine]]
        t[idx] -= stay
        early = t[idx] <= times[0]
        latency[idx[early]] = end[idx[early]] - times[0]
        alive[idx[early]] = False
        idx, nodes = idx[~early], nodes[~early]
        ks[idx] = np.clip(np.searchsorted(times, t[idx], side="right") - 1, 0, len(dt) - 1)
        uniform = stream.random(idx.size)
        for node in np.unique(nodes):
            mine = nodes == node
            choices = in_edges.get(int(node))
            if choices is None or len(choices) == 0:
                latency[idx[mine]] = end[idx[mine]] - t[idx[mine]]
                alive[idx[mine]] = False
                continue
            edges[idx[mine]] = _pick_edges(rec, choices, ks[idx[mine]], uniform[mine], totals[choices])
    latency[alive] = end[alive] - t[alive]
    result: np.ndarray = latency[~np.isnan(latency)]
    return result


def _at(values: np.ndarray | None, nodes: np.ndarray | int, ks: np.ndarray) -> np.ndarray | None:
    return None if values is None else values[nodes, ks]


def stays(
    rec: Record, out_edges: list[int], node: int, service: Service, stream: np.random.Generator, first_step: int,
    size: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Waits and times in node of what a node sent on, sampled by its outflow: the same visits, so
    each time in node is its wait plus its hold and service (W - Wq is the mean service)."""
    empty = (np.empty(0), np.empty(0))
    if not out_edges or size <= 0:
        return empty
    edges = np.asarray(out_edges)
    flows = rec.flow[edges, first_step:].astype(float)
    weights = flows.sum(axis=0)
    total = float(weights.sum())
    if total <= 0:
        return empty
    ks = first_step + stream.choice(len(weights), size=size, p=weights / total)
    chosen = _pick_edges(rec, edges, ks, stream.random(size), flows.sum(axis=1))
    wait = rec.wait[chosen, ks].astype(float)
    # the chance to wait from stratified uniforms, one per 1/size of [0, 1) in random order: the
    # share that waits is P(wait) to within 1/size, not to a binomial's noise
    strata = (stream.permutation(size) + stream.random(size)) / size
    waits = strata < rec.p_wait[node, ks]
    wait += np.where(waits, queue_waits(rec.wq[node, ks], rec.wcap[node, ks], _at(rec.ratio, node, ks), stream), 0.0)
    stay = wait + rec.hold[node, ks]
    if service is not None:
        stay += service(ks) * rec.slow[node, ks]
    return wait, stay
