"""YAML with positions: plain data plus where every key and value stood in the source.

PyYAML's constructors lose positions, keep the last of two duplicate keys and follow YAML
1.1, where `on`, `yes` and `no` are booleans. `load` builds the data itself from libyaml's
events (`knargo.formats.composer`), following the YAML 1.2 core schema: only `true`/`false`
are booleans, and mapping keys are always the text as written. Alongside the data it records,
for every path (a tuple of keys and list indices), the position of the value and of its key
and the scalar's source text, so later checks can point at the exact line and column and read
`1.10` as the user wrote it rather than as the float `1.1`. A document whose aliases expand
too far, or that holds too many values, is refused while it is read, where it crosses the
limit; libyaml's and PyYAML's wording never reaches the user for tabs, control characters or
nesting.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from os import PathLike
from pathlib import Path as FilePath
from typing import Any, NamedTuple

import yaml

from knargo.formats.composer import MAX_ALIAS_VALUES, Path, Pos, TooLarge, build, core_schema
from knargo.formats.diagnostics import Diagnostic, Severity

__all__ = ["MAX_ALIAS_VALUES", "Document", "Mark", "Path", "core_schema", "load", "read"]


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser (the pure-Python one without it): events only, nothing resolved."""


class Mark(NamedTuple):
    """A 1-based line and column (a tuple: cheap, and ignored by the garbage collector)."""

    line: int
    col: int


@dataclass
class Document:
    """Data built from YAML, with where every value and key stands (a `Pos`: position,
    source text and style); marks are made only for the values someone asks about."""

    data: Any
    values: dict[Path, Pos] = field(default_factory=dict)
    keys: dict[Path, Pos] = field(default_factory=dict)
    text: str = ""

    @cached_property
    def raw(self) -> dict[Path, str]:
        """The source text of every scalar, by path."""
        return {p: v[5] for p, v in self.values.items() if v[5] is not None}

    @cached_property
    def styles(self) -> dict[Path, str | None]:
        """The style of every scalar (`'`, `"`, `|`, `>`, or None for plain), by path."""
        return {p: v[4] or None for p, v in self.values.items() if v[5] is not None}

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
        pos = self.values.get(self._as_written(path))
        if pos is None or pos[5] is None or not self.text:
            return self.value_mark(path)
        index = _source_index(self.text, pos, offset)
        line_start = self.text.rfind("\n", 0, index) + 1
        line = pos[0] + 1 + self.text.count("\n", pos[2], index)
        return Mark(line, index - line_start + 1)

    def key_mark(self, path: Path) -> Mark:
        """Where the key of the entry at `path` stands (for list items: the item)."""
        if path in self.keys:
            return _mark(self.keys[path])
        return _nearest(self.values, path)


def _source_index(text: str, pos: Pos, offset: int) -> int:
    """The index in `text` of the value's character `offset`: the value's characters are
    matched in order, skipping what folding, indentation, line breaks and escapes add."""
    _, _, start, end, style, value = pos
    if style in "|>" and style:
        start = text.find("\n", start, end) + 1 or start  # past the header line
    elif style in ("'", '"'):
        start += 1
    j = start
    for char in (value or "")[:offset]:
        while j < end and text[j] != char and text[j] in " \t\r\n\\":
            j += 1
        j += 2 if style == "'" and char == "'" else 1
    while j < end and text[j] in " \t\r\n\\":  # the character itself
        j += 1
    return min(j, max(end - 1, start))


def _nearest(positions: dict[Path, Pos], path: Path) -> Mark:
    for end in range(len(path), -1, -1):
        pos = positions.get(path[:end])
        if pos is not None:
            return _mark(pos)
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
    loader = _Loader(text)
    try:
        data, values, keys, found = build(file, _events(loader))
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_diagnostic(exc, text, file)]
    except yaml.reader.ReaderError as exc:
        return None, [_reader_diagnostic(exc, text, file)]
    except yaml.YAMLError:  # no other error is known to come without a mark
        return None, [Diagnostic(file, 1, 1, Severity.ERROR, "not a YAML document", "syntax")]
    except TooLarge as exc:
        return None, [_refused(exc, file)]
    finally:
        loader.dispose()
    return Document(data, values, keys, text), found


def _events(loader: Any) -> Iterator[Any]:
    return iter(loader.get_event, None)  # libyaml says None after the stream's end


# libyaml's problems in our words: (words in its message, ours, whether to point where the
# construct began rather than where libyaml gave up).
_SYNTAX = (
    (
        "did not find expected key",
        "this line is not a key of the mapping above it: check its indentation",
        False,
    ),
    (
        "mapping values are not allowed",
        'a ": " cannot start a mapping here: quote the value if the colon is part of it, '
        "or check the indentation",
        False,
    ),
    ("did not find expected node content", "a value is missing here", False),
    (
        "did not find expected '-' indicator",
        'expected a list item ("- ...") at this indentation',
        False,
    ),
    ("quoted scalar, found unexpected end of stream", "this quoted value is never closed", True),
    (
        "unknown escape character",
        'unknown escape in a double-quoted value: write "\\\\" for a backslash, or use '
        "single quotes",
        False,
    ),
    (
        "expected alphabetic or numeric character",
        'an anchor (&) or alias (*) needs a name: quote the value if "&" or "*" is part of it',
        False,
    ),
    ("expected ',' or ']'", 'expected "," or "]" in this [...] list', True),
    ("expected ',' or '}'", 'expected "," or "}" in this {...} mapping', True),
    ("single document", 'a ci.yaml holds one YAML document: remove the "---" here', False),
)


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, text: str, file: str) -> Diagnostic:
    """libyaml's error, said in our words where we know it, at the right position."""
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or ""
    words = f"{exc.context or ''}, {problem}"
    at = mark.index if mark is not None else -1
    message = "YAML syntax: " + _clean(words.strip(", ") or "invalid YAML")
    if "tab" in problem or (0 <= at < len(text) and text[at] == "\t"):
        message = "YAML forbids tabs for indentation: indent with spaces"
    elif "nesting depth" in problem:
        message = "values nested more than 1,000 levels deep"
    elif "cannot start any token" in problem and 0 <= at < len(text):
        message = f"YAML syntax: {text[at]!r} cannot start a plain value: quote the value"
    else:
        for known, ours, at_start in _SYNTAX:
            if known in words:
                message = "YAML syntax: " + ours
                mark = (exc.context_mark or mark) if at_start else mark
                break
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
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


def _refused(exc: TooLarge, file: str) -> Diagnostic:
    """The refusal of a document too large to read, where it crosses the limit."""
    rule = "alias" if exc.message.startswith("aliases") else "size"
    advice = (
        "write the values out or anchor smaller parts"
        if rule == "alias"
        else "a ci.yaml this large cannot be read"
    )
    message = f"{exc.message}: the document is refused ({advice})"
    mark = exc.mark
    return Diagnostic(file, mark.line + 1, mark.column + 1, Severity.ERROR, message, rule)


def _clean(message: str) -> str:
    return " ".join(message.split())


def _mark(pos: Pos) -> Mark:
    return Mark(pos[0] + 1, pos[1] + 1)
