"""Plain data straight from YAML's event stream, with the event of every key and value.

One pass over libyaml's events builds the data (no node tree is composed first), so a hostile
document is refused while it is read: aliases are expanded by replaying the events recorded
for their anchor, and the values they produce are counted, as are all values. The event kept
for each path says where the value stands, its source text and its style. Scalars follow the
YAML 1.2 core schema (`core_schema`); mapping keys are the text as written; `<<` merges
mappings as YAML 1.1 did, after the mapping's own keys.

Each value and key is kept as a `Pos` tuple, not as its event (an event and its two marks
are three objects the garbage collector would visit again and again; a tuple of atoms is one
it soon stops tracking).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from knargo.formats.diagnostics import Diagnostic, Severity

__all__ = ["MAX_ALIAS_VALUES", "MAX_VALUES", "Path", "Pos", "TooLarge", "build", "core_schema"]

Path = tuple[str | int, ...]
Event = Any  # a libyaml event: ScalarEvent, MappingStartEvent, AliasEvent, ...
Pos = tuple[int, int, int, int, str, str | None]
"""0-based line and column, start and end index in the text, style ("" for plain or a
collection) and, for a scalar, its source text (None for a collection)."""


def _pos(event: Event) -> Pos:
    start, end = event.start_mark, event.end_mark
    scalar = type(event) is yaml.ScalarEvent
    return (
        start.line,
        start.column,
        start.index,
        end.index,
        (event.style or "") if scalar else "",
        event.value if scalar else None,
    )


# Expanding aliases can blow up ("billion laughs"): refuse a document whose aliases expand to
# more than this many values (keys count), at the alias that crosses the limit. Anchors merged
# into every job of a large pipeline stay far below it.
MAX_ALIAS_VALUES = 25_000
# All values of a document (keys count): a generated pipeline of 1 MiB has about 61,000, and
# one of 100,000 renders far over the 1 MiB a Workflow may have.
MAX_VALUES = 100_000

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STARTS = (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)
_ENDS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_NODE_STARTS = frozenset(_STARTS)
_COLLECTION_STARTS = frozenset((yaml.MappingStartEvent, yaml.SequenceStartEvent))
_COLLECTION_ENDS = frozenset(_ENDS)
_KEY, _VALUE = 0, 1


class TooLarge(Exception):
    """The document is refused; `mark` is where (the alias that crosses the limit)."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message, self.mark = message, mark


class _Frame:
    __slots__ = ("key", "mapping", "merges", "path", "result", "seen", "state")

    def __init__(self, path: Path, mapping: bool) -> None:
        self.path, self.mapping = path, mapping
        self.result: Any = {} if mapping else []
        self.state, self.key = _KEY, ""
        self.seen: dict[str, Event] = {}
        self.merges: list[list[Event]] = []


class _Builder:
    def __init__(self, file: str, events: Iterator[Event]) -> None:
        self.file = file
        self.values: dict[Path, Pos] = {}
        self.keys: dict[Path, Pos] = {}
        self.diagnostics: list[Diagnostic] = []
        self.anchors: dict[str, list[Event]] = {}
        self.recording: list[tuple[str, list[Event], list[int]]] = []
        self.sources: list[Iterator[Event]] = [events]
        self.outer_alias: Event = None  # the alias whose replay is going on, not one within
        self.outer_depth = 0
        self.expanded = self.count = 0

    # Reading events: the document's, or those of an anchor an alias replays.
    def next(self) -> Event:
        if len(self.sources) == 1:  # the document's own events: the hot path
            event = next(self.sources[0])
            if type(event) in _NODE_STARTS:
                self.count += 1
                if self.count > MAX_VALUES:
                    raise TooLarge(f"more than {MAX_VALUES:,} values", event.start_mark)
                if event.anchor is not None or self.recording:
                    self._record(event)
            elif self.recording:
                self._record(event)
            return event
        try:
            event = next(self.sources[-1])
        except StopIteration:
            self.sources.pop()
            return self.next()
        if type(event) in _NODE_STARTS:
            self.expanded += 1
            self.count += 1
            if self.expanded > MAX_ALIAS_VALUES:
                message = f"aliases expand to more than {MAX_ALIAS_VALUES:,} values"
                raise TooLarge(message, self.outer_alias.start_mark)
        return event

    def _counted(self, event: Event) -> None:
        """What `next` does after counting a node of the document's own events."""
        if self.count > MAX_VALUES:
            raise TooLarge(f"more than {MAX_VALUES:,} values", event.start_mark)
        self._record(event)

    def _record(self, event: Event) -> None:
        for _, events, depth in self.recording:
            events.append(event)
            if type(event) in _COLLECTION_ENDS:
                depth[0] -= 1
            elif type(event) in _COLLECTION_STARTS:
                depth[0] += 1
        anchor = getattr(event, "anchor", None)
        if anchor is not None and type(event) in _NODE_STARTS:
            nested = type(event) in _COLLECTION_STARTS
            self.recording.append((anchor, [event], [1 if nested else 0]))
        while self.recording and self.recording[-1][2][0] == 0:
            name, events, _ = self.recording.pop()
            self.anchors[name] = events

    def replay(self, alias: Event) -> bool:
        """Feed the anchor's events next; False (and a diagnostic) when there is none."""
        name = alias.anchor or ""
        if name not in self.anchors:
            open_ = any(n == name for n, _, _ in self.recording)
            self.error(alias, "recursive alias" if open_ else f'undefined alias "*{name}"')
            return False
        if self.outer_alias is None or len(self.sources) <= self.outer_depth:
            self.outer_alias, self.outer_depth = alias, len(self.sources)
        self.sources.append(iter(self.anchors[name]))
        return True

    def capture(self, first: Event) -> list[Event]:
        """The events of the subtree `first` starts, read without building it."""
        events, depth = (
            [first],
            int(isinstance(first, (yaml.MappingStartEvent, yaml.SequenceStartEvent))),
        )
        while depth:
            event = self.next()
            events.append(event)
            if isinstance(event, _ENDS):
                depth -= 1
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
        return events

    # Building values.
    def value(self, path: Path) -> Any:
        """The next complete value, read from the events, recorded under `path`.

        The hot path (a plain key, a scalar) is written out here: this loop runs once per
        event of the document."""
        stack: list[_Frame] = []
        result: list[Any] = []
        values, keys, read, sources = self.values, self.keys, self.next, self.sources
        main = sources[0]
        while not result:
            if len(sources) == 1 and not self.recording:  # the document's own events
                event = next(main)
                kind = type(event)
                if kind in _NODE_STARTS:
                    self.count += 1
                    if self.count > MAX_VALUES or event.anchor is not None:
                        self._counted(event)
            else:
                event = read()
                kind = type(event)
            if kind in _COLLECTION_ENDS:
                frame = stack.pop()
                if frame.merges:
                    self.merge(frame)
                self.deliver(stack, result, frame.result)
                continue
            top = stack[-1] if stack else None
            if top is not None and top.state == _KEY and top.mapping:
                key = event.value if kind is yaml.ScalarEvent else None
                if key is None or key in top.seen or event.tag or key == "<<":
                    self.key(top, event)
                    continue
                top.seen[key] = event
                mark = event.start_mark
                keys[(*top.path, key)] = (
                    mark.line,
                    mark.column,
                    mark.index,
                    event.end_mark.index,
                    event.style or "",
                    key,
                )
                top.key, top.state = key, _VALUE
                continue
            if kind is yaml.AliasEvent:
                if not self.replay(event):
                    self.deliver(stack, result, None)
                continue
            if top is None:
                where = path
            elif top.mapping:
                where = (*top.path, top.key)
            else:
                where = (*top.path, len(top.result))
            if where not in values:
                values[where] = _pos(event)
            if kind is not yaml.ScalarEvent:
                stack.append(_Frame(where, kind is yaml.MappingStartEvent))
            elif top is None:
                result.append(_scalar(event))
            elif top.mapping:
                top.result[top.key] = _scalar(event)
                top.state = _KEY
            else:
                top.result.append(_scalar(event))
        return result[0]

    def deliver(self, stack: list[_Frame], result: list[Any], value: Any) -> None:
        if not stack:
            result.append(value)
        elif stack[-1].mapping:
            stack[-1].result[stack[-1].key] = value
            stack[-1].state = _KEY
        else:
            stack[-1].result.append(value)

    def key(self, frame: _Frame, event: Event) -> None:
        """A mapping's key: a plain value, a merge (`<<`), or an error (its value skipped)."""
        if isinstance(event, yaml.AliasEvent):
            anchored = self.anchors.get(event.anchor or "", [])
            event = anchored[0] if len(anchored) == 1 else event
        if isinstance(event, yaml.ScalarEvent) and (
            event.tag == _MERGE_TAG or (event.value == "<<" and not event.style and not event.tag)
        ):
            frame.merges.append(self.capture(self.next()))
            return
        if not isinstance(event, yaml.ScalarEvent):
            self.error(event, "a mapping key must be a plain value")
            self.capture(event)
            self.capture(self.next())
            return
        key = str(event.value)
        if key in frame.seen:
            first = frame.seen[key].start_mark.line + 1
            self.error(
                event, f'duplicate key "{key}" (first defined at line {first})', "duplicate-key"
            )
            self.capture(self.next())
            return
        frame.seen[key] = event
        self.keys[(*frame.path, key)] = _pos(event)
        frame.key, frame.state = key, _VALUE

    def merge(self, frame: _Frame) -> None:
        """The mappings of `<<`, under the mapping's own keys (those stay first)."""
        for events in frame.merges:
            items = _items(events) if isinstance(events[0], yaml.SequenceStartEvent) else [events]
            for item in items:
                self.sources.append(iter(item))
                merged = self.value(frame.path)
                if not isinstance(merged, dict):
                    self.error(item[0], "a merge key (<<) must refer to a mapping")
                    continue
                for key, value in merged.items():
                    frame.result.setdefault(key, value)

    def error(self, event: Event, message: str, rule: str = "syntax") -> None:
        mark = event.start_mark
        self.diagnostics.append(
            Diagnostic(self.file, mark.line + 1, mark.column + 1, Severity.ERROR, message, rule)
        )


def _items(events: list[Event]) -> list[list[Event]]:
    """The item subtrees of a captured sequence."""
    items: list[list[Event]] = []
    depth = 0
    for event in events[1:-1]:
        if depth == 0:
            items.append([])
        items[-1].append(event)
        if isinstance(event, _ENDS):
            depth -= 1
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
    return items


def build(
    file: str, events: Iterator[Event]
) -> tuple[Any, dict[Path, Pos], dict[Path, Pos], list[Diagnostic]]:
    """The single document of `events`: data, value events, key events, diagnostics.

    Raises TooLarge, and libyaml's errors (yaml.MarkedYAMLError, ReaderError) as they come."""
    builder = _Builder(file, events)
    builder.next()  # the stream's start
    if isinstance(builder.next(), yaml.StreamEndEvent):
        return None, {}, {}, []
    data = builder.value(())
    builder.next()  # the document's end
    extra = builder.next()
    if not isinstance(extra, yaml.StreamEndEvent):
        raise yaml.MarkedYAMLError(
            "expected a single document in the stream",
            None,
            "but found another document",
            extra.start_mark,
        )
    return data, builder.values, builder.keys, builder.diagnostics


def _scalar(event: Event) -> Any:
    text: str = event.value
    if event.style or event.tag in (_STR_TAG, "!"):  # quoted, block or explicitly a string
        return text
    return core_schema(text)  # plain, or another explicit tag such as !!int


_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$")
_OCT = re.compile(r"^0o[0-7]+$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
# Every null, boolean and number starts with one of these: other text is returned at once.
_SPECIAL_START = frozenset("-+.0123456789~nNtTfF")


def core_schema(text: str) -> Any:
    """A plain scalar's value under the YAML 1.2 core schema."""
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
