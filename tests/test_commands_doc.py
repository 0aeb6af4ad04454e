"""docs/commands.md's table of comment lines is what `parse_commands` reads."""

from __future__ import annotations

import re
from pathlib import Path

from knargo.functions.commands import parse_commands

DOC = Path(__file__).resolve().parent.parent / "docs" / "commands.md"
ROW = re.compile(r"^\| `(?P<line>[^`]*)` \| (?:`(?P<runs>[^`]*)`|nothing) \|$", re.M)


def test_the_documented_lines_parse_as_documented() -> None:
    table = DOC.read_text().split("| line of a comment | runs |", 1)[1].split("\n\n", 1)[0]
    rows = list(ROW.finditer(table))
    assert len(rows) >= 8
    for row in rows:
        runs = [str(command) for command in parse_commands(row["line"])]
        assert runs == ([row["runs"]] if row["runs"] else []), row["line"]
