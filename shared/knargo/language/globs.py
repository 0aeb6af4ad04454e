"""Filter patterns for branches, tags and paths, as in the `on:` filters of GitHub Actions.

One pattern always matches the whole value:

* `*` matches zero or more characters except `/`;
* `**` matches zero or more of any character, `/` included: `dir/**` matches everything below
  `dir`, and a `**/` at the start of the pattern or right after a `/` may also match nothing, so
  `**/x` matches `x` at any depth, the top included;
* `?` matches exactly one character except `/`;
* `[abc]`, `[a-z]` and `[!a-z]` match one character in (or not in) the class, never `/`;
* a backslash makes the next character literal (`\\*`, `\\[`, `\\!`);
* every other character is literal.

In a list, a pattern starting with `!` is a negation. Patterns are read in order and a value is
selected if the last pattern that matches it is positive. If no pattern matches, the value is
selected only when the list holds negations alone, so `['!docs/**']` means "everything but docs".
An empty list selects nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["GlobError", "PatternList", "check_patterns", "compile_pattern"]

# One compiled list entry: whether it is positive, and its regular expression.
_Rule = tuple[bool, re.Pattern[str]]


class GlobError(ValueError):
    """An invalid pattern: `offset` is 0-based into the pattern, `index` its place in a list."""

    message: str
    offset: int
    index: int

    def __init__(self, message: str, offset: int, index: int = 0) -> None:
        super().__init__(f"{message} (at offset {offset})")
        self.message = message
        self.offset = offset
        self.index = index


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Validate and compile one pattern, given without its negating `!`; use `fullmatch`."""
    if not pattern:
        raise GlobError("empty pattern", 0)
    if pattern == "!":
        raise GlobError('"!" without a pattern to negate', 0)
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            i, regex = _stars(pattern, i)
        elif char == "?":
            i, regex = i + 1, "[^/]"
        elif char == "[":
            i, regex = _char_class(pattern, i)
        else:
            literal, i = _literal(pattern, i)
            regex = re.escape(literal)
        parts.append(regex)
    return re.compile("".join(parts), re.DOTALL)


def _literal(pattern: str, i: int) -> tuple[str, int]:
    """The character at `i` (the one after it if `i` is a backslash) and the next position."""
    if pattern[i] != "\\":
        return pattern[i], i + 1
    if i + 1 == len(pattern):
        raise GlobError("trailing backslash escapes nothing", i)
    return pattern[i + 1], i + 2


def _stars(pattern: str, start: int) -> tuple[int, str]:
    end = start
    while end < len(pattern) and pattern[end] == "*":
        end += 1
    if end - start == 1:
        return end, "[^/]*"
    if end - start > 2:
        raise GlobError(f'"{"*" * (end - start)}": use "*" or "**"', start)
    segment_start = start == 0 or pattern[start - 1] == "/"
    if segment_start and pattern.startswith("/", end):
        return end + 1, "(?:.*/)?"
    return end, ".*"


def _char_class(pattern: str, start: int) -> tuple[int, str]:
    negate = pattern.startswith("!", start + 1)
    i = start + 1 + negate
    items: list[str] = []
    while i < len(pattern) and pattern[i] != "]":
        low_at = i
        low, i = _literal(pattern, i)
        if pattern.startswith("-", i) and i + 1 < len(pattern) and pattern[i + 1] != "]":
            high, i = _literal(pattern, i + 1)
            if high < low:
                raise GlobError(f"invalid range {low}-{high} in character class", low_at)
            items.append(f"{re.escape(low)}-{re.escape(high)}")
        else:
            items.append(re.escape(low))
    if i == len(pattern):
        raise GlobError('unclosed "["', start)
    if not items:
        raise GlobError("empty character class", start)
    body = "".join(items)
    return i + 1, f"[^/{body}]" if negate else f"(?!/)[{body}]"


def _compile_entry(written: str, index: int) -> _Rule:
    """Compile one list entry; offsets of errors count from the start of `written`."""
    negated = written.startswith("!") and written != "!"
    body = written[1:] if negated else written
    try:
        return not negated, compile_pattern(body)
    except GlobError as error:
        raise GlobError(error.message, error.offset + negated, index) from None


def check_patterns(patterns: Sequence[str]) -> list[GlobError]:
    """All errors in a list of patterns; offsets count from the start of each entry (its `!`)."""
    errors: list[GlobError] = []
    for index, written in enumerate(patterns):
        try:
            _compile_entry(written, index)
        except GlobError as error:
            errors.append(error)
    return errors


@dataclass(frozen=True)
class PatternList:
    """An ordered list of patterns and negations; compiled on first use, then cached."""

    patterns: tuple[str, ...]
    _rules: tuple[_Rule, ...] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.patterns, str):
            raise TypeError("PatternList takes a sequence of patterns, not one string")
        object.__setattr__(self, "patterns", tuple(self.patterns))

    def _compiled(self) -> tuple[_Rule, ...]:
        """The compiled rules; raises the `GlobError` of the first invalid pattern."""
        rules = self._rules
        if rules is None:
            rules = tuple(_compile_entry(p, i) for i, p in enumerate(self.patterns))
            object.__setattr__(self, "_rules", rules)
        return rules

    def matches(self, value: str) -> bool:
        """Whether the list selects `value`."""
        rules = self._compiled()
        for positive, regex in reversed(rules):
            if regex.fullmatch(value):
                return positive
        return bool(rules) and not any(positive for positive, _ in rules)

    def matches_any(self, values: Iterable[str]) -> bool:
        """Whether the list selects at least one of `values` (e.g. the changed paths)."""
        return any(self.matches(value) for value in values)
