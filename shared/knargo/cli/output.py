"""What `lint` and `runners check` print: diagnostics with their source lines, or JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knargo.formats.diagnostics import Diagnostic


def print_report(found: list[Diagnostic], sources: dict[str, list[str]], format: str) -> None:
    """Diagnostics on stdout: text with source lines and carets, or a JSON list."""
    if format == "json":
        print(json.dumps([d.to_dict() for d in found], indent=2, ensure_ascii=False))
        return
    for diagnostic in found:
        print(format_text(diagnostic, sources.get(diagnostic.file, [])))


def format_text(diagnostic: Diagnostic, lines: list[str]) -> str:
    """The diagnostic, the source line it points at, and a caret under its column."""
    out = str(diagnostic)
    if 1 <= diagnostic.line <= len(lines):
        source = lines[diagnostic.line - 1].expandtabs(1)
        caret = " " * min(diagnostic.col - 1, len(source)) + "^"
        out += f"\n{source}\n{caret}"
    return out
