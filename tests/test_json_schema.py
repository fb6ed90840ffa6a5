"""The shipped JSON Schemas accept every shipped file and refuse what flowsim refuses.

Editors (yaml-language-server) and CI validators (check-jsonschema) read these files, so a false
error there is a bug as much as a false acceptance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from flowsim.results import RunResult
from flowsim.spec.architecture import Architecture
from flowsim.spec.json_schema import DIALECT, json_schema
from flowsim.spec.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"architecture": Architecture, "scenario": Scenario, "result": RunResult}
SHIPPED = [("architecture", p) for p in sorted((ROOT / "architectures").glob("*.yaml"))] + [
    ("scenario", p) for p in sorted((ROOT / "scenarios").glob("*.yaml"))
]


def shipped_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))
    return schema


@pytest.mark.generated
@pytest.mark.parametrize("name", list(MODELS))
def test_shipped_schemas_are_current_and_say_their_dialect(name: str) -> None:
    schema = shipped_schema(name)
    assert schema == json_schema(MODELS[name], name), "regenerate with: flowsim schema --out schemas/"
    assert schema["$schema"] == DIALECT and schema["$id"] == f"urn:flowsim:schema:{name}"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(("name", "path"), SHIPPED, ids=[p.name for _, p in SHIPPED])
def test_every_shipped_file_validates(name: str, path: Path) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(name).iter_errors(document)]
    assert not errors


def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(shipped_schema(name))


ARCH = {
    "name": "x",
    "nodes": {
        "src": {"kind": "source", "rate": "10/s"},
        "api": {"kind": "service", "servers": 2, "service_time": "50ms"},
        "done": {"kind": "sink"},
    },
    "edges": ["src -> api", {"from": "api", "to": "done"}],
}


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(ARCH))
    holder = doc
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return doc


def test_the_shorthands_pass_and_their_expanded_forms_too() -> None:
    check = _validator("architecture")
    assert not list(check.iter_errors(ARCH))
    expanded = _with(("nodes", "api", "service_time"), {"dist": "exponential", "mean": "50ms"})
    assert not list(check.iter_errors(expanded))
    slo = {"metric": "end_to_end.done.latency_s.p99", "op": "<", "value": "2s"}
    scenario = {"name": "s", "architecture": "a.yaml", "duration": "1h", "slos": ["totals.dropped == 0", slo]}
    assert not list(_validator("scenario").iter_errors(scenario))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("nodes", "src", "rate"), -5),  # a rate must be > 0: exclusiveMinimum on the number branch
        (("nodes", "api", "servers"), 0),  # at least one server
        (("nodes", "api", "servrs"), 2),  # an unknown field
        (("nodes", "api", "kind"), "servce"),  # an unknown kind
        (("edges",), ["src - api"]),  # not an arrow
    ],
)
def test_what_flowsim_refuses_the_schema_refuses(path: tuple[str, ...], value: Any) -> None:
    assert list(_validator("architecture").iter_errors(_with(path, value)))
