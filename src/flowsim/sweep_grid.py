"""The grid of a sweep: `--set PATH=V1,V2` texts read as override paths and values, every combination
of them a point, and every point loaded (and checked) as a scenario.

Nothing here runs a simulation; `flowsim.sweep` plans and runs the points.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from flowsim.errors import Problem, SpecError
from flowsim.loading import PathLike, load_scenario, with_settings
from flowsim.spec.scenario import Scenario

Grid = Mapping[str, Sequence[Any]]


_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*(?::\s*(-?\d+)\s*)?$")
MAX_RANGE = 10_000  # values one A..B range may expand to (the sweep's max_points bounds the grid)


def parse_set(text: str) -> tuple[str, list[Any]]:
    """`nodes.api.servers=1,2,4` -> ('nodes.api.servers', [1, 2, 4]); values are read as YAML.

    The values are read as one YAML flow list, so a value may itself hold commas when bracketed
    (`nodes.api.service_time={dist: constant, value: 1s},{dist: exponential, mean: 1s}`).  A
    value `A..B` (or `A..B:STEP`) of whole numbers stands for A, A + STEP, ... up to B, both
    ends included: `nodes.api.servers=1..8`, `partitions=4..32:4`.
    """
    path, sep, raw = text.partition("=")
    if not sep or not path.strip() or not raw.strip():
        raise SpecError([Problem(f"cannot read {text!r}; write PATH=V1,V2,..., e.g. nodes.api.servers=1,2,4", "--set")])
    try:
        values = yaml.safe_load(f"[{raw}]")
    except yaml.YAMLError:
        values = [_yaml_or_text(part) for part in raw.split(",")]
    if not isinstance(values, list) or not values or any(v is None or v == "" for v in values):
        raise SpecError([Problem(f"cannot read the values of {text!r}; write PATH=V1,V2,...", "--set")])
    expanded = [v for value in values for v in _expanded(value, text)]
    seen: set[str] = set()
    for value in expanded:
        if repr(value) in seen:
            raise SpecError([Problem(f"{path.strip()!r} takes the value {value_text(value)} twice in {text!r}; each "
                                     "value once (a point run twice is the same run)", "--set")])  # fmt: skip
        seen.add(repr(value))
    return path.strip(), expanded


def _expanded(value: Any, text: str) -> list[Any]:
    """A value, or the whole numbers an `A..B[:STEP]` range stands for."""
    match = _RANGE.match(value) if isinstance(value, str) else None
    if match is None:
        return [value]
    low, high, step = int(match[1]), int(match[2]), int(match[3] or 1)
    if step < 1 or high < low:
        raise SpecError([Problem(f"cannot read the range {value.strip()!r} in {text!r}: write A..B with A <= B and "
                                 "a step of 1 or more, e.g. 1..8 or 4..32:4", "--set")])  # fmt: skip
    if (high - low) // step + 1 > MAX_RANGE:
        raise SpecError([Problem(f"the range {value.strip()!r} in {text!r} holds over {MAX_RANGE:,} values; "
                                 "give a step (A..B:STEP) or a shorter range", "--set")])  # fmt: skip
    return list(range(low, high + 1, step))


def _yaml_or_text(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text.strip()


def parse_sets(texts: Sequence[str]) -> dict[str, list[Any]]:
    """Several `--set PATH=V1,V2` options as one grid; a path given twice is an error."""
    grid: dict[str, list[Any]] = {}
    for text in texts:
        path, values = parse_set(text)
        if path in grid:
            raise SpecError([Problem(f"{path!r} is set twice; give all its values in one --set", "--set")])
        grid[path] = values
    return grid


def expand_grid(sets: Grid) -> list[dict[str, Any]]:
    """Every combination of the values, the last path varying fastest; no paths -> one empty point."""
    paths = list(sets)
    return [dict(zip(paths, combo, strict=True)) for combo in itertools.product(*(sets[p] for p in paths))]


def point_label(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{path}={value_text(value)}" for path, value in point.items()) or "the scenario as written"


def value_text(value: Any) -> str:
    """A value as a grid label writes it: text as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def load_points(
    scenario_path: PathLike, points: Sequence[Mapping[str, Any]], seed: int | None, replications: int | None
) -> list[Scenario]:
    """One validated scenario per point; every invalid point is reported, each named."""
    updates: dict[str, Any] = {"seed": seed, "replications": replications}
    updates = {k: v for k, v in updates.items() if v is not None}
    scenarios: list[Scenario] = []
    found: dict[Problem, list[str]] = {}
    for point in points:
        try:
            scenario = load_scenario(scenario_path, overrides=dict(point))
        except SpecError as err:
            for problem in err.problems:
                found.setdefault(problem, []).append(point_label(point))
            continue
        scenarios.append(with_settings(scenario, **updates))
    if found:
        raise SpecError(_grouped([_at_points(problem, labels, len(points)) for problem, labels in found.items()]))
    return scenarios


def _at_points(problem: Problem, labels: list[str], count: int) -> Problem:
    """The problem, naming the grid points that have it (or all of them)."""
    where = "at every grid point" if count > 1 and len(labels) == count else "at grid point " + "; ".join(labels)
    return dataclasses.replace(problem, message=f"{where}: {problem.message}")


def _grouped(problems: list[Problem], most: int = 3) -> list[Problem]:
    """Problems that differ only in their numbers (one per grid point: 'capacity (20) is below servers
    (21)', (22), ...) said once, with how many points have them, not hundreds of lines."""
    groups: dict[tuple[Any, ...], list[Problem]] = {}
    for problem in problems:
        shape = re.sub(r"\d+(?:\.\d+)?", "#", problem.message)
        groups.setdefault((problem.source, problem.line, problem.column, problem.field, shape), []).append(problem)
    said: list[Problem] = []
    for group in groups.values():
        if len(group) <= most:
            said += group
            continue
        first, last = group[0].message, group[-1].message
        message = f"{first} ... and so on at {len(group) - 2} more grid points ... {last}"
        said.append(dataclasses.replace(group[0], message=message))
    return said
