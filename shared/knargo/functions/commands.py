"""Commands in a pull request comment: `/retest [job]`, `/cancel`, `/ok-to-test`, `/approve [job]`.

A command is a line that starts with `/` at its first column, a known name and at most one
argument: `/retest build` runs `build` again, `/retest test (3.12, ubuntu)` one combination of
a `matrix:` job (as its status and check run name it, which GitHub's Re-run sends). Anything
else is text: an unknown `/word`, a command further into a line, in a quote (`> /retest`) or
in a fenced code block. A comment may hold several commands, one a line; a command given
twice counts once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["COMMANDS", "Command", "parse_commands"]

COMMANDS = ("retest", "cancel", "ok-to-test", "approve")
# An argument is one word, or a job and a combination of its matrix as its status shows it.
_LINE = re.compile(
    r"/(?P<name>[a-z][a-z-]*)(?:[ \t]+(?P<argument>[^\s]+(?: \([^()\n]*\))?))?[ \t]*"
)
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


@dataclass(frozen=True)
class Command:
    name: str
    argument: str | None = None

    def __str__(self) -> str:
        return f"/{self.name} {self.argument}" if self.argument else f"/{self.name}"


def parse_commands(text: str) -> list[Command]:
    """The known commands of a comment, in order, each once."""
    found: dict[Command, None] = {}
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        matched = None if fenced else _LINE.fullmatch(line)
        if matched and matched["name"] in COMMANDS:
            found[Command(matched["name"], matched["argument"])] = None
    return list(found)
