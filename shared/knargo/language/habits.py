"""GitHub Actions habits in a valid ci.yaml: `${{ … }}` where knargo does not evaluate it.

knargo reads `${{ … }}` in three places only: around a whole `if:` condition, in the concurrency
groups (`concurrency.group`, at the top level and in a job), and `${{ matrix.<axis> }}` in a
job's `image`, `runner`, `env` values and `name`. Anywhere else the
text reaches the job as written, so `${{ secrets.TOKEN }}` would be the literal text, never the
secret. Each such expression is a warning that says what to write instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from knargo.formats.diagnostics import Diagnostic, Severity
from knargo.formats.positions import Document, Path

__all__ = ["check_expressions", "instead"]

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.S)
_GITHUB = {
    "github.sha": "$KNARGO_SHA",
    "github.ref": "$KNARGO_REF",
    "github.repository": "$KNARGO_REPOSITORY",
    "github.event_name": "$KNARGO_EVENT",
    "github.job": "$KNARGO_JOB",
    "github.event.pull_request.number": "$KNARGO_PULL_REQUEST",
}


def instead(expression: str) -> str:
    """What to write instead of `${{ expression }}`."""
    head, _, rest = expression.partition(".")
    name = rest if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rest) else ""
    if head == "secrets" and name:
        return f'list the secret in the job\'s "secrets: [{name}]" and write "${name}" in run:'
    if expression in _GITHUB:
        return f'write "{_GITHUB[expression]}" in run:'
    if head == "github":
        return (
            "the job's environment has what knargo knows of the event: "
            "$KNARGO_EVENT, $KNARGO_REF, $KNARGO_SHA, $KNARGO_REPOSITORY"
        )
    if head == "env" and name:
        return f'write "${name}" in run: (the shell expands it)'
    if head == "matrix" and name:
        return (
            "matrix values are substituted only in image, runner, env values and name; "
            f'the script reads "$MATRIX_{name.upper()}"'
        )
    return "the text stays as written; use environment variables in run:"


def check_expressions(doc: Document, file: str) -> list[Diagnostic]:
    found = []
    for path, text in _strings(doc.data, ()):
        if _evaluated(path):
            continue
        for match in _EXPRESSION.finditer(text):
            expression = match.group(1)
            if expression.startswith("matrix."):  # the matrix rule reports it where it is wrong
                continue
            mark = doc.mark_at(path, match.start())
            message = f'"${{{{ {expression} }}}}" is not evaluated by knargo: {instead(expression)}'
            found.append(
                Diagnostic(file, mark.line, mark.col, Severity.WARNING, message, "expression")
            )
    return found


def _strings(data: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _strings(value, (*path, index))


def _evaluated(path: Path) -> bool:
    """A job's `if:` (a wrapping `${{ }}` included) and the concurrency groups (top level and
    a job's), which knargo evaluates; the concurrency rule checks the groups' values."""
    job_key = path[2:] if len(path) >= 3 and path[0] == "jobs" else None
    return job_key in (("if",), ("concurrency", "group")) or path == ("concurrency", "group")
