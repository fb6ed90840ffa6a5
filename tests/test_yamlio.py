"""Tests for the safe, location-aware YAML loader and the pydantic error translator."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from flowsim.errors import Problem, SpecError
from flowsim.spec import yamlio
from flowsim.spec.yamlio import (
    MAX_ALIAS_NODES,
    MAX_BYTES,
    Mark,
    YamlDocument,
    format_path,
    load_yaml_file,
    load_yaml_text,
    problems_from_validation,
)


def only_problem(text: str, source: str = "spec.yaml") -> Problem:
    with pytest.raises(SpecError) as info:
        load_yaml_text(text, source)
    assert len(info.value.problems) == 1
    return info.value.problems[0]


# ---- loading ----------------------------------------------------------------------------------


def test_plain_data_and_marks() -> None:
    doc = load_yaml_text("name: two\nnodes:\n  api:\n    servers: 3\nedges:\n  - {src: api, dst: db}\n", "a.yaml")
    assert doc.source == "a.yaml"
    assert doc.data == {
        "name": "two",
        "nodes": {"api": {"servers": 3}},
        "edges": [{"src": "api", "dst": "db"}],
    }
    assert doc.marks[("nodes", "api", "servers")] == Mark(4, 14)
    assert doc.key_marks[("nodes", "api", "servers")] == Mark(4, 5)
    assert doc.marks[("edges", 0, "dst")] == Mark(6, 21)
    assert doc.marks[()] == Mark(1, 1)
    assert doc.mark_for(("nodes", "api", "servers", "not", "there")) == Mark(4, 14)
    assert doc.mark_for(("nowhere",)) == Mark(1, 1)
    assert YamlDocument("x", {}).mark_for(("a",)) is None


def test_scalars_resolve_like_yaml_but_units_and_dates_stay_text() -> None:
    text = "n: 3\nf: 0.5\nb: true\nz: ~\nlat: 250ms\nrate: 0.9/s\nt: 1s\nday: 2024-01-02\nq: '12'\n"
    expected = {"n": 3, "f": 0.5, "b": True, "z": None, "lat": "250ms", "rate": "0.9/s", "t": "1s"}
    assert load_yaml_text(text).data == {**expected, "day": "2024-01-02", "q": "12"}


def test_keys_keep_the_text_the_user_wrote() -> None:
    data = load_yaml_text("on: 1\noff: 2\nyes: 3\n1: x\n2.5: y\nnull: z\n").data
    assert list(data) == ["on", "off", "yes", "1", "2.5", "null"]


def test_duplicate_key_names_both_lines() -> None:
    problem = only_problem("name: x\nservers: 1\nnodes: {}\nservers: 2\n")
    assert (problem.line, problem.column, problem.field) == (4, 1, "servers")
    assert str(problem) == "spec.yaml:4:1: servers: duplicate key 'servers' (first defined at line 2)"


def test_duplicate_key_in_nested_mapping() -> None:
    problem = only_problem("nodes:\n  api:\n    servers: 1\n    servers: 2\n")
    assert str(problem) == "spec.yaml:4:5: nodes.api.servers: duplicate key 'servers' (first defined at line 3)"


@pytest.mark.parametrize(
    "text",
    [
        "cmd: !!python/object/apply:os.system ['echo hacked']\n",
        "cmd: !!python/name:os.system\n",
        "!!python/object/apply:os.system ['echo hacked']\n",
        "? !!python/name:os.system\n: 1\n",
    ],
)
def test_python_tags_are_rejected_without_running_anything(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a))
    problem = only_problem(text)
    assert problem.message.startswith("tag '!!python/")
    assert problem.message.endswith("is not allowed")
    assert problem.hint == "tags that build objects are not allowed; write plain values"
    assert problem.line is not None
    assert calls == []


def test_python_tag_location() -> None:
    problem = only_problem("name: x\nrun:\n  cmd: !!python/object/apply:os.system ['ls']\n")
    assert (problem.line, problem.column, problem.field) == (3, 8, "run.cmd")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: !!binary aGk=\n", "binary values (!!binary) are not supported"),
        ("a: !custom x\n", "tag '!custom' is not allowed"),
        ("a: !!set {x, y}\n", "tag '!!set' cannot be used here"),
        ("a: !!int abc\n", "cannot read 'abc' as !!int"),
        ("a: !!map [1]\n", "tag '!!map' cannot be used here"),
    ],
)
def test_other_tags(text: str, message: str) -> None:
    problem = only_problem(text)
    assert (problem.message, problem.line, problem.column, problem.field) == (message, 1, 4, "a")


def test_explicit_core_tags_are_fine() -> None:
    assert load_yaml_text("a: !!str 12\nb: !!float '2'\nc: !!int '7'\n").data == {"a": "12", "b": 2.0, "c": 7}


def record_builders(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every value builder the loader makes from now on, to read its alias-expansion count."""
    made: list[Any] = []

    class Recorded(yamlio._Builder):
        def __init__(self, source: str) -> None:
            super().__init__(source)
            made.append(self)

    monkeypatch.setattr(yamlio, "_Builder", Recorded)
    return made


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in itertools.pairwise("abcdefghijklmnop"[:levels]):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    builders = record_builders(monkeypatch)
    problem = only_problem(billion_laughs(9), "lol.yaml")
    # fast by construction, not by the clock: the builder stops at the first value past the limit,
    # having visited ~100k values, not the 9**9 the document expands to
    (builder,) = builders
    assert builder.expanded == MAX_ALIAS_NODES + 1 and len(builder.seen) < 200
    assert problem.message == f"aliases expand to more than {MAX_ALIAS_NODES} values"
    assert "billion laughs" in problem.hint
    assert problem.source == "lol.yaml" and problem.line is not None


def test_moderate_alias_use_is_fine() -> None:
    doc = load_yaml_text(billion_laughs(3))
    assert len(doc.data["c"]) == 9 and doc.data["c"][8][8] == ["lol"] * 9


def test_recursive_alias_is_rejected() -> None:
    problem = only_problem("a: &a [1, *a]\n")
    assert problem.message == "an alias refers to a value that contains it"
    assert (problem.line, problem.field) == (1, "a[1]")


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        (
            "nodes:\n  api:\n    servers: 2\n    latency: [1, 2\n  db: {}\n",
            5,
            5,
            "expected ',' or ']', but got ':'",
        ),
        (
            "name: x\nnodes:\n  api:\n    kind: service\n     servers: 3\n",
            5,
            13,
            "mapping values are not allowed here",
        ),
        ("a: *nope\n", 1, 4, "found undefined alias 'nope'"),
        ("a:\n\t- 1\n", 2, 1, "found character '\\t' that cannot start any token"),
    ],
)
def test_syntax_error_position(text: str, line: int, column: int, message: str) -> None:
    problem = only_problem(text)
    assert (problem.line, problem.column, problem.message) == (line, column, f"invalid YAML: {message}")
    assert "Traceback" not in str(problem) and "^" not in str(problem)


def test_syntax_error_hint_names_the_construct() -> None:
    problem = only_problem("nodes:\n  api:\n    latency: [1, 2\n  db: {}\n")
    assert problem.hint == "while parsing a flow sequence started at line 3"
    assert only_problem("a:\n\t- 1\n").hint == "indent with spaces, not tabs"


def test_control_character_is_located() -> None:
    problem = only_problem("a: 1\nb: x\x01y\n")
    assert (problem.line, problem.column, problem.message) == (2, 5, "unsupported character '\\x01'")


def test_merge_keys() -> None:
    text = (
        "defaults: &defaults\n  servers: 1\n  latency: 5ms\n"
        "big: &big\n  servers: 8\n  queue: 100\n"
        "nodes:\n"
        "  api:\n    <<: *defaults\n    latency: 9ms\n"
        "  db:\n    <<: [*big, *defaults]\n"
    )
    doc = load_yaml_text(text)
    assert doc.data["nodes"]["api"] == {"servers": 1, "latency": "9ms"}
    assert doc.data["nodes"]["db"] == {"servers": 8, "queue": 100, "latency": "5ms"}
    assert doc.marks[("nodes", "api", "latency")] == Mark(10, 14)  # the explicit value wins
    assert doc.marks[("nodes", "api", "servers")] == Mark(2, 12)  # merged value: where it is written
    assert doc.marks[("nodes", "db", "servers")] == Mark(5, 12)
    assert doc.key_marks[("nodes", "db", "latency")] == Mark(3, 3)


def test_merge_of_a_non_mapping_is_rejected() -> None:
    problem = only_problem("xs: &xs [1, 2]\nn:\n  <<: *xs\n")
    assert (problem.message, problem.field) == ("'<<' can only merge mappings", "n")


def test_non_scalar_key_is_rejected() -> None:
    problem = only_problem("a: 1\n? [x, y]\n: 2\n")
    assert (problem.line, problem.column, problem.message) == (
        2,
        3,
        "a mapping key must be a single value, not a list",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "the top level must be a mapping, not a list"),
        ("just text\n", "the top level must be a mapping, not a single value (str)"),
        ("", "the document is empty"),
        ("# only a comment\n", "the document is empty"),
        ("---\n", "the document is empty"),
    ],
)
def test_top_level_must_be_a_mapping(text: str, message: str) -> None:
    assert only_problem(text).message == message


def test_multiple_documents() -> None:
    problem = only_problem("a: 1\n---\nb: 2\n")
    assert (problem.line, problem.column) == (2, 1)
    assert problem.message == "the file contains more than one YAML document"


def test_large_document_rejected_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "a: [" + "1, " * (MAX_BYTES // 3 + 10) + "\n"  # also broken YAML: proves we never parse it
    loaders: list[Any] = []
    monkeypatch.setattr(yaml, "SafeLoader", lambda *args: loaders.append(args))  # no reader, scanner or composer
    problem = only_problem(text)
    assert problem.message.startswith("the document is too large")
    assert loaders == []


def test_deep_nesting_is_rejected() -> None:
    ours = only_problem("a: " + "[" * 300 + "]" * 300 + "\n")  # caught while building
    assert (ours.field, ours.message) == ("a", "values are nested more than 100 levels deep")
    composer = only_problem("a: " + "[" * 800 + "]" * 800 + "\n")  # PyYAML's composer recursion
    assert "nested" in composer.message


# ---- files ------------------------------------------------------------------------------------


def test_load_file(tmp_path: Path) -> None:
    path = tmp_path / "arch.yaml"
    path.write_text("\ufeffname: x\n", encoding="utf-8")
    doc = load_yaml_file(path)
    assert (doc.source, doc.data, doc.marks[("name",)]) == (str(path), {"name": "x"}, Mark(1, 7))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as info:
        load_yaml_file(path)
    assert str(info.value) == f"{path}: file not found (check the path and the current directory)"


def test_directory_and_bad_encoding(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="this is a directory, not a file"):
        load_yaml_file(str(tmp_path))
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: x\ncity: M\xfcnchen\n")
    with pytest.raises(SpecError) as info:
        load_yaml_file(path)
    problem = info.value.problems[0]
    assert (problem.source, problem.line, problem.column) == (str(path), 2, 8)
    assert problem.message == "the file is not UTF-8 text (byte 0xfc)"
    assert problem.hint == "save the file with UTF-8 encoding"


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def deny(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(yamlio, "open", deny, raising=False)  # chmod does not stop root
    path = tmp_path / "secret.yaml"
    path.write_text("a: 1\n")
    with pytest.raises(SpecError) as info:
        load_yaml_file(path)
    assert str(info.value) == f"{path}: permission denied (check the file's read permissions)"


def test_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: 1\n" + b"#" * MAX_BYTES)
    with pytest.raises(SpecError, match="too large"):
        load_yaml_file(path)


# ---- pydantic errors --------------------------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Service(Strict):
    kind: Literal["service"]
    servers: int
    latency: str = "1ms"


class Queue(Strict):
    kind: Literal["queue"]
    capacity: int = 10
    policy: Literal["fifo", "lifo"] = "fifo"


class Edge(Strict):
    src: str
    dst: str
    weight: float = 1.0


class Arch(Strict):
    name: str
    nodes: dict[str, Annotated[Service | Queue, Field(discriminator="kind")]]
    edges: list[Edge] = []


TWO = """\
name: two
nodes:
  db:
    kind: queue
  api:
    kind: service
    sever: 3
  cache:
    kind: sevice
  q:
    kind: queue
    policy: fifio
edges:
  - {src: api, dst: db}
  - {src: api, dst: cache}
  - src: cache
    weight: heavy
"""


def problems(text: str, model: type[BaseModel] = Arch, source: str = "architectures/two.yaml") -> list[Problem]:
    doc = load_yaml_text(text, source)
    with pytest.raises(pydantic.ValidationError) as info:
        model.model_validate(doc.data)
    return problems_from_validation(info.value, doc, model)


def by_field(found: list[Problem]) -> dict[str, Problem]:
    return {p.field: p for p in found}


def test_typical_report_reads_well() -> None:
    found = problems(TWO)
    assert (
        str(found[1]) == "architectures/two.yaml:7:5: nodes.api.sever: unknown field 'sever' (did you mean 'servers'?)"
    )
    assert str(SpecError(found)).splitlines() == [
        "architectures/two.yaml:6:5: nodes.api.servers: missing required field 'servers'",
        "architectures/two.yaml:7:5: nodes.api.sever: unknown field 'sever' (did you mean 'servers'?)",
        "architectures/two.yaml:9:11: nodes.cache.kind: unknown kind 'sevice' (did you mean 'service'?)",
        "architectures/two.yaml:12:13: nodes.q.policy: invalid value 'fifio' (did you mean 'fifo'?)",
        "architectures/two.yaml:16:5: edges[2].dst: missing required field 'dst'",
        "architectures/two.yaml:17:13: edges[2].weight: expected a number (got 'heavy')",
    ]
    assert all("https://" not in str(p) for p in found)


def test_extra_forbidden_did_you_mean() -> None:
    problem = by_field(problems(TWO))["nodes.api.sever"]
    assert (problem.line, problem.column) == (7, 5)  # the key, not its value
    assert (problem.message, problem.hint) == ("unknown field 'sever'", "did you mean 'servers'?")


def test_extra_forbidden_without_close_match_lists_fields() -> None:
    text = "name: x\nnodes:\n  q:\n    kind: queue\n    zzz: 1\nbogus: 2\n"
    found = by_field(problems(text))
    assert found["nodes.q.zzz"].hint == "allowed fields: kind, capacity, policy"
    assert (
        str(found["bogus"])
        == "architectures/two.yaml:6:1: bogus: unknown field 'bogus' (allowed fields: name, nodes, edges)"
    )


def test_extra_forbidden_without_model_has_no_hint() -> None:
    doc = load_yaml_text(TWO, "two.yaml")
    with pytest.raises(pydantic.ValidationError) as info:
        Arch.model_validate(doc.data)
    problem = by_field(problems_from_validation(info.value, doc))["nodes.api.sever"]
    assert (problem.line, problem.column, problem.message, problem.hint) == (
        7,
        5,
        "unknown field 'sever'",
        "",
    )


def test_union_tag_invalid_did_you_mean() -> None:
    problem = by_field(problems(TWO))["nodes.cache.kind"]
    assert (problem.line, problem.column) == (9, 11)
    assert (problem.message, problem.hint) == ("unknown kind 'sevice'", "did you mean 'service'?")


def test_union_tag_invalid_lists_allowed_values() -> None:
    problem = problems("name: x\nnodes:\n  a:\n    kind: database\n")[0]
    assert (problem.field, problem.message) == ("nodes.a.kind", "unknown kind 'database'")
    assert problem.hint == "expected one of: 'service', 'queue'"


def test_union_tag_not_found() -> None:
    problem = problems("name: x\nnodes:\n  a:\n    servers: 2\n")[0]
    assert (problem.line, problem.field, problem.message) == (
        4,
        "nodes.a.kind",
        "missing required field 'kind'",
    )
    assert problem.hint == "expected one of: 'service', 'queue'"


def test_missing_field_points_at_parent_mapping() -> None:
    problem = by_field(problems(TWO))["nodes.api.servers"]
    assert (problem.line, problem.column) == (6, 5)  # first line of the 'api' mapping
    assert problem.message == "missing required field 'servers'"
    top = problems("nodes: {}\n")[0]
    assert (top.field, top.line, top.column, top.message) == ("name", 1, 1, "missing required field 'name'")


def test_list_index_path() -> None:
    found = by_field(problems(TWO))
    assert (found["edges[2].weight"].line, found["edges[2].weight"].column) == (17, 13)
    assert found["edges[2].weight"].hint == "got 'heavy'"
    assert (found["edges[2].dst"].line, found["edges[2].dst"].column) == (16, 5)
    assert format_path(("edges", 2, "weight")) == "edges[2].weight"
    assert format_path((0, "a")) == "[0].a"


def test_literal_without_close_match() -> None:
    problem = problems("name: x\nnodes:\n  q:\n    kind: queue\n    policy: random\n")[0]
    assert (problem.message, problem.hint) == ("invalid value 'random'", "expected 'fifo' or 'lifo'")


class Open(BaseModel):
    """Raises our own ``unknown_field`` error, as flowsim's permissive models do."""

    model_config = ConfigDict(extra="allow")
    size: int = 0

    @model_validator(mode="before")
    @classmethod
    def known_only(cls, value: Any) -> Any:
        for key in value:
            if key != "size":
                raise PydanticCustomError("unknown_field", "unknown field {field}", {"field": key, "allowed": ["size"]})
        return value


class Holder(BaseModel):
    opts: dict[str, Open]
    count: int = 0

    @model_validator(mode="after")
    def positive(self) -> Holder:
        if self.count < 0:
            raise ValueError("count must not be negative")
        return self


def test_custom_unknown_field_error() -> None:
    problem = problems("opts:\n  a:\n    size: 1\n  b:\n    siz: 2\n", Holder, "h.yaml")[0]
    assert str(problem) == "h.yaml:5:5: opts.b.siz: unknown field 'siz' (did you mean 'size'?)"


def test_value_error_prefix_is_dropped() -> None:
    problem = problems("opts: {}\ncount: -1\n", Holder, "h.yaml")[0]
    assert (problem.field, problem.message, problem.line) == ("", "count must not be negative", 1)


def test_prefix_locates_a_validated_subtree() -> None:
    doc = load_yaml_text(TWO, "two.yaml")
    with pytest.raises(pydantic.ValidationError) as info:
        Service.model_validate(doc.data["nodes"]["api"])
    found = problems_from_validation(info.value, doc, Service, prefix=("nodes", "api"))
    assert [str(p) for p in found] == [
        "two.yaml:6:5: nodes.api.servers: missing required field 'servers'",
        "two.yaml:7:5: nodes.api.sever: unknown field 'sever' (did you mean 'servers'?)",
    ]


# ---- properties -------------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3),
    max_leaves=12,
)


def all_paths(data: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    return [path, *(p for key, value in items for p in all_paths(value, (*path, key)))]


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=6), values, min_size=1, max_size=4))
def test_round_trip_matches_safe_load_and_every_value_has_a_mark(data: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True)
    doc = load_yaml_text(text)
    assert doc.data == yaml.safe_load(text)
    assert all(path in doc.marks for path in all_paths(doc.data))
