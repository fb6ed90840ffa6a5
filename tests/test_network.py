"""The linear-time graph walks of the analytic view agree with the dense, quadratic originals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowsim.analysis import queueing as q
from flowsim.analysis.network import components, reached_by_others, solve_blocks
from flowsim.graph import reachable


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, list[tuple[str, float]]]:
    n = draw(st.integers(1, 9))
    names = [f"n{i}" for i in range(n)]
    shares: dict[str, list[tuple[str, float]]] = {name: [] for name in names}
    for name in names:
        targets = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
        for target in targets:  # each row sums to at most 0.9: the network always drains
            shares[name].append((target, 0.9 / len(targets) * draw(st.floats(0.1, 1.0))))
    return shares


@settings(max_examples=60, deadline=None)
@given(graphs(), st.data())
def test_block_solve_equals_the_dense_solve(shares: dict[str, list[tuple[str, float]]], data: st.DataObject) -> None:
    names = list(shares)
    external = {name: data.draw(st.floats(0.0, 5.0)) for name in names}
    p = np.zeros((len(names), len(names)))
    for i, name in enumerate(names):
        for target, share in shares[name]:
            p[i, names.index(target)] += share
    dense = q.traffic_equations(p, [external[n] for n in names])
    blocks = solve_blocks(shares, external)
    assert [blocks[n] for n in names] == pytest.approx(list(dense), rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(graphs(), st.data())
def test_reached_by_others_equals_the_quadratic_walk(
    shares: dict[str, list[tuple[str, float]]], data: st.DataObject
) -> None:
    succ = {name: [t for t, _ in out] for name, out in shares.items()}
    starts = data.draw(st.lists(st.sampled_from(list(succ)), unique=True))
    pred: dict[str, list[str]] = {name: [] for name in succ}
    for name, targets in succ.items():
        for target in targets:
            pred[target].append(name)
    brute = {name for name in succ if (reachable(pred, [name]) - {name}) & set(starts)}
    assert reached_by_others(succ, starts) == brute


def test_components_come_upstream_first() -> None:
    succ = {"a": ["b"], "b": ["c", "a"], "c": ["d"], "d": ["c"], "e": []}
    parts = [sorted(part) for part in components(succ)]
    assert sorted(map(tuple, parts)) == [("a", "b"), ("c", "d"), ("e",)]
    assert parts.index(["a", "b"]) < parts.index(["c", "d"])  # a -> b -> c: {a,b} before {c,d}


def test_a_cycle_without_exit_is_named() -> None:
    with pytest.raises(ValueError, match="the cycle through"):
        solve_blocks({"a": [("b", 1.0)], "b": [("a", 1.0)], "s": [("a", 1.0)]}, {"a": 0, "b": 0, "s": 1})


def test_erlang_b_closed_form_matches_the_recursion() -> None:
    # B(20000, 19500) by the recursion B(k) = a B(k-1) / (k + a B(k-1)), done here by hand
    b = 1.0
    for k in range(1, 20_001):
        b = 19_500 * b / (k + 19_500 * b)
    assert q.erlang_b(20_000, 19_500.0) == pytest.approx(b, rel=1e-9)
    assert q.erlang_c(10**12, 0.9e12) == pytest.approx(0.0, abs=1e-300)  # a = 0.9c: no one waits
