"""YAML files -> validated, resolved `Scenario` and `Architecture` objects, or located errors.

This is where the layers meet: YAML parsing with positions (spec.yamlio), pydantic validation
(spec models), structural checks (graph), and cross-references (faults, retry policies, SLOs).
Every problem found is reported with its file, line, column and field, all at once.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import TypeAdapter, ValidationError

from flowsim.build import contract_problem
from flowsim.document_problems import (
    blame_overrides,
    edge_problems,
    located,
    name_problems,
    policy_problems,
    reference_problems,
    traffic_problems,
)
from flowsim.errors import Problem, SpecError, not_a_file
from flowsim.graph import graph_issues
from flowsim.metric_paths import check_metric
from flowsim.references import (
    partial_architecture,
    raw_node_names,
    salvaged_scenario_issues,
    task_issues,
)
from flowsim.semantics import architecture_issues, wrong_document
from flowsim.spec.architecture import Architecture
from flowsim.spec.scenario import Scenario
from flowsim.spec.yamlio import (
    YamlDocument,
    format_path,
    load_yaml_file,
    load_yaml_text,
    problems_from_validation,
)

__all__ = ["PathLike", "check_metric", "load_architecture", "load_scenario", "parse_assignment", "with_settings"]

PathLike = str | os.PathLike[str]
_ARCH_ROOTS = ("nodes", "edges", "airflow")


def _document(path_or_text: PathLike, source: str = "<input>") -> tuple[YamlDocument, Path | None]:
    """A path (existing file, or a name ending in .yaml/.yml) is read; other text is parsed."""
    if isinstance(path_or_text, os.PathLike):
        return load_yaml_file(path_or_text), Path(path_or_text)
    text = str(path_or_text)
    looks_like_path = "\n" not in text and (text.endswith((".yaml", ".yml")) or os.path.exists(text))
    if looks_like_path:
        return load_yaml_file(text), Path(text)
    return load_yaml_text(text, source), None


def parse_assignment(text: str) -> tuple[str, Any]:
    """`nodes.api.servers=4` -> ('nodes.api.servers', 4); the value is read as YAML."""
    path, sep, raw = text.partition("=")
    if not sep or not path.strip():
        raise SpecError([Problem(f"cannot read {text!r}; write PATH=VALUE, e.g. nodes.api.servers=4", "--set")])
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path.strip(), value


def _override(data: Any, path: str, value: Any, doc: YamlDocument, written: tuple[str, ...] = ()) -> None:
    """Apply one override; a problem with one written in the file points at its line there."""
    try:
        _set_path(data, path, value, doc.source)
    except SpecError as err:
        key = next((k for k in written if k == path or k.removeprefix("architecture.") == path), None)
        if key is None:
            raise
        raise SpecError([located(doc, ("overrides", key), p.message, p.hint) for p in err.problems]) from None


def _set_path(data: Any, path: str, value: Any, source: str) -> None:
    parts = path.split(".")
    target = data
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(target, dict):
            raise SpecError([Problem(f"cannot set {path!r}: {'.'.join(parts[:depth])} is not a mapping", source)])
        if part not in target:
            if depth == 1 and parts[0] == "nodes":
                close = difflib.get_close_matches(part, list(target), n=1)
                hint = f"did you mean '{close[0]}'?" if close else "known nodes: " + ", ".join(target)
                raise SpecError([Problem(f"override {path!r} names unknown node '{part}'", source, hint=hint)])
            target[part] = {}
        target = target[part]
    if not isinstance(target, dict):
        raise SpecError([Problem(f"cannot set {path!r}: its parent is not a mapping", source)])
    target[parts[-1]] = value


_EXAMPLE = "e.g. overrides: {nodes.api.servers: 4} or --set nodes.api.servers=4"


def _check_overrides(written: Any, given: dict[str, Any], doc: YamlDocument) -> None:
    """The file's `overrides:` is a mapping of dotted paths; neither it nor `--set` sets `overrides`
    itself (which nothing would read) or replaces a whole node list (`nodes: {api: ...}`)."""
    problems: list[Problem] = []
    if written is not None and not isinstance(written, dict):
        problems.append(located(doc, ("overrides",), "expected a mapping of dotted paths to values", _EXAMPLE))
    mapping = written if isinstance(written, dict) else {}
    paths: list[tuple[Any, tuple[str, Any] | None]] = [(k, ("overrides", k)) for k in mapping]
    paths += [(k, None) for k in given]
    for path, where in paths:
        if not isinstance(path, str):
            message, hint = f"an override path must be text, not {path!r}", _EXAMPLE
        elif path.split(".")[0] == "overrides":
            message, hint = (
                f"{path!r} sets the overrides themselves, which nothing reads",
                "write the path it would set: " + _EXAMPLE,
            )
        elif path.removeprefix("architecture.") in ("nodes", "architecture") and isinstance(
            mapping.get(path) if where else given.get(path), dict
        ):
            message, hint = f"{path!r} would replace every node", "write one dotted path per field: " + _EXAMPLE
        else:
            continue
        problems.append(located(doc, where, message, hint) if where else Problem(message, "--set", hint=hint))
    if problems:
        raise SpecError(problems)


def _split_overrides(overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    arch: dict[str, Any] = {}
    scenario: dict[str, Any] = {}
    for path, value in overrides.items():
        path = path.removeprefix("architecture.")
        (arch if path.split(".")[0] in _ARCH_ROOTS else scenario)[path] = value
    return arch, scenario


def _validate_architecture(
    data: Any,
    doc: YamlDocument,
    prefix: tuple[str | int, ...],
    overrides: dict[str, Any] | None = None,
    base: Path | None = None,
    scenario_doc: YamlDocument | None = None,
    written: tuple[str, ...] = (),
) -> Architecture:
    """`base` is the folder of the file the nodes were written in: paths in them (a source's
    `trace`) are relative to it.  `written`: the overrides the scenario file (`scenario_doc`) sets
    itself, whose problems point at their lines there."""
    context = {"base_dir": base if base is not None else Path.cwd()}
    try:
        arch = Architecture.model_validate(data, context=context)
    except ValidationError as err:
        problems = problems_from_validation(err, doc, Architecture, prefix, data) + edge_problems(data, doc, prefix)
        named = name_problems(data, doc, prefix)
        if named:  # each bad name at its own key, not one problem at the first node
            whole = format_path((*prefix, "nodes"))
            problems = named + [p for p in problems if not (p.field == whole and p.message.startswith("node name"))]
        tasks = [located(doc, prefix + path, message, hint) for path, message, hint in task_issues(data)]
        if tasks:  # each unknown task at its name, with a did-you-mean, not once at the DAG
            problems = [p for p in problems if "depends on unknown task" not in p.message] + tasks
        partial = partial_architecture(data, context)  # the parts that validate alone are checked too
        if partial is not None:
            problems += [located(doc, prefix + path, m, h) for path, m, h in architecture_issues(partial)]
        refused = _Refused(blame_overrides(problems, prefix, overrides or {}, scenario_doc, written))
        refused.partial, refused.written = partial, raw_node_names(data)
        raise refused from None
    problems = [located(doc, prefix + issue.path, issue.message, issue.hint) for issue in graph_issues(arch)]
    problems += [located(doc, prefix + path, message, hint) for path, message, hint in architecture_issues(arch)]
    if not problems:
        problems += traffic_problems(arch, doc, prefix)
    for name, config in arch.nodes.items():
        broken = contract_problem(name, config)
        if broken is not None:
            problems.append(located(doc, (*prefix, "nodes", name, "kind"), broken, "a bug in the kind's package"))
    if problems:
        raise SpecError(blame_overrides(problems, prefix, overrides or {}, scenario_doc, written))
    return arch


class _Refused(SpecError):
    """An architecture the schema refused, with what of it validates alone (for the scenario's checks)."""

    partial: Architecture | None = None
    written: list[str] = []  # noqa: RUF012 - replaced per instance, never mutated


def load_architecture(
    path_or_text: PathLike,
    overrides: dict[str, Any] | None = None,
    *,
    base_dir: PathLike | None = None,
    source: str = "<input>",
) -> Architecture:
    """Read and validate an architecture file (or YAML text).

    `base_dir`: for YAML given as text, the folder its relative paths (a source's `trace`) are
    read from, as if the text were a file there (default: the current directory); `source`, the
    name its messages give it (`<stdin>` for `flowsim validate -`).
    """
    doc, path = _document(path_or_text, source)
    wrong = wrong_document(doc, "architecture")
    if wrong is not None:
        raise wrong
    data = copy.deepcopy(doc.data)
    base = path.parent if path is not None else Path(base_dir if base_dir is not None else Path.cwd())
    for key, value in _rebased(overrides or {}, Path.cwd(), base).items():
        _set_path(data, key.removeprefix("architecture."), value, doc.source)
    return _validate_architecture(data, doc, (), overrides, base)


def load_scenario(
    path_or_text: PathLike,
    overrides: dict[str, Any] | None = None,
    *,
    base_dir: PathLike | None = None,
    source: str = "<input>",
) -> Scenario:
    """Read a scenario, resolve its architecture, and check every cross-reference.

    `overrides` maps dotted paths to values (`nodes.api.servers`, `load.multiplier`, `duration`),
    applied after the file's own `overrides:` section.  `base_dir`: for YAML given as text, the
    folder its relative paths (`architecture:`, a source's `trace`, in the file's own `overrides:`
    too) are resolved against, as if the text were a file there (default: the current directory);
    `source`, the name its messages give it.
    """
    doc, path = _document(path_or_text, source)
    wrong = wrong_document(doc, "scenario")
    if wrong is not None:
        raise wrong
    data = copy.deepcopy(doc.data)
    _check_overrides(data.get("overrides") if isinstance(data, dict) else None, overrides or {}, doc)
    written = dict(data.get("overrides") or {}) if isinstance(data.get("overrides"), dict) else {}
    merged = written | (overrides or {})
    here = path.parent if path is not None else Path(base_dir if base_dir is not None else Path.cwd())
    given = _rebased(overrides or {}, Path.cwd(), here)  # command-line paths are relative to the cwd
    applied = {k: given[k] if k in given else written[k] for k in merged}
    arch_overrides, scenario_overrides = _split_overrides(applied)
    from_file = tuple(k for k in written if k not in (overrides or {}))
    for key, value in scenario_overrides.items():
        _override(data, key, value, doc, from_file)
    data.pop("overrides", None)
    arch_doc: YamlDocument = doc
    arch_prefix: tuple[str, ...] = ("architecture",)
    ref = data.get("architecture")
    refused: _Refused | None = None
    if isinstance(ref, str | dict):
        try:
            data["architecture"], arch_doc, arch_prefix = _resolve_architecture(
                ref, doc, here, arch_overrides, from_file
            )
        except _Refused as err:  # the scenario's own fields are still checked, in the same round
            refused, data["architecture"] = err, ref if isinstance(ref, str) else "<inline>"
    before = refused.problems if refused is not None else []
    arch: Architecture | None = refused.partial if refused is not None else None
    names: list[str] = refused.written if refused is not None else []
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as err:
        if refused is None and isinstance(data.get("architecture"), Architecture):
            arch, names = data["architecture"], list(data["architecture"].nodes)
        salvaged = [located(doc, path, m, h) for path, m, h in salvaged_scenario_issues(data, arch, names)]
        schema = problems_from_validation(err, doc, Scenario, (), data)
        schema = blame_overrides(schema, (), scenario_overrides, doc, from_file)
        raise SpecError(before + schema + salvaged) from None
    scenario = scenario.model_copy(update={"overrides": merged})
    if refused is not None:
        raise SpecError(before + reference_problems(scenario, doc, arch, names))
    policies = policy_problems(scenario, arch_doc, arch_prefix)
    policies = blame_overrides(policies, arch_prefix, arch_overrides, doc, from_file)
    problems = reference_problems(scenario, doc, scenario.arch) + policies
    if problems:
        raise SpecError(problems)
    return _with_named_policies(scenario)


def with_settings(scenario: Scenario, **updates: Any) -> Scenario:
    """The scenario with `seed`/`replications` given beside the file (command line, API), held to
    the same bounds as in the file: `-r 1000000000` is refused like `replications: 1000000000`."""
    problems = []
    for name, value in updates.items():
        info = Scenario.model_fields[name]
        try:
            TypeAdapter(Annotated[info.annotation, *info.metadata]).validate_python(value)
        except ValidationError as err:
            message = re.sub(r"^(Value error, |Input should be )", "", err.errors()[0]["msg"])
            problems.append(Problem(f"must be {message}" if "should" in err.errors()[0]["msg"] else message,
                                    f"--{name}", hint=f"got {value!r}"))  # fmt: skip
    if problems:
        raise SpecError(problems)
    return scenario.model_copy(update=updates) if updates else scenario


def _with_named_policies(scenario: Scenario) -> Scenario:
    """Replace retry-policy names by the policies, so analysis and engine see the same thing."""
    nodes = dict(scenario.arch.nodes)
    for name, config in nodes.items():
        retry = getattr(config, "retry", None)
        if isinstance(retry, str):
            nodes[name] = config.model_copy(update={"retry": scenario.retry_policies[retry]})
    arch = scenario.arch.model_copy(update={"nodes": nodes})
    return scenario.model_copy(update={"architecture": arch})


def _rebased(overrides: dict[str, Any], origin: Path, base: Path) -> dict[str, Any]:
    """Trace paths set by overrides, made relative to `base` instead of where they were written.

    A path in a scenario's `overrides:` is relative to the scenario file, one given on the command
    line (`--set nodes.x.trace=...`) to the current directory; the loader resolves a node's paths
    against the file of its architecture, so these are rewritten for it.
    """
    result = {}
    for key, value in overrides.items():
        parts = key.removeprefix("architecture.").split(".")
        trace = len(parts) == 3 and parts[0] == "nodes" and parts[2] == "trace" and isinstance(value, str)
        if trace and not os.path.isabs(value) and origin.resolve() != base.resolve():
            value = os.path.relpath((origin / value).resolve(), base.resolve())
        result[key] = value
    return result


def _resolve_architecture(
    ref: str | dict[str, Any], doc: YamlDocument, base: Path, overrides: dict[str, Any], written: tuple[str, ...] = ()
) -> tuple[Architecture, YamlDocument, tuple[str, ...]]:
    """The architecture, the document it came from, and its path prefix inside that document.

    `base` is the scenario's folder: relative paths in it are resolved from there.
    """
    if isinstance(ref, str):
        if "://" in ref:
            message = f"architecture '{ref}' is a URL; flowsim reads architecture files from disk only"
            hint = "download it next to the scenario and give its relative path, or write the architecture inline"
            raise SpecError([located(doc, ("architecture",), message, hint)])
        target = base / ref
        if not os.path.isfile(target):  # os.path: a name too long is "not found", not an OSError
            message = f"architecture file '{ref}' {not_a_file(ref, target)} (looked at {target})"
            hint = "give a path relative to the scenario file, or write the architecture inline"
            raise SpecError([located(doc, ("architecture",), message, hint)])
        arch_doc = load_yaml_file(target)
        wrong = wrong_document(arch_doc, "architecture", ref)
        if wrong is not None:  # said at the scenario's `architecture:` line, where the fix is
            problem = wrong.problems[0]
            raise SpecError([located(doc, ("architecture",), problem.message, problem.hint)])
        data = copy.deepcopy(arch_doc.data)
        failed = _apply_overrides(data, _rebased(overrides, base, target.parent), doc, written)
        with _also(failed):
            arch = _validate_architecture(data, arch_doc, (), overrides, target.parent, doc, written)
        return arch, arch_doc, ()
    data = copy.deepcopy(ref)
    failed = _apply_overrides(data, overrides, doc, written)
    with _also(failed):
        arch = _validate_architecture(data, doc, ("architecture",), overrides, base, doc, written)
    return arch, doc, ("architecture",)


def _apply_overrides(
    data: Any, overrides: dict[str, Any], doc: YamlDocument, written: tuple[str, ...]
) -> list[Problem]:
    """Apply every override that can be; the problems of those that cannot (an unknown node), so
    that they are said together with what validating the rest finds (every problem in one round)."""
    failed: list[Problem] = []
    for key, value in overrides.items():
        try:
            _override(data, key, value, doc, written)
        except SpecError as err:
            failed += err.problems
    return failed


@contextmanager
def _also(failed: list[Problem]) -> Iterator[None]:
    """Raise `failed` (the overrides that could not be applied) with the block's own problems."""
    try:
        yield
    except _Refused as err:
        if not failed:
            raise
        joined = _Refused([*failed, *err.problems])
        joined.partial, joined.written = err.partial, err.written
        raise joined from None
    except SpecError as err:
        if not failed:
            raise
        raise SpecError([*failed, *err.problems]) from None
    if failed:
        raise SpecError(failed)
