"""What each node's formula assumes of its arrivals, and the traffic equations with losses."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

import flowsim
from flowsim.analysis.view import AnalyticView


def view(nodes: dict[str, Any], edges: list[Any]) -> AnalyticView:
    doc = {"name": "a", "architecture": {"name": "a", "nodes": nodes, "edges": edges}, "duration": 100}
    scenario = flowsim.load_scenario(yaml.safe_dump(doc, sort_keys=False))
    return flowsim.analyze_architecture(scenario.arch, scenario.load.multiplier)


def exp(mean: float) -> dict[str, Any]:
    return {"dist": "exponential", "mean": mean}


def mm1(mean: float, **extra: Any) -> dict[str, Any]:
    return {"kind": "service", "servers": 1, "service_time": exp(mean), **extra}


def test_fanout_copies_that_never_meet_again_are_each_poisson() -> None:
    # a copy of a Poisson stream is Poisson: each branch is M/M/1 exactly, until copies merge
    apart = view({"src": {"kind": "source", "rate": 1, "routing": "fanout"}, "a": mm1(0.5), "b": mm1(0.5),
                  "da": {"kind": "sink"}, "db": {"kind": "sink"}},
                 ["src -> a", "src -> b", "a -> da", "b -> db"])  # fmt: skip
    assert all(apart.nodes[n].prediction.exact for n in ("a", "b"))  # type: ignore[union-attr]
    meet = view({"src": {"kind": "source", "rate": 1, "routing": "fanout"}, "a": mm1(0.5), "b": mm1(0.5),
                 "join": mm1(0.2), "done": {"kind": "sink"}},
                ["src -> a", "src -> b", "a -> join", "b -> join", "join -> done"])  # fmt: skip
    join = meet.nodes["join"].prediction
    assert join is not None and not join.exact and "copies from 'src' meet again" in join.why


def test_a_loss_node_in_a_loop_is_solved_at_the_rate_it_really_gets() -> None:
    # src 1/s -> a (M/M/1/3, mean 0.5 s) -> b (M/M/1, mean 0.5 s); b sends 40% back to a.  a gets
    # lambda_a = 1 + 0.4 lambda_a (1 - p_3(lambda_a)): the fixed point, not 1 / 0.6 = 1.667/s
    found = view({"src": {"kind": "source", "rate": 1}, "a": mm1(0.5, capacity=3, on_full="drop"), "b": mm1(0.5),
                  "done": {"kind": "sink"}},
                 ["src -> a", "a -> b", {"from": "b", "to": "a", "weight": 0.4},
                  {"from": "b", "to": "done", "weight": 0.6}])  # fmt: skip
    lam = found.nodes["a"].arrival_rate_per_s
    r = lam * 0.5
    p3 = (1 - r) * r**3 / (1 - r**4)
    assert lam == pytest.approx(1 + 0.4 * lam * (1 - p3), rel=1e-9)
    assert found.nodes["b"].arrival_rate_per_s == pytest.approx(lam * (1 - p3), rel=1e-9)
    assert 1.3 < lam < 1.667
    a = found.nodes["a"].prediction
    assert a is not None and not a.exact and "its own output comes back through a loop" in a.why


def test_a_time_varying_source_says_its_formula_is_at_the_peak() -> None:
    found = view({"src": {"kind": "source", "rate": 1, "profile": [{"diurnal": {"low": 0.3, "peak_at": "14h"}}]},
                  "q": mm1(0.5), "done": {"kind": "sink"}}, ["src -> q", "q -> done"])  # fmt: skip
    q = found.nodes["q"].prediction
    assert q is not None and not q.exact and "varies its rate over time" in q.why


def test_renewal_gaps_into_several_servers_take_allen_cunneen_with_their_variability() -> None:
    # constant gaps of 1 s (ca2 = 0) into M/M/2 of mean 1.6 s: Wq(M/M/2) x (0 + 1) / 2
    found = view({"src": {"kind": "source", "interarrival": {"dist": "constant", "value": 1}},
                  "q": {"kind": "service", "servers": 2, "service_time": exp(1.6)}, "done": {"kind": "sink"}},
                 ["src -> q", "q -> done"])  # fmt: skip
    q = found.nodes["q"].prediction
    from flowsim.analysis.queueing import mmc

    assert q is not None and q.formula == "G/G/c (Allen-Cunneen)" and not q.exact
    assert q.wait_s == pytest.approx(mmc(1.0, 1 / 1.6, 2).wq / 2, rel=1e-12)
