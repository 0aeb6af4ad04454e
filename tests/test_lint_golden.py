"""Diagnostics goldens: `knargo lint CASE.yaml` → CASE.out (stdout and exit code).

A first line `# knargo lint args: ...` adds flags (run from the golden folder). One case per
rule, plus files with several errors. Each `.out` is exactly what a user sees.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from golden import assert_golden
from knargo.cli import main

CASES = Path(__file__).parent / "golden" / "lint"
RULES = {
    "concurrency",
    "syntax",
    "duplicate-key",
    "schema",
    "job-id",
    "needs",
    "cycle",
    "glob",
    "cron",
    "timezone",
    "runner",
    "secret",
    "duration",
    "image",
    "env",
    "expression",
    "working-directory",
    "jobs",
    "alias",
    "checkout",
    "matrix",
    "services",
    "name",
}


def _cases() -> list[str]:
    return sorted(p.stem for p in CASES.glob("*.yaml") if not _is_input(p))


def _is_input(path: Path) -> bool:
    return path.name in {"catalog.yaml", "registries.yaml"}


def lint_output(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> str:
    monkeypatch.chdir(CASES)
    first = (CASES / f"{name}.yaml").read_text().partition("\n")[0]
    extra = (
        shlex.split(first.split("args:", 1)[1]) if first.startswith("# knargo lint args:") else []
    )
    code = main(["lint", f"{name}.yaml", *extra])
    captured = capsys.readouterr()
    assert captured.err == ""
    return f"{captured.out}exit: {code}\n"


@pytest.mark.parametrize("name", _cases())
def test_lint_output_matches_golden(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_golden(CASES / f"{name}.out", lint_output(name, capsys, monkeypatch))


def test_every_rule_has_a_case() -> None:
    seen = set()
    for out in CASES.glob("*.out"):
        for line in out.read_text().splitlines():
            if (line.endswith("]") and ": error: " in line) or ": warning: " in line:
                seen.add(line.rsplit("[", 1)[1].rstrip("]"))
    assert seen >= RULES, RULES - seen
