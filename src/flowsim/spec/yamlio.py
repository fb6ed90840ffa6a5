"""Read YAML spec files into plain Python data that remembers where every value came from.

``yaml.safe_load`` loses line numbers, keeps the last of two duplicate keys and expands aliases
without limit. We let PyYAML's safe composer build the node tree and construct the data ourselves,
so every value has a location, every limit is enforced, and every failure is a located SpecError.
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pydantic
import yaml
from pydantic_core import ErrorDetails
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from flowsim.errors import Problem, SpecError

MAX_BYTES = 256 * 1024  # specs are hand-written kilobytes; bigger is a mistake or an attack (and slow to parse)
MAX_ALIAS_NODES = 100_000  # values created by alias expansion, on top of the values written out
MAX_DEPTH = 100  # nesting depth; keeps our recursion far from Python's limit

DataPath = tuple[str | int, ...]

_Y = "tag:yaml.org,2002:"
_STR_TAGS = frozenset(_Y + t for t in ("str", "timestamp", "value", "merge"))
_CONSTRUCTOR = SafeConstructor()
_SCALAR_BUILDERS = {
    _Y + t: getattr(_CONSTRUCTOR, f"construct_yaml_{t}") for t in ("null", "bool", "int", "float")
}
_LABEL = re.compile(r"\[key\]|[\w-]+\[.*\]")  # pydantic's loc labels: dict keys, validators, union members
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
_MISSING: Any = object()
_SPLIT = "split it into smaller files"


@dataclass(frozen=True)
class Mark:
    """A 1-based position in the source text, as editors show it."""

    line: int
    column: int


@dataclass
class YamlDocument:
    """Parsed data plus the positions needed to point users at the exact offending text."""

    source: str
    data: Any
    marks: dict[DataPath, Mark] = field(default_factory=dict)  # where each value starts
    key_marks: dict[DataPath, Mark] = field(default_factory=dict)  # where each mapping key starts

    def mark_for(self, path: DataPath) -> Mark | None:
        """Position of the deepest known prefix, so errors about absent values still land nearby."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark is not None:
                return mark
        return None


def format_path(path: DataPath) -> str:
    """Path as users see it: ``nodes.api.edges[2]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _fail(
    source: str, message: str, at: Mark | Node | None = None, path: DataPath = (), hint: str = ""
) -> SpecError:
    mark = _mark(at) if isinstance(at, Node) else at
    line, column = (mark.line, mark.column) if mark else (None, None)
    return SpecError([Problem(message, source, line, column, format_path(path), hint)])


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_Y) :] if tag.startswith(_Y) else tag


class _Builder:
    """Turns a node tree into plain data, recording marks and enforcing alias and depth limits."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.marks: dict[DataPath, Mark] = {}
        self.key_marks: dict[DataPath, Mark] = {}
        self.seen: set[int] = set()
        self.active: set[int] = set()
        self.expanded = 0

    def build(self, node: Node, path: DataPath) -> Any:
        """Build one value lazily, so a limit stops the work the moment it is passed."""
        self._check_limits(node, path)
        self.marks[path] = _mark(node)
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                self._expect_tag(node, _Y + "seq", path)
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            self._expect_tag(node, _Y + "map", path)
            return self._mapping(node.value, path)
        finally:
            self.active.discard(id(node))

    def _check_limits(self, node: Node, path: DataPath) -> None:
        """Aliases share nodes, so visiting a node twice is an expansion we must count."""
        if id(node) in self.active:
            hint = "an anchored value cannot contain an alias to itself"
            raise self._err("an alias refers to a value that contains it", node, path, hint)
        if len(path) > MAX_DEPTH:
            raise self._err(f"values are nested more than {MAX_DEPTH} levels deep", node, path[:1])
        if id(node) not in self.seen:
            self.seen.add(id(node))
            return
        self.expanded += 1
        if self.expanded > MAX_ALIAS_NODES:
            hint = "reduce nested '*alias' references; this looks like a 'billion laughs' document"
            raise self._err(f"aliases expand to more than {MAX_ALIAS_NODES} values", node, path, hint)

    def _err(self, message: str, node: Node, path: DataPath, hint: str = "") -> SpecError:
        return _fail(self.source, message, node, path, hint)

    def _tag_error(self, node: Node, path: DataPath) -> SpecError:
        """Only core YAML types are read; any other tag could ask a loader to build objects."""
        shown = _show_tag(node.tag)
        if node.tag == _Y + "binary":
            return self._err("binary values (!!binary) are not supported", node, path)
        if node.tag.startswith(_Y) and "/" not in node.tag[len(_Y) :]:
            return self._err(
                f"tag {shown!r} cannot be used here", node, path, "use a plain value, list or mapping"
            )
        hint = "tags that build objects are not allowed; write plain values"
        return self._err(f"tag {shown!r} is not allowed", node, path, hint)

    def _expect_tag(self, node: Node, tag: str, path: DataPath) -> None:
        if node.tag != tag:
            raise self._tag_error(node, path)

    def _scalar(self, node: ScalarNode, path: DataPath) -> Any:
        """Resolve ints, floats, bools and null; timestamps and everything else stay text."""
        if node.tag in _STR_TAGS:
            return str(node.value)
        builder = _SCALAR_BUILDERS.get(node.tag)
        if builder is None:
            raise self._tag_error(node, path)
        try:
            return builder(node)
        except (ValueError, KeyError, ConstructorError):
            raise self._err(f"cannot read {node.value!r} as {_show_tag(node.tag)}", node, path) from None

    def _key(self, node: Node, path: DataPath) -> str:
        """Keys stay the text the user wrote, so YAML 1.1 never turns ``on:`` into ``True``."""
        if not isinstance(node, ScalarNode):
            kind = "list" if isinstance(node, SequenceNode) else "mapping"
            raise self._err(f"a mapping key must be a single value, not a {kind}", node, path)
        if node.tag not in _STR_TAGS and node.tag not in _SCALAR_BUILDERS:
            raise self._tag_error(node, path)
        return str(node.value)

    def _mapping(self, pairs: list[tuple[Node, Node]], path: DataPath) -> dict[str, Any]:
        """Duplicate keys are errors; '<<' merges are applied once the explicit keys are known."""
        explicit: dict[str, Any] = {}
        first: dict[str, Mark] = {}
        merges: list[Node] = []
        for key_node, value_node in pairs:
            key = self._key(key_node, path)
            if key in first:
                hint = f"first defined at line {first[key].line}"
                raise self._err(f"duplicate key {key!r}", key_node, (*path, key), hint)
            first[key] = _mark(key_node)
            if key_node.tag == _Y + "merge":
                merges.extend(self._merge_sources(value_node, path))
                continue
            self.key_marks[(*path, key)] = first[key]
            explicit[key] = self.build(value_node, (*path, key))
        if not merges:
            return explicit
        return {**self._merged(merges, path, set(explicit)), **explicit}

    def _merge_sources(self, node: Node, path: DataPath) -> list[Node]:
        sources: list[Node] = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, MappingNode):
                hint = "write '<<: *anchor' or '<<: [*a, *b]' where each anchor is a mapping"
                raise self._err("'<<' can only merge mappings", source, path, hint)
        return sources

    def _merged(self, sources: list[Node], path: DataPath, explicit: set[str]) -> dict[str, Any]:
        """YAML merge: explicit keys win, then earlier sources; marks follow the winning value."""
        result: dict[str, Any] = {}
        saved, n = (self.marks, self.key_marks), len(path)
        for source in sources:
            self.marks, self.key_marks = {}, {}
            try:
                value = self.build(source, path)
                taken = {k for k in value if k not in result and k not in explicit}
                result.update((k, value[k]) for k in value if k in taken)
                for target, found in zip(saved, (self.marks, self.key_marks), strict=True):
                    target.update((p, m) for p, m in found.items() if len(p) > n and p[n] in taken)
            finally:
                self.marks, self.key_marks = saved
        return result


def _syntax_problem(exc: yaml.YAMLError, text: str, source: str) -> Problem:
    """Turn PyYAML's multi-line error report into one located line."""
    if isinstance(exc, ReaderError):
        pos = int(exc.position)
        line, col = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        return Problem(f"unsupported character {char!r}", source, line, col, "", "remove it from the file")
    if not isinstance(exc, yaml.MarkedYAMLError):
        return Problem(f"invalid YAML: {exc}", source)
    mark, hint = exc.problem_mark or exc.context_mark, ""
    if exc.context and exc.context_mark:
        hint = f"{exc.context} started at line {exc.context_mark.line + 1}"
    if exc.problem and "\\t" in exc.problem:
        hint = "indent with spaces, not tabs"
    message = f"invalid YAML: {exc.problem or exc.context or 'syntax error'}"
    where: tuple[int | None, int | None] = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return Problem(message, source, *where, "", hint)


def _compose(text: str, source: str) -> Node | None:
    """Compose exactly one document; composing constructs nothing, so no tag can run code."""
    try:
        loader = yaml.SafeLoader(text)  # its reader already rejects control characters
        try:
            root = loader.get_node() if loader.check_node() else None
            if root is not None and loader.check_node():
                start = loader.peek_event().start_mark  # type: ignore[no-untyped-call]
                at, hint = Mark(start.line + 1, start.column + 1), "remove the extra '---' or split the file"
                raise _fail(source, "the file contains more than one YAML document", at, (), hint)
            return root
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise SpecError([_syntax_problem(exc, text, source)]) from None
    except RecursionError:
        raise _fail(
            source, "the document is nested too deeply", hint=f"keep it under {MAX_DEPTH} levels"
        ) from None


def load_yaml_text(text: str, source: str = "<input>") -> YamlDocument:
    """Parse one YAML mapping safely; raise SpecError with a location for anything we refuse."""
    size = len(text) if len(text) > MAX_BYTES else len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_BYTES:
        raise _fail(source, f"the document is too large ({size} bytes, limit {MAX_BYTES})", hint=_SPLIT)
    root = _compose(text, source)
    builder = _Builder(source)
    data = None if root is None else builder.build(root, ())
    if data is None:
        raise _fail(source, "the document is empty", root, (), "expected 'key: value' lines")
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({type(data).__name__})"
        raise _fail(
            source, f"the top level must be a mapping, not {kind}", root, (), "expected 'key: value' lines"
        )
    return YamlDocument(source, data, builder.marks, builder.key_marks)


def load_yaml_file(path: str | os.PathLike[str]) -> YamlDocument:
    """Read a file as UTF-8 and parse it; every I/O failure becomes a SpecError naming the path."""
    source = str(path)
    if os.path.isdir(path):
        raise _fail(source, "this is a directory, not a file", hint="pass the path of a .yaml file")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise _fail(source, "file not found", hint="check the path and the current directory") from None
    except PermissionError:
        raise _fail(source, "permission denied", hint="check the file's read permissions") from None
    except OSError as exc:
        raise _fail(source, f"cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise _fail(source, f"the file is too large (over {MAX_BYTES} bytes)", hint=_SPLIT)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        at = Mark(raw.count(b"\n", 0, exc.start) + 1, exc.start - raw.rfind(b"\n", 0, exc.start))
        message = f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        raise _fail(source, message, at, hint="save the file with UTF-8 encoding") from None
    return load_yaml_text(text, source)


# ---- pydantic errors -> Problems -----------------------------------------------------------------


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
    """Pick the union member whose Literal field matches the data, like a discriminator would."""
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


def _unknown_field(
    ctx: dict[str, Any], path: DataPath, found: _Found, own: bool
) -> tuple[DataPath, str, str]:
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
    message = re.sub(r"^(Value error|Assertion failed), ", "", err["msg"])
    scalar = isinstance(value, str | int | float | bool) and not kind.endswith("_error")
    return path, doc.mark_for(path), message, f"got {_short(value)}" if scalar else ""


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
        line, column = (mark.line, mark.column) if mark else (None, None)
        problems.append(Problem(message, doc.source, line, column, format_path(path), hint))
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.line is None, p.line or 0, p.column or 0))
