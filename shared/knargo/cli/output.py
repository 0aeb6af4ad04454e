"""What `lint` and `runners check` print: diagnostics with their source lines, or JSON.

A long source line is cut to a window around the column (as rustc and actionlint do), and a
message that quotes a long value keeps its start and end: a 200 KB line prints as one
screen line, in text and in JSON.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knargo.formats.diagnostics import Diagnostic

EXCERPT_WIDTH = 100  # characters of a source line shown around the column
MESSAGE_LIMIT = 400  # characters of a message; the middle of a longer one is left out


def print_report(found: list[Diagnostic], sources: dict[str, list[str]], format: str) -> None:
    """Diagnostics on stdout: text with source lines and carets, or a JSON list."""
    if format == "json":
        shown = [shorten(d).to_dict() for d in found]
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        return
    for diagnostic in found:
        print(format_text(diagnostic, sources.get(diagnostic.file, [])))


def shorten(diagnostic: Diagnostic) -> Diagnostic:
    message = diagnostic.message
    if len(message) <= MESSAGE_LIMIT:
        return diagnostic
    half = MESSAGE_LIMIT // 2
    return replace(diagnostic, message=f"{message[:half]} … {message[-half:]}")


def format_text(diagnostic: Diagnostic, lines: list[str]) -> str:
    """The diagnostic, the source line it points at, and a caret under its column."""
    out = str(shorten(diagnostic))
    if 1 <= diagnostic.line <= len(lines):
        source, column = excerpt(lines[diagnostic.line - 1].expandtabs(1), diagnostic.col)
        caret = " " * min(column - 1, len(source)) + "^"
        out += f"\n{source}\n{caret}"
    return out


def excerpt(line: str, col: int, width: int = EXCERPT_WIDTH) -> tuple[str, int]:
    """At most `width` characters of `line` around the 1-based `col` (with `…` where cut),
    and the column within them."""
    if len(line) <= width:
        return line, col
    start = min(max(0, col - 1 - width // 2), len(line) - width)
    cut = line[start : start + width]
    if start > 0:
        cut, col = "…" + cut, col - start + 1
    if start + width < len(line):
        cut += "…"
    return cut, col
