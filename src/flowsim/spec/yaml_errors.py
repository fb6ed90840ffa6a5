"""Translate pydantic validation errors into located, friendly Problems.

Pydantic reports where an error is as a ``loc`` that mixes real keys with union tags and validator
labels; we map it back onto the YAML data so each Problem points at the text the user wrote.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pydantic
from pydantic_core import ErrorDetails

from flowsim.errors import Problem
from flowsim.spec.yaml_document import DataPath, Mark, YamlDocument, format_path

_LABEL = re.compile(r"\[key\]|[\w-]+\[.*\]")  # pydantic's loc labels: dict keys, validators, union members
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
_MISSING: Any = object()
# pydantic's type errors, in the words of a YAML file
_PLAIN_WORDS = {
    "string_type": "expected text",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number, not a fraction",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "must be finite (not .inf or .nan)",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "dict_type": "expected a mapping (key: value lines or {key: value})",
    "model_type": "expected a mapping (key: value lines or {key: value})",
    "model_attributes_type": "expected a mapping (key: value lines or {key: value})",
    "list_type": "expected a list (- item lines or [a, b])",
}


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def _members(tp: Any) -> list[Any]:
    """Non-None members of a union (through Annotated), or [] for anything else."""
    if get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) not in (Union, types.UnionType):
        return []
    return [m for m in get_args(tp) if m is not type(None)]


def _unwrap(tp: Any) -> Any:
    """Strip Annotated, Optional and RootModel so only the shape the data must have remains."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif len(_members(tp)) == 1:
            tp = _members(tp)[0]
        elif _is_model(tp) and tp.__pydantic_root_model__:
            tp = tp.model_fields["root"].annotation
        else:
            return tp


def _literal_fields(model: Any) -> dict[str, tuple[Any, ...]]:
    """Data key -> values of each Literal field; these tag the members of a discriminated union."""
    fields = model.model_fields.items() if _is_model(model) else ()
    pairs = ((info.alias or name, _unwrap(info.annotation)) for name, info in fields)
    return {key: get_args(tp) for key, tp in pairs if get_origin(tp) is Literal}


def _member_by_label(members: list[Any], label: str | int) -> Any:
    """Pydantic puts a union member's tag (or class name) into ``loc``; find that member."""
    for member in map(_unwrap, members):
        tags = (tag for values in _literal_fields(member).values() for tag in values)
        if getattr(member, "__name__", None) == label or label in tags:
            return member
    return None


def _resolve(tp: Any, data: Any) -> Any:
    """Pick the union member whose Literal field matches the data, like a discriminator would.

    A type validated by a function says which model it chose through a `resolve(data)` method
    of its Annotated metadata (`Architecture.nodes`: the model of the node's kind).
    """
    for meta in get_args(tp)[1:] if get_origin(tp) is Annotated else ():
        chosen = meta.resolve(data) if callable(getattr(meta, "resolve", None)) else None
        if chosen is not None:
            return chosen
    for member in map(_unwrap, _members(tp)) if isinstance(data, dict) else ():
        if any(data.get(key) in values for key, values in _literal_fields(member).items()):
            return member
    return tp


def _child_type(tp: Any, part: str | int) -> Any:
    tp = _unwrap(tp)
    if _is_model(tp):
        infos = tp.model_fields.items()
        return next((i.annotation for n, i in infos if part in (n, i.alias, i.validation_alias)), None)
    origin, args = get_origin(tp), get_args(tp)
    if origin in (dict, Mapping) and len(args) == 2:
        return args[1]
    return args[0] if origin in (list, tuple, Sequence) and args else None


def _step(data: Any, part: str | int) -> Any:
    """The child of ``data`` at ``part``, or _MISSING when ``part`` is not a key/index of it."""
    if isinstance(data, dict) and part in data:
        return data[part]
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return _MISSING


_Found = tuple[DataPath, Any, Any]  # data path, type found there, type of the mapping holding its last key
_Described = tuple[DataPath, Mark | None, str, str]  # path, mark, message, hint


def _locate(loc: tuple[str | int, ...], model: Any, data: Any, keep_last: bool) -> _Found:
    """Keep the loc parts that are real keys/indices; drop union tags and validator labels."""
    path: DataPath = ()
    tp, holder = model, None
    for i, part in enumerate(loc):
        member = _member_by_label(_members(tp), part) if len(_members(tp)) > 1 else None
        if member is not None:
            tp = member
            continue
        tp, child = _resolve(tp, data), _step(data, part)
        keep = keep_last and i == len(loc) - 1  # a missing field is absent from the data by definition
        if child is _MISSING and (not keep if data is not _MISSING else _LABEL.fullmatch(str(part))):
            continue
        data, holder, tp, path = child, tp, _child_type(tp, part), (*path, part)
    return path, _resolve(tp, data), holder


def _field_names(model: Any) -> list[str]:
    model = _unwrap(model)
    if not _is_model(model):
        return []
    names = (n for name, info in model.model_fields.items() for n in (info.alias, name) if n)
    return list(dict.fromkeys(names))


def _suggest(word: Any, options: list[str], listing: str, quote: bool = False) -> str:
    """A did-you-mean hint, or the whole list of what is allowed when nothing is close."""
    close = difflib.get_close_matches(str(word), options, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return listing + ", ".join(repr(o) if quote else o for o in options) if options else ""


def _quoted(text: Any) -> list[str]:
    return [a or b for a, b in _QUOTED.findall(str(text))]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unknown_field(ctx: dict[str, Any], path: DataPath, found: _Found, own: bool) -> tuple[DataPath, str, str]:
    """extra_forbidden points at the extra key; our own unknown_field error at its mapping."""
    name = str(ctx.get("field", "")) if own else str(path[-1])
    allowed = [str(a) for a in ctx.get("allowed") or _field_names(found[1] if own else found[2])]
    hint = _suggest(name, allowed, "allowed fields: ")
    return ((*path, name) if own else path), f"unknown field {name!r}", hint


def _describe(err: ErrorDetails, doc: YamlDocument, path: DataPath, found: _Found) -> _Described:
    """Friendly message, hint and location for one pydantic error."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err["input"]
    disc = (_quoted(ctx.get("discriminator")) or [str(ctx.get("discriminator", "kind"))])[0]
    if kind in ("extra_forbidden", "unknown_field"):
        path, message, hint = _unknown_field(ctx, path, found, kind == "unknown_field")
        return path, doc.key_marks.get(path) or doc.mark_for(path), message, hint
    if kind == "missing":
        name = str(path[-1]) if path else ""
        return path, doc.mark_for(path[:-1]), f"missing required field {name!r}", ""
    if kind == "union_tag_invalid":
        path, tag = ((*path, disc) if (*path, disc) in doc.marks else path), ctx.get("tag")
        hint = _suggest(tag, _quoted(ctx.get("expected_tags")), "expected one of: ", quote=True)
        return path, doc.mark_for(path), f"unknown {disc} {tag!r}", hint
    if kind == "union_tag_not_found":
        tags = [repr(v) for m in _members(found[1]) for v in _literal_fields(_unwrap(m)).get(disc, ())]
        hint = "expected one of: " + ", ".join(tags) if tags else ""
        return (*path, disc), doc.mark_for(path), f"missing required field {disc!r}", hint
    if kind in ("literal_error", "enum"):
        close = difflib.get_close_matches(str(value), _quoted(ctx.get("expected")), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"expected {ctx.get('expected')}"
        return path, doc.mark_for(path), f"invalid value {_short(value)}", hint
    if kind in ("too_short", "too_long"):
        bound, count = ctx.get("min_length" if kind == "too_short" else "max_length"), ctx.get("actual_length")
        least = "at least" if kind == "too_short" else "at most"
        return path, doc.mark_for(path), f"must hold {least} {bound} item(s)", f"it holds {count}"
    message = _PLAIN_WORDS.get(kind) or re.sub(r"^(Value error|Assertion failed), ", "", err["msg"])
    message = re.sub(r"^Input should be ", "must be ", message)
    scalar = isinstance(value, str | int | float | bool) and not kind.endswith("_error")
    return path, doc.mark_for(path), message, f"got {_short(value)}" if scalar else ""


def _with_yaml_note(hint: str, doc: YamlDocument, path: DataPath) -> str:
    """YAML 1.1 reads `NO` as false and `0x10` as 16: say so when such a value is refused."""
    raw = doc.surprises.get(path)
    if raw is None:
        return hint
    value = _step_path(doc.data, path)
    if value is None and not raw.strip():  # `name:` with nothing after it
        note = "the value is empty (YAML reads nothing as null): write one after the colon"
        return f"{hint}; {note}" if hint else note
    shown = "true" if value is True else "false" if value is False else repr(value)
    note = f'YAML reads the unquoted {raw} as {shown}; write "{raw}" in quotes if you meant the text'
    return f"{hint}; {note}" if hint else note


def _step_path(data: Any, path: DataPath) -> Any:
    for part in path:
        data = _step(data, part)
    return data


def problems_from_validation(
    err: pydantic.ValidationError,
    doc: YamlDocument,
    model: type[pydantic.BaseModel] | None = None,
    prefix: DataPath = (),
    data: Any = _MISSING,
) -> list[Problem]:
    """Translate pydantic errors into located, friendly Problems in file order.

    ``prefix`` is where the validated data sits inside ``doc.data``; ``model`` (the validated class)
    enables did-you-mean hints for unknown fields; ``data`` is what was validated when it differs
    from the document (overrides applied), so keys set by an override are still named.
    """
    if data is _MISSING:
        data = doc.data
        for part in prefix:
            data = _step(data, part)
    problems = []
    for error in err.errors(include_url=False):
        found = _locate(tuple(error["loc"]), model, data, keep_last=error["type"] == "missing")
        path, mark, message, hint = _describe(error, doc, (*prefix, *found[0]), found)
        hint = _with_yaml_note(hint, doc, path)
        line, column = (mark.line, mark.column) if mark else (None, None)
        problems.append(Problem(message, doc.source, line, column, format_path(path), hint))
    unique = _merged(list(dict.fromkeys(problems)))
    return sorted(unique, key=lambda p: (p.line is None, p.line or 0, p.column or 0))


def _scalar_expectation(message: str) -> bool:
    return message.startswith("expected ") and not message.startswith(("expected a mapping", "expected a list"))


def _merged(problems: list[Problem]) -> list[Problem]:
    """One problem per field: a value a union refused has one error per member (`42` is neither a
    path nor a mapping), said as one sentence instead of several that seem to contradict."""
    by_field: dict[tuple[str, int | None, int | None, str], list[Problem]] = {}
    for problem in problems:
        by_field.setdefault((problem.source, problem.line, problem.column, problem.field), []).append(problem)
    merged = []
    fields = {problem.field for problem in problems}
    for group in by_field.values():
        # a union's scalar member ("expected text", "a whole number") says nothing once the value was
        # read as the member it is (a mapping whose own fields are wrong): keep what that member said
        if any(not p.message.startswith("expected ") for p in group) or any(
            f.startswith((f"{group[0].field}.", f"{group[0].field}[")) for f in fields
        ):
            group = [p for p in group if not _scalar_expectation(p.message)]
            if not group:
                continue
        first, *rest = group
        if not rest:
            merged.append(first)
            continue
        others = " or ".join(p.message.removeprefix("expected ") for p in rest)
        joiner = " or " if first.message.startswith("expected ") else ", or "
        hints = "; ".join(dict.fromkeys(p.hint for p in group if p.hint))
        merged.append(Problem(first.message + joiner + others, first.source, first.line, first.column,
                              first.field, hints))  # fmt: skip
    return merged
