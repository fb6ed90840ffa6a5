"""Nodes that hold items without servers (delay, data_quality, ...): the kernel's gauges for them."""

from __future__ import annotations

import pytest
import yaml

import flowsim


def test_a_holding_node_reports_its_time_weighted_mean_inside() -> None:
    # one item a second (at 1, 2, ...) held 2.5 s each: 2 inside for half of every second and 3 for
    # the other half once the flow is established, so the mean is 2.5 = lambda x E[S] (Little, M/G/inf)
    doc = {"name": "d", "architecture": {"name": "d", "nodes": {
        "src": {"kind": "source", "interarrival": {"dist": "constant", "value": 1}},
        "hold": {"kind": "delay", "time": {"dist": "constant", "value": 2.5}}, "done": {"kind": "sink"}},
        "edges": ["src -> hold", "hold -> done"]}, "duration": 1010, "warmup": 10}  # fmt: skip
    result = flowsim.simulate(flowsim.load_scenario(yaml.safe_dump(doc, sort_keys=False)))
    assert result.nodes["hold"].mean_in_node == pytest.approx(2.5, abs=1e-9)
