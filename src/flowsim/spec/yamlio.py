"""Read YAML spec files into plain Python data that remembers where every value came from.

``yaml.safe_load`` loses line numbers, keeps the last of two duplicate keys and expands aliases
without limit. We let PyYAML's safe composer build the node tree and construct the data ourselves,
so every value has a location, every limit is enforced, and every failure is a located SpecError.

The document types live in spec.yaml_document and the translation of pydantic errors into Problems
in spec.yaml_errors; both are re-exported here, the import path callers use.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from flowsim.errors import Problem, SpecError
from flowsim.spec.yaml_document import DataPath, Mark, YamlDocument, format_path
from flowsim.spec.yaml_errors import problems_from_validation

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "DataPath",
    "Mark",
    "YamlDocument",
    "format_path",
    "load_yaml_file",
    "load_yaml_text",
    "problems_from_validation",
]

MAX_BYTES = 256 * 1024  # specs are hand-written kilobytes; bigger is a mistake or an attack (and slow to parse)
MAX_ALIAS_NODES = 100_000  # values created by alias expansion, on top of the values written out
MAX_DEPTH = 100  # nesting depth; keeps our recursion far from Python's limit

_Y = "tag:yaml.org,2002:"
_STR_TAGS = frozenset(_Y + t for t in ("str", "timestamp", "value", "merge"))
_CONSTRUCTOR = SafeConstructor()
_SCALAR_BUILDERS = {_Y + t: getattr(_CONSTRUCTOR, f"construct_yaml_{t}") for t in ("null", "bool", "int", "float")}
_SPLIT = "split it into smaller files"
_FAST_FROM = 16 * 1024  # below this the Python composer takes milliseconds; above it libyaml is used
# Scalars that read as what they look like; anything else YAML 1.1 resolved (NO, on, 0x10, 1_000,
# 1:30, 010, .NaN) is recorded so an error about its value can say how it was read.
_PLAIN = re.compile(
    r"true|false|null|~|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[-+]?(?:0|[1-9][0-9]*)|[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
)


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _fail(source: str, message: str, at: Mark | Node | None = None, path: DataPath = (), hint: str = "") -> SpecError:
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
        self.surprises: dict[DataPath, str] = {}
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
            return self._err(f"tag {shown!r} cannot be used here", node, path, "use a plain value, list or mapping")
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
        if node.style is None and ":" in str(node.value) and node.tag.endswith((":int", ":float")):
            raise self._err(  # YAML 1.1's base 60: 1:30 is 90, while 0:30 is text, and neither is a time
                f"YAML reads the unquoted {node.value} as a base-60 number, not a time",
                node, path, "write the time with units, e.g. 1m30s or 1h30m",
            )  # fmt: skip
        try:
            value = builder(node)
        except (ValueError, KeyError, ConstructorError):
            raise self._err(f"cannot read {node.value!r} as {_show_tag(node.tag)}", node, path) from None
        if node.style is None and not _PLAIN.fullmatch(str(node.value)):
            self.surprises[path] = str(node.value)
        return value

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
    start = exc.context_mark
    long_key = start is not None and mark is not None and mark.line == start.line and mark.column - start.column > 1024
    if exc.problem == "could not find expected ':'" and long_key:  # YAML caps a simple key at 1024 characters
        message, hint, mark = "invalid YAML: a key longer than 1024 characters", "shorten the key", start
    where: tuple[int | None, int | None] = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return Problem(message, source, *where, "", hint)


_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _fast_compose(text: str) -> Node | bool | None:
    """libyaml's composer (10x faster on big files) for plain, shallow, single documents; False
    when the text needs the careful path (its errors are worded by the Python parser, and its C
    composer recurses, so a document nested past MAX_DEPTH must never reach it)."""
    if not getattr(yaml, "__with_libyaml__", False) or _NON_PRINTABLE.search(text):
        return False
    try:
        events, depth, documents = yaml.CSafeLoader(text), 0, 0
        try:
            while events.check_event():
                event = events.get_event()
                depth += isinstance(event, _OPEN) - isinstance(event, _CLOSE)
                documents += isinstance(event, yaml.DocumentStartEvent)
                if depth > MAX_DEPTH or documents > 1:
                    return False
        finally:
            events.dispose()
        loader = yaml.CSafeLoader(text)
        try:
            return loader.get_node() if loader.check_node() else None
        finally:
            loader.dispose()
    except yaml.YAMLError:
        return False


def _compose(text: str, source: str) -> Node | None:
    """Compose exactly one document; composing constructs nothing, so no tag can run code."""
    fast = _fast_compose(text) if len(text) > _FAST_FROM else False
    if not isinstance(fast, bool):
        return fast
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
        raise _fail(source, "the document is nested too deeply", hint=f"keep it under {MAX_DEPTH} levels") from None


def load_yaml_text(text: str, source: str = "<input>") -> YamlDocument:
    """Parse one YAML mapping safely; raise SpecError with a location for anything we refuse."""
    size = len(text) if len(text) > MAX_BYTES else len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_BYTES:
        raise _fail(source, f"the document is too large ({size} bytes, limit {MAX_BYTES})", hint=_SPLIT)
    root = _compose(text, source)
    builder = _Builder(source)
    data = None if root is None else builder.build(root, ())
    if data is None:
        raise _fail(source, "the document is empty", root or Mark(1, 1), (), "expected 'key: value' lines")
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({type(data).__name__})"
        raise _fail(source, f"the top level must be a mapping, not {kind}", root, (), "expected 'key: value' lines")
    return YamlDocument(source, data, builder.marks, builder.key_marks, builder.surprises)


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
    key = (source, hashlib.blake2b(raw, digest_size=16).digest())
    if key not in _RECENT:  # `validate` reads a file to tell its kind, then loads it: parse once
        _RECENT.clear()
        _RECENT[key] = load_yaml_text(text, source)
    return _RECENT[key]


# The last document read, by path and content; callers copy `data` before changing it.
_RECENT: dict[tuple[str, bytes], YamlDocument] = {}
