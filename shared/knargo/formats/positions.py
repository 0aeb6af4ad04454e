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

import re
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path as FilePath
from typing import Any, NamedTuple

import yaml

from knargo.formats.diagnostics import Diagnostic, Severity

__all__ = ["Document", "Mark", "Path", "core_schema", "load", "read"]

Path = tuple[str | int, ...]

# Expanding aliases can blow up ("billion laughs"); refuse documents beyond this many nodes.
MAX_NODES = 2_000_000

_STR_TAG = "tag:yaml.org,2002:str"
_PLAIN_TAG = "tag:knargo.dev,2026:plain"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Tags plain scalars as such instead of resolving them by YAML 1.1 rules."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN_TAG
        return super().resolve(kind, value, implicit)


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
    """Data composed from YAML, with the position of every value and key."""

    data: Any
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)
    raw: dict[Path, str] = field(default_factory=dict)
    styles: dict[Path, str | None] = field(default_factory=dict)

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

    def key_mark(self, path: Path) -> Mark:
        """Where the key of the entry at `path` stands (for list items: the item)."""
        if path in self.keys:
            return self.keys[path]
        return _nearest(self.values, path)


def _nearest(marks: dict[Path, Mark], path: Path) -> Mark:
    for end in range(len(path), -1, -1):
        mark = marks.get(path[:end])
        if mark is not None:
            return mark
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
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_diagnostic(exc, file)]
    except yaml.YAMLError as exc:  # errors without a mark (e.g. a byte that cannot be read)
        return None, [Diagnostic(file, 1, 1, Severity.ERROR, _clean(str(exc)), "syntax")]
    builder = _Builder(file)
    if root is None:
        return Document(data=None), []
    try:
        data = builder.build(root, ())
    except _TooLarge:
        return None, [
            Diagnostic(
                file, 1, 1, Severity.ERROR, "document too large after expanding aliases", "syntax"
            )
        ]
    return (
        Document(data, builder.values, builder.keys, builder.raw, builder.styles),
        builder.diagnostics,
    )


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, file: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    parts = [p for p in (exc.context, exc.problem) if p]
    message = "YAML syntax: " + _clean(", ".join(parts) if parts else str(exc))
    return Diagnostic(file, line, col, Severity.ERROR, message, "syntax")


def _clean(message: str) -> str:
    return " ".join(message.split())


class _TooLarge(Exception):
    pass


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[Path, Mark] = {}
        self.keys: dict[Path, Mark] = {}
        self.raw: dict[Path, str] = {}
        self.styles: dict[Path, str | None] = {}
        self.diagnostics: list[Diagnostic] = []
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise _TooLarge
        self.values.setdefault(path, _mark(node))
        if isinstance(node, yaml.ScalarNode):
            self.raw[path] = node.value
            self.styles[path] = node.style or None  # the C parser says "" for plain
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
        first_seen: dict[str, Mark] = {}
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
            mark = _mark(key_node)
            if key in first_seen:
                first = first_seen[key]
                self._error(
                    key_node,
                    f'duplicate key "{key}" (first defined at line {first.line})',
                    rule="duplicate-key",
                )
                continue
            first_seen[key] = mark
            self.keys[(*path, key)] = mark
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


def core_schema(text: str) -> Any:
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
