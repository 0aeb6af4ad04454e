"""docs/admin.md is executed: its `$ knargo` blocks run in order against one loopback
Kubernetes fake (KUBECONFIG), after the YAML blocks marked `# file: NAME` are written to the
working directory and the page's `config.yaml` is deployed as the cluster's knargo-config.

`KNARGO_UPDATE_GOLDEN=1` rewrites the console blocks from the real output (refused under CI).
"""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from knargo.cli import main
from knargo.cli import secrets as secrets_cli
from kubefake import running_kube

DOC = Path(__file__).resolve().parent.parent / "docs" / "admin.md"
BLOCK = re.compile(r"^(?P<indent> *)```(?P<kind>\w+)\n(?P<body>.*?)^(?P=indent)```\n", re.S | re.M)


@dataclass
class Block:
    kind: str
    indent: str
    body: str  # dedented
    span: tuple[int, int]  # of the body in the page


def blocks(text: str) -> list[Block]:
    found = []
    for match in BLOCK.finditer(text):
        indent = match["indent"]
        body = "".join(line.removeprefix(indent) for line in match["body"].splitlines(True))
        found.append(Block(match["kind"], indent, body, match.span("body")))
    return found


def files(page: list[Block]) -> dict[str, str]:
    marked = (b.body for b in page if b.kind == "yaml" and b.body.startswith("# file: "))
    return {body.partition("\n")[0].removeprefix("# file: "): body for body in marked}


def run(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`[printf ... |] knargo ARGS`, with what the left-hand side prints as stdin."""
    feed, _, rest = command.rpartition("| knargo ")
    stdin = (
        subprocess.run(["sh", "-c", feed], capture_output=True, check=True).stdout if feed else b""
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    main(shlex.split(rest if feed else command.removeprefix("knargo ")))


def test_the_admin_page_is_what_the_commands_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = DOC.read_text()
    page = blocks(text)
    for name, body in files(page).items():
        assert list(yaml.safe_load_all(body)), name
        (tmp_path / name).write_text(body)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(secrets_cli, "now", lambda: datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    actual: dict[int, str] = {}
    with running_kube() as kube:
        config = {"name": "knargo-config", "namespace": "knargo"}
        data = {"config.yaml": files(page)["config.yaml"]}
        kube.put_object({"kind": "ConfigMap", "metadata": config, "data": data})
        monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig(tmp_path / "kubeconfig")))
        for index, block in enumerate(page):
            if block.kind != "console":
                continue
            command, _, _ = block.body.partition("\n")
            assert command.startswith("$ ")
            run(command.removeprefix("$ "), monkeypatch)
            captured = capsys.readouterr()
            actual[index] = captured.out + captured.err
    if os.environ.get("KNARGO_UPDATE_GOLDEN") == "1" and not os.environ.get("CI"):
        DOC.write_text(rewritten(text, page, actual))
        return
    for index, output in actual.items():
        expected = page[index].body.partition("\n")[2]
        assert output == expected, f"block {index}: {page[index].body.partition(chr(10))[0]}"


def rewritten(text: str, page: list[Block], actual: dict[int, str]) -> str:
    for index in sorted(actual, reverse=True):
        block = page[index]
        command = block.body.partition("\n")[0]
        body = textwrap.indent(command + "\n" + actual[index], block.indent)
        text = text[: block.span[0]] + body + text[block.span[1] :]
    return text
