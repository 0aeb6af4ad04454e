"""The docs are executed: every example in docs/ci-yaml.md is linted, every `$ knargo` block
shows the command's exact output, and the committed JSON Schema is the one the models give.

`KNARGO_UPDATE_GOLDEN=1` rewrites the console blocks from the real output (refused under CI).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from knargo.cli import main
from knargo.cli.schema import ci_schema
from knargo.formats import positions

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ci-yaml.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```\n", re.S | re.M)


@dataclass
class Example:
    yaml: str
    command: list[str] | None
    expected: str | None
    span: tuple[int, int] | None  # where the console block's body stands in the doc


def examples(text: str) -> list[Example]:
    blocks = list(BLOCK.finditer(text))
    found = []
    for i, block in enumerate(blocks):
        if block.group(1) != "yaml":
            continue
        after = blocks[i + 1] if i + 1 < len(blocks) else None
        between = text[block.end() : after.start()] if after else ""
        if after and after.group(1) == "console" and not between.strip():
            first, _, rest = after.group(2).partition("\n")
            found.append(
                Example(
                    block.group(2),
                    shlex.split(first.removeprefix("$ ")),
                    rest,
                    (after.start(2) + len(first) + 1, after.end(2)),
                )
            )
        else:
            found.append(Example(block.group(2), None, None, None))
    return found


def run(
    example: Example,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, str]:
    (tmp_path / "ci.yaml").write_text(example.yaml)
    monkeypatch.chdir(tmp_path)
    command = example.command or ["knargo", "lint", "ci.yaml"]
    assert command[0] == "knargo"
    code = main(command[1:])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


DOC_EXAMPLES = examples(DOC.read_text())


@pytest.mark.parametrize("index", range(len(DOC_EXAMPLES)))
def test_doc_example(
    index: int, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    example = DOC_EXAMPLES[index]
    code, output = run(example, tmp_path, capsys, monkeypatch)
    if example.expected is None:
        assert (code, output) == (0, ""), f"example {index} is not clean:\n{output}"
        return
    if os.environ.get("KNARGO_UPDATE_GOLDEN") == "1" and not os.environ.get("CI"):
        _rewrite(example, output)
        return
    assert output == example.expected


def _rewrite(example: Example, output: str) -> None:
    text = DOC.read_text()
    current = examples(text)[DOC_EXAMPLES.index(example)]
    assert current.span is not None
    start, end = current.span
    DOC.write_text(text[:start] + output + text[end:])


def test_there_are_examples_for_every_rule() -> None:
    outputs = "".join(e.expected or "" for e in DOC_EXAMPLES)
    rules = set(re.findall(r"\[([a-z-]+)\]$", outputs, re.M))
    assert rules >= {
        "syntax",
        "duplicate-key",
        "schema",
        "jobs",
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
        "alias",
        "checkout",
        "matrix",
        "services",
        "name",
    }


def test_committed_schema_is_fresh() -> None:
    committed = json.loads((ROOT / "docs" / "ci.schema.json").read_text())
    assert committed == ci_schema(), "regenerate with: knargo schema > docs/ci.schema.json"


def test_schema_is_valid_and_accepts_the_examples() -> None:
    schema = ci_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    valid = [e.yaml for e in DOC_EXAMPLES if e.expected is None]
    valid += [(ROOT / "examples" / "ci.yaml").read_text()]
    for text in valid:
        doc, problems = positions.load(text, "ci.yaml")
        assert doc is not None and not problems
        assert list(validator.iter_errors(doc.data)) == []


@pytest.mark.parametrize(
    "source",
    [
        "jobs: {}\n",
        "jobs:\n  b:\n    imagee: x\n    run: y\n",
        "jobs:\n  9b:\n    image: x\n    run: y\n",
        "jobs:\n  b:\n    image: x\n    run: y\n    shell: zsh\n",
    ],
)
def test_schema_rejects_what_lint_rejects(source: str) -> None:
    doc, _ = positions.load(source, "ci.yaml")
    assert doc is not None
    assert list(jsonschema.Draft202012Validator(ci_schema()).iter_errors(doc.data)) != []
