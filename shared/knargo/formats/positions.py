"""YAML with positions: plain data plus where every key and value stood in the source.

PyYAML's constructors lose positions, keep the last of two duplicate keys and follow YAML
1.1, where `on`, `yes` and `no` are booleans. `load` composes the node tree instead and builds
the data itself, following the YAML 1.2 core schema: only `true`/`false` are booleans, and
mapping keys are always the text as written. Alongside the data it records, for every path
(a tuple of keys and list indices), the position of the value and of its key and the scalar's
source text, so later checks can point at the exact line and column and read `1.10` as the
user wrote it rather than as the float `1.1`.
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass, field
from functools import cached_property
from os import PathLike
from pathlib import Path as FilePath
from typing import Any, NamedTuple

import yaml

from knargo.formats.diagnostics import Diagnostic, Severity

__all__ = ["Document", "Mark", "Path", "core_schema", "load", "read"]

Path = tuple[str | int, ...]

# Expanding aliases can blow up ("billion laughs"): refuse a document whose aliases expand to
# more than this many values (every value reached again through an alias counts). Anchors
# merged into every job of a large pipeline stay far below it.
MAX_ALIAS_VALUES = 25_000

_STR_TAG = "tag:yaml.org,2002:str"
_PLAIN_TAG = "tag:knargo.dev,2026:plain"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Tags plain scalars as such instead of resolving them by YAML 1.1 rules."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN_TAG
        return super().resolve(kind, value, implicit)

    # Path resolvers are never added: skip the two calls the composer makes per node.
    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


_MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")


class Mark(NamedTuple):
    """A 1-based line and column (a tuple: cheap, and ignored by the garbage collector)."""

    line: int
    col: int


@dataclass
class Document:
    """Data composed from YAML, with the node of every value and key (where it stands, its
    source text and style); marks are made only for the nodes someone asks about."""

    data: Any
    values: dict[Path, yaml.Node] = field(default_factory=dict)
    keys: dict[Path, yaml.Node] = field(default_factory=dict)
    text: str = ""

    @cached_property
    def raw(self) -> dict[Path, str]:
        """The source text of every scalar, by path."""
        return {p: n.value for p, n in self.values.items() if isinstance(n, yaml.ScalarNode)}

    @cached_property
    def styles(self) -> dict[Path, str | None]:
        """The style of every scalar (`'`, `"`, `|`, `>`, or None for plain), by path."""
        return {
            p: n.style or None for p, n in self.values.items() if isinstance(n, yaml.ScalarNode)
        }

    def value_mark(self, path: Path) -> Mark:
        """Where the value at `path` stands, or its nearest known ancestor.

        A model may turn a list into a mapping keyed by its items (`[A, B]` into
        `{A: A, B: B}`); a key that is not found is then looked up among the list's items.
        """
        return _nearest(self.values, self._as_written(path))

    def _as_written(self, path: Path) -> Path:
        node: Any = self.data
        written: list[str | int] = []
        for part in path:
            if isinstance(node, list) and isinstance(part, str) and part in node:
                part = node.index(part)
            written.append(part)
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return (*written, *path[len(written) :])
        return tuple(written)

    def mark_at(self, path: Path, offset: int) -> Mark:
        """Where the character at `offset` of the scalar at `path` stands in the source, in
        every style: plain or quoted over several lines, folded (`>`) or literal (`|`)."""
        node = self.values.get(self._as_written(path))
        if not isinstance(node, yaml.ScalarNode) or not self.text:
            return self.value_mark(path)
        index = _source_index(self.text, node, offset)
        line_start = self.text.rfind("\n", 0, index) + 1
        line = node.start_mark.line + 1 + self.text.count("\n", node.start_mark.index, index)
        return Mark(line, index - line_start + 1)

    def key_mark(self, path: Path) -> Mark:
        """Where the key of the entry at `path` stands (for list items: the item)."""
        if path in self.keys:
            return _mark(self.keys[path])
        return _nearest(self.values, path)


def _source_index(text: str, node: yaml.ScalarNode, offset: int) -> int:
    """The index in `text` of the value's character `offset`: the value's characters are
    matched in order, skipping what folding, indentation, line breaks and escapes add."""
    start, end = node.start_mark.index, node.end_mark.index
    style = node.style or ""
    if style in "|>" and style:
        start = text.find("\n", start, end) + 1 or start  # past the header line
    elif style in ("'", '"'):
        start += 1
    j = start
    for char in node.value[:offset]:
        while j < end and text[j] != char and text[j] in " \t\r\n\\":
            j += 1
        j += 2 if style == "'" and char == "'" else 1
    while j < end and text[j] in " \t\r\n\\":  # the character itself
        j += 1
    return min(j, max(end - 1, start))


def _nearest(nodes: dict[Path, yaml.Node], path: Path) -> Mark:
    for end in range(len(path), -1, -1):
        node = nodes.get(path[:end])
        if node is not None:
            return _mark(node)
    return Mark(1, 1)


def read(path: str | PathLike[str]) -> tuple[str | None, list[Diagnostic]]:
    """A file's UTF-8 text, or a diagnostic saying why it cannot be read."""
    try:
        return FilePath(path).read_text(encoding="utf-8"), []
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        return None, [Diagnostic(str(path), 1, 1, Severity.ERROR, f"cannot read: {reason}", "io")]


def load(text: str, file: str) -> tuple[Document | None, list[Diagnostic]]:
    """Compose one YAML document; syntax errors and duplicate keys become diagnostics."""
    collecting = gc.isenabled()
    gc.disable()  # composing allocates many objects and no cycles: collections only cost time
    try:
        return _load(text, file)
    finally:
        if collecting:
            gc.enable()


def _load(text: str, file: str) -> tuple[Document | None, list[Diagnostic]]:
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_diagnostic(exc, text, file)]
    except yaml.reader.ReaderError as exc:
        return None, [_reader_diagnostic(exc, text, file)]
    except yaml.YAMLError:  # no other error is known to come without a mark
        return None, [Diagnostic(file, 1, 1, Severity.ERROR, "not a YAML document", "syntax")]
    builder = _Builder(file)
    if root is None:
        return Document(data=None), []
    try:
        data = builder.build(root, ())
    except _TooLarge:
        return None, [_alias_bomb(text, file)]
    return Document(data, builder.values, builder.keys, text), builder.diagnostics


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, text: str, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = exc.problem or ""
    at = mark.index if mark is not None else -1
    if "tab" in problem or (0 <= at < len(text) and text[at] == "\t"):
        message = "YAML forbids tabs for indentation: indent with spaces"
    elif "cannot start any token" in problem and 0 <= at < len(text):
        message = f"YAML syntax: {text[at]!r} cannot start a plain value: quote the value"
    else:
        parts = [p for p in (exc.context, problem) if p]
        message = "YAML syntax: " + _clean(", ".join(parts) if parts else "invalid YAML")
    return Diagnostic(file, line, col, Severity.ERROR, message, "syntax")


def _reader_diagnostic(exc: yaml.reader.ReaderError, text: str, file: str) -> Diagnostic:
    """A character YAML does not allow (NUL, other control characters), at its position."""
    position = exc.position if isinstance(exc.position, int) else 0
    line, col = _line_col(text, position)
    code = exc.character if isinstance(exc.character, int) else ord(text[position])
    message = f"control character U+{code:04X} is not allowed in YAML"
    return Diagnostic(file, line, col, Severity.ERROR, message, "syntax")


def _line_col(text: str, index: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _alias_bomb(text: str, file: str) -> Diagnostic:
    """The refusal of a document whose aliases expand too far, at the alias that crosses
    the limit (found again from the event stream, where aliases keep their own position)."""
    line, col = _crossing_alias(text)
    message = (
        f"aliases expand to more than {MAX_ALIAS_VALUES:,} values: "
        "the document is refused (write the values out or anchor smaller parts)"
    )
    return Diagnostic(file, line, col, Severity.ERROR, message, "alias")


def _crossing_alias(text: str) -> tuple[int, int]:
    sizes: dict[str, int] = {}
    open_: list[list[Any]] = []  # [anchor, size] of each open collection
    expanded = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            open_.append([event.anchor, 1])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, size = open_.pop()
        elif isinstance(event, yaml.AliasEvent):
            anchor, size = None, sizes.get(event.anchor or "", 1)
            expanded += size
            if expanded > MAX_ALIAS_VALUES and event.start_mark is not None:
                return event.start_mark.line + 1, event.start_mark.column + 1
        elif isinstance(event, yaml.ScalarEvent):
            anchor, size = event.anchor, 1
        else:
            continue
        if anchor:
            sizes[anchor] = size
        if open_:
            open_[-1][1] += size
    return 1, 1


def _clean(message: str) -> str:
    return " ".join(message.split())


class _TooLarge(Exception):
    pass


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[Path, yaml.Node] = {}
        self.keys: dict[Path, yaml.Node] = {}
        self.diagnostics: list[Diagnostic] = []
        self.seen: set[int] = set()
        self.expanded = 0
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> Any:
        if id(node) in self.seen:  # reached again through an alias
            self.expanded += 1
            if self.expanded > MAX_ALIAS_VALUES:
                raise _TooLarge
        else:
            self.seen.add(id(node))
        self.values.setdefault(path, node)
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        if id(node) in self.active:
            self._error(node, "recursive alias")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _mapping(self, node: yaml.Node, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_seen: dict[str, yaml.Node] = {}
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG or (
                key_node.tag == _PLAIN_TAG and key_node.value == "<<"
            ):
                merged.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._error(key_node, "a mapping key must be a plain value")
                continue
            key = str(key_node.value)
            if key in first_seen:
                first = _mark(first_seen[key])
                self._error(
                    key_node,
                    f'duplicate key "{key}" (first defined at line {first.line})',
                    rule="duplicate-key",
                )
                continue
            first_seen[key] = key_node
            self.keys[(*path, key)] = key_node
            result[key] = self.build(value_node, (*path, key))
        for source in merged:
            for sub in source.value if isinstance(source, yaml.SequenceNode) else [source]:
                if not isinstance(sub, yaml.MappingNode):
                    self._error(sub, "a merge key (<<) must refer to a mapping")
                    continue
                for key, value in self._mapping(sub, path).items():
                    result.setdefault(key, value)
        return result

    def _error(self, node: yaml.Node, message: str, rule: str = "syntax") -> None:
        mark = _mark(node)
        self.diagnostics.append(
            Diagnostic(self.file, mark.line, mark.col, Severity.ERROR, message, rule)
        )


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def _scalar(node: yaml.ScalarNode) -> Any:
    text: str = node.value
    if node.tag == _PLAIN_TAG:
        return core_schema(text)
    if node.style or node.tag == _STR_TAG:  # quoted, block or explicitly !!str
        return text
    return core_schema(text)  # another explicit tag, such as !!int


# Every null, boolean and number starts with one of these: other text is returned at once.
_SPECIAL_START = frozenset("-+.0123456789~nNtTfF")


def core_schema(text: str) -> Any:
    if text and text[0] not in _SPECIAL_START:
        return text
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        return int(text)
    if _OCT.match(text):
        return int(text[2:], 8)
    if _HEX.match(text):
        return int(text[2:], 16)
    if _FLOAT.match(text) or _INF.match(text) or _NAN.match(text):
        return float(
            text.replace(".inf", "inf")
            .replace(".Inf", "inf")
            .replace(".INF", "inf")
            .replace(".nan", "nan")
            .replace(".NaN", "nan")
            .replace(".NAN", "nan")
        )
    return text
