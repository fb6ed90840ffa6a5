"""Broken and odd inputs never crash: every shipped scenario, mutated at random, either runs or is
refused with a FlowsimError (a located message), never another exception."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flowsim
from flowsim.loading import _document

pytestmark = pytest.mark.slow  # every shipped scenario, mutated and run

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))

EXAMPLES = int(os.environ.get("FLOWSIM_FUZZ_EXAMPLES", "4"))  # raise it for a longer hunt
ODD_VALUES = [0, -1, 1, 0.5, 2.5, 10**9, "", "x", "0s", "-5s", "1e9/s", "abc/s", None, True, [], {}, [1, 2], "@hourly"]


def resolved(path: Path) -> dict[str, Any]:
    """The scenario as one mapping, its architecture inlined, so mutations reach every node."""
    data = copy.deepcopy(_document(path)[0].data)
    if isinstance(data.get("architecture"), str):
        data["architecture"] = _document(path.parent / data["architecture"])[0].data
    data["duration"] = "20m"
    data["warmup"] = 0
    data["replications"] = 1
    return data


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


def mutate(data: dict[str, Any], path: tuple[Any, ...], action: str, value: Any) -> None:
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    if action == "delete":
        del parent[key]
    elif action == "rename" and isinstance(parent, dict):
        parent[f"{key}x"] = parent.pop(key)
    else:
        parent[key] = value


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_scenarios_run_or_fail_cleanly(path: Path, data: st.DataObject) -> None:
    scenario = resolved(path)
    where = data.draw(st.sampled_from(paths(scenario)))
    action = data.draw(st.sampled_from(["delete", "rename", "replace"]))
    mutate(scenario, where, action, data.draw(st.sampled_from(ODD_VALUES)))
    text = yaml.safe_dump(scenario, sort_keys=False)
    try:
        loaded = flowsim.load_scenario(text)
        flowsim.simulate(loaded, max_events=600_000)  # above it, auto runs the fluid engine: both are hunted
    except flowsim.FlowsimError as err:
        assert str(err).strip()
