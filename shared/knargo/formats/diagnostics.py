"""Diagnostics are data: a position, a severity, a message and the rule that produced them.

Every check in knargo returns `Diagnostic` values instead of raising, so a whole file is
checked at once and the results can be printed, sorted and compared in tests.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass

__all__ = ["Diagnostic", "Severity", "has_errors", "normalize"]


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One finding at a 1-based line and column of a file."""

    file: str
    line: int
    col: int
    severity: Severity
    message: str
    rule: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.severity}: {self.message} [{self.rule}]"

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["severity"] = str(self.severity)
        return {k: data[k] for k in ("file", "line", "col", "severity", "rule", "message")}


def normalize(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Sort by file and position and drop exact repeats."""
    return sorted(set(diagnostics), key=lambda d: (d.file, d.line, d.col, d.rule, d.message))


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)
